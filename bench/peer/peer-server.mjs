// Stripe Sync Engine (npm @supabase/stripe-sync-engine, pinned in package.json) as a webhook
// endpoint, the way its README has it used: each POST's raw body and Stripe-Signature go to
// processWebhook, answered 200 once it resolves (it writes to Postgres before resolving), 500
// with the message if it throws.
//
//   node peer-server.mjs <database-url> <whsec_…> <stripe-base-url> <api-version> <mode>
//
// mode: "revalidate" (revalidateObjectsViaStripeApi: ['subscription', 'invoice']: each object
// re-read from Stripe before it is written) or "default" (the payload written as it came).
// Everything else is the engine's default (pool of 10, backfillRelatedEntities unset: its
// webhook path passes false anyway, autoExpandLists off).
//
// Its migrations write into the schema "stripe" whatever `schema` says (the option only places
// their bookkeeping table), so the bench gives each run a fresh database and keeps `stripe`.
// Listens on 127.0.0.1, port 0, and prints "listening <port>" once migrated.
import http from 'node:http';
import { createRequire } from 'node:module';

// Its CommonJS build: the ES module one finds its migrations through `__dirname`, which an ES
// module does not have ("__dirname is not defined"). The `stripe` it requires, we require.
const require = createRequire(import.meta.url);
const { StripeSync, runMigrations } = require('@supabase/stripe-sync-engine');
const Stripe = require('stripe');

const [databaseUrl, secret, stripeBase, apiVersion, mode] = process.argv.slice(2);
if (!databaseUrl || !secret || !stripeBase || !apiVersion || !['revalidate', 'default'].includes(mode)) {
  console.error('usage: node peer-server.mjs <database-url> <whsec_…> <stripe-base-url> <api-version> revalidate|default');
  process.exit(2);
}
const schema = 'stripe';

const errors = [];
const logger = {
  info() {},
  warn() {},
  error(obj, msg) {
    errors.push(`${msg ?? ''} ${obj instanceof Error ? obj.message : JSON.stringify(obj)}`);
  },
};
await runMigrations({ databaseUrl, schema, logger });
if (errors.length) {
  // runMigrations logs its failure and returns; say so instead of serving on no tables.
  console.error(`peer: migrations failed: ${errors.join('; ')}`);
  process.exit(1);
}

const sync = new StripeSync({
  databaseUrl,
  schema,
  stripeWebhookSecret: secret,
  stripeSecretKey: 'sk_test_sandbox',
  stripeApiVersion: apiVersion,
  ...(mode === 'revalidate' ? { revalidateObjectsViaStripeApi: ['subscription', 'invoice'] } : {}),
});
// Its client is built inside for api.stripe.com; point it at the sandbox.
const base = new URL(stripeBase);
sync.stripe = new Stripe('sk_test_sandbox', {
  host: base.hostname,
  port: Number(base.port),
  protocol: base.protocol.replace(':', ''),
  apiVersion,
});

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(405).end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    try {
      await sync.processWebhook(Buffer.concat(chunks), req.headers['stripe-signature']);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"received":true}');
    } catch (e) {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String(e?.message ?? e));
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
const stop = () => {
  server.close(() => sync.postgresClient.pool.end().then(() => process.exit(0)));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The bench holds our stdin: when it closes (the bench ended, or died), so do we.
process.stdin.on('end', stop);
process.stdin.resume();

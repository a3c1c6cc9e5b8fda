// The one load client for every target of the peer bench (crates/tollgate-core/examples/peer_bench.rs):
// the same bodies, the same signing, the same concurrency, whatever answers.
//
//   node drive.mjs <url> <plan.jsonl> <whsec_…> [concurrency=16]
//
// Reads the plan (one event body a line, sent byte for byte as written), signs each body when
// it is sent, as Stripe does (Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>"
// keyed with the whole whsec_ secret), POSTs `concurrency` at a time over keep-alive
// connections, and prints one JSON line:
//   sent, ok (2xx), non2xx {status: count}, network_errors, acked_unique (distinct event ids
//   answered 2xx), elapsed_ms (first send to last answer), first_send_epoch_ms and
//   last_ack_epoch_ms (wall clock, so the bench can line them up with what it polls),
//   ack latency p50/p95/p99/max in ms (send to the whole answer read), and up to three sample
//   error answers.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const [url, planPath, secret, concArg] = process.argv.slice(2);
if (!url || !planPath || !secret) {
  console.error('usage: node drive.mjs <url> <plan.jsonl> <whsec_…> [concurrency]');
  process.exit(2);
}
const concurrency = Number(concArg ?? 16);
const target = new URL(url);
const bodies = fs
  .readFileSync(planPath, 'utf8')
  .split('\n')
  .filter((l) => l.length > 0);
// Event ids, read once before the clock starts.
const ids = bodies.map((b) => JSON.parse(b).id);

const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const now = () => performance.timeOrigin + performance.now();

function sign(body) {
  const t = Math.floor(Date.now() / 1000);
  const v1 = crypto.createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  return `t=${t},v1=${v1}`;
}

function post(body) {
  return new Promise((resolve) => {
    const buf = Buffer.from(body, 'utf8');
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: 'POST',
        agent,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': buf.length,
          'Stripe-Signature': sign(body),
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (e) => resolve({ status: 0, text: String(e) }));
      },
    );
    req.on('error', (e) => resolve({ status: 0, text: String(e) }));
    req.end(buf);
  });
}

const latencies = new Float64Array(bodies.length);
const statuses = new Int32Array(bodies.length);
const samples = [];
let next = 0;
let firstSend = null;
let lastAck = 0;

async function worker() {
  for (;;) {
    const i = next++;
    if (i >= bodies.length) return;
    const t0 = now();
    if (firstSend === null) firstSend = t0;
    const r = await post(bodies[i]);
    const t1 = now();
    latencies[i] = t1 - t0;
    statuses[i] = r.status;
    if (t1 > lastAck) lastAck = t1;
    if ((r.status < 200 || r.status > 299) && samples.length < 3) {
      samples.push({ status: r.status, event: ids[i], answer: r.text.slice(0, 300) });
    }
  }
}

await Promise.all(Array.from({ length: Math.min(concurrency, bodies.length) }, worker));
agent.destroy();

const sorted = Array.from(latencies).sort((a, b) => a - b);
const pct = (p) => sorted[Math.min(sorted.length, Math.max(1, Math.ceil(sorted.length * p))) - 1];
const non2xx = {};
let ok = 0;
let networkErrors = 0;
const acked = new Set();
for (let i = 0; i < statuses.length; i++) {
  const s = statuses[i];
  if (s >= 200 && s <= 299) {
    ok++;
    acked.add(ids[i]);
  } else if (s === 0) networkErrors++;
  else non2xx[s] = (non2xx[s] ?? 0) + 1;
}
const round = (x) => Math.round(x * 1000) / 1000;
console.log(
  JSON.stringify({
    sent: bodies.length,
    ok,
    non2xx,
    network_errors: networkErrors,
    acked_unique: acked.size,
    elapsed_ms: round(lastAck - firstSend),
    first_send_epoch_ms: round(firstSend),
    last_ack_epoch_ms: round(lastAck),
    p50_ms: round(pct(0.5)),
    p95_ms: round(pct(0.95)),
    p99_ms: round(pct(0.99)),
    max_ms: round(sorted[sorted.length - 1]),
    samples,
  }),
);

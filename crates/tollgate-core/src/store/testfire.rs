//! Test-fire's reads and writes: the organization an event is filled from, the organizations
//! to choose from, and the delivery history (one row per attempt).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{SendFuture, Store, StoreError};
use crate::testfire::subject::{PriceFacts, Subject};
use crate::testfire::{with_event_id, Delivery, Outcome, SigningMode};

/// An organization to fill events from, as the picker lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct SubjectChoice {
    pub org_id: String,
    pub org_name: String,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    pub status: Option<String>,
    pub tier: Option<String>,
}

type PriceRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    String,
    i64,
);

const PRICE_COLUMNS: &str = "p.stripe_id, p.product_id, pr.name, p.lookup_key, p.nickname, p.unit_amount, p.currency, p.billing_interval, p.interval_count, p.tier, p.metadata, p.created";

fn price_facts(r: PriceRow) -> PriceFacts {
    let (
        id,
        product_id,
        product_name,
        lookup_key,
        nickname,
        amount,
        currency,
        interval,
        count,
        tier,
        metadata,
        created,
    ) = r;
    PriceFacts {
        id,
        product_name: product_name.unwrap_or_else(|| product_id.clone()),
        product_id,
        lookup_key,
        nickname,
        unit_amount: amount.unwrap_or(0),
        currency,
        interval,
        interval_count: count.unwrap_or(1),
        tier,
        metadata,
        created,
    }
}

/// A burst's copies keep no body of their own: theirs is the run's first (step 1, attempt 1)
/// with their event id, and it is given back so (columns 21 and 22).
const DELIVERY_COLUMNS: &str = "d.id, d.run_id, d.scenario, d.step, d.attempt, d.replay_of, d.url, d.event_id, d.event_type, d.org_id, d.mode, d.request_headers, d.body, d.outcome, d.http_status, d.response_headers, d.response_body, d.response_truncated, d.error, d.latency_us, d.sent_at_ms, f.body, f.event_id, d.as_expected";
const DELIVERY_FROM: &str = "webhook_deliveries d LEFT JOIN webhook_deliveries f ON d.body IS NULL AND f.run_id = d.run_id AND f.step = 1 AND f.attempt = 1";

type DeliveryRow = sqlx::any::AnyRow;

impl Store {
    /// The organization `org` (its id, or its customer's id), or with `None` the first one
    /// with an active subscription (else any with a customer); `Ok(None)` when there is none.
    pub fn testfire_subject<'a>(
        &'a self,
        org: Option<&'a str>,
    ) -> SendFuture<'a, Result<Option<Subject>, StoreError>> {
        Box::pin(self.testfire_subject_inner(org))
    }

    async fn testfire_subject_inner(
        &self,
        org: Option<&str>,
    ) -> Result<Option<Subject>, StoreError> {
        let pool = self.pool();
        let e = |e| self.err(e);
        // Which organization: the one named (by its id or a customer's), else the first with
        // an active subscription by name (an index walk), else any with a customer. Written
        // into both reads below, so they run side by side: the organization with its customer
        // (the one named, else its oldest), and its best subscription (active first) with that
        // subscription's price.
        const ORG: &str = "COALESCE((SELECT org_id FROM customers WHERE stripe_id = $1), (SELECT id FROM organizations WHERE id = $1), \
            CASE WHEN $1 = '' THEN COALESCE((SELECT org_id FROM org_subscriptions WHERE subscription_status = 'active' AND org_id IS NOT NULL ORDER BY org_name LIMIT 1), \
            (SELECT org_id FROM customers WHERE deleted = 0 ORDER BY org_id LIMIT 1)) END)";
        // The subject is the customer named, else the customer of the organization's best
        // subscription, else its oldest; and the subscription that customer holds.
        const RANK: &str = "CASE s.subscription_status WHEN 'active' THEN 0 WHEN 'trialing' THEN 1 WHEN 'past_due' THEN 2 ELSE 3 END";
        let named = org.unwrap_or_default().to_owned();
        type Found = (
            String,
            String,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            i64,
        );
        let found_sql = format!(
            "SELECT o.id, o.name, o.org_key, c.stripe_id, c.email, c.name, c.created FROM organizations o JOIN customers c ON c.org_id = o.id \
             WHERE o.id = {ORG} AND c.deleted = 0 \
             ORDER BY CASE WHEN c.stripe_id = $1 THEN 0 WHEN c.stripe_id = (SELECT s.stripe_customer_id FROM org_subscriptions s WHERE s.org_id = o.id ORDER BY {RANK}, s.created DESC LIMIT 1) THEN 1 ELSE 2 END, c.created LIMIT 1"
        );
        let found = sqlx::query_as::<_, Found>(&found_sql)
            .bind(named.clone())
            .fetch_optional(pool);
        let sub_sql = format!(
            "SELECT s.stripe_subscription_id, s.subscription_status, s.created, s.current_period_start, s.current_period_end, s.trial_end, s.cancel_at_period_end, s.items, {PRICE_COLUMNS} \
             FROM org_subscriptions s LEFT JOIN prices p ON p.stripe_id = s.stripe_price_id LEFT JOIN products pr ON pr.stripe_id = p.product_id \
             WHERE s.org_id = {ORG} AND (s.stripe_customer_id = $1 OR NOT EXISTS (SELECT 1 FROM customers WHERE stripe_id = $1)) \
             ORDER BY CASE WHEN s.stripe_customer_id = $1 THEN 0 ELSE 1 END, {RANK}, s.created DESC LIMIT 1"
        );
        let sub = sqlx::query(&sub_sql).bind(named).fetch_optional(pool);
        let (found, sub) = tokio::try_join!(found, sub).map_err(e)?;
        let Some((org_id, org_name, org_key, customer_id, email, customer_name, customer_created)) =
            found
        else {
            return Ok(None);
        };
        let now = super::now_seconds();
        let mut subject = Subject::generated(now);
        subject.generated = false;
        subject.org_name = org_name;
        subject.org_key = org_key.unwrap_or_else(|| "organization_id".into());
        subject.email = email;
        subject.customer_name = customer_name;
        subject.customer_created = customer_created;
        let mut price = None;
        if let Some(r) = sub {
            use sqlx::Row;
            let get = |r: &sqlx::any::AnyRow| -> Result<_, sqlx::Error> {
                let price_id: Option<String> = r.try_get(8)?;
                let price = match price_id {
                    Some(id) => Some(price_facts((
                        id,
                        r.try_get(9)?,
                        r.try_get(10)?,
                        r.try_get(11)?,
                        r.try_get(12)?,
                        r.try_get(13)?,
                        r.try_get(14)?,
                        r.try_get(15)?,
                        r.try_get(16)?,
                        r.try_get(17)?,
                        r.try_get(18)?,
                        r.try_get(19)?,
                    ))),
                    None => None,
                };
                Ok((
                    r.try_get::<String, _>(0)?,
                    r.try_get::<String, _>(1)?,
                    r.try_get::<i64, _>(2)?,
                    r.try_get::<Option<i64>, _>(3)?,
                    r.try_get::<Option<i64>, _>(4)?,
                    r.try_get::<Option<i64>, _>(5)?,
                    r.try_get::<i64, _>(6)?,
                    r.try_get::<String, _>(7)?,
                    price,
                ))
            };
            let (id, status, created, start, end, trial_end, cape, items, p) =
                get(&r).map_err(e)?;
            subject.subscription_known = true;
            subject.subscription_id = id;
            subject.status = status;
            subject.subscription_created = created;
            subject.period_start = start.unwrap_or(created);
            subject.period_end = end.unwrap_or(subject.period_start + 30 * 86400);
            subject.trial_end = trial_end;
            subject.cancel_at_period_end = cape != 0;
            subject.quantity = serde_json::from_str::<serde_json::Value>(&items)
                .ok()
                .and_then(|v| v[0]["quantity"].as_i64())
                .unwrap_or(1);
            price = p;
        }
        // No subscription (or its price is unknown): the catalog's Community price, else any.
        if price.is_none() {
            price = sqlx::query_as::<_, PriceRow>(&format!(
                "SELECT {PRICE_COLUMNS} FROM prices p LEFT JOIN products pr ON pr.stripe_id = p.product_id \
                 WHERE p.active = 1 AND p.price_type = 'recurring' AND p.unit_amount IS NOT NULL \
                 ORDER BY CASE WHEN p.tier = 'community' THEN 0 ELSE 1 END, CASE WHEN p.lookup_key IS NULL THEN 1 ELSE 0 END, p.stripe_id LIMIT 1"
            ))
            .fetch_optional(pool)
            .await
            .map_err(e)?
            .map(price_facts);
        }
        if let Some(p) = price {
            subject.price = p;
        }
        // The rest is independent: read it on several connections at once.
        let upgrade_sql = format!(
            "SELECT {PRICE_COLUMNS} FROM prices p LEFT JOIN products pr ON pr.stripe_id = p.product_id \
             WHERE p.active = 1 AND p.tier = 'top' AND p.currency = $1 AND COALESCE(p.billing_interval, '') = COALESCE($2, '') AND p.unit_amount IS NOT NULL \
             ORDER BY CASE WHEN p.lookup_key IS NULL THEN 1 ELSE 0 END, p.stripe_id LIMIT 1"
        );
        let upgrade = sqlx::query_as::<_, PriceRow>(&upgrade_sql)
            .bind(subject.price.currency.clone())
            .bind(subject.price.interval.clone())
            .fetch_optional(pool);
        let invoice = async {
            if !subject.subscription_known {
                return Ok(None);
            }
            sqlx::query_as::<_, (Option<String>,)>(
                // By the customer's index (the ledger keeps no index by subscription: the door's
                // throughput), then the subscription among that customer's events.
                // The event's object id, not its payload: a compacted event keeps only the id.
                "SELECT object_id FROM stripe_events WHERE customer_id = $1 AND subscription_id = $2 AND event_type LIKE 'invoice.%' ORDER BY created DESC LIMIT 1",
            )
            .bind(customer_id.clone())
            .bind(subject.subscription_id.clone())
            .fetch_optional(pool)
            .await
        };
        let charge = sqlx::query_as::<_, (String, Option<String>)>(
            "SELECT stripe_charge_id, expert_account_id FROM transaction_commissions WHERE org_id = $1 AND kind = 'charge' ORDER BY occurred_at DESC LIMIT 1",
        )
        .bind(org_id.clone())
        .fetch_optional(pool);
        let features = sqlx::query_as::<_, (String, String)>(
            "SELECT feature_id, lookup_key FROM customer_entitlements WHERE stripe_customer_id = $1 ORDER BY lookup_key",
        )
        .bind(customer_id.clone())
        .fetch_all(pool);
        let (upgrade, invoice, charge, features) =
            tokio::try_join!(upgrade, invoice, charge, features).map_err(e)?;
        subject.upgrade = upgrade.map(price_facts);
        subject.invoice_id = invoice.and_then(|(id,)| id);
        if let Some((ch, expert)) = charge {
            subject.last_charge = Some(ch);
            subject.expert_account = expert;
        }
        subject.features = features;
        subject.org_id = org_id;
        subject.customer_id = customer_id;
        Ok(Some(subject))
    }

    /// Organizations to fill events from, matched by name, organization id or customer id.
    pub fn testfire_choices<'a>(
        &'a self,
        search: &'a str,
        limit: i64,
    ) -> SendFuture<'a, Result<Vec<SubjectChoice>, StoreError>> {
        Box::pin(async move {
            let like = format!("%{}%", search.trim().to_lowercase());
            let rows: Vec<(String, String, String, Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
                // One row per organization: its best subscription (active first) and that
                // subscription's customer, else its oldest customer.
                "SELECT o.id, o.name, COALESCE(s.stripe_customer_id, (SELECT c2.stripe_id FROM customers c2 WHERE c2.org_id = o.id AND c2.deleted = 0 ORDER BY c2.created LIMIT 1)), \
                        s.stripe_subscription_id, s.subscription_status, s.tier \
                 FROM organizations o \
                 LEFT JOIN org_subscriptions s ON s.stripe_subscription_id = ( \
                   SELECT s2.stripe_subscription_id FROM org_subscriptions s2 WHERE s2.org_id = o.id \
                   ORDER BY CASE s2.subscription_status WHEN 'active' THEN 0 WHEN 'trialing' THEN 1 WHEN 'past_due' THEN 2 ELSE 3 END, s2.created DESC LIMIT 1) \
                 WHERE EXISTS (SELECT 1 FROM customers c WHERE c.org_id = o.id AND c.deleted = 0) \
                   AND (lower(o.name) LIKE $1 OR lower(o.id) LIKE $1 OR EXISTS (SELECT 1 FROM customers c WHERE c.org_id = o.id AND lower(c.stripe_id) LIKE $1)) \
                 ORDER BY o.name, o.id LIMIT $2",
            )
            .bind(like)
            .bind(limit)
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.err(e))?;
            Ok(rows
                .into_iter()
                .map(
                    |(org_id, org_name, customer_id, subscription_id, status, tier)| {
                        SubjectChoice {
                            org_id,
                            org_name,
                            customer_id,
                            subscription_id,
                            status,
                            tier,
                        }
                    },
                )
                .collect())
        })
    }

    /// Appends attempts to the history, in one transaction, many rows a statement.
    pub fn record_deliveries<'a>(
        &'a self,
        rows: &'a [Delivery],
    ) -> SendFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            const COLS: usize = 21;
            // 40 rows of 21 values: far below either backend's limit on bound values.
            const PER_STATEMENT: usize = 40;
            let mut tx = self.append("test-fire history").await?;
            for chunk in rows.chunks(PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO webhook_deliveries (run_id, scenario, step, attempt, replay_of, url, event_id, event_type, org_id, mode, request_headers, body, outcome, http_status, response_headers, response_body, response_truncated, error, as_expected, latency_us, sent_at_ms) VALUES {}",
                    super::values_rows(self.backend(), chunk.len(), COLS)
                );
                let mut q = sqlx::query(&sql);
                for d in chunk {
                    q = q
                        .bind(d.run_id.clone())
                        .bind(d.scenario.clone())
                        .bind(d.step as i64)
                        .bind(d.attempt as i64)
                        .bind(d.replay_of)
                        .bind(d.url.clone())
                        .bind(d.event_id.clone())
                        .bind(d.event_type.clone())
                        .bind(d.org_id.clone())
                        .bind(d.mode.as_str())
                        .bind(serde_json::to_string(&d.request_headers).expect("headers serialize"))
                        .bind((!d.body_shared).then(|| d.body.clone()))
                        .bind(d.outcome.as_str())
                        .bind(d.http_status.map(i64::from))
                        .bind(
                            serde_json::to_string(&d.response_headers).expect("headers serialize"),
                        )
                        .bind(d.response_body.clone())
                        .bind(d.response_truncated as i64)
                        .bind(d.error.clone())
                        .bind(d.as_expected as i64)
                        .bind(d.latency_us)
                        .bind(d.sent_at_ms);
                }
                q.execute(&mut *tx).await.map_err(|e| self.err(e))?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The history, newest first; `before` pages back from a delivery id; `run` keeps one
    /// run's attempts (in the order they were made).
    pub fn deliveries<'a>(
        &'a self,
        limit: i64,
        before: Option<i64>,
        run: Option<&'a str>,
    ) -> SendFuture<'a, Result<Vec<Delivery>, StoreError>> {
        Box::pin(async move {
            let rows: Vec<DeliveryRow> = match run {
                Some(r) => sqlx::query(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM {DELIVERY_FROM} WHERE d.run_id = $1 ORDER BY d.step, d.attempt, d.id LIMIT $2"
                ))
                .bind(r)
                .bind(limit)
                .fetch_all(self.pool())
                .await,
                None => sqlx::query(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM {DELIVERY_FROM} WHERE d.id < $1 ORDER BY d.id DESC LIMIT $2"
                ))
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(self.pool())
                .await,
            }
            .map_err(|e| self.err(e))?;
            rows.iter().map(|r| self.delivery_of(r)).collect()
        })
    }

    pub fn delivery(&self, id: i64) -> SendFuture<'_, Result<Option<Delivery>, StoreError>> {
        Box::pin(async move {
            let row: Option<DeliveryRow> = sqlx::query(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM {DELIVERY_FROM} WHERE d.id = $1"
            ))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| self.err(e))?;
            row.as_ref().map(|r| self.delivery_of(r)).transpose()
        })
    }

    /// A history row (the columns of [`DELIVERY_COLUMNS`], in order).
    fn delivery_of(&self, r: &DeliveryRow) -> Result<Delivery, StoreError> {
        use sqlx::Row;
        let id: i64 = r.try_get(0).map_err(|e| self.err(e))?;
        let bad = |what: String| StoreError::Other {
            location: self.location().to_owned(),
            detail: format!("webhook_deliveries row {id}: {what}"),
        };
        let col = |e: sqlx::Error| self.err(e);
        let headers = |raw: &str| {
            serde_json::from_str::<Vec<(String, String)>>(raw).map_err(|e| bad(e.to_string()))
        };
        let event_id: String = r.try_get(7).map_err(col)?;
        let body: Option<String> = r.try_get(12).map_err(col)?;
        let first: Option<String> = r.try_get(21).map_err(col)?;
        let first_event: Option<String> = r.try_get(22).map_err(col)?;
        let body = match (body, first, first_event) {
            (Some(b), _, _) => b,
            // A burst's copy: the run's first body with this event id.
            (None, Some(first), Some(first_event)) => {
                with_event_id(&first, &first_event, &event_id).unwrap_or(first)
            }
            // Its run's first delivery is not there (runs record it before any copy, so only
            // a damaged file could hold this): said so, and the rest of the history reads.
            _ => "(this copy's body is not in the history: its run's first delivery was not recorded)"
                .to_owned(),
        };
        let mode: String = r.try_get(10).map_err(col)?;
        let outcome: String = r.try_get(13).map_err(col)?;
        let request_headers: String = r.try_get(11).map_err(col)?;
        let response_headers: Option<String> = r.try_get(15).map_err(col)?;
        Ok(Delivery {
            id,
            run_id: r.try_get(1).map_err(col)?,
            scenario: r.try_get(2).map_err(col)?,
            step: r.try_get::<i64, _>(3).map_err(col)? as u32,
            attempt: r.try_get::<i64, _>(4).map_err(col)? as u32,
            replay_of: r.try_get(5).map_err(col)?,
            url: r.try_get(6).map_err(col)?,
            event_id,
            event_type: r.try_get(8).map_err(col)?,
            org_id: r.try_get(9).map_err(col)?,
            mode: SigningMode::parse("mode", &mode).map_err(|e| bad(e.rule))?,
            request_headers: headers(&request_headers)?,
            body,
            body_shared: false,
            outcome: Outcome::parse(&outcome).ok_or_else(|| bad("unknown outcome".into()))?,
            http_status: r
                .try_get::<Option<i64>, _>(14)
                .map_err(col)?
                .map(|s| s as u16),
            response_headers: match response_headers {
                Some(h) => headers(&h)?,
                None => Vec::new(),
            },
            response_body: r.try_get(16).map_err(col)?,
            response_truncated: r.try_get::<i64, _>(17).map_err(col)? != 0,
            error: r.try_get(18).map_err(col)?,
            latency_us: r.try_get(19).map_err(col)?,
            sent_at_ms: r.try_get(20).map_err(col)?,
            as_expected: r.try_get::<i64, _>(23).map_err(col)? != 0,
        })
    }
}

//! Test-fire's reads and writes: the organization an event is filled from, the organizations
//! to choose from, and the delivery history (one row per attempt).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{SendFuture, Store, StoreError};
use crate::testfire::subject::{PriceFacts, Subject};
use crate::testfire::{Delivery, Outcome, SigningMode};

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

const DELIVERY_COLUMNS: &str = "id, run_id, scenario, step, attempt, replay_of, url, event_id, event_type, org_id, mode, request_headers, body, outcome, http_status, response_headers, response_body, response_truncated, error, latency_us, sent_at_ms";

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
        // The organization and its customer.
        let found: Option<(String, String, Option<String>, String)> = match org {
            Some(o) => sqlx::query_as(
                "SELECT o.id, o.name, o.org_key, c.stripe_id FROM organizations o JOIN customers c ON c.org_id = o.id \
                 WHERE (o.id = $1 OR c.stripe_id = $1) AND c.deleted = 0 ORDER BY c.created LIMIT 1",
            )
            .bind(o)
            .fetch_optional(pool)
            .await
            .map_err(e)?,
            None => sqlx::query_as(
                "SELECT o.id, o.name, o.org_key, c.stripe_id FROM org_subscriptions s \
                 JOIN organizations o ON o.id = s.org_id JOIN customers c ON c.stripe_id = s.stripe_customer_id \
                 WHERE c.deleted = 0 ORDER BY CASE s.subscription_status WHEN 'active' THEN 0 WHEN 'trialing' THEN 1 WHEN 'past_due' THEN 2 ELSE 3 END, o.id LIMIT 1",
            )
            .fetch_optional(pool)
            .await
            .map_err(e)?,
        };
        let found = match (found, org) {
            (Some(f), _) => f,
            (None, Some(_)) => return Ok(None),
            (None, None) => match sqlx::query_as(
                "SELECT o.id, o.name, o.org_key, c.stripe_id FROM organizations o JOIN customers c ON c.org_id = o.id WHERE c.deleted = 0 ORDER BY o.id LIMIT 1",
            )
            .fetch_optional(pool)
            .await
            .map_err(e)?
            {
                Some(f) => f,
                None => return Ok(None),
            },
        };
        let (org_id, org_name, org_key, customer_id) = found;
        let (email, customer_name, customer_created): (Option<String>, Option<String>, i64) =
            sqlx::query_as("SELECT email, name, created FROM customers WHERE stripe_id = $1")
                .bind(&customer_id)
                .fetch_one(pool)
                .await
                .map_err(e)?;
        type SubRow = (
            String,
            Option<String>,
            String,
            i64,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            i64,
            String,
        );
        let sub: Option<SubRow> = sqlx::query_as(
            "SELECT stripe_subscription_id, stripe_price_id, subscription_status, created, current_period_start, current_period_end, trial_end, cancel_at_period_end, items \
             FROM org_subscriptions WHERE org_id = $1 \
             ORDER BY CASE subscription_status WHEN 'active' THEN 0 WHEN 'trialing' THEN 1 WHEN 'past_due' THEN 2 ELSE 3 END, created DESC LIMIT 1",
        )
        .bind(&org_id)
        .fetch_optional(pool)
        .await
        .map_err(e)?;
        let now = super::now_seconds();
        let mut subject = Subject::generated(now);
        subject.generated = false;
        subject.org_name = org_name;
        subject.org_key = org_key.unwrap_or_else(|| "organization_id".into());
        subject.email = email;
        subject.customer_name = customer_name;
        subject.customer_created = customer_created;
        let price_by_id = |id: String| async move {
            sqlx::query_as::<_, PriceRow>(&format!(
                "SELECT {PRICE_COLUMNS} FROM prices p LEFT JOIN products pr ON pr.stripe_id = p.product_id WHERE p.stripe_id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await
        };
        let mut price = None;
        if let Some((id, price_id, status, created, start, end, trial_end, cape, items)) = sub {
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
            if let Some(p) = price_id {
                price = price_by_id(p).await.map_err(e)?.map(price_facts);
            }
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
        subject.upgrade = sqlx::query_as::<_, PriceRow>(&format!(
            "SELECT {PRICE_COLUMNS} FROM prices p LEFT JOIN products pr ON pr.stripe_id = p.product_id \
             WHERE p.active = 1 AND p.tier = 'top' AND p.currency = $1 AND COALESCE(p.billing_interval, '') = COALESCE($2, '') AND p.unit_amount IS NOT NULL \
             ORDER BY CASE WHEN p.lookup_key IS NULL THEN 1 ELSE 0 END, p.stripe_id LIMIT 1"
        ))
        .bind(&subject.price.currency)
        .bind(&subject.price.interval)
        .fetch_optional(pool)
        .await
        .map_err(e)?
        .map(price_facts);
        if subject.subscription_known {
            let payload: Option<(String,)> = sqlx::query_as(
                "SELECT payload FROM stripe_events WHERE subscription_id = $1 AND event_type LIKE 'invoice.%' ORDER BY created DESC LIMIT 1",
            )
            .bind(&subject.subscription_id)
            .fetch_optional(pool)
            .await
            .map_err(e)?;
            subject.invoice_id = payload.and_then(|(p,)| {
                serde_json::from_str::<serde_json::Value>(&p).ok()?["data"]["object"]["id"]
                    .as_str()
                    .map(str::to_owned)
            });
        }
        let charge: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT stripe_charge_id, expert_account_id FROM transaction_commissions WHERE org_id = $1 AND kind = 'charge' ORDER BY occurred_at DESC LIMIT 1",
        )
        .bind(&org_id)
        .fetch_optional(pool)
        .await
        .map_err(e)?;
        if let Some((ch, expert)) = charge {
            subject.last_charge = Some(ch);
            subject.expert_account = expert;
        }
        let features: Vec<(String, String)> = sqlx::query_as(
            "SELECT feature_id, lookup_key FROM customer_entitlements WHERE stripe_customer_id = $1 ORDER BY lookup_key",
        )
        .bind(&customer_id)
        .fetch_all(pool)
        .await
        .map_err(e)?;
        if !features.is_empty() || !subject.generated {
            subject.features = features;
        }
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
                "SELECT o.id, o.name, c.stripe_id, s.stripe_subscription_id, s.subscription_status, s.tier \
                 FROM organizations o JOIN customers c ON c.org_id = o.id AND c.deleted = 0 \
                 LEFT JOIN org_subscriptions s ON s.stripe_subscription_id = ( \
                   SELECT s2.stripe_subscription_id FROM org_subscriptions s2 WHERE s2.org_id = o.id \
                   ORDER BY CASE s2.subscription_status WHEN 'active' THEN 0 WHEN 'trialing' THEN 1 WHEN 'past_due' THEN 2 ELSE 3 END, s2.created DESC LIMIT 1) \
                 WHERE lower(o.name) LIKE $1 OR lower(o.id) LIKE $1 OR lower(c.stripe_id) LIKE $1 \
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

    /// Appends attempts to the history (one transaction); returns their ids, in order.
    pub fn record_deliveries<'a>(
        &'a self,
        rows: &'a [Delivery],
    ) -> SendFuture<'a, Result<Vec<i64>, StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool().begin().await.map_err(|e| self.err(e))?;
            let mut ids = Vec::with_capacity(rows.len());
            for d in rows {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO webhook_deliveries (run_id, scenario, step, attempt, replay_of, url, event_id, event_type, org_id, mode, request_headers, body, outcome, http_status, response_headers, response_body, response_truncated, error, latency_us, sent_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) RETURNING id",
                )
                .bind(&d.run_id)
                .bind(&d.scenario)
                .bind(d.step as i64)
                .bind(d.attempt as i64)
                .bind(d.replay_of)
                .bind(&d.url)
                .bind(&d.event_id)
                .bind(&d.event_type)
                .bind(&d.org_id)
                .bind(d.mode.as_str())
                .bind(serde_json::to_string(&d.request_headers).expect("headers serialize"))
                .bind(&d.body)
                .bind(d.outcome.as_str())
                .bind(d.http_status.map(i64::from))
                .bind(serde_json::to_string(&d.response_headers).expect("headers serialize"))
                .bind(&d.response_body)
                .bind(d.response_truncated as i64)
                .bind(&d.error)
                .bind(d.latency_us)
                .bind(d.sent_at_ms)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
                ids.push(id);
            }
            tx.commit().await.map_err(|e| self.err(e))?;
            Ok(ids)
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
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE run_id = $1 ORDER BY step, attempt, id LIMIT $2"
                ))
                .bind(r)
                .bind(limit)
                .fetch_all(self.pool())
                .await,
                None => sqlx::query(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id < $1 ORDER BY id DESC LIMIT $2"
                ))
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(self.pool())
                .await,
            }
            .map_err(|e| self.err(e))?;
            rows.into_iter().map(|r| self.delivery_of(r)).collect()
        })
    }

    pub fn delivery(&self, id: i64) -> SendFuture<'_, Result<Option<Delivery>, StoreError>> {
        Box::pin(async move {
            let row: Option<DeliveryRow> = sqlx::query(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| self.err(e))?;
            row.map(|r| self.delivery_of(r)).transpose()
        })
    }

    fn delivery_of(&self, r: DeliveryRow) -> Result<Delivery, StoreError> {
        self.delivery_from(&r).map_err(|e| self.err(e))?
    }

    fn delivery_from(&self, r: &DeliveryRow) -> Result<Result<Delivery, StoreError>, sqlx::Error> {
        use sqlx::Row;
        let id: i64 = r.try_get(0)?;
        let run_id: String = r.try_get(1)?;
        let scenario: Option<String> = r.try_get(2)?;
        let step: i64 = r.try_get(3)?;
        let attempt: i64 = r.try_get(4)?;
        let replay_of: Option<i64> = r.try_get(5)?;
        let url: String = r.try_get(6)?;
        let event_id: String = r.try_get(7)?;
        let event_type: String = r.try_get(8)?;
        let org_id: Option<String> = r.try_get(9)?;
        let mode: String = r.try_get(10)?;
        let request_headers: String = r.try_get(11)?;
        let body: String = r.try_get(12)?;
        let outcome: String = r.try_get(13)?;
        let http_status: Option<i64> = r.try_get(14)?;
        let response_headers: Option<String> = r.try_get(15)?;
        let response_body: Option<String> = r.try_get(16)?;
        let truncated: i64 = r.try_get(17)?;
        let error: Option<String> = r.try_get(18)?;
        let latency_us: Option<i64> = r.try_get(19)?;
        let sent_at_ms: i64 = r.try_get(20)?;
        Ok(self.delivery_parts(
            (
                id, run_id, scenario, step, attempt, replay_of, url, event_id,
            ),
            (
                event_type,
                org_id,
                mode,
                request_headers,
                body,
                outcome,
                http_status,
            ),
            (
                response_headers,
                response_body,
                truncated,
                error,
                latency_us,
                sent_at_ms,
            ),
        ))
    }

    #[allow(clippy::type_complexity)]
    fn delivery_parts(
        &self,
        (id, run_id, scenario, step, attempt, replay_of, url, event_id): (
            i64,
            String,
            Option<String>,
            i64,
            i64,
            Option<i64>,
            String,
            String,
        ),
        (event_type, org_id, mode, request_headers, body, outcome, http_status): (
            String,
            Option<String>,
            String,
            String,
            String,
            String,
            Option<i64>,
        ),
        (response_headers, response_body, truncated, error, latency_us, sent_at_ms): (
            Option<String>,
            Option<String>,
            i64,
            Option<String>,
            Option<i64>,
            i64,
        ),
    ) -> Result<Delivery, StoreError> {
        let bad = |what: &str| StoreError::Other {
            location: self.location().to_owned(),
            detail: format!("webhook_deliveries row {id}: {what}"),
        };
        let mode = SigningMode::parse("mode", &mode).map_err(|e| bad(&e.rule))?;
        let outcome = Outcome::parse(&outcome).ok_or_else(|| bad("unknown outcome"))?;
        let headers = |raw: &str| {
            serde_json::from_str::<Vec<(String, String)>>(raw).map_err(|e| bad(&e.to_string()))
        };
        let http_status = http_status.map(|s| s as u16);
        Ok(Delivery {
            id,
            run_id,
            scenario,
            step: step as u32,
            attempt: attempt as u32,
            replay_of,
            url,
            event_id,
            event_type,
            org_id,
            as_expected: crate::testfire::as_expected(mode, http_status),
            mode,
            request_headers: headers(&request_headers)?,
            body,
            outcome,
            http_status,
            response_headers: match response_headers {
                Some(h) => headers(&h)?,
                None => Vec::new(),
            },
            response_body,
            response_truncated: truncated != 0,
            error,
            latency_us,
            sent_at_ms,
        })
    }
}

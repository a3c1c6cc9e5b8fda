//! The commission ledger's rows and rates (see `crate::ledger`). Rows are inserted once and
//! never updated: a charge read again adds only refunds it did not carry before.

use sqlx::Row;

use super::sync::Tx;
use crate::domain::money::{ratio_half_up, BasisPoints};
use crate::ledger::Appointment;

/// Plan type and tier of an organization with no paying subscription at the moment: it pays
/// commission only, at the base tier.
pub const NO_PLAN: (&str, &str) = ("commission", "community");

/// Rates from price metadata `commissionRate` for every (plan type, tier) that has none yet,
/// open-ended from the start of time. Admin rows are never touched. When two active prices
/// of one plan type and tier disagree, the newest price's rate is taken.
pub(crate) async fn seed_rates(tx: &mut Tx<'_>) -> Result<u64, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT plan_type, tier, commission_rate_bps FROM prices
         WHERE commission_rate_bps IS NOT NULL AND plan_type IN ('commission', 'monthly', 'annual') AND tier IS NOT NULL AND tier <> ''
         ORDER BY active DESC, created DESC",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut seen = std::collections::HashSet::new();
    let mut added = 0;
    for r in rows {
        let (plan, tier, bps): (String, String, i64) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        if !seen.insert((plan.clone(), tier.clone())) {
            continue;
        }
        let res = sqlx::query(
            "INSERT INTO commission_rates (plan_type, tier, rate_bps, effective_from, effective_to, source, note, created_at)
             SELECT $1, $2, $3, 0, NULL, 'price metadata', NULL, $4
             WHERE NOT EXISTS (SELECT 1 FROM commission_rates WHERE plan_type = $5 AND tier = $6)",
        )
        .bind(&plan)
        .bind(&tier)
        .bind(bps)
        .bind(super::now_seconds())
        .bind(&plan)
        .bind(&tier)
        .execute(&mut **tx)
        .await?;
        added += res.rows_affected();
    }
    Ok(added)
}

/// The rate in force at `at` for a plan type and tier.
pub(crate) async fn rate_at(
    tx: &mut Tx<'_>,
    plan_type: &str,
    tier: &str,
    at: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT rate_bps FROM commission_rates WHERE plan_type = $1 AND tier = $2 AND effective_from <= $3
           AND (effective_to IS NULL OR effective_to > $4) ORDER BY effective_from DESC LIMIT 1",
    )
    .bind(plan_type)
    .bind(tier)
    .bind(at)
    .bind(at)
    .fetch_optional(&mut **tx)
    .await
}

/// The organization's plan type and tier at `at`, from the subscriptions the store holds:
/// one covers the moment from its start to its end (Stripe's `start_date` and `ended_at`),
/// unless it never got going (incomplete); its price then is the one recorded by the last
/// plan change before the moment, else the one before the first change after it, else its
/// price now. Of several, the latest started wins. None: [`NO_PLAN`].
pub(crate) async fn plan_at(
    tx: &mut Tx<'_>,
    org: &str,
    at: i64,
) -> Result<(String, String), sqlx::Error> {
    let subs = sqlx::query(
        "SELECT stripe_subscription_id, stripe_price_id FROM org_subscriptions
         WHERE org_id = $1 AND start_date <= $2 AND (ended_at IS NULL OR ended_at > $3)
           AND subscription_status NOT IN ('incomplete', 'incomplete_expired')
         ORDER BY start_date DESC, stripe_subscription_id LIMIT 1",
    )
    .bind(org)
    .bind(at)
    .bind(at)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(sub) = subs else {
        return Ok((NO_PLAN.0.into(), NO_PLAN.1.into()));
    };
    let (sub_id, mut price): (String, Option<String>) = (sub.try_get(0)?, sub.try_get(1)?);
    let changes = sqlx::query(
        "SELECT occurred_at, previous_price, new_price FROM subscription_events
         WHERE stripe_subscription_id = $1 AND change = 'plan' ORDER BY occurred_at, id",
    )
    .bind(&sub_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut before: Option<Option<String>> = None;
    let mut after: Option<Option<String>> = None;
    for c in changes {
        let t: i64 = c.try_get(0)?;
        if t <= at {
            before = Some(c.try_get(2)?);
        } else if after.is_none() {
            after = Some(c.try_get(1)?);
        }
    }
    if let Some(p) = before.or(after) {
        price = p;
    }
    let row = match &price {
        Some(p) => {
            sqlx::query("SELECT plan_type, tier, billing_interval FROM prices WHERE stripe_id = $1")
                .bind(p)
                .fetch_optional(&mut **tx)
                .await?
        }
        None => None,
    };
    let Some(row) = row else {
        return Ok((NO_PLAN.0.into(), NO_PLAN.1.into()));
    };
    let (plan, tier, interval): (Option<String>, Option<String>, Option<String>) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let plan = plan
        .filter(|p| ["commission", "monthly", "annual"].contains(&p.as_str()))
        .or_else(|| match interval.as_deref() {
            Some("year") => Some("annual".into()),
            Some("month") => Some("monthly".into()),
            _ => None,
        })
        .unwrap_or_else(|| NO_PLAN.0.into());
    let tier = tier
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| NO_PLAN.1.into());
    Ok((plan, tier))
}

/// What one row says: the snapshot and the amounts (negative on a refund).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub plan_type: String,
    pub tier: String,
    pub rate_bps: Option<i64>,
}

/// Records an appointment: its charge row once (with the snapshot at the charge's moment),
/// then a reversal row for each refund not recorded yet, under the charge row's terms.
/// Returns the rows added.
pub(crate) async fn write_appointment(
    tx: &mut Tx<'_>,
    a: &Appointment,
) -> Result<u64, sqlx::Error> {
    let held = sqlx::query(
        "SELECT plan_type_at_transaction, tier_level_at_transaction, commission_rate, org_id, expert_account_id FROM transaction_commissions WHERE id = $1",
    )
    .bind(&a.charge)
    .fetch_optional(&mut **tx)
    .await?;
    let mut added = 0;
    let (terms, org) = match held {
        Some(r) => (
            Terms {
                plan_type: r.try_get(0)?,
                tier: r.try_get(1)?,
                rate_bps: r.try_get(2)?,
            },
            r.try_get::<Option<String>, _>(3)?,
        ),
        None => {
            let (plan_type, tier) = match &a.org {
                Some(org) => plan_at(tx, org, a.created).await?,
                None => (NO_PLAN.0.into(), NO_PLAN.1.into()),
            };
            let rate_bps = rate_at(tx, &plan_type, &tier, a.created).await?;
            let terms = Terms {
                plan_type,
                tier,
                rate_bps,
            };
            let row = Amounts {
                gross: a.amount,
                charged: a.fee,
                implied: implied_of(&terms, a.amount),
            };
            added += insert_row(
                tx,
                a,
                &a.charge,
                "charge",
                a.org.as_deref(),
                &terms,
                row,
                a.created,
            )
            .await?;
            (terms, a.org.clone())
        }
    };
    // Each refund takes back its share of what was charged and of what the rate implied,
    // half-up to the minor unit: a charge that matched its rate reverses without a flag.
    let implied = implied_of(&terms, a.amount);
    let whole = a.amount.max(1);
    for r in &a.refunds {
        let row = Amounts {
            gross: -r.amount,
            charged: -ratio_half_up(a.fee, r.amount, whole),
            implied: implied.map(|i| -ratio_half_up(i, r.amount, whole)),
        };
        added += insert_row(
            tx,
            a,
            &r.id,
            "refund",
            org.as_deref(),
            &terms,
            row,
            r.created,
        )
        .await?;
    }
    Ok(added)
}

/// What the rate gives on `amount`; None without a rate.
fn implied_of(terms: &Terms, amount: i64) -> Option<i64> {
    terms
        .rate_bps
        .and_then(|b| BasisPoints::parse("commission_rate", b).ok())
        .map(|b| b.of(amount))
}

#[derive(Debug, Clone, Copy)]
struct Amounts {
    gross: i64,
    charged: i64,
    implied: Option<i64>,
}

async fn insert_row(
    tx: &mut Tx<'_>,
    a: &Appointment,
    id: &str,
    kind: &str,
    org: Option<&str>,
    terms: &Terms,
    amounts: Amounts,
    at: i64,
) -> Result<u64, sqlx::Error> {
    let Amounts {
        gross,
        charged,
        implied,
    } = amounts;
    let flagged = implied != Some(charged);
    let res = sqlx::query(
        "INSERT INTO transaction_commissions (id, kind, stripe_charge_id, org_id, expert_account_id, plan_type_at_transaction, tier_level_at_transaction,
           currency, gross_amount, commission_amount, implied_amount, commission_rate, flagged, stripe_payment_intent_id, stripe_application_fee_id,
           stripe_transfer_id, occurred_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(kind)
    .bind(&a.charge)
    .bind(org.map(str::to_owned))
    .bind(&a.expert_account)
    .bind(&terms.plan_type)
    .bind(&terms.tier)
    .bind(&a.currency)
    .bind(gross)
    .bind(charged)
    .bind(implied)
    .bind(terms.rate_bps)
    .bind(flagged as i64)
    .bind(a.payment_intent.clone())
    .bind(a.fee_id.clone())
    .bind(a.transfer.clone())
    .bind(at)
    .bind(super::now_seconds())
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected())
}

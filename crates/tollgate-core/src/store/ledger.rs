//! The commission ledger's rows and rates (see `crate::ledger`). Rows are inserted once and
//! never updated: a charge read again adds only refunds it did not carry before.

use sqlx::Row;

use super::sync::Tx;
use crate::domain::money::{ratio_half_up, BasisPoints};
use crate::ledger::report::{local_day, parse_zone, DEFAULT_TIME_ZONE};
use crate::ledger::Appointment;

const TIME_ZONE: &str = "report_time_zone";

/// The reports' time zone (settings `report_time_zone`, UTC until set).
pub(crate) async fn report_zone(
    conn: &mut sqlx::AnyConnection,
) -> Result<chrono_tz::Tz, sqlx::Error> {
    let raw = super::setting(&mut *conn, TIME_ZONE).await?;
    Ok(raw
        .and_then(|r| parse_zone(&r).ok())
        .unwrap_or_else(|| parse_zone(DEFAULT_TIME_ZONE).expect("UTC parses")))
}

/// The reports' time zone, read on a connection of its own.
async fn zone(store: &super::Store) -> Result<chrono_tz::Tz, super::StoreError> {
    let mut conn = store.pool().acquire().await.map_err(|e| store.err(e))?;
    report_zone(&mut conn).await.map_err(|e| store.err(e))
}

/// Plan type and tier of an organization with no paying subscription at the moment: it pays
/// commission only, at the base tier.
pub const NO_PLAN: (&str, &str) = ("commission", "community");

/// Rates from price metadata `commissionRate` for every (plan type, tier) that has none yet,
/// open-ended from the start of time. Admin rows are never touched. When two active prices
/// of one plan type and tier disagree, the newest price's rate is taken.
pub(crate) async fn seed_rates(tx: &mut Tx) -> Result<u64, sqlx::Error> {
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
             WHERE NOT EXISTS (SELECT 1 FROM commission_rates WHERE plan_type = $5 AND tier = $6)
             ON CONFLICT DO NOTHING",
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
    tx: &mut Tx,
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
    tx: &mut Tx,
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
    let (sub_id, price): (String, Option<String>) = (sub.try_get(0)?, sub.try_get(1)?);
    let changes = sqlx::query(
        "SELECT occurred_at, previous_price, new_price FROM subscription_events
         WHERE stripe_subscription_id = $1 AND change = 'plan' ORDER BY occurred_at, id",
    )
    .bind(&sub_id)
    .fetch_all(&mut **tx)
    .await?;
    let changes: Vec<(i64, Option<String>, Option<String>)> = changes
        .iter()
        .map(|c| Ok((c.try_get(0)?, c.try_get(1)?, c.try_get(2)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let price = crate::ledger::overview::as_of(&changes, at, &price);
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
pub(crate) async fn write_appointment(tx: &mut Tx, a: &Appointment) -> Result<u64, sqlx::Error> {
    let tz = report_zone(tx).await?;
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
                tz,
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
            tz,
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

#[allow(clippy::too_many_arguments)]
async fn insert_row(
    tx: &mut Tx,
    tz: chrono_tz::Tz,
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
    let day = local_day(tz, at);
    let res = sqlx::query(
        "INSERT INTO transaction_commissions (id, kind, stripe_charge_id, org_id, expert_account_id, plan_type_at_transaction, tier_level_at_transaction,
           currency, gross_amount, commission_amount, implied_amount, commission_rate, flagged, stripe_payment_intent_id, stripe_application_fee_id,
           stripe_transfer_id, occurred_at, local_day, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) ON CONFLICT (id) DO NOTHING",
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
    .bind(&day)
    .bind(super::now_seconds())
    .execute(&mut **tx)
    .await?;
    if res.rows_affected() == 0 {
        return Ok(0);
    }
    // The rollups, in the same transaction.
    let sums = [
        (kind == "charge") as i64,
        (kind == "refund") as i64,
        gross,
        charged,
        implied.unwrap_or(0),
        implied.is_none() as i64,
        flagged as i64,
    ];
    let (tier, plan) = (terms.tier.as_str(), terms.plan_type.as_str());
    let keys = [day.as_str(), &a.currency, tier, plan];
    bump_rollup(tx, "commission_days", DAY_KEYS, &keys, sums).await?;
    let keys = [&day[..7], org.unwrap_or(""), &a.currency, tier, plan];
    bump_rollup(tx, "commission_expert_months", MONTH_KEYS, &keys, sums).await?;
    Ok(1)
}

use crate::ledger::report::{
    effective_bps, Checked, CommissionGroup, CommissionReport, Dim, Period,
};
use chrono::NaiveDate;

/// The filters a report and its drill-down share, as SQL over one table's columns, bound in
/// order after `$1` (from) and `$2` (to).
struct Where {
    sql: String,
    binds: Vec<String>,
}

/// Where a table keeps what a query filters on; `None`: the table cannot filter on it (and
/// the report does not read it for such a query).
struct Cols {
    day: &'static str,
    currency: &'static str,
    tier: &'static str,
    plan: &'static str,
    org: Option<&'static str>,
    flagged: Option<&'static str>,
}

const LEDGER: Cols = Cols {
    day: "local_day",
    currency: "currency",
    tier: "tier_level_at_transaction",
    plan: "plan_type_at_transaction",
    org: Some("org_id"),
    flagged: Some("flagged"),
};
/// The ledger as `t`, joined to organizations for names.
const LEDGER_T: Cols = Cols {
    day: "t.local_day",
    currency: "t.currency",
    tier: "t.tier_level_at_transaction",
    plan: "t.plan_type_at_transaction",
    org: Some("t.org_id"),
    flagged: Some("t.flagged"),
};
const DAYS: Cols = Cols {
    day: "local_day",
    currency: "currency",
    tier: "tier",
    plan: "plan_type",
    org: None,
    flagged: None,
};
const MONTHS: Cols = Cols {
    day: "month",
    currency: "currency",
    tier: "tier",
    plan: "plan_type",
    org: Some("org_id"),
    flagged: None,
};

fn filters(q: &Checked, c: &Cols) -> Where {
    let mut sql = format!("{0} >= $1 AND {0} <= $2", c.day);
    let mut binds = Vec::new();
    let mut add = |col: &str, v: &Option<String>| {
        if let Some(v) = v {
            binds.push(v.clone());
            sql.push_str(&format!(" AND {col} = ${}", binds.len() + 2));
        }
    };
    add(c.currency, &q.currency);
    add(c.tier, &q.tier);
    add(c.plan, &q.plan_type);
    if let Some(org) = c.org {
        add(org, &q.expert);
    }
    if let Some(flagged) = c.flagged.filter(|_| q.flagged_only) {
        sql.push_str(&format!(" AND {flagged} = 1"));
    }
    Where { sql, binds }
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Sums of one grouped row, from either source.
#[derive(Clone)]
struct Sums {
    day_min: String,
    day_max: String,
    tier: String,
    plan_type: String,
    expert: Option<String>,
    currency: String,
    charges: i64,
    refunds: i64,
    gross: i64,
    commission: i64,
    implied: i64,
    unrated: i64,
    flagged: i64,
}

/// A commission report. Without an expert in it, it reads the daily rollups (a year is a
/// few thousand rows whatever the volume); with one, the monthly rollups per organization, or
/// the ledger rows, grouped in SQL.
pub async fn commission_report(
    store: &super::Store,
    q: &Checked,
) -> Result<CommissionReport, super::StoreError> {
    let started = std::time::Instant::now();
    let mut conn = store.pool().acquire().await.map_err(|e| store.err(e))?;
    let tz = report_zone(&mut conn).await.map_err(|e| store.err(e))?;
    let (all, source) = gather(store, &mut conn, q).await?;
    assemble(store, &mut conn, q, all, source, tz, started).await
}

/// What the Commissions screen shows for a query: the report and its chart (by period and tier,
/// under the same filters), read on one connection. When the report groups by nothing beyond
/// period, tier and currency, both come from one read.
pub async fn commission_view(
    store: &super::Store,
    q: &Checked,
) -> Result<(CommissionReport, CommissionReport), super::StoreError> {
    let started = std::time::Instant::now();
    let mut conn = store.pool().acquire().await.map_err(|e| store.err(e))?;
    let tz = report_zone(&mut conn).await.map_err(|e| store.err(e))?;
    let mut chart_q = q.clone();
    chart_q.group_by = vec![Dim::Period, Dim::Tier];
    // One read serves both only when both would read the same source: with an expert filter,
    // a report without a period reads monthly rollups, the chart by day or week the rows.
    let shared = q.expert.is_none()
        && q.group_by
            .iter()
            .all(|d| matches!(d, Dim::Period | Dim::Tier | Dim::Currency));
    let (all, source) = gather(store, &mut conn, &chart_q).await?;
    let report = if shared {
        assemble(store, &mut conn, q, all.clone(), source, tz, started).await?
    } else {
        let (own, source) = gather(store, &mut conn, q).await?;
        assemble(store, &mut conn, q, own, source, tz, started).await?
    };
    let chart = assemble(store, &mut conn, &chart_q, all, source, tz, started).await?;
    Ok((report, chart))
}

/// A report's grouped sums and where they came from (rollups sum whole days or, per expert,
/// whole months; only the flagged rows, or an expert by day or week, need the rows).
async fn gather(
    store: &super::Store,
    conn: &mut sqlx::AnyConnection,
    q: &Checked,
) -> Result<(Vec<Sums>, &'static str), super::StoreError> {
    // Rollups sum whole days (or, per expert, whole months); only the flagged rows, or an
    // expert by day or week, need the rows themselves.
    let by_expert = q.group_by.contains(&Dim::Expert) || q.expert.is_some();
    let by_day = q.group_by.contains(&Dim::Period);
    let monthly = !by_day || matches!(q.period, Period::Month | Period::Quarter);
    let mut all: Vec<Sums> = Vec::new();
    let source = if q.flagged_only || (by_expert && !monthly) {
        all = sums(conn, q, Src::Rows).await.map_err(|e| store.err(e))?;
        "ledger rows"
    } else if by_expert {
        // Whole months from the monthly rollups. A partial month at either edge is read from
        // its rows, or as its month's rollup less the rows of its other days, whichever reads
        // fewer rows (a year to today is a whole current month less its days to come). The
        // rollup months are then one range, read in one query.
        let (from_first, from_last) = month_bounds(q.from);
        let (to_first, to_last) = month_bounds(q.to);
        let mut edges: Vec<(NaiveDate, NaiveDate, NaiveDate, NaiveDate)> = Vec::new();
        if from_first == to_first {
            if q.from > from_first || q.to < to_last {
                edges.push((from_first, to_last, q.from, q.to));
            }
        } else {
            if q.from > from_first {
                edges.push((from_first, from_last, q.from, from_last));
            }
            if q.to < to_last {
                edges.push((to_first, to_last, to_first, q.to));
            }
        }
        let (mut lo, mut hi) = (from_first, to_last);
        let mut rows: Vec<(NaiveDate, NaiveDate)> = Vec::new();
        let mut less: Vec<(NaiveDate, NaiveDate)> = Vec::new();
        for (m_first, m_last, inside_from, inside_to) in edges {
            let mut outside: Vec<(NaiveDate, NaiveDate)> = Vec::new();
            if let Some(before) = inside_from.pred_opt().filter(|_| inside_from > m_first) {
                outside.push((m_first, before));
            }
            if let Some(after) = inside_to.succ_opt().filter(|_| inside_to < m_last) {
                outside.push((after, m_last));
            }
            let mut out_rows = 0;
            for (a, b) in &outside {
                out_rows += count_rows(conn, *a, *b).await.map_err(|e| store.err(e))?;
            }
            let in_rows = count_rows(conn, inside_from, inside_to)
                .await
                .map_err(|e| store.err(e))?;
            if out_rows < in_rows {
                less.extend(outside);
            } else {
                rows.push((inside_from, inside_to));
                if m_first == lo {
                    lo = m_last.succ_opt().unwrap_or(m_last);
                }
                if m_last == hi {
                    hi = m_first.pred_opt().unwrap_or(m_first);
                }
            }
        }
        // The query over other days.
        let span = |from: NaiveDate, to: NaiveDate| {
            let mut s = q.clone();
            (s.from, s.to) = (from, to);
            s
        };
        if lo <= hi {
            let got = sums(conn, &span(lo, hi), Src::ExpertMonths).await;
            all.extend(got.map_err(|e| store.err(e))?);
        } else {
            less.clear();
        }
        for (a, b) in rows {
            let got = sums(conn, &span(a, b), Src::Rows).await;
            all.extend(got.map_err(|e| store.err(e))?);
        }
        for (a, b) in less {
            let got = sums(conn, &span(a, b), Src::Rows).await;
            all.extend(
                got.map_err(|e| store.err(e))?
                    .into_iter()
                    .map(Sums::negated),
            );
        }
        "monthly expert rollups"
    } else {
        all = sums(conn, q, Src::Days).await.map_err(|e| store.err(e))?;
        "daily rollups"
    };
    Ok((all, source))
}

/// The report from its grouped sums: groups by the query's dimensions, their day bounds for
/// drill-down, experts' names, totals per currency.
async fn assemble(
    store: &super::Store,
    conn: &mut sqlx::AnyConnection,
    q: &Checked,
    all: Vec<Sums>,
    source: &'static str,
    tz: chrono_tz::Tz,
    started: std::time::Instant,
) -> Result<CommissionReport, super::StoreError> {
    let by_day = q.group_by.contains(&Dim::Period);
    let mut groups: std::collections::BTreeMap<
        (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
        ),
        CommissionGroup,
    > = Default::default();
    let mut bounds: std::collections::HashMap<
        (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
        ),
        (String, String),
    > = Default::default();
    for s in all {
        let period = by_day.then(|| {
            NaiveDate::parse_from_str(&s.day_min, "%Y-%m-%d")
                .map(|d| q.period.bucket(d))
                .unwrap_or_else(|_| s.day_min.clone())
        });
        let key = (
            period.clone(),
            q.group_by.contains(&Dim::Tier).then(|| s.tier.clone()),
            q.group_by
                .contains(&Dim::PlanType)
                .then(|| s.plan_type.clone()),
            q.group_by
                .contains(&Dim::Expert)
                .then(|| s.expert.clone().unwrap_or_default()),
            s.currency.clone(),
        );
        let g = groups
            .entry(key.clone())
            .or_insert_with(|| CommissionGroup {
                period: key.0.clone(),
                tier: key.1.clone(),
                plan_type: key.2.clone(),
                expert: key.3.clone().filter(|e| !e.is_empty()),
                currency: key.4.clone(),
                ..Default::default()
            });
        g.add(&CommissionGroup {
            charges: s.charges,
            refunds: s.refunds,
            gross: s.gross,
            commission: s.commission,
            implied: s.implied,
            unrated: s.unrated,
            flagged: s.flagged,
            ..Default::default()
        });
        // A month's rollup spans the whole month: its days are clamped to the period.
        let (lo, hi) = (day(q.from), day(q.to));
        let day_min = if s.day_min < lo { lo } else { s.day_min };
        let day_max = if s.day_max > hi { hi } else { s.day_max };
        let s = Sums {
            day_min,
            day_max,
            ..s
        };
        let b = bounds
            .entry(key)
            .or_insert_with(|| (s.day_min.clone(), s.day_max.clone()));
        if s.day_min < b.0 {
            b.0 = s.day_min.clone();
        }
        if s.day_max > b.1 {
            b.1 = s.day_max;
        }
    }
    let mut out: Vec<CommissionGroup> = groups
        .into_iter()
        .map(|(k, mut g)| {
            g.effective_bps = effective_bps(g.commission, g.gross);
            let (a, b) = bounds.remove(&k).unwrap_or_default();
            g.first_day = Some(a);
            g.last_day = Some(b);
            g
        })
        .filter(|g| !q.flagged_only || g.flagged > 0)
        // A group the subtraction emptied (all its rows were outside the period) is none.
        .filter(|g| g.charges != 0 || g.refunds != 0)
        .collect();
    // Names of the experts' organizations.
    let ids: Vec<String> = out.iter().filter_map(|g| g.expert.clone()).collect();
    if !ids.is_empty() {
        let mut names = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT id, name FROM organizations WHERE id IN ({})",
                super::placeholders(1, chunk.len())
            );
            let mut qn = sqlx::query(&sql);
            for id in chunk {
                qn = qn.bind(id.clone());
            }
            for r in qn.fetch_all(&mut *conn).await.map_err(|e| store.err(e))? {
                let (id, name): (String, Option<String>) = (
                    r.try_get(0).map_err(|e| store.err(e))?,
                    r.try_get(1).map_err(|e| store.err(e))?,
                );
                names.insert(id, name);
            }
        }
        for g in &mut out {
            if let Some(e) = &g.expert {
                g.expert_name = names.get(e).cloned().flatten();
            }
        }
    }
    let mut totals: std::collections::BTreeMap<String, CommissionGroup> = Default::default();
    for g in &out {
        let t = totals
            .entry(g.currency.clone())
            .or_insert_with(|| CommissionGroup {
                currency: g.currency.clone(),
                ..Default::default()
            });
        t.add(g);
        t.first_day = min_day(t.first_day.take(), g.first_day.clone(), true);
        t.last_day = min_day(t.last_day.take(), g.last_day.clone(), false);
    }
    let totals = totals
        .into_values()
        .map(|mut t| {
            t.effective_bps = effective_bps(t.commission, t.gross);
            t
        })
        .collect();
    Ok(CommissionReport {
        time_zone: tz.name().to_owned(),
        from: day(q.from),
        to: day(q.to),
        period: q.period,
        group_by: q.group_by.clone(),
        groups_total: out.len() as i64,
        groups: out,
        totals,
        source: source.into(),
        elapsed_us: started.elapsed().as_micros() as i64,
    })
}

fn min_day(a: Option<String>, b: Option<String>, min: bool) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if (a < b) == min { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Moves the reports to another time zone: every row's local day is computed again and the
/// daily rollups rebuilt, in one transaction.
pub async fn set_time_zone(
    store: &super::Store,
    tz: chrono_tz::Tz,
) -> Result<u64, super::StoreError> {
    let mut tx = store.write("ledger: time zone").await?;
    let range: (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT min(occurred_at), max(occurred_at) FROM transaction_commissions")
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| store.err(e))?;
    let mut moved = 0;
    if let (Some(lo), Some(hi)) = range {
        // Each local day's first UTC second; rows take the day whose start precedes them.
        let first = chrono::DateTime::from_timestamp(lo, 0)
            .unwrap_or_default()
            .date_naive()
            - chrono::Duration::days(2);
        let last = chrono::DateTime::from_timestamp(hi, 0)
            .unwrap_or_default()
            .date_naive()
            + chrono::Duration::days(2);
        let mut d = first;
        let mut starts: Vec<(i64, i64, String)> = Vec::new();
        while d <= last {
            let next = d.succ_opt().expect("a next day");
            starts.push((
                crate::ledger::report::day_start(tz, d),
                crate::ledger::report::day_start(tz, next),
                day(d),
            ));
            d = next;
        }
        for (a, b, label) in starts {
            let r = sqlx::query("UPDATE transaction_commissions SET local_day = $1 WHERE occurred_at >= $2 AND occurred_at < $3 AND local_day <> $4")
                .bind(&label)
                .bind(a)
                .bind(b)
                .bind(&label)
                .execute(&mut *tx)
                .await
                .map_err(|e| store.err(e))?;
            moved += r.rows_affected();
        }
    }
    rebuild_days_tx(&mut tx).await.map_err(|e| store.err(e))?;
    super::put_setting(&mut tx, TIME_ZONE, tz.name())
        .await
        .map_err(|e| store.err(e))?;
    tx.commit().await?;
    Ok(moved)
}

/// The reports' time zone, for screens and the CLI.
pub async fn time_zone(store: &super::Store) -> Result<String, super::StoreError> {
    Ok(zone(store).await?.name().to_owned())
}

use crate::ledger::report::{CommissionRow, CommissionRowsPage};

const ROW_COLS: &str = "t.id, t.kind, t.stripe_charge_id, t.org_id, o.name, t.expert_account_id, t.plan_type_at_transaction, t.tier_level_at_transaction,
  t.currency, t.gross_amount, t.commission_amount, t.implied_amount, t.commission_rate, t.flagged, t.stripe_payment_intent_id, t.stripe_transfer_id,
  t.occurred_at, t.local_day";

fn row_of(r: &sqlx::any::AnyRow) -> Result<CommissionRow, sqlx::Error> {
    Ok(CommissionRow {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        charge_id: r.try_get(2)?,
        org_id: r.try_get(3)?,
        org_name: r.try_get(4)?,
        expert_account_id: r.try_get(5)?,
        plan_type: r.try_get(6)?,
        tier: r.try_get(7)?,
        currency: r.try_get(8)?,
        gross: r.try_get(9)?,
        commission: r.try_get(10)?,
        implied: r.try_get(11)?,
        rate_bps: r.try_get(12)?,
        flagged: r.try_get::<i64, _>(13)? == 1,
        payment_intent_id: r.try_get(14)?,
        transfer_id: r.try_get(15)?,
        occurred_at: r.try_get(16)?,
        local_day: r.try_get(17)?,
    })
}

/// The rows of a query: its filters, plus the UTC seconds its days span (the same rows, found
/// through the (occurred_at, id) index in the order exports and pages read them).
fn rows_where(q: &Checked, tz: chrono_tz::Tz) -> Where {
    let mut w = filters(q, &LEDGER_T);
    let end = q.to.succ_opt().unwrap_or(q.to);
    w.sql.push_str(&format!(
        " AND t.occurred_at >= {} AND t.occurred_at < {}",
        day_start(tz, q.from),
        day_start(tz, end)
    ));
    w
}

/// The ledger rows behind a report (or one of its groups), oldest first.
pub async fn commission_rows(
    store: &super::Store,
    q: &Checked,
    offset: i64,
    limit: i64,
) -> Result<CommissionRowsPage, super::StoreError> {
    let tz = zone(store).await?;
    let w = rows_where(q, tz);
    let count_sql = format!(
        "SELECT count(*) FROM transaction_commissions t WHERE {}",
        w.sql
    );
    let mut cq = sqlx::query_scalar::<_, i64>(&count_sql)
        .bind(day(q.from))
        .bind(day(q.to));
    for b in &w.binds {
        cq = cq.bind(b.clone());
    }
    let total = cq.fetch_one(store.pool()).await.map_err(|e| store.err(e))?;
    let n = w.binds.len() + 2;
    let sql = format!(
        "SELECT {ROW_COLS} FROM transaction_commissions t LEFT JOIN organizations o ON o.id = t.org_id WHERE {}
         ORDER BY t.occurred_at, t.id LIMIT ${} OFFSET ${}",
        w.sql,
        n + 1,
        n + 2
    );
    let mut rq = sqlx::query(&sql).bind(day(q.from)).bind(day(q.to));
    for b in &w.binds {
        rq = rq.bind(b.clone());
    }
    let rows = rq
        .bind(limit.clamp(1, 10_000))
        .bind(offset.max(0))
        .fetch_all(store.pool())
        .await
        .map_err(|e| store.err(e))?;
    let rows = rows
        .iter()
        .map(row_of)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| store.err(e))?;
    Ok(CommissionRowsPage { total, rows })
}

/// An exported row's fields as one text, in [`EXPORT_FIELDS`] order, joined by `$sep` (a
/// unit separator, bound: no field can hold it); Rust formats them. Decoding a million rows
/// column by column through the driver took ~20 s, as one text each ~5 s, and a chunk's rows
/// as one aggregate ~3 s.
const EXPORT_LINE: &str = "t.id || $sep || t.kind || $sep || t.stripe_charge_id || $sep || COALESCE(t.org_id, '')
  || $sep || COALESCE(t.expert_account_id, '') || $sep || t.plan_type_at_transaction || $sep || t.tier_level_at_transaction
  || $sep || t.currency || $sep || CAST(t.gross_amount AS TEXT) || $sep || CAST(t.commission_amount AS TEXT)
  || $sep || COALESCE(CAST(t.implied_amount AS TEXT), '') || $sep || COALESCE(CAST(t.commission_rate AS TEXT), '')
  || $sep || CAST(t.flagged AS TEXT) || $sep || COALESCE(t.stripe_payment_intent_id, '')
  || $sep || COALESCE(t.stripe_transfer_id, '') || $sep || CAST(t.occurred_at AS TEXT) || $sep || t.local_day";
const EXPORT_FIELDS: usize = 17;
/// Rows per export query: one aggregate text of ~2 MB, one progress step.
const EXPORT_CHUNK: i64 = 10_000;
const UNIT_SEP: &str = "\u{1f}";
const RECORD_SEP: &str = "\u{1e}";

/// Streams the rows of a query to `out` as CSV, oldest first, in chunks of [`EXPORT_CHUNK`]
/// read by keyset on (occurred_at, id): `step` gets the rows written so far after each chunk,
/// and `cancelled` is asked between chunks. Amounts are decimal in their currency's unit.
pub async fn export_rows<W: std::io::Write>(
    store: &super::Store,
    q: &Checked,
    out: W,
    step: &(dyn Fn(u64) + Send + Sync),
    cancelled: &(dyn Fn() -> bool + Send + Sync),
) -> Result<u64, super::StoreError> {
    export_rows_chunked(store, q, out, EXPORT_CHUNK, step, cancelled).await
}

/// [`export_rows`] reading `chunk` rows per query (tests use small ones to cross many chunk
/// edges).
pub async fn export_rows_chunked<W: std::io::Write>(
    store: &super::Store,
    q: &Checked,
    out: W,
    chunk: i64,
    step: &(dyn Fn(u64) + Send + Sync),
    cancelled: &(dyn Fn() -> bool + Send + Sync),
) -> Result<u64, super::StoreError> {
    let chunk = chunk.max(1);
    let mut conn = store.pool().acquire().await.map_err(|e| store.err(e))?;
    let tz = report_zone(&mut conn).await.map_err(|e| store.err(e))?;
    // Organization names once, not joined into each of a million rows.
    let names: std::collections::HashMap<String, String> =
        sqlx::query_as::<_, (String, String)>("SELECT id, name FROM organizations")
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| store.err(e))?
            .into_iter()
            .collect();
    let w = rows_where(q, tz);
    let n = w.binds.len() + 2;
    let (sep, rs, after_at, after_id, limit) = (n + 1, n + 2, n + 3, n + 4, n + 5);
    // A chunk is exactly the next rows in (occurred_at, id) order, and `b` its last key, both
    // by SQL's ordering; the aggregate's own order is not promised, so Rust sorts each chunk.
    let sql = format!(
        "WITH c AS (
           SELECT t.occurred_at AS oa, t.id AS lid, {line} AS line FROM transaction_commissions t
           WHERE {w} AND (t.occurred_at > ${after_at} OR (t.occurred_at = ${after_at} AND t.id > ${after_id}))
           ORDER BY t.occurred_at, t.id LIMIT ${limit}),
         b AS (SELECT oa, lid FROM c ORDER BY oa DESC, lid DESC LIMIT 1)
         SELECT string_agg(c.line, ${rs}), count(*), max(b.oa), max(b.lid) FROM c, b",
        line = EXPORT_LINE.replace("$sep", &format!("${sep}")),
        w = w.sql,
    );
    let mut binds = vec![day(q.from), day(q.to)];
    binds.extend(w.binds);
    let fetch = Chunks {
        sql: std::sync::Arc::new(sql),
        binds: std::sync::Arc::new(binds),
        chunk,
    };
    let mut csv = csv::Writer::from_writer(out);
    let io = |e: csv::Error| super::StoreError::Other {
        location: "the export file".into(),
        detail: e.to_string(),
    };
    csv.write_record(EXPORT_HEADER).map_err(io)?;
    // The next chunk is read while this one is written: SQL and formatting overlap.
    let mut next =
        (!cancelled()).then(|| tokio::spawn(fetch.clone().read(conn, (i64::MIN, String::new()))));
    let mut written = 0u64;
    while let Some(pending) = next.take() {
        let (conn, got) = pending.await.map_err(|e| super::StoreError::Other {
            location: "the commission ledger".into(),
            detail: e.to_string(),
        })?;
        let Some((lines, count, last)) = got.map_err(|e| store.err(e))? else {
            break;
        };
        if count == chunk && !cancelled() {
            next = Some(tokio::spawn(fetch.clone().read(conn, last)));
        }
        let mut records = Vec::with_capacity(count as usize);
        for line in lines.split(RECORD_SEP) {
            let mut f = [""; EXPORT_FIELDS];
            let mut k = 0;
            for part in line.split(UNIT_SEP) {
                if k < EXPORT_FIELDS {
                    f[k] = part;
                }
                k += 1;
            }
            if k != EXPORT_FIELDS {
                return Err(super::StoreError::Other {
                    location: "the commission ledger".into(),
                    detail: format!("an exported row has {k} fields, not {EXPORT_FIELDS}"),
                });
            }
            records.push((f[15].parse::<i64>().unwrap_or_default(), f));
        }
        // By time only, and stably: rows of the same second keep the aggregate's order, which
        // is the chunk's (SQL's collation, as the rows page orders ids).
        records.sort_by_key(|r| r.0);
        for (occurred, f) in records {
            let currency = crate::domain::Currency::from_stripe(f[7]);
            let amount = |v: &str| {
                v.parse::<i64>()
                    .map(|v| crate::domain::money::decimal_minor(v, &currency))
                    .unwrap_or_default()
            };
            csv.write_record([
                f[0],
                f[1],
                f[2],
                f[3],
                names.get(f[3]).map(String::as_str).unwrap_or(""),
                f[4],
                f[5],
                f[6],
                &f[7].to_ascii_uppercase(),
                &amount(f[8]),
                &amount(f[9]),
                &amount(f[10]),
                f[11],
                if f[12] == "1" { "yes" } else { "no" },
                f[13],
                f[14],
                &crate::domain::iso_utc(occurred),
                f[16],
            ])
            .map_err(io)?;
        }
        written += count as u64;
        step(written);
    }
    if let Some(pending) = next {
        pending.abort();
    }
    csv.flush().map_err(|e| super::StoreError::Other {
        location: "the export file".into(),
        detail: e.to_string(),
    })?;
    Ok(written)
}

const EXPORT_HEADER: [&str; 18] = [
    "id",
    "kind",
    "charge",
    "organization",
    "organization_name",
    "expert_account",
    "plan_type",
    "tier",
    "currency",
    "gross",
    "commission",
    "implied",
    "rate_bps",
    "flagged",
    "payment_intent",
    "transfer",
    "occurred_at_utc",
    "local_day",
];

/// One export query, run on its own task so the next chunk is read while one is written.
#[derive(Clone)]
struct Chunks {
    sql: std::sync::Arc<String>,
    binds: std::sync::Arc<Vec<String>>,
    chunk: i64,
}

/// A chunk's rows as one text, how many, and the last (occurred_at, id); None past the end.
type Chunk = Option<(String, i64, (i64, String))>;

impl Chunks {
    async fn read(
        self,
        mut conn: sqlx::pool::PoolConnection<sqlx::Any>,
        after: (i64, String),
    ) -> (
        sqlx::pool::PoolConnection<sqlx::Any>,
        Result<Chunk, sqlx::Error>,
    ) {
        let mut rq = sqlx::query_as::<_, (Option<String>, i64, Option<i64>, Option<String>)>(
            self.sql.as_str(),
        );
        for b in self.binds.iter() {
            rq = rq.bind(b.clone());
        }
        let got = rq
            .bind(UNIT_SEP)
            .bind(RECORD_SEP)
            .bind(after.0)
            .bind(after.1)
            .bind(self.chunk)
            .fetch_one(&mut *conn)
            .await
            .map(|(lines, count, at, id)| match (lines, at, id) {
                (Some(lines), Some(at), Some(id)) if count > 0 => Some((lines, count, (at, id))),
                _ => None,
            });
        (conn, got)
    }
}

use crate::ledger::report::{day_start, CheckedRate, RateRow};

/// Every rate, by plan type, tier and start.
pub async fn rates(store: &super::Store) -> Result<Vec<RateRow>, super::StoreError> {
    let rows = sqlx::query(
        "SELECT id, plan_type, tier, rate_bps, effective_from, effective_to, source, note FROM commission_rates ORDER BY plan_type, tier, effective_from",
    )
    .fetch_all(store.pool())
    .await
    .map_err(|e| store.err(e))?;
    rows.iter()
        .map(rate_of)
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(|e| store.err(e))
}

/// Why a rate cannot be added or ended: it would overlap another of the same plan and tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap(pub RateRow);

/// Adds a rate; refused (nothing written) when it overlaps another rate of the same plan type
/// and tier. Rows already in the ledger keep the rate they were recorded with.
pub async fn add_rate(
    store: &super::Store,
    r: &CheckedRate,
) -> Result<Result<RateRow, Overlap>, super::StoreError> {
    let tz = zone(store).await?;
    let from = day_start(tz, r.from);
    let to = r.to.map(|t| day_start(tz, t));
    let mut tx = store.write("ledger: add rate").await?;
    if let Some(other) = overlapping(&mut tx, &r.plan_type, &r.tier, from, to, None)
        .await
        .map_err(|e| store.err(e))?
    {
        return Ok(Err(Overlap(other)));
    }
    let row = sqlx::query(
        "INSERT INTO commission_rates (plan_type, tier, rate_bps, effective_from, effective_to, source, note, created_at)
         VALUES ($1, $2, $3, $4, $5, 'admin', $6, $7) RETURNING id, plan_type, tier, rate_bps, effective_from, effective_to, source, note",
    )
    .bind(&r.plan_type)
    .bind(&r.tier)
    .bind(r.rate_bps)
    .bind(from)
    .bind(to)
    .bind(r.note.clone())
    .bind(super::now_seconds())
    .fetch_one(&mut *tx)
    .await
    .and_then(|r| rate_of(&r))
    .map_err(|e| store.err(e))?;
    tx.commit().await?;
    Ok(Ok(row))
}

/// Ends a rate at the start of a day (so another can follow it). None: no such rate; an
/// error message when the day is not after its start.
pub async fn end_rate(
    store: &super::Store,
    id: i64,
    at: chrono::NaiveDate,
) -> Result<Option<Result<RateRow, String>>, super::StoreError> {
    let tz = zone(store).await?;
    let end = day_start(tz, at);
    // Read and shortened under the write lock: another process may be ending it too.
    let mut tx = store.write("ledger: end rate").await?;
    let Some(rate) = sqlx::query(
        "SELECT id, plan_type, tier, rate_bps, effective_from, effective_to, source, note FROM commission_rates WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
    .and_then(|r| r.as_ref().map(rate_of).transpose())
    .map_err(|e| store.err(e))?
    else {
        return Ok(None);
    };
    if end <= rate.effective_from {
        return Ok(Some(Err(format!(
            "the rate starts on {}; it can only end after that",
            local_day(tz, rate.effective_from)
        ))));
    }
    if rate.effective_to.is_some_and(|t| end >= t) {
        return Ok(Some(Err(format!(
            "the rate already ends on {}; a rate is only ever shortened",
            local_day(tz, rate.effective_to.unwrap_or_default())
        ))));
    }
    sqlx::query("UPDATE commission_rates SET effective_to = $1 WHERE id = $2")
        .bind(end)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| store.err(e))?;
    tx.commit().await?;
    Ok(Some(Ok(RateRow {
        effective_to: Some(end),
        ..rate
    })))
}

async fn overlapping(
    tx: &mut Tx,
    plan_type: &str,
    tier: &str,
    from: i64,
    to: Option<i64>,
    except: Option<i64>,
) -> Result<Option<RateRow>, sqlx::Error> {
    let r = sqlx::query(
        "SELECT id, plan_type, tier, rate_bps, effective_from, effective_to, source, note FROM commission_rates
         WHERE plan_type = $1 AND tier = $2 AND (effective_to IS NULL OR effective_to > $3) AND effective_from < $4
           AND id <> $5 ORDER BY effective_from LIMIT 1",
    )
    .bind(plan_type)
    .bind(tier)
    .bind(from)
    .bind(to.unwrap_or(i64::MAX))
    .bind(except.unwrap_or(-1))
    .fetch_optional(&mut **tx)
    .await?;
    r.as_ref().map(rate_of).transpose()
}

/// Rates a seeded ledger uses when the store has none for a plan type and tier.
const SEED_RATES: [(&str, &str, i64); 5] = [
    ("monthly", "community", 1200),
    ("annual", "community", 1200),
    ("monthly", "top", 800),
    ("annual", "top", 800),
    ("commission", "community", 1500),
];

/// The plan mix of seeded rows: (plan type, tier, weight in percent).
const SEED_MIX: [(&str, &str, u64); 5] = [
    ("monthly", "community", 40),
    ("annual", "community", 15),
    ("monthly", "top", 20),
    ("annual", "top", 10),
    ("commission", "community", 15),
];

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` rows over the year up to now (`tollgate dev seed --commissions N`): appointments of the
/// store's organizations (or 2,000 made-up ones), each organization on one plan and in one
/// currency (85% EUR, 15% USD), charged at the rate table's
/// rates except 1% (flagged), and a partial refund on 2% of them, each its own row. The daily
/// rollups are rebuilt once at the end.
pub async fn seed(
    store: &super::Store,
    n: u64,
    step: &(dyn Fn(u64) + Send + Sync),
) -> Result<u64, super::StoreError> {
    let err = |e| store.err(e);
    let tz = zone(store).await?;
    let mut tx = store.write("dev seed").await?;
    for (plan, tier, bps) in SEED_RATES {
        sqlx::query(
            "INSERT INTO commission_rates (plan_type, tier, rate_bps, effective_from, effective_to, source, note, created_at)
             SELECT $1, $2, $3, 0, NULL, 'seed', 'tollgate dev seed', $4 WHERE NOT EXISTS (SELECT 1 FROM commission_rates WHERE plan_type = $5 AND tier = $6)",
        )
        .bind(plan)
        .bind(tier)
        .bind(bps)
        .bind(super::now_seconds())
        .bind(plan)
        .bind(tier)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
    }
    let mut rate = std::collections::HashMap::new();
    for (plan, tier, _) in SEED_MIX {
        rate.insert(
            (plan, tier),
            rate_at(&mut tx, plan, tier, super::now_seconds())
                .await
                .map_err(err)?,
        );
    }
    let mut orgs: Vec<String> =
        sqlx::query_scalar("SELECT id FROM organizations ORDER BY id LIMIT 5000")
            .fetch_all(&mut *tx)
            .await
            .map_err(err)?;
    tx.commit().await?;
    if orgs.is_empty() {
        orgs = (0..2000).map(|k| format!("org_seed{k:05}")).collect();
    }
    let backend = store.backend();
    let now = super::now_seconds();
    let start = now - 365 * 86400;
    let run = now;
    let mut rng = n ^ now as u64;
    const COLS: usize = 19;
    const CHUNK: usize = 500;
    let mut added = 0u64;
    let mut k = 0u64;
    let mut tx = store.write("dev seed").await?;
    let mut in_tx = 0;
    while k < n {
        let mut rows: Vec<(
            String,
            &str,
            String,
            String,
            String,
            &str,
            &str,
            &str,
            i64,
            i64,
            Option<i64>,
            Option<i64>,
            i64,
            i64,
        )> = Vec::with_capacity(CHUNK);
        while rows.len() < CHUNK && k < n {
            let r = splitmix(&mut rng);
            let at = start + (k as i64 * 365 * 86400) / n as i64 + (r % 600) as i64;
            // An organization holds one plan and bills in one currency: both follow from it.
            let o = ((r >> 32) % orgs.len() as u64) as usize;
            let mut h = o as u64;
            let traits = splitmix(&mut h);
            let mut pick = traits % 100;
            let (plan, tier) = SEED_MIX
                .iter()
                .find(|(_, _, w)| {
                    if pick < *w {
                        true
                    } else {
                        pick -= w;
                        false
                    }
                })
                .map(|(p, t, _)| (*p, *t))
                .unwrap_or(("monthly", "community"));
            let currency = if (traits >> 8) % 100 < 85 {
                "eur"
            } else {
                "usd"
            };
            let amount = 4000 + ((r >> 16) % 33) as i64 * 500;
            let bps = rate[&(plan, tier)];
            let implied = bps.map(|b| BasisPoints(b as u16).of(amount));
            let off = (r >> 24) % 100 == 0;
            let charged = implied.unwrap_or(0) + if off { 100 } else { 0 };
            let org = orgs[o].clone();
            let charge = format!("ch_seed{run}x{k:09}");
            rows.push((
                charge.clone(),
                "charge",
                charge.clone(),
                org.clone(),
                format!("acct_seed{:05}", (r >> 40) % 4000),
                plan,
                tier,
                currency,
                amount,
                charged,
                implied,
                bps,
                at,
                (implied != Some(charged)) as i64,
            ));
            if (r >> 48) % 100 < 2 {
                let back = amount / 2;
                let implied_back = implied.map(|i| -ratio_half_up(i, back, amount));
                let charged_back = -ratio_half_up(charged, back, amount);
                rows.push((
                    format!("re_seed{run}x{k:09}"),
                    "refund",
                    charge,
                    org,
                    format!("acct_seed{:05}", (r >> 40) % 4000),
                    plan,
                    tier,
                    currency,
                    -back,
                    charged_back,
                    implied_back,
                    bps,
                    at + 86400,
                    (implied_back != Some(charged_back)) as i64,
                ));
            }
            k += 1;
        }
        let sql = format!(
            "INSERT INTO transaction_commissions (id, kind, stripe_charge_id, org_id, expert_account_id, plan_type_at_transaction, tier_level_at_transaction,
               currency, gross_amount, commission_amount, implied_amount, commission_rate, occurred_at, flagged, stripe_payment_intent_id,
               stripe_application_fee_id, stripe_transfer_id, local_day, created_at) VALUES {} ON CONFLICT (id) DO NOTHING",
            super::values_rows(backend, rows.len(), COLS)
        );
        let mut q = sqlx::query(&sql);
        for r in rows {
            let day = local_day(tz, r.12);
            let pi = format!("pi_{}", &r.2[3..]);
            let tr = format!("tr_{}", &r.2[3..]);
            q = q
                .bind(r.0)
                .bind(r.1)
                .bind(r.2)
                .bind(r.3)
                .bind(r.4)
                .bind(r.5)
                .bind(r.6)
                .bind(r.7)
                .bind(r.8)
                .bind(r.9)
                .bind(r.10)
                .bind(r.11)
                .bind(r.12)
                .bind(r.13)
                .bind(pi)
                .bind(None::<String>)
                .bind(tr)
                .bind(day)
                .bind(now);
        }
        added += q.execute(&mut *tx).await.map_err(err)?.rows_affected();
        in_tx += CHUNK;
        if in_tx >= 20_000 {
            tx.commit().await?;
            tx = store.write("dev seed").await?;
            in_tx = 0;
        }
        step(k);
    }
    tx.commit().await?;
    rebuild_days(store).await?;
    Ok(added)
}

/// The daily rollups computed again from the ledger.
async fn rebuild_days(store: &super::Store) -> Result<(), super::StoreError> {
    let mut tx = store.write("ledger: rebuild rollups").await?;
    rebuild_days_tx(&mut tx).await.map_err(|e| store.err(e))?;
    tx.commit().await?;
    Ok(())
}

/// The sums every rollup keeps, in this order.
const ROLLUP_SUMS: &str = "charges, refunds, gross_amount, commission, implied, unrated, flagged";
const DAY_KEYS: &str = "local_day, currency, tier, plan_type";
const MONTH_KEYS: &str = "month, org_id, currency, tier, plan_type";

/// The same sums over ledger rows, for a GROUP BY.
const LEDGER_SUMS: &str = "CAST(sum(CASE WHEN kind = 'charge' THEN 1 ELSE 0 END) AS BIGINT), CAST(sum(CASE WHEN kind = 'refund' THEN 1 ELSE 0 END) AS BIGINT),
  CAST(sum(gross_amount) AS BIGINT), CAST(sum(commission_amount) AS BIGINT), CAST(sum(COALESCE(implied_amount, 0)) AS BIGINT),
  CAST(sum(CASE WHEN implied_amount IS NULL THEN 1 ELSE 0 END) AS BIGINT), CAST(sum(flagged) AS BIGINT)";

/// The same sums over rollup rows (daily or monthly), from the one list of their columns.
fn rollup_sum_exprs() -> String {
    ROLLUP_SUMS
        .split(", ")
        .map(|c| format!("CAST(sum({c}) AS BIGINT)"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Adds one row's sums to a rollup row, creating it if need be.
async fn bump_rollup(
    tx: &mut Tx,
    table: &str,
    key_cols: &str,
    keys: &[&str],
    sums: [i64; 7],
) -> Result<(), sqlx::Error> {
    let set = ROLLUP_SUMS
        .split(", ")
        .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO {table} ({key_cols}, {ROLLUP_SUMS}) VALUES ({}) ON CONFLICT ({key_cols}) DO UPDATE SET {set}",
        super::placeholders(1, keys.len() + sums.len())
    );
    let mut q = sqlx::query(&sql);
    for k in keys {
        q = q.bind(k.to_string());
    }
    for v in sums {
        q = q.bind(v);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

async fn rebuild_days_tx(tx: &mut Tx) -> Result<(), sqlx::Error> {
    for (table, keys, group) in [
        (
            "commission_days",
            DAY_KEYS,
            "local_day, currency, tier_level_at_transaction, plan_type_at_transaction",
        ),
        (
            "commission_expert_months",
            MONTH_KEYS,
            "substr(local_day, 1, 7), COALESCE(org_id, ''), currency, tier_level_at_transaction, plan_type_at_transaction",
        ),
    ] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&mut **tx)
            .await?;
        sqlx::query(&format!(
            "INSERT INTO {table} ({keys}, {ROLLUP_SUMS}) SELECT {group}, {LEDGER_SUMS} FROM transaction_commissions GROUP BY {group}"
        ))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

use crate::ledger::overview::{monthly, CommissionMonths, CountTrend, MoneyTrend, Overview};

/// The finance overview as of `now` (UTC seconds): twelve months ending with the current one.
pub async fn overview(store: &super::Store, now: i64) -> Result<Overview, super::StoreError> {
    let started = std::time::Instant::now();
    let err = |e| store.err(e);
    let mut conn = store.pool().acquire().await.map_err(err)?;
    let tz = report_zone(&mut conn).await.map_err(err)?;
    // Month starts (UTC seconds) of the twelve months, and the end of each (the next start, or
    // now for the current month).
    let today = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive();
    let mut months: Vec<NaiveDate> = Vec::new();
    let mut d = today;
    for _ in 0..12 {
        let first = month_bounds(d).0;
        months.push(first);
        d = first.pred_opt().unwrap_or(first);
    }
    months.reverse();
    let starts: Vec<i64> = months.iter().map(|d| day_start(tz, *d)).collect();
    let ends: Vec<i64> = (0..12)
        .map(|i| if i + 1 < 12 { starts[i + 1] } else { now + 1 })
        .collect();
    let labels: Vec<String> = months
        .iter()
        .map(|d| d.format("%Y-%m").to_string())
        .collect();

    let rows = sqlx::query(
        "SELECT tier, currency, amount, billing_interval, interval_count, subscription_status, start_date, ended_at, trial_end,
           stripe_subscription_id, stripe_price_id
         FROM org_subscriptions",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(err)?;
    // What the store recorded changing: status spells (past due, back to active) and plan
    // changes, so each month's end is counted as it was, not as it is now.
    type Changes<T> = std::collections::HashMap<String, Vec<(i64, T, T)>>;
    let mut statuses_of: Changes<String> = Default::default();
    let mut prices_of: Changes<Option<String>> = Default::default();
    for c in sqlx::query(
        "SELECT stripe_subscription_id, change, occurred_at, previous_status, new_status, previous_price, new_price
         FROM subscription_events WHERE change IN ('status', 'plan') ORDER BY occurred_at, id",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(err)?
    {
        let (sub, change, at): (String, String, i64) = (
            c.try_get(0).map_err(err)?,
            c.try_get(1).map_err(err)?,
            c.try_get(2).map_err(err)?,
        );
        if change == "status" {
            let (before, after): (Option<String>, Option<String>) =
                (c.try_get(3).map_err(err)?, c.try_get(4).map_err(err)?);
            statuses_of.entry(sub).or_default().push((
                at,
                before.unwrap_or_default(),
                after.unwrap_or_default(),
            ));
        } else {
            prices_of.entry(sub).or_default().push((
                at,
                c.try_get(5).map_err(err)?,
                c.try_get(6).map_err(err)?,
            ));
        }
    }
    // The prices a changed plan was on: amount, interval, count, currency, tier.
    type Terms = (
        Option<i64>,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let mut price_terms: std::collections::HashMap<String, Terms> = Default::default();
    if !prices_of.is_empty() {
        for p in sqlx::query(
            "SELECT stripe_id, unit_amount, billing_interval, interval_count, currency, tier FROM prices",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(err)?
        {
            price_terms.insert(
                p.try_get(0).map_err(err)?,
                (
                    p.try_get(1).map_err(err)?,
                    p.try_get(2).map_err(err)?,
                    p.try_get(3).map_err(err)?,
                    p.try_get(4).map_err(err)?,
                    p.try_get(5).map_err(err)?,
                ),
            );
        }
    }
    let mut mrr: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    let mut by_tier: std::collections::BTreeMap<(String, String), Vec<i64>> = Default::default();
    let mut risk: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    let status_names = ["active", "trialing", "past_due", "canceled"];
    let mut status_now = [0i64; 4];
    let mut status_trend = [[0i64; 12]; 4];
    let mut new = [0i64; 12];
    let mut churned = [0i64; 12];
    let mut unpriced = 0;
    let none = Vec::new();
    for r in rows {
        let tier: Option<String> = r.try_get(0).map_err(err)?;
        let currency: Option<String> = r.try_get(1).map_err(err)?;
        let amount: Option<i64> = r.try_get(2).map_err(err)?;
        let interval: Option<String> = r.try_get(3).map_err(err)?;
        let count: Option<i64> = r.try_get(4).map_err(err)?;
        let status: String = r.try_get(5).map_err(err)?;
        let start: i64 = r.try_get(6).map_err(err)?;
        let ended: Option<i64> = r.try_get(7).map_err(err)?;
        let trial_end: Option<i64> = r.try_get(8).map_err(err)?;
        let sub: String = r.try_get(9).map_err(err)?;
        let price: Option<String> = r.try_get(10).map_err(err)?;
        if matches!(status.as_str(), "incomplete" | "incomplete_expired") {
            continue;
        }
        if let Some(i) = status_names.iter().position(|s| *s == status) {
            status_now[i] += 1;
        }
        // Started and ended in which month.
        for i in 0..12 {
            if start >= starts[i] && start < ends[i] {
                new[i] += 1;
            }
            if let Some(e) = ended {
                if e >= starts[i] && e < ends[i] {
                    churned[i] += 1;
                }
            }
        }
        let spells = statuses_of.get(&sub).unwrap_or(&none);
        let plans = prices_of.get(&sub);
        // Quantity, to price an earlier plan as this one is priced.
        let unit_now = price
            .as_ref()
            .and_then(|p| price_terms.get(p))
            .and_then(|t| t.0);
        let quantity = match (amount, unit_now) {
            (Some(a), Some(u)) if u > 0 && a % u == 0 => a / u,
            _ => 1,
        };
        for i in 0..12 {
            let t = ends[i] - 1;
            if start > t {
                continue;
            }
            // The status then: ended is canceled; else the recorded status; without status
            // changes, in its trial or else as now (a past-due spell's start is unknown, so a
            // past-due subscription counts as active before this month).
            let then = if ended.is_some_and(|e| e <= t) {
                "canceled".to_owned()
            } else if spells.is_empty() {
                if trial_end.is_some_and(|te| te > t) {
                    "trialing".to_owned()
                } else if i < 11 && matches!(status.as_str(), "past_due" | "unpaid") {
                    "active".to_owned()
                } else if status == "canceled" && ended.is_some() {
                    // Canceled since `ended_at`, after this month's end: running then.
                    "active".to_owned()
                } else {
                    status.clone()
                }
            } else {
                crate::ledger::overview::as_of(spells, t, &status)
            };
            let k = match then.as_str() {
                "active" => 0,
                "trialing" => 1,
                "past_due" | "unpaid" => 2,
                "canceled" => 3,
                _ => continue,
            };
            status_trend[k][i] += 1;
            if !(k == 0 || k == 2) {
                continue;
            }
            // MRR: what paying subscriptions bill per month (trials do not pay yet), on the
            // plan they were on then.
            let on = plans.map(|p| crate::ledger::overview::as_of(p, t, &price));
            let (a, iv, n, cur, tr) = match on.as_ref() {
                Some(p) if *p != price => match p.as_ref().and_then(|p| price_terms.get(p)) {
                    Some((a, iv, n, cur, tr)) => (
                        // Bounded as a subscription's own amount is: a product no real plan
                        // reaches is left out, never wrapped.
                        a.and_then(|a| a.checked_mul(quantity))
                            .filter(|a| (0..=crate::sync::objects::MAX_AMOUNT).contains(a)),
                        iv.clone(),
                        *n,
                        cur.clone(),
                        tr.clone(),
                    ),
                    None => (None, None, None, None, None),
                },
                _ => (
                    amount,
                    interval.clone(),
                    count,
                    currency.clone(),
                    tier.clone(),
                ),
            };
            let per_month = match (a, iv.as_deref(), cur.as_ref()) {
                (Some(a), Some(iv), Some(_)) => monthly(a, iv, n.unwrap_or(1)),
                _ => None,
            };
            let Some(per_month) = per_month else {
                if i == 11 {
                    unpriced += 1;
                }
                continue;
            };
            let cur = cur.unwrap_or_default();
            let tr = tr.unwrap_or_else(|| "—".into());
            mrr.entry(cur.clone()).or_insert_with(|| vec![0; 12])[i] += per_month;
            by_tier
                .entry((cur.clone(), tr))
                .or_insert_with(|| vec![0; 12])[i] += per_month;
            if k == 2 {
                risk.entry(cur).or_insert_with(|| vec![0; 12])[i] += per_month;
            }
        }
    }
    // Commissions per month from the daily rollups.
    let comm = sqlx::query(
        "SELECT substr(local_day, 1, 7), currency, CAST(sum(commission) AS BIGINT) FROM commission_days
         WHERE local_day >= $1 AND local_day <= $2 GROUP BY 1, 2",
    )
    .bind(day(months[0]))
    .bind(day(today))
    .fetch_all(&mut *conn)
    .await
    .map_err(err)?;
    let mut commissions: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for r in comm {
        let (month, currency, sum): (String, String, i64) = (
            r.try_get(0).map_err(err)?,
            r.try_get(1).map_err(err)?,
            r.try_get(2).map_err(err)?,
        );
        if let Some(i) = labels.iter().position(|l| *l == month) {
            commissions.entry(currency).or_insert_with(|| vec![0; 12])[i] += sum;
        }
    }
    Ok(Overview {
        time_zone: tz.name().to_owned(),
        months: labels,
        mrr: mrr
            .into_iter()
            .map(|(currency, trend)| MoneyTrend::of(currency, None, trend))
            .collect(),
        mrr_by_tier: by_tier
            .into_iter()
            .map(|((currency, tier), trend)| MoneyTrend::of(currency, Some(tier), trend))
            .collect(),
        statuses: status_names
            .iter()
            .enumerate()
            .map(|(i, s)| CountTrend {
                label: (*s).into(),
                value: status_now[i],
                trend: status_trend[i].to_vec(),
            })
            .collect(),
        new_subscriptions: CountTrend {
            label: "new".into(),
            value: new[11],
            trend: new.to_vec(),
        },
        churned_subscriptions: CountTrend {
            label: "churned".into(),
            value: churned[11],
            trend: churned.to_vec(),
        },
        past_due_at_risk: risk
            .into_iter()
            .filter(|(_, trend)| trend.iter().any(|v| *v != 0))
            .map(|(currency, trend)| MoneyTrend::of(currency, None, trend))
            .collect(),
        commissions: commissions
            .into_iter()
            .map(|(currency, trend)| CommissionMonths {
                currency,
                this_month: trend[11],
                last_month: trend[10],
                trend,
            })
            .collect(),
        unpriced,
        elapsed_us: started.elapsed().as_micros() as i64,
    })
}

fn rate_of(r: &sqlx::any::AnyRow) -> Result<RateRow, sqlx::Error> {
    Ok(RateRow {
        id: r.try_get(0)?,
        plan_type: r.try_get(1)?,
        tier: r.try_get(2)?,
        rate_bps: r.try_get(3)?,
        effective_from: r.try_get(4)?,
        effective_to: r.try_get(5)?,
        source: r.try_get(6)?,
        note: r.try_get(7)?,
    })
}

impl Sums {
    /// The same sums taken away (a month's rollup less the days outside a period).
    fn negated(self) -> Sums {
        Sums {
            charges: -self.charges,
            refunds: -self.refunds,
            gross: -self.gross,
            commission: -self.commission,
            implied: -self.implied,
            unrated: -self.unrated,
            flagged: -self.flagged,
            ..self
        }
    }
}

/// The first and last day of the month a day is in.
fn month_bounds(d: NaiveDate) -> (NaiveDate, NaiveDate) {
    use chrono::{Datelike, Months};
    let first = d.with_day(1).unwrap_or(d);
    let last = (first + Months::new(1)).pred_opt().unwrap_or(d);
    (first, last)
}

/// Ledger rows on these local days (the local_day index answers it).
async fn count_rows(
    conn: &mut sqlx::AnyConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<i64, sqlx::Error> {
    // The daily rollups count the rows exactly, in a few hundred reads.
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(sum(charges + refunds), 0) AS BIGINT) FROM commission_days WHERE local_day >= $1 AND local_day <= $2",
    )
    .bind(day(from))
    .bind(day(to))
    .fetch_one(&mut *conn)
    .await
}

/// Where a report's sums come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Src {
    Days,
    ExpertMonths,
    Rows,
}

/// The last day of the month `YYYY-MM`.
fn month_end(month: &str) -> String {
    NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .map(|d| day(month_bounds(d).1))
        .unwrap_or_else(|_| format!("{month}-28"))
}

/// One source's grouped sums for a query.
async fn sums(
    conn: &mut sqlx::AnyConnection,
    q: &Checked,
    src: Src,
) -> Result<Vec<Sums>, sqlx::Error> {
    let by_day = q.group_by.contains(&Dim::Period);
    // Only what the report groups by: every row crossing the driver costs, and a row per
    // organization and day when the report asks for months by tier would be thousands.
    let by = |d: Dim, col: &'static str, none: &'static str| {
        if q.group_by.contains(&d) {
            (col, Some(col))
        } else {
            (none, None)
        }
    };
    // A row per bucket: months and quarters are whole months; a week is its Monday-based week
    // number, counted from Monday 1969-12-29 (ISO weeks start on Monday).
    let day_col = by_day.then_some(match (q.period, super::Backend::of(conn)) {
        (Period::Month | Period::Quarter, _) => "substr(local_day, 1, 7)",
        (Period::Week, super::Backend::Sqlite) => {
            "CAST((julianday(local_day) - julianday('1969-12-29')) / 7 AS INTEGER)"
        }
        (Period::Week, super::Backend::Postgres) => {
            "(CAST(local_day AS DATE) - DATE '1969-12-29') / 7"
        }
        (Period::Day, _) => "local_day",
    });
    let (sql, w, from, to) = match src {
        Src::Rows => {
            let w = filters(q, &LEDGER);
            let (tier, g_tier) = by(Dim::Tier, "tier_level_at_transaction", "''");
            let (plan, g_plan) = by(Dim::PlanType, "plan_type_at_transaction", "''");
            let (org, g_org) = by(Dim::Expert, "org_id", "NULL");
            let group: Vec<&str> = [day_col, g_tier, g_plan, g_org, Some("currency")]
                .into_iter()
                .flatten()
                .collect();
            (
                format!(
                    "SELECT min(local_day), max(local_day), {tier}, {plan}, {org}, currency, {LEDGER_SUMS}
                     FROM transaction_commissions WHERE {}
                     GROUP BY {}",
                    w.sql,
                    group.join(", ")
                ),
                w,
                day(q.from),
                day(q.to),
            )
        }
        Src::ExpertMonths => {
            let w = filters(q, &MONTHS);
            // Without a period, the months of each group are summed in SQL: a row per
            // organization instead of one per month.
            let (tier, g_tier) = by(Dim::Tier, "tier", "''");
            let (plan, g_plan) = by(Dim::PlanType, "plan_type", "''");
            let group: Vec<&str> = [
                by_day.then_some("month"),
                g_tier,
                g_plan,
                Some("org_id"),
                Some("currency"),
            ]
            .into_iter()
            .flatten()
            .collect();
            (
                format!(
                    "SELECT min(month), max(month), {tier}, {plan}, org_id, currency, {sums}
                     FROM commission_expert_months WHERE {}
                     GROUP BY {}",
                    w.sql,
                    group.join(", "),
                    sums = rollup_sum_exprs()
                ),
                w,
                day(q.from)[..7].to_owned(),
                day(q.to)[..7].to_owned(),
            )
        }
        Src::Days => {
            let w = filters(q, &DAYS);
            let (tier, g_tier) = by(Dim::Tier, "tier", "''");
            let (plan, g_plan) = by(Dim::PlanType, "plan_type", "''");
            let group: Vec<&str> = [day_col, g_tier, g_plan, Some("currency")]
                .into_iter()
                .flatten()
                .collect();
            (
                format!(
                    "SELECT min(local_day), max(local_day), {tier}, {plan}, NULL, currency, {sums}
                     FROM commission_days WHERE {}
                     GROUP BY {}",
                    w.sql,
                    group.join(", "),
                    sums = rollup_sum_exprs()
                ),
                w,
                day(q.from),
                day(q.to),
            )
        }
    };
    let mut query = sqlx::query(&sql).bind(from).bind(to);
    for b in &w.binds {
        query = query.bind(b.clone());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            let (mut day_min, mut day_max): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            if src == Src::ExpertMonths {
                day_max = month_end(&day_max);
                day_min = format!("{day_min}-01");
            }
            Ok(Sums {
                day_min,
                day_max,
                tier: r.try_get(2)?,
                plan_type: r.try_get(3)?,
                expert: r.try_get::<Option<String>, _>(4)?.filter(|e| !e.is_empty()),
                currency: r.try_get(5)?,
                charges: r.try_get(6)?,
                refunds: r.try_get(7)?,
                gross: r.try_get(8)?,
                commission: r.try_get(9)?,
                implied: r.try_get(10)?,
                unrated: r.try_get(11)?,
                flagged: r.try_get(12)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn month_bounds_and_ends() {
        assert_eq!(
            month_bounds(d("2024-02-10")),
            (d("2024-02-01"), d("2024-02-29"))
        );
        assert_eq!(
            month_bounds(d("2026-12-31")),
            (d("2026-12-01"), d("2026-12-31"))
        );
        assert_eq!(month_end("2026-11"), "2026-11-30");
    }
}

//! What the Subscriptions and Access screens read: filtered, sorted pages over the mirrored
//! rows, an organization's detail (subscriptions, access with history, timeline, events,
//! entitlements), and the sync engine's own state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use ts_rs::TS;

use super::{SendFuture, Store, StoreError};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SubscriptionQuery {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub tier: Option<String>,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    /// Name, email or any Stripe id, case-insensitive.
    #[serde(default)]
    pub search: Option<String>,
    /// A column of [`SubscriptionRow`]; `org_name` when absent.
    #[serde(default)]
    pub sort: Option<String>,
    #[serde(default)]
    pub desc: bool,
    #[serde(default)]
    #[ts(type = "number")]
    pub offset: i64,
    /// At most 1,000; 100 when 0.
    #[serde(default)]
    #[ts(type = "number")]
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SubscriptionRow {
    pub subscription_id: String,
    pub customer_id: String,
    pub org_id: Option<String>,
    pub org_name: Option<String>,
    pub email: Option<String>,
    pub price_id: Option<String>,
    pub tier: Option<String>,
    pub plan_type: Option<String>,
    pub interval: Option<String>,
    #[ts(type = "number | null")]
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub status: String,
    #[ts(type = "number | null")]
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    #[ts(type = "number")]
    pub created: i64,
    /// Waiting for a read from Stripe to confirm a payload applied offline.
    pub unconfirmed: bool,
    /// The organization's active entitlement lookup keys.
    pub entitlements: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SubscriptionPage {
    pub rows: Vec<SubscriptionRow>,
    #[ts(type = "number")]
    pub total: i64,
    #[ts(type = "number")]
    pub offset: i64,
}

impl SubscriptionRow {
    /// `EUR 49.00`, or empty when the amount is not one flat figure in one currency.
    pub fn amount_text(&self) -> String {
        match (
            self.amount,
            self.currency
                .as_deref()
                .and_then(|c| crate::domain::Currency::parse("currency", c).ok()),
        ) {
            (Some(a), Some(c)) => crate::domain::money::format_minor(a, &c),
            _ => String::new(),
        }
    }
}

/// Sortable columns, and the SQL order each means (the id tie-breaker follows). Each has an
/// index in that order (migration 0005); low-cardinality columns sort by name within a value.
const SORTS: [(&str, &str); 9] = [
    ("org_name", "org_name"),
    ("email", "email"),
    ("tier", "tier, org_name"),
    ("interval", "billing_interval, org_name"),
    ("status", "subscription_status, org_name"),
    ("amount", "amount"),
    ("current_period_end", "current_period_end"),
    ("created", "created"),
    ("subscription_id", ""),
];

/// The columns a subscription list sorts by.
pub fn sort_columns() -> impl Iterator<Item = &'static str> {
    SORTS.iter().map(|(k, _)| *k)
}

const SUB_COLUMNS: &str = "stripe_subscription_id, stripe_customer_id, org_id, org_name, email, stripe_price_id, tier, plan_type, billing_interval, amount, currency, subscription_status, current_period_end, cancel_at_period_end, created, confirmed";

fn sub_row(r: &sqlx::any::AnyRow) -> Result<SubscriptionRow, sqlx::Error> {
    Ok(SubscriptionRow {
        subscription_id: r.try_get(0)?,
        customer_id: r.try_get(1)?,
        org_id: r.try_get(2)?,
        org_name: r.try_get(3)?,
        email: r.try_get(4)?,
        price_id: r.try_get(5)?,
        tier: r.try_get(6)?,
        plan_type: r.try_get(7)?,
        interval: r.try_get(8)?,
        amount: r.try_get(9)?,
        currency: r.try_get(10)?,
        status: r.try_get(11)?,
        current_period_end: r.try_get(12)?,
        cancel_at_period_end: r.try_get::<i64, _>(13)? == 1,
        created: r.try_get(14)?,
        unconfirmed: r.try_get::<i64, _>(15)? == 0,
        entitlements: Vec::new(),
    })
}

/// A LIKE pattern matching `s` anywhere, with `\` as the escape character.
pub(crate) fn contains_pattern(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// How a search term finds its rows.
enum Search {
    None,
    /// Through the trigram index (SQLite, a term of 3 characters or more that few rows hold):
    /// an FTS5 phrase.
    Trigram(String),
    /// A scan of every row's search text.
    Scan(String),
}

/// A trigram probe that finds this many rows or more means a broad term: scanning the text is
/// then cheaper than walking the trigram index's long lists.
const TRIGRAM_BROAD: i64 = 2_000;

/// The equality filters a query sets: (column, lowercased value).
fn equalities(q: &SubscriptionQuery) -> Vec<(&'static str, String)> {
    [
        ("subscription_status", &q.status),
        ("tier", &q.tier),
        ("billing_interval", &q.interval),
        ("currency", &q.currency),
    ]
    .into_iter()
    .filter_map(|(col, v)| {
        let v = v.as_deref()?.trim();
        (!v.is_empty()).then(|| (col, v.to_lowercase()))
    })
    .collect()
}

/// The WHERE clause and its binds for a query. `unindexed` (SQLite only) keeps the equality
/// filters from using an index (`+col`), so the plan is the sort index's walk or the trigram
/// index's rows, not a filter index.
fn filters(q: &SubscriptionQuery, search: &Search, unindexed: bool) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    let plus = if unindexed { "+" } else { "" };
    for (col, v) in equalities(q) {
        binds.push(v);
        clauses.push(format!("{plus}{col} = ${}", binds.len()));
    }
    match search {
        Search::None => {}
        Search::Trigram(phrase) => {
            binds.push(phrase.clone());
            clauses.push(format!("rowid IN (SELECT rowid FROM org_subscriptions_fts WHERE org_subscriptions_fts MATCH ${})", binds.len()));
        }
        Search::Scan(pattern) => {
            binds.push(pattern.clone());
            clauses.push(format!("search LIKE ${} ESCAPE '\\'", binds.len()));
        }
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (sql, binds)
}

/// Whether one index both filters and orders the page: a single filter on status, tier or
/// interval, sorted by name or by that column (their indexes are (column, org_name, id)).
fn served_in_order(q: &SubscriptionQuery, sort: &str) -> bool {
    match equalities(q).as_slice() {
        [(col, _)] if *col != "currency" => {
            sort == "org_name" || sort == format!("{col}, org_name")
        }
        _ => false,
    }
}

/// Entitlement lookup keys per organization: Stripe's summaries of its customers, and the
/// features of the plans it has ACTIVE access to.
async fn entitlements_of(
    store: &Store,
    orgs: &[String],
) -> Result<BTreeMap<String, BTreeMap<String, Vec<&'static str>>>, StoreError> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<&'static str>>> = BTreeMap::new();
    if orgs.is_empty() {
        return Ok(out);
    }
    let list = super::placeholders(1, orgs.len());
    let sql = format!(
        "SELECT c.org_id, e.lookup_key, 'stripe' FROM customer_entitlements e JOIN customers c ON c.stripe_id = e.stripe_customer_id WHERE c.org_id IN ({list})
         UNION ALL
         SELECT a.org_id, f.lookup_key, 'plan' FROM platform_access a JOIN prices p ON p.stripe_id = a.plan_id JOIN product_features pf ON pf.product_id = p.product_id
           JOIN entitlement_features f ON f.stripe_id = pf.feature_id WHERE a.status = 'ACTIVE' AND a.org_id IN ({list})"
    );
    let mut q = sqlx::query(&sql);
    for o in orgs {
        q = q.bind(o);
    }
    for r in q.fetch_all(store.pool()).await.map_err(|e| store.err(e))? {
        let (org, key, src): (String, String, String) = (
            r.try_get(0).map_err(|e| store.err(e))?,
            r.try_get(1).map_err(|e| store.err(e))?,
            r.try_get(2).map_err(|e| store.err(e))?,
        );
        let srcs = out.entry(org).or_default().entry(key).or_default();
        let s = if src == "stripe" { "stripe" } else { "plan" };
        if !srcs.contains(&s) {
            srcs.push(s);
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AccessQuery {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub plan: Option<String>,
    /// Some(true): only rows that ended; Some(false): only running ones.
    #[serde(default)]
    pub ended: Option<bool>,
    #[serde(default)]
    pub search: Option<String>,
    #[serde(default)]
    #[ts(type = "number")]
    pub offset: i64,
    #[serde(default)]
    #[ts(type = "number")]
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AccessRow {
    pub org_id: String,
    pub org_name: String,
    pub plan_id: String,
    /// The plan's lookup key or nickname, when the catalog knows it.
    pub plan_label: Option<String>,
    pub status: String,
    #[ts(type = "number")]
    pub started_at: i64,
    #[ts(type = "number | null")]
    pub ended_at: Option<i64>,
    pub subscription_id: Option<String>,
    pub source: String,
    /// Why a manual grant or revoke was made.
    pub override_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AccessPage {
    pub rows: Vec<AccessRow>,
    #[ts(type = "number")]
    pub total: i64,
    /// Rows per status over the whole store (not the filter).
    #[ts(type = "Record<string, number>")]
    pub counts: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AccessHistoryRow {
    pub plan_id: String,
    /// None: the row was removed (nothing gives access to that plan any more).
    pub status: Option<String>,
    #[ts(type = "number | null")]
    pub ended_at: Option<i64>,
    pub source: Option<String>,
    pub cause: Option<String>,
    #[ts(type = "number")]
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct TimelineRow {
    #[ts(type = "number")]
    pub at: i64,
    /// `change` (a state change the processor wrote) or `event` (a ledger entry).
    pub kind: String,
    pub subscription_id: Option<String>,
    pub title: String,
    pub event_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Entitlement {
    pub lookup_key: String,
    /// `stripe` (Stripe's active entitlements), `plan` (a feature of an ACTIVE plan), or both.
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct OrgDetail {
    pub org_id: String,
    pub name: String,
    pub email: Option<String>,
    pub customer_ids: Vec<String>,
    /// The metadata key that named the organization; None: the customer is the organization.
    pub org_key: Option<String>,
    pub subscriptions: Vec<SubscriptionRow>,
    pub access: Vec<AccessRow>,
    pub history: Vec<AccessHistoryRow>,
    pub timeline: Vec<TimelineRow>,
    pub entitlements: Vec<Entitlement>,
    /// The `entitlements` claim an access token for this organization would carry.
    pub claim: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SyncIssue {
    pub object_id: String,
    pub kind: String,
    pub detail: String,
    pub event_id: Option<String>,
    #[ts(type = "number")]
    pub last_seen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SyncState {
    /// The events cursor's checkpoint (Stripe seconds); None before the first full sync.
    #[ts(type = "number | null")]
    pub checkpoint: Option<i64>,
    /// When the cursor last moved (this machine's seconds).
    #[ts(type = "number | null")]
    pub last_sync_at: Option<i64>,
    /// A backfill stopped half-way (killed or cancelled) that the next run resumes.
    pub backfill_pending: bool,
    #[ts(type = "number")]
    pub events: i64,
    #[ts(type = "number")]
    pub dirty: i64,
    #[ts(type = "number")]
    pub organizations: i64,
    #[ts(type = "number")]
    pub subscriptions: i64,
    pub issues: Vec<SyncIssue>,
}

fn access_row(r: &sqlx::any::AnyRow) -> Result<AccessRow, sqlx::Error> {
    Ok(AccessRow {
        org_id: r.try_get(0)?,
        org_name: r.try_get(1)?,
        plan_id: r.try_get(2)?,
        plan_label: r.try_get(3)?,
        status: r.try_get(4)?,
        started_at: r.try_get(5)?,
        ended_at: r.try_get(6)?,
        subscription_id: r.try_get(7)?,
        source: r.try_get(8)?,
        override_reason: r.try_get(9)?,
    })
}

const ACCESS_SELECT: &str = "SELECT a.org_id, o.name, a.plan_id, COALESCE(p.lookup_key, p.nickname), a.status, a.started_at, a.ended_at, a.stripe_subscription_id, a.source, x.reason
    FROM platform_access a JOIN organizations o ON o.id = a.org_id LEFT JOIN prices p ON p.stripe_id = a.plan_id
    LEFT JOIN access_overrides x ON x.org_id = a.org_id AND x.plan_id = a.plan_id";

impl Store {
    pub fn subscriptions_page<'a>(
        &'a self,
        q: &'a SubscriptionQuery,
    ) -> SendFuture<'a, Result<SubscriptionPage, StoreError>> {
        Box::pin(async move {
            let limit = if q.limit <= 0 { 100 } else { q.limit.min(1000) };
            let offset = q.offset.max(0);
            let (rows, total) = self.subscriptions_rows(q, Some((offset, limit))).await?;
            Ok(SubscriptionPage {
                rows,
                total,
                offset,
            })
        })
    }

    /// Every row the filter matches, sorted, for export.
    pub fn subscriptions_all<'a>(
        &'a self,
        q: &'a SubscriptionQuery,
    ) -> SendFuture<'a, Result<Vec<SubscriptionRow>, StoreError>> {
        Box::pin(async move { Ok(self.subscriptions_rows(q, None).await?.0) })
    }

    /// How this store finds the rows holding `term`.
    async fn search_plan(&self, q: &SubscriptionQuery) -> Result<Search, StoreError> {
        let Some(term) = q
            .search
            .as_ref()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
        else {
            return Ok(Search::None);
        };
        if self.backend() != super::Backend::Sqlite || term.chars().count() < 3 {
            return Ok(Search::Scan(contains_pattern(&term)));
        }
        // A quoted FTS5 phrase of trigrams: the term as a substring, quotes doubled.
        let phrase = format!("\"{}\"", term.replace('"', "\"\""));
        let found: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM (SELECT rowid FROM org_subscriptions_fts WHERE org_subscriptions_fts MATCH $1 LIMIT {TRIGRAM_BROAD})"
        ))
        .bind(&phrase)
        .fetch_one(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(if found < TRIGRAM_BROAD {
            Search::Trigram(phrase)
        } else {
            Search::Scan(contains_pattern(&term))
        })
    }

    async fn subscriptions_rows(
        &self,
        q: &SubscriptionQuery,
        page: Option<(i64, i64)>,
    ) -> Result<(Vec<SubscriptionRow>, i64), StoreError> {
        let search = self.search_plan(q).await?;
        let prefix = SORTS
            .iter()
            .find(|(k, _)| Some(*k) == q.sort.as_deref())
            .map_or("org_name", |(_, c)| c);
        // The order matches an index of migration 0005 column for column.
        let order = |desc: bool| {
            let dir = if desc { "DESC" } else { "ASC" };
            prefix
                .split(", ")
                .filter(|c| !c.is_empty())
                .chain(["stripe_subscription_id"])
                .map(|c| format!("{c} {dir}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // Through the trigram index, the equality filters must not use an index of their own:
        // without statistics SQLite would walk, say, every annual row.
        let trigram = matches!(search, Search::Trigram(_));
        let mut unindexed = trigram;
        let mut reversed = false;
        // The count, and the window of the sorted matches this page reads.
        let mut counted: Option<(i64, i64, i64)> = None;
        if let Some((offset, limit)) = page {
            let (where_sql, binds) = filters(q, &search, unindexed);
            let count_sql = format!("SELECT (SELECT count(*) FROM org_subscriptions{where_sql}), (SELECT count(*) FROM org_subscriptions)");
            let mut cq = sqlx::query(&count_sql);
            for b in &binds {
                cq = cq.bind(b);
            }
            let r = cq.fetch_one(self.pool()).await.map_err(|e| self.err(e))?;
            let total: i64 = r.try_get(0).map_err(|e| self.err(e))?;
            let all: i64 = r.try_get(1).map_err(|e| self.err(e))?;
            if total == 0 || offset >= total {
                return Ok((Vec::new(), total));
            }
            // A page past the middle is read from the other end, in reverse order (the
            // tie-breaker makes that the exact mirror), so no page skips more than half.
            let (offset, limit) = if offset + limit / 2 > total / 2 {
                reversed = true;
                let end = (offset + limit).min(total);
                (total - end, end - offset)
            } else {
                (offset, limit)
            };
            // Two ways to a filtered page: walk the sort index, skipping rows the filter
            // drops (about (offset + limit) * all / total entries read, each small), or find
            // the matches through a filter index and sort them (about `total` rows read from
            // the table). SQLite's planner always takes the second when it has an equality
            // filter, so the choice is made here, from the count.
            unindexed |= self.backend() == super::Backend::Sqlite
                && !served_in_order(q, prefix)
                && (offset + limit).saturating_mul(all) < total.saturating_mul(total) * 4;
            counted = Some((total, offset, limit));
        }
        let (where_sql, binds) = filters(q, &search, unindexed);
        let order = order(q.desc != reversed);
        let sql = match counted {
            Some((_, offset, limit)) => format!(
                "SELECT {SUB_COLUMNS} FROM org_subscriptions WHERE stripe_subscription_id IN
                   (SELECT stripe_subscription_id FROM org_subscriptions{where_sql} ORDER BY {order} LIMIT {limit} OFFSET {offset})
                 ORDER BY {order}"
            ),
            None => format!("SELECT {SUB_COLUMNS} FROM org_subscriptions{where_sql} ORDER BY {order}"),
        };
        let mut query = sqlx::query(&sql);
        for b in &binds {
            query = query.bind(b);
        }
        let mut rows = query
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.err(e))?
            .iter()
            .map(sub_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        if reversed {
            rows.reverse();
        }
        let total = counted.map_or(rows.len() as i64, |(total, _, _)| total);
        let orgs: Vec<String> = rows
            .iter()
            .filter_map(|r| r.org_id.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut ents = BTreeMap::new();
        for chunk in orgs.chunks(400) {
            ents.extend(entitlements_of(self, chunk).await?);
        }
        for r in &mut rows {
            if let Some(e) = r.org_id.as_ref().and_then(|o| ents.get(o)) {
                r.entitlements = e.keys().cloned().collect();
            }
        }
        Ok((rows, total))
    }

    pub fn access_page<'a>(
        &'a self,
        q: &'a AccessQuery,
    ) -> SendFuture<'a, Result<AccessPage, StoreError>> {
        Box::pin(async move {
            let mut clauses = Vec::new();
            let mut binds: Vec<String> = Vec::new();
            if let Some(s) = q.status.as_ref().filter(|s| !s.is_empty()) {
                binds.push(s.to_uppercase());
                clauses.push(format!("a.status = ${}", binds.len()));
            }
            if let Some(p) = q.plan.as_ref().filter(|s| !s.is_empty()) {
                binds.push(p.clone());
                clauses.push(format!(
                    "(a.plan_id = ${n} OR p.lookup_key = ${n})",
                    n = binds.len()
                ));
            }
            match q.ended {
                Some(true) => clauses.push("a.ended_at IS NOT NULL".into()),
                Some(false) => clauses.push("a.ended_at IS NULL".into()),
                None => {}
            }
            if let Some(s) = q
                .search
                .as_ref()
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty())
            {
                binds.push(contains_pattern(&s));
                clauses.push(format!("(lower(o.name) LIKE ${n} ESCAPE '\\' OR lower(a.org_id) LIKE ${n} ESCAPE '\\' OR lower(COALESCE(a.stripe_subscription_id, '')) LIKE ${n} ESCAPE '\\')", n = binds.len()));
            }
            let where_sql = if clauses.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", clauses.join(" AND "))
            };
            let limit = if q.limit <= 0 { 200 } else { q.limit.min(5000) };
            let sql = format!("{ACCESS_SELECT}{where_sql} ORDER BY o.name, a.org_id, a.plan_id LIMIT {limit} OFFSET {}", q.offset.max(0));
            let mut query = sqlx::query(&sql);
            for b in &binds {
                query = query.bind(b);
            }
            let rows = query
                .fetch_all(self.pool())
                .await
                .map_err(|e| self.err(e))?
                .iter()
                .map(access_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.err(e))?;
            let count_sql = format!("SELECT count(*) FROM platform_access a JOIN organizations o ON o.id = a.org_id LEFT JOIN prices p ON p.stripe_id = a.plan_id{where_sql}");
            let mut cq = sqlx::query_scalar::<_, i64>(&count_sql);
            for b in &binds {
                cq = cq.bind(b);
            }
            let total = cq.fetch_one(self.pool()).await.map_err(|e| self.err(e))?;
            let mut counts = BTreeMap::new();
            for r in sqlx::query("SELECT status, count(*) FROM platform_access GROUP BY status")
                .fetch_all(self.pool())
                .await
                .map_err(|e| self.err(e))?
            {
                counts.insert(
                    r.try_get::<String, _>(0).map_err(|e| self.err(e))?,
                    r.try_get::<i64, _>(1).map_err(|e| self.err(e))?,
                );
            }
            Ok(AccessPage {
                rows,
                total,
                counts,
            })
        })
    }

    pub fn org_detail<'a>(
        &'a self,
        org: &'a str,
    ) -> SendFuture<'a, Result<Option<OrgDetail>, StoreError>> {
        Box::pin(async move {
            let e = |e| self.err(e);
            let Some(o) =
                sqlx::query("SELECT id, name, email, org_key FROM organizations WHERE id = $1")
                    .bind(org)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(e)?
            else {
                return Ok(None);
            };
            let customer_ids: Vec<String> = sqlx::query_scalar(
                "SELECT stripe_id FROM customers WHERE org_id = $1 ORDER BY created",
            )
            .bind(org)
            .fetch_all(self.pool())
            .await
            .map_err(e)?;
            let mut subscriptions = sqlx::query(&format!("SELECT {SUB_COLUMNS} FROM org_subscriptions WHERE org_id = $1 ORDER BY created DESC"))
                .bind(org)
                .fetch_all(self.pool())
                .await
                .map_err(e)?
                .iter()
                .map(sub_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(e)?;
            let access = sqlx::query(&format!(
                "{ACCESS_SELECT} WHERE a.org_id = $1 ORDER BY a.plan_id"
            ))
            .bind(org)
            .fetch_all(self.pool())
            .await
            .map_err(e)?
            .iter()
            .map(access_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(e)?;
            let history = sqlx::query("SELECT plan_id, status, ended_at, source, cause, at FROM platform_access_history WHERE org_id = $1 ORDER BY id DESC LIMIT 200")
                .bind(org)
                .fetch_all(self.pool())
                .await
                .map_err(e)?
                .iter()
                .map(|r| Ok(AccessHistoryRow { plan_id: r.try_get(0)?, status: r.try_get(1)?, ended_at: r.try_get(2)?, source: r.try_get(3)?, cause: r.try_get(4)?, at: r.try_get(5)? }))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(e)?;
            let mut timeline = Vec::new();
            for cid in &customer_ids {
                for r in sqlx::query("SELECT occurred_at, stripe_subscription_id, change, previous_status, new_status, previous_price, new_price, stripe_event_id FROM subscription_events WHERE stripe_customer_id = $1 ORDER BY id DESC LIMIT 200")
                    .bind(cid)
                    .fetch_all(self.pool())
                    .await
                    .map_err(e)?
                {
                    let (change, ps, ns, pp, np): (String, Option<String>, Option<String>, Option<String>, Option<String>) =
                        (r.try_get(2).map_err(e)?, r.try_get(3).map_err(e)?, r.try_get(4).map_err(e)?, r.try_get(5).map_err(e)?, r.try_get(6).map_err(e)?);
                    let title = match change.as_str() {
                        "created" => format!("subscribed to {} ({})", np.unwrap_or_default(), ns.unwrap_or_default()),
                        "status" => format!("status {} → {}", ps.unwrap_or_default(), ns.unwrap_or_default()),
                        "plan" => format!("plan {} → {}", pp.unwrap_or_default(), np.unwrap_or_default()),
                        _ => format!("cancel at period end: {}", ns.unwrap_or_default()),
                    };
                    timeline.push(TimelineRow { at: r.try_get(0).map_err(e)?, kind: "change".into(), subscription_id: r.try_get(1).map_err(e)?, title, event_id: r.try_get(7).map_err(e)? });
                }
                for r in sqlx::query("SELECT created, subscription_id, event_type, event_id FROM stripe_events WHERE customer_id = $1 ORDER BY created DESC, event_id DESC LIMIT 200")
                    .bind(cid)
                    .fetch_all(self.pool())
                    .await
                    .map_err(e)?
                {
                    timeline.push(TimelineRow { at: r.try_get(0).map_err(e)?, kind: "event".into(), subscription_id: r.try_get(1).map_err(e)?, title: r.try_get(2).map_err(e)?, event_id: r.try_get(3).map_err(e)? });
                }
            }
            timeline.sort_by(|a, b| (b.at, &b.kind).cmp(&(a.at, &a.kind)));
            let ents = entitlements_of(self, &[org.to_owned()]).await?;
            let entitlements: Vec<Entitlement> = ents
                .get(org)
                .map(|m| {
                    m.iter()
                        .map(|(k, s)| Entitlement {
                            lookup_key: k.clone(),
                            sources: s.iter().map(|x| x.to_string()).collect(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let claim = entitlements.iter().map(|e| e.lookup_key.clone()).collect();
            for s in &mut subscriptions {
                s.entitlements = entitlements.iter().map(|e| e.lookup_key.clone()).collect();
            }
            Ok(Some(OrgDetail {
                org_id: o.try_get(0).map_err(e)?,
                name: o.try_get(1).map_err(e)?,
                email: o.try_get(2).map_err(e)?,
                org_key: o.try_get(3).map_err(e)?,
                customer_ids,
                subscriptions,
                access,
                history,
                timeline,
                entitlements,
                claim,
            }))
        })
    }

    pub fn sync_state(&self) -> SendFuture<'_, Result<SyncState, StoreError>> {
        Box::pin(async move {
            let e = |e| self.err(e);
            let cur = sqlx::query(
                "SELECT last_event_created, updated_at FROM sync_cursors WHERE name = 'events'",
            )
            .fetch_optional(self.pool())
            .await
            .map_err(e)?;
            let (checkpoint, last_sync_at) = match cur {
                Some(r) => (r.try_get(0).map_err(e)?, Some(r.try_get(1).map_err(e)?)),
                None => (None, None),
            };
            let count = |sql: &'static str| async move {
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(self.pool())
                    .await
                    .map_err(|x| self.err(x))
            };
            let issues = sqlx::query("SELECT object_id, kind, detail, event_id, last_seen FROM sync_issues ORDER BY last_seen DESC LIMIT 500")
                .fetch_all(self.pool())
                .await
                .map_err(e)?
                .iter()
                .map(|r| Ok(SyncIssue { object_id: r.try_get(0)?, kind: r.try_get(1)?, detail: r.try_get(2)?, event_id: r.try_get(3)?, last_seen: r.try_get(4)? }))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(e)?;
            Ok(SyncState {
                checkpoint,
                last_sync_at,
                backfill_pending: count(
                    "SELECT count(*) FROM sync_cursors WHERE name LIKE 'backfill:%'",
                )
                .await?
                    > 0,
                events: count("SELECT count(*) FROM stripe_events").await?,
                dirty: count("SELECT count(*) FROM dirty_objects").await?,
                organizations: count("SELECT count(*) FROM organizations").await?,
                subscriptions: count("SELECT count(*) FROM org_subscriptions").await?,
                issues,
            })
        })
    }
}

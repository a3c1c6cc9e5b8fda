//! Commission reports: a period in a time zone, grouped by any of period bucket, tier, plan
//! type, expert and currency. Currencies are never added together: currency is always part of
//! a group, and totals are per currency. Days are bucketed in one place, here.

use chrono::{Datelike, NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::domain::{Currency, InputError};

/// The default time zone of reports until one is set.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// An IANA time zone, e.g. `Europe/Berlin`.
pub fn parse_zone(raw: &str) -> Result<Tz, InputError> {
    raw.trim().parse::<Tz>().map_err(|_| {
        InputError::new(
            "time_zone",
            format!(
                "\"{raw}\" is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)"
            ),
        )
    })
}

/// The day of a UTC second in a time zone, as `YYYY-MM-DD`.
pub fn local_day(tz: Tz, at: i64) -> String {
    tz.timestamp_opt(at, 0)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// The UTC second at which a local day begins (the first instant of it, across DST gaps).
pub fn day_start(tz: Tz, day: NaiveDate) -> i64 {
    let mut t = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    // A day that begins in a DST gap begins at the first minute that exists.
    for _ in 0..180 {
        if let Some(s) = tz.from_local_datetime(&t).earliest() {
            return s.timestamp();
        }
        t += chrono::Duration::minutes(1);
    }
    t.and_utc().timestamp()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Week,
    Month,
    Quarter,
}

impl Period {
    pub fn parse(raw: &str) -> Result<Period, InputError> {
        Ok(match raw.trim().to_ascii_lowercase().as_str() {
            "day" => Period::Day,
            "week" => Period::Week,
            "month" => Period::Month,
            "quarter" => Period::Quarter,
            _ => {
                return Err(InputError::new(
                    "period",
                    format!("\"{raw}\" is not a period: day, week, month or quarter"),
                ))
            }
        })
    }

    /// The bucket a local day falls in: `2026-03-04`, `2026-W10` (ISO week), `2026-03`,
    /// `2026-Q1`. Labels sort in time order.
    pub fn bucket(self, day: NaiveDate) -> String {
        match self {
            Period::Day => day.format("%Y-%m-%d").to_string(),
            Period::Week => {
                let w = day.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Period::Month => day.format("%Y-%m").to_string(),
            Period::Quarter => format!("{}-Q{}", day.year(), (day.month() - 1) / 3 + 1),
        }
    }
}

/// What a report can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Dim {
    /// The period bucket (day, week, month or quarter, as the query's period says).
    Period,
    Tier,
    PlanType,
    Expert,
    Currency,
}

impl Dim {
    pub fn parse(raw: &str) -> Result<Dim, InputError> {
        Ok(match raw.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "period" | "month" | "day" | "week" | "quarter" => Dim::Period,
            "tier" => Dim::Tier,
            "plan_type" | "plan" => Dim::PlanType,
            "expert" | "org" | "organization" => Dim::Expert,
            "currency" => Dim::Currency,
            _ => {
                return Err(InputError::new(
                    "group_by",
                    format!("\"{raw}\" is not something to group by: month (or the period), tier, plan_type, expert, currency"),
                ))
            }
        })
    }
}

/// A commission report's question. Days are inclusive, in the report's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CommissionQuery {
    pub from: String,
    pub to: String,
    pub period: Period,
    pub group_by: Vec<Dim>,
    pub currency: Option<String>,
    pub tier: Option<String>,
    pub plan_type: Option<String>,
    /// An organization id.
    pub expert: Option<String>,
    /// Only the rows whose charge differs from the rate (the "flagged rows" view).
    #[serde(default)]
    pub flagged_only: bool,
}

/// A query checked: dates parsed and ordered, currency known, dimensions unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub period: Period,
    pub group_by: Vec<Dim>,
    pub currency: Option<String>,
    pub tier: Option<String>,
    pub plan_type: Option<String>,
    pub expert: Option<String>,
    pub flagged_only: bool,
}

fn date(field: &'static str, raw: &str) -> Result<NaiveDate, InputError> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| InputError::new(field, format!("\"{raw}\" is not a date (YYYY-MM-DD)")))
}

fn filter(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
}

impl CommissionQuery {
    pub fn check(&self) -> Result<Checked, InputError> {
        let from = date("from", &self.from)?;
        let to = date("to", &self.to)?;
        if from > to {
            return Err(InputError::new(
                "to",
                format!("{to} is before from ({from}): the period runs from an earlier day to a later one"),
            ));
        }
        if (to - from).num_days() > 3660 {
            return Err(InputError::new("to", "a report covers at most ten years"));
        }
        let currency = match filter(&self.currency) {
            Some(c) => Some(Currency::parse("currency", &c)?.as_str().to_owned()),
            None => None,
        };
        let plan_type = filter(&self.plan_type);
        if let Some(p) = &plan_type {
            if !["commission", "monthly", "annual"].contains(&p.as_str()) {
                return Err(InputError::new(
                    "plan_type",
                    format!("\"{p}\" is not a plan type: commission, monthly or annual"),
                ));
            }
        }
        let mut group_by = self.group_by.clone();
        group_by.sort();
        group_by.dedup();
        Ok(Checked {
            from,
            to,
            period: self.period,
            group_by,
            currency,
            tier: filter(&self.tier),
            plan_type,
            expert: self.expert.clone().filter(|e| !e.trim().is_empty()),
            flagged_only: self.flagged_only,
        })
    }
}

/// One group of a report: its key (None where not grouped by that) and sums, in one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CommissionGroup {
    pub period: Option<String>,
    pub tier: Option<String>,
    pub plan_type: Option<String>,
    /// Organization id (None: the expert's account maps to no organization).
    pub expert: Option<String>,
    pub expert_name: Option<String>,
    pub currency: String,
    /// Appointment charges, and refunds, in the group.
    #[ts(type = "number")]
    pub charges: i64,
    #[ts(type = "number")]
    pub refunds: i64,
    /// Minor units, net of refunds.
    #[ts(type = "number")]
    pub gross: i64,
    /// What was charged (application fees), net of refunds.
    #[ts(type = "number")]
    pub commission: i64,
    /// What the rates imply, over the rows that have a rate.
    #[ts(type = "number")]
    pub implied: i64,
    /// Rows without a rate.
    #[ts(type = "number")]
    pub unrated: i64,
    /// Rows whose charge differs from the rate (or that have none).
    #[ts(type = "number")]
    pub flagged: i64,
    /// commission / gross in basis points, half-up; None when gross is 0.
    #[ts(type = "number | null")]
    pub effective_bps: Option<i64>,
    /// The first and last local day with rows in the group: its drill-down is the same query
    /// over these days and the group's key.
    pub first_day: Option<String>,
    pub last_day: Option<String>,
}

impl CommissionGroup {
    /// Adds another group's sums (same currency) into this one.
    pub fn add(&mut self, other: &CommissionGroup) {
        self.charges += other.charges;
        self.refunds += other.refunds;
        self.gross += other.gross;
        self.commission += other.commission;
        self.implied += other.implied;
        self.unrated += other.unrated;
        self.flagged += other.flagged;
    }
}

/// What the Commissions screen shows for a query: the report, and the chart beside it (by
/// period and tier, under the same filters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CommissionView {
    pub report: CommissionReport,
    pub chart: CommissionReport,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CommissionReport {
    pub time_zone: String,
    pub from: String,
    pub to: String,
    pub period: Period,
    pub group_by: Vec<Dim>,
    pub groups: Vec<CommissionGroup>,
    /// How many groups the report has: more than `groups` holds when the screen asked for the
    /// first ones only.
    #[ts(type = "number")]
    pub groups_total: i64,
    /// One per currency.
    pub totals: Vec<CommissionGroup>,
    /// Where the numbers came from: "daily rollups", "monthly expert rollups" or "ledger rows".
    pub source: String,
    #[ts(type = "number")]
    pub elapsed_us: i64,
}

/// commission / gross in basis points, half-up.
pub fn effective_bps(commission: i64, gross: i64) -> Option<i64> {
    (gross != 0).then(|| {
        crate::domain::money::ratio_half_up(commission, 10_000, gross.abs()) * gross.signum()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_buckets_follow_the_time_zone() {
        let berlin = parse_zone("Europe/Berlin").unwrap();
        // 2026-03-31 22:30 UTC is already April 1st in Berlin (CEST, +2).
        assert_eq!(local_day(berlin, 1_774_996_200), "2026-04-01");
        assert_eq!(
            local_day(parse_zone("UTC").unwrap(), 1_774_996_200),
            "2026-03-31"
        );
        let d = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        assert_eq!(Period::Day.bucket(d), "2026-03-04");
        assert_eq!(Period::Week.bucket(d), "2026-W10");
        assert_eq!(Period::Month.bucket(d), "2026-03");
        assert_eq!(Period::Quarter.bucket(d), "2026-Q1");
        // ISO weeks belong to the year of their Thursday.
        assert_eq!(
            Period::Week.bucket(NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()),
            "2026-W53"
        );
        // Berlin's 2026-03-29 begins at 23:00 UTC the day before.
        assert_eq!(
            day_start(berlin, NaiveDate::from_ymd_opt(2026, 3, 29).unwrap()),
            1_774_738_800
        );
        assert!(parse_zone("Mars/Olympus")
            .unwrap_err()
            .rule
            .contains("IANA"));
    }

    #[test]
    fn bad_queries_name_the_field() {
        let q = |from: &str, to: &str| CommissionQuery {
            from: from.into(),
            to: to.into(),
            period: Period::Month,
            group_by: vec![Dim::Tier, Dim::Period, Dim::Tier],
            currency: None,
            tier: None,
            plan_type: None,
            expert: None,
            flagged_only: false,
        };
        assert_eq!(
            q("2026-12-31", "2026-01-01").check().unwrap_err().field,
            "to"
        );
        assert_eq!(
            q("2026-13-01", "2026-12-31").check().unwrap_err().field,
            "from"
        );
        let ok = q("2026-01-01", "2026-12-31").check().unwrap();
        assert_eq!(ok.group_by, vec![Dim::Period, Dim::Tier]);
        let mut bad = q("2026-01-01", "2026-12-31");
        bad.currency = Some("xyz".into());
        assert_eq!(bad.check().unwrap_err().field, "currency");
        assert_eq!(Dim::parse("colour").unwrap_err().field, "group_by");
        assert_eq!(Period::parse("fortnight").unwrap_err().field, "period");
        assert_eq!(effective_bps(720, 6000), Some(1200));
        assert_eq!(effective_bps(-250, -2500), Some(1000));
        assert_eq!(effective_bps(5, 0), None);
    }
}

/// One ledger row, for drill-down and export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CommissionRow {
    pub id: String,
    /// charge or refund
    pub kind: String,
    pub charge_id: String,
    pub org_id: Option<String>,
    pub org_name: Option<String>,
    pub expert_account_id: Option<String>,
    pub plan_type: String,
    pub tier: String,
    pub currency: String,
    #[ts(type = "number")]
    pub gross: i64,
    #[ts(type = "number")]
    pub commission: i64,
    #[ts(type = "number | null")]
    pub implied: Option<i64>,
    #[ts(type = "number | null")]
    pub rate_bps: Option<i64>,
    pub flagged: bool,
    pub payment_intent_id: Option<String>,
    pub transfer_id: Option<String>,
    #[ts(type = "number")]
    pub occurred_at: i64,
    pub local_day: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CommissionRowsPage {
    #[ts(type = "number")]
    pub total: i64,
    pub rows: Vec<CommissionRow>,
}

/// A commission rate and the days it covers (in the reports' time zone; `to` exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RateRow {
    #[ts(type = "number")]
    pub id: i64,
    pub plan_type: String,
    pub tier: String,
    #[ts(type = "number")]
    pub rate_bps: i64,
    #[ts(type = "number")]
    pub effective_from: i64,
    #[ts(type = "number | null")]
    pub effective_to: Option<i64>,
    pub source: String,
    pub note: Option<String>,
}

/// A new rate, as an admin types it: from a day (inclusive) to a day (exclusive) or open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RateInput {
    pub plan_type: String,
    pub tier: String,
    /// A percentage with up to two decimals ("12", "8.5").
    pub rate: String,
    pub from: String,
    pub to: Option<String>,
    pub note: Option<String>,
}

/// A rate input checked: basis points, days in order.
pub struct CheckedRate {
    pub plan_type: String,
    pub tier: String,
    pub rate_bps: i64,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
    pub note: Option<String>,
}

impl RateInput {
    pub fn check(&self) -> Result<CheckedRate, InputError> {
        let plan_type = self.plan_type.trim().to_ascii_lowercase();
        if !["commission", "monthly", "annual"].contains(&plan_type.as_str()) {
            return Err(InputError::new(
                "plan_type",
                format!(
                    "\"{}\" is not a plan type: commission, monthly or annual",
                    self.plan_type
                ),
            ));
        }
        let tier = self.tier.trim().to_ascii_lowercase();
        if tier.is_empty()
            || !tier
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(InputError::new(
                "tier",
                "a tier is lowercase letters, digits or _ (community, top, partner)",
            ));
        }
        let rate_bps = parse_percent(&self.rate)?;
        let from = date("from", &self.from)?;
        let to = match self.to.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(t) => Some(date("to", t)?),
            None => None,
        };
        if to.is_some_and(|t| t <= from) {
            return Err(InputError::new(
                "to",
                "the rate must end after the day it starts",
            ));
        }
        Ok(CheckedRate {
            plan_type,
            tier,
            rate_bps,
            from,
            to,
            note: self.note.clone().filter(|n| !n.trim().is_empty()),
        })
    }
}

/// "12" or "8.50" percent → basis points.
pub fn parse_percent(raw: &str) -> Result<i64, InputError> {
    let bad = || {
        InputError::new(
            "rate",
            format!("\"{raw}\" is not a percentage between 0 and 100 with at most 2 decimals (e.g. 12 or 8.5)"),
        )
    };
    let t = raw.trim().trim_end_matches('%').trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole
            .chars()
            .chain(frac.chars())
            .all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let bps = whole.parse::<i64>().map_err(|_| bad())? * 100
        + format!("{frac:0<2}").parse::<i64>().map_err(|_| bad())?;
    if bps > 10_000 {
        return Err(bad());
    }
    Ok(bps)
}

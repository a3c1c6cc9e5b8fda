//! The finance overview: MRR and ARR by tier and currency (an annual plan counts a twelfth per
//! month), subscriptions by status, new and churned this month, past-due revenue at risk, and
//! commissions this month against last; each with twelve months of trend. Months are the
//! reports' time zone's.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::domain::money::ratio_half_up;

/// What a subscription bills per month, in minor units: its amount per interval spread over
/// the months of that interval, half-up. None for intervals it cannot spread.
pub fn monthly(amount: i64, interval: &str, count: i64) -> Option<i64> {
    let count = count.max(1);
    Some(match interval {
        "month" => ratio_half_up(amount, 1, count),
        "year" => ratio_half_up(amount, 1, 12 * count),
        "week" => ratio_half_up(amount, 52, 12 * count),
        "day" => ratio_half_up(amount, 365, 12 * count),
        _ => return None,
    })
}

/// What a recorded value was at `t`, from its changes `(at, before, after)` in time order: the
/// value after the last change at or before `t`; before any change, the value the first change
/// replaced; with no change recorded, `now`.
pub fn as_of<T: Clone>(changes: &[(i64, T, T)], t: i64, now: &T) -> T {
    match changes.iter().rposition(|c| c.0 <= t) {
        Some(i) => changes[i].2.clone(),
        None => changes
            .first()
            .map(|c| c.1.clone())
            .unwrap_or_else(|| now.clone()),
    }
}

/// A figure in one currency with its trend: one value per month, oldest first, the current
/// month last (so far).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct MoneyTrend {
    pub currency: String,
    /// Present when the figure is per tier.
    pub tier: Option<String>,
    #[ts(type = "number")]
    pub value: i64,
    #[ts(type = "number[]")]
    pub trend: Vec<i64>,
}

impl MoneyTrend {
    /// The figure now is the trend's last month.
    pub fn of(currency: String, tier: Option<String>, trend: Vec<i64>) -> MoneyTrend {
        let value = trend.last().copied().unwrap_or(0);
        MoneyTrend {
            currency,
            tier,
            value,
            trend,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CountTrend {
    pub label: String,
    #[ts(type = "number")]
    pub value: i64,
    #[ts(type = "number[]")]
    pub trend: Vec<i64>,
}

/// Commissions in one currency: this month so far, last month whole, the trend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CommissionMonths {
    pub currency: String,
    #[ts(type = "number")]
    pub this_month: i64,
    #[ts(type = "number")]
    pub last_month: i64,
    #[ts(type = "number[]")]
    pub trend: Vec<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Overview {
    pub time_zone: String,
    /// The months of every trend, oldest first: `2025-12` … `2026-11`.
    pub months: Vec<String>,
    /// MRR per currency (all tiers), and per currency and tier. ARR is twelve times MRR.
    pub mrr: Vec<MoneyTrend>,
    pub mrr_by_tier: Vec<MoneyTrend>,
    /// active, trialing, past_due, canceled: how many now, and at each month's end (ended is
    /// canceled; else the status the store recorded then, from the subscription's status
    /// changes; without any, in its trial, else its status now, active for a past-due one).
    pub statuses: Vec<CountTrend>,
    /// Subscriptions started and ended in each month.
    pub new_subscriptions: CountTrend,
    pub churned_subscriptions: CountTrend,
    /// MRR of past-due and unpaid subscriptions, per currency, at each month's end.
    pub past_due_at_risk: Vec<MoneyTrend>,
    pub commissions: Vec<CommissionMonths>,
    /// Subscriptions left out of MRR: no flat amount, or an interval that cannot be spread.
    #[ts(type = "number")]
    pub unpriced: i64,
    #[ts(type = "number")]
    pub elapsed_us: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annual_plans_count_a_twelfth_per_month() {
        assert_eq!(monthly(56600, "year", 1), Some(4717)); // 4716.67
        assert_eq!(monthly(4900, "month", 1), Some(4900));
        assert_eq!(monthly(9000, "month", 3), Some(3000));
        assert_eq!(monthly(1200, "week", 1), Some(5200));
        assert_eq!(monthly(100, "fortnight", 1), None);
    }

    #[test]
    fn a_value_as_of_a_moment_comes_from_its_changes() {
        let changes = [(10, "active", "past_due"), (20, "past_due", "active")];
        assert_eq!(as_of(&changes, 5, &"x"), "active");
        assert_eq!(as_of(&changes, 10, &"x"), "past_due");
        assert_eq!(as_of(&changes, 19, &"x"), "past_due");
        assert_eq!(as_of(&changes, 25, &"x"), "active");
        assert_eq!(as_of::<&str>(&[], 25, &"now"), "now");
    }
}

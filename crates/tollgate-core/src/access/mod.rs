//! PlatformAccess, seed 004's entitlement that gates the platform, as a function of current
//! state: an organization's subscriptions, its one-time purchases and any manual override.
//! Never toggled by event type: a stale `active` after `deleted` cannot revive access because
//! the inputs here are the mirrored rows, not the events.
//!
//! The mapping, per (organization, plan):
//! - a completed one-time checkout: ACTIVE, no end (lifetime);
//! - an active or trialing subscription: ACTIVE, `ended_at` cleared;
//! - past_due, unpaid (a failed invoice) or paused (a trial that ended without a card): PAST_DUE;
//! - canceled or incomplete_expired: CANCELED, `ended_at` set;
//! - incomplete (the first invoice not yet paid): no access row.
//!
//! When several sources give the same plan, the best wins (ACTIVE, then PAST_DUE, then
//! CANCELED), so a paying organization is never locked out by an old canceled subscription.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccessStatus {
    Canceled,
    PastDue,
    Active,
}

impl AccessStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessStatus::Active => "ACTIVE",
            AccessStatus::PastDue => "PAST_DUE",
            AccessStatus::Canceled => "CANCELED",
        }
    }

    pub fn parse(s: &str) -> Option<AccessStatus> {
        match s {
            "ACTIVE" => Some(AccessStatus::Active),
            "PAST_DUE" => Some(AccessStatus::PastDue),
            "CANCELED" => Some(AccessStatus::Canceled),
            _ => None,
        }
    }

    /// What a subscription status gives; `None`: no access row (incomplete).
    pub fn of_subscription(status: &str) -> Option<AccessStatus> {
        match status {
            "active" | "trialing" => Some(AccessStatus::Active),
            "past_due" | "unpaid" | "paused" => Some(AccessStatus::PastDue),
            "canceled" | "incomplete_expired" => Some(AccessStatus::Canceled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum AccessSource {
    Subscription,
    Purchase,
    Manual,
}

impl AccessSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessSource::Subscription => "subscription",
            AccessSource::Purchase => "purchase",
            AccessSource::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> AccessSource {
        match s {
            "purchase" => AccessSource::Purchase,
            "manual" => AccessSource::Manual,
            _ => AccessSource::Subscription,
        }
    }
}

/// One subscription of the organization, as mirrored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubFacts {
    pub id: String,
    pub price: String,
    pub status: String,
    pub start_date: i64,
    pub ended_at: Option<i64>,
    pub canceled_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseFacts {
    pub price: String,
    pub completed_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub plan: String,
    pub status: AccessStatus,
    pub at: i64,
}

/// A PlatformAccess row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub plan: String,
    pub status: AccessStatus,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub subscription: Option<String>,
    pub source: AccessSource,
}

/// The organization's access rows, one per plan, sorted by plan.
pub fn derive(
    subs: &[SubFacts],
    purchases: &[PurchaseFacts],
    overrides: &[Override],
) -> Vec<Access> {
    derive_with(subs, purchases, overrides, &[])
}

/// [`derive`], where a subscription whose status this version does not know (one Stripe added
/// after it) changes nothing: the access it gave stays as `held` has it, and it gives none it
/// did not give before.
pub fn derive_keeping(
    subs: &[SubFacts],
    purchases: &[PurchaseFacts],
    overrides: &[Override],
    held: &[Access],
) -> Vec<Access> {
    let (known, unknown): (Vec<SubFacts>, Vec<SubFacts>) = subs
        .iter()
        .cloned()
        .partition(|s| crate::sync::objects::is_known_status(&s.status));
    let kept: Vec<Access> = held
        .iter()
        .filter(|h| {
            h.source == AccessSource::Subscription
                && unknown
                    .iter()
                    .any(|u| h.plan == u.price && h.subscription.as_deref() == Some(&u.id))
        })
        .cloned()
        .collect();
    derive_with(&known, purchases, overrides, &kept)
}

/// One fact per price of each subscription: a subscription grants access to every plan it
/// bills for (its items), not only its first.
pub fn per_item(s: &SubFacts, items: &[String]) -> Vec<SubFacts> {
    let mut prices: Vec<&String> = vec![&s.price];
    for p in items {
        if !prices.contains(&p) {
            prices.push(p);
        }
    }
    prices
        .into_iter()
        .map(|p| SubFacts {
            price: p.clone(),
            ..s.clone()
        })
        .collect()
}

fn derive_with(
    subs: &[SubFacts],
    purchases: &[PurchaseFacts],
    overrides: &[Override],
    kept: &[Access],
) -> Vec<Access> {
    let mut best: std::collections::BTreeMap<String, Access> = Default::default();
    let mut offer = |a: Access| {
        let better = match best.get(&a.plan) {
            None => true,
            // Higher status wins; on a tie, the later start (the current subscription).
            Some(b) => (a.status, a.started_at) > (b.status, b.started_at),
        };
        if better {
            best.insert(a.plan.clone(), a);
        }
    };
    for p in purchases {
        offer(Access {
            plan: p.price.clone(),
            status: AccessStatus::Active,
            started_at: p.completed_at,
            ended_at: None,
            subscription: None,
            source: AccessSource::Purchase,
        });
    }
    for s in subs {
        let Some(status) = AccessStatus::of_subscription(&s.status) else {
            continue;
        };
        let ended_at = (status == AccessStatus::Canceled).then(|| {
            s.ended_at
                .or(s.canceled_at)
                .unwrap_or(s.start_date)
                .max(s.start_date)
        });
        offer(Access {
            plan: s.price.clone(),
            status,
            started_at: s.start_date,
            ended_at,
            subscription: Some(s.id.clone()),
            source: AccessSource::Subscription,
        });
    }
    for k in kept {
        offer(k.clone());
    }
    for o in overrides {
        let base = best.get(&o.plan).cloned();
        let started_at = base.as_ref().map_or(o.at, |b| b.started_at.min(o.at));
        best.insert(
            o.plan.clone(),
            Access {
                plan: o.plan.clone(),
                status: o.status,
                started_at,
                ended_at: (o.status == AccessStatus::Canceled).then_some(o.at.max(started_at)),
                subscription: base.and_then(|b| b.subscription),
                source: AccessSource::Manual,
            },
        );
    }
    best.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(id: &str, price: &str, status: &str, start: i64) -> SubFacts {
        SubFacts {
            id: id.into(),
            price: price.into(),
            status: status.into(),
            start_date: start,
            ended_at: (status == "canceled").then_some(start + 50),
            canceled_at: None,
        }
    }

    #[test]
    fn a_status_stripe_adds_later_changes_no_access() {
        let held = derive(&[sub("sub_1", "price_a", "active", 10)], &[], &[]);
        assert_eq!(held[0].status, AccessStatus::Active);
        let frozen = sub("sub_1", "price_a", "frozen", 10);
        assert_eq!(
            derive_keeping(&[frozen.clone()], &[], &[], &held),
            held,
            "kept as it was"
        );
        assert_eq!(
            derive_keeping(&[frozen.clone()], &[], &[], &[]),
            vec![],
            "and none given"
        );
        // Known statuses still decide.
        let past_due = sub("sub_1", "price_a", "past_due", 10);
        assert_eq!(
            derive_keeping(&[past_due], &[], &[], &held)[0].status,
            AccessStatus::PastDue
        );
    }

    #[test]
    fn every_item_of_a_subscription_gives_its_plan() {
        let s = sub("sub_1", "price_a", "active", 10);
        let items: Vec<String> = (0..12)
            .map(|i| format!("price_{i}"))
            .chain(["price_a".into()])
            .collect();
        let facts = per_item(&s, &items);
        assert_eq!(
            facts.len(),
            13,
            "the first price once, then each other item's"
        );
        let access = derive(&facts, &[], &[]);
        assert_eq!(access.len(), 13);
        assert!(access.iter().all(
            |a| a.status == AccessStatus::Active && a.subscription.as_deref() == Some("sub_1")
        ));
    }

    #[test]
    fn seed_004_mapping() {
        let cases = [
            ("active", Some(AccessStatus::Active)),
            ("trialing", Some(AccessStatus::Active)),
            ("past_due", Some(AccessStatus::PastDue)),
            ("unpaid", Some(AccessStatus::PastDue)),
            ("paused", Some(AccessStatus::PastDue)),
            ("canceled", Some(AccessStatus::Canceled)),
            ("incomplete_expired", Some(AccessStatus::Canceled)),
            ("incomplete", None),
        ];
        for (status, want) in cases {
            let got = derive(&[sub("sub_1", "price_a", status, 10)], &[], &[]);
            assert_eq!(got.first().map(|a| a.status), want, "{status}");
        }
        let canceled = &derive(&[sub("sub_1", "price_a", "canceled", 10)], &[], &[])[0];
        assert_eq!(canceled.ended_at, Some(60));
        let active = &derive(&[sub("sub_1", "price_a", "active", 10)], &[], &[])[0];
        assert_eq!(active.ended_at, None);
    }

    #[test]
    fn a_lifetime_purchase_is_active_with_no_end_whatever_the_subscriptions_say() {
        let got = derive(
            &[sub("sub_1", "price_a", "canceled", 10)],
            &[PurchaseFacts {
                price: "price_a".into(),
                completed_at: 5,
            }],
            &[],
        );
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].status, got[0].ended_at, got[0].source),
            (AccessStatus::Active, None, AccessSource::Purchase)
        );
    }

    #[test]
    fn an_old_canceled_subscription_never_locks_out_a_paying_org() {
        let got = derive(
            &[
                sub("sub_old", "price_a", "canceled", 10),
                sub("sub_new", "price_a", "active", 100),
            ],
            &[],
            &[],
        );
        assert_eq!(
            (got[0].status, got[0].subscription.as_deref()),
            (AccessStatus::Active, Some("sub_new"))
        );
    }

    #[test]
    fn a_manual_revoke_wins_and_is_dated() {
        let got = derive(
            &[sub("sub_1", "price_a", "active", 10)],
            &[],
            &[Override {
                plan: "price_a".into(),
                status: AccessStatus::Canceled,
                at: 500,
            }],
        );
        assert_eq!(
            (got[0].status, got[0].ended_at, got[0].source),
            (AccessStatus::Canceled, Some(500), AccessSource::Manual)
        );
        let granted = derive(
            &[],
            &[],
            &[Override {
                plan: "price_b".into(),
                status: AccessStatus::Active,
                at: 7,
            }],
        );
        assert_eq!(
            (
                granted[0].status,
                granted[0].started_at,
                granted[0].ended_at
            ),
            (AccessStatus::Active, 7, None)
        );
    }
}

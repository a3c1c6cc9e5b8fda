//! Stripe objects as the sync engine reads them, from JSON of any API version: the same parser
//! takes an event payload and Stripe's current copy, so the two can never disagree on meaning.

use serde_json::Value;

/// Where a status sorts when two events carry the same `created` second: later in a
/// subscription's life ranks higher. Terminal states rank highest.
pub fn status_rank(status: &str) -> i64 {
    match status {
        "incomplete" => 0,
        "trialing" => 1,
        "active" => 2,
        "paused" => 3,
        "past_due" => 4,
        "unpaid" => 5,
        "incomplete_expired" | "canceled" => 9,
        _ => 0,
    }
}

/// Nothing moves a subscription out of these.
pub fn is_terminal(status: &str) -> bool {
    matches!(status, "canceled" | "incomplete_expired")
}

/// A status this version of Tollgate knows; any other is stored as it came, shown as such,
/// and changes no access.
pub fn is_known_status(status: &str) -> bool {
    STATUSES.contains(&status)
}

pub const STATUSES: [&str; 8] = [
    "trialing",
    "active",
    "past_due",
    "unpaid",
    "canceled",
    "incomplete",
    "incomplete_expired",
    "paused",
];

fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// The latest moment a Stripe timestamp can stand for (9999-12-31 23:59:59 UTC); none is
/// negative. Anything else off the wire is refused by name, never computed with.
pub const MAX_TIMESTAMP: i64 = 253_402_300_799;
/// No price or charge Stripe takes comes near this many minor units (its largest is eight
/// digits); the bound keeps a sum over millions of them inside i64.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;
/// Items of one subscription, units of one line.
pub const MAX_QUANTITY: i64 = 1_000_000_000;

/// An optional integer field within `range`: `Ok(None)` when absent or null, an error naming
/// the field and the rule for anything else.
pub(crate) fn bounded(
    v: &Value,
    field: &str,
    range: std::ops::RangeInclusive<i64>,
    what: &str,
) -> Result<Option<i64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_i64().filter(|x| range.contains(x)) {
            Some(x) => Ok(Some(x)),
            None => Err(format!(
                "{field} is {n}, not {what} ({} to {})",
                range.start(),
                range.end()
            )),
        },
        other => Err(format!(
            "{field} is {}, not {what}",
            match other {
                Value::String(_) => "a string",
                Value::Bool(_) => "a boolean",
                Value::Array(_) => "a list",
                _ => "an object",
            }
        )),
    }
}

/// A Stripe timestamp (UTC seconds).
pub(crate) fn time(v: &Value, field: &str) -> Result<Option<i64>, String> {
    bounded(v, field, 0..=MAX_TIMESTAMP, "a timestamp")
}

/// An amount in minor units, never negative.
pub(crate) fn amount(v: &Value, field: &str) -> Result<Option<i64>, String> {
    bounded(v, field, 0..=MAX_AMOUNT, "an amount in minor units")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubItem {
    pub price: String,
    pub product: Option<String>,
    pub quantity: i64,
    pub unit_amount: Option<i64>,
    pub currency: Option<String>,
    pub interval: Option<String>,
    pub interval_count: Option<i64>,
}

/// A subscription, as far as the projections need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub customer: String,
    pub status: String,
    pub items: Vec<SubItem>,
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub trial_end: Option<i64>,
    pub start_date: i64,
    pub created: i64,
    pub metadata: String,
    pub livemode: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object} {id}: {problem}")]
pub struct ParseError {
    pub object: &'static str,
    pub id: String,
    pub problem: String,
}

fn metadata(v: &Value) -> String {
    match v.get("metadata") {
        Some(Value::Object(m)) => {
            let sorted: std::collections::BTreeMap<_, _> = m.iter().collect();
            serde_json::to_string(&sorted).unwrap_or_else(|_| "{}".into())
        }
        _ => "{}".into(),
    }
}

impl Subscription {
    /// A digest of every field the store takes from the subscription: equal digests write
    /// equal rows (what comes from the customer and the price is kept current by their own
    /// writes). Only compared with the store's own earlier digest, so a change of this
    /// struct's shape costs one write per subscription, never a skipped one.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let d = sha2::Sha256::digest(format!("{self:?}").as_bytes());
        d[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn parse(v: &Value) -> Result<Subscription, ParseError> {
        let id = v["id"].as_str().unwrap_or_default().to_owned();
        let bad = |problem: &str| ParseError {
            object: "subscription",
            id: id.clone(),
            problem: problem.to_owned(),
        };
        if !id.starts_with("sub_") {
            return Err(bad("has no sub_ id"));
        }
        let customer = id_of(&v["customer"]).ok_or_else(|| bad("has no customer"))?;
        // A status Stripe adds later is kept as it came (see `is_known_status`).
        let status = v["status"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("has no status"))?
            .to_owned();
        let raw_items = v["items"]["data"].as_array().cloned().unwrap_or_default();
        let mut items: Vec<SubItem> = Vec::new();
        for (i, it) in raw_items.iter().enumerate() {
            let price = &it["price"];
            let Some(price_id) = id_of(price).or_else(|| id_of(&it["plan"])) else {
                continue;
            };
            let at = |f: &str| format!("items.data.{i}.{f}");
            items.push(SubItem {
                price: price_id,
                product: id_of(&price["product"]),
                quantity: bounded(
                    &it["quantity"],
                    &at("quantity"),
                    0..=MAX_QUANTITY,
                    "a quantity",
                )
                .map_err(|e| bad(&e))?
                .unwrap_or(1),
                unit_amount: amount(&price["unit_amount"], &at("price.unit_amount"))
                    .map_err(|e| bad(&e))?,
                currency: price["currency"].as_str().map(str::to_owned),
                interval: price["recurring"]["interval"].as_str().map(str::to_owned),
                interval_count: bounded(
                    &price["recurring"]["interval_count"],
                    &at("price.recurring.interval_count"),
                    1..=1000,
                    "an interval count",
                )
                .map_err(|e| bad(&e))?,
            });
        }
        // Newer API versions keep the period on each item, older ones on the subscription.
        let first = raw_items.first().cloned().unwrap_or(Value::Null);
        let t = |key: &str| time(&v[key], key).map_err(|e| bad(&e));
        let period = |key: &str| -> Result<Option<i64>, ParseError> {
            Ok(match t(key)? {
                Some(x) => Some(x),
                None => time(&first[key], &format!("items.data.0.{key}")).map_err(|e| bad(&e))?,
            })
        };
        let created = t("created")?.ok_or_else(|| bad("has no created"))?;
        Ok(Subscription {
            customer,
            status,
            current_period_start: period("current_period_start")?,
            current_period_end: period("current_period_end")?,
            cancel_at_period_end: v["cancel_at_period_end"].as_bool().unwrap_or(false),
            canceled_at: t("canceled_at")?,
            ended_at: t("ended_at")?,
            trial_end: t("trial_end")?,
            start_date: t("start_date")?.unwrap_or(created),
            created,
            metadata: metadata(v),
            livemode: v["livemode"].as_bool().unwrap_or(false),
            items,
            id,
        })
    }

    /// The plan: the first item's price (the platform's subscriptions have one).
    pub fn price(&self) -> Option<&SubItem> {
        self.items.first()
    }

    /// What the subscription bills per interval, in minor units, when every item has a flat
    /// unit amount in one currency.
    pub fn amount(&self) -> Option<i64> {
        let currency = self.items.first()?.currency.clone();
        self.items
            .iter()
            .try_fold(0i64, |sum, it| {
                (it.currency == currency)
                    .then_some(())
                    .and(it.unit_amount)
                    .and_then(|a| a.checked_mul(it.quantity))
                    .and_then(|a| sum.checked_add(a))
            })
            // No plan bills this much: left out of every sum rather than overflowing one.
            .filter(|a| *a <= MAX_AMOUNT)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub deleted: bool,
    pub created: i64,
    pub metadata: String,
    /// The organization id from the first configured metadata key that is set, with that key.
    pub org: Option<(String, String)>,
    pub livemode: bool,
}

impl Customer {
    pub fn parse(v: &Value, org_keys: &[String]) -> Result<Customer, ParseError> {
        let id = v["id"].as_str().unwrap_or_default().to_owned();
        if !id.starts_with("cus_") {
            return Err(ParseError {
                object: "customer",
                id,
                problem: "has no cus_ id".into(),
            });
        }
        let org = org_keys.iter().find_map(|k| {
            v["metadata"][k.as_str()]
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| (s.to_owned(), k.clone()))
        });
        let text = |k: &str| {
            v[k].as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let created = time(&v["created"], "created").map_err(|problem| ParseError {
            object: "customer",
            id: id.clone(),
            problem,
        })?;
        Ok(Customer {
            name: text("name"),
            email: text("email"),
            deleted: v["deleted"].as_bool().unwrap_or(false),
            created: created.unwrap_or(0),
            metadata: metadata(v),
            org,
            livemode: v["livemode"].as_bool().unwrap_or(false),
            id,
        })
    }

    /// The organization this customer bills for: its metadata id, else the customer itself.
    pub fn org_id(&self) -> &str {
        self.org
            .as_ref()
            .map(|(o, _)| o.as_str())
            .unwrap_or(&self.id)
    }
}

/// A completed one-time Checkout payment: lifetime access to the price bought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub session: String,
    pub customer: String,
    pub price: String,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub completed_at: i64,
}

/// The prices a Checkout Session bought: from its line items when expanded or listed, else
/// from the metadata the platform set (`price_id`, `plan_id`, `planId`).
pub fn session_prices(session: &Value, line_items: Option<&Value>) -> Vec<String> {
    let from_lines = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .map(|a| a.iter().filter_map(|li| id_of(&li["price"])).collect())
            .unwrap_or_default()
    };
    let mut prices = line_items.map(from_lines).unwrap_or_default();
    if prices.is_empty() {
        prices = from_lines(&session["line_items"]);
    }
    if prices.is_empty() {
        prices = ["price_id", "plan_id", "planId", "stripePriceId"]
            .iter()
            .find_map(|k| session["metadata"][*k].as_str())
            .filter(|s| s.starts_with("price_"))
            .map(|s| vec![s.to_owned()])
            .unwrap_or_default();
    }
    prices
}

/// A paid one-time Checkout Session, or `None` for any other (subscription mode, unpaid).
pub fn purchase(session: &Value, line_items: Option<&Value>) -> Vec<Purchase> {
    let paid = session["mode"] == "payment"
        && session["status"] == "complete"
        && session["payment_status"] == "paid";
    let Some(customer) = id_of(&session["customer"]).filter(|_| paid) else {
        return Vec::new();
    };
    let id = session["id"].as_str().unwrap_or_default();
    session_prices(session, line_items)
        .into_iter()
        .map(|price| Purchase {
            session: id.to_owned(),
            customer: customer.clone(),
            price,
            // Out of range (no real session): unknown, not computed with.
            amount: amount(&session["amount_total"], "amount_total")
                .ok()
                .flatten(),
            currency: session["currency"].as_str().map(str::to_owned),
            completed_at: time(&session["created"], "created")
                .ok()
                .flatten()
                .unwrap_or(0),
        })
        .collect()
}

/// An invoice's subscription, wherever its API version put it.
pub fn invoice_subscription(invoice: &Value) -> Option<String> {
    id_of(&invoice["subscription"])
        .or_else(|| id_of(&invoice["parent"]["subscription_details"]["subscription"]))
}

/// An entitlement summary's (feature id, lookup key) pairs.
pub fn entitlements(summary_or_list: &Value) -> Vec<(String, String)> {
    let list = if summary_or_list["object"] == "list" {
        &summary_or_list["data"]
    } else {
        &summary_or_list["entitlements"]["data"]
    };
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| Some((id_of(&e["feature"])?, e["lookup_key"].as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn customer_of(object: &Value) -> Option<String> {
    match object["object"].as_str() {
        Some("customer") => id_of(&object["id"]),
        _ => id_of(&object["customer"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_no_stripe_object_carries_are_refused_by_field_never_computed_with() {
        let sub = |patch: Value| {
            let mut v = json!({"id": "sub_1", "customer": "cus_1", "status": "active", "created": 10,
                "items": {"data": [{"quantity": 1, "current_period_end": 200,
                    "price": {"id": "price_1", "unit_amount": 2500, "currency": "eur", "recurring": {"interval": "month", "interval_count": 1}}}]}});
            fn merge(v: &mut Value, patch: &Value) {
                match (v, patch) {
                    (Value::Object(a), Value::Object(b)) => {
                        for (k, pv) in b {
                            match a.get_mut(k) {
                                Some(av) if av.is_object() && pv.is_object() => merge(av, pv),
                                _ => {
                                    a.insert(k.clone(), pv.clone());
                                }
                            }
                        }
                    }
                    (v, p) => *v = p.clone(),
                }
            }
            merge(&mut v, &patch);
            Subscription::parse(&v)
        };
        assert!(sub(json!({})).is_ok());
        let cases = [
            (
                json!({"created": i64::MIN}),
                "created is -9223372036854775808, not a timestamp",
            ),
            (
                json!({"current_period_end": i64::MAX}),
                "current_period_end is 9223372036854775807, not a timestamp",
            ),
            (
                json!({"trial_end": "soon"}),
                "trial_end is a string, not a timestamp",
            ),
            (
                json!({"items": {"data": [{"quantity": -3, "price": {"id": "price_1"}}]}}),
                "items.data.0.quantity is -3, not a quantity",
            ),
            (
                json!({"items": {"data": [{"price": {"id": "price_1", "unit_amount": 1e300}}]}}),
                "items.data.0.price.unit_amount is 1e+300, not an amount",
            ),
        ];
        for (patch, want) in cases {
            let e = sub(patch.clone()).unwrap_err();
            assert!(e.to_string().contains(want), "{patch}: {e}");
            assert!(e.to_string().starts_with("subscription sub_1: "), "{e}");
        }
        let e = Customer::parse(&json!({"id": "cus_1", "created": -5}), &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains("created is -5, not a timestamp (0 to 253402300799)"),
            "{e}"
        );
    }

    #[test]
    fn the_period_is_read_from_the_item_in_newer_api_versions() {
        let new = json!({"id": "sub_1", "customer": "cus_1", "status": "active", "created": 10,
            "items": {"data": [{"quantity": 2, "current_period_start": 100, "current_period_end": 200,
                "price": {"id": "price_1", "product": "prod_1", "unit_amount": 1500, "currency": "eur",
                          "recurring": {"interval": "month", "interval_count": 1}}}]}});
        let s = Subscription::parse(&new).unwrap();
        assert_eq!(
            (s.current_period_start, s.current_period_end),
            (Some(100), Some(200))
        );
        assert_eq!(s.amount(), Some(3000));
        assert_eq!(s.price().unwrap().price, "price_1");
        let old = json!({"id": "sub_1", "customer": {"id": "cus_1"}, "status": "past_due", "created": 10,
            "current_period_end": 300, "items": {"data": [{"price": "price_1"}]}});
        let s = Subscription::parse(&old).unwrap();
        assert_eq!(s.current_period_end, Some(300));
        assert_eq!(s.customer, "cus_1");
        assert_eq!(s.amount(), None, "an unexpanded price has no amount to add");
    }

    #[test]
    fn a_status_stripe_adds_later_is_kept_as_it_came_and_a_missing_one_refused_by_name() {
        let s = Subscription::parse(
            &json!({"id": "sub_9", "customer": "cus_1", "status": "zombie", "created": 1}),
        )
        .unwrap();
        assert_eq!(s.status, "zombie");
        assert!(!is_known_status(&s.status) && is_known_status("past_due"));
        let e = Subscription::parse(&json!({"id": "sub_9", "customer": "cus_1", "created": 1}))
            .unwrap_err();
        assert_eq!(e.to_string(), "subscription sub_9: has no status");
    }

    #[test]
    fn an_invoice_names_its_subscription_in_either_place() {
        assert_eq!(
            invoice_subscription(&json!({"subscription": "sub_a"})).as_deref(),
            Some("sub_a")
        );
        let v2025 = json!({"subscription": null, "parent": {"type": "subscription_details",
            "subscription_details": {"subscription": "sub_b"}}});
        assert_eq!(invoice_subscription(&v2025).as_deref(), Some("sub_b"));
        assert_eq!(invoice_subscription(&json!({"parent": null})), None);
    }

    #[test]
    fn the_organization_comes_from_the_first_configured_key_that_is_set() {
        let keys = vec!["organization_id".to_owned(), "companyId".to_owned()];
        let c = Customer::parse(
            &json!({"id": "cus_1", "metadata": {"companyId": "hq_7", "organization_id": " "}}),
            &keys,
        )
        .unwrap();
        assert_eq!(c.org, Some(("hq_7".into(), "companyId".into())));
        let bare = Customer::parse(&json!({"id": "cus_2", "metadata": {}}), &keys).unwrap();
        assert_eq!(bare.org_id(), "cus_2");
    }

    #[test]
    fn only_a_paid_one_time_checkout_is_a_purchase() {
        let s = json!({"id": "cs_1", "mode": "payment", "status": "complete", "payment_status": "paid",
            "customer": "cus_1", "created": 5, "amount_total": 9900, "currency": "eur",
            "metadata": {"planId": "price_life"}});
        let p = purchase(&s, None);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].price.as_str(), p[0].completed_at), ("price_life", 5));
        let lines = json!({"object": "list", "data": [{"price": {"id": "price_x"}}]});
        assert_eq!(
            purchase(&s, Some(&lines))[0].price,
            "price_x",
            "line items win over metadata"
        );
        let mut sub_mode = s.clone();
        sub_mode["mode"] = json!("subscription");
        assert!(purchase(&sub_mode, None).is_empty());
        let mut unpaid = s;
        unpaid["payment_status"] = json!("unpaid");
        assert!(purchase(&unpaid, None).is_empty());
    }
}

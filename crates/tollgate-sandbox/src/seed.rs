//! `--seed demo`: a believable platform from the source documents, built through the same
//! handlers the API uses, with the clock walked through a year so that renewals, failures,
//! cancellations and appointment payments happen as they would. Deterministic: the same seed
//! gives the same ids. Events older than 30 days are dropped, as Stripe drops them.
#![allow(clippy::useless_vec)]

use serde_json::Value;

use crate::resources::{billing, catalog, customers, payments, Call};
use crate::world::{stable_id, World};
use crate::Seed;

/// A call as the seed makes it (its events carry no request, like Dashboard-made changes).
pub(crate) fn call(pairs: &[(&str, String)]) -> Call {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let params = crate::form::decode(&query).expect("seed parameters are well-formed");
    Call {
        params,
        request_id: "req_sandbox_seed".into(),
        idempotency_key: None,
        path: String::new(),
    }
}

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .expect("created objects have ids")
        .to_owned()
}

/// Parameters as a `Vec`, so that a call can add some (hence `useless_vec` is allowed where
/// one passes them as they are).
macro_rules! p {
    ($($k:literal => $v:expr),* $(,)?) => { vec![$(($k, $v.to_string())),*] };
}

const SURNAMES: &[&str] = &[
    "Almeida",
    "Bauer",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Horvath",
    "Ivanova",
    "Jansen",
    "Keller",
    "Lindqvist",
    "Moreau",
    "Nowak",
    "Oliveira",
    "Petrov",
    "Quint",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Urban",
    "Vogel",
    "Weber",
    "Xavier",
    "Young",
    "Zimmermann",
    "Berg",
    "Santos",
    "Müller",
    "Novak",
    "Ferreira",
    "Lange",
    "Silva",
    "Kowalski",
    "Romano",
    "Hoffmann",
    "Pereira",
];
const FORMS: &[&str] = &[
    "Clinic",
    "Practice",
    "Health Studio",
    "Therapy Center",
    "Wellness",
    "Medical Group",
    "Care",
];

/// The price ids of seed 002's PRICE_LOOKUP_KEY_MAP, in the order of the specs below.
pub const SEED_MAP_IDS: [&str; 5] = [
    "price_1SQbV5K5Ap4Um3SpD65qOwZB", // community-expert-monthly
    "price_1SQXF5K5Ap4Um3SpekZpC9fQ", // community-expert-annual
    "price_1SQbV6K5Ap4Um3SpwFKRCoJo", // top-expert-monthly
    "price_1SQXF5K5Ap4Um3SpzT4S3agl", // top-expert-annual
    "price_1SQXF5K5Ap4Um3SpQCBwSFml", // lecturer-module-annual
];

pub fn build(seed: Seed) -> World {
    let mut w = World::new(seed.name());
    if seed == Seed::Empty {
        return w;
    }
    let real_now = w.now();
    let start = real_now - 364 * 86400 - 12 * 3600;
    w.frozen_now = Some(start);
    w.keep_events_from = Some(real_now - 30 * 86400);

    // ---- catalog -----------------------------------------------------------------------
    let community = catalog::create_product(&mut w, &call(&p!["name" => "Expert Community", "description" => "For experts starting out on the platform", "metadata[tier]" => "community", "metadata[audience]" => "expert"])).unwrap();
    let top = catalog::create_product(&mut w, &call(&p!["name" => "Expert Top", "description" => "For established experts: analytics and custom branding", "metadata[tier]" => "top", "metadata[audience]" => "expert"])).unwrap();
    let lecturer = catalog::create_product(&mut w, &call(&p!["name" => "Lecturer Module", "description" => "Run paid events and courses", "metadata[audience]" => "expert"])).unwrap();
    let partner = catalog::create_product(&mut w, &call(&p!["name" => "Partner Workspace", "description" => "Clinics and partner organizations", "metadata[audience]" => "partner"])).unwrap();

    struct PriceSpec<'a> {
        product: &'a Value,
        amount: i64,
        interval: &'a str,
        lookup: Option<&'a str>,
        nickname: &'a str,
        tier: &'a str,
        plan_type: &'a str,
        bps: &'a str,
        audience: &'a str,
    }
    let specs = [
        PriceSpec {
            product: &community,
            amount: 2500,
            interval: "month",
            lookup: Some("community-expert-monthly"),
            nickname: "Community monthly",
            tier: "community",
            plan_type: "monthly",
            bps: "1200",
            audience: "expert",
        },
        // Without lookup keys, as the lookup-key design found them: the migration has work to do.
        PriceSpec {
            product: &community,
            amount: 24000,
            interval: "year",
            lookup: None,
            nickname: "Community annual",
            tier: "community",
            plan_type: "annual",
            bps: "1200",
            audience: "expert",
        },
        PriceSpec {
            product: &top,
            amount: 5900,
            interval: "month",
            lookup: Some("top-expert-monthly"),
            nickname: "Top monthly",
            tier: "top",
            plan_type: "monthly",
            bps: "800",
            audience: "expert",
        },
        PriceSpec {
            product: &top,
            amount: 56600,
            interval: "year",
            lookup: None,
            nickname: "Top annual",
            tier: "top",
            plan_type: "annual",
            bps: "800",
            audience: "expert",
        },
        PriceSpec {
            product: &lecturer,
            amount: 49000,
            interval: "year",
            lookup: None,
            nickname: "Lecturer module annual",
            tier: "lecturer",
            plan_type: "annual",
            bps: "0",
            audience: "expert",
        },
        PriceSpec {
            product: &partner,
            amount: 9900,
            interval: "month",
            lookup: Some("partner-starter-monthly"),
            nickname: "Partner starter",
            tier: "partner",
            plan_type: "monthly",
            bps: "1000",
            audience: "partner",
        },
        PriceSpec {
            product: &partner,
            amount: 19900,
            interval: "month",
            lookup: None,
            nickname: "Partner professional",
            tier: "partner",
            plan_type: "monthly",
            bps: "800",
            audience: "partner",
        },
    ];
    let mut prices = Vec::new();
    for sp in &specs {
        let mut params = p![
            "currency" => "eur", "product" => id(sp.product), "unit_amount" => sp.amount, "recurring[interval]" => sp.interval,
            "nickname" => sp.nickname, "metadata[tier]" => sp.tier, "metadata[planType]" => sp.plan_type,
            "metadata[commissionRate]" => sp.bps, "metadata[audience]" => sp.audience,
        ];
        if let Some(k) = sp.lookup {
            params.push(("lookup_key", k.to_owned()));
        }
        prices.push(catalog::create_price(&mut w, &call(&params)).unwrap());
    }
    // The five prices of the lookup-key design's migration map carry its own ids, so
    // `tollgate lookup-keys apply` runs on that map as it stands.
    for (i, id) in SEED_MAP_IDS.iter().enumerate() {
        let old = prices[i]["id"].as_str().unwrap().to_owned();
        w.rename(&old, id);
        prices[i] = w.get(id).unwrap().clone();
    }
    // Shapes beyond flat prices, so the Plans screen shows each: per seat, tiered, metered.
    let seat = p![
        "currency" => "eur", "product" => id(&partner), "unit_amount" => 1200, "recurring[interval]" => "month",
        "nickname" => "Partner clinic, per seat", "lookup_key" => "partner-clinic-monthly",
        "metadata[tier]" => "partner", "metadata[audience]" => "clinic", "metadata[planType]" => "monthly",
        "metadata[commissionRate]" => "800", "metadata[pricing]" => "per_seat",
    ];
    catalog::create_price(&mut w, &call(&seat)).unwrap();
    let tiered = p![
        "currency" => "eur", "product" => id(&partner), "recurring[interval]" => "month", "billing_scheme" => "tiered",
        "tiers_mode" => "graduated", "nickname" => "Partner clinic, volume seats", "metadata[unit]" => "seat",
        "tiers[0][up_to]" => "10", "tiers[0][unit_amount]" => 1500, "tiers[0][flat_amount]" => 2000,
        "tiers[1][up_to]" => "50", "tiers[1][unit_amount]" => 1200,
        "tiers[2][up_to]" => "inf", "tiers[2][unit_amount]" => 900,
    ];
    catalog::create_price(&mut w, &call(&tiered)).unwrap();
    let metered = p![
        "currency" => "eur", "product" => id(&partner), "unit_amount_decimal" => "0.5", "recurring[interval]" => "month",
        "recurring[usage_type]" => "metered", "nickname" => "SMS reminders", "metadata[unit]" => "SMS",
    ];
    catalog::create_price(&mut w, &call(&metered)).unwrap();
    // An old Community price, replaced (prices are immutable; a change is a new price).
    let old = catalog::create_price(&mut w, &call(&p!["currency" => "eur", "product" => id(&community), "unit_amount" => 1900, "recurring[interval]" => "month", "nickname" => "Community monthly (2024)"])).unwrap();
    catalog::update_price(&mut w, &call(&p!["active" => "false"]), &id(&old)).unwrap();

    let feature = |w: &mut World, key: &str, name: &str| {
        let c = call(&p!["lookup_key" => key, "name" => name]);
        catalog::create_feature(w, &c).unwrap()
    };
    let f_appts = feature(&mut w, "appointments_manage", "Manage appointments");
    let f_events = feature(&mut w, "events_create", "Create events");
    let f_cal = feature(&mut w, "calendar_integration", "Calendar integration");
    let f_analytics = feature(&mut w, "analytics_access", "Analytics");
    let f_brand = feature(&mut w, "custom_branding", "Custom branding");
    let attach = [
        (&community, vec![&f_appts, &f_events, &f_cal]),
        (
            &top,
            vec![&f_appts, &f_events, &f_cal, &f_analytics, &f_brand],
        ),
        (&lecturer, vec![&f_events]),
        (&partner, vec![&f_appts, &f_analytics, &f_brand]),
    ];
    for (product, features) in attach {
        for f in features {
            catalog::attach_feature(
                &mut w,
                &call(&p!["entitlement_feature" => id(f)]),
                &id(product),
            )
            .unwrap();
        }
    }

    // ---- experts (connected accounts) ------------------------------------------------
    let mut experts = Vec::new();
    for j in 0..40 {
        let name = format!(
            "Dr. {} {}",
            ["Ana", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hugo"][j % 8],
            SURNAMES[(j * 7) % SURNAMES.len()]
        );
        let email = format!("expert{j:02}@experts.sandbox.invalid");
        let acct = payments::new_account(&mut w, Some(&email), Some(&name), "DE");
        experts.push(id(&w.insert(acct)));
    }

    // ---- organizations and their subscriptions, over a year -------------------------
    const ORGS: usize = 300;
    let plan_of = |i: usize| -> usize {
        match i % 20 {
            0..=8 => 0,   // community monthly
            9..=12 => 2,  // top monthly
            13 | 14 => 1, // community annual
            15 => 3,      // top annual
            16 | 17 => 5, // partner starter
            _ => 6,       // partner professional (18, 19)
        }
    };
    // Sign-up day of each organization: spread over the year; the last ones are still on
    // trial (285..297) or just had a card declined at sign-up (297..300: incomplete).
    let day_of = |i: usize| -> i64 {
        match i {
            // Trials that end with a declined card and pause (trial_settings).
            283 | 284 => 340,
            0..283 => ((i * 331) % 350) as i64,
            285..297 => 352 + ((i - 285) % 10) as i64,
            _ => 364,
        }
    };
    let mut orgs: Vec<(String, usize)> = Vec::new(); // (customer id, price index)
    for day in 0..365i64 {
        for i in (0..ORGS).filter(|i| day_of(*i) == day) {
            let org_id = stable_id("org", &[seed.name(), &i.to_string()]);
            let name = format!(
                "{} {}",
                SURNAMES[i % SURNAMES.len()],
                FORMS[(i / SURNAMES.len()) % FORMS.len()]
            );
            let email = format!("billing{i:03}@orgs.sandbox.invalid");
            let cus = customers::create(
                &mut w,
                &call(&p!["name" => name, "email" => email, "metadata[organization_id]" => org_id]),
            )
            .unwrap();
            let cus = id(&cus);
            let plan = plan_of(i);
            let mut params = p!["customer" => cus, "items[0][price]" => id(&prices[plan]), "metadata[organization_id]" => org_id];
            if (283..297).contains(&i) {
                params.push(("trial_period_days", "14".into()));
                if i < 285 {
                    params.push((
                        "trial_settings[end_behavior][missing_payment_method]",
                        "pause".into(),
                    ));
                    w.next_payment
                        .insert(cus.clone(), crate::world::PaymentOutcome::Fail);
                }
            } else if i >= 297 || day == 200 {
                // Card declined on sign-up: incomplete (and, after 23 hours, incomplete_expired).
                w.next_payment
                    .insert(cus.clone(), crate::world::PaymentOutcome::Fail);
            }
            let sub = billing::create(&mut w, &call(&params));
            if let Ok(sub) = sub {
                if i % 17 == 3 {
                    billing::update(
                        &mut w,
                        &call(&p!["cancel_at_period_end" => "true"]),
                        &id(&sub),
                    )
                    .unwrap();
                }
                if i % 25 == 0 {
                    let _ = billing::create(
                        &mut w,
                        &call(
                            &p!["customer" => cus, "items[0][price]" => id(&prices[4]), "metadata[organization_id]" => org_id],
                        ),
                    );
                }
            }
            orgs.push((cus, plan));
        }
        // Dunning: some cards start failing late in the year.
        if day == 300 || day == 331 {
            for (k, (cus, _)) in orgs.iter().enumerate() {
                if k % 29 == 11 || (day == 331 && k % 13 == 7) {
                    w.next_payment
                        .insert(cus.clone(), crate::world::PaymentOutcome::Fail);
                }
            }
        }
        // Cancellations now and then.
        if day % 40 == 39 {
            let victim = (day as usize * 7) % orgs.len().max(1);
            if let Some((cus, _)) = orgs.get(victim).cloned() {
                let subs: Vec<String> = w
                    .ids("subscription")
                    .iter()
                    .filter(|s| {
                        w.objects[*s]["customer"] == cus.as_str()
                            && w.objects[*s]["status"] == "active"
                    })
                    .cloned()
                    .collect();
                for sid in subs {
                    let _ = billing::cancel(&mut w, &call(&[]), &sid);
                }
            }
        }
        // Appointments: a few a day, each a destination charge to an expert with the
        // commission of the expert's organization's plan as the application fee.
        let per_day = 3 + (day % 3) as usize;
        for k in 0..per_day {
            if orgs.is_empty() {
                break;
            }
            let n = day as usize * 5 + k;
            let expert = &experts[(n * 7) % experts.len()];
            let (cus, plan) = &orgs[(n * 13) % orgs.len()];
            let bps: i64 = specs[*plan].bps.parse().unwrap_or(1000);
            let amount = 6000 + ((n * 37) % 10) as i64 * 1000;
            let fee = (amount * bps + 5_000) / 10_000;
            let org_id = w.objects[cus.as_str()]["metadata"]["organization_id"].clone();
            let pi = payments::charge(&mut w, None, payments::Charge {
                amount,
                currency: "eur".into(),
                customer: None,
                application_fee_amount: Some(fee),
                destination: Some(expert.clone()),
                metadata: Some(serde_json::json!({ "kind": "appointment", "organization_id": org_id, "commission_rate_bps": bps.to_string(), "plan_type": specs[*plan].plan_type, "tier": specs[*plan].tier })),
                description: Some("Appointment".into()),
            })
            .expect("seeded appointments are valid");
            if n.is_multiple_of(47) {
                let _ = payments::create_refund(
                    &mut w,
                    &call(
                        &p!["payment_intent" => id(&pi), "refund_application_fee" => "true", "reason" => "requested_by_customer"],
                    ),
                );
            }
        }
        // The last day ends at noon, so that sign-ups declined today are still incomplete
        // (Stripe expires them after 23 hours).
        billing::advance_clock(&mut w, if day == 364 { 12 * 3600 } else { 86400 });
    }
    w.frozen_now = None;
    w.keep_events_from = None;
    // The seeded year ended at the moment of seeding; the clock runs on from there.
    w.clock_offset = 0;
    w.prune_events();
    w
}

//! Products, prices and lookup keys, entitlement features, product features, and the
//! entitlements a customer's subscriptions grant.

use serde_json::{json, Map, Value};

use super::{merge_metadata, previous_attributes, s, Call};
use crate::error::StripeError;
use crate::listing;
use crate::params::{check, check_list, opt, req, Kind, P};
use crate::world::{stable_id, template, World};

const INTERVALS: &[&str] = &["day", "week", "month", "year"];

const PRODUCT_CREATE: &[P] = &[
    req("name", Kind::Str),
    opt("id", Kind::Str),
    opt("active", Kind::Bool),
    opt("description", Kind::Str),
    opt("metadata", Kind::Metadata),
    opt("url", Kind::Str),
    opt("unit_label", Kind::Str),
    opt("statement_descriptor", Kind::Str),
    opt("tax_code", Kind::Str),
    opt("shippable", Kind::Bool),
    opt("images", Kind::Arr(&Kind::Str, 8)),
];
const PRODUCT_UPDATE: &[P] = &[
    opt("name", Kind::Str),
    opt("active", Kind::Bool),
    opt("description", Kind::Str),
    opt("metadata", Kind::Metadata),
    opt("url", Kind::Str),
    opt("unit_label", Kind::Str),
    opt("statement_descriptor", Kind::Str),
    opt("tax_code", Kind::Str),
    opt("shippable", Kind::Bool),
    opt("images", Kind::Arr(&Kind::Str, 8)),
    opt("default_price", Kind::Str),
];
const PRODUCT_FIELDS: &[&str] = &[
    "name",
    "active",
    "description",
    "metadata",
    "url",
    "unit_label",
    "statement_descriptor",
    "tax_code",
    "shippable",
    "images",
    "default_price",
];

fn copy_fields(obj: &mut Value, p: &Map<String, Value>, fields: &[&str]) {
    for f in fields {
        if *f == "metadata" {
            continue;
        }
        if let Some(v) = p.get(*f) {
            obj[*f] = v.clone();
        }
    }
    merge_metadata(obj, p.get("metadata"));
}

pub fn create_product(w: &mut World, c: &Call) -> Result<Value, StripeError> {
    let p = check(PRODUCT_CREATE, c.params.clone(), "")?;
    let id = match s(&p, "id") {
        Some(id) if w.objects.contains_key(id) => {
            return Err(StripeError::invalid_state(
                Some("id"),
                format!("Product already exists: {id}"),
            ))
        }
        Some(id) => id.to_owned(),
        None => w.new_id("prod"),
    };
    let now = w.now();
    let mut obj = template("product");
    obj["id"] = json!(id);
    obj["created"] = json!(now);
    obj["updated"] = json!(now);
    obj["livemode"] = json!(false);
    obj["active"] = json!(true);
    obj["description"] = Value::Null;
    obj["default_price"] = Value::Null;
    obj["metadata"] = json!({});
    obj["images"] = json!([]);
    obj["marketing_features"] = json!([]);
    obj["url"] = Value::Null;
    obj["unit_label"] = Value::Null;
    obj["statement_descriptor"] = Value::Null;
    obj["tax_code"] = Value::Null;
    obj["shippable"] = Value::Null;
    copy_fields(&mut obj, &p, PRODUCT_FIELDS);
    let obj = w.insert(obj);
    w.emit("product.created", &obj, None, c.origin());
    Ok(obj)
}

pub fn update_product(w: &mut World, c: &Call, id: &str) -> Result<Value, StripeError> {
    let p = check(PRODUCT_UPDATE, c.params.clone(), "")?;
    if let Some(price) = s(&p, "default_price") {
        w.find(price, "price", "price", Some("default_price"))?;
    }
    let now = w.now();
    let obj = w.find_mut(id, "product", "product", Some("id"))?;
    let before = obj.clone();
    copy_fields(obj, &p, PRODUCT_FIELDS);
    obj["updated"] = json!(now);
    let after = obj.clone();
    let prev = previous_attributes(&before, &after, PRODUCT_FIELDS);
    if prev.as_object().is_some_and(|m| !m.is_empty()) {
        w.emit("product.updated", &after, Some(prev), c.origin());
    }
    Ok(after)
}

pub fn delete_product(w: &mut World, c: &Call, id: &str) -> Result<Value, StripeError> {
    check(&[], c.params.clone(), "")?;
    w.find(id, "product", "product", Some("id"))?;
    let has_prices = w
        .ids("price")
        .iter()
        .any(|pid| w.objects.get(pid).is_some_and(|p| p["product"] == id));
    if has_prices {
        return Err(StripeError::invalid_state(
            None,
            "This product cannot be deleted because it has one or more user-created prices.".into(),
        ));
    }
    let obj = w.objects.get_mut(id).expect("found above");
    obj["deleted"] = json!(true);
    let snapshot = obj.clone();
    w.emit("product.deleted", &snapshot, None, c.origin());
    Ok(json!({ "id": id, "object": "product", "deleted": true }))
}

pub fn list_products<'a>(w: &'a World, c: &Call) -> Result<crate::listing::Out<'a>, StripeError> {
    let (common, f) = check_list(
        &[
            opt("active", Kind::Bool),
            opt("ids", Kind::Arr(&Kind::Str, 100)),
            opt("shippable", Kind::Bool),
            opt("url", Kind::Str),
        ],
        c.params.clone(),
    )?;
    let ids: Option<Vec<&str>> = f
        .get("ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    listing::page(w, "product", &c.path, &common, |o| {
        f.get("active").is_none_or(|a| &o["active"] == a)
            && ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&o["id"].as_str().unwrap_or_default()))
            && f.get("url").is_none_or(|u| &o["url"] == u)
    })
}

// ---- prices ------------------------------------------------------------------------------

const RECURRING: &[P] = &[
    req("interval", Kind::Enum(INTERVALS)),
    opt("interval_count", Kind::Int),
    opt("usage_type", Kind::Enum(&["licensed", "metered"])),
    opt("meter", Kind::Str),
];
const PRICE_CREATE: &[P] = &[
    req("currency", Kind::Str),
    opt("product", Kind::Str),
    opt(
        "product_data",
        Kind::Obj(
            const {
                &[
                    req("name", Kind::Str),
                    opt("active", Kind::Bool),
                    opt("metadata", Kind::Metadata),
                    opt("id", Kind::Str),
                ]
            },
        ),
    ),
    opt("unit_amount", Kind::Int),
    opt("unit_amount_decimal", Kind::Str),
    opt("active", Kind::Bool),
    opt("nickname", Kind::Str),
    opt("lookup_key", Kind::Str),
    opt("transfer_lookup_key", Kind::Bool),
    opt("metadata", Kind::Metadata),
    opt("recurring", Kind::Obj(RECURRING)),
    opt(
        "tax_behavior",
        Kind::Enum(&["exclusive", "inclusive", "unspecified"]),
    ),
    opt("billing_scheme", Kind::Enum(&["per_unit", "tiered"])),
    opt("tiers_mode", Kind::Enum(&["graduated", "volume"])),
    opt(
        "tiers",
        Kind::Arr(
            &Kind::Obj(
                const {
                    &[
                        req("up_to", Kind::Str),
                        opt("unit_amount", Kind::Int),
                        opt("unit_amount_decimal", Kind::Str),
                        opt("flat_amount", Kind::Int),
                        opt("flat_amount_decimal", Kind::Str),
                    ]
                },
            ),
            250,
        ),
    ),
    opt(
        "transform_quantity",
        Kind::Obj(
            const {
                &[
                    req("divide_by", Kind::Int),
                    req("round", Kind::Enum(&["up", "down"])),
                ]
            },
        ),
    ),
];
const PRICE_UPDATE: &[P] = &[
    opt("active", Kind::Bool),
    opt("nickname", Kind::Str),
    opt("lookup_key", Kind::Str),
    opt("transfer_lookup_key", Kind::Bool),
    opt("metadata", Kind::Metadata),
    opt(
        "tax_behavior",
        Kind::Enum(&["exclusive", "inclusive", "unspecified"]),
    ),
];
const PRICE_FIELDS: &[&str] = &[
    "active",
    "nickname",
    "lookup_key",
    "metadata",
    "tax_behavior",
];

/// Tiers in Stripe's shape: ascending `up_to`, the last one `inf` (null).
fn check_tiers(p: &Map<String, Value>) -> Result<Vec<Value>, StripeError> {
    let raw = p
        .get("tiers")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| StripeError::missing_param("tiers"))?;
    if p.get("tiers_mode").is_none() {
        return Err(StripeError::missing_param("tiers_mode"));
    }
    let mut out = Vec::new();
    let mut last = 0_i64;
    for (i, t) in raw.iter().enumerate() {
        let up_to = match t["up_to"].as_str() {
            Some("inf") if i + 1 == raw.len() => Value::Null,
            Some(n) => match n.parse::<i64>() {
                Ok(v) if v > last && i + 1 < raw.len() => {
                    last = v;
                    json!(v)
                }
                _ => {
                    return Err(StripeError::invalid_param(
                        &format!("tiers[{i}][up_to]"),
                        "Tiers must be in ascending order of up_to, and the last tier must have up_to=inf.".into(),
                    ))
                }
            },
            None => return Err(StripeError::missing_param(&format!("tiers[{i}][up_to]"))),
        };
        let amount = |k: &str| t.get(k).and_then(Value::as_i64);
        let unit = amount("unit_amount");
        let flat = amount("flat_amount");
        if unit.is_none() && flat.is_none() && t.get("unit_amount_decimal").is_none() {
            return Err(StripeError::invalid_param(
                &format!("tiers[{i}]"),
                "Each tier needs unit_amount or flat_amount.".into(),
            ));
        }
        out.push(json!({
            "up_to": up_to, "unit_amount": unit, "flat_amount": flat,
            "unit_amount_decimal": t.get("unit_amount_decimal").cloned().unwrap_or(unit.map(|u| json!(u.to_string())).unwrap_or(Value::Null)),
            "flat_amount_decimal": flat.map(|f| json!(f.to_string())).unwrap_or(Value::Null),
        }));
    }
    Ok(out)
}

fn check_currency(cur: &str) -> Result<String, StripeError> {
    let lc = cur.to_ascii_lowercase();
    if lc.len() != 3 || !lc.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(StripeError::invalid_param("currency", format!("Invalid currency: {cur}. Stripe currently supports these currencies: eur, usd, gbp, chf, … (three-letter ISO codes)")));
    }
    Ok(lc)
}

fn check_lookup_key(key: &str) -> Result<(), StripeError> {
    if key.is_empty() || key.len() > 200 {
        return Err(StripeError::invalid_param(
            "lookup_key",
            "Invalid lookup_key: must be between 1 and 200 characters".into(),
        ));
    }
    Ok(())
}

/// Puts `key` on `price_id`: refused if another price holds it, unless `transfer`.
fn assign_lookup_key(
    w: &mut World,
    c: &Call,
    price_id: &str,
    key: &str,
    transfer: bool,
) -> Result<(), StripeError> {
    check_lookup_key(key)?;
    if let Some(holder) = w.lookup_keys.get(key).cloned() {
        if holder != price_id {
            if !transfer {
                return Err(StripeError::invalid_state(
                    Some("lookup_key"),
                    format!("A price (`{holder}`) already uses that lookup key. Pass `transfer_lookup_key=true` to move it to this price."),
                ));
            }
            let old = w.objects.get_mut(&holder).expect("indexed price exists");
            let before = old.clone();
            old["lookup_key"] = Value::Null;
            let after = old.clone();
            w.emit(
                "price.updated",
                &after,
                Some(previous_attributes(&before, &after, &["lookup_key"])),
                c.origin(),
            );
        }
    }
    w.lookup_keys.insert(key.to_owned(), price_id.to_owned());
    Ok(())
}

pub fn create_price(w: &mut World, c: &Call) -> Result<Value, StripeError> {
    let p = check(PRICE_CREATE, c.params.clone(), "")?;
    let currency = check_currency(s(&p, "currency").unwrap_or_default())?;
    let product = match (s(&p, "product"), p.get("product_data")) {
        (Some(_), Some(_)) => {
            return Err(StripeError::invalid_state(
                Some("product_data"),
                "You may only specify one of these parameters: product, product_data.".into(),
            ))
        }
        (Some(id), None) => {
            let prod = w.find(id, "product", "product", Some("product"))?;
            if prod["active"] == false {
                return Err(StripeError::invalid_state(
                    Some("product"),
                    format!("The product `{id}` is archived; activate it before adding prices."),
                ));
            }
            id.to_owned()
        }
        (None, Some(data)) => {
            let call = Call {
                params: data.as_object().cloned().unwrap_or_default(),
                request_id: c.request_id.clone(),
                idempotency_key: c.idempotency_key.clone(),
                path: "/v1/products".into(),
            };
            let mut params = call.params.clone();
            for v in params.values_mut() {
                if let Value::Bool(b) = v {
                    *v = json!(b.to_string());
                }
            }
            let call = Call { params, ..call };
            create_product(w, &call)?["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
        (None, None) => return Err(StripeError::missing_param("product")),
    };
    let tiered = s(&p, "billing_scheme") == Some("tiered");
    let tiers = if tiered { Some(check_tiers(&p)?) } else { None };
    let unit_amount = match (
        p.get("unit_amount").and_then(Value::as_i64),
        s(&p, "unit_amount_decimal"),
    ) {
        (Some(_), _) | (_, Some(_)) if tiered => {
            return Err(StripeError::invalid_param(
                "unit_amount",
                "You may not pass `unit_amount` when `billing_scheme` is `tiered`.".into(),
            ))
        }
        (Some(a), _) if a < 0 => {
            return Err(StripeError::invalid_param(
                "unit_amount",
                "Invalid unit_amount: must be at least 0".into(),
            ))
        }
        (Some(a), _) => Some(a),
        // A sub-cent decimal has no integer unit_amount (Stripe returns null).
        (None, Some(d)) => match d.parse::<i64>() {
            Ok(a) => Some(a),
            Err(_) if d.parse::<f64>().is_ok_and(|x| x >= 0.0) => None,
            Err(_) => {
                return Err(StripeError::invalid_param(
                    "unit_amount_decimal",
                    format!("Invalid decimal: {d}"),
                ))
            }
        },
        (None, None) if tiered => None,
        (None, None) => return Err(StripeError::missing_param("unit_amount")),
    };
    let id = w.new_id("price");
    let now = w.now();
    let mut obj = template("price");
    obj["id"] = json!(id);
    obj["created"] = json!(now);
    obj["livemode"] = json!(false);
    obj["currency"] = json!(currency);
    obj["product"] = json!(product);
    obj["unit_amount"] = json!(unit_amount);
    obj["unit_amount_decimal"] = match (unit_amount, s(&p, "unit_amount_decimal")) {
        (Some(a), _) => json!(a.to_string()),
        (None, Some(d)) => json!(d),
        (None, None) => Value::Null,
    };
    obj["billing_scheme"] = json!(if tiered { "tiered" } else { "per_unit" });
    obj["tiers_mode"] = if tiered {
        json!(s(&p, "tiers_mode").unwrap_or("graduated"))
    } else {
        Value::Null
    };
    // Stripe returns `tiers` only when expanded; the sandbox always carries the field.
    obj["tiers"] = tiers.map(Value::Array).unwrap_or(Value::Null);
    obj["transform_quantity"] = p.get("transform_quantity").cloned().unwrap_or(Value::Null);
    obj["custom_unit_amount"] = Value::Null;
    obj["currency_options"] = Value::Null;
    obj["active"] = json!(true);
    obj["nickname"] = Value::Null;
    obj["lookup_key"] = Value::Null;
    obj["metadata"] = json!({});
    obj["tax_behavior"] = json!("unspecified");
    match p.get("recurring") {
        Some(Value::Object(r)) => {
            obj["type"] = json!("recurring");
            let count = r.get("interval_count").and_then(Value::as_i64).unwrap_or(1);
            // Stripe allows at most one year between billings.
            let max = match r["interval"].as_str() {
                Some("day") => 365,
                Some("week") => 52,
                Some("month") => 12,
                _ => 1,
            };
            if !(1..=max).contains(&count) {
                return Err(StripeError::invalid_param(
                    "recurring[interval_count]",
                    format!("Invalid recurring[interval_count]: must be between 1 and {max} for this interval (at most one year)"),
                ));
            }
            obj["recurring"] = json!({
                "interval": r["interval"], "interval_count": count, "meter": r.get("meter").cloned().unwrap_or(Value::Null),
                "usage_type": r.get("usage_type").cloned().unwrap_or(json!("licensed")),
            });
        }
        _ => {
            obj["type"] = json!("one_time");
            obj["recurring"] = Value::Null;
        }
    }
    copy_fields(&mut obj, &p, PRICE_FIELDS);
    if let Some(key) = s(&p, "lookup_key") {
        let transfer = p.get("transfer_lookup_key") == Some(&json!(true));
        assign_lookup_key(w, c, &id, key, transfer)?;
    }
    let obj = w.insert(obj);
    w.emit("price.created", &obj, None, c.origin());
    Ok(obj)
}

pub fn update_price(w: &mut World, c: &Call, id: &str) -> Result<Value, StripeError> {
    let p = check(PRICE_UPDATE, c.params.clone(), "")?;
    let before = w.find(id, "price", "price", Some("id"))?.clone();
    match p.get("lookup_key") {
        Some(Value::String(k)) if k.is_empty() => {
            if let Some(old) = before["lookup_key"].as_str() {
                w.lookup_keys.remove(old);
            }
        }
        Some(Value::String(k)) => {
            let transfer = p.get("transfer_lookup_key") == Some(&json!(true));
            assign_lookup_key(w, c, id, k, transfer)?;
            if let Some(old) = before["lookup_key"].as_str().filter(|o| o != k) {
                w.lookup_keys.remove(old);
            }
        }
        _ => {}
    }
    let obj = w.objects.get_mut(id).expect("found above");
    copy_fields(obj, &p, PRICE_FIELDS);
    if obj["lookup_key"] == "" {
        obj["lookup_key"] = Value::Null;
    }
    if obj["nickname"] == "" {
        obj["nickname"] = Value::Null;
    }
    let after = obj.clone();
    let prev = previous_attributes(&before, &after, PRICE_FIELDS);
    if prev.as_object().is_some_and(|m| !m.is_empty()) {
        w.emit("price.updated", &after, Some(prev), c.origin());
    }
    Ok(after)
}

pub fn list_prices<'a>(w: &'a World, c: &Call) -> Result<crate::listing::Out<'a>, StripeError> {
    let (common, f) = check_list(
        &[
            opt("active", Kind::Bool),
            opt("currency", Kind::Str),
            opt("product", Kind::Str),
            opt("type", Kind::Enum(&["one_time", "recurring"])),
            opt("lookup_keys", Kind::Arr(&Kind::Str, 10)),
            opt(
                "recurring",
                Kind::Obj(
                    const {
                        &[
                            opt("interval", Kind::Enum(INTERVALS)),
                            opt("usage_type", Kind::Enum(&["licensed", "metered"])),
                            opt("meter", Kind::Str),
                        ]
                    },
                ),
            ),
        ],
        c.params.clone(),
    )?;
    let keys: Option<Vec<&str>> = f
        .get("lookup_keys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    listing::page(w, "price", &c.path, &common, |o| {
        f.get("active").is_none_or(|a| &o["active"] == a)
            && f.get("currency").is_none_or(|x| {
                o["currency"] == x.as_str().unwrap_or_default().to_ascii_lowercase()
            })
            && f.get("product").is_none_or(|x| &o["product"] == x)
            && f.get("type").is_none_or(|x| &o["type"] == x)
            && keys
                .as_ref()
                .is_none_or(|k| o["lookup_key"].as_str().is_some_and(|lk| k.contains(&lk)))
            && f.get("recurring")
                .and_then(|r| r.get("interval"))
                .is_none_or(|i| &o["recurring"]["interval"] == i)
    })
}

// ---- entitlement features --------------------------------------------------------------

pub fn create_feature(w: &mut World, c: &Call) -> Result<Value, StripeError> {
    let p = check(
        &[
            req("name", Kind::Str),
            req("lookup_key", Kind::Str),
            opt("metadata", Kind::Metadata),
        ],
        c.params.clone(),
        "",
    )?;
    let key = s(&p, "lookup_key").unwrap_or_default();
    let taken = w
        .ids("entitlements.feature")
        .iter()
        .any(|id| w.objects.get(id).is_some_and(|f| f["lookup_key"] == key));
    if taken {
        return Err(StripeError::invalid_state(
            Some("lookup_key"),
            format!("A feature with lookup_key `{key}` already exists."),
        ));
    }
    let mut obj = template("entitlements.feature");
    obj["id"] = json!(w.new_id("feat"));
    obj["name"] = p["name"].clone();
    obj["lookup_key"] = json!(key);
    obj["active"] = json!(true);
    obj["livemode"] = json!(false);
    obj["metadata"] = json!({});
    obj["created"] = json!(w.now());
    merge_metadata(&mut obj, p.get("metadata"));
    Ok(w.insert(obj))
}

pub fn update_feature(w: &mut World, c: &Call, id: &str) -> Result<Value, StripeError> {
    let p = check(
        &[
            opt("name", Kind::Str),
            opt("active", Kind::Bool),
            opt("metadata", Kind::Metadata),
        ],
        c.params.clone(),
        "",
    )?;
    let obj = w.find_mut(id, "entitlements.feature", "feature", Some("id"))?;
    copy_fields(obj, &p, &["name", "active", "metadata"]);
    Ok(obj.clone())
}

pub fn list_features<'a>(w: &'a World, c: &Call) -> Result<crate::listing::Out<'a>, StripeError> {
    let (common, f) = check_list(
        &[opt("archived", Kind::Bool), opt("lookup_key", Kind::Str)],
        c.params.clone(),
    )?;
    listing::page(w, "entitlements.feature", &c.path, &common, |o| {
        f.get("archived")
            .is_none_or(|a| o["active"] == json!(!a.as_bool().unwrap_or(false)))
            && f.get("lookup_key").is_none_or(|k| &o["lookup_key"] == k)
    })
}

pub fn attach_feature(w: &mut World, c: &Call, product: &str) -> Result<Value, StripeError> {
    let p = check(
        &[
            req("entitlement_feature", Kind::Str),
            opt("metadata", Kind::Metadata),
        ],
        c.params.clone(),
        "",
    )?;
    w.find(product, "product", "product", Some("product"))?;
    let fid = s(&p, "entitlement_feature").unwrap_or_default();
    let feature = w
        .find(
            fid,
            "entitlements.feature",
            "feature",
            Some("entitlement_feature"),
        )?
        .clone();
    let dup = w.ids("product_feature").iter().any(|id| {
        w.objects.get(id).is_some_and(|pf| {
            pf["product"] == product
                && pf["entitlement_feature"]["id"] == fid
                && pf.get("deleted").is_none()
        })
    });
    if dup {
        return Err(StripeError::invalid_state(
            Some("entitlement_feature"),
            format!("The feature `{fid}` is already attached to `{product}`."),
        ));
    }
    let mut obj = template("product_feature");
    obj["id"] = json!(w.new_id("prodft"));
    obj["entitlement_feature"] = feature;
    obj["livemode"] = json!(false);
    // Not in Stripe's JSON, but needed to list a product's features; dropped from responses.
    obj["product"] = json!(product);
    obj["created"] = json!(w.now());
    let obj = w.insert(obj);
    Ok(public_product_feature(&obj))
}

fn public_product_feature(pf: &Value) -> Value {
    let mut out = pf.clone();
    if let Some(m) = out.as_object_mut() {
        m.remove("product");
        m.remove("created");
    }
    out
}

pub fn list_product_features(w: &World, c: &Call, product: &str) -> Result<Value, StripeError> {
    let (common, _) = check_list(&[], c.params.clone())?;
    w.find(product, "product", "product", Some("product"))?;
    let mut page: Value = listing::page(w, "product_feature", &c.path, &common, |o| {
        o["product"] == product
    })?
    .into_value();
    if let Some(items) = page["data"].as_array_mut() {
        for item in items.iter_mut() {
            *item = public_product_feature(item);
        }
    }
    Ok(page)
}

pub fn detach_feature(
    w: &mut World,
    c: &Call,
    product: &str,
    id: &str,
) -> Result<Value, StripeError> {
    check(&[], c.params.clone(), "")?;
    let pf = w.find_mut(id, "product_feature", "product feature", Some("id"))?;
    if pf["product"] != product {
        return Err(StripeError::resource_missing(
            "product feature",
            id,
            Some("id"),
        ));
    }
    pf["deleted"] = json!(true);
    Ok(json!({ "id": id, "object": "product_feature", "deleted": true }))
}

/// Features granted to a customer by subscriptions that are trialing, active or past_due.
pub fn customer_feature_ids(w: &World, customer: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for sid in w.subscriptions_of(customer) {
        let Some(sub) = w.objects.get(sid) else {
            continue;
        };
        if !["trialing", "active", "past_due"].contains(&sub["status"].as_str().unwrap_or_default())
        {
            continue;
        }
        for item in sub["items"]["data"].as_array().into_iter().flatten() {
            let product = item["price"]["product"].as_str().unwrap_or_default();
            for pfid in w.ids("product_feature") {
                let Some(pf) = w.objects.get(pfid) else {
                    continue;
                };
                if pf["product"] == product && pf.get("deleted").is_none() {
                    if let Some(fid) = pf["entitlement_feature"]["id"].as_str() {
                        if !out.iter().any(|x| x == fid) {
                            out.push(fid.to_owned());
                        }
                    }
                }
            }
        }
    }
    out
}

fn active_entitlement(w: &World, customer: &str, fid: &str) -> Value {
    let feature = w.objects.get(fid).cloned().unwrap_or(Value::Null);
    let mut e = template("entitlements.active_entitlement");
    // Stable per (customer, feature), as Stripe's are while the entitlement lasts.
    e["id"] = json!(stable_id("ent", &[customer, fid]));
    e["feature"] = json!(fid);
    e["lookup_key"] = feature["lookup_key"].clone();
    e["livemode"] = json!(false);
    e
}

pub fn list_active_entitlements(w: &World, c: &Call) -> Result<Value, StripeError> {
    let p = check(
        &[
            req("customer", Kind::Str),
            opt("limit", Kind::Int),
            opt("starting_after", Kind::Str),
            opt("ending_before", Kind::Str),
        ],
        c.params.clone(),
        "",
    )?;
    let customer = s(&p, "customer").unwrap_or_default();
    w.find(customer, "customer", "customer", Some("customer"))?;
    let data: Vec<Value> = customer_feature_ids(w, customer)
        .iter()
        .map(|f| active_entitlement(w, customer, f))
        .collect();
    Ok(json!({ "object": "list", "data": data, "has_more": false, "url": c.path }))
}

/// The summary Stripe sends as `entitlements.active_entitlement_summary.updated`.
pub fn entitlement_summary(w: &World, customer: &str) -> Value {
    let data: Vec<Value> = customer_feature_ids(w, customer)
        .iter()
        .map(|f| active_entitlement(w, customer, f))
        .collect();
    let mut summary = template("entitlements.active_entitlement_summary");
    summary["customer"] = json!(customer);
    summary["livemode"] = json!(false);
    summary["entitlements"] = json!({ "object": "list", "data": data, "has_more": false, "url": format!("/v1/customer/{customer}/entitlements") });
    summary
}

/// After a subscription change: if the customer's features changed, Stripe says so.
pub fn emit_entitlements_if_changed(
    w: &mut World,
    c: Option<&Call>,
    customer: &str,
    before: &[String],
) {
    let after = customer_feature_ids(w, customer);
    let mut a = after.clone();
    let mut b = before.to_vec();
    a.sort();
    b.sort();
    if a != b {
        let summary = entitlement_summary(w, customer);
        w.emit(
            "entitlements.active_entitlement_summary.updated",
            &summary,
            None,
            c.and_then(Call::origin),
        );
    }
}

pub fn retrieve(w: &World, id: &str, object: &str, noun: &str) -> Result<Value, StripeError> {
    let v = w.find(id, object, noun, Some("id"))?;
    Ok(if object == "product_feature" {
        public_product_feature(v)
    } else {
        v.clone()
    })
}

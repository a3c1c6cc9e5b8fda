//! `--set PATH=VALUE` on a built event: the path must exist in the event (a new key only
//! inside a `metadata` object) and the value must have the type that is there. On an update
//! event, the old value of the changed field goes into `data.previous_attributes`, as Stripe
//! reports it.

use serde_json::Value;

use crate::domain::InputError;

const FIELD: &str = "set";

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The new value for a field that now holds `old`, from the text after `=`.
fn convert(path: &str, old: &Value, raw: &str, in_metadata: bool) -> Result<Value, InputError> {
    let parsed = serde_json::from_str::<Value>(raw).ok();
    let wrong = |what: &str| {
        InputError::new(
            FIELD,
            format!("{path} is {}; {raw:?} is {what}", kind_of(old)),
        )
    };
    // `null` is accepted anywhere: Stripe's fields are nullable.
    if raw == "null" {
        return Ok(Value::Null);
    }
    // Stripe's metadata values are strings, whatever they look like.
    if in_metadata {
        return Ok(match parsed {
            Some(Value::String(s)) => Value::String(s),
            _ => Value::String(raw.to_owned()),
        });
    }
    let fraction = matches!(&parsed, Some(Value::Number(n)) if !(n.is_i64() || n.is_u64()));
    // Amounts, counts and timestamps are integers; Stripe's few fractional fields are its
    // percentages (application_fee_percent, percent_off).
    let percent = path
        .rsplit('.')
        .next()
        .is_some_and(|k| k.contains("percent"));
    Ok(match old {
        Value::Null if fraction && !percent => {
            return Err(InputError::new(
                FIELD,
                format!("{path} takes no fraction: {raw:?} is not an integer (amounts are integer minor units, times are Unix seconds)"),
            ))
        }
        Value::Null => parsed.unwrap_or_else(|| Value::String(raw.to_owned())),
        Value::String(_) => match parsed {
            Some(Value::String(s)) => Value::String(s),
            _ => Value::String(raw.to_owned()),
        },
        Value::Bool(_) => match parsed {
            Some(b @ Value::Bool(_)) => b,
            _ => return Err(wrong("not true or false")),
        },
        Value::Number(n) => match parsed {
            Some(Value::Number(m)) if (n.is_i64() || n.is_u64()) && !(m.is_i64() || m.is_u64()) => {
                return Err(wrong("not an integer (amounts are integer minor units)"))
            }
            Some(m @ Value::Number(_)) => m,
            _ => return Err(wrong("not a number")),
        },
        Value::Array(_) => match parsed {
            Some(a @ Value::Array(_)) => a,
            _ => return Err(wrong("not a JSON list")),
        },
        Value::Object(_) => match parsed {
            Some(o @ Value::Object(_)) => o,
            _ => return Err(wrong("not a JSON object")),
        },
    })
}

/// Applies each `PATH=VALUE` in order; nothing is changed unless all of them apply.
pub fn apply(event: &Value, sets: &[String]) -> Result<Value, InputError> {
    let mut out = event.clone();
    let is_update = out["type"]
        .as_str()
        .is_some_and(|t| t.ends_with(".updated"));
    for set in sets {
        let (path, raw) = set.split_once('=').ok_or_else(|| {
            InputError::new(
                FIELD,
                format!("{set:?} is not PATH=VALUE (e.g. data.object.status=past_due)"),
            )
        })?;
        let path = path.trim();
        let segments: Vec<&str> = path.split('.').collect();
        if path.is_empty() || segments.iter().any(|s| s.is_empty()) {
            return Err(InputError::new(FIELD, format!("{path:?} is not a path: keys joined by dots, list positions as numbers (data.object.items.data.0.quantity)")));
        }
        // The old value, for previous_attributes: of the top-level field of data.object, or
        // of the one metadata key (Stripe lists a new key as null).
        let top =
            (segments.len() > 2 && segments[0] == "data" && segments[1] == "object").then(|| {
                if segments.len() == 4 && segments[2] == "metadata" {
                    let old = out["data"]["object"]["metadata"][segments[3]].clone();
                    (
                        "metadata".to_owned(),
                        serde_json::json!({ segments[3]: old }),
                    )
                } else {
                    (
                        segments[2].to_owned(),
                        out["data"]["object"][segments[2]].clone(),
                    )
                }
            });
        let mut at = &mut out;
        for (i, seg) in segments.iter().enumerate() {
            let here = segments[..i].join(".");
            let last = i + 1 == segments.len();
            let in_metadata = segments.get(i.wrapping_sub(1)) == Some(&"metadata");
            at = match at {
                Value::Object(map) => {
                    if !map.contains_key(*seg) {
                        if last && in_metadata {
                            map.insert((*seg).to_owned(), Value::Null);
                        } else {
                            let mut keys: Vec<&String> = map.keys().collect();
                            keys.sort();
                            let keys: Vec<&str> =
                                keys.iter().take(12).map(|k| k.as_str()).collect();
                            return Err(InputError::new(
                                FIELD,
                                format!(
                                    "{path} does not exist in this {} event: {} has {}{}",
                                    out_type(event),
                                    if here.is_empty() {
                                        "the event".to_owned()
                                    } else {
                                        here.clone()
                                    },
                                    keys.join(", "),
                                    if map.len() > 12 { ", …" } else { "" }
                                ),
                            ));
                        }
                    }
                    map.get_mut(*seg).expect("present")
                }
                Value::Array(list) => {
                    let n = list.len();
                    let idx = seg.parse::<usize>().ok().filter(|i| *i < n).ok_or_else(|| {
                        InputError::new(FIELD, format!("{path} does not exist: {here} is a list of {n}, and {seg:?} is not a position in it (0 to {})", n.saturating_sub(1)))
                    })?;
                    &mut list[idx]
                }
                other => {
                    return Err(InputError::new(
                        FIELD,
                        format!(
                            "{path} does not exist: {here} is {}, which has no fields",
                            kind_of(other)
                        ),
                    ))
                }
            };
            if last {
                *at = convert(path, at, raw, in_metadata)?;
            }
        }
        if let (true, Some((key, old))) = (is_update, top) {
            let prev = &mut out["data"]["previous_attributes"];
            if !prev.is_object() {
                *prev = Value::Object(Default::default());
            }
            if let Some(p) = prev.as_object_mut() {
                match (p.get_mut(&key), old) {
                    // Another key of the same metadata: added beside the ones already listed.
                    (Some(Value::Object(have)), Value::Object(more)) if key == "metadata" => {
                        for (k, v) in more {
                            have.entry(k).or_insert(v);
                        }
                    }
                    (Some(_), _) => {}
                    (None, old) => {
                        p.insert(key, old);
                    }
                }
            }
        }
    }
    Ok(out)
}

fn out_type(event: &Value) -> &str {
    event["type"].as_str().unwrap_or("event")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev() -> Value {
        json!({ "id": "evt_1", "type": "customer.subscription.updated", "data": {
            "object": { "status": "active", "quantity": 1, "cancel_at_period_end": false, "metadata": {}, "canceled_at": null,
                        "items": { "data": [ { "price": { "unit_amount": 2500 } } ] } },
            "previous_attributes": { "metadata": { "x": null } } } })
    }

    #[test]
    fn sets_by_type_and_records_the_previous_value() {
        let out = apply(
            &ev(),
            &[
                "data.object.status=past_due".into(),
                "data.object.quantity=3".into(),
                "data.object.cancel_at_period_end=true".into(),
                "data.object.metadata.org=org_9".into(),
                "data.object.items.data.0.price.unit_amount=4900".into(),
                "data.object.canceled_at=1800000000".into(),
            ],
        )
        .unwrap();
        let o = &out["data"]["object"];
        assert_eq!(o["status"], "past_due");
        assert_eq!(o["quantity"], 3);
        assert_eq!(o["cancel_at_period_end"], true);
        assert_eq!(o["metadata"]["org"], "org_9");
        assert_eq!(o["items"]["data"][0]["price"]["unit_amount"], 4900);
        assert_eq!(o["canceled_at"], 1_800_000_000);
        let prev = &out["data"]["previous_attributes"];
        assert_eq!(prev["status"], "active");
        assert_eq!(prev["quantity"], 1);
        assert_eq!(
            prev["metadata"],
            json!({ "x": null, "org": null }),
            "the new key beside the builder's"
        );
        // A string field takes digits as text; metadata values are always strings.
        let out = apply(
            &ev(),
            &[
                "data.object.status=123".into(),
                "data.object.metadata.seats=5".into(),
                "data.object.metadata.vip=true".into(),
            ],
        )
        .unwrap();
        assert_eq!(out["data"]["object"]["status"], "123");
        assert_eq!(
            out["data"]["object"]["metadata"],
            json!({ "seats": "5", "vip": "true" })
        );
        // A null field takes an integer, a percentage a fraction, anything else no fraction.
        assert_eq!(
            apply(&ev(), &["data.object.canceled_at=1800000000".into()]).unwrap()["data"]["object"]
                ["canceled_at"],
            1_800_000_000
        );
        let e = apply(&ev(), &["data.object.canceled_at=1.5".into()]).unwrap_err();
        assert!(e.rule.contains("no fraction"), "{}", e.rule);
    }

    #[test]
    fn bad_paths_and_types_are_refused_naming_the_rule_and_change_nothing() {
        let cases = [
            ("data.object.stauts=past_due", "does not exist"),
            ("data.object.items.data.3.price=1", "list of 1"),
            ("data.object.status.x=1", "no fields"),
            ("data.object.quantity=three", "is an integer"),
            ("data.object.quantity=2.5", "not an integer"),
            ("data.object.cancel_at_period_end=yes", "true or false"),
            ("data.object.metadata=[]", "not a JSON object"),
            ("status", "PATH=VALUE"),
            ("data..status=x", "not a path"),
        ];
        for (set, rule) in cases {
            let e = apply(&ev(), &[set.into()]).unwrap_err();
            assert_eq!(e.field, "set");
            assert!(e.rule.contains(rule), "{set}: {}", e.rule);
        }
        let e = apply(&ev(), &["data.object.stauts=past_due".into()]).unwrap_err();
        assert!(
            e.rule.contains("status"),
            "lists the keys there: {}",
            e.rule
        );
    }
}

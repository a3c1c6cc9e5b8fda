//! Lists as Stripe pages them (newest first, `limit` at most 100, `starting_after` /
//! `ending_before` cursors, `has_more`, `url`) and `expand[]`.

use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::{Map, Value};

use crate::error::StripeError;
use crate::world::World;

/// A response body: an owned object, or a list page that borrows its items from the world so
/// that a page of 100 subscriptions is serialized without copying them first.
pub enum Out<'a> {
    Value(Value),
    List {
        data: Vec<&'a Value>,
        has_more: bool,
        url: String,
    },
}

impl From<Value> for Out<'_> {
    fn from(v: Value) -> Self {
        Out::Value(v)
    }
}

impl Out<'_> {
    pub fn into_value(self) -> Value {
        match self {
            Out::Value(v) => v,
            Out::List {
                data,
                has_more,
                url,
            } => serde_json::json!({
                "object": "list", "data": data.into_iter().cloned().collect::<Vec<_>>(), "has_more": has_more, "url": url,
            }),
        }
    }
}

impl Serialize for Out<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Out::Value(v) => v.serialize(s),
            Out::List {
                data,
                has_more,
                url,
            } => {
                let mut st = s.serialize_struct("List", 4)?;
                st.serialize_field("object", "list")?;
                st.serialize_field("data", data)?;
                st.serialize_field("has_more", has_more)?;
                st.serialize_field("url", url)?;
                st.end()
            }
        }
    }
}

/// Pages `kind` objects that pass `keep`, newest first.
pub fn page<'a>(
    world: &'a World,
    kind: &str,
    url: &str,
    common: &Map<String, Value>,
    keep: impl Fn(&Value) -> bool,
) -> Result<Out<'a>, StripeError> {
    let limit = match common.get("limit").and_then(Value::as_i64) {
        None => 10,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(n) => {
            return Err(StripeError::invalid_param(
                "limit",
                format!("Invalid limit: must be between 1 and 100 (got {n})"),
            ))
        }
    };
    let created = common.get("created");
    let in_range = |o: &Value| -> bool {
        let Some(c) = o["created"].as_i64() else {
            return created.is_none();
        };
        match created {
            None => true,
            Some(Value::Number(n)) => Some(c) == n.as_i64(),
            Some(Value::Object(r)) => {
                let get = |k: &str| r.get(k).and_then(Value::as_i64);
                get("gt").is_none_or(|v| c > v)
                    && get("gte").is_none_or(|v| c >= v)
                    && get("lt").is_none_or(|v| c < v)
                    && get("lte").is_none_or(|v| c <= v)
            }
            Some(_) => true,
        }
    };
    let ids = world.ids(kind);
    let cursor = |param: &'static str| -> Result<Option<usize>, StripeError> {
        match common.get(param).and_then(Value::as_str) {
            None => Ok(None),
            Some(id) => match world.position.get(id) {
                Some(&p) if ids.get(p).map(String::as_str) == Some(id) => Ok(Some(p)),
                _ => Err(StripeError::resource_missing("object", id, Some(param))),
            },
        }
    };
    let after = cursor("starting_after")?;
    let before = cursor("ending_before")?;
    let visible = |id: &String| -> Option<&'a Value> {
        let o = world.objects.get(id)?;
        (o.get("deleted").is_none() && in_range(o) && keep(o)).then_some(o)
    };
    // `ids` is oldest first; Stripe's order is newest first.
    let (data, has_more): (Vec<&'a Value>, bool) = if let Some(b) = before {
        // The page just newer than `b`, still shown newest first.
        let mut newer: Vec<&Value> = ids[b + 1..]
            .iter()
            .filter_map(visible)
            .take(limit + 1)
            .collect();
        let more = newer.len() > limit;
        newer.truncate(limit);
        newer.reverse();
        (newer, more)
    } else {
        let end = after.unwrap_or(ids.len());
        let mut older = ids[..end].iter().rev().filter_map(visible).take(limit + 1);
        let out: Vec<&Value> = older.by_ref().take(limit).collect();
        let more = older.next().is_some();
        (out, more)
    };
    Ok(Out::List {
        data,
        has_more,
        url: url.to_owned(),
    })
}

/// Applies `expand[]` paths (`customer`, `data.product`, `items.data.price.product`, …): an id
/// found at the path is replaced by its object, as Stripe does.
pub fn expand(world: &World, mut v: Value, paths: &[String]) -> Result<Value, StripeError> {
    for path in paths {
        let parts: Vec<&str> = path.split('.').collect();
        if parts.len() > 4 {
            return Err(StripeError::invalid_param(
                "expand",
                format!("You cannot expand more than 4 levels of a property: {path}"),
            ));
        }
        expand_at(world, &mut v, &parts, path)?;
    }
    Ok(v)
}

fn cannot(full: &str) -> StripeError {
    StripeError::invalid_param(
        "expand",
        format!("This property cannot be expanded ({full})."),
    )
}

/// Follows `parts` from an object: the first part names a field, the rest apply to its value.
fn expand_at(world: &World, v: &mut Value, parts: &[&str], full: &str) -> Result<(), StripeError> {
    let Some((first, rest)) = parts.split_first() else {
        return Ok(());
    };
    match v {
        Value::Object(m) => {
            let field = m.get_mut(*first).ok_or_else(|| cannot(full))?;
            apply(world, field, rest, full)
        }
        Value::Null => Ok(()),
        _ => Err(cannot(full)),
    }
}

/// Expands a field's value: an id becomes its object; arrays apply to each item.
fn apply(world: &World, field: &mut Value, rest: &[&str], full: &str) -> Result<(), StripeError> {
    match field {
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|item| apply(world, item, rest, full)),
        Value::String(id) => {
            let obj = world.objects.get(id.as_str()).ok_or_else(|| cannot(full))?;
            *field = obj.clone();
            expand_at(world, field, rest, full)
        }
        Value::Object(_) => expand_at(world, field, rest, full),
        Value::Null => Ok(()),
        _ => Err(cannot(full)),
    }
}

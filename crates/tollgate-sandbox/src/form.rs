//! Stripe's request encoding: `application/x-www-form-urlencoded` (bodies) and query strings,
//! with bracket notation for nesting: `metadata[k]=v`, `items[0][price]=p`, `expand[]=x`.
//! Decoded into a JSON tree of strings; `params` then checks and types it per endpoint.

use serde_json::{Map, Value};

use crate::error::StripeError;

/// Splits `a[b][0][]` into `["a", "b", "0", ""]`.
fn key_path(key: &str) -> Option<Vec<&str>> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => return Some(vec![key]),
    };
    let mut parts = vec![head];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        parts.push(&inner[..end]);
        rest = &inner[end + 1..];
    }
    Some(parts)
}

fn insert(
    node: &mut Value,
    path: &[&str],
    value: String,
    full_key: &str,
) -> Result<(), StripeError> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(());
    };
    let invalid =
        || StripeError::invalid_param(full_key, format!("Invalid array or hash for {full_key}"));
    // `x[]` appends; `x[0]` addresses an index (kept as an object keyed by the index, turned
    // into an array in order at the end, since Stripe accepts sparse, out-of-order indices).
    if first.is_empty() {
        let arr = match node {
            Value::Null => {
                *node = Value::Array(Vec::new());
                node.as_array_mut().unwrap()
            }
            Value::Array(a) => a,
            _ => return Err(invalid()),
        };
        if rest.is_empty() {
            arr.push(Value::String(value));
        } else {
            let mut child = Value::Null;
            insert(&mut child, rest, value, full_key)?;
            arr.push(child);
        }
        return Ok(());
    }
    let map = match node {
        Value::Null => {
            *node = Value::Object(Map::new());
            node.as_object_mut().unwrap()
        }
        Value::Object(m) => m,
        _ => return Err(invalid()),
    };
    if rest.is_empty() {
        if map.contains_key(*first) && !matches!(map.get(*first), Some(Value::Null)) {
            // Stripe takes the last of repeated scalars.
        }
        map.insert((*first).to_owned(), Value::String(value));
        Ok(())
    } else {
        let child = map.entry((*first).to_owned()).or_insert(Value::Null);
        insert(child, rest, value, full_key)
    }
}

/// Objects whose keys are all array indices become arrays, in index order.
fn arrays_from_indices(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let all_indices = !m.is_empty()
                && m.keys()
                    .all(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()));
            if all_indices {
                let mut items: Vec<(usize, Value)> = m
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k.parse::<usize>().unwrap_or(usize::MAX),
                            arrays_from_indices(v),
                        )
                    })
                    .collect();
                items.sort_by_key(|(i, _)| *i);
                Value::Array(items.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(
                    m.into_iter()
                        .map(|(k, v)| (k, arrays_from_indices(v)))
                        .collect(),
                )
            }
        }
        Value::Array(a) => Value::Array(a.into_iter().map(arrays_from_indices).collect()),
        other => other,
    }
}

/// Decodes a query string or form body. `metadata` keeps digit-only keys as keys.
pub fn decode(raw: &str) -> Result<Map<String, Value>, StripeError> {
    let mut root = Value::Object(Map::new());
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        if k.is_empty() {
            continue;
        }
        let path = key_path(&k).ok_or_else(|| {
            StripeError::invalid_param(&k, format!("Invalid parameter name: {k}"))
        })?;
        insert(&mut root, &path, v.into_owned(), &k)?;
    }
    let Value::Object(m) = root else {
        unreachable!()
    };
    Ok(m.into_iter()
        .map(|(k, v)| {
            if k == "metadata" {
                (k, v)
            } else {
                (k, arrays_from_indices(v))
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_brackets_arrays_and_metadata() {
        let m = decode("name=Top&metadata[tier]=top&metadata[0]=zero&items[1][price]=p2&items[0][price]=p1&items[0][quantity]=2&expand[]=a&expand[]=b.c&lookup_keys[0]=x&recurring[interval]=month").unwrap();
        assert_eq!(
            Value::Object(m),
            json!({
                "name": "Top",
                "metadata": { "tier": "top", "0": "zero" },
                "items": [ { "price": "p1", "quantity": "2" }, { "price": "p2" } ],
                "expand": ["a", "b.c"],
                "lookup_keys": ["x"],
                "recurring": { "interval": "month" }
            })
        );
    }

    #[test]
    fn percent_encoding_and_plus() {
        let m = decode("nickname=Partner+%E2%82%AC49%2Fmo&metadata%5Bk%5D=v").unwrap();
        assert_eq!(m["nickname"], "Partner €49/mo");
        assert_eq!(m["metadata"]["k"], "v");
    }

    #[test]
    fn malformed_keys_are_errors() {
        assert!(decode("a[b=1").is_err());
        assert!(decode("a=1&a[b]=2").is_err());
    }
}

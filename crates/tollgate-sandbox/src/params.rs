//! Endpoint parameter schemas, and the checks Stripe makes against them: unknown parameters,
//! missing required ones, wrong types, bad enum values, over-long arrays. A checked request is
//! a JSON object with real types (integers, booleans), ready for the handlers.

use serde_json::{Map, Number, Value};

use crate::error::StripeError;

#[derive(Debug)]
pub enum Kind {
    Str,
    Int,
    Bool,
    Enum(&'static [&'static str]),
    /// Stripe metadata: string keys and values; "" unsets a key (or, for the whole hash, all).
    Metadata,
    Obj(&'static [P]),
    Arr(&'static Kind, usize),
    /// `created` and friends: an integer, or `{gt, gte, lt, lte}`.
    Range,
}

#[derive(Debug)]
pub struct P {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

pub const fn opt(name: &'static str, kind: Kind) -> P {
    P {
        name,
        kind,
        required: false,
    }
}
pub const fn req(name: &'static str, kind: Kind) -> P {
    P {
        name,
        kind,
        required: true,
    }
}

const RANGE_KEYS: &[P] = &[
    opt("gt", Kind::Int),
    opt("gte", Kind::Int),
    opt("lt", Kind::Int),
    opt("lte", Kind::Int),
];

/// Parameters every list endpoint takes.
pub const LIST: &[P] = &[
    opt("limit", Kind::Int),
    opt("starting_after", Kind::Str),
    opt("ending_before", Kind::Str),
    opt("created", Kind::Range),
];

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}[{name}]")
    }
}

fn as_str<'a>(v: &'a Value, param: &str) -> Result<&'a str, StripeError> {
    v.as_str().ok_or_else(|| {
        StripeError::invalid_param(
            param,
            format!("Invalid string: {param} must be a string, not a hash or array"),
        )
    })
}

fn coerce(kind: &Kind, v: Value, param: &str) -> Result<Value, StripeError> {
    Ok(match kind {
        Kind::Str => Value::String(as_str(&v, param)?.to_owned()),
        Kind::Int => {
            let s = as_str(&v, param)?;
            let n: i64 = s
                .trim()
                .parse()
                .map_err(|_| StripeError::invalid_integer(param, s))?;
            Value::Number(Number::from(n))
        }
        Kind::Bool => match as_str(&v, param)? {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            s => return Err(StripeError::invalid_boolean(param, s)),
        },
        Kind::Enum(allowed) => {
            let s = as_str(&v, param)?;
            if !allowed.contains(&s) {
                return Err(StripeError::invalid_enum(param, s, allowed));
            }
            Value::String(s.to_owned())
        }
        Kind::Metadata => match v {
            Value::String(s) if s.is_empty() => Value::String(String::new()),
            Value::Object(m) => {
                if m.len() > 50 {
                    return Err(StripeError::invalid_param(
                        param,
                        "Invalid metadata: at most 50 keys are allowed".to_owned(),
                    ));
                }
                let mut out = Map::new();
                for (k, v) in m {
                    let s = as_str(&v, &join(param, &k))?;
                    if k.len() > 40 || s.len() > 500 {
                        return Err(StripeError::invalid_param(&join(param, &k), "Invalid metadata: keys can be at most 40 characters and values at most 500".to_owned()));
                    }
                    out.insert(k, Value::String(s.to_owned()));
                }
                Value::Object(out)
            }
            _ => {
                return Err(StripeError::invalid_param(
                    param,
                    format!("Invalid hash: {param} must be a hash"),
                ))
            }
        },
        Kind::Obj(spec) => match v {
            Value::Object(m) => Value::Object(check(spec, m, param)?),
            Value::String(s) if s.is_empty() => Value::Null,
            _ => {
                return Err(StripeError::invalid_param(
                    param,
                    format!("Invalid hash: {param} must be a hash"),
                ))
            }
        },
        Kind::Arr(inner, max) => match v {
            Value::Array(items) => {
                if items.len() > *max {
                    return Err(StripeError::invalid_param(
                        param,
                        format!("Invalid array: {param} must have at most {max} elements"),
                    ));
                }
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    out.push(coerce(inner, item, &format!("{param}[{i}]"))?);
                }
                Value::Array(out)
            }
            Value::String(s) if s.is_empty() => Value::Array(Vec::new()),
            _ => {
                return Err(StripeError::invalid_param(
                    param,
                    format!("Invalid array: {param} must be an array"),
                ))
            }
        },
        Kind::Range => match v {
            Value::Object(m) => Value::Object(check(RANGE_KEYS, m, param)?),
            other => coerce(&Kind::Int, other, param)?,
        },
    })
}

/// Checks `input` against `spec` (plus `expand[]`, allowed everywhere at the top level).
pub fn check(
    spec: &[P],
    mut input: Map<String, Value>,
    prefix: &str,
) -> Result<Map<String, Value>, StripeError> {
    let mut out = Map::new();
    if prefix.is_empty() {
        if let Some(expand) = input.remove("expand") {
            out.insert(
                "expand".into(),
                coerce(&Kind::Arr(&Kind::Str, 20), expand, "expand")?,
            );
        }
    }
    // Unknown first, in the order Stripe reports them: the first unknown name.
    let mut names: Vec<&String> = input.keys().collect();
    names.sort();
    if let Some(unknown) = names
        .into_iter()
        .find(|k| !spec.iter().any(|p| p.name == k.as_str()))
    {
        return Err(StripeError::unknown_param(&join(prefix, unknown)));
    }
    for p in spec {
        match input.remove(p.name) {
            Some(v) => {
                out.insert(
                    p.name.to_owned(),
                    coerce(&p.kind, v, &join(prefix, p.name))?,
                );
            }
            None if p.required => return Err(StripeError::missing_param(&join(prefix, p.name))),
            None => {}
        }
    }
    Ok(out)
}

/// A list request's parameters: the common ones (limit, cursors, created) and the endpoint's
/// own filters.
pub type ListParams = (Map<String, Value>, Map<String, Value>);

/// Checks a list request against the list parameters plus the endpoint's own filters.
pub fn check_list(filters: &[P], mut input: Map<String, Value>) -> Result<ListParams, StripeError> {
    let mut own = Map::new();
    for p in filters {
        if let Some(v) = input.remove(p.name) {
            own.insert(p.name.to_owned(), v);
        }
    }
    let own = check(filters, own, "")?;
    let common = check(LIST, input, "")?;
    Ok((common, own))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::decode;

    const SPEC: &[P] = &[
        req("currency", Kind::Str),
        opt("unit_amount", Kind::Int),
        opt("active", Kind::Bool),
        opt("metadata", Kind::Metadata),
        opt(
            "recurring",
            Kind::Obj(&[
                req("interval", Kind::Enum(&["day", "week", "month", "year"])),
                opt("interval_count", Kind::Int),
            ]),
        ),
        opt("lookup_keys", Kind::Arr(&Kind::Str, 10)),
    ];

    fn run(q: &str) -> Result<Map<String, Value>, StripeError> {
        check(SPEC, decode(q).unwrap(), "")
    }

    #[test]
    fn types_values() {
        let m = run(
            "currency=eur&unit_amount=4900&active=false&recurring[interval]=month&expand[]=product",
        )
        .unwrap();
        assert_eq!(m["unit_amount"], 4900);
        assert_eq!(m["active"], false);
        assert_eq!(m["recurring"]["interval"], "month");
        assert_eq!(m["expand"][0], "product");
    }

    #[test]
    fn stripes_errors_name_the_param() {
        let e = run("currency=eur&colour=red").unwrap_err();
        assert_eq!(
            (e.code, e.param.as_deref()),
            (Some("parameter_unknown"), Some("colour"))
        );
        assert_eq!(e.message, "Received unknown parameter: colour");
        let e = run("unit_amount=5").unwrap_err();
        assert_eq!(
            (e.code, e.param.as_deref()),
            (Some("parameter_missing"), Some("currency"))
        );
        let e = run("currency=eur&unit_amount=4.9").unwrap_err();
        assert_eq!(
            (e.code, e.param.as_deref()),
            (Some("parameter_invalid_integer"), Some("unit_amount"))
        );
        let e = run("currency=eur&recurring[interval]=fortnight").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("recurring[interval]"));
        let e = run("currency=eur&recurring[colour]=x").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("recurring[colour]"));
        let keys: String = (0..11).map(|i| format!("&lookup_keys[]=k{i}")).collect();
        let e = run(&format!("currency=eur{keys}")).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("lookup_keys"));
    }
}

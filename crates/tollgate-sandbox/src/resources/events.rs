//! The event log (`GET /v1/events`) and webhook endpoints, whose `whsec_` secret signs
//! deliveries.

use serde_json::{json, Value};

use super::{merge_metadata, s, Call};
use crate::error::StripeError;
use crate::listing;
use crate::params::{check, check_list, opt, req, Kind, P};
use crate::world::{template, World, API_VERSION};

pub fn list_events<'a>(w: &'a World, c: &Call) -> Result<crate::listing::Out<'a>, StripeError> {
    let (common, f) = check_list(
        &[
            opt("type", Kind::Str),
            opt("types", Kind::Arr(&Kind::Str, 20)),
            opt("delivery_success", Kind::Bool),
        ],
        c.params.clone(),
    )?;
    if f.contains_key("type") && f.contains_key("types") {
        return Err(StripeError::invalid_state(
            Some("types"),
            "You may only specify one of these parameters: type, types.".into(),
        ));
    }
    let matches = |pattern: &str, t: &str| match pattern.strip_suffix(".*") {
        Some(prefix) => t.starts_with(prefix) && t[prefix.len()..].starts_with('.'),
        None => pattern == t,
    };
    let types: Option<Vec<String>> = f
        .get("types")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .or_else(|| s(&f, "type").map(|t| vec![t.to_owned()]));
    listing::page(w, "event", &c.path, &common, |o| {
        let t = o["type"].as_str().unwrap_or_default();
        types
            .as_ref()
            .is_none_or(|ts| ts.iter().any(|p| matches(p, t)))
    })
}

const ENDPOINT_CREATE: &[P] = &[
    req("url", Kind::Str),
    req("enabled_events", Kind::Arr(&Kind::Str, 500)),
    opt("description", Kind::Str),
    opt("metadata", Kind::Metadata),
    opt("api_version", Kind::Str),
    opt("connect", Kind::Bool),
];

fn check_url(url: &str) -> Result<(), StripeError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
        return Err(StripeError::invalid_param(
            "url",
            format!("Invalid URL: {url}. URLs must begin with http:// or https://"),
        )
        .with_code("url_invalid"));
    }
    Ok(())
}

pub fn create_endpoint(w: &mut World, c: &Call) -> Result<Value, StripeError> {
    let p = check(ENDPOINT_CREATE, c.params.clone(), "")?;
    let url = s(&p, "url").unwrap_or_default();
    check_url(url)?;
    let events = p["enabled_events"].clone();
    if events.as_array().is_none_or(Vec::is_empty) {
        return Err(StripeError::missing_param("enabled_events"));
    }
    let id = w.new_id("we");
    let secret = format!("whsec_{}", &w.new_id("whsec")[6..]);
    let mut e = template("webhook_endpoint");
    e["id"] = json!(id);
    e["object"] = json!("webhook_endpoint");
    e["created"] = json!(w.now());
    e["url"] = json!(url);
    e["enabled_events"] = events;
    e["status"] = json!("enabled");
    e["livemode"] = json!(false);
    e["description"] = p.get("description").cloned().unwrap_or(Value::Null);
    e["api_version"] = p.get("api_version").cloned().unwrap_or(json!(API_VERSION));
    e["application"] = Value::Null;
    e["metadata"] = json!({});
    merge_metadata(&mut e, p.get("metadata"));
    w.endpoint_secrets.insert(id.clone(), secret.clone());
    let stored = w.insert(e);
    // Like Stripe, the secret is in the creation response only.
    let mut out = stored;
    out["secret"] = json!(secret);
    Ok(out)
}

pub fn update_endpoint(w: &mut World, c: &Call, id: &str) -> Result<Value, StripeError> {
    let p = check(
        &[
            opt("url", Kind::Str),
            opt("enabled_events", Kind::Arr(&Kind::Str, 500)),
            opt("disabled", Kind::Bool),
            opt("description", Kind::Str),
            opt("metadata", Kind::Metadata),
        ],
        c.params.clone(),
        "",
    )?;
    if let Some(url) = s(&p, "url") {
        check_url(url)?;
    }
    let e = w.find_mut(id, "webhook_endpoint", "webhook endpoint", Some("id"))?;
    for f in ["url", "enabled_events", "description"] {
        if let Some(v) = p.get(f) {
            e[f] = v.clone();
        }
    }
    if let Some(d) = p.get("disabled").and_then(Value::as_bool) {
        e["status"] = json!(if d { "disabled" } else { "enabled" });
    }
    merge_metadata(e, p.get("metadata"));
    Ok(e.clone())
}

pub fn delete_endpoint(w: &mut World, c: &Call, id: &str) -> Result<Value, StripeError> {
    check(&[], c.params.clone(), "")?;
    let e = w.find_mut(id, "webhook_endpoint", "webhook endpoint", Some("id"))?;
    e["deleted"] = json!(true);
    w.endpoint_secrets.remove(id);
    Ok(json!({ "id": id, "object": "webhook_endpoint", "deleted": true }))
}

pub fn list_endpoints<'a>(w: &'a World, c: &Call) -> Result<crate::listing::Out<'a>, StripeError> {
    let (common, _) = check_list(&[], c.params.clone())?;
    listing::page(w, "webhook_endpoint", &c.path, &common, |_| true)
}

//! The HTTP surface: authentication, Stripe's paths dispatched to the resource handlers,
//! Idempotency-Key replay, `expand[]`, request ids, event delivery, and the control routes.

use std::sync::Arc;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::listing::Out;
use crate::resources::{billing, catalog, customers, events, payments, Call};
use crate::webhooks::Delivery;
use crate::world::{IdempotentResponse, World};
use crate::{control, form, listing, State, StripeError};

pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/v1/{*rest}", any(v1))
        .route("/_sandbox/{*rest}", any(control::handle))
        .fallback(unrecognized)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(panic_guard())
        .with_state(state)
}

type PanicHandler = fn(Box<dyn std::any::Any + Send>) -> Response;

/// A bug must not drop the connection or leak a stack trace: Stripe's `api_error` instead.
pub(crate) fn panic_guard() -> tower_http::catch_panic::CatchPanicLayer<PanicHandler> {
    fn answer(_: Box<dyn std::any::Any + Send>) -> Response {
        tracing::error!("sandbox handler panicked");
        StripeError::api_error().into_response()
    }
    tower_http::catch_panic::CatchPanicLayer::custom(answer as PanicHandler)
}

/// Bearer auth (or Basic with the key as user name, as Stripe also accepts).
async fn authenticate(AxState(state): AxState<Arc<State>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            if let Some(token) = v.strip_prefix("Bearer ") {
                Some(token.trim().to_owned())
            } else {
                v.strip_prefix("Basic ").and_then(decode_basic_user)
            }
        });
    // The restricted twin of the secret key (`rk_…` for `sk_…`) may read, not write.
    let restricted = state
        .config
        .secret_key
        .strip_prefix("sk_")
        .map(|rest| format!("rk_{rest}"));
    match presented {
        None => StripeError::missing_api_key().into_response(),
        Some(key) if restricted.as_deref() == Some(key.as_str()) => {
            if req.method() == Method::GET {
                next.run(req).await
            } else {
                StripeError::read_only_key(&key, req.uri().path()).into_response()
            }
        }
        Some(key) if key != state.config.secret_key => {
            StripeError::invalid_api_key(&key).into_response()
        }
        Some(_) => next.run(req).await,
    }
}

fn decode_basic_user(b64: &str) -> Option<String> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    Some(s.split(':').next().unwrap_or_default().to_owned())
}

async fn unrecognized(method: Method, uri: Uri) -> StripeError {
    StripeError::unrecognized_url(method.as_str(), uri.path())
}

/// Query string and form body, merged (Stripe reads both).
pub(crate) fn request_params(uri: &Uri, body: &[u8]) -> Result<Map<String, Value>, StripeError> {
    let mut params = form::decode(uri.query().unwrap_or_default())?;
    if !body.is_empty() {
        let text = std::str::from_utf8(body).map_err(|_| {
            StripeError::invalid_param("body", "Invalid request body: not UTF-8".into())
        })?;
        if text.trim_start().starts_with('{') {
            return Err(StripeError::invalid_state(None, "Invalid request: Stripe's API takes form-encoded bodies (application/x-www-form-urlencoded), not JSON.".into()));
        }
        params.extend(form::decode(text)?);
    }
    Ok(params)
}

fn with_headers(mut res: Response, request_id: &str, replayed: bool) -> Response {
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("request-id", v);
    }
    h.insert(
        "stripe-version",
        HeaderValue::from_static(crate::world::API_VERSION),
    );
    if replayed {
        h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    res
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

async fn v1(
    AxState(state): AxState<Arc<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body: Bytes = match to_bytes(body, 8 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => {
            return StripeError::invalid_state(None, "Request body too large.".into())
                .into_response()
        }
    };
    // Stripe's limiter comes first, and answers without waiting for the world.
    state.requests.arrived(&method);
    if !state.limiter.admit() {
        state.requests.rate_limited();
        let n = state
            .unlocked_requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let request_id = crate::world::request_id(state.config.seed.name(), b"req-limited", n);
        let mut res = with_headers(
            StripeError::rate_limited().into_response(),
            &request_id,
            false,
        );
        res.headers_mut().insert(
            "stripe-rate-limited-reason",
            HeaderValue::from_static("global-rate"),
        );
        return res;
    }
    let idem_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut w = state.world.lock().await;
    let request_id = w.next_request_id();

    // Idempotency: the same key with the same request replays the first answer. Only POSTs
    // with a key need the request's fingerprint.
    let idempotent: Option<(String, String)> = idem_key
        .clone()
        .filter(|_| method == Method::POST)
        .map(|key| {
            // Stripe compares the parameters, not their order: clients that build the body
            // from a hash map (async-stripe's metadata) send the same request in any order.
            let mut pairs: Vec<&[u8]> = body.split(|b| *b == b'&').collect();
            pairs.sort_unstable();
            let mut h = Sha256::new()
                .chain_update(method.as_str())
                .chain_update(uri.path());
            for p in pairs {
                h.update(p);
                h.update(b"&");
            }
            (key, format!("{:x}", h.finalize()))
        });
    if let Some((key, fingerprint)) = &idempotent {
        if key.len() > 255 {
            return with_headers(
                StripeError::invalid_param(
                    "Idempotency-Key",
                    "Idempotency-Key must be at most 255 characters".into(),
                )
                .into_response(),
                &request_id,
                false,
            );
        }
        if let Some(prev) = w.idempotency.get(key) {
            if &prev.fingerprint != fingerprint {
                return with_headers(
                    StripeError::idempotency_mismatch(key).into_response(),
                    &request_id,
                    false,
                );
            }
            let status = StatusCode::from_u16(prev.status).unwrap_or(StatusCode::OK);
            return with_headers(json_response(status, prev.body.clone()), &request_id, true);
        }
    }

    // An injected fault answers instead, as Stripe would under load or contention.
    if let Some(status) = w.faults.pop_front() {
        state.requests.faulted();
        let e = match status {
            429 => StripeError::rate_limited(),
            409 => StripeError::conflict("This object cannot be accessed right now because another API request or Stripe process is currently accessing it.".into()),
            _ => StripeError::api_error(),
        };
        let mut res = with_headers(e.into_response(), &request_id, false);
        res.headers_mut()
            .insert("stripe-should-retry", HeaderValue::from_static("true"));
        return res;
    }
    let events_before = w.ids("event").len();
    let foreign = state.foreign.load(std::sync::atomic::Ordering::Relaxed);
    let shaped = crate::dialect::wanted(uri.path(), foreign);
    let result = params_and_dispatch(
        &mut w,
        &method,
        &uri,
        &body,
        idem_key.clone(),
        request_id.clone(),
    );
    let (status, body_text) = match result {
        Ok(out) if shaped => {
            let mut v = out.into_value();
            crate::dialect::shape(&mut v, foreign);
            (
                StatusCode::OK,
                serde_json::to_string(&v).unwrap_or_default(),
            )
        }
        Ok(out) => (
            StatusCode::OK,
            serde_json::to_string(&out).unwrap_or_default(),
        ),
        Err(e) => {
            let status = e.status;
            let res = e.into_response();
            let bytes = to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap_or_default();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        }
    };
    if let Some((key, fingerprint)) = idempotent {
        w.idempotency.insert(
            key,
            IdempotentResponse {
                fingerprint,
                status: status.as_u16(),
                body: body_text.clone(),
            },
        );
    }
    if method != Method::GET {
        queue_deliveries(&state, &w, events_before);
        state.mark_dirty();
    }
    drop(w);
    with_headers(json_response(status, body_text), &request_id, false)
}

/// Hands the events created since `from` to the deliverer, one delivery per event and
/// endpoint that wants it (the deliverer reads the event when it sends it).
pub(crate) fn queue_deliveries(state: &State, w: &World, from: usize) {
    for id in &w.ids("event")[from..] {
        let Some(ev) = w.objects.get(id) else {
            continue;
        };
        let t = ev["type"].as_str().unwrap_or_default();
        for (url, secret) in w.endpoints_for(t) {
            state.webhooks.queued();
            let _ = state.deliver.send(Delivery {
                url,
                secret,
                event_id: id.clone(),
            });
        }
    }
}

fn params_and_dispatch<'a>(
    w: &'a mut World,
    method: &Method,
    uri: &Uri,
    body: &[u8],
    idem: Option<String>,
    request_id: String,
) -> Result<Out<'a>, StripeError> {
    let mut params = request_params(uri, body)?;
    let expand: Vec<String> = match params.remove("expand") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| StripeError::invalid_param("expand", "Invalid array".into()))
            })
            .collect::<Result<_, _>>()?,
        Some(Value::String(s)) => vec![s],
        Some(_) => return Err(StripeError::invalid_param("expand", "Invalid array".into())),
    };
    let path = uri.path().to_owned();
    let call = Call {
        params,
        request_id,
        idempotency_key: idem,
        path: path.clone(),
    };
    let segs: Vec<&str> = path
        .trim_start_matches("/v1/")
        .trim_end_matches('/')
        .split('/')
        .collect();
    if let Some(list) = list_route(&segs).filter(|_| method == Method::GET) {
        {
            let page = list(w, &call)?;
            if expand.is_empty() {
                return Ok(page);
            }
            let value = page.into_value();
            return listing::expand(w, value, &expand).map(Out::Value);
        }
    }
    let out = dispatch(w, method, &segs, &call)?;
    listing::expand(w, out, &expand).map(Out::Value)
}

fn retrieve(w: &World, id: &str, object: &str, noun: &str, c: &Call) -> Result<Value, StripeError> {
    crate::params::check(&[], c.params.clone(), "")?;
    catalog::retrieve(w, id, object, noun)
}

type ListFn = for<'a> fn(&'a World, &Call) -> Result<Out<'a>, StripeError>;

/// The list routes: pages that borrow their items, serialized without copying them.
fn list_route(segs: &[&str]) -> Option<ListFn> {
    Some(match segs {
        ["accounts"] => payments::list_accounts,
        ["products"] => catalog::list_products,
        ["prices"] => catalog::list_prices,
        ["entitlements", "features"] => catalog::list_features,
        ["customers"] => customers::list,
        ["subscriptions"] => billing::list,
        ["invoices"] => billing::list_invoices,
        ["payment_intents"] => payments::list_intents,
        ["charges"] => payments::list_charges,
        ["refunds"] => payments::list_refunds,
        ["application_fees"] => payments::list_fees,
        ["transfers"] => payments::list_transfers,
        ["events"] => events::list_events,
        ["webhook_endpoints"] => events::list_endpoints,
        _ => return None,
    })
}

fn dispatch(w: &mut World, m: &Method, segs: &[&str], c: &Call) -> Result<Value, StripeError> {
    let (get, post, delete) = (m == Method::GET, m == Method::POST, m == Method::DELETE);
    match segs {
        ["account"] if get => Ok(crate::account_object(w)),
        ["accounts"] if post => payments::create_account(w, c),
        ["accounts", id] if get => retrieve(w, id, "account", "account", c),
        ["products"] if post => catalog::create_product(w, c),
        ["products", id] if get => retrieve(w, id, "product", "product", c),
        ["products", id] if post => catalog::update_product(w, c, id),
        ["products", id] if delete => catalog::delete_product(w, c, id),
        ["products", id, "features"] if get => catalog::list_product_features(w, c, id),
        ["products", id, "features"] if post => catalog::attach_feature(w, c, id),
        ["products", _, "features", fid] if get => {
            retrieve(w, fid, "product_feature", "product feature", c)
        }
        ["products", id, "features", fid] if delete => catalog::detach_feature(w, c, id, fid),
        ["prices"] if post => catalog::create_price(w, c),
        ["prices", id] if get => retrieve(w, id, "price", "price", c),
        ["prices", id] if post => catalog::update_price(w, c, id),
        ["entitlements", "features"] if post => catalog::create_feature(w, c),
        ["entitlements", "features", id] if get => {
            retrieve(w, id, "entitlements.feature", "feature", c)
        }
        ["entitlements", "features", id] if post => catalog::update_feature(w, c, id),
        ["entitlements", "active_entitlements"] if get => catalog::list_active_entitlements(w, c),
        ["customers"] if post => customers::create(w, c),
        ["customers", id] if get => retrieve(w, id, "customer", "customer", c),
        ["customers", id] if post => customers::update(w, c, id),
        ["customers", id] if delete => customers::delete(w, c, id),
        ["subscriptions"] if post => billing::create(w, c),
        ["subscriptions", id] if get => retrieve(w, id, "subscription", "subscription", c),
        ["subscriptions", id] if post => billing::update(w, c, id),
        ["subscriptions", id] if delete => billing::cancel(w, c, id),
        ["subscriptions", id, "resume"] if post => billing::resume(w, c, id),
        ["subscription_items"] if get => billing::list_items(w, c),
        ["subscription_items", id] if get => billing::retrieve_item(w, c, id),
        ["invoices", id] if get => retrieve(w, id, "invoice", "invoice", c),

        ["checkout", "sessions"] if get => billing::list_sessions(w, c),
        ["checkout", "sessions"] if post => billing::create_session(w, c),
        ["checkout", "sessions", id] if get => {
            retrieve(w, id, "checkout.session", "checkout.session", c)
                .map(|v| billing::public_session(&v))
        }
        ["checkout", "sessions", id, "expire"] if post => billing::expire_session(w, c, id),
        ["checkout", "sessions", id, "line_items"] if get => billing::session_line_items(w, c, id),
        ["payment_intents"] if post => payments::create_intent(w, c),
        ["payment_intents", id] if get => retrieve(w, id, "payment_intent", "payment_intent", c),
        ["payment_intents", id, "confirm"] if post => payments::confirm_intent(w, c, id),
        ["payment_intents", id, "cancel"] if post => payments::cancel_intent(w, c, id),
        ["charges", id] if get => retrieve(w, id, "charge", "charge", c),
        ["refunds"] if post => payments::create_refund(w, c),
        ["refunds", id] if get => retrieve(w, id, "refund", "refund", c),
        ["application_fees", id] if get => retrieve(w, id, "application_fee", "application fee", c),
        ["transfers", id] if get => retrieve(w, id, "transfer", "transfer", c),
        ["events", id] if get => retrieve(w, id, "event", "event", c),
        ["webhook_endpoints"] if post => events::create_endpoint(w, c),
        ["webhook_endpoints", id] if get => {
            retrieve(w, id, "webhook_endpoint", "webhook endpoint", c)
        }
        ["webhook_endpoints", id] if post => events::update_endpoint(w, c, id),
        ["webhook_endpoints", id] if delete => events::delete_endpoint(w, c, id),

        _ => Err(StripeError::unrecognized_url(m.as_str(), &c.path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_stripes_api_error() {
        let app: Router = Router::new()
            .route(
                "/boom",
                axum::routing::get(|| async {
                    if true {
                        panic!("bug");
                    }
                    "unreachable"
                }),
            )
            .layer(panic_guard());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let res = reqwest::get(format!("http://{addr}/boom")).await.unwrap();
        assert_eq!(res.status(), 500);
        let body: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
        assert_eq!(body["error"]["type"], "api_error");
        assert!(
            !body.to_string().contains("bug"),
            "no panic message or trace leaks"
        );
    }
}

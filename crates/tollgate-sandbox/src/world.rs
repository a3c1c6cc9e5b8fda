//! The sandbox's state: every object as Stripe's JSON, built from Stripe's own example of its
//! resource (fixtures/resources.json) so that each carries at least Stripe's keys with Stripe's
//! types; ids that are deterministic per seed; the sandbox clock; the event log; idempotency
//! records; and persistence to the data dir.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::error::StripeError;

static FIXTURES: &str = include_str!("../fixtures/resources.json");

/// The API version the sandbox speaks, as Stripe's events carry it.
pub const API_VERSION: &str = "2026-09-30.endive";

fn fixtures() -> &'static Map<String, Value> {
    static F: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    F.get_or_init(|| serde_json::from_str(FIXTURES).expect("fixtures/resources.json is JSON"))
}

/// A copy of Stripe's example of `resource` (its `object` name, e.g. `price`, `checkout.session`).
pub fn template(resource: &str) -> Value {
    fixtures()
        .get(resource)
        .cloned()
        .unwrap_or_else(|| panic!("no fixture for {resource}"))
}

/// What one idempotent POST answered, kept to replay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdempotentResponse {
    pub fingerprint: String,
    pub status: u16,
    pub body: String,
}

/// What a customer's next charge does (set through `/_sandbox/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentOutcome {
    Succeed,
    Fail,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct World {
    /// Every object by id.
    pub objects: HashMap<String, Value>,
    /// Ids by object type, oldest first (lists answer newest first).
    pub order: HashMap<String, Vec<String>>,
    /// Position of each id in its `order` list, for cursors.
    #[serde(skip)]
    pub position: HashMap<String, usize>,
    /// Subscription ids by customer, so a customer's entitlements need not scan them all.
    #[serde(skip)]
    pub subscriptions_by_customer: HashMap<String, Vec<String>>,
    /// Id counters per prefix; with the seed name they make ids deterministic.
    pub counters: HashMap<String, u64>,
    pub seed: String,
    /// Seconds added to the wall clock by `/_sandbox/clock/advance`.
    pub clock_offset: i64,
    /// A fixed "now" for deterministic seeding, when set.
    #[serde(skip)]
    pub frozen_now: Option<i64>,
    pub idempotency: HashMap<String, IdempotentResponse>,
    pub next_payment: HashMap<String, PaymentOutcome>,
    /// Lookup key -> price id.
    pub lookup_keys: HashMap<String, String>,
    /// Webhook endpoint id -> signing secret.
    pub endpoint_secrets: HashMap<String, String>,
    /// Request id counter, for `request.id` on events.
    pub requests: u64,
    /// While seeding: events older than this would be pruned at the end, so are not kept.
    #[serde(skip)]
    pub keep_events_from: Option<i64>,
    /// Injected failures: the next requests answer with these HTTP statuses, in order.
    #[serde(skip)]
    pub faults: std::collections::VecDeque<u16>,
    /// The platform account's name, as `GET /v1/account` reports it.
    #[serde(default)]
    pub account_name: String,
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn base62(digest: &[u8], len: usize) -> String {
    digest
        .iter()
        .take(len)
        .map(|b| BASE62[(*b as usize) % 62] as char)
        .collect()
}

/// An id that is a function of its parts alone (e.g. an entitlement of one customer and feature).
pub fn stable_id(prefix: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    format!("{prefix}_{}", base62(&h.finalize(), 24))
}

/// `req_` + 14 base62 characters, a function of the seed, a salt (a numbering of its own) and
/// a counter.
pub fn request_id(seed: &str, salt: &[u8], n: u64) -> String {
    let digest = Sha256::new()
        .chain_update(seed.as_bytes())
        .chain_update(salt)
        .chain_update(n.to_be_bytes())
        .finalize();
    format!("req_{}", base62(&digest, 14))
}

impl World {
    pub fn new(seed: &str) -> World {
        World {
            seed: seed.to_owned(),
            ..Default::default()
        }
    }

    pub fn now(&self) -> i64 {
        if let Some(t) = self.frozen_now {
            return t;
        }
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        wall + self.clock_offset
    }

    /// `prefix_` + 24 base62 characters, a function of the seed, the prefix and a counter.
    /// Moves time forward: the frozen clock while seeding, else the offset on the wall clock.
    pub fn advance(&mut self, seconds: i64) {
        match &mut self.frozen_now {
            Some(t) => *t += seconds,
            None => self.clock_offset += seconds,
        }
    }

    /// Forgets events older than Stripe keeps them (30 days).
    pub fn prune_events(&mut self) {
        let cutoff = self.now() - 30 * 86400;
        let Some(ids) = self.order.get("event").cloned() else {
            return;
        };
        let (old, keep): (Vec<String>, Vec<String>) = ids.into_iter().partition(|id| {
            self.objects
                .get(id)
                .and_then(|e| e["created"].as_i64())
                .is_some_and(|c| c < cutoff)
        });
        for id in &old {
            self.objects.remove(id);
        }
        self.order.insert("event".into(), keep);
        self.reindex();
    }

    pub fn new_id(&mut self, prefix: &str) -> String {
        let n = self.counters.entry(prefix.to_owned()).or_insert(0);
        *n += 1;
        let digest = Sha256::new()
            .chain_update(self.seed.as_bytes())
            .chain_update([0])
            .chain_update(prefix.as_bytes())
            .chain_update(n.to_be_bytes())
            .finalize();
        format!("{prefix}_{}", base62(&digest, 24))
    }

    pub fn get(&self, id: &str) -> Option<&Value> {
        self.objects.get(id)
    }

    /// The object, or Stripe's 404 for that noun and param.
    pub fn find(
        &self,
        id: &str,
        object: &str,
        noun: &str,
        param: Option<&str>,
    ) -> Result<&Value, StripeError> {
        match self.objects.get(id) {
            Some(v) if v["object"] == object && v.get("deleted") != Some(&Value::Bool(true)) => {
                Ok(v)
            }
            _ => Err(StripeError::resource_missing(noun, id, param)),
        }
    }

    pub fn find_mut(
        &mut self,
        id: &str,
        object: &str,
        noun: &str,
        param: Option<&str>,
    ) -> Result<&mut Value, StripeError> {
        match self.objects.get_mut(id) {
            Some(v) if v["object"] == object && v.get("deleted") != Some(&Value::Bool(true)) => {
                Ok(v)
            }
            _ => Err(StripeError::resource_missing(noun, id, param)),
        }
    }

    /// Stores a new object and indexes it under its `object` type; returns a copy.
    pub fn insert(&mut self, obj: Value) -> Value {
        let copy = obj.clone();
        self.store(obj);
        copy
    }

    /// Stores a new object and indexes it under its `object` type.
    pub fn store(&mut self, obj: Value) {
        let id = obj["id"].as_str().expect("object has an id").to_owned();
        let kind = obj["object"]
            .as_str()
            .expect("object has a type")
            .to_owned();
        if kind == "subscription" {
            if let Some(c) = obj["customer"].as_str() {
                self.subscriptions_by_customer
                    .entry(c.to_owned())
                    .or_default()
                    .push(id.clone());
            }
        }
        let list = self.order.entry(kind).or_default();
        self.position.insert(id.clone(), list.len());
        list.push(id.clone());
        self.objects.insert(id, obj);
    }

    pub fn put(&mut self, obj: Value) {
        let id = obj["id"].as_str().expect("object has an id").to_owned();
        self.objects.insert(id, obj);
    }

    /// Gives a just-created object another id (the demo seed uses the ids of the lookup-key
    /// design's own map), in its events and lookup keys too. Only for objects nothing else
    /// references yet.
    pub fn rename(&mut self, old: &str, new: &str) {
        let Some(mut obj) = self.objects.remove(old) else {
            return;
        };
        obj["id"] = Value::String(new.to_owned());
        let kind = obj["object"].as_str().unwrap_or_default().to_owned();
        self.objects.insert(new.to_owned(), obj.clone());
        if let Some(list) = self.order.get_mut(&kind) {
            for id in list.iter_mut().filter(|id| *id == old) {
                *id = new.to_owned();
            }
        }
        if let Some(pos) = self.position.remove(old) {
            self.position.insert(new.to_owned(), pos);
        }
        for holder in self.lookup_keys.values_mut().filter(|h| *h == old) {
            *holder = new.to_owned();
        }
        for id in self.ids("event").to_vec() {
            if let Some(e) = self.objects.get_mut(&id) {
                if e["data"]["object"]["id"] == old {
                    e["data"]["object"] = obj.clone();
                }
            }
        }
    }

    pub fn ids(&self, kind: &str) -> &[String] {
        self.order.get(kind).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn reindex(&mut self) {
        self.position.clear();
        self.subscriptions_by_customer.clear();
        for (kind, list) in &self.order {
            for (i, id) in list.iter().enumerate() {
                self.position.insert(id.clone(), i);
                if kind == "subscription" {
                    if let Some(c) = self.objects.get(id).and_then(|s| s["customer"].as_str()) {
                        self.subscriptions_by_customer
                            .entry(c.to_owned())
                            .or_default()
                            .push(id.clone());
                    }
                }
            }
        }
    }

    /// The customer's subscriptions, oldest first.
    pub fn subscriptions_of(&self, customer: &str) -> &[String] {
        self.subscriptions_by_customer
            .get(customer)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Records an event for a change, with the object as it now is (the API's handler hands
    /// the events a request made to the webhook deliverer).
    pub fn emit(
        &mut self,
        event_type: &str,
        object: &Value,
        previous: Option<Value>,
        request: Option<(&str, Option<&str>)>,
    ) {
        if self.keep_events_from.is_some_and(|from| self.now() < from) {
            // Seeding history Stripe would no longer show: no event to build.
            return;
        }
        self.record_event(event_type, object.clone(), previous, request);
    }

    /// [`World::emit`] for a stored object, by id (no copy of it but the event's own).
    pub fn emit_stored(
        &mut self,
        event_type: &str,
        id: &str,
        previous: Option<Value>,
        request: Option<(&str, Option<&str>)>,
    ) {
        if self.keep_events_from.is_some_and(|from| self.now() < from) {
            return;
        }
        let object = self.objects.get(id).cloned().unwrap_or(Value::Null);
        self.record_event(event_type, object, previous, request);
    }

    fn record_event(
        &mut self,
        event_type: &str,
        object: Value,
        previous: Option<Value>,
        request: Option<(&str, Option<&str>)>,
    ) {
        let mut ev = template("event");
        let id = self.new_id("evt");
        ev["id"] = json!(id);
        ev["type"] = json!(event_type);
        ev["created"] = json!(self.now());
        ev["api_version"] = json!(API_VERSION);
        ev["livemode"] = json!(false);
        // Moved in, not through `json!` (which would copy the object again by serializing it).
        let mut data = Map::new();
        data.insert("object".into(), object);
        if let Some(p) = previous {
            data.insert("previous_attributes".into(), p);
        }
        ev["data"] = Value::Object(data);
        ev["request"] = match request {
            Some((rid, key)) => json!({ "id": rid, "idempotency_key": key }),
            None => json!({ "id": null, "idempotency_key": null }),
        };
        let endpoints = self.endpoints_for(event_type).len();
        ev["pending_webhooks"] = json!(endpoints);
        self.store(ev);
    }

    /// Enabled webhook endpoints that want this event type: (url, secret).
    pub fn endpoints_for(&self, event_type: &str) -> Vec<(String, String)> {
        self.ids("webhook_endpoint")
            .iter()
            .filter_map(|id| self.objects.get(id))
            .filter(|e| e["status"] == "enabled" && e.get("deleted").is_none())
            .filter(|e| {
                e["enabled_events"]
                    .as_array()
                    .is_some_and(|evs| evs.iter().any(|x| x == "*" || x == event_type))
            })
            .filter_map(|e| {
                let secret = self.endpoint_secrets.get(e["id"].as_str()?)?;
                Some((e["url"].as_str()?.to_owned(), secret.clone()))
            })
            .collect()
    }

    pub fn next_request_id(&mut self) -> String {
        self.requests += 1;
        request_id(&self.seed, b"req", self.requests)
    }

    // ---- persistence -----------------------------------------------------------------------

    pub fn state_file(dir: &Path) -> PathBuf {
        dir.join("sandbox-state.json")
    }

    pub fn load(dir: &Path) -> std::io::Result<Option<World>> {
        let path = Self::state_file(dir);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut world: World = serde_json::from_slice(&bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        world.reindex();
        Ok(Some(world))
    }

    /// Writes the state atomically (temp file, then rename).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let path = Self::state_file(dir);
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_per_seed() {
        let mut a = World::new("demo");
        let mut b = World::new("demo");
        let mut c = World::new("other");
        let (x, y, z) = (a.new_id("cus"), b.new_id("cus"), c.new_id("cus"));
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert!(x.starts_with("cus_") && x.len() == 4 + 24);
        assert_ne!(a.new_id("cus"), x, "the counter moves");
    }

    #[test]
    fn every_template_is_an_object_with_an_object_name() {
        for (name, v) in fixtures() {
            assert!(v.is_object(), "{name}");
        }
        assert_eq!(template("price")["object"], "price");
    }
}

//! Progress and cancellation for long operations (catalog refresh, bulk lookup-key apply).
//! The operation updates a [`Progress`]; the window polls it by operation id and the CLI
//! prints it; either can cancel, which stops the operation between two steps.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Default)]
struct Inner {
    done: AtomicU64,
    total: AtomicU64,
    cancelled: AtomicBool,
    finished: AtomicBool,
    phase: Mutex<String>,
    /// What the operation waits for right now (Stripe's rate limit, a retry), if anything.
    note: Mutex<Option<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<Inner>);

/// A snapshot for the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ProgressView {
    pub phase: String,
    #[ts(type = "number")]
    pub done: u64,
    #[ts(type = "number")]
    pub total: u64,
    pub cancelled: bool,
    pub finished: bool,
    /// What it waits for right now: "waiting for Stripe's rate limit …", a retry.
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Progress {
    pub fn new() -> Self {
        Progress::default()
    }

    pub fn phase(&self, phase: impl Into<String>, total: u64) {
        *self.0.phase.lock().expect("progress lock") = phase.into();
        self.0.done.store(0, Ordering::Relaxed);
        self.0.total.store(total, Ordering::Relaxed);
    }

    pub fn step(&self) {
        self.0.done.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets how many steps are done (an operation that counts by itself).
    pub fn set_done(&self, done: u64) {
        self.0.done.store(done, Ordering::Relaxed);
    }

    pub fn set_total(&self, total: u64) {
        self.0.total.store(total, Ordering::Relaxed);
    }

    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::Relaxed)
    }

    pub fn finish(&self) {
        self.0.finished.store(true, Ordering::Relaxed);
    }

    pub fn view(&self) -> ProgressView {
        ProgressView {
            phase: self.0.phase.lock().expect("progress lock").clone(),
            done: self.0.done.load(Ordering::Relaxed),
            total: self.0.total.load(Ordering::Relaxed),
            cancelled: self.is_cancelled(),
            finished: self.0.finished.load(Ordering::Relaxed),
            note: self.0.note.lock().expect("progress lock").clone(),
        }
    }
}

impl crate::stripe::limit::Watch for Progress {
    fn cancelled(&self) -> bool {
        self.is_cancelled()
    }
    fn waiting(&self, why: Option<String>) {
        *self.0.note.lock().expect("progress lock") = why;
    }
}

/// Running operations by the id their caller chose (the UI generates one per click).
#[derive(Debug, Default)]
pub struct Operations(Mutex<HashMap<String, Progress>>);

impl Operations {
    /// Registers `id` (a fresh one replaces a finished one of the same name).
    pub fn start(&self, id: &str) -> Progress {
        let p = Progress::new();
        let mut map = self.0.lock().expect("operations lock");
        // Forget finished operations beyond the last few, so the map stays small.
        if map.len() > 64 {
            map.retain(|_, p| !p.view().finished);
        }
        map.insert(id.to_owned(), p.clone());
        p
    }

    pub fn get(&self, id: &str) -> Option<Progress> {
        self.0.lock().expect("operations lock").get(id).cloned()
    }
}

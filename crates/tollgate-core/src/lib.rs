#![recursion_limit = "256"]
//! Tollgate's engine. No Tauri here: the desktop shell and the CLI twin both call
//! [`console::Console`], which composes the pieces below.

pub mod access;
pub mod catalog;
pub mod console;
pub mod domain;
pub mod error;
pub mod ledger;
pub mod paths;
pub mod progress;
pub mod secrets;
pub mod store;
pub mod stripe;
pub mod sync;
pub mod testfire;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod who;

pub use console::Console;
pub use domain::environment::Environment;
pub use error::{ErrorBody, ErrorCode};

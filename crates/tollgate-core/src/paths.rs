//! Where Tollgate keeps its files: the OS app-data folder, one SQLite file per environment.
//! `TOLLGATE_DATA_DIR` moves it (tests always do, so none touches the real folder).

use std::path::PathBuf;

use crate::domain::Environment;

/// Must match `identifier` in tauri.conf.json, so the CLI and the window share a folder.
pub const APP_IDENTIFIER: &str = "dev.tollgate.desktop";

pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TOLLGATE_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(APP_IDENTIFIER)
}

pub fn sqlite_path(env: Environment) -> PathBuf {
    data_dir().join(format!("{}.sqlite3", env.as_str()))
}

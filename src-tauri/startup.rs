//! Start-up timing for `make bench`: with `TOLLGATE_STARTUP_PROBE=1` the app prints the time
//! from process start to the UI's first screen (the UI calls `ui_ready` once it has rendered),
//! then exits.

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

pub fn mark_process_start() {
    let _ = START.set(Instant::now());
}

pub fn ui_ready() {
    let Some(start) = START.get() else { return };
    let elapsed = start.elapsed();
    tracing::info!(ms = elapsed.as_millis() as u64, "first screen shown");
    if std::env::var_os("TOLLGATE_STARTUP_PROBE").is_some() {
        println!("first-screen-ms {}", elapsed.as_millis());
        let rss_kb = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .map(|l| l.to_owned())
            })
            .and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            });
        if let Some(kb) = rss_kb {
            println!("main-process-rss-kb {kb}");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        if std::env::var_os("TOLLGATE_STARTUP_PROBE_STAY").is_none() {
            std::process::exit(0);
        }
    }
}

/// `TOLLGATE_UI_PROBE=SCREEN[:INPUT]` (make bench): the app opens on SCREEN, which measures
/// itself and reports here; the app then exits. `plans:QUERY` types QUERY into the Plans
/// search a key at a time, timing frames; `commissions` times each kind of filter change on
/// the Commissions screen, from the change to the painted result.
pub fn ui_probe() -> Option<String> {
    std::env::var("TOLLGATE_UI_PROBE")
        .ok()
        .filter(|q| !q.is_empty())
}

pub fn ui_probe_report(report: &str) {
    if ui_probe().is_none() {
        return;
    }
    println!("ui-probe {report}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::exit(0);
}

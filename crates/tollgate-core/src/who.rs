//! Who is running Tollgate: the OS user, the host and the process. The audit log records the
//! user; a sync lease says who holds it; Postgres sessions carry all three as their
//! application name, so a wait on a lock can say whose it is.

/// The OS user, as the audit log records it.
pub fn os_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()))
        // Services and containers often set no USER: the home folder's name is the user's.
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(|h| {
                    std::path::Path::new(&h)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                })
                .filter(|n| !n.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// This machine's name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| {
            ["HOSTNAME", "COMPUTERNAME"]
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|h| !h.trim().is_empty()))
        })
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// Whether a process of this machine is alive: `None` where that cannot be told (no `/proc`,
/// or a `/proc` that hides other users' processes), so only a lease's expiry frees what such a
/// process held.
pub fn process_alive(pid: u32) -> Option<bool> {
    let proc = std::path::Path::new("/proc");
    // hidepid: pid 1 is invisible unless it is ours, and so may be the holder's.
    if !proc.join("self").exists() || !proc.join("1").exists() {
        return None;
    }
    // A zombie (killed, not yet reaped by its parent) holds nothing any more.
    Some(
        match std::fs::read_to_string(proc.join(pid.to_string()).join("stat")) {
            Ok(stat) => !stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
            Err(_) => false,
        },
    )
}

/// `tollgate USER@HOST pid N`: the Postgres application name of this process's sessions.
pub fn application_name() -> String {
    let s = format!(
        "tollgate {}@{} pid {}",
        os_user(),
        host_name(),
        std::process::id()
    );
    // Postgres keeps 63 bytes of it.
    s.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(63)
        .collect()
}

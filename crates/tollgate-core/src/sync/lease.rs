//! Leases: runs that would only duplicate each other's work coordinate across processes (two
//! desktop apps on one team Postgres, the CLI beside the app). A backfill with the events
//! cursor holds [`SYNC`]; reading changed objects holds [`SETTLE`]. The second run waits, and
//! says whose run it waits for: "another sync of this store is running, started by USER on
//! HOST at TIME".
//!
//! - **Postgres**: a session-level advisory lock, on a connection the lease keeps; a killed
//!   process's connection closes and frees it at once. The `sync_leases` row only says who.
//! - **SQLite**: the `sync_leases` row is the lock, taken under the store's write lock. On the
//!   holder's host it is free exactly when the holder no longer holds it: its process is gone,
//!   or (this process) the lease was dropped without being released. Seen from another host
//!   (a file on a share), or where processes cannot be told apart, it is free when its
//!   heartbeat, renewed every [`HEARTBEAT`], is older than [`EXPIRY`].
//!
//! Correctness never depends on a lease: every write is serialized by the store's write lock
//! and every derived row has a natural key. Leases save the duplicated Stripe reads.

use std::time::Duration;

use crate::store::lease::LeaseRow;
use crate::store::{now_seconds, Backend, Store, StoreError};

pub const SYNC: &str = "sync";
pub const SETTLE: &str = "settle";

pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// Long enough that a heartbeat held up behind a long write (a time-zone change over a
/// million ledger rows, a migration) is not taken for a dead holder.
pub const EXPIRY: Duration = Duration::from_secs(120);

/// The tokens of the leases this process holds now.
static LIVE: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<String>>> =
    std::sync::LazyLock::new(Default::default);

fn live(token: &str) -> bool {
    LIVE.lock().map(|l| l.contains(token)).unwrap_or(false)
}

fn set_live(token: &str, on: bool) {
    if let Ok(mut l) = LIVE.lock() {
        if on {
            l.insert(token.to_owned());
        } else {
            l.remove(token);
        }
    }
}
const POLL: Duration = Duration::from_millis(200);

/// Who holds a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub user: String,
    pub host: String,
    pub pid: i64,
    pub started_at: i64,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = chrono::DateTime::from_timestamp(self.started_at, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| self.started_at.to_string());
        write!(
            f,
            "started by {} on {} (pid {}) at {at}",
            self.user, self.host, self.pid
        )
    }
}

impl From<&LeaseRow> for Holder {
    fn from(r: &LeaseRow) -> Self {
        Holder {
            user: r.holder.clone(),
            host: r.host.clone(),
            pid: r.pid,
            started_at: r.started_at,
        }
    }
}

/// What [`acquire`] says when it has to wait, once per holder.
pub type OnWait<'a> = &'a (dyn Fn(&Holder) + Send + Sync);

/// A held lease. [`Lease::release`] lets it go; dropped without it, the heartbeat stops and
/// (Postgres) the lock's connection is closed, which frees it.
pub struct Lease {
    store: Store,
    name: &'static str,
    token: String,
    /// Waited for another run before it was taken: who that was.
    pub waited_for: Option<Holder>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
    conn: Option<sqlx::pool::PoolConnection<sqlx::Any>>,
}

impl Lease {
    pub async fn release(mut self) {
        set_live(&self.token, false);
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        if let Some(mut conn) = self.conn.take() {
            if self
                .store
                .advisory_unlock(&mut conn, self.name)
                .await
                .is_err()
            {
                // Closing the session frees the lock, so the pool never hands it on held.
                drop(conn.detach());
            }
        }
        if let Err(e) = self.store.drop_lease_row(self.name, &self.token).await {
            tracing::warn!(error = %e, lease = self.name, "lease row not removed (it expires)");
        }
    }
}

impl Drop for Lease {
    /// Not released (a cancelled run, a caught panic): the lease is freed all the same. Its
    /// token stops being live here (so this process's next run takes it at once), the
    /// Postgres session that holds the lock is closed, and the row is removed when a runtime
    /// is at hand.
    fn drop(&mut self) {
        let Some(h) = self.heartbeat.take() else {
            return; // released
        };
        h.abort();
        set_live(&self.token, false);
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (store, name, token) = (self.store.clone(), self.name, self.token.clone());
            rt.spawn(async move {
                let _ = store.drop_lease_row(name, &token).await;
            });
        }
    }
}

fn mine(name: &'static str, token: &str) -> LeaseRow {
    let now = now_seconds();
    LeaseRow {
        name: name.to_owned(),
        holder: crate::who::os_user(),
        host: crate::who::host_name(),
        pid: std::process::id() as i64,
        token: token.to_owned(),
        started_at: now,
        heartbeat_at: now,
    }
}

/// Whether a SQLite lease row no longer holds. On its own host: this process's row is free
/// when its lease is no longer live here, another process's when that process is gone (a
/// live holder keeps it however late its heartbeat). Otherwise: when it stopped beating.
fn is_free(row: &LeaseRow, now: i64, host: &str, alive: impl Fn(u32) -> Option<bool>) -> bool {
    let expired = now.saturating_sub(row.heartbeat_at) > EXPIRY.as_secs() as i64;
    if row.host != host {
        return expired;
    }
    if row.pid == std::process::id() as i64 {
        return !live(&row.token);
    }
    match u32::try_from(row.pid).ok().map(&alive) {
        Some(Some(alive)) => !alive,
        _ => expired,
    }
}

/// Takes lease `name`, waiting (and saying so through `on_wait`) while another run holds it.
/// `Ok(None)`: `cancel` said stop while waiting, or another run holds it and `wait` is false.
pub async fn acquire(
    store: &Store,
    name: &'static str,
    wait: bool,
    on_wait: OnWait<'_>,
    cancel: &(dyn Fn() -> bool + Send + Sync),
) -> Result<Option<Lease>, StoreError> {
    let token = uuid::Uuid::new_v4().to_string();
    let host = crate::who::host_name();
    let mut waited_for: Option<Holder> = None;
    loop {
        let got = match store.backend() {
            Backend::Postgres => match store.try_advisory_lock(name).await? {
                Some(conn) => match store.put_lease(&mine(name, &token)).await {
                    Ok(()) => Ok(Some(conn)),
                    Err(e) => {
                        // Never back into the pool holding the lock: close the session.
                        drop(conn.detach());
                        return Err(e);
                    }
                },
                None => Err(store.lease_row(name).await?),
            },
            Backend::Sqlite => {
                let now = now_seconds();
                match store
                    .take_lease_row(&mine(name, &token), |r| {
                        is_free(r, now, &host, crate::who::process_alive)
                    })
                    .await?
                {
                    Ok(()) => Ok(None),
                    Err(row) => Err(Some(row)),
                }
            }
        };
        match got {
            Ok(conn) => {
                set_live(&token, true);
                // Also on Postgres, where it only marks the lease as not yet released.
                let heartbeat = Some(tokio::spawn(beat(store.clone(), name, token.clone())));
                return Ok(Some(Lease {
                    store: store.clone(),
                    name,
                    token,
                    waited_for,
                    heartbeat,
                    conn,
                }));
            }
            Err(row) => {
                // Postgres: the row may lag the lock by a moment (or be a dead holder's).
                let holder = row.as_ref().map(Holder::from).unwrap_or(Holder {
                    user: "another session".into(),
                    host: "?".into(),
                    pid: 0,
                    started_at: now_seconds(),
                });
                if !wait {
                    tracing::info!(lease = name, %holder, "another run holds the lease; not waiting");
                    return Ok(None);
                }
                if waited_for.as_ref() != Some(&holder) {
                    tracing::info!(lease = name, %holder, "another run holds the lease; waiting");
                    on_wait(&holder);
                    waited_for = Some(holder);
                }
                if cancel() {
                    return Ok(None);
                }
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

async fn beat(store: Store, name: &'static str, token: String) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        if store.backend() == Backend::Postgres {
            continue; // the session's lock is the lease; the row only says who
        }
        match store.beat_lease(name, &token).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    lease = name,
                    "the lease was taken over (this process stalled past its expiry)"
                );
                return;
            }
            Err(e) => tracing::warn!(error = %e, lease = name, "lease heartbeat failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(host: &str, pid: i64, beat: i64) -> LeaseRow {
        LeaseRow {
            name: SYNC.into(),
            holder: "alice".into(),
            host: host.into(),
            pid,
            token: "t".into(),
            started_at: beat,
            heartbeat_at: beat,
        }
    }

    #[test]
    fn a_lease_is_free_exactly_when_its_holder_no_longer_holds_it() {
        let me = std::process::id() as i64;
        let alive = |_| Some(true);
        let dead = |_| Some(false);
        let unknown = |_| None;
        // Another process of this host: alive holds it however late its heartbeat.
        assert!(!is_free(&row("here", 4242, 1000), 100_000, "here", alive));
        assert!(
            is_free(&row("here", 4242, 1000), 1001, "here", dead),
            "its process is gone"
        );
        assert!(!is_free(&row("here", 4242, 1000), 1010, "here", unknown));
        assert!(
            is_free(&row("here", 4242, 1000), 1121, "here", unknown),
            "untellable: expiry"
        );
        // Another host: only the heartbeat tells.
        assert!(!is_free(&row("there", 4242, 1000), 1100, "here", dead));
        assert!(is_free(&row("there", 4242, 1000), 1121, "here", alive));
        // This process: held while the lease lives here, free once it was dropped.
        set_live("t", true);
        assert!(!is_free(&row("here", me, 1000), 100_000, "here", alive));
        set_live("t", false);
        assert!(is_free(&row("here", me, 1000), 1001, "here", alive));
        assert!(
            is_free(&row("here", -5, i64::MIN), 0, "here", alive),
            "no overflow"
        );
    }

    #[test]
    fn the_holder_says_who_where_and_when() {
        let h = Holder::from(&row("build-7", 42, 1_800_000_000));
        assert_eq!(
            h.to_string(),
            "started by alice on build-7 (pid 42) at 2027-01-15 08:00:00 UTC"
        );
    }
}

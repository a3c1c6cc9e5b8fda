//! `sync_leases`: who runs a sync of this store (see `crate::sync::lease`). SQL only.

use super::{Store, StoreError};

/// A lease row: who took it, where, and when it last said it was alive.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LeaseRow {
    pub name: String,
    pub holder: String,
    pub host: String,
    pub pid: i64,
    pub token: String,
    pub started_at: i64,
    pub heartbeat_at: i64,
}

const COLUMNS: &str = "name, holder, host, pid, token, started_at, heartbeat_at";

impl Store {
    /// Takes the lease row if `free` says the one there (if any) is free; otherwise returns
    /// the row that holds it. Read and written under the store's write lock.
    pub(crate) async fn take_lease_row(
        &self,
        mine: &LeaseRow,
        free: impl Fn(&LeaseRow) -> bool,
    ) -> Result<Result<(), LeaseRow>, StoreError> {
        let mut tx = self.write("sync lease: take").await?;
        let held: Option<LeaseRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM sync_leases WHERE name = $1"
        ))
        .bind(&mine.name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        if let Some(h) = held.filter(|h| !free(h)) {
            return Ok(Err(h));
        }
        self.put_lease_row(&mut tx, mine).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Writes the row whatever is there (Postgres: the advisory lock already decided).
    pub(crate) async fn put_lease(&self, mine: &LeaseRow) -> Result<(), StoreError> {
        let mut tx = self.append("sync lease: record").await?;
        self.put_lease_row(&mut tx, mine).await?;
        tx.commit().await
    }

    async fn put_lease_row(&self, tx: &mut super::Tx, r: &LeaseRow) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO sync_leases ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, host = excluded.host, pid = excluded.pid,
               token = excluded.token, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at"
        ))
        .bind(&r.name)
        .bind(&r.holder)
        .bind(&r.host)
        .bind(r.pid)
        .bind(&r.token)
        .bind(r.started_at)
        .bind(r.heartbeat_at)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub(crate) async fn lease_row(&self, name: &str) -> Result<Option<LeaseRow>, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM sync_leases WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.err(e))
    }

    /// Says the lease is still held; false when it is no longer this token's. The time is
    /// taken once the write lock is held, so a beat that waited is not already old.
    pub(crate) async fn beat_lease(&self, name: &str, token: &str) -> Result<bool, StoreError> {
        let mut tx = self.append("sync lease: heartbeat").await?;
        let now = super::now_seconds();
        let n =
            sqlx::query("UPDATE sync_leases SET heartbeat_at = $1 WHERE name = $2 AND token = $3")
                .bind(now)
                .bind(name)
                .bind(token)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?
                .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    pub(crate) async fn drop_lease_row(&self, name: &str, token: &str) -> Result<(), StoreError> {
        let mut tx = self.append("sync lease: release").await?;
        sqlx::query("DELETE FROM sync_leases WHERE name = $1 AND token = $2")
            .bind(name)
            .bind(token)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await
    }

    /// Postgres: a session-level advisory lock on a connection of its own, held until that
    /// connection unlocks it or goes away (a killed process frees it at once).
    pub(crate) async fn try_advisory_lock(
        &self,
        name: &str,
    ) -> Result<Option<sqlx::pool::PoolConnection<sqlx::Any>>, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(|e| self.err(e))?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(super::tx::ADVISORY_NAMESPACE)
            .bind(self.advisory_key(name))
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| self.err(e))?;
        Ok(got.then_some(conn))
    }

    pub(crate) async fn advisory_unlock(
        &self,
        conn: &mut sqlx::pool::PoolConnection<sqlx::Any>,
        name: &str,
    ) -> Result<(), StoreError> {
        let _: bool = sqlx::query_scalar("SELECT pg_advisory_unlock($1, $2)")
            .bind(super::tx::ADVISORY_NAMESPACE)
            .bind(self.advisory_key(name))
            .fetch_one(&mut **conn)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

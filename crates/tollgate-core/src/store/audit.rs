//! The audit log: who did what from this console. It never holds a secret, at most its mask.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{now_seconds, SendFuture, Store, StoreError};
use crate::domain::Environment;

#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub environment: Environment,
    /// The OS user who did it.
    pub actor: String,
    /// `desktop` or `cli`.
    pub surface: &'static str,
    pub action: &'static str,
    pub target: Option<String>,
    pub detail: serde_json::Value,
    /// The Stripe objects the action created or changed.
    pub stripe_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct AuditEntry {
    #[ts(type = "number")]
    pub id: i64,
    /// UTC seconds.
    #[ts(type = "number")]
    pub at: i64,
    pub environment: Environment,
    /// The OS user.
    pub actor: String,
    /// `desktop` or `cli`; absent on entries older than the column.
    pub surface: Option<String>,
    pub action: String,
    pub target: Option<String>,
    /// JSON.
    pub detail: String,
    pub stripe_ids: Vec<String>,
}

impl Store {
    pub fn append_audit<'a>(
        &'a self,
        entry: &'a NewAuditEntry,
    ) -> SendFuture<'a, Result<(), StoreError>> {
        Box::pin(self.append_audit_inner(entry))
    }

    async fn append_audit_inner(&self, entry: &NewAuditEntry) -> Result<(), StoreError> {
        let mut tx = self.append("audit").await?;
        sqlx::query(
            "INSERT INTO audit_log (at, environment, actor, surface, action, target, detail, stripe_ids) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(now_seconds())
        .bind(entry.environment.as_str())
        .bind(entry.actor.clone())
        .bind(entry.surface)
        .bind(entry.action)
        .bind(entry.target.clone())
        .bind(entry.detail.to_string())
        .bind(entry.stripe_ids.join(" "))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await
    }

    /// Newest first; `before` pages back from an entry id.
    pub fn recent_audit(
        &self,
        limit: i64,
        before: Option<i64>,
    ) -> SendFuture<'_, Result<Vec<AuditEntry>, StoreError>> {
        Box::pin(self.recent_audit_inner(limit, before))
    }

    async fn recent_audit_inner(
        &self,
        limit: i64,
        before: Option<i64>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        type Row = (
            i64,
            i64,
            String,
            String,
            Option<String>,
            String,
            Option<String>,
            String,
            String,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, at, environment, actor, surface, action, target, detail, stripe_ids FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(
                |(id, at, env, actor, surface, action, target, detail, ids)| {
                    let environment =
                        Environment::parse("environment", &env).map_err(|e| StoreError::Other {
                            location: self.location().to_owned(),
                            detail: format!("audit_log row {id}: {e}"),
                        })?;
                    Ok(AuditEntry {
                        id,
                        at,
                        environment,
                        actor,
                        surface,
                        action,
                        target,
                        detail,
                        stripe_ids: ids.split_whitespace().map(str::to_owned).collect(),
                    })
                },
            )
            .collect()
    }
}

//! The audit log: who did what from this console. It never holds a secret, at most its mask.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{now_seconds, SendFuture, Store, StoreError};
use crate::domain::Environment;

#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub environment: Environment,
    /// `desktop` or `cli`.
    pub actor: &'static str,
    pub action: &'static str,
    pub target: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct AuditEntry {
    #[ts(type = "number")]
    pub id: i64,
    /// UTC seconds.
    #[ts(type = "number")]
    pub at: i64,
    pub environment: Environment,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: String,
}

impl Store {
    pub fn append_audit<'a>(
        &'a self,
        entry: &'a NewAuditEntry,
    ) -> SendFuture<'a, Result<(), StoreError>> {
        Box::pin(self.append_audit_inner(entry))
    }

    async fn append_audit_inner(&self, entry: &NewAuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at, environment, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now_seconds())
        .bind(entry.environment.as_str())
        .bind(entry.actor)
        .bind(entry.action)
        .bind(entry.target.clone())
        .bind(entry.detail.to_string())
        .execute(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Newest first.
    pub async fn recent_audit(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<(i64, i64, String, String, String, Option<String>, String)> = sqlx::query_as(
            "SELECT id, at, environment, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(id, at, env, actor, action, target, detail)| {
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
                    action,
                    target,
                    detail,
                })
            })
            .collect()
    }
}

//! Targets: the value a unit or person should reach on a metric in a period.

use async_trait::async_trait;
use serde::Serialize;
use sqlx::Row;

use crate::{SqlError, SqlStore};

/// Who a target is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    Unit,
    Person,
}

impl ScopeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Unit => "unit",
            ScopeKind::Person => "person",
        }
    }

    fn parse(text: &str) -> Option<ScopeKind> {
        match text {
            "unit" => Some(ScopeKind::Unit),
            "person" => Some(ScopeKind::Person),
            _ => None,
        }
    }
}

/// One target: `metric` for `scope_kind`/`scope_id` in `period` (a period label such as
/// `2025`, `2025-Q1`, `2025-03`, or `*` for every period).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    pub metric: String,
    pub scope_kind: ScopeKind,
    pub scope_id: String,
    pub period: String,
    pub value: f64,
    /// RFC 3339, UTC.
    pub set_at: String,
}

/// Target storage, implemented by each SQL backend.
#[async_trait]
pub trait TargetStore: Send + Sync {
    /// Sets (inserting or replacing) the target of its metric, scope and period.
    async fn set_target(&self, target: &Target) -> Result<(), SqlError>;

    /// Every target, ordered by metric, scope and period.
    async fn targets(&self) -> Result<Vec<Target>, SqlError>;

    /// Removes one target; whether it existed.
    async fn remove_target(
        &self,
        metric: &str,
        scope_kind: ScopeKind,
        scope_id: &str,
        period: &str,
    ) -> Result<bool, SqlError>;
}

#[async_trait]
impl TargetStore for SqlStore {
    async fn set_target(&self, target: &Target) -> Result<(), SqlError> {
        sqlx::query(
            "INSERT INTO targets (metric, scope_kind, scope_id, period, value, set_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (metric, scope_kind, scope_id, period) \
             DO UPDATE SET value = excluded.value, set_at = excluded.set_at",
        )
        .bind(target.metric.clone())
        .bind(target.scope_kind.as_str())
        .bind(target.scope_id.clone())
        .bind(target.period.clone())
        .bind(target.value)
        .bind(target.set_at.clone())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn targets(&self) -> Result<Vec<Target>, SqlError> {
        let rows = sqlx::query(
            "SELECT metric, scope_kind, scope_id, period, value, set_at FROM targets \
             ORDER BY metric, scope_kind, scope_id, period",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get(1)?;
                Ok(Target {
                    metric: row.try_get(0)?,
                    scope_kind: ScopeKind::parse(&kind)
                        .ok_or_else(|| SqlError::Corrupt(format!("targets.scope_kind {kind:?}")))?,
                    scope_id: row.try_get(2)?,
                    period: row.try_get(3)?,
                    value: row.try_get(4)?,
                    set_at: row.try_get(5)?,
                })
            })
            .collect()
    }

    async fn remove_target(
        &self,
        metric: &str,
        scope_kind: ScopeKind,
        scope_id: &str,
        period: &str,
    ) -> Result<bool, SqlError> {
        let done = sqlx::query(
            "DELETE FROM targets WHERE metric = $1 AND scope_kind = $2 AND scope_id = $3 AND period = $4",
        )
        .bind(metric.to_owned())
        .bind(scope_kind.as_str())
        .bind(scope_id.to_owned())
        .bind(period.to_owned())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

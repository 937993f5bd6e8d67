//! Sign-in state: local users with their role and scope, browser sessions, API tokens for
//! machines, and the audit log. Secrets are stored only as hashes made above this layer
//! (argon2id for passwords, SHA-256 for random session and token secrets).

use async_trait::async_trait;
use cxm_domain::AccessRole;
use serde::Serialize;
use sqlx::Row;

use crate::{SqlError, SqlStore};

/// A local user. The role decides what they may do; `person_id` (their record in
/// `people`) decides whose contacts are theirs, and for leads and managers which unit
/// they lead, from their memberships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Lowercase sign-in name.
    pub username: String,
    pub display_name: String,
    pub role: AccessRole,
    pub person_id: Option<String>,
    /// The unit a lead or manager is responsible for, when set explicitly (otherwise
    /// their current membership's unit).
    pub unit_id: Option<String>,
    pub disabled: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// A user with the hash of their password, for signing in.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    /// PHC string (argon2id).
    pub password_hash: String,
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Send records to the ingest endpoints.
    Ingest,
    /// Read metrics and records as an analyst.
    Read,
}

impl TokenScope {
    pub const ALL: [TokenScope; 2] = [TokenScope::Ingest, TokenScope::Read];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Ingest => "ingest",
            TokenScope::Read => "read",
        }
    }

    pub fn parse(text: &str) -> Option<TokenScope> {
        TokenScope::ALL
            .into_iter()
            .find(|scope| scope.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// An API token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    /// Public part of the token (`cxm_<id>_<secret>`), unique.
    pub id: String,
    pub name: String,
    pub scope: TokenScope,
    pub created_by: String,
    pub created_at: String,
    pub revoked: bool,
}

/// A signed-in browser session.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    /// The session's CSRF token, required on every form it posts.
    pub csrf: String,
    pub expires_at: String,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub at: String,
    /// Username, `token:<id>` or `cli`.
    pub actor: String,
    /// `sign-in`, `sign-in-failed`, `sign-out`, `ingest`, `role-change`, `export`, …
    pub action: String,
    pub detail: String,
}

/// Accounts, sessions, tokens and the audit log, implemented by each SQL backend.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Adds a user; [`SqlError::Conflict`] when the name is taken.
    async fn add_user(&self, user: &User, password_hash: &str) -> Result<(), SqlError>;
    /// Every user, by name.
    async fn users(&self) -> Result<Vec<User>, SqlError>;
    async fn credentials(&self, username: &str) -> Result<Option<Credentials>, SqlError>;
    /// Changes a user's role and explicit unit; whether the user exists.
    async fn set_role(
        &self,
        username: &str,
        role: AccessRole,
        unit_id: Option<&str>,
    ) -> Result<bool, SqlError>;
    /// Disables or re-enables a user; disabling ends their sessions. Whether they exist.
    async fn set_disabled(&self, username: &str, disabled: bool) -> Result<bool, SqlError>;
    async fn set_password(&self, username: &str, password_hash: &str) -> Result<bool, SqlError>;

    async fn create_session(
        &self,
        secret_hash: &str,
        username: &str,
        csrf: &str,
        created_at: &str,
        expires_at: &str,
    ) -> Result<(), SqlError>;
    /// The live session with this secret hash at `now` (RFC 3339), if its user is enabled.
    async fn session(&self, secret_hash: &str, now: &str) -> Result<Option<Session>, SqlError>;
    async fn delete_session(&self, secret_hash: &str) -> Result<(), SqlError>;
    /// Removes sessions that expired before `now`; how many.
    async fn purge_sessions(&self, now: &str) -> Result<u64, SqlError>;

    async fn create_token(&self, token: &ApiToken, secret_hash: &str) -> Result<(), SqlError>;
    /// A token that is not revoked, with its secret hash.
    async fn live_token(&self, id: &str) -> Result<Option<(ApiToken, String)>, SqlError>;
    async fn tokens(&self) -> Result<Vec<ApiToken>, SqlError>;
    async fn revoke_token(&self, id: &str) -> Result<bool, SqlError>;

    async fn audit(&self, entry: &AuditEntry) -> Result<(), SqlError>;
    /// The latest `limit` entries, newest first.
    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, SqlError>;
}

const USER_COLUMNS: &str =
    "u.username, u.display_name, u.role, u.person_id, u.unit_id, u.disabled, u.created_at";

fn user_of(row: &sqlx::any::AnyRow) -> Result<User, SqlError> {
    let role: String = row.try_get(2)?;
    Ok(User {
        username: row.try_get(0)?,
        display_name: row.try_get(1)?,
        role: AccessRole::parse("role", &role)
            .map_err(|_| SqlError::Corrupt(format!("users.role {role:?}")))?,
        person_id: row.try_get(3)?,
        unit_id: row.try_get(4)?,
        disabled: row.try_get::<i64, _>(5)? != 0,
        created_at: row.try_get(6)?,
    })
}

fn token_of(row: &sqlx::any::AnyRow) -> Result<ApiToken, SqlError> {
    let scope: String = row.try_get(2)?;
    Ok(ApiToken {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        scope: TokenScope::parse(&scope)
            .ok_or_else(|| SqlError::Corrupt(format!("api_tokens.scope {scope:?}")))?,
        created_by: row.try_get(3)?,
        created_at: row.try_get(4)?,
        revoked: row.try_get::<i64, _>(5)? != 0,
    })
}

/// A unique-key violation on insert becomes a conflict naming what was taken.
fn on_unique(error: sqlx::Error, what: String) -> SqlError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => SqlError::Conflict(what),
        _ => SqlError::Database(error),
    }
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn add_user(&self, user: &User, password_hash: &str) -> Result<(), SqlError> {
        sqlx::query(
            "INSERT INTO users (username, display_name, role, person_id, unit_id, disabled, \
             created_at, password_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(user.username.clone())
        .bind(user.display_name.clone())
        .bind(user.role.as_str())
        .bind(user.person_id.clone())
        .bind(user.unit_id.clone())
        .bind(i64::from(user.disabled))
        .bind(user.created_at.clone())
        .bind(password_hash.to_owned())
        .execute(self.pool())
        .await
        .map_err(|e| on_unique(e, format!("user {} exists already", user.username)))?;
        Ok(())
    }

    async fn users(&self) -> Result<Vec<User>, SqlError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u ORDER BY u.username"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(user_of).collect()
    }

    async fn credentials(&self, username: &str) -> Result<Option<Credentials>, SqlError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.username = $1"
        ))
        .bind(username.to_owned())
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(Credentials {
                user: user_of(&row)?,
                password_hash: row.try_get(7)?,
            })
        })
        .transpose()
    }

    async fn set_role(
        &self,
        username: &str,
        role: AccessRole,
        unit_id: Option<&str>,
    ) -> Result<bool, SqlError> {
        let done = sqlx::query("UPDATE users SET role = $1, unit_id = $2 WHERE username = $3")
            .bind(role.as_str())
            .bind(unit_id.map(str::to_owned))
            .bind(username.to_owned())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_disabled(&self, username: &str, disabled: bool) -> Result<bool, SqlError> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("UPDATE users SET disabled = $1 WHERE username = $2")
            .bind(i64::from(disabled))
            .bind(username.to_owned())
            .execute(&mut *tx)
            .await?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE username = $1")
                .bind(username.to_owned())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_password(&self, username: &str, password_hash: &str) -> Result<bool, SqlError> {
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE username = $2")
            .bind(password_hash.to_owned())
            .bind(username.to_owned())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_session(
        &self,
        secret_hash: &str,
        username: &str,
        csrf: &str,
        created_at: &str,
        expires_at: &str,
    ) -> Result<(), SqlError> {
        sqlx::query(
            "INSERT INTO sessions (secret_hash, username, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(secret_hash.to_owned())
        .bind(username.to_owned())
        .bind(csrf.to_owned())
        .bind(created_at.to_owned())
        .bind(expires_at.to_owned())
        .execute(self.pool())
        .await
        .map_err(|e| on_unique(e, "session exists already".to_owned()))?;
        Ok(())
    }

    async fn session(&self, secret_hash: &str, now: &str) -> Result<Option<Session>, SqlError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, s.csrf, s.expires_at FROM sessions s \
             JOIN users u ON u.username = s.username \
             WHERE s.secret_hash = $1 AND s.expires_at > $2 AND u.disabled = 0"
        ))
        .bind(secret_hash.to_owned())
        .bind(now.to_owned())
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(Session {
                user: user_of(&row)?,
                csrf: row.try_get(7)?,
                expires_at: row.try_get(8)?,
            })
        })
        .transpose()
    }

    async fn delete_session(&self, secret_hash: &str) -> Result<(), SqlError> {
        sqlx::query("DELETE FROM sessions WHERE secret_hash = $1")
            .bind(secret_hash.to_owned())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn purge_sessions(&self, now: &str) -> Result<u64, SqlError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now.to_owned())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    async fn create_token(&self, token: &ApiToken, secret_hash: &str) -> Result<(), SqlError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, name, scope, created_by, created_at, revoked, \
             secret_hash) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token.id.clone())
        .bind(token.name.clone())
        .bind(token.scope.as_str())
        .bind(token.created_by.clone())
        .bind(token.created_at.clone())
        .bind(i64::from(token.revoked))
        .bind(secret_hash.to_owned())
        .execute(self.pool())
        .await
        .map_err(|e| on_unique(e, format!("token {} exists already", token.id)))?;
        Ok(())
    }

    async fn live_token(&self, id: &str) -> Result<Option<(ApiToken, String)>, SqlError> {
        let row = sqlx::query(
            "SELECT id, name, scope, created_by, created_at, revoked, secret_hash \
             FROM api_tokens WHERE id = $1 AND revoked = 0",
        )
        .bind(id.to_owned())
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| Ok((token_of(&row)?, row.try_get(6)?)))
            .transpose()
    }

    async fn tokens(&self) -> Result<Vec<ApiToken>, SqlError> {
        let rows = sqlx::query(
            "SELECT id, name, scope, created_by, created_at, revoked FROM api_tokens \
             ORDER BY created_at, id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(token_of).collect()
    }

    async fn revoke_token(&self, id: &str) -> Result<bool, SqlError> {
        let done = sqlx::query("UPDATE api_tokens SET revoked = 1 WHERE id = $1 AND revoked = 0")
            .bind(id.to_owned())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn audit(&self, entry: &AuditEntry) -> Result<(), SqlError> {
        sqlx::query("INSERT INTO audit_log (at, actor, action, detail) VALUES ($1, $2, $3, $4)")
            .bind(entry.at.clone())
            .bind(entry.actor.clone())
            .bind(entry.action.clone())
            .bind(entry.detail.clone())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, SqlError> {
        let rows = sqlx::query(
            "SELECT at, actor, action, detail FROM audit_log ORDER BY entry_id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    at: row.try_get(0)?,
                    actor: row.try_get(1)?,
                    action: row.try_get(2)?,
                    detail: row.try_get(3)?,
                })
            })
            .collect()
    }
}

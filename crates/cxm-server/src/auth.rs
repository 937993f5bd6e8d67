//! Who is asking: passwords (argon2id), browser sessions (a random secret in an HttpOnly
//! cookie, stored as its SHA-256), API tokens for machines (`cxm_<id>_<secret>`, stored
//! hashed, shown once), CSRF tokens for forms, and login throttling.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use chrono::{SecondsFormat, Utc};
use cxm_sql::{AccountStore, ApiToken, AuditEntry, TokenScope, User};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{ApiError, AppState};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "cxm_session";
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Now, as stored: RFC 3339 in UTC with microseconds (sorts as text).
pub fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// 32 random bytes as hex.
pub fn random_secret() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(ApiError::internal)?;
    Ok(hex::encode(bytes))
}

/// SHA-256 of a high-entropy secret, as hex (session and token secrets; passwords use
/// argon2id).
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Hashes a password with argon2id (a PHC string), off the async threads.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::BadRequest(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(ApiError::internal)?;
        let salt = SaltString::encode_b64(&salt).map_err(ApiError::internal)?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Whether `password` matches the stored hash, off the async threads.
pub async fn verify_password(hash: String, password: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(ApiError::internal)?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(ApiError::internal)?
}

/// Checks a password against an argon2id hash of nothing in particular, so that signing
/// in as an unknown user takes as long as a wrong password.
pub async fn spend_like_a_verification() {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = match DUMMY.get() {
        Some(hash) => hash.clone(),
        None => match hash_password("not a real password".into()).await {
            Ok(hash) => DUMMY.get_or_init(|| hash).clone(),
            Err(_) => return,
        },
    };
    let _ = verify_password(hash, "still not it".into()).await;
}

/// A new API token: the full text to show once, and what was stored.
pub struct NewToken {
    pub text: String,
    pub token: ApiToken,
}

/// Creates (and stores) an API token for `scope`.
pub async fn create_token(
    store: &dyn AccountStore,
    name: &str,
    scope: TokenScope,
    created_by: &str,
) -> Result<NewToken, ApiError> {
    let id = random_secret()?[..16].to_owned();
    let secret = random_secret()?;
    let token = ApiToken {
        id: id.clone(),
        name: name.to_owned(),
        scope,
        created_by: created_by.to_owned(),
        created_at: now_text(),
        revoked: false,
    };
    store.create_token(&token, &secret_hash(&secret)).await?;
    Ok(NewToken {
        text: format!("cxm_{id}_{secret}"),
        token,
    })
}

/// Who a request comes from.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A signed-in person, with their session's CSRF token.
    User { user: User, csrf: String },
    /// A machine with an API token.
    Token(ApiToken),
}

impl Principal {
    /// Name for the audit log.
    pub fn actor(&self) -> String {
        match self {
            Principal::User { user, .. } => user.username.clone(),
            Principal::Token(token) => format!("token:{}", token.id),
        }
    }

    /// The signed-in user; tokens are refused.
    pub fn user(&self) -> Result<&User, ApiError> {
        match self {
            Principal::User { user, .. } => Ok(user),
            Principal::Token(_) => Err(ApiError::Forbidden(
                "this needs a signed-in user, not an API token".into(),
            )),
        }
    }

    /// Whether the principal may read metrics and records (tokens need the read scope).
    pub fn may_read(&self) -> Result<(), ApiError> {
        match self {
            Principal::User { .. } => Ok(()),
            Principal::Token(token) if token.scope == TokenScope::Read => Ok(()),
            Principal::Token(_) => Err(ApiError::Forbidden(
                "this token may only ingest; reading needs a token with scope read".into(),
            )),
        }
    }
}

/// The value of cookie `name` in a request's headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The principal of a request, if it carries a valid token or session.
pub async fn principal(parts: &Parts, state: &AppState) -> Result<Option<Principal>, ApiError> {
    let store = state.store();
    if let Some(bearer) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        let Some((id, secret)) = bearer
            .trim()
            .strip_prefix("cxm_")
            .and_then(|rest| rest.split_once('_'))
        else {
            return Ok(None);
        };
        let Some((token, stored)) = store.live_token(id).await? else {
            return Ok(None);
        };
        let given = secret_hash(secret);
        if bool::from(given.as_bytes().ct_eq(stored.as_bytes())) {
            return Ok(Some(Principal::Token(token)));
        }
        return Ok(None);
    }
    let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let session = store.session(&secret_hash(secret), &now_text()).await?;
    Ok(session.map(|session| Principal::User {
        user: session.user,
        csrf: session.csrf,
    }))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        principal(parts, state)
            .await?
            .ok_or(ApiError::Unauthenticated)
    }
}

/// Whether a submitted CSRF token matches the session's.
pub fn csrf_matches(expected: &str, given: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// Records an audit entry; a failure to record is logged, not fatal to the request.
pub async fn audit(state: &AppState, actor: &str, action: &str, detail: String) {
    let entry = AuditEntry {
        at: now_text(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        detail,
    };
    if let Err(error) = state.store().audit(&entry).await {
        tracing::error!(%error, action, "audit entry not recorded");
    }
}

/// Failed sign-ins per key (user name, client address): after [`Throttle::LIMIT`]
/// failures within [`Throttle::WINDOW`], further attempts wait until the window ends.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    pub const LIMIT: u32 = 5;
    pub const WINDOW: Duration = Duration::from_secs(15 * 60);

    /// Refuses when any key is locked out.
    pub fn check(&self, keys: &[String]) -> Result<(), ApiError> {
        let Ok(mut failures) = self.failures.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        failures.retain(|_, (_, since)| now.duration_since(*since) < Self::WINDOW);
        for key in keys {
            if let Some((count, since)) = failures.get(key)
                && *count >= Self::LIMIT
            {
                let left = Self::WINDOW.saturating_sub(now.duration_since(*since));
                return Err(ApiError::TooManyRequests {
                    retry_after_seconds: left.as_secs().max(1),
                });
            }
        }
        Ok(())
    }

    pub fn failed(&self, keys: &[String]) {
        if let Ok(mut failures) = self.failures.lock() {
            let now = Instant::now();
            for key in keys {
                failures.entry(key.clone()).or_insert((0, now)).0 += 1;
            }
        }
    }

    pub fn succeeded(&self, keys: &[String]) {
        if let Ok(mut failures) = self.failures.lock() {
            for key in keys {
                failures.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_verify_only_themselves() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password(hash.clone(), "correct horse".into())
                .await
                .unwrap()
        );
        assert!(!verify_password(hash, "correct horsf".into()).await.unwrap());
        assert!(matches!(
            hash_password("short".into()).await,
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn throttle_locks_out_after_the_limit_and_a_success_clears_it() {
        let throttle = Throttle::default();
        let keys = vec!["user:ana".to_owned()];
        for _ in 0..Throttle::LIMIT {
            assert!(throttle.check(&keys).is_ok());
            throttle.failed(&keys);
        }
        assert!(matches!(
            throttle.check(&keys),
            Err(ApiError::TooManyRequests { .. })
        ));
        assert!(throttle.check(&["user:bo".to_owned()]).is_ok());
        throttle.succeeded(&keys);
        assert!(throttle.check(&keys).is_ok());
    }

    #[test]
    fn secrets_are_random_and_hashes_stable() {
        let a = random_secret().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_secret().unwrap());
        assert_eq!(secret_hash("x"), secret_hash("x"));
        assert_ne!(secret_hash("x"), secret_hash("y"));
    }
}

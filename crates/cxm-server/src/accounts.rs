//! Managing local users: adding one (checked against the org tree and people), and the
//! demo's one user per role.

use cxm_catalog::DataDir;
use cxm_domain::AccessRole;
use cxm_metrics::Organisation;
use cxm_sql::{AccountStore, AuditEntry, SqlError, User};

use crate::ApiError;
use crate::auth::{hash_password, now_text};
use crate::scope::Scope;

/// Records an action taken outside the server (the CLI) in the audit log.
pub async fn audit_cli(
    store: &dyn AccountStore,
    action: &str,
    detail: String,
) -> Result<(), ApiError> {
    store
        .audit(&AuditEntry {
            at: now_text(),
            actor: "cli".into(),
            action: action.into(),
            detail,
        })
        .await?;
    Ok(())
}

/// A user to add.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub role: AccessRole,
    pub person: Option<String>,
    pub unit: Option<String>,
    pub name: Option<String>,
    pub password: String,
}

/// A valid user name: lowercase letters, digits and `. - _ @`.
pub fn normalise_username(name: &str) -> Result<String, ApiError> {
    let username = name.trim().to_lowercase();
    if username.is_empty()
        || username.len() > 64
        || !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
    {
        return Err(ApiError::BadRequest(format!(
            "user name {name:?}: use 1 to 64 letters, digits and . - _ @"
        )));
    }
    Ok(username)
}

/// Adds a user after checking that their person and unit exist and that the role has
/// what its scope needs (an agent a person; a lead or manager a unit or a person).
pub async fn add_user(
    store: &dyn AccountStore,
    org: &Organisation,
    new: NewUser,
) -> Result<User, ApiError> {
    let username = normalise_username(&new.username)?;
    let person_name = match &new.person {
        Some(id) => match org.person(id) {
            Some((name, _)) => Some(name.to_owned()),
            None => {
                return Err(ApiError::NotFound(format!(
                    "no person {id} in the people table"
                )));
            }
        },
        None => None,
    };
    if let Some(unit) = &new.unit
        && org.unit(unit).is_none()
    {
        return Err(ApiError::NotFound(format!("no org unit {unit}")));
    }
    if new.role == AccessRole::Agent && new.person.is_none() {
        return Err(ApiError::BadRequest(
            "an agent needs a person: their contacts are the ones they handled".into(),
        ));
    }
    if matches!(new.role, AccessRole::Lead | AccessRole::Manager)
        && new.person.is_none()
        && new.unit.is_none()
    {
        return Err(ApiError::BadRequest(format!(
            "a {} needs a unit or a person (whose current unit they lead)",
            new.role
        )));
    }
    let user = User {
        display_name: new.name.or(person_name).unwrap_or_else(|| username.clone()),
        username,
        role: new.role,
        person_id: new.person,
        unit_id: new.unit,
        disabled: false,
        created_at: now_text(),
    };
    let hash = hash_password(new.password).await?;
    store.add_user(&user, &hash).await?;
    audit_cli(
        store,
        "user-add",
        format!("{} as {}", user.username, user.role),
    )
    .await?;
    Ok(user)
}

/// One demo sign-in.
#[derive(Debug, Clone)]
pub struct DemoSignIn {
    pub username: String,
    pub password: String,
    pub role: AccessRole,
    pub person: Option<String>,
    /// What they see, in words.
    pub sees: String,
}

/// Creates one demo user per role (`demo-<role>`, password `cxm-demo-<role>`), linked to
/// people of the organisation: an agent, a team lead and a site manager with current
/// memberships. Existing demo users get their password, role and access back.
pub async fn demo_users(dir: &DataDir) -> Result<Vec<DemoSignIn>, ApiError> {
    let store = dir.reference().await.map_err(ApiError::internal)?;
    let org = Organisation::load_structure(&store).await?;
    let mut made = Vec::new();
    // One chain of command: the demo agent works in the demo lead's team, whose site the
    // demo manager runs (so an agent's idea or case reaches both of them).
    let lead = pick(&org, "lead", Some("team"), None);
    let team = lead.as_deref().and_then(|l| org.current_unit_of(l));
    let site = team
        .and_then(|t| org.unit(t))
        .and_then(|t| t.parent.clone());
    for role in AccessRole::ALL.iter().copied() {
        let person = match role {
            AccessRole::Agent => pick(&org, "agent", Some("team"), team),
            AccessRole::Lead => lead.clone(),
            AccessRole::Manager => pick(&org, "manager", Some("site"), site.as_deref()),
            AccessRole::Executive => pick(&org, "executive", None, None),
            AccessRole::Analyst => pick(&org, "analyst", None, None),
            AccessRole::Admin => None,
        };
        if matches!(
            role,
            AccessRole::Agent | AccessRole::Lead | AccessRole::Manager
        ) && person.is_none()
        {
            return Err(ApiError::BadRequest(format!(
                "the organisation has no {role} with a current unit"
            )));
        }
        let username = format!("demo-{role}");
        let password = format!("cxm-demo-{role}");
        let user = User {
            username: username.clone(),
            display_name: person
                .as_deref()
                .and_then(|p| org.person(p))
                .map_or_else(|| format!("Demo {role}"), |(name, _)| name.to_owned()),
            role,
            person_id: person.clone(),
            unit_id: None,
            disabled: false,
            created_at: now_text(),
        };
        let hash = hash_password(password.clone()).await?;
        match store.add_user(&user, &hash).await {
            Ok(()) => {}
            Err(SqlError::Conflict(_)) => {
                store.set_password(&username, &hash).await?;
                store.set_disabled(&username, false).await?;
                store.set_role(&username, role, None).await?;
            }
            Err(other) => return Err(other.into()),
        }
        let sees = match Scope::of_user(&user, &org) {
            Scope::All => "everything".to_owned(),
            Scope::Subtree { unit } => format!("unit {unit} and everything below it"),
            Scope::Own { person, team } => format!(
                "their own contacts ({person}) and aggregates of team {}",
                team.as_deref().unwrap_or("-")
            ),
            Scope::Nothing { reason } => reason,
        };
        made.push(DemoSignIn {
            username,
            password,
            role,
            person,
            sees,
        });
    }
    audit_cli(&store, "demo-users", format!("{} demo users", made.len())).await?;
    store.close().await;
    Ok(made)
}

/// The first person (by id) of `role` with a current unit, preferring one whose unit is at
/// `level`.
/// The first person of `role` (by id) currently in unit `within` if any is, else at
/// `level`, else anywhere.
fn pick(
    org: &Organisation,
    role: &str,
    level: Option<&str>,
    within: Option<&str>,
) -> Option<String> {
    let mut candidates: Vec<&str> = org
        .people()
        .filter(|(id, _, r)| *r == role && org.current_unit_of(id).is_some())
        .map(|(id, _, _)| id)
        .collect();
    candidates.sort_unstable();
    if let Some(unit) = within
        && let Some(id) = candidates
            .iter()
            .find(|id| org.current_unit_of(id) == Some(unit))
    {
        return Some((*id).to_owned());
    }
    let at_level = |id: &&&str| {
        level.is_none_or(|level| {
            org.current_unit_of(id)
                .and_then(|u| org.unit(u))
                .is_some_and(|u| u.level == level)
        })
    };
    candidates
        .iter()
        .find(at_level)
        .or_else(|| candidates.first())
        .map(|id| (*id).to_owned())
}

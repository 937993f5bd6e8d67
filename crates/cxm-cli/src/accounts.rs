//! `cxm users` and `cxm tokens`: local accounts and API tokens, and the demo's sign-ins.

use clap::Subcommand;
use cxm_catalog::DataDir;
use cxm_domain::AccessRole;
use cxm_sql::{AccountStore, TokenScope};

fn parse_role(text: &str) -> Result<AccessRole, String> {
    AccessRole::parse("role", text).map_err(|e| e.to_string())
}

fn parse_scope(text: &str) -> Result<TokenScope, String> {
    TokenScope::parse(text).ok_or_else(|| format!("scope {text:?}: expected ingest or read"))
}

#[derive(Subcommand)]
pub enum UserAction {
    /// Add a user; the password is read from CXM_PASSWORD or asked for on the terminal.
    Add {
        username: String,
        /// agent, lead, manager, executive, analyst or admin.
        #[arg(long, value_parser = parse_role)]
        role: AccessRole,
        /// Their person id in the people table (whose contacts are theirs; a lead's or
        /// manager's unit is their current membership's unless --unit is given).
        #[arg(long)]
        person: Option<String>,
        /// The unit a lead or manager is responsible for.
        #[arg(long)]
        unit: Option<String>,
        /// The name shown [default: the person's name, else the user name].
        #[arg(long)]
        name: Option<String>,
    },
    /// List users.
    List,
    /// Change a user's role (and the unit a lead or manager is responsible for).
    SetRole {
        username: String,
        #[arg(long, value_parser = parse_role)]
        role: AccessRole,
        #[arg(long)]
        unit: Option<String>,
    },
    /// Disable a user (ends their sessions).
    Disable { username: String },
    /// Enable a disabled user again.
    Enable { username: String },
    /// Set a new password (from CXM_PASSWORD or the terminal).
    Passwd { username: String },
}

#[derive(Subcommand)]
pub enum TokenAction {
    /// Create an API token; it is printed once and stored only as a hash.
    Create {
        /// What the token is for (shown in lists and the audit log).
        #[arg(long)]
        name: String,
        /// ingest (send records) or read (metrics and records, as an analyst).
        #[arg(long, value_parser = parse_scope)]
        scope: TokenScope,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

fn password_from_env_or_terminal() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("CXM_PASSWORD") {
        return Ok(password);
    }
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("set CXM_PASSWORD or run on a terminal to enter the password");
    }
    eprint!("password: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn audit(store: &dyn AccountStore, action: &str, detail: String) -> anyhow::Result<()> {
    cxm_server::accounts::audit_cli(store, action, detail)
        .await
        .map_err(|e| anyhow::anyhow!(e.public_message()))
}

pub async fn users(dir: &DataDir, action: UserAction) -> anyhow::Result<()> {
    match action {
        UserAction::Add {
            username,
            role,
            person,
            unit,
            name,
        } => {
            let password = password_from_env_or_terminal()?;
            let store = dir.reference().await?;
            let org = cxm_metrics::Organisation::load_structure(&store).await?;
            let new = cxm_server::accounts::NewUser {
                username,
                role,
                person,
                unit,
                name,
                password,
            };
            let user = cxm_server::accounts::add_user(&store, &org, new)
                .await
                .map_err(|e| anyhow::anyhow!(e.public_message()))?;
            println!("added {} ({})", user.username, user.role);
        }
        UserAction::List => {
            let store = dir.reference().await?;
            println!(
                "{:<20} {:<10} {:<12} {:<12} {:<8} name",
                "user", "role", "person", "unit", "status"
            );
            for user in store.users().await? {
                println!(
                    "{:<20} {:<10} {:<12} {:<12} {:<8} {}",
                    user.username,
                    user.role,
                    user.person_id.as_deref().unwrap_or("-"),
                    user.unit_id.as_deref().unwrap_or("-"),
                    if user.disabled { "disabled" } else { "active" },
                    user.display_name
                );
            }
        }
        UserAction::SetRole {
            username,
            role,
            unit,
        } => {
            let store = dir.reference().await?;
            if let Some(unit) = &unit {
                let org = cxm_metrics::Organisation::load_structure(&store).await?;
                if org.unit(unit).is_none() {
                    anyhow::bail!("no org unit {unit}");
                }
            }
            let username = username.trim().to_lowercase();
            if !store.set_role(&username, role, unit.as_deref()).await? {
                anyhow::bail!("no user {username}");
            }
            audit(&store, "role-change", format!("{username} to {role}")).await?;
            println!("{username} is now {role}");
        }
        UserAction::Disable { username } => set_disabled(dir, &username, true).await?,
        UserAction::Enable { username } => set_disabled(dir, &username, false).await?,
        UserAction::Passwd { username } => {
            let store = dir.reference().await?;
            let password = password_from_env_or_terminal()?;
            let hash = cxm_server::auth::hash_password(password)
                .await
                .map_err(|e| anyhow::anyhow!(e.public_message()))?;
            let username = username.trim().to_lowercase();
            if !store.set_password(&username, &hash).await? {
                anyhow::bail!("no user {username}");
            }
            audit(&store, "password-change", username.clone()).await?;
            println!("password of {username} changed");
        }
    }
    Ok(())
}

async fn set_disabled(dir: &DataDir, username: &str, disabled: bool) -> anyhow::Result<()> {
    let store = dir.reference().await?;
    let username = username.trim().to_lowercase();
    if !store.set_disabled(&username, disabled).await? {
        anyhow::bail!("no user {username}");
    }
    let action = if disabled {
        "user-disable"
    } else {
        "user-enable"
    };
    audit(&store, action, username.clone()).await?;
    println!(
        "{username} {}",
        if disabled { "disabled" } else { "enabled" }
    );
    Ok(())
}

pub async fn tokens(dir: &DataDir, action: TokenAction) -> anyhow::Result<()> {
    let store = dir.reference().await?;
    match action {
        TokenAction::Create { name, scope } => {
            let created = cxm_server::auth::create_token(&store, &name, scope, "cli")
                .await
                .map_err(|e| anyhow::anyhow!(e.public_message()))?;
            audit(
                &store,
                "token-create",
                format!("{} ({})", created.token.id, scope.as_str()),
            )
            .await?;
            eprintln!("token {} created; it is shown only now:", created.token.id);
            println!("{}", created.text);
        }
        TokenAction::List => {
            println!(
                "{:<18} {:<8} {:<8} {:<28} name",
                "id", "scope", "status", "created"
            );
            for token in store.tokens().await? {
                println!(
                    "{:<18} {:<8} {:<8} {:<28} {}",
                    token.id,
                    token.scope.as_str(),
                    if token.revoked { "revoked" } else { "active" },
                    token.created_at,
                    token.name
                );
            }
        }
        TokenAction::Revoke { id } => {
            if !store.revoke_token(&id).await? {
                anyhow::bail!("no active token {id}");
            }
            audit(&store, "token-revoke", id.clone()).await?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}

/// Prints the latest audit entries, newest first.
pub async fn audit_log(dir: &DataDir, limit: u32) -> anyhow::Result<()> {
    let store = dir.reference().await?;
    for entry in store.audit_log(limit).await? {
        println!(
            "{}  {:<20} {:<18} {}",
            entry.at, entry.actor, entry.action, entry.detail
        );
    }
    store.close().await;
    Ok(())
}

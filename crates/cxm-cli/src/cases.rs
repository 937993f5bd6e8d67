//! `cxm alerts`, `cxm rules` and `cxm cases`: evaluating alert rules, editing them, and
//! working follow-up cases from the command line.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use cxm_catalog::DataDir;
use cxm_domain::cases::{AlertRule, CaseStatus};
use cxm_sql::{CaseChange, CaseFilter, CaseStore};

use crate::Format;

#[derive(Subcommand)]
pub(crate) enum AlertAction {
    /// Evaluate every enabled rule and open the cases they call for (ingest does this by
    /// itself after storing contacts or survey answers).
    Run {
        /// Only records from this day on, YYYY-MM-DD (UTC) [default: all records].
        #[arg(long)]
        since: Option<chrono::NaiveDate>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum RuleAction {
    /// Every rule, enabled or not.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Add or replace a rule from a JSON file (see `cxm rules list --format json`).
    Set {
        file: PathBuf,
    },
    Enable {
        rule_id: String,
    },
    Disable {
        rule_id: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum CaseAction {
    /// Cases, most urgent first.
    List {
        /// Only these statuses (comma-separated) [default: open,in_progress].
        #[arg(long, value_delimiter = ',', value_parser = parse_status)]
        status: Vec<CaseStatus>,
        /// Only this owner's (person id).
        #[arg(long)]
        owner: Option<String>,
        /// Only this unit's.
        #[arg(long)]
        unit: Option<String>,
        #[arg(long)]
        rule: Option<String>,
        #[arg(long)]
        customer: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// One case and its timeline.
    Show {
        case_id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Change a case: status, note, root cause, outcome or owner. `--version` is the
    /// version you read (`cases show`); a change on an older copy is refused.
    Update {
        case_id: i64,
        #[arg(long)]
        version: i64,
        /// in_progress, resolved, closed, or open (reopen).
        #[arg(long, value_parser = parse_status)]
        status: Option<CaseStatus>,
        #[arg(long)]
        note: Option<String>,
        /// A topic code of the taxonomy.
        #[arg(long)]
        root_cause: Option<String>,
        #[arg(long)]
        reached: Option<bool>,
        #[arg(long)]
        fixed: Option<bool>,
        /// A new owner (person id).
        #[arg(long)]
        owner: Option<String>,
        /// Who is acting, for the timeline.
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// How cases are handled: time to first action and to close, SLA met, re-contacts
    /// after closure.
    Metrics {
        /// owner, unit, rule or all.
        #[arg(long, default_value = "owner", value_parser = cxm_loop::case_metrics::CaseGrouping::parse)]
        by: cxm_loop::case_metrics::CaseGrouping,
        /// Cases opened from this UTC day on.
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        /// Days after closing in which a contact is a re-contact.
        #[arg(long, default_value_t = 7)]
        recontact_days: u32,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// Rows as a table (columns two spaces apart) or as CSV (quoted where needed).
pub(crate) fn print_rows(
    format: Format,
    header: &[&str],
    rows: &[Vec<String>],
) -> anyhow::Result<()> {
    if matches!(format, Format::Csv) {
        let mut out = csv::Writer::from_writer(std::io::stdout().lock());
        out.write_record(header)?;
        for row in rows {
            out.write_record(row)?;
        }
        out.flush()?;
    } else {
        println!("{}", header.join("  "));
        for row in rows {
            println!("{}", row.join("  "));
        }
    }
    Ok(())
}

fn parse_status(text: &str) -> Result<CaseStatus, String> {
    CaseStatus::parse("status", text).map_err(|e| e.reason)
}

pub(crate) async fn alerts(path: &Path, action: AlertAction) -> anyhow::Result<()> {
    let dir = DataDir::open(path)?;
    match action {
        AlertAction::Run { since, json } => {
            let since = since
                .and_then(|day| day.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc());
            let run = cxm_loop::evaluate(&dir, &cxm_loop::Scope::since(since), chrono::Utc::now())
                .await?;
            if json {
                println!("{}", serde_json::to_string(&run)?);
            } else {
                print_run(&run);
            }
        }
    }
    Ok(())
}

pub(crate) fn print_run(run: &cxm_loop::AlertRun) {
    for rule in &run.rules {
        println!(
            "rule {}: {} matches, {} cases opened",
            rule.rule_id, rule.firings, rule.opened
        );
        if let Some(note) = &rule.note {
            println!("  note: {note}");
        }
    }
    println!("alerts: {} cases opened", run.opened);
}

pub(crate) async fn rules(path: &Path, action: RuleAction) -> anyhow::Result<()> {
    let dir = DataDir::open(path)?;
    let store = dir.reference().await?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    store.seed_rules(&AlertRule::defaults(), &now).await?;
    match action {
        RuleAction::List { format } => {
            let rules = store.rules().await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&rules)?),
                Format::Table | Format::Csv => {
                    let rows: Vec<Vec<String>> = rules
                        .into_iter()
                        .map(|stored| {
                            let rule = stored.rule;
                            vec![
                                rule.rule_id.clone(),
                                rule.enabled.to_string(),
                                rule.priority.to_string(),
                                rule.sla_hours().to_string(),
                                rule.cooldown_days.to_string(),
                                rule.max_age_days
                                    .map_or_else(|| "any".to_owned(), |d| d.to_string()),
                                rule.condition.describe(),
                            ]
                        })
                        .collect();
                    print_rows(
                        format,
                        &[
                            "rule_id",
                            "enabled",
                            "priority",
                            "sla_hours",
                            "cooldown_days",
                            "max_age_days",
                            "watches",
                        ],
                        &rows,
                    )?;
                }
            }
        }
        RuleAction::Set { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let rule: AlertRule = serde_json::from_str(&text)
                .with_context(|| format!("{} is not an alert rule", file.display()))?;
            rule.validate()
                .map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.reason))?;
            store.set_rule(&rule, "cli", &now).await?;
            println!("rule {} saved", rule.rule_id);
        }
        RuleAction::Enable { rule_id } => set_enabled(&store, &rule_id, true, &now).await?,
        RuleAction::Disable { rule_id } => set_enabled(&store, &rule_id, false, &now).await?,
    }
    store.close().await;
    Ok(())
}

async fn set_enabled(
    store: &cxm_sql::SqlStore,
    rule_id: &str,
    enabled: bool,
    now: &str,
) -> anyhow::Result<()> {
    let Some(stored) = store
        .rules()
        .await?
        .into_iter()
        .find(|stored| stored.rule.rule_id == rule_id)
    else {
        anyhow::bail!("there is no rule {rule_id:?} (see `cxm rules list`)");
    };
    let rule = AlertRule {
        enabled,
        ..stored.rule
    };
    store.set_rule(&rule, "cli", now).await?;
    println!(
        "rule {rule_id} {}",
        if enabled { "enabled" } else { "disabled" }
    );
    Ok(())
}

pub(crate) async fn cases(path: &Path, action: CaseAction) -> anyhow::Result<()> {
    let dir = DataDir::open(path)?;
    match action {
        CaseAction::Metrics {
            by,
            from,
            to,
            recontact_days,
            format,
        } => {
            let request = cxm_loop::case_metrics::CaseMetricsRequest {
                filter: CaseFilter::default(),
                by,
                from,
                to,
                recontact_days,
                now: chrono::Utc::now(),
            };
            let rows = cxm_loop::case_metrics::case_metrics(&dir, &request).await?;
            if matches!(format, Format::Json) {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                let number = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.1}"));
                let share = |e: Option<cxm_domain::stats::Estimate>| {
                    e.map_or_else(String::new, |e| {
                        format!("{:.1}% of {}", e.value * 100.0, e.n)
                    })
                };
                let table: Vec<Vec<String>> = rows
                    .into_iter()
                    .map(|m| {
                        vec![
                            m.group,
                            m.opened.to_string(),
                            number(m.first_action_hours_median),
                            number(m.close_hours_median),
                            share(m.sla_met),
                            share(m.recontacted),
                        ]
                    })
                    .collect();
                print_rows(
                    format,
                    &[
                        "group",
                        "opened",
                        "first_action_hours_median",
                        "close_hours_median",
                        "sla_met",
                        "recontacted",
                    ],
                    &table,
                )?;
            }
        }
        CaseAction::List {
            status,
            owner,
            unit,
            rule,
            customer,
            limit,
            format,
        } => {
            let store = dir.reference().await?;
            let statuses = if status.is_empty() {
                vec![CaseStatus::Open, CaseStatus::InProgress]
            } else {
                status
            };
            let units = match unit {
                Some(unit) => {
                    let org = cxm_metrics::Organisation::load_structure(&store).await?;
                    if org.unit(&unit).is_none() {
                        anyhow::bail!("there is no unit {unit:?}");
                    }
                    Some(org.subtree(&unit).map(|u| u.id.clone()).collect())
                }
                None => None,
            };
            let filter = CaseFilter {
                statuses,
                owner_id: owner,
                units,
                rule_id: rule,
                customer_id: customer,
                limit: limit.max(1),
                ..Default::default()
            };
            let (cases, total) = store.listed_cases(&filter).await?;
            store.close().await;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&cases)?),
                Format::Table | Format::Csv => {
                    let rows: Vec<Vec<String>> = cases
                        .iter()
                        .map(|case| {
                            vec![
                                case.case_id.to_string(),
                                case.status.to_string(),
                                case.priority.to_string(),
                                case.due_at.clone(),
                                case.rule_id.clone(),
                                case.customer_id.clone(),
                                case.owner_id.clone().unwrap_or_default(),
                                case.unit_id.clone().unwrap_or_default(),
                            ]
                        })
                        .collect();
                    print_rows(
                        format,
                        &[
                            "case_id",
                            "status",
                            "priority",
                            "due_at",
                            "rule_id",
                            "customer_id",
                            "owner_id",
                            "unit_id",
                        ],
                        &rows,
                    )?;
                    if matches!(format, Format::Table) && total > cases.len() as u64 {
                        println!("({} of {total} shown; raise --limit for more)", cases.len());
                    }
                }
            }
        }
        CaseAction::Show { case_id, json } => {
            let store = dir.reference().await?;
            let found = store.case(case_id).await?;
            store.close().await;
            let Some((case, events)) = found else {
                anyhow::bail!("there is no case {case_id}");
            };
            if json {
                let value = serde_json::json!({ "case": case, "timeline": events });
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!(
                    "case {} ({}, {} priority, version {}): {}",
                    case.case_id, case.status, case.priority, case.version, case.summary
                );
                println!(
                    "customer {}  agent {}  unit {}  owner {}  due {}",
                    case.customer_id,
                    case.agent_id.as_deref().unwrap_or("-"),
                    case.unit_id.as_deref().unwrap_or("-"),
                    case.owner_id.as_deref().unwrap_or("-"),
                    case.due_at
                );
                for event in events {
                    let moved = match (&event.from_status, &event.to_status) {
                        (Some(from), Some(to)) => format!(" {from} → {to}"),
                        (None, Some(to)) => format!(" → {to}"),
                        _ => String::new(),
                    };
                    println!(
                        "  {} {} {}{moved} {}",
                        event.at, event.actor, event.kind, event.note
                    );
                }
            }
        }
        CaseAction::Update {
            case_id,
            version,
            status,
            note,
            root_cause,
            reached,
            fixed,
            owner,
            actor,
        } => {
            let change = CaseChange {
                version,
                status,
                note,
                root_cause,
                customer_reached: reached,
                issue_fixed: fixed,
                owner_id: owner,
            };
            let case =
                cxm_loop::update_case(&dir, case_id, &change, &actor, chrono::Utc::now()).await?;
            println!(
                "case {} is {} (version {})",
                case.case_id, case.status, case.version
            );
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub(crate) enum WebhookAction {
    /// Every webhook with its deliveries so far.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Add or change a webhook. Events are posted as JSON, signed with the secret (see
    /// docs/cases.md for the headers and how a receiver checks them).
    Set {
        webhook_id: String,
        #[arg(long)]
        url: String,
        /// case.opened and/or case.updated (comma-separated).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "case.opened,case.updated"
        )]
        events: Vec<String>,
        /// The signing secret (16 to 256 printable ASCII characters): required for a new
        /// webhook; an existing one keeps its own when absent.
        #[arg(long, env = "CXM_WEBHOOK_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// Store it without sending anything to it yet.
        #[arg(long)]
        disabled: bool,
    },
    /// Remove a webhook and its queued deliveries.
    Remove { webhook_id: String },
    /// A webhook's latest deliveries, newest first.
    Deliveries {
        webhook_id: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Send the deliveries that are due now (`cxm serve` does this by itself).
    Send {
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn webhooks(path: &Path, action: WebhookAction) -> anyhow::Result<()> {
    use cxm_domain::notify::{EventKind, Webhook, check_secret};
    use cxm_sql::NotifyStore;
    let dir = DataDir::open(path)?;
    let store = dir.reference().await?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match action {
        WebhookAction::List { format } => {
            let hooks = store.webhooks().await?;
            if matches!(format, Format::Json) {
                println!("{}", serde_json::to_string_pretty(&hooks)?);
            } else {
                let rows: Vec<Vec<String>> = hooks
                    .into_iter()
                    .map(|h| {
                        let events: Vec<&str> =
                            h.webhook.events.iter().map(|e| e.as_str()).collect();
                        vec![
                            h.webhook.webhook_id,
                            h.webhook.enabled.to_string(),
                            events.join(","),
                            h.pending.to_string(),
                            h.delivered.to_string(),
                            h.failed.to_string(),
                            h.webhook.url,
                        ]
                    })
                    .collect();
                print_rows(
                    format,
                    &[
                        "webhook_id",
                        "enabled",
                        "events",
                        "pending",
                        "delivered",
                        "failed",
                        "url",
                    ],
                    &rows,
                )?;
            }
        }
        WebhookAction::Set {
            webhook_id,
            url,
            events,
            secret,
            disabled,
        } => {
            let events = events
                .iter()
                .map(|e| EventKind::parse("events", e).map_err(|e| anyhow::anyhow!(e.reason)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let webhook = Webhook {
                webhook_id,
                url,
                events,
                enabled: !disabled,
            };
            webhook.validate().map_err(|e| anyhow::anyhow!(e.reason))?;
            if let Some(secret) = &secret {
                check_secret(secret).map_err(|e| anyhow::anyhow!(e.reason))?;
            }
            store
                .set_webhook(&webhook, secret.as_deref(), "cli", &now)
                .await?;
            println!("webhook {} saved", webhook.webhook_id);
        }
        WebhookAction::Remove { webhook_id } => {
            if !store.remove_webhook(&webhook_id).await? {
                anyhow::bail!("there is no webhook {webhook_id:?}");
            }
            println!("webhook {webhook_id} removed");
        }
        WebhookAction::Deliveries {
            webhook_id,
            limit,
            format,
        } => {
            let deliveries = store.deliveries(&webhook_id, limit).await?;
            if matches!(format, Format::Json) {
                println!("{}", serde_json::to_string_pretty(&deliveries)?);
            } else {
                let rows: Vec<Vec<String>> = deliveries
                    .into_iter()
                    .map(|d| {
                        vec![
                            d.delivery_id.to_string(),
                            d.event_key,
                            d.status,
                            d.attempts.to_string(),
                            d.last_attempt_at.unwrap_or_default(),
                            d.last_error.unwrap_or_default(),
                        ]
                    })
                    .collect();
                print_rows(
                    format,
                    &[
                        "delivery_id",
                        "event_key",
                        "status",
                        "attempts",
                        "last_attempt_at",
                        "last_error",
                    ],
                    &rows,
                )?;
            }
        }
        WebhookAction::Send { json } => {
            let options = cxm_loop::SendOptions::default();
            let client = cxm_loop::webhooks::client(&options)?;
            let report = cxm_loop::send_due(&store, &client, &options, chrono::Utc::now()).await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "webhooks: {} delivered, {} to retry, {} given up",
                    report.delivered, report.retrying, report.given_up
                );
            }
        }
    }
    store.close().await;
    Ok(())
}

//! `cxm ideas` and `cxm initiatives`: front-line ideas from submission through triage and
//! decision to the initiative, and the initiative's measured impact.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use cxm_catalog::DataDir;
use cxm_domain::ideas::{IdeaStatus, InitiativePlan, NewIdea, PriorityInputs};
use cxm_sql::{IdeaChange, IdeaFilter, IdeaStore};

use crate::Format;
use crate::cases::print_rows;

#[derive(Subcommand)]
pub(crate) enum IdeaAction {
    /// Ideas, highest priority score first, then most votes.
    List {
        /// Only these statuses (comma-separated).
        #[arg(long, value_delimiter = ',', value_parser = parse_status)]
        status: Vec<IdeaStatus>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// One idea: who voted, its timeline and its initiative.
    Show {
        idea_id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Submit an idea on behalf of a person.
    Submit {
        /// The author (person id).
        #[arg(long)]
        author: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        problem: String,
        #[arg(long)]
        proposal: String,
        /// Topic codes (comma-separated).
        #[arg(long, value_delimiter = ',')]
        topics: Vec<String>,
        /// Metric names (comma-separated).
        #[arg(long, value_delimiter = ',')]
        metrics: Vec<String>,
    },
    /// Vote for an idea as a person (`--undo` takes the vote back).
    Vote {
        idea_id: i64,
        #[arg(long)]
        person: String,
        #[arg(long)]
        undo: bool,
    },
    Comment {
        idea_id: i64,
        #[arg(long)]
        text: String,
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// Move an idea, set its priority estimate, or approve it with its initiative
    /// (`--initiative FILE.json`: name, owner_id, scope, target_metric, start).
    Move {
        idea_id: i64,
        /// The version you read (`ideas show`).
        #[arg(long)]
        version: i64,
        #[arg(long, value_parser = parse_status)]
        status: Option<IdeaStatus>,
        /// Why (required to approve or decline).
        #[arg(long)]
        reason: Option<String>,
        /// The priority estimate, 1 to 5 each: impact, reach, effort.
        #[arg(long, num_args = 3, value_names = ["IMPACT", "REACH", "EFFORT"])]
        priority: Option<Vec<u8>>,
        #[arg(long)]
        initiative: Option<PathBuf>,
        #[arg(long, default_value = "cli")]
        actor: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum InitiativeAction {
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The initiative's effect on its target metric: its teams against the others,
    /// before and after the start (difference in differences).
    Impact {
        initiative_id: i64,
        #[arg(long, default_value_t = 12)]
        weeks_before: u32,
        #[arg(long, default_value_t = 12)]
        weeks_after: u32,
        /// Observations a team needs on each side of the start to count.
        #[arg(long, default_value_t = 30)]
        min_n: u64,
        #[arg(long)]
        json: bool,
    },
}

fn parse_status(text: &str) -> Result<IdeaStatus, String> {
    IdeaStatus::parse("status", text).map_err(|e| e.reason)
}

pub(crate) async fn ideas(path: &Path, action: IdeaAction) -> anyhow::Result<()> {
    let dir = DataDir::open(path)?;
    let store = dir.reference().await?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match action {
        IdeaAction::List {
            status,
            limit,
            format,
        } => {
            let filter = IdeaFilter {
                statuses: status,
                limit,
                ..Default::default()
            };
            let ideas = store.ideas(&filter).await?;
            if matches!(format, Format::Json) {
                println!("{}", serde_json::to_string_pretty(&ideas)?);
            } else {
                let rows: Vec<Vec<String>> = ideas
                    .into_iter()
                    .map(|i| {
                        vec![
                            i.idea_id.to_string(),
                            i.status.to_string(),
                            i.score.map_or_else(String::new, |s| format!("{s:.1}")),
                            i.votes.to_string(),
                            i.author_id,
                            i.title,
                        ]
                    })
                    .collect();
                print_rows(
                    format,
                    &["idea_id", "status", "score", "votes", "author", "title"],
                    &rows,
                )?;
            }
        }
        IdeaAction::Show { idea_id, json } => {
            let detail = store
                .idea(idea_id)
                .await?
                .with_context(|| format!("there is no idea {idea_id}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&detail)?);
            } else {
                let idea = &detail.idea;
                println!(
                    "idea {} · {} · version {}",
                    idea.idea_id, idea.status, idea.version
                );
                println!(
                    "title: {}\nproblem: {}\nproposal: {}",
                    idea.title, idea.problem, idea.proposal
                );
                if let Some(p) = &idea.priority {
                    println!("priority: {p}");
                }
                let voters: Vec<&str> = detail.votes.iter().map(|v| v.person_id.as_str()).collect();
                println!("votes ({}): {}", voters.len(), voters.join(", "));
                for e in &detail.timeline {
                    let moved = match (&e.from_status, &e.to_status) {
                        (Some(from), Some(to)) => format!(" {from} → {to}"),
                        _ => String::new(),
                    };
                    println!("  {} {} {}{moved} {}", e.at, e.actor, e.kind, e.note);
                }
                if let Some(i) = &detail.initiative {
                    println!(
                        "initiative {}: {} (owner {}, scope {}, metric {}, from {})",
                        i.initiative_id,
                        i.name,
                        i.owner_id,
                        i.scope.join(","),
                        i.target_metric,
                        i.start
                    );
                }
            }
        }
        IdeaAction::Submit {
            author,
            title,
            problem,
            proposal,
            topics,
            metrics,
        } => {
            let idea = NewIdea {
                title,
                problem,
                proposal,
                topics,
                metrics,
            };
            idea.validate().map_err(|e| anyhow::anyhow!(e.reason))?;
            let org = cxm_metrics::Organisation::load_structure(&store).await?;
            if org.person(&author).is_none() {
                anyhow::bail!("author {author:?} is not a known person");
            }
            if let Some(topic) = idea.topics.iter().find(|t| org.topic(t).is_none()) {
                anyhow::bail!("topic {topic:?} is not in the taxonomy");
            }
            let unit = org.current_unit_of(&author).map(str::to_owned);
            let stored = store
                .submit_idea(&idea, &author, unit.as_deref(), &now)
                .await?;
            println!("idea {} submitted", stored.idea_id);
        }
        IdeaAction::Vote {
            idea_id,
            person,
            undo,
        } => {
            let changed = if undo {
                store.unvote(idea_id, &person).await?
            } else {
                store.vote(idea_id, &person, &now).await?
            };
            println!(
                "idea {idea_id}: {}",
                match (undo, changed) {
                    (false, true) => "vote counted",
                    (false, false) => "already voted",
                    (true, true) => "vote taken back",
                    (true, false) => "no vote to take back",
                }
            );
        }
        IdeaAction::Comment {
            idea_id,
            text,
            actor,
        } => {
            if text.trim().is_empty() {
                anyhow::bail!("the comment is empty");
            }
            store.comment(idea_id, &actor, text.trim(), &now).await?;
            println!("idea {idea_id}: comment added");
        }
        IdeaAction::Move {
            idea_id,
            version,
            status,
            reason,
            priority,
            initiative,
            actor,
        } => {
            let priority = priority
                .map(|p| PriorityInputs {
                    impact: p[0],
                    reach: p[1],
                    effort: p[2],
                })
                .map(|p| p.validate().map(|()| p))
                .transpose()
                .map_err(|e| anyhow::anyhow!(e.reason))?;
            let initiative = initiative
                .map(|file| -> anyhow::Result<InitiativePlan> {
                    let text = std::fs::read_to_string(&file)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    let plan: InitiativePlan = serde_json::from_str(&text)
                        .with_context(|| format!("{} is not an initiative", file.display()))?;
                    plan.validate()
                        .map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.reason))?;
                    Ok(plan)
                })
                .transpose()?;
            if let Some(plan) = &initiative {
                let org = cxm_metrics::Organisation::load_structure(&store).await?;
                if org.person(&plan.owner_id).is_none() {
                    anyhow::bail!("owner {:?} is not a known person", plan.owner_id);
                }
                if let Some(unit) = plan.scope.iter().find(|u| org.unit(u).is_none()) {
                    anyhow::bail!("scope unit {unit:?} is not in the org tree");
                }
            }
            let change = IdeaChange {
                version,
                status,
                reason,
                priority,
                initiative,
            };
            let idea = store.update_idea(idea_id, &change, &actor, &now).await?;
            println!("idea {idea_id}: {} (version {})", idea.status, idea.version);
        }
    }
    store.close().await;
    Ok(())
}

pub(crate) async fn initiatives(path: &Path, action: InitiativeAction) -> anyhow::Result<()> {
    let dir = DataDir::open(path)?;
    let store = dir.reference().await?;
    match action {
        InitiativeAction::List { format } => {
            let all = store.initiatives(1_000).await?;
            if matches!(format, Format::Json) {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                let rows: Vec<Vec<String>> = all
                    .into_iter()
                    .map(|i| {
                        vec![
                            i.initiative_id.to_string(),
                            i.idea_id.to_string(),
                            i.status.to_string(),
                            i.start,
                            i.target_metric,
                            i.scope.join(","),
                            i.owner_id,
                            i.name,
                        ]
                    })
                    .collect();
                print_rows(
                    format,
                    &[
                        "initiative_id",
                        "idea_id",
                        "status",
                        "start",
                        "target_metric",
                        "scope",
                        "owner",
                        "name",
                    ],
                    &rows,
                )?;
            }
        }
        InitiativeAction::Impact {
            initiative_id,
            weeks_before,
            weeks_after,
            min_n,
            json,
        } => {
            let initiative = store
                .initiative(initiative_id)
                .await?
                .with_context(|| format!("there is no initiative {initiative_id}"))?;
            let start = chrono::NaiveDate::parse_from_str(&initiative.start, "%Y-%m-%d")?;
            let mut request = cxm_insight::impact::ImpactRequest::new(
                &initiative.target_metric,
                initiative.scope.clone(),
                start,
            );
            request.weeks_before = weeks_before;
            request.weeks_after = weeks_after;
            request.min_n = min_n;
            let engine = cxm_metrics::Engine::open(&dir).await?;
            let report = cxm_insight::impact::impact(&engine, &request).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                let i = &report.impact;
                println!(
                    "{}: {} from {} in {} ({} to {})",
                    initiative.name,
                    report.metric,
                    report.start,
                    initiative.scope.join(","),
                    report.from,
                    report.to
                );
                println!(
                    "in scope: {} teams, {:.2} → {:.2} (change {:.2})",
                    i.treated.units, i.treated.before, i.treated.after, i.treated.change
                );
                println!(
                    "other teams: {} teams, {:.2} → {:.2} (change {:.2})",
                    i.control.units, i.control.before, i.control.after, i.control.change
                );
                println!(
                    "effect (difference in differences): {:.2}, 95% interval [{:.2}, {:.2}], p = {:.3}",
                    i.effect, i.low, i.high, i.p_value
                );
            }
        }
    }
    store.close().await;
    Ok(())
}

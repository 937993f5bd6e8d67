//! `cxm kudos` and `cxm stories`: recognition from the command line.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use cxm_catalog::DataDir;
use cxm_domain::recognition::{KudosSource, NewStory, check_message};
use cxm_sql::{NewKudos, RecognitionFilter, RecognitionStore};

use crate::Format;
use crate::cases::print_rows;

#[derive(Subcommand)]
pub(crate) enum KudosAction {
    /// Kudos, newest first.
    List {
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// One colleague's kudos for another.
    Give {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        message: String,
    },
    /// Customers' praising comments not yet recognised.
    Candidates {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Recognise a praising answer as kudos from the customer to the agent.
    Accept {
        response_id: String,
        #[arg(long, default_value = "cli")]
        actor: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum StoryAction {
    /// Stories, newest first, optionally searched (every word in the title or narrative).
    List {
        #[arg(long)]
        search: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Add a draft from a JSON file: title, narrative, unit_id, people, evidence.
    Add {
        file: PathBuf,
        /// The author (person id or name).
        #[arg(long)]
        author: String,
    },
    Show {
        story_id: i64,
    },
    /// Publish a story read at `--version` (or withdraw it).
    Publish {
        story_id: i64,
        #[arg(long)]
        version: i64,
        #[arg(long)]
        withdraw: bool,
    },
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(crate) async fn kudos(path: &Path, action: KudosAction) -> anyhow::Result<()> {
    let dir = DataDir::open(path)?;
    let store = dir.reference().await?;
    match action {
        KudosAction::List { limit, format } => {
            let filter = RecognitionFilter {
                limit,
                ..Default::default()
            };
            let kudos = store.kudos(&filter).await?;
            if matches!(format, Format::Json) {
                println!("{}", serde_json::to_string_pretty(&kudos)?);
            } else {
                let rows: Vec<Vec<String>> = kudos
                    .into_iter()
                    .map(|k| {
                        vec![
                            k.kudos_id.to_string(),
                            k.to_person,
                            k.from_person.unwrap_or_else(|| "(customer)".into()),
                            k.created_at,
                            k.message,
                        ]
                    })
                    .collect();
                print_rows(format, &["kudos_id", "to", "from", "at", "message"], &rows)?;
            }
        }
        KudosAction::Give { from, to, message } => {
            check_message(&message).map_err(|e| anyhow::anyhow!(e.reason))?;
            let org = cxm_metrics::Organisation::load_structure(&store).await?;
            for person in [&from, &to] {
                if org.person(person).is_none() {
                    anyhow::bail!("{person:?} is not a known person");
                }
            }
            if from == to {
                anyhow::bail!("kudos go to someone else");
            }
            let kudos = NewKudos {
                unit_id: org.current_unit_of(&to).map(str::to_owned),
                to_person: to,
                from_person: Some(from),
                source: KudosSource::Colleague,
                message: message.trim().to_owned(),
                response_id: None,
            };
            let given = store.give_kudos(&kudos, "cli", &now()).await?;
            println!("kudos {} given", given.kudos_id);
        }
        KudosAction::Candidates { limit, format } => {
            let org = cxm_metrics::Organisation::load_structure(&store).await?;
            let found =
                cxm_loop::recognition::praise_candidates(&dir, &org, &|_, _| true, None, limit)
                    .await?;
            if matches!(format, Format::Json) {
                println!("{}", serde_json::to_string_pretty(&found)?);
            } else {
                let rows: Vec<Vec<String>> = found
                    .into_iter()
                    .map(|c| vec![c.response_id, c.agent_id, c.score, c.comment])
                    .collect();
                print_rows(format, &["response_id", "agent", "score", "comment"], &rows)?;
            }
        }
        KudosAction::Accept { response_id, actor } => {
            let org = cxm_metrics::Organisation::load_structure(&store).await?;
            let found = cxm_loop::recognition::praise_candidates(
                &dir,
                &org,
                &|_, _| true,
                Some(&response_id),
                1,
            )
            .await?;
            let candidate = found
                .into_iter()
                .find(|c| c.response_id == response_id)
                .with_context(|| {
                    format!(
                        "answer {response_id:?} is no praise candidate (or was accepted already)"
                    )
                })?;
            let kudos = candidate.into_kudos();
            let given = store.give_kudos(&kudos, &actor, &now()).await?;
            println!(
                "kudos {} from the customer to {}",
                given.kudos_id, given.to_person
            );
        }
    }
    store.close().await;
    Ok(())
}

pub(crate) async fn stories(path: &Path, action: StoryAction) -> anyhow::Result<()> {
    let dir = DataDir::open(path)?;
    let store = dir.reference().await?;
    match action {
        StoryAction::List { search, format } => {
            let filter = RecognitionFilter {
                search: search
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                limit: 1_000,
                ..Default::default()
            };
            let stories = store.stories(&filter).await?;
            if matches!(format, Format::Json) {
                println!("{}", serde_json::to_string_pretty(&stories)?);
            } else {
                let rows: Vec<Vec<String>> = stories
                    .into_iter()
                    .map(|s| {
                        vec![
                            s.story_id.to_string(),
                            s.published.to_string(),
                            s.unit_id.unwrap_or_default(),
                            s.updated_at,
                            s.title,
                        ]
                    })
                    .collect();
                print_rows(
                    format,
                    &["story_id", "published", "unit", "updated_at", "title"],
                    &rows,
                )?;
            }
        }
        StoryAction::Add { file, author } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let story: NewStory = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a story", file.display()))?;
            story
                .validate()
                .map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.reason))?;
            let org = cxm_metrics::Organisation::load_structure(&store).await?;
            if let Some(unit) = story.unit_id.as_deref().filter(|u| org.unit(u).is_none()) {
                anyhow::bail!("unit {unit:?} is not in the org tree");
            }
            let stored = store.add_story(&story, &author, &now()).await?;
            println!("story {} saved as a draft", stored.story_id);
        }
        StoryAction::Show { story_id } => {
            let story = store
                .story(story_id)
                .await?
                .with_context(|| format!("there is no story {story_id}"))?;
            println!("{}", serde_json::to_string_pretty(&story)?);
        }
        StoryAction::Publish {
            story_id,
            version,
            withdraw,
        } => {
            let story = store
                .update_story(story_id, version, None, Some(!withdraw), &now())
                .await?;
            println!(
                "story {story_id} {} (version {})",
                if story.published {
                    "published"
                } else {
                    "withdrawn"
                },
                story.version
            );
        }
    }
    store.close().await;
    Ok(())
}

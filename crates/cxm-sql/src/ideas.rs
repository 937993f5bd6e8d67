//! Ideas and initiatives: submitting, voting (once per person), commenting, triage with a
//! priority score, management decisions with reasons, and the initiative an approval
//! creates, all with a timeline and, like cases, refused when made on a stale copy.

use async_trait::async_trait;
use cxm_domain::ideas::{IdeaStatus, InitiativePlan, NewIdea, PriorityInputs};
use serde::Serialize;
use sqlx::Row;

use crate::{SqlError, SqlStore};

/// An idea with its votes and comments counted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Idea {
    pub idea_id: i64,
    pub title: String,
    pub problem: String,
    pub proposal: String,
    pub topics: Vec<String>,
    pub metrics: Vec<String>,
    pub author_id: String,
    /// The author's unit when they submitted it: who sees the idea follows from it.
    pub unit_id: Option<String>,
    pub status: IdeaStatus,
    pub priority: Option<PriorityInputs>,
    /// impact × reach ÷ effort, once triaged.
    pub score: Option<f64>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
    pub votes: u64,
    pub comments: u64,
}

/// One entry of an idea's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdeaEvent {
    pub at: String,
    pub actor: String,
    /// `submitted`, `status`, `comment` or `priority`.
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub note: String,
}

/// Who voted, and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vote {
    pub person_id: String,
    pub at: String,
}

/// An approved idea being carried out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Initiative {
    pub initiative_id: i64,
    pub idea_id: i64,
    pub name: String,
    pub owner_id: String,
    pub scope: Vec<String>,
    pub target_metric: String,
    /// YYYY-MM-DD.
    pub start: String,
    pub created_at: String,
    pub created_by: String,
    /// The idea's status: approved, in_progress or done.
    pub status: IdeaStatus,
}

/// An idea with everything about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdeaDetail {
    pub idea: Idea,
    pub votes: Vec<Vote>,
    pub timeline: Vec<IdeaEvent>,
    pub initiative: Option<Initiative>,
}

/// Which ideas to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdeaFilter {
    /// Only these statuses (all when empty).
    pub statuses: Vec<IdeaStatus>,
    /// Only ideas of these units (any when `None`) …
    pub units: Option<Vec<String>>,
    /// … or by this author.
    pub or_author: Option<String>,
    /// At most this many, highest score first (untriaged last), then most votes.
    pub limit: u32,
}

/// A change to an idea, made on the copy read (`version`). Who may make it is decided
/// above this layer ([`IdeaStatus::stage`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdeaChange {
    pub version: i64,
    pub status: Option<IdeaStatus>,
    /// Why: required to approve or decline.
    pub reason: Option<String>,
    pub priority: Option<PriorityInputs>,
    /// Required to approve: the initiative the idea becomes.
    pub initiative: Option<InitiativePlan>,
}

#[async_trait]
pub trait IdeaStore: Send + Sync {
    async fn submit_idea(
        &self,
        idea: &NewIdea,
        author_id: &str,
        unit_id: Option<&str>,
        at: &str,
    ) -> Result<Idea, SqlError>;
    async fn ideas(&self, filter: &IdeaFilter) -> Result<Vec<Idea>, SqlError>;
    async fn idea(&self, idea_id: i64) -> Result<Option<IdeaDetail>, SqlError>;
    /// One vote per person: whether this one was new.
    async fn vote(&self, idea_id: i64, person_id: &str, at: &str) -> Result<bool, SqlError>;
    /// Takes a vote back: whether there was one.
    async fn unvote(&self, idea_id: i64, person_id: &str) -> Result<bool, SqlError>;
    async fn comment(
        &self,
        idea_id: i64,
        actor: &str,
        text: &str,
        at: &str,
    ) -> Result<(), SqlError>;
    /// Applies a change atomically; an approval creates the initiative in the same
    /// transaction. Refused when stale ([`SqlError::Stale`]) or not allowed
    /// ([`SqlError::Refused`]); nothing changes then.
    async fn update_idea(
        &self,
        idea_id: i64,
        change: &IdeaChange,
        actor: &str,
        at: &str,
    ) -> Result<Idea, SqlError>;
    /// Initiatives, newest first.
    async fn initiatives(&self, limit: u32) -> Result<Vec<Initiative>, SqlError>;
    async fn initiative(&self, initiative_id: i64) -> Result<Option<Initiative>, SqlError>;
}

const IDEA_COLUMNS: &str = "i.idea_id, i.title, i.problem, i.proposal, i.topics, i.metrics, \
    i.author_id, i.unit_id, i.status, i.impact, i.reach, i.effort, i.created_at, \
    i.updated_at, i.version, \
    (SELECT COUNT(*) FROM idea_votes v WHERE v.idea_id = i.idea_id), \
    (SELECT COUNT(*) FROM idea_events e WHERE e.idea_id = i.idea_id AND e.kind = 'comment')";

const INITIATIVE_COLUMNS: &str = "n.initiative_id, n.idea_id, n.name, n.owner_id, n.scope, \
    n.target_metric, n.start_date, n.created_at, n.created_by, i.status";

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn status_of(text: &str) -> Result<IdeaStatus, SqlError> {
    IdeaStatus::parse("status", text).map_err(|_| SqlError::Corrupt(format!("status {text:?}")))
}

fn idea_of(row: &sqlx::any::AnyRow) -> Result<Idea, SqlError> {
    let status: String = row.try_get(8)?;
    let estimate = |i: usize| -> Result<Option<u8>, SqlError> {
        Ok(row
            .try_get::<Option<i64>, _>(i)?
            .map(|v| u8::try_from(v).unwrap_or(0)))
    };
    let priority = match (estimate(9)?, estimate(10)?, estimate(11)?) {
        (Some(impact), Some(reach), Some(effort)) => Some(PriorityInputs {
            impact,
            reach,
            effort,
        }),
        _ => None,
    };
    Ok(Idea {
        idea_id: row.try_get(0)?,
        title: row.try_get(1)?,
        problem: row.try_get(2)?,
        proposal: row.try_get(3)?,
        topics: list(&row.try_get::<String, _>(4)?),
        metrics: list(&row.try_get::<String, _>(5)?),
        author_id: row.try_get(6)?,
        unit_id: row.try_get(7)?,
        status: status_of(&status)?,
        score: priority.map(|p| p.score()),
        priority,
        created_at: row.try_get(12)?,
        updated_at: row.try_get(13)?,
        version: row.try_get(14)?,
        votes: row.try_get::<i64, _>(15)?.max(0) as u64,
        comments: row.try_get::<i64, _>(16)?.max(0) as u64,
    })
}

fn initiative_of(row: &sqlx::any::AnyRow) -> Result<Initiative, SqlError> {
    let status: String = row.try_get(9)?;
    Ok(Initiative {
        initiative_id: row.try_get(0)?,
        idea_id: row.try_get(1)?,
        name: row.try_get(2)?,
        owner_id: row.try_get(3)?,
        scope: list(&row.try_get::<String, _>(4)?),
        target_metric: row.try_get(5)?,
        start: row.try_get(6)?,
        created_at: row.try_get(7)?,
        created_by: row.try_get(8)?,
        status: status_of(&status)?,
    })
}

async fn add_event(
    executor: &mut sqlx::AnyConnection,
    idea_id: i64,
    event: &IdeaEvent,
) -> Result<(), SqlError> {
    sqlx::query(
        "INSERT INTO idea_events (idea_id, at, actor, kind, from_status, to_status, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(idea_id)
    .bind(event.at.clone())
    .bind(event.actor.clone())
    .bind(event.kind.clone())
    .bind(event.from_status.clone())
    .bind(event.to_status.clone())
    .bind(event.note.clone())
    .execute(&mut *executor)
    .await?;
    Ok(())
}

fn event(at: &str, actor: &str, kind: &str, note: String) -> IdeaEvent {
    IdeaEvent {
        at: at.to_owned(),
        actor: actor.to_owned(),
        kind: kind.to_owned(),
        from_status: None,
        to_status: None,
        note,
    }
}

impl SqlStore {
    async fn idea_row(&self, idea_id: i64) -> Result<Option<Idea>, SqlError> {
        let row = sqlx::query(&format!(
            "SELECT {IDEA_COLUMNS} FROM ideas i WHERE i.idea_id = $1"
        ))
        .bind(idea_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(idea_of).transpose()
    }

    async fn require_idea(&self, idea_id: i64) -> Result<Idea, SqlError> {
        self.idea_row(idea_id)
            .await?
            .ok_or_else(|| SqlError::NotFound(format!("there is no idea {idea_id}")))
    }
}

#[async_trait]
impl IdeaStore for SqlStore {
    async fn submit_idea(
        &self,
        idea: &NewIdea,
        author_id: &str,
        unit_id: Option<&str>,
        at: &str,
    ) -> Result<Idea, SqlError> {
        let mut tx = self.pool().begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO ideas (title, problem, proposal, topics, metrics, author_id, unit_id, \
             status, created_at, updated_at, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'new', $8, $8, 1) RETURNING idea_id",
        )
        .bind(idea.title.clone())
        .bind(idea.problem.clone())
        .bind(idea.proposal.clone())
        .bind(idea.topics.join(","))
        .bind(idea.metrics.join(","))
        .bind(author_id.to_owned())
        .bind(unit_id.map(str::to_owned))
        .bind(at.to_owned())
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let submitted = IdeaEvent {
            to_status: Some(IdeaStatus::New.as_str().into()),
            ..event(at, author_id, "submitted", idea.title.clone())
        };
        add_event(&mut tx, id, &submitted).await?;
        tx.commit().await?;
        self.require_idea(id).await
    }

    async fn ideas(&self, filter: &IdeaFilter) -> Result<Vec<Idea>, SqlError> {
        let mut conditions = Vec::new();
        let mut values: Vec<String> = Vec::new();
        let mut bind = |value: String| {
            values.push(value);
            format!("${}", values.len())
        };
        if !filter.statuses.is_empty() {
            let list: Vec<String> = filter
                .statuses
                .iter()
                .map(|s| bind(s.as_str().to_owned()))
                .collect();
            conditions.push(format!("i.status IN ({})", list.join(", ")));
        }
        if let Some(units) = &filter.units {
            let mut visible = Vec::new();
            if !units.is_empty() {
                let list: Vec<String> = units.iter().map(|u| bind(u.clone())).collect();
                visible.push(format!("i.unit_id IN ({})", list.join(", ")));
            }
            if let Some(author) = &filter.or_author {
                visible.push(format!("i.author_id = {}", bind(author.clone())));
            }
            if visible.is_empty() {
                visible.push("1 = 0".to_owned());
            }
            conditions.push(format!("({})", visible.join(" OR ")));
        }
        let clause = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {IDEA_COLUMNS} FROM ideas i{clause} \
             ORDER BY (i.effort IS NULL), \
             CAST(i.impact * i.reach AS DOUBLE PRECISION) / i.effort DESC, 16 DESC, \
             i.idea_id DESC LIMIT {}",
            filter.limit.max(1)
        );
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(idea_of).collect()
    }

    async fn idea(&self, idea_id: i64) -> Result<Option<IdeaDetail>, SqlError> {
        let Some(idea) = self.idea_row(idea_id).await? else {
            return Ok(None);
        };
        let votes = sqlx::query(
            "SELECT person_id, at FROM idea_votes WHERE idea_id = $1 ORDER BY at, person_id",
        )
        .bind(idea_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            Ok(Vote {
                person_id: row.try_get(0)?,
                at: row.try_get(1)?,
            })
        })
        .collect::<Result<Vec<_>, SqlError>>()?;
        let timeline = sqlx::query(
            "SELECT at, actor, kind, from_status, to_status, note FROM idea_events \
             WHERE idea_id = $1 ORDER BY event_id",
        )
        .bind(idea_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            Ok(IdeaEvent {
                at: row.try_get(0)?,
                actor: row.try_get(1)?,
                kind: row.try_get(2)?,
                from_status: row.try_get(3)?,
                to_status: row.try_get(4)?,
                note: row.try_get(5)?,
            })
        })
        .collect::<Result<Vec<_>, SqlError>>()?;
        let initiative = sqlx::query(&format!(
            "SELECT {INITIATIVE_COLUMNS} FROM initiatives n JOIN ideas i ON i.idea_id = n.idea_id \
             WHERE n.idea_id = $1"
        ))
        .bind(idea_id)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(initiative_of)
        .transpose()?;
        Ok(Some(IdeaDetail {
            idea,
            votes,
            timeline,
            initiative,
        }))
    }

    async fn vote(&self, idea_id: i64, person_id: &str, at: &str) -> Result<bool, SqlError> {
        self.require_idea(idea_id).await?;
        let added = sqlx::query(
            "INSERT INTO idea_votes (idea_id, person_id, at) VALUES ($1, $2, $3) \
             ON CONFLICT (idea_id, person_id) DO NOTHING",
        )
        .bind(idea_id)
        .bind(person_id.to_owned())
        .bind(at.to_owned())
        .execute(self.pool())
        .await?;
        Ok(added.rows_affected() == 1)
    }

    async fn unvote(&self, idea_id: i64, person_id: &str) -> Result<bool, SqlError> {
        self.require_idea(idea_id).await?;
        let removed = sqlx::query("DELETE FROM idea_votes WHERE idea_id = $1 AND person_id = $2")
            .bind(idea_id)
            .bind(person_id.to_owned())
            .execute(self.pool())
            .await?;
        Ok(removed.rows_affected() == 1)
    }

    async fn comment(
        &self,
        idea_id: i64,
        actor: &str,
        text: &str,
        at: &str,
    ) -> Result<(), SqlError> {
        self.require_idea(idea_id).await?;
        let mut connection = self.pool().acquire().await?;
        add_event(
            &mut connection,
            idea_id,
            &event(at, actor, "comment", text.to_owned()),
        )
        .await
    }

    async fn update_idea(
        &self,
        idea_id: i64,
        change: &IdeaChange,
        actor: &str,
        at: &str,
    ) -> Result<Idea, SqlError> {
        if change.status.is_none() && change.priority.is_none() {
            return Err(SqlError::Refused(format!(
                "idea {idea_id}: the change changes nothing"
            )));
        }
        let idea = self.require_idea(idea_id).await?;
        if idea.version != change.version {
            return Err(SqlError::Stale(format!(
                "idea {idea_id} was changed since you read it (version {} now, yours {}): reload it and try again",
                idea.version, change.version
            )));
        }
        let mut events = Vec::new();
        let mut status = idea.status;
        if let Some(to) = change.status {
            idea.status
                .transition(to)
                .map_err(|e| SqlError::Refused(format!("idea {idea_id}: {e}")))?;
            let reason = change.reason.as_deref().map(str::trim).unwrap_or_default();
            if idea.status.needs_reason(to) && reason.is_empty() {
                return Err(SqlError::Refused(format!(
                    "idea {idea_id}: say why it is {to}"
                )));
            }
            if (to == IdeaStatus::Approved) != change.initiative.is_some() {
                return Err(SqlError::Refused(format!(
                    "idea {idea_id}: an approval, and only an approval, names the initiative (owner, scope, target metric, start)"
                )));
            }
            status = to;
            events.push(IdeaEvent {
                from_status: Some(idea.status.as_str().into()),
                to_status: Some(to.as_str().into()),
                ..event(at, actor, "status", reason.to_owned())
            });
        } else if change.initiative.is_some() {
            return Err(SqlError::Refused(format!(
                "idea {idea_id}: an initiative is named when approving"
            )));
        }
        let priority = change.priority.or(idea.priority);
        if let Some(p) = &change.priority {
            events.push(event(at, actor, "priority", p.to_string()));
        }
        let mut tx = self.pool().begin().await?;
        let updated = sqlx::query(
            "UPDATE ideas SET status = $1, impact = $2, reach = $3, effort = $4, \
             updated_at = $5, version = version + 1 WHERE idea_id = $6 AND version = $7",
        )
        .bind(status.as_str())
        .bind(priority.map(|p| i64::from(p.impact)))
        .bind(priority.map(|p| i64::from(p.reach)))
        .bind(priority.map(|p| i64::from(p.effort)))
        .bind(at.to_owned())
        .bind(idea_id)
        .bind(change.version)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(SqlError::Stale(format!(
                "idea {idea_id} was changed since you read it: reload it and try again"
            )));
        }
        for event in &events {
            add_event(&mut tx, idea_id, event).await?;
        }
        if let Some(plan) = &change.initiative {
            sqlx::query(
                "INSERT INTO initiatives (idea_id, name, owner_id, scope, target_metric, \
                 start_date, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(idea_id)
            .bind(plan.name.clone())
            .bind(plan.owner_id.clone())
            .bind(plan.scope.join(","))
            .bind(plan.target_metric.clone())
            .bind(plan.start.format("%Y-%m-%d").to_string())
            .bind(at.to_owned())
            .bind(actor.to_owned())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.require_idea(idea_id).await
    }

    async fn initiatives(&self, limit: u32) -> Result<Vec<Initiative>, SqlError> {
        let rows = sqlx::query(&format!(
            "SELECT {INITIATIVE_COLUMNS} FROM initiatives n JOIN ideas i ON i.idea_id = n.idea_id \
             ORDER BY n.initiative_id DESC LIMIT {}",
            limit.max(1)
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(initiative_of).collect()
    }

    async fn initiative(&self, initiative_id: i64) -> Result<Option<Initiative>, SqlError> {
        let row = sqlx::query(&format!(
            "SELECT {INITIATIVE_COLUMNS} FROM initiatives n JOIN ideas i ON i.idea_id = n.idea_id \
             WHERE n.initiative_id = $1"
        ))
        .bind(initiative_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(initiative_of).transpose()
    }
}

//! Kudos and success stories: kudos given by colleagues or accepted from customers' praise
//! (one per survey answer), and stories with their evidence, drafted, edited on the version
//! read, published and searched.

use async_trait::async_trait;
use cxm_domain::recognition::{Evidence, KudosSource, NewStory};
use serde::Serialize;
use sqlx::Row;

use crate::{SqlError, SqlStore};

/// Kudos to give.
#[derive(Debug, Clone, PartialEq)]
pub struct NewKudos {
    pub to_person: String,
    /// The colleague giving it (`None`: a customer).
    pub from_person: Option<String>,
    pub source: KudosSource,
    pub message: String,
    /// The recipient's unit now.
    pub unit_id: Option<String>,
    /// A customer's kudos: the praising answer.
    pub response_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kudos {
    pub kudos_id: i64,
    pub to_person: String,
    pub from_person: Option<String>,
    pub source: KudosSource,
    pub message: String,
    pub unit_id: Option<String>,
    pub response_id: Option<String>,
    pub created_at: String,
    pub created_by: String,
}

/// Which kudos or stories: those of these units (any when `None`), or about / by this
/// person.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecognitionFilter {
    pub units: Option<Vec<String>>,
    pub or_person: Option<String>,
    /// Stories: only published ones (besides the caller's own drafts, see `or_person`).
    pub published_only: bool,
    /// Stories: words that must all appear in the title or narrative (case-insensitive).
    pub search: Vec<String>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Story {
    pub story_id: i64,
    pub title: String,
    pub narrative: String,
    pub unit_id: Option<String>,
    pub people: Vec<String>,
    pub evidence: Vec<Evidence>,
    /// Person id (or user name) of who wrote it.
    pub author: String,
    pub published: bool,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

#[async_trait]
pub trait RecognitionStore: Send + Sync {
    /// Stores kudos; a customer's answer gives kudos once ([`SqlError::Conflict`] after).
    async fn give_kudos(&self, kudos: &NewKudos, actor: &str, at: &str) -> Result<Kudos, SqlError>;
    /// Kudos, newest first.
    async fn kudos(&self, filter: &RecognitionFilter) -> Result<Vec<Kudos>, SqlError>;
    /// Of these survey answers, those already turned into kudos.
    async fn accepted_answers(&self, response_ids: &[String]) -> Result<Vec<String>, SqlError>;
    async fn add_story(&self, story: &NewStory, author: &str, at: &str) -> Result<Story, SqlError>;
    /// Stories, newest first.
    async fn stories(&self, filter: &RecognitionFilter) -> Result<Vec<Story>, SqlError>;
    async fn story(&self, story_id: i64) -> Result<Option<Story>, SqlError>;
    /// Replaces the story's text and evidence and/or its published flag, on the version
    /// read ([`SqlError::Stale`] otherwise).
    async fn update_story(
        &self,
        story_id: i64,
        version: i64,
        content: Option<&NewStory>,
        published: Option<bool>,
        at: &str,
    ) -> Result<Story, SqlError>;
}

const KUDOS_COLUMNS: &str = "kudos_id, to_person, from_person, source, message, unit_id, \
    response_id, created_at, created_by";

const STORY_COLUMNS: &str = "story_id, title, narrative, unit_id, people, evidence, author, \
    published, created_at, updated_at, version";

fn kudos_of(row: &sqlx::any::AnyRow) -> Result<Kudos, SqlError> {
    let source: String = row.try_get(3)?;
    Ok(Kudos {
        kudos_id: row.try_get(0)?,
        to_person: row.try_get(1)?,
        from_person: row.try_get(2)?,
        source: KudosSource::parse("source", &source)
            .map_err(|_| SqlError::Corrupt(format!("kudos.source {source:?}")))?,
        message: row.try_get(4)?,
        unit_id: row.try_get(5)?,
        response_id: row.try_get(6)?,
        created_at: row.try_get(7)?,
        created_by: row.try_get(8)?,
    })
}

fn story_of(row: &sqlx::any::AnyRow) -> Result<Story, SqlError> {
    let id: i64 = row.try_get(0)?;
    let people: String = row.try_get(4)?;
    let evidence: String = row.try_get(5)?;
    Ok(Story {
        story_id: id,
        title: row.try_get(1)?,
        narrative: row.try_get(2)?,
        unit_id: row.try_get(3)?,
        people: people
            .split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
        evidence: serde_json::from_str(&evidence)
            .map_err(|e| SqlError::Corrupt(format!("story {id}'s evidence: {e}")))?,
        author: row.try_get(6)?,
        published: row.try_get::<i64, _>(7)? != 0,
        created_at: row.try_get(8)?,
        updated_at: row.try_get(9)?,
        version: row.try_get(10)?,
    })
}

/// The WHERE clause of a filter over a table with `unit_id` and a person column.
fn clause(filter: &RecognitionFilter, person_column: &str, stories: bool) -> (String, Vec<String>) {
    let mut conditions = Vec::new();
    let mut values: Vec<String> = Vec::new();
    let mut bind = |value: String| {
        values.push(value);
        format!("${}", values.len())
    };
    let mut visible = Vec::new();
    if let Some(units) = &filter.units {
        if !units.is_empty() {
            let list: Vec<String> = units.iter().map(|u| bind(u.clone())).collect();
            visible.push(format!("unit_id IN ({})", list.join(", ")));
        }
    } else {
        visible.push("TRUE".to_owned());
    }
    let person = filter.or_person.as_ref().map(|p| bind(p.clone()));
    if let Some(p) = &person {
        visible.push(format!("{person_column} = {p}"));
    }
    if visible.is_empty() {
        visible.push("1 = 0".to_owned());
    }
    if stories && filter.published_only {
        let own = person.map_or_else(|| "1 = 0".to_owned(), |p| format!("author = {p}"));
        conditions.push(format!(
            "(({}) AND published = 1 OR {own})",
            visible.join(" OR ")
        ));
    } else {
        conditions.push(format!("({})", visible.join(" OR ")));
    }
    (format!(" WHERE {}", conditions.join(" AND ")), values)
}

#[async_trait]
impl RecognitionStore for SqlStore {
    async fn give_kudos(&self, kudos: &NewKudos, actor: &str, at: &str) -> Result<Kudos, SqlError> {
        let row = sqlx::query(&format!(
            "INSERT INTO kudos (to_person, from_person, source, message, unit_id, response_id, \
             created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (response_id) DO NOTHING RETURNING {KUDOS_COLUMNS}"
        ))
        .bind(kudos.to_person.clone())
        .bind(kudos.from_person.clone())
        .bind(kudos.source.as_str())
        .bind(kudos.message.clone())
        .bind(kudos.unit_id.clone())
        .bind(kudos.response_id.clone())
        .bind(at.to_owned())
        .bind(actor.to_owned())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => kudos_of(&row),
            None => Err(SqlError::Conflict(format!(
                "answer {} has given its kudos already",
                kudos.response_id.as_deref().unwrap_or_default()
            ))),
        }
    }

    async fn kudos(&self, filter: &RecognitionFilter) -> Result<Vec<Kudos>, SqlError> {
        let (clause, values) = clause(filter, "to_person", false);
        let sql = format!(
            "SELECT {KUDOS_COLUMNS} FROM kudos{clause} ORDER BY kudos_id DESC LIMIT {}",
            filter.limit.max(1)
        );
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        query
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(kudos_of)
            .collect()
    }

    async fn accepted_answers(&self, response_ids: &[String]) -> Result<Vec<String>, SqlError> {
        let mut accepted = Vec::new();
        for chunk in response_ids.chunks(500) {
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT response_id FROM kudos WHERE response_id IN ({})",
                list.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.clone());
            }
            for row in query.fetch_all(self.pool()).await? {
                accepted.push(row.try_get(0)?);
            }
        }
        Ok(accepted)
    }

    async fn add_story(&self, story: &NewStory, author: &str, at: &str) -> Result<Story, SqlError> {
        let evidence = serde_json::to_string(&story.evidence)
            .map_err(|e| SqlError::Corrupt(format!("evidence: {e}")))?;
        let row = sqlx::query(&format!(
            "INSERT INTO stories (title, narrative, unit_id, people, evidence, author, published, \
             created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7, 1) \
             RETURNING {STORY_COLUMNS}"
        ))
        .bind(story.title.clone())
        .bind(story.narrative.clone())
        .bind(story.unit_id.clone())
        .bind(story.people.join(","))
        .bind(evidence)
        .bind(author.to_owned())
        .bind(at.to_owned())
        .fetch_one(self.pool())
        .await?;
        story_of(&row)
    }

    async fn stories(&self, filter: &RecognitionFilter) -> Result<Vec<Story>, SqlError> {
        let (clause, values) = clause(filter, "author", true);
        // Words are matched here, not in SQL: SQLite's LOWER folds only ASCII, so
        // "Über" would match on PostgreSQL alone.
        let words: Vec<String> = filter.search.iter().map(|w| w.to_lowercase()).collect();
        let limit = if words.is_empty() {
            format!(" LIMIT {}", filter.limit.max(1))
        } else {
            String::new()
        };
        let sql =
            format!("SELECT {STORY_COLUMNS} FROM stories{clause} ORDER BY story_id DESC{limit}");
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        let mut stories = Vec::new();
        for row in query.fetch_all(self.pool()).await? {
            let story = story_of(&row)?;
            let text = format!("{}\n{}", story.title, story.narrative).to_lowercase();
            if words.iter().all(|w| text.contains(w.as_str())) {
                stories.push(story);
                if stories.len() >= filter.limit.max(1) as usize {
                    break;
                }
            }
        }
        Ok(stories)
    }

    async fn story(&self, story_id: i64) -> Result<Option<Story>, SqlError> {
        let row = sqlx::query(&format!(
            "SELECT {STORY_COLUMNS} FROM stories WHERE story_id = $1"
        ))
        .bind(story_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(story_of).transpose()
    }

    async fn update_story(
        &self,
        story_id: i64,
        version: i64,
        content: Option<&NewStory>,
        published: Option<bool>,
        at: &str,
    ) -> Result<Story, SqlError> {
        let current = self
            .story(story_id)
            .await?
            .ok_or_else(|| SqlError::NotFound(format!("there is no story {story_id}")))?;
        if content.is_none() && published.is_none() {
            return Err(SqlError::Refused(format!(
                "story {story_id}: the change changes nothing"
            )));
        }
        if current.version != version {
            return Err(SqlError::Stale(format!(
                "story {story_id} was changed since you read it (version {} now, yours {version}): reload it and try again",
                current.version
            )));
        }
        let (title, narrative, unit, people, evidence) = match content {
            Some(story) => (
                story.title.clone(),
                story.narrative.clone(),
                story.unit_id.clone(),
                story.people.join(","),
                story.evidence.clone(),
            ),
            None => (
                current.title.clone(),
                current.narrative.clone(),
                current.unit_id.clone(),
                current.people.join(","),
                current.evidence.clone(),
            ),
        };
        let evidence = serde_json::to_string(&evidence)
            .map_err(|e| SqlError::Corrupt(format!("evidence: {e}")))?;
        let updated = sqlx::query(
            "UPDATE stories SET title = $1, narrative = $2, unit_id = $3, people = $4, \
             evidence = $5, published = $6, updated_at = $7, version = version + 1 \
             WHERE story_id = $8 AND version = $9",
        )
        .bind(title)
        .bind(narrative)
        .bind(unit)
        .bind(people)
        .bind(evidence)
        .bind(i64::from(published.unwrap_or(current.published)))
        .bind(at.to_owned())
        .bind(story_id)
        .bind(version)
        .execute(self.pool())
        .await?;
        if updated.rows_affected() != 1 {
            return Err(SqlError::Stale(format!(
                "story {story_id} was changed since you read it: reload it and try again"
            )));
        }
        self.story(story_id)
            .await?
            .ok_or_else(|| SqlError::NotFound(format!("there is no story {story_id}")))
    }
}

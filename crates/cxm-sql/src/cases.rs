//! Alert rules and follow-up cases: opening cases idempotently (one per rule and triggering
//! record), moving them through their workflow with a timeline, and refusing a change made
//! on a stale copy (every case carries a version that each change raises).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use cxm_domain::cases::{AlertRule, CaseStatus, Priority};
use cxm_domain::notify::EventKind;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde::Serialize;
use sqlx::Row;

use crate::notify::{
    Outgoing, Param, enabled_webhooks, enqueue, enqueue_to, insert_rows, placeholders,
    rows_per_statement,
};
use crate::{SqlError, SqlStore};

/// A rule as stored, with who changed it last.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRule {
    #[serde(flatten)]
    pub rule: AlertRule,
    pub updated_at: String,
    pub updated_by: String,
}

/// A case to open.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCase {
    pub rule_id: String,
    pub customer_id: String,
    pub trigger_id: String,
    /// RFC 3339, UTC.
    pub triggered_at: String,
    pub triggered_micros: i64,
    pub summary: String,
    pub agent_id: Option<String>,
    pub unit_id: Option<String>,
    pub owner_id: Option<String>,
    pub priority: Priority,
    pub opened_at: String,
    pub due_at: String,
}

/// A follow-up case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    pub case_id: i64,
    pub rule_id: String,
    pub customer_id: String,
    pub trigger_id: String,
    pub triggered_at: String,
    pub summary: String,
    pub agent_id: Option<String>,
    pub unit_id: Option<String>,
    pub owner_id: Option<String>,
    pub priority: Priority,
    pub status: CaseStatus,
    pub opened_at: String,
    pub due_at: String,
    pub first_action_at: Option<String>,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
    pub root_cause: Option<String>,
    pub customer_reached: Option<bool>,
    pub issue_fixed: Option<bool>,
    pub version: i64,
}

/// One entry of a case's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseEvent {
    pub at: String,
    pub actor: String,
    /// `opened`, `status`, `note`, `assigned`, `root_cause` or `outcome`.
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub note: String,
}

/// A change to a case, made on the copy the editor read (`version`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseChange {
    pub version: i64,
    pub status: Option<CaseStatus>,
    pub note: Option<String>,
    /// A topic code (checked against the taxonomy above this layer).
    pub root_cause: Option<String>,
    pub customer_reached: Option<bool>,
    pub issue_fixed: Option<bool>,
    /// A new owner (person id).
    pub owner_id: Option<String>,
}

impl CaseChange {
    fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.note.is_none()
            && self.root_cause.is_none()
            && self.customer_reached.is_none()
            && self.issue_fixed.is_none()
            && self.owner_id.is_none()
    }
}

/// Which cases to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseFilter {
    /// Only these statuses (all when empty).
    pub statuses: Vec<CaseStatus>,
    pub owner_id: Option<String>,
    /// Only cases of these units (any unit when `None`).
    pub units: Option<Vec<String>>,
    /// Only cases of this agent's contacts.
    pub agent_id: Option<String>,
    pub rule_id: Option<String>,
    pub customer_id: Option<String>,
    /// At most this many, most urgent first (due time, then id).
    pub limit: u32,
}

/// Rules and cases, implemented by each SQL backend.
#[async_trait]
pub trait CaseStore: Send + Sync {
    /// Inserts or replaces a rule (validated above this layer).
    async fn set_rule(&self, rule: &AlertRule, actor: &str, at: &str) -> Result<(), SqlError>;
    /// Stores the default rules when no rule exists yet; how many were stored.
    async fn seed_rules(&self, rules: &[AlertRule], at: &str) -> Result<u64, SqlError>;
    /// Every rule, by id.
    async fn rules(&self) -> Result<Vec<StoredRule>, SqlError>;
    /// For each of `customers` under `rule_id`: the trigger time and id of every case
    /// opened so far (triggered at or after `from_micros`, when given), keyed by (rule,
    /// customer). Customers without such a case are absent.
    async fn case_triggers(
        &self,
        rule_id: &str,
        customers: &[&str],
        from_micros: Option<i64>,
    ) -> Result<HashMap<(String, String), Vec<(i64, String)>>, SqlError>;
    /// Opens cases in one transaction; a case whose rule and trigger already have one is
    /// skipped. The number opened.
    async fn open_cases(&self, cases: &[NewCase]) -> Result<u64, SqlError>;
    async fn cases(&self, filter: &CaseFilter) -> Result<Vec<Case>, SqlError>;
    /// How many cases match (ignoring the limit).
    async fn count_cases(&self, filter: &CaseFilter) -> Result<u64, SqlError>;
    /// [`cases`](Self::cases) and [`count_cases`](Self::count_cases) together, as a page
    /// of the inbox shows them: the count is the one kept at the generation read with
    /// the cases, in the same statement (one statement, and one row, a page of up to
    /// 1,000 cases while no case changes).
    async fn listed_cases(&self, filter: &CaseFilter) -> Result<(Vec<Case>, u64), SqlError>;
    async fn case(&self, case_id: i64) -> Result<Option<(Case, Vec<CaseEvent>)>, SqlError>;
    /// Root-cause codes of the cases in `filter` closed within `[from, to)` (RFC 3339):
    /// code, cases closed, of which with the issue fixed; most cases first.
    async fn closed_root_causes(
        &self,
        filter: &CaseFilter,
        from: &str,
        to: &str,
    ) -> Result<Vec<(String, u64, u64)>, SqlError>;
    /// Applies a change atomically: refused when the case moved on since `version`
    /// ([`SqlError::Stale`]) or the workflow does not allow the move
    /// ([`SqlError::Refused`]); nothing changes then.
    async fn update_case(
        &self,
        case_id: i64,
        change: &CaseChange,
        actor: &str,
        at: &str,
    ) -> Result<Case, SqlError>;
}

const CASE_COLUMNS: &str = "case_id, rule_id, customer_id, trigger_id, triggered_at, summary, \
    agent_id, unit_id, owner_id, priority, status, opened_at, due_at, first_action_at, \
    resolved_at, closed_at, root_cause, customer_reached, issue_fixed, version";

/// The first event of every case's timeline, which is not stored: a rule opened the case,
/// when and with the summary the case row keeps.
fn opened_event(case: &Case) -> CaseEvent {
    CaseEvent {
        at: case.opened_at.clone(),
        actor: format!("rule:{}", case.rule_id),
        kind: "opened".to_owned(),
        from_status: None,
        to_status: Some(CaseStatus::Open.as_str().to_owned()),
        note: case.summary.clone(),
    }
}

/// A case's columns by position ([`CASE_COLUMNS`]): a row of the store, or a case of a
/// page read as one JSON array ([`page_statement`]).
trait Columns {
    fn int(&self, index: usize) -> Result<Option<i64>, SqlError>;
    fn text(&self, index: usize) -> Result<Option<String>, SqlError>;
}

impl Columns for sqlx::any::AnyRow {
    fn int(&self, index: usize) -> Result<Option<i64>, SqlError> {
        Ok(self.try_get(index)?)
    }

    fn text(&self, index: usize) -> Result<Option<String>, SqlError> {
        Ok(self.try_get(index)?)
    }
}

impl Columns for [serde_json::Value] {
    fn int(&self, index: usize) -> Result<Option<i64>, SqlError> {
        match self.get(index) {
            Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            other => Err(SqlError::Corrupt(format!(
                "listed case column {index}: {other:?} is not an integer"
            ))),
        }
    }

    fn text(&self, index: usize) -> Result<Option<String>, SqlError> {
        match self.get(index) {
            Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(text)) => Ok(Some(text.clone())),
            other => Err(SqlError::Corrupt(format!(
                "listed case column {index}: {other:?} is not text"
            ))),
        }
    }
}

fn case_of<R: Columns + ?Sized>(row: &R) -> Result<Case, SqlError> {
    let missing = |index: usize| {
        let name = CASE_COLUMNS.split(", ").nth(index).unwrap_or_default();
        SqlError::Corrupt(format!("cases.{name} is null"))
    };
    let text = |index: usize| row.text(index)?.ok_or_else(|| missing(index));
    let int = |index: usize| row.int(index)?.ok_or_else(|| missing(index));
    let flag = |index: usize| Ok::<_, SqlError>(row.int(index)?.map(|v| v != 0));
    let priority = text(9)?;
    let status = text(10)?;
    Ok(Case {
        case_id: int(0)?,
        rule_id: text(1)?,
        customer_id: text(2)?,
        trigger_id: text(3)?,
        triggered_at: text(4)?,
        summary: text(5)?,
        agent_id: row.text(6)?,
        unit_id: row.text(7)?,
        owner_id: row.text(8)?,
        priority: Priority::parse("priority", &priority)
            .map_err(|_| SqlError::Corrupt(format!("cases.priority {priority:?}")))?,
        status: CaseStatus::parse("status", &status)
            .map_err(|_| SqlError::Corrupt(format!("cases.status {status:?}")))?,
        opened_at: text(11)?,
        due_at: text(12)?,
        first_action_at: row.text(13)?,
        resolved_at: row.text(14)?,
        closed_at: row.text(15)?,
        root_cause: row.text(16)?,
        customer_reached: flag(17)?,
        issue_fixed: flag(18)?,
        version: int(19)?,
    })
}

/// The statuses of the partial indexes over cases (`cases_active_due`,
/// `cases_owner_active_due`; `cases_finished_due`), in their conditions' order.
const ACTIVE: [CaseStatus; 2] = [CaseStatus::Open, CaseStatus::InProgress];
const FINISHED: [CaseStatus; 2] = [CaseStatus::Resolved, CaseStatus::Closed];

/// The WHERE clause of a filter and its parameters, numbered from 1.
fn filter_clause(filter: &CaseFilter) -> (String, Vec<String>) {
    let mut conditions = Vec::new();
    let mut values: Vec<String> = Vec::new();
    let bind = |value: String, values: &mut Vec<String>| {
        values.push(value);
        format!("${}", values.len())
    };
    if !filter.statuses.is_empty() {
        // Literals, not parameters (they are our own names): a planner uses a partial
        // index only when it sees the same condition as the index's, so statuses that
        // lie within the active or the finished ones also name that whole group.
        let list = |statuses: &[CaseStatus]| {
            let names: Vec<String> = statuses
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            format!("status IN ({})", names.join(", "))
        };
        let asked = list(&filter.statuses);
        match [ACTIVE, FINISHED]
            .into_iter()
            .find(|group| filter.statuses.iter().all(|s| group.contains(s)))
        {
            Some(group) => {
                let whole = list(&group);
                if !group.iter().all(|s| filter.statuses.contains(s)) {
                    conditions.push(asked);
                }
                conditions.push(whole);
            }
            None => conditions.push(asked),
        }
    }
    for (column, value) in [
        ("owner_id", &filter.owner_id),
        ("agent_id", &filter.agent_id),
        ("rule_id", &filter.rule_id),
        ("customer_id", &filter.customer_id),
    ] {
        if let Some(value) = value {
            let p = bind(value.clone(), &mut values);
            conditions.push(format!("{column} = {p}"));
        }
    }
    if let Some(units) = &filter.units {
        if units.is_empty() {
            conditions.push("1 = 0".to_owned());
        } else {
            let list: Vec<String> = units.iter().map(|u| bind(u.clone(), &mut values)).collect();
            conditions.push(format!("unit_id IN ({})", list.join(", ")));
        }
    }
    let clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    (clause, values)
}

/// The statement listing a filter's cases, most urgent first, and its parameters.
fn list_statement(filter: &CaseFilter) -> (String, Vec<String>) {
    let (clause, values) = filter_clause(filter);
    let sql = format!(
        "SELECT {CASE_COLUMNS} FROM cases{clause} ORDER BY due_at, case_id LIMIT {}",
        filter.limit.max(1)
    );
    (sql, values)
}

/// Pages of at most this many cases are read as one row ([`page_statement`]).
const PAGE_AS_ONE_ROW: u32 = 1_000;

/// The statement reading a page of cases as one row, and its parameters: the cases'
/// generation as the statement read it, and the page's cases as a JSON array of arrays
/// of [`CASE_COLUMNS`], most urgent first. sqlx's SQLite driver hands each row from the
/// connection's thread to the caller's over a channel of 50 rows, and a page of 100 rows
/// cost the server about 50 thread switches; as one row it costs one hand-over.
fn page_statement(backend: crate::Backend, filter: &CaseFilter) -> (String, Vec<String>) {
    let (list, values) = list_statement(filter);
    let (aggregate, array, text) = match backend {
        crate::Backend::Sqlite => ("json_group_array", "json_array", ""),
        crate::Backend::Postgres => ("json_agg", "json_build_array", "::text"),
    };
    let sql = format!(
        "SELECT ({GENERATION}), COALESCE({aggregate}({array}({CASE_COLUMNS}) \
         ORDER BY due_at, case_id){text}, '[]') FROM ({list}) AS listed"
    );
    (sql, values)
}

/// Counts of cases by filter, as one process made them at one generation of the cases
/// (`change_generations`, raised by every transaction that opens cases or changes a
/// case's status or owner, in whichever process). Each inbox page shows a count, and
/// counting 100,000 active cases was half of a page's cost.
#[derive(Debug, Default)]
pub(crate) struct CaseCounts {
    generation: i64,
    counts: HashMap<String, Count>,
}

/// A count being made is shared by every request that wants it meanwhile: after a change,
/// a busy inbox counts each filter once, not once per request.
type Counting = Shared<BoxFuture<'static, Option<u64>>>;

#[derive(Debug, Clone)]
enum Count {
    Known(u64),
    Counting(Counting),
}

/// Filters whose counts one process keeps at most (people, owners, views).
const KEPT_COUNTS: usize = 4_096;

impl CaseCounts {
    /// The statement and its values, each value after its length (so that no two lists
    /// of values give the same key).
    fn key(sql: &str, values: &[String]) -> String {
        let mut key = sql.to_owned();
        for value in values {
            key.push_str(&format!("\n{}:", value.len()));
            key.push_str(value);
        }
        key
    }

    fn get(&self, generation: i64, key: &str) -> Option<Count> {
        (generation == self.generation)
            .then(|| self.counts.get(key).cloned())
            .flatten()
    }

    /// Keeps a count (or one being made) at `generation`; those of any other generation
    /// are dropped.
    fn keep(&mut self, generation: i64, key: String, count: Count) {
        if generation != self.generation || self.counts.len() >= KEPT_COUNTS {
            self.counts.clear();
            self.generation = generation;
        }
        self.counts.insert(key, count);
    }

    /// A count being made at `generation` is known: `count`, or `None` when it failed.
    fn settle(&mut self, generation: i64, key: &str, count: Option<u64>) {
        if generation != self.generation {
            return;
        }
        match count {
            Some(count) => {
                if let Some(kept) = self.counts.get_mut(key) {
                    *kept = Count::Known(count);
                }
            }
            None => {
                self.counts.remove(key);
            }
        }
    }
}

async fn count_rows(pool: &sqlx::AnyPool, sql: &str, values: Vec<String>) -> Result<u64, SqlError> {
    let mut query = sqlx::query(sql);
    for value in values {
        query = query.bind(value);
    }
    let count: i64 = query.fetch_one(pool).await?.try_get(0)?;
    Ok(count.max(0) as u64)
}

/// The lock on kept counts; a panic elsewhere while it was held leaves only counts behind.
fn lock(counts: &std::sync::Mutex<CaseCounts>) -> std::sync::MutexGuard<'_, CaseCounts> {
    counts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Inserts new cases (open, version 1): with `skip_taken`, only those whose rule and
/// trigger have no case yet, otherwise all of them or none (a taken trigger fails the
/// statement). How many were inserted, and with `returning` their ids.
async fn insert_cases(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: crate::Backend,
    chunk: &[&NewCase],
    skip_taken: bool,
    returning: bool,
) -> Result<(u64, Vec<i64>), SqlError> {
    // twelve values per case, then the constant status and version
    let values: Vec<String> = (0..chunk.len())
        .map(|index| {
            let row = placeholders(backend, 1, 12, index * 12 + 1);
            format!("{}, 'open', 1)", &row[..row.len() - 1])
        })
        .collect();
    let sql = format!(
        "INSERT INTO cases (rule_id, customer_id, trigger_id, triggered_at, \
         triggered_micros, summary, agent_id, unit_id, owner_id, priority, opened_at, \
         due_at, status, version) VALUES {}{}{}",
        values.join(", "),
        if skip_taken {
            " ON CONFLICT (rule_id, trigger_id) DO NOTHING"
        } else {
            ""
        },
        if returning { " RETURNING case_id" } else { "" }
    );
    let mut query = sqlx::query(&sql);
    for case in chunk {
        query = query
            .bind(case.rule_id.as_str())
            .bind(case.customer_id.as_str())
            .bind(case.trigger_id.as_str())
            .bind(case.triggered_at.as_str())
            .bind(case.triggered_micros)
            .bind(case.summary.as_str())
            .bind(case.agent_id.as_deref())
            .bind(case.unit_id.as_deref())
            .bind(case.owner_id.as_deref())
            .bind(case.priority.as_str())
            .bind(case.opened_at.as_str())
            .bind(case.due_at.as_str());
    }
    if !returning {
        let done = query.execute(&mut **tx).await?;
        return Ok((done.rows_affected(), Vec::new()));
    }
    let ids: Vec<i64> = query
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    Ok((ids.len() as u64, ids))
}

/// The cases a transaction opened, as conditions on `case_id` with their values.
fn opened_cases(
    backend: crate::Backend,
    first: Option<i64>,
    ids: &[i64],
) -> Vec<(String, Vec<i64>)> {
    match first {
        // SQLite lets one writer at a time, and numbers every new case above all cases
        // before it: the transaction's cases are those from its first on.
        Some(first) => vec![(
            format!("case_id >= {}", backend.placeholder(1)),
            vec![first],
        )],
        None => ids
            .chunks(rows_per_statement(1))
            .map(|ids| {
                (
                    format!("case_id IN {}", placeholders(backend, 1, ids.len(), 1)),
                    ids.to_vec(),
                )
            })
            .collect(),
    }
}

/// Queues each of the cases `these` selects (a condition on `case_id` from
/// [`opened_cases`], with its values) for the webhooks that announce new cases, as stored:
/// read and queued a statement's worth at a time, since a rule may open many thousands.
async fn announce_opened(
    tx: &mut sqlx::AnyConnection,
    backend: crate::Backend,
    hooks: &[(String, Vec<EventKind>)],
    (these, values): (&str, &[i64]),
    now_micros: i64,
) -> Result<(), SqlError> {
    let after = backend.placeholder(values.len() + 1);
    let sql = format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE {these} AND case_id > {after} \
         ORDER BY case_id LIMIT {}",
        rows_per_statement(1)
    );
    let mut last = i64::MIN;
    loop {
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(*value);
        }
        let outgoing: Vec<Outgoing> = query
            .bind(last)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| {
                let case = case_of(row)?;
                Ok(Outgoing {
                    kind: EventKind::CaseOpened,
                    key: format!("case-{}-opened", case.case_id),
                    at: case.opened_at.clone(),
                    actor: format!("rule:{}", case.rule_id),
                    case,
                    notify: None,
                })
            })
            .collect::<Result<_, SqlError>>()?;
        enqueue_to(tx, hooks, &outgoing, now_micros).await?;
        match outgoing.last() {
            Some(newest) if outgoing.len() == rows_per_statement(1) => last = newest.case.case_id,
            _ => return Ok(()),
        }
    }
}

const GENERATION: &str = "SELECT generation FROM change_generations WHERE name = 'cases'";

async fn case_generation(pool: &sqlx::AnyPool) -> Result<i64, SqlError> {
    let row = sqlx::query(GENERATION).fetch_one(pool).await?;
    Ok(row.try_get(0)?)
}

/// Raises the cases' generation: the last statement of a transaction that opens cases or
/// changes one's status or owner (last, so that PostgreSQL holds the row's lock only
/// while committing).
async fn raise_case_generation(tx: &mut sqlx::AnyConnection) -> Result<(), SqlError> {
    sqlx::query("UPDATE change_generations SET generation = generation + 1 WHERE name = 'cases'")
        .execute(tx)
        .await?;
    Ok(())
}

const EVENT_INSERT: &str = "INSERT INTO case_events (case_id, at, actor, kind, from_status, \
    to_status, note) VALUES";

fn event_row(case_id: i64, event: &CaseEvent) -> Vec<Param> {
    vec![
        Param::Int(Some(case_id)),
        Param::Text(Some(event.at.clone())),
        Param::Text(Some(event.actor.clone())),
        Param::Text(Some(event.kind.clone())),
        Param::Text(event.from_status.clone()),
        Param::Text(event.to_status.clone()),
        Param::Text(Some(event.note.clone())),
    ]
}

#[async_trait]
impl CaseStore for SqlStore {
    async fn set_rule(&self, rule: &AlertRule, actor: &str, at: &str) -> Result<(), SqlError> {
        let definition = serde_json::to_string(rule)
            .map_err(|e| SqlError::Corrupt(format!("rule {}: {e}", rule.rule_id)))?;
        sqlx::query(
            "INSERT INTO alert_rules (rule_id, definition, enabled, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (rule_id) DO UPDATE SET \
             definition = excluded.definition, enabled = excluded.enabled, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(rule.rule_id.clone())
        .bind(definition)
        .bind(i64::from(rule.enabled))
        .bind(at.to_owned())
        .bind(actor.to_owned())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn seed_rules(&self, rules: &[AlertRule], at: &str) -> Result<u64, SqlError> {
        let mut tx = self.pool().begin().await?;
        let existing: i64 = sqlx::query("SELECT COUNT(*) FROM alert_rules")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if existing > 0 {
            return Ok(0);
        }
        for rule in rules {
            let definition = serde_json::to_string(rule)
                .map_err(|e| SqlError::Corrupt(format!("rule {}: {e}", rule.rule_id)))?;
            sqlx::query(
                "INSERT INTO alert_rules (rule_id, definition, enabled, updated_at, updated_by) \
                 VALUES ($1, $2, $3, $4, 'cxm') ON CONFLICT (rule_id) DO NOTHING",
            )
            .bind(rule.rule_id.clone())
            .bind(definition)
            .bind(i64::from(rule.enabled))
            .bind(at.to_owned())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rules.len() as u64)
    }

    async fn rules(&self) -> Result<Vec<StoredRule>, SqlError> {
        let rows = sqlx::query(
            "SELECT rule_id, definition, enabled, updated_at, updated_by FROM alert_rules \
             ORDER BY rule_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get(0)?;
                let definition: String = row.try_get(1)?;
                let mut rule: AlertRule = serde_json::from_str(&definition)
                    .map_err(|e| SqlError::Corrupt(format!("alert rule {id}: {e}")))?;
                rule.enabled = row.try_get::<i64, _>(2)? != 0;
                Ok(StoredRule {
                    rule,
                    updated_at: row.try_get(3)?,
                    updated_by: row.try_get(4)?,
                })
            })
            .collect()
    }

    async fn case_triggers(
        &self,
        rule_id: &str,
        customers: &[&str],
        from_micros: Option<i64>,
    ) -> Result<HashMap<(String, String), Vec<(i64, String)>>, SqlError> {
        let mut triggers: HashMap<(String, String), Vec<(i64, String)>> = HashMap::new();
        let mut customers = customers.to_vec();
        customers.sort_unstable();
        customers.dedup();
        // The (rule, customer) index answers each customer with a lookup.
        let backend = crate::ReferenceStore::backend(self);
        for chunk in customers.chunks(rows_per_statement(1) - 2) {
            let sql = format!(
                "SELECT customer_id, triggered_micros, trigger_id FROM cases \
                 WHERE rule_id = {} AND triggered_micros >= {} AND customer_id IN {}",
                backend.placeholder(1),
                backend.placeholder(2),
                placeholders(backend, 1, chunk.len(), 3)
            );
            let mut query = sqlx::query(&sql)
                .bind(rule_id)
                .bind(from_micros.unwrap_or(i64::MIN));
            for customer in chunk {
                query = query.bind(*customer);
            }
            for row in query.fetch_all(self.pool()).await? {
                triggers
                    .entry((rule_id.to_owned(), row.try_get(0)?))
                    .or_default()
                    .push((row.try_get(1)?, row.try_get(2)?));
            }
        }
        Ok(triggers)
    }

    async fn open_cases(&self, cases: &[NewCase]) -> Result<u64, SqlError> {
        let now_micros = chrono::Utc::now().timestamp_micros();
        let mut seen = HashSet::new();
        let cases: Vec<&NewCase> = cases
            .iter()
            .filter(|c| seen.insert((c.rule_id.as_str(), c.trigger_id.as_str())))
            .collect();
        if cases.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool().begin().await?;
        let backend = crate::Backend::of(&tx);
        let mut opened = 0;
        // On SQLite, the first case this transaction opened (every later one is also
        // its own); on PostgreSQL, whose other sessions draw ids meanwhile, every id.
        let mut first: Option<i64> = None;
        let mut ids: Vec<i64> = Vec::new();
        for chunk in cases.chunks(rows_per_statement(12)) {
            match backend {
                crate::Backend::Sqlite => {
                    // SQLite runs about 40% fewer instructions for a plain insert than for
                    // one that skips taken keys, and an evaluation's cases are new but for
                    // a repeat it did not foresee: try the plain insert, and only when a
                    // trigger already has its case redo the statement (SQLite undid it
                    // alone) skipping those. Ids come back only until the first is known.
                    let returning = first.is_none();
                    let (count, returned) =
                        match insert_cases(&mut tx, backend, chunk, false, returning).await {
                            Err(SqlError::Database(sqlx::Error::Database(error)))
                                if error.is_unique_violation() =>
                            {
                                insert_cases(&mut tx, backend, chunk, true, true).await?
                            }
                            inserted => inserted?,
                        };
                    opened += count;
                    first = first.or(returned.iter().copied().min());
                }
                // A failed statement would end a PostgreSQL transaction.
                crate::Backend::Postgres => {
                    let (count, returned) =
                        insert_cases(&mut tx, backend, chunk, true, true).await?;
                    opened += count;
                    ids.extend(returned);
                }
            }
        }
        if opened == 0 {
            return Ok(0);
        }
        // Read after the inserts: a SQLite transaction that reads before it writes fails
        // when another writer commits in between.
        let hooks = enabled_webhooks(&mut tx).await?;
        let announce = hooks
            .iter()
            .any(|(_, kinds)| kinds.contains(&EventKind::CaseOpened));
        for (these, values) in opened_cases(backend, first, &ids) {
            // Each owner's notification, from the rows just written. (A case's opening
            // needs no event row: the timeline derives it from the case.)
            let event = EventKind::CaseOpened.as_str();
            let sql = format!(
                "INSERT INTO notifications (person_id, event, case_id, message, created_at) \
                 SELECT owner_id, '{event}', case_id, \
                 'Case ' || CAST(case_id AS TEXT) || ' is yours: ' || summary || \
                 ' (due ' || due_at || ')', opened_at \
                 FROM cases WHERE {these} AND owner_id IS NOT NULL ORDER BY case_id"
            );
            let mut query = sqlx::query(&sql);
            for value in &values {
                query = query.bind(*value);
            }
            query.execute(&mut *tx).await?;
            if announce {
                announce_opened(&mut tx, backend, &hooks, (&these, &values), now_micros).await?;
            }
        }
        raise_case_generation(&mut tx).await?;
        tx.commit().await?;
        Ok(opened)
    }

    async fn cases(&self, filter: &CaseFilter) -> Result<Vec<Case>, SqlError> {
        let (sql, values) = list_statement(filter);
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(case_of).collect()
    }

    async fn count_cases(&self, filter: &CaseFilter) -> Result<u64, SqlError> {
        let generation = case_generation(self.pool()).await?;
        self.count_at(generation, filter).await
    }

    async fn listed_cases(&self, filter: &CaseFilter) -> Result<(Vec<Case>, u64), SqlError> {
        if filter.limit > PAGE_AS_ONE_ROW {
            // Read before the cases, so that the count is never older than the list.
            let generation = case_generation(self.pool()).await?;
            let cases = self.cases(filter).await?;
            return Ok((cases, self.count_at(generation, filter).await?));
        }
        let (sql, values) = page_statement(crate::ReferenceStore::backend(self), filter);
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        let row = query.fetch_one(self.pool()).await?;
        let generation: i64 = row.try_get(0)?;
        let page: String = row.try_get(1)?;
        let page: Vec<Vec<serde_json::Value>> = serde_json::from_str(&page)
            .map_err(|e| SqlError::Corrupt(format!("a page of cases as JSON: {e}")))?;
        let cases = page
            .iter()
            .map(|case| case_of(case.as_slice()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((cases, self.count_at(generation, filter).await?))
    }

    async fn case(&self, case_id: i64) -> Result<Option<(Case, Vec<CaseEvent>)>, SqlError> {
        let row = sqlx::query(&format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1"
        ))
        .bind(case_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let case = case_of(&row)?;
        let opening = opened_event(&case);
        let stored = sqlx::query(
            "SELECT at, actor, kind, from_status, to_status, note FROM case_events \
             WHERE case_id = $1 ORDER BY event_id",
        )
        .bind(case_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            Ok(CaseEvent {
                at: row.try_get(0)?,
                actor: row.try_get(1)?,
                kind: row.try_get(2)?,
                from_status: row.try_get(3)?,
                to_status: row.try_get(4)?,
                note: row.try_get(5)?,
            })
        })
        .collect::<Result<Vec<_>, SqlError>>()?;
        let events = std::iter::once(opening).chain(stored).collect();
        Ok(Some((case, events)))
    }

    async fn closed_root_causes(
        &self,
        filter: &CaseFilter,
        from: &str,
        to: &str,
    ) -> Result<Vec<(String, u64, u64)>, SqlError> {
        let filter = CaseFilter {
            statuses: vec![CaseStatus::Closed],
            ..filter.clone()
        };
        let (clause, mut values) = filter_clause(&filter);
        values.push(from.to_owned());
        values.push(to.to_owned());
        let (f, t) = (values.len() - 1, values.len());
        let sql = format!(
            "SELECT root_cause, COUNT(*), SUM(CASE WHEN issue_fixed = 1 THEN 1 ELSE 0 END) \
             FROM cases{clause} AND root_cause IS NOT NULL AND closed_at >= ${f} \
             AND closed_at < ${t} GROUP BY root_cause ORDER BY 2 DESC, root_cause"
        );
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get(0)?,
                    row.try_get::<i64, _>(1)?.max(0) as u64,
                    row.try_get::<Option<i64>, _>(2)?.unwrap_or(0).max(0) as u64,
                ))
            })
            .collect()
    }

    async fn update_case(
        &self,
        case_id: i64,
        change: &CaseChange,
        actor: &str,
        at: &str,
    ) -> Result<Case, SqlError> {
        if change.is_empty() {
            return Err(SqlError::Refused(format!(
                "case {case_id}: the change changes nothing"
            )));
        }
        // Read, check, then write only if nobody changed the case in between: the write
        // names the version read (a transaction that starts by reading could not upgrade
        // to writing under SQLite's WAL once another writer committed).
        let row = sqlx::query(&format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1"
        ))
        .bind(case_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| SqlError::NotFound(format!("there is no case {case_id}")))?;
        let mut case = case_of(&row)?;
        if case.version != change.version {
            return Err(SqlError::Stale(format!(
                "case {case_id} was changed since you read it (version {} now, yours {}): reload it and try again",
                case.version, change.version
            )));
        }
        let mut events = Vec::new();
        let event = |kind: &str, note: String| CaseEvent {
            at: at.to_owned(),
            actor: actor.to_owned(),
            kind: kind.to_owned(),
            from_status: None,
            to_status: None,
            note,
        };
        if let Some(to) = change.status {
            let from = case.status;
            from.transition(to)
                .map_err(|e| SqlError::Refused(format!("case {case_id}: {e}")))?;
            case.status = to;
            match to {
                CaseStatus::Resolved => case.resolved_at = Some(at.to_owned()),
                CaseStatus::Closed => case.closed_at = Some(at.to_owned()),
                CaseStatus::Open | CaseStatus::InProgress => {
                    // taken up again: resolved and closed times start over
                    case.resolved_at = None;
                    case.closed_at = None;
                }
            }
            events.push(CaseEvent {
                from_status: Some(from.as_str().into()),
                to_status: Some(to.as_str().into()),
                ..event("status", String::new())
            });
        }
        if let Some(owner) = &change.owner_id {
            case.owner_id = Some(owner.clone());
            events.push(event("assigned", owner.clone()));
        }
        if let Some(code) = &change.root_cause {
            case.root_cause = Some(code.clone());
            events.push(event("root_cause", code.clone()));
        }
        if change.customer_reached.is_some() || change.issue_fixed.is_some() {
            if change.customer_reached.is_some() {
                case.customer_reached = change.customer_reached;
            }
            if change.issue_fixed.is_some() {
                case.issue_fixed = change.issue_fixed;
            }
            let yes_no = |v: Option<bool>| match v {
                Some(true) => "yes",
                Some(false) => "no",
                None => "not recorded",
            };
            events.push(event(
                "outcome",
                format!(
                    "customer reached: {}; issue fixed: {}",
                    yes_no(case.customer_reached),
                    yes_no(case.issue_fixed)
                ),
            ));
        }
        if let Some(note) = &change.note {
            events.push(event("note", note.clone()));
        }
        if case.first_action_at.is_none() {
            case.first_action_at = Some(at.to_owned());
        }
        let mut tx = self.pool().begin().await?;
        let updated = sqlx::query(
            "UPDATE cases SET status = $1, owner_id = $2, root_cause = $3, \
             customer_reached = $4, issue_fixed = $5, first_action_at = $6, resolved_at = $7, \
             closed_at = $8, version = version + 1 WHERE case_id = $9 AND version = $10",
        )
        .bind(case.status.as_str())
        .bind(case.owner_id.clone())
        .bind(case.root_cause.clone())
        .bind(case.customer_reached.map(i64::from))
        .bind(case.issue_fixed.map(i64::from))
        .bind(case.first_action_at.clone())
        .bind(case.resolved_at.clone())
        .bind(case.closed_at.clone())
        .bind(case_id)
        .bind(change.version)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(SqlError::Stale(format!(
                "case {case_id} was changed since you read it: reload it and try again"
            )));
        }
        let rows = events.iter().map(|e| event_row(case_id, e)).collect();
        insert_rows(&mut tx, EVENT_INSERT, "", 7, rows).await?;
        case.version += 1;
        let notify = change.owner_id.as_ref().map(|owner| {
            let message = format!(
                "Case {case_id} was handed to you by {actor}: {}",
                case.summary
            );
            (owner.clone(), message)
        });
        let outgoing = Outgoing {
            kind: EventKind::CaseUpdated,
            key: format!("case-{case_id}-v{}", case.version),
            at: at.to_owned(),
            actor: actor.to_owned(),
            case: case.clone(),
            notify,
        };
        enqueue(&mut tx, &[outgoing], chrono::Utc::now().timestamp_micros()).await?;
        if change.status.is_some() || change.owner_id.is_some() {
            raise_case_generation(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(case)
    }
}

impl SqlStore {
    /// How many cases match `filter` at `generation`, read before the count (so that a
    /// kept count is never older than the generation it is kept under): the count kept
    /// at it, the one being made, or a new one.
    async fn count_at(&self, generation: i64, filter: &CaseFilter) -> Result<u64, SqlError> {
        let (clause, values) = filter_clause(filter);
        let sql = format!("SELECT COUNT(*) FROM cases{clause}");
        let key = CaseCounts::key(&sql, &values);
        let counting = {
            let mut counts = lock(self.case_counts());
            match counts.get(generation, &key) {
                Some(Count::Known(count)) => return Ok(count),
                Some(Count::Counting(counting)) => counting,
                None => {
                    let (pool, sql, values) = (self.pool().clone(), sql.clone(), values.clone());
                    let counting = async move { count_rows(&pool, &sql, values).await.ok() }
                        .boxed()
                        .shared();
                    counts.keep(generation, key.clone(), Count::Counting(counting.clone()));
                    counting
                }
            }
        };
        let count = counting.await;
        lock(self.case_counts()).settle(generation, &key, count);
        match count {
            Some(count) => Ok(count),
            // The shared count failed: count here, to answer with this request's own error.
            None => count_rows(self.pool(), &sql, values).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_within_a_group_name_the_group() {
        let clause = |statuses: Vec<CaseStatus>| {
            filter_clause(&CaseFilter {
                statuses,
                ..Default::default()
            })
            .0
        };
        use CaseStatus::*;
        let active = " WHERE status IN ('open', 'in_progress')";
        assert_eq!(clause(vec![Open, InProgress]), active);
        assert_eq!(clause(vec![InProgress, Open, Open]), active);
        assert_eq!(
            clause(vec![InProgress]),
            " WHERE status IN ('in_progress') AND status IN ('open', 'in_progress')"
        );
        assert_eq!(
            clause(vec![Closed]),
            " WHERE status IN ('closed') AND status IN ('resolved', 'closed')"
        );
        assert_eq!(
            clause(vec![Closed, Resolved]),
            " WHERE status IN ('resolved', 'closed')"
        );
        assert_eq!(
            clause(vec![Open, Closed]),
            " WHERE status IN ('open', 'closed')"
        );
        assert_eq!(clause(vec![]), "");
    }

    /// SQLite's plan for each kind of list: the index that gives its cases in due order,
    /// so that the first hundred are read without sorting every case that matches.
    #[tokio::test]
    async fn lists_by_status_read_an_index_in_due_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqlStore::open_sqlite(&dir.path().join("cxm.sqlite"))
            .await
            .unwrap();
        use CaseStatus::*;
        let filter = |statuses: Vec<CaseStatus>, owner: Option<&str>| CaseFilter {
            statuses,
            owner_id: owner.map(str::to_owned),
            limit: 100,
            ..Default::default()
        };
        for (filter, index) in [
            (filter(vec![Open, InProgress], None), "cases_active_due"),
            (filter(vec![Open], None), "cases_active_due"),
            (filter(vec![InProgress], None), "cases_active_due"),
            (filter(vec![Resolved], None), "cases_finished_due"),
            (filter(vec![Closed], None), "cases_finished_due"),
            (
                filter(vec![Open, InProgress], Some("L-1")),
                "cases_owner_active_due",
            ),
        ] {
            // the list, and a page of it read as one row
            for (sql, values) in [
                list_statement(&filter),
                page_statement(crate::Backend::Sqlite, &filter),
            ] {
                let explain = format!("EXPLAIN QUERY PLAN {sql}");
                let mut query = sqlx::query(&explain);
                for value in values {
                    query = query.bind(value);
                }
                let plan: Vec<String> = query
                    .fetch_all(store.pool())
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| row.try_get::<String, _>(3).unwrap())
                    .collect();
                let plan = plan.join("; ");
                // The cases are not sorted; a page's own (at most 1,000) are, as they
                // are gathered into one array ("FOR json_group_array(ORDER BY)").
                assert!(
                    plan.contains(&format!("USING INDEX {index}"))
                        && !plan.contains("FOR ORDER BY"),
                    "{:?}: {plan}",
                    filter.statuses
                );
            }
        }
    }

    #[test]
    fn a_listed_case_reads_by_position_and_a_wrong_shape_is_an_error() {
        let row: Vec<serde_json::Value> = serde_json::from_str(
            r#"[7, "r", "C-1", "I-1", "2025-03-01T10:00:00Z", "s", null, "T-1", "L-1",
                "high", "in_progress", "o", "d", "f", null, null, "billing.a", 1, 0, 3]"#,
        )
        .unwrap();
        let case = case_of(row.as_slice()).unwrap();
        assert_eq!(
            (case.case_id, case.status, case.agent_id.as_deref()),
            (7, CaseStatus::InProgress, None)
        );
        assert_eq!(
            (case.customer_reached, case.issue_fixed, case.version),
            (Some(true), Some(false), 3)
        );
        let corrupt = |row: &[serde_json::Value]| match case_of(row) {
            Err(SqlError::Corrupt(message)) => message,
            other => panic!("{other:?}"),
        };
        assert!(corrupt(&row[..19]).contains("column 19"));
        let mut wrong = row.clone();
        wrong[1] = serde_json::json!(5);
        assert!(corrupt(&wrong).contains("not text"));
        let mut wrong = row.clone();
        wrong[2] = serde_json::Value::Null;
        assert_eq!(corrupt(&wrong), "cases.customer_id is null");
        let mut wrong = row;
        wrong[10] = serde_json::json!("lost");
        assert!(corrupt(&wrong).contains("cases.status"));
    }

    fn known(counts: &CaseCounts, generation: i64, key: &str) -> Option<u64> {
        match counts.get(generation, key) {
            Some(Count::Known(count)) => Some(count),
            _ => None,
        }
    }

    #[test]
    fn kept_counts_hold_for_their_generation_only() {
        let mut counts = CaseCounts::default();
        let key = CaseCounts::key(
            "SELECT COUNT(*) FROM cases WHERE owner_id = $1",
            &["L-1".into()],
        );
        assert!(counts.get(0, &key).is_none());
        counts.keep(3, key.clone(), Count::Known(42));
        assert_eq!(known(&counts, 3, &key), Some(42));
        // another generation, earlier or later, sees nothing
        assert!(counts.get(4, &key).is_none());
        assert!(counts.get(2, &key).is_none());
        // a count of another generation drops the rest
        let other = CaseCounts::key("SELECT COUNT(*) FROM cases", &[]);
        counts.keep(4, other.clone(), Count::Known(7));
        assert!(counts.get(4, &key).is_none());
        assert_eq!(known(&counts, 4, &other), Some(7));
    }

    #[test]
    fn a_count_being_made_is_shared_then_settled() {
        let mut counts = CaseCounts::default();
        let counting = futures::future::ready(Some(9)).boxed().shared();
        counts.keep(2, "k".into(), Count::Counting(counting));
        assert!(matches!(counts.get(2, "k"), Some(Count::Counting(_))));
        // settled at another generation: nothing changes
        counts.settle(1, "k", Some(5));
        assert!(matches!(counts.get(2, "k"), Some(Count::Counting(_))));
        counts.settle(2, "k", Some(9));
        assert_eq!(known(&counts, 2, "k"), Some(9));
        // a failed count is forgotten, so the next request counts again
        let failing = futures::future::ready(None).boxed().shared();
        counts.keep(2, "f".into(), Count::Counting(failing));
        counts.settle(2, "f", None);
        assert!(counts.get(2, "f").is_none());
    }

    #[test]
    fn keys_tell_values_apart() {
        let sql = "SELECT COUNT(*) FROM cases WHERE owner_id = $1 AND agent_id = $2";
        let a = CaseCounts::key(sql, &["L-1".into(), "A-1".into()]);
        let b = CaseCounts::key(sql, &["L-1A".into(), "-1".into()]);
        assert_ne!(a, b);
        let c = CaseCounts::key(sql, &["L-1\n3:A-1".into(), "".into()]);
        assert_ne!(a, c);
        assert_ne!(
            CaseCounts::key(sql, &[]),
            CaseCounts::key(sql, &["".into()])
        );
    }

    #[test]
    fn at_most_so_many_counts_are_kept() {
        let mut counts = CaseCounts::default();
        for i in 0..KEPT_COUNTS + 10 {
            counts.keep(1, format!("filter {i}"), Count::Known(i as u64));
            assert!(counts.counts.len() <= KEPT_COUNTS);
        }
        let last = format!("filter {}", KEPT_COUNTS + 9);
        assert_eq!(known(&counts, 1, &last), Some(KEPT_COUNTS as u64 + 9));
    }
}

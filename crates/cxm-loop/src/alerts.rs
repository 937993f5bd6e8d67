//! Evaluating alert rules over the fact tables and opening the cases they call for.
//!
//! Each enabled rule is one query over the fact tables; its firings (customer, triggering
//! record, time) pass through the rule's cooldown against the cases already stored
//! ([`cases_to_open`]), and the rest open cases in one transaction. A case is unique per
//! rule and triggering record, so evaluating the same data again opens nothing.
//!
//! - `low_score`: every survey answer scoring at most the threshold.
//! - `repeat_contacts`: every contact that is at least the N-th of its customer's contacts
//!   started within the D days up to and including its own start.
//! - `topic_kind`: every contact that discussed a topic of the kind.
//! - `high_value_comment`: every survey answer whose comment is negative
//!   ([`cxm_domain::sentiment::negative`]) from a customer among the top percent by
//!   lifetime value. Values come from the stored snapshot ([`customer_values`]), computed
//!   again when it is more than a day old.
//!
//! A case belongs to the agent of the triggering contact (for an answer: its contact, or
//! else the customer's latest contact before it), that agent's team at the time, and is
//! owned by the team's lead (else the lead or manager of the nearest unit above).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use cxm_catalog::DataDir;
use cxm_domain::RecordKind;
use cxm_domain::cases::{AlertCondition, AlertRule, Firing, cases_to_open};
use cxm_domain::sentiment::negative;
use cxm_facts::arrow::array::{Array, AsArray, Float64Array, RecordBatch, StringArray};
use cxm_facts::arrow::compute::cast;
use cxm_facts::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use cxm_facts::datafusion::datasource::MemTable;
use cxm_facts::datafusion::prelude::SessionContext;
use cxm_facts::{AddedRows, FactStore, FactTable, KeepRows};
use cxm_metrics::Organisation;
use cxm_sql::{CaseStore, CustomerValueStore, NewCase, SqlStore, ValueSnapshot};
use futures::{SinkExt, StreamExt};
use serde::Serialize;

use crate::{DAY_MICROS, LoopError};

/// What one evaluation did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AlertRun {
    pub rules: Vec<RuleRun>,
    /// Cases opened by all rules.
    pub opened: u64,
}

/// What one rule did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleRun {
    pub rule_id: String,
    /// Records that matched the rule.
    pub firings: u64,
    /// Cases opened (matches already behind a case, or within the cooldown of one, open none).
    pub opened: u64,
    /// Why the rule could not look at every record it watches (no customer values yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One match with what the case needs besides the firing itself.
struct Matched {
    firing: Firing,
    agent_id: Option<String>,
    summary: String,
}

/// Which records an evaluation looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    /// Records from this time on (each rule's age limit may look from later still); every
    /// record within the age limits when `None`.
    pub since: Option<DateTime<Utc>>,
    /// The kinds of records that changed: only rules that fire on or depend on one of them
    /// are evaluated, and a rule that only depends on one (the taxonomy, purchases) looks
    /// at every record within its age limit. Every rule when `None`.
    pub changed: Option<Vec<RecordKind>>,
}

impl Scope {
    /// Every rule, over records from `since` on (every record when `None`): the schedule
    /// and `cxm alerts run`.
    pub fn since(since: Option<DateTime<Utc>>) -> Self {
        Scope {
            since,
            changed: None,
        }
    }

    /// After records of `kind` were stored, the earliest of them at `since`.
    pub fn ingested(kind: RecordKind, since: Option<DateTime<Utc>>) -> Self {
        Scope {
            since,
            changed: Some(vec![kind]),
        }
    }

    /// Both scopes' records: the earlier time, the kinds of both.
    pub fn merge(self, other: Scope) -> Scope {
        let since = match (self.since, other.since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            _ => None,
        };
        let changed = match (self.changed, other.changed) {
            (Some(mut a), Some(b)) => {
                for kind in b {
                    if !a.contains(&kind) {
                        a.push(kind);
                    }
                }
                Some(a)
            }
            _ => None,
        };
        Scope { since, changed }
    }

    /// Whether records of `kind` are known to have changed (not when every rule is
    /// evaluated because what changed is not known).
    fn saw_change_of(&self, kind: RecordKind) -> bool {
        self.changed
            .as_ref()
            .is_some_and(|kinds| kinds.contains(&kind))
    }

    /// Whether `rule` is evaluated, and from when (before its own age limit).
    fn of(&self, rule: &AlertRule) -> Option<Option<DateTime<Utc>>> {
        let Some(changed) = &self.changed else {
            return Some(self.since);
        };
        let condition = &rule.condition;
        if changed.contains(&condition.fires_on()) {
            Some(self.since)
        } else if condition
            .depends_on()
            .is_some_and(|kind| changed.contains(&kind))
        {
            Some(None)
        } else {
            None
        }
    }
}

/// Evaluates the enabled rules `scope` calls for and opens the cases they call for,
/// stamped `now`. Seeds the default rules into a store that has none.
pub async fn evaluate(
    dir: &DataDir,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<AlertRun, LoopError> {
    evaluate_after(dir, scope, now, None).await
}

/// The columns of contacts the rules over contacts read.
const CONTACT_COLUMNS: [&str; 5] = [
    "interaction_id",
    "customer_id",
    "agent_id",
    "started_at",
    "topics",
];

/// The contacts an ingest at `now` should keep as it writes them, for the rules evaluated
/// after it ([`evaluate_after`]): those from the earliest start an enabled rule over
/// contacts may look at (its age limit, less a repeat-contact window). `None` when no
/// enabled rule fires on contacts, or one looks at contacts of any age.
pub async fn contacts_to_keep(
    dir: &DataDir,
    now: DateTime<Utc>,
) -> Result<Option<KeepRows>, LoopError> {
    let store = dir.reference().await?;
    let rules = enabled_rules(&store, now).await;
    store.close().await;
    let from = earliest(
        rules?
            .iter()
            .filter(|rule| rule.condition.fires_on() == RecordKind::Interactions)
            .map(|rule| contacts_from(rule, None, now.timestamp_micros())),
    );
    Ok(from.map(|from_micros| KeepRows {
        from_micros,
        columns: CONTACT_COLUMNS.map(str::to_owned).to_vec(),
        max_rows: SHARED_CONTACTS_MAX_ROWS,
    }))
}

/// The enabled rules, after seeding the default rules into a store that has none.
async fn enabled_rules(store: &SqlStore, now: DateTime<Utc>) -> Result<Vec<AlertRule>, LoopError> {
    store
        .seed_rules(&AlertRule::defaults(), &rfc3339(now))
        .await?;
    Ok(store
        .rules()
        .await?
        .into_iter()
        .map(|stored| stored.rule)
        .filter(|rule| rule.enabled)
        .collect())
}

/// When a rule evaluated from `since` (every record when `None`) at `now` looks from: the
/// later of `since` and its age limit; `None` when it looks at every record.
fn looks_from(rule: &AlertRule, since: Option<DateTime<Utc>>, now_micros: i64) -> Option<i64> {
    match (
        since.map(|s| s.timestamp_micros()),
        rule.oldest_micros(now_micros),
    ) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The earliest of `times`; `None` when there is none, or one is `None` (from the start).
fn earliest(times: impl IntoIterator<Item = Option<i64>>) -> Option<i64> {
    times
        .into_iter()
        .try_fold(None, |earliest: Option<i64>, time| {
            time.map(|t| Some(earliest.map_or(t, |e| e.min(t))))
        })
        .flatten()
}

/// The earliest start of the contacts a rule over contacts reads: from where it looks,
/// less its repeat-contact window.
fn contacts_from(rule: &AlertRule, since: Option<DateTime<Utc>>, now_micros: i64) -> Option<i64> {
    let window = match rule.condition {
        AlertCondition::RepeatContacts { days, .. } => i64::from(days) * DAY_MICROS,
        _ => 0,
    };
    looks_from(rule, since, now_micros).map(|at| at - window)
}

/// [`evaluate`] right after an ingest that added `added`: the rules over contacts take
/// the recent contacts from the table as it was before the ingest plus `added`, instead of
/// reading back what the ingest just wrote. Rows that do not fit (another table, kept from
/// too late, or the table changed since) are ignored and the table is read.
pub async fn evaluate_after(
    dir: &DataDir,
    scope: &Scope,
    now: DateTime<Utc>,
    added: Option<&AddedRows>,
) -> Result<AlertRun, LoopError> {
    let started = std::time::Instant::now();
    let store = dir.reference().await?;
    let stamp = rfc3339(now);
    let rules: Vec<(AlertRule, Option<DateTime<Utc>>)> = enabled_rules(&store, now)
        .await?
        .into_iter()
        .filter_map(|rule| scope.of(&rule).map(|since| (rule, since)))
        .collect();
    let mut run = AlertRun::default();
    if rules.is_empty() {
        store.close().await;
        return Ok(run);
    }
    let org = Organisation::load_structure(&store).await?;
    let ctx = SessionContext::new();
    let answers = rules
        .iter()
        .any(|(rule, _)| rule.condition.fires_on() == RecordKind::Surveys);
    let tables: &[FactTable] = if answers {
        &FactTable::ALL
    } else {
        &[FactTable::Interactions]
    };
    let facts = dir.facts().await?;
    facts.register_only(&ctx, tables).await?;
    let owners = Owners::new(&org);
    // Each rule looks from `since` on, or from its age limit when that is later.
    let now_micros = now.timestamp_micros();
    let rule_from =
        |(rule, since): &(AlertRule, Option<DateTime<Utc>>)| looks_from(rule, *since, now_micros);
    tracing::debug!(
        rules = rules.len(),
        ms = started.elapsed().as_millis(),
        "alert evaluation: rules, structure and tables read"
    );
    // The rules over contacts read them from the earliest start any of them needs on.
    let contacts_from: Vec<Option<i64>> = rules
        .iter()
        .filter(|(rule, _)| rule.condition.fires_on() == RecordKind::Interactions)
        .map(|(rule, since)| contacts_from(rule, *since, now_micros))
        .collect();
    let added = added.filter(|added| added.table == FactTable::Interactions);
    let contacts = contacts_table(
        &ctx,
        &contacts_from,
        added.map(|added| (&facts, added)),
        SHARED_CONTACTS_MAX_ROWS,
    )
    .await?;
    // Cases are written while the next rules are matched: the database's writer and the
    // query engine work at once (the matcher never waits for the writer).
    let (mut to_write, mut writes) =
        futures::channel::mpsc::channel::<(usize, Vec<NewCase>)>(rules.len());
    let mut opened = vec![0u64; rules.len()];
    let writer = async {
        while let Some((index, cases)) = writes.next().await {
            let write_started = std::time::Instant::now();
            // One transaction a rule: one commit (and sync) however many cases it opens.
            opened[index] += store.open_cases(&cases).await?;
            tracing::debug!(
                rule = cases.first().map_or("", |case| case.rule_id.as_str()),
                opened = opened[index],
                ms = write_started.elapsed().as_millis(),
                "alert cases written"
            );
        }
        Ok::<_, LoopError>(())
    };
    let matcher = async {
        // Customer values are brought up to date once, for the first rule that needs them.
        let mut values: Option<Option<String>> = None;
        for entry in rules {
            let rule_since = rule_from(&entry).and_then(DateTime::from_timestamp_micros);
            let (rule, since) = entry;
            // An ingest of records older than the rule's age limit: say why they opened nothing.
            let too_old = match (since, rule_since, rule.max_age_days) {
                (Some(since), Some(from), Some(days)) if since < from => Some(format!(
                    "records before {} are more than {days} days old: history, not followed up",
                    rfc3339(from)
                )),
                _ => None,
            };
            let rule_started = std::time::Instant::now();
            let (matched, note) = match &rule.condition {
                AlertCondition::HighValueComment { top_percent } => {
                    if values.is_none() {
                        // New purchases make stored values out of date, however recent.
                        let purchases = scope.saw_change_of(RecordKind::Transactions);
                        values =
                            Some(refresh_customer_values(dir, &store, &ctx, now, purchases).await?);
                    }
                    let top = store.top_customer_values(*top_percent).await?;
                    let matched =
                        high_value_matches(&ctx, &rule.rule_id, &top, *top_percent, rule_since)
                            .await?;
                    (matched, values.clone().flatten().or(too_old))
                }
                _ => (
                    matches(&ctx, &org, &rule, rule_since, contacts).await?,
                    too_old,
                ),
            };
            let firings = matched.len() as u64;
            let matched_ms = rule_started.elapsed().as_millis();
            let mut details: HashMap<String, (Option<String>, String)> = matched
                .iter()
                .map(|m| {
                    (
                        m.firing.trigger_id.clone(),
                        (m.agent_id.clone(), m.summary.clone()),
                    )
                })
                .collect();
            // The firings meet the cases of their customers triggered up to a cooldown
            // before the rule looks from.
            let cooldown = i64::from(rule.cooldown_days) * DAY_MICROS;
            let customers: Vec<&str> = matched
                .iter()
                .map(|m| m.firing.customer_id.as_str())
                .collect();
            let existing = if customers.is_empty() {
                HashMap::new()
            } else {
                let from = rule_since.map(|since| since.timestamp_micros() - cooldown);
                store.case_triggers(&rule.rule_id, &customers, from).await?
            };
            let to_open = cases_to_open(
                matched.into_iter().map(|m| m.firing).collect(),
                cooldown,
                &existing,
            );
            let due = rfc3339(now + TimeDelta::hours(i64::from(rule.sla_hours())));
            let cases: Vec<NewCase> = to_open
                .into_iter()
                .map(|firing| {
                    let (agent_id, summary) =
                        details.remove(&firing.trigger_id).unwrap_or_default();
                    let unit_id = agent_id
                        .as_deref()
                        .and_then(|agent| org.unit_of(agent, firing.at_micros))
                        .map(str::to_owned);
                    let owner_id = unit_id.as_deref().and_then(|u| owners.of(&org, u));
                    NewCase {
                        rule_id: firing.rule_id,
                        customer_id: firing.customer_id,
                        trigger_id: firing.trigger_id,
                        triggered_at: DateTime::from_timestamp_micros(firing.at_micros)
                            .map(rfc3339)
                            .unwrap_or_default(),
                        triggered_micros: firing.at_micros,
                        summary,
                        agent_id,
                        unit_id,
                        owner_id,
                        priority: rule.priority,
                        opened_at: stamp.clone(),
                        due_at: due.clone(),
                    }
                })
                .collect();
            tracing::debug!(
                rule = %rule.rule_id,
                firings,
                to_open = cases.len(),
                match_ms = matched_ms,
                ms = rule_started.elapsed().as_millis(),
                "alert rule evaluated"
            );
            let index = run.rules.len();
            run.rules.push(RuleRun {
                rule_id: rule.rule_id,
                firings,
                opened: 0,
                note,
            });
            if !cases.is_empty() && to_write.send((index, cases)).await.is_err() {
                // The writer stopped on an error, which the join reports.
                break;
            }
        }
        drop(to_write);
        Ok::<_, LoopError>(run)
    };
    let ((), mut run) = futures::try_join!(writer, matcher)?;
    for (rule, opened) in run.rules.iter_mut().zip(opened) {
        rule.opened = opened;
        run.opened += opened;
    }
    store.close().await;
    Ok(run)
}

/// Recent contacts the rules over contacts may share from memory (about 100 bytes each).
const SHARED_CONTACTS_MAX_ROWS: usize = 2_000_000;

/// The table the rules over contacts read. When two or more of them look at recent
/// contacts (`from`: the earliest start each needs), those contacts are read once, from
/// the earliest on, into memory as `recent_interactions`. In a file in random time order
/// every page holds some recent contacts, so each rule's own query would decompress the
/// whole table again.
///
/// With the rows an ingest just `added` to the store's contacts (kept from early enough,
/// and the table unchanged since), only the table as it was before the ingest is read, and
/// the added rows join it; then even a single rule reads from memory. Stays `interactions` for a single rule
/// without added rows, a rule that looks at every contact, or more than `max_rows` recent
/// contacts.
async fn contacts_table(
    ctx: &SessionContext,
    from: &[Option<i64>],
    added: Option<(&FactStore, &AddedRows)>,
    max_rows: usize,
) -> Result<&'static str, LoopError> {
    const TABLE: &str = "interactions";
    const BEFORE: &str = "interactions_before_ingest";
    let Some(earliest) = earliest(from.iter().copied()) else {
        return Ok(TABLE);
    };
    let mut added = added.filter(|(_, added)| added.from_micros <= earliest);
    if let Some((facts, rows)) = added {
        let version = facts.version_of(FactTable::Interactions).await?;
        if version == rows.version {
            facts
                .register_as_of(ctx, FactTable::Interactions, rows.base_version, BEFORE)
                .await?;
        } else {
            added = None;
        }
    }
    let added = added.map(|(_, rows)| rows);
    if added.is_none() && from.len() < 2 {
        return Ok(TABLE);
    }
    let source = if added.is_some() { BEFORE } else { TABLE };
    let sql = format!(
        "SELECT {} FROM {source} WHERE CAST(started_at AS BIGINT) >= {earliest}",
        CONTACT_COLUMNS.join(", ")
    );
    let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
    let schema = stream.schema();
    let mut partitions = vec![Vec::new(); ctx.state().config().target_partitions().max(1)];
    let mut rows = added.map_or(0, AddedRows::rows);
    if rows > max_rows {
        return Ok(TABLE);
    }
    let mut batches = 0;
    let count = partitions.len();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows();
        if rows > max_rows {
            return Ok(TABLE);
        }
        partitions[batches % count].push(batch);
        batches += 1;
    }
    for batch in added.iter().flat_map(|added| &added.batches) {
        // The kept rows are as written; the table's reader may type them otherwise
        // (string views).
        let columns = schema
            .fields()
            .iter()
            .map(|field| cast(column(batch, field.name())?, field.data_type()).map_err(Into::into))
            .collect::<Result<Vec<_>, LoopError>>()?;
        partitions[batches % count].push(RecordBatch::try_new(schema.clone(), columns)?);
        batches += 1;
    }
    ctx.register_table(
        "recent_interactions",
        Arc::new(MemTable::try_new(schema, partitions)?),
    )?;
    Ok("recent_interactions")
}

/// How old stored customer values may be before an evaluation computes them again.
const VALUES_MAX_AGE_MICROS: i64 = DAY_MICROS;

/// Brings the stored customer values up to date: computes them again (BG/NBD and
/// Gamma-Gamma over every customer's purchases, [`cxm_insight::reports::clv`]) when there
/// are none, they are more than a day old, or `purchases_changed`. Returns why the values
/// are missing or old, when they are.
async fn refresh_customer_values(
    dir: &DataDir,
    store: &SqlStore,
    ctx: &SessionContext,
    now: DateTime<Utc>,
    purchases_changed: bool,
) -> Result<Option<String>, LoopError> {
    let stored = store.value_snapshot().await?;
    let now_micros = now.timestamp_micros();
    let age = |s: &ValueSnapshot| now_micros - s.computed_micros;
    if !purchases_changed
        && stored
            .as_ref()
            .is_some_and(|s| (0..VALUES_MAX_AGE_MICROS).contains(&age(s)))
    {
        return Ok(None);
    }
    let why = match compute_customer_values(dir, ctx).await? {
        Ok((end, values)) => {
            store
                .replace_customer_values(&rfc3339(now), now_micros, &end, &values)
                .await?;
            return Ok(None);
        }
        Err(why) => why,
    };
    Ok(Some(match stored {
        Some(s) => format!(
            "customer values of {} were used: they could not be computed again ({why})",
            s.computed_at
        ),
        None => format!("no customer has a lifetime value yet: {why}"),
    }))
}

/// Every customer's lifetime value and probability of being alive, and the last day of
/// purchases they were computed to; `Err` says why they cannot be.
async fn compute_customer_values(
    dir: &DataDir,
    ctx: &SessionContext,
) -> Result<Result<(String, Vec<(String, f64, f64)>), String>, LoopError> {
    let any = ctx
        .sql("SELECT 1 AS one FROM transactions WHERE kind = 'purchase' AND amount > 0 LIMIT 1")
        .await?
        .collect()
        .await?;
    if any.iter().all(|b| b.num_rows() == 0) {
        return Ok(Err("no purchases are stored".to_owned()));
    }
    let engine = cxm_metrics::Engine::open(dir).await?;
    let request = cxm_insight::reports::ClvRequest::default();
    match cxm_insight::reports::clv(&engine, &request).await {
        Ok(report) => Ok(Ok((
            report.end.to_string(),
            report
                .values
                .into_iter()
                .filter(|c| c.value.is_finite() && c.probability_alive.is_finite())
                .map(|c| (c.customer_id, c.value, c.probability_alive))
                .collect(),
        ))),
        Err(error) => Ok(Err(error.to_string())),
    }
}

/// A survey answer whose comment is negative, from a valued customer.
struct NegativeAnswer {
    trigger_id: String,
    customer_id: String,
    at_micros: i64,
    comment: String,
    /// the negative words it holds
    words: Vec<&'static str>,
    /// the customer's lifetime value
    value: f64,
}

/// The answers with a negative comment from the `top` customers (by value) since `since`.
async fn high_value_matches(
    ctx: &SessionContext,
    rule_id: &str,
    top: &[cxm_sql::CustomerValue],
    top_percent: u32,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<Matched>, LoopError> {
    if top.is_empty() {
        return Ok(Vec::new());
    }
    let customers = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        customers,
        vec![
            Arc::new(StringArray::from_iter_values(
                top.iter().map(|v| v.customer_id.as_str()),
            )),
            Arc::new(Float64Array::from_iter_values(top.iter().map(|v| v.value))),
        ],
    )?;
    ctx.deregister_table("high_value")?;
    ctx.register_batch("high_value", batch)?;
    // The comments of those customers; only the negative ones are kept (with their
    // answers' own columns) and get their agent.
    let sql = format!(
        "SELECT s.response_id AS trigger_id, s.customer_id, s.answered_at AS at, \
                s.interaction_id, s.comment, h.value \
         FROM survey_responses s JOIN high_value h ON h.customer_id = s.customer_id \
         WHERE s.comment IS NOT NULL AND s.answered_at IS NOT NULL{}",
        since_clause("s.answered_at", since)
    );
    let mut negative_answers: Vec<NegativeAnswer> = Vec::new();
    let mut kept = Vec::new();
    for batch in ctx.sql(&sql).await?.collect().await? {
        let triggers = text_column(&batch, "trigger_id")?;
        let customers = text_column(&batch, "customer_id")?;
        let comments = text_column(&batch, "comment")?;
        let at = cast(column(&batch, "at")?, &DataType::Int64)?;
        let at = at.as_primitive::<Int64Type>();
        let value = cast(column(&batch, "value")?, &DataType::Float64)?;
        let value = value.as_primitive::<cxm_facts::arrow::datatypes::Float64Type>();
        let mut keep = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let found = match (&triggers[row], &customers[row], &comments[row]) {
                (Some(trigger), Some(customer), Some(comment)) => {
                    negative(comment).map(|words| NegativeAnswer {
                        trigger_id: trigger.clone(),
                        customer_id: customer.clone(),
                        at_micros: at.value(row),
                        comment: comment.clone(),
                        words,
                        value: value.value(row),
                    })
                }
                _ => None,
            };
            keep.push(found.is_some());
            negative_answers.extend(found);
        }
        let keep = cxm_facts::arrow::array::BooleanArray::from(keep);
        kept.push(cxm_facts::arrow::compute::filter_record_batch(
            &batch, &keep,
        )?);
    }
    if negative_answers.is_empty() {
        return Ok(Vec::new());
    }
    let schema = kept[0].schema();
    ctx.deregister_table("negative_answers")?;
    ctx.register_table(
        "negative_answers",
        Arc::new(MemTable::try_new(schema, vec![kept])?),
    )?;
    let sql = format!(
        "{} SELECT trigger_id, agent_id FROM best",
        answer_agents("SELECT trigger_id, customer_id, at, interaction_id FROM negative_answers")
    );
    let mut agents: HashMap<String, String> = HashMap::new();
    for batch in ctx.sql(&sql).await?.collect().await? {
        let triggers = text_column(&batch, "trigger_id")?;
        let ids = text_column(&batch, "agent_id")?;
        for (trigger, agent) in triggers.into_iter().zip(ids) {
            if let (Some(trigger), Some(agent)) = (trigger, agent) {
                agents.insert(trigger, agent);
            }
        }
    }
    Ok(negative_answers
        .into_iter()
        .map(|answer| {
            let words = answer.words.join(", ");
            let excerpt: String = answer.comment.chars().take(160).collect();
            let more = if excerpt.len() < answer.comment.len() {
                "…"
            } else {
                ""
            };
            Matched {
                agent_id: agents.remove(&answer.trigger_id),
                summary: format!(
                    "negative comment ({words}) from customer {}, lifetime value {:.0} \
                     (top {top_percent}%), answer {}: \"{excerpt}{more}\"",
                    answer.customer_id, answer.value, answer.trigger_id
                ),
                firing: Firing {
                    rule_id: rule_id.to_owned(),
                    customer_id: answer.customer_id,
                    at_micros: answer.at_micros,
                    trigger_id: answer.trigger_id,
                },
            }
        })
        .collect())
}

fn column<'b>(
    batch: &'b RecordBatch,
    name: &str,
) -> Result<&'b cxm_facts::arrow::array::ArrayRef, LoopError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| LoopError::Engine(format!("no column {name}")))
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `AND <column> >= <since>` when evaluating from a time on.
fn since_clause(column: &str, since: Option<DateTime<Utc>>) -> String {
    since.map_or_else(String::new, |since| {
        format!(
            " AND CAST({column} AS BIGINT) >= {}",
            since.timestamp_micros()
        )
    })
}

/// `WITH fired AS (<answers>), …, best AS (…)`: each answer of `answers` (with columns
/// `trigger_id`, `customer_id`, `at`, `interaction_id`) and its agent in `best`
/// (`trigger_id`, `agent_id`): the agent of the answer's contact, else of the customer's
/// latest contact before the answer.
pub(crate) fn answer_agents(answers: &str) -> String {
    format!(
        "WITH fired AS ({answers}), \
         linked AS ( \
           SELECT f.trigger_id, i.agent_id, 0 AS preference, i.started_at \
           FROM fired f JOIN interactions i ON i.interaction_id = f.interaction_id \
           UNION ALL \
           SELECT f.trigger_id, i.agent_id, 1 AS preference, i.started_at \
           FROM fired f JOIN interactions i \
             ON i.customer_id = f.customer_id AND i.started_at <= f.at), \
         best AS ( \
           SELECT trigger_id, agent_id FROM ( \
             SELECT trigger_id, agent_id, ROW_NUMBER() OVER ( \
               PARTITION BY trigger_id ORDER BY preference, started_at DESC, agent_id) AS choice \
             FROM linked) WHERE choice = 1)"
    )
}

/// Quotes a text literal for SQL.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The records matching one rule.
async fn matches(
    ctx: &SessionContext,
    org: &Organisation,
    rule: &AlertRule,
    since: Option<DateTime<Utc>>,
    contacts: &str,
) -> Result<Vec<Matched>, LoopError> {
    let sql = match &rule.condition {
        AlertCondition::LowScore { measure, at_most } => {
            let m = measure.as_str();
            let since = since_clause("answered_at", since);
            // An answer's agent: that of its contact, else of the customer's latest contact
            // before the answer.
            let fired = format!(
                "SELECT response_id AS trigger_id, customer_id, answered_at AS at, interaction_id, \
                        CAST({m} AS BIGINT) AS value \
                 FROM survey_responses WHERE {m} <= {at_most}{since}"
            );
            format!(
                "{} SELECT f.trigger_id, f.customer_id, CAST(f.at AS BIGINT) AS at, b.agent_id, f.value \
                 FROM fired f LEFT JOIN best b ON b.trigger_id = f.trigger_id",
                answer_agents(&fired)
            )
        }
        AlertCondition::RepeatContacts {
            contacts: at_least,
            days,
        } => {
            return repeat_matches(ctx, rule, *at_least, *days, since, contacts).await;
        }
        AlertCondition::TopicKind { kind } => {
            let mut codes: Vec<&str> = org
                .topics()
                .filter(|(_, topic)| topic.kind == kind.0.as_str())
                .map(|(code, _)| code)
                .collect();
            if codes.is_empty() {
                return Ok(Vec::new());
            }
            codes.sort_unstable();
            let list = codes
                .iter()
                .map(|c| literal(c))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "SELECT interaction_id AS trigger_id, customer_id, CAST(started_at AS BIGINT) AS at, \
                        agent_id, array_to_string(topics, ', ') AS value \
                 FROM {contacts} \
                 WHERE array_has_any(topics, make_array({list})){}",
                since_clause("started_at", since)
            )
        }
        // Matched from the stored customer values (`high_value_matches`).
        AlertCondition::HighValueComment { .. } => return Ok(Vec::new()),
    };
    let batches = ctx.sql(&sql).await?.collect().await?;
    let mut matched = Vec::new();
    for batch in &batches {
        read_matches(batch, rule, &mut matched)?;
    }
    Ok(matched)
}

/// The contacts that are at least the `contacts`-th of their customer's contacts started
/// within the `days` days up to and including their own start (contacts at the same
/// instant count each other), from `since` on.
///
/// The customers' contacts stream in (customer, start) order and a window per customer
/// counts them in one pass; DataFusion's RANGE window did the same count with a value
/// comparison per row and took 0.3 s for the 60,000 contacts a day's batch brings in.
async fn repeat_matches(
    ctx: &SessionContext,
    rule: &AlertRule,
    contacts: u32,
    days: u32,
    since: Option<DateTime<Utc>>,
    table: &str,
) -> Result<Vec<Matched>, LoopError> {
    // The window looks back `days` before the first contact evaluated, over the contacts of
    // the customers who have one evaluated.
    let from = since.map(|s| s - TimeDelta::days(i64::from(days)));
    let customers = if since.is_some() {
        format!(
            " AND customer_id IN (SELECT customer_id FROM {table} WHERE TRUE{})",
            since_clause("started_at", since)
        )
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT interaction_id AS trigger_id, customer_id, CAST(started_at AS BIGINT) AS at, \
                agent_id \
         FROM {table} WHERE TRUE{}{customers} \
         ORDER BY customer_id, started_at",
        since_clause("started_at", from),
    );
    let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
    let window = RepeatWindow {
        span: i64::from(days) * DAY_MICROS,
        contacts: contacts as usize,
        since: since.map_or(i64::MIN, |s| s.timestamp_micros()),
    };
    let mut state = WindowState::default();
    let mut matched = Vec::new();
    let mut emit = |row: PendingContact, count: usize| {
        matched.push(Matched {
            summary: summary(
                &rule.condition,
                &count.to_string(),
                &row.customer,
                &row.trigger,
            ),
            firing: Firing {
                rule_id: rule.rule_id.clone(),
                customer_id: row.customer,
                at_micros: row.at,
                trigger_id: row.trigger,
            },
            agent_id: row.agent,
        });
    };
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let triggers = text_column(&batch, "trigger_id")?;
        let customers = text_column(&batch, "customer_id")?;
        let agents = text_column(&batch, "agent_id")?;
        let at = batch
            .column_by_name("at")
            .ok_or_else(|| LoopError::Engine("no column at".into()))?;
        let at = cast(at, &DataType::Int64)?;
        let at = at.as_primitive::<Int64Type>();
        for (row, ((trigger, customer), agent)) in
            triggers.into_iter().zip(customers).zip(agents).enumerate()
        {
            let (Some(trigger), Some(customer)) = (trigger, customer) else {
                continue;
            };
            if at.is_null(row) {
                continue;
            }
            let contact = PendingContact {
                trigger,
                customer,
                agent,
                at: at.value(row),
            };
            state.push(contact, &window, &mut emit);
        }
    }
    state.flush(&window, &mut emit);
    Ok(matched)
}

/// A repeat-contact rule's window.
struct RepeatWindow {
    span: i64,
    contacts: usize,
    since: i64,
}

/// A contact seen in (customer, start) order, waiting for the rest of its instant.
struct PendingContact {
    trigger: String,
    customer: String,
    agent: Option<String>,
    at: i64,
}

/// One customer's contacts within the window, and those at the latest instant (they count
/// each other, so they are judged together).
#[derive(Default)]
struct WindowState {
    times: std::collections::VecDeque<i64>,
    instant: Vec<PendingContact>,
}

impl WindowState {
    fn push(
        &mut self,
        contact: PendingContact,
        window: &RepeatWindow,
        emit: &mut impl FnMut(PendingContact, usize),
    ) {
        let (same_customer, same_instant) = self.instant.first().map_or((false, false), |c| {
            let same = c.customer == contact.customer;
            (same, same && c.at == contact.at)
        });
        if !same_instant {
            self.flush(window, emit);
            if !same_customer {
                self.times.clear();
            }
        }
        self.instant.push(contact);
    }

    /// Judges the contacts of the latest instant.
    fn flush(&mut self, window: &RepeatWindow, emit: &mut impl FnMut(PendingContact, usize)) {
        let Some(at) = self.instant.first().map(|c| c.at) else {
            return;
        };
        self.times.extend(self.instant.iter().map(|c| c.at));
        while self.times.front().is_some_and(|&t| t < at - window.span) {
            self.times.pop_front();
        }
        let count = self.times.len();
        for contact in self.instant.drain(..) {
            if count >= window.contacts && contact.at >= window.since {
                emit(contact, count);
            }
        }
    }
}

/// What a case says about the record that opened it; `value` is what the rule measured
/// (the score, the contact's number in the window, the topics).
fn summary(condition: &AlertCondition, value: &str, customer: &str, trigger: &str) -> String {
    match condition {
        AlertCondition::LowScore { measure, .. } => format!(
            "{} {value} from customer {customer} (answer {trigger})",
            measure.as_str().to_uppercase()
        ),
        AlertCondition::RepeatContacts { days, .. } => format!(
            "contact {value} within {days} days from customer {customer} (contact {trigger})"
        ),
        AlertCondition::TopicKind { kind } => format!(
            "{} topic ({value}) discussed with customer {customer} (contact {trigger})",
            kind.0.as_str()
        ),
        AlertCondition::HighValueComment { .. } => {
            format!("comment from customer {customer} (answer {trigger})")
        }
    }
}

fn text_column(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>, LoopError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| LoopError::Engine(format!("no column {name}")))?;
    let column = cast(column, &DataType::Utf8)
        .map_err(|e| LoopError::Engine(format!("{name} as text: {e}")))?;
    let values = column.as_string::<i32>();
    Ok((0..values.len())
        .map(|i| (!values.is_null(i)).then(|| values.value(i).to_owned()))
        .collect())
}

fn read_matches(
    batch: &RecordBatch,
    rule: &AlertRule,
    out: &mut Vec<Matched>,
) -> Result<(), LoopError> {
    let triggers = text_column(batch, "trigger_id")?;
    let customers = text_column(batch, "customer_id")?;
    let agents = text_column(batch, "agent_id")?;
    let values = text_column(batch, "value")?;
    let at = batch
        .column_by_name("at")
        .ok_or_else(|| LoopError::Engine("no column at".into()))?;
    let at = cast(at, &DataType::Int64).map_err(|e| LoopError::Engine(e.to_string()))?;
    let at = at.as_primitive::<Int64Type>();
    for row in 0..batch.num_rows() {
        let (Some(trigger), Some(customer)) = (&triggers[row], &customers[row]) else {
            continue;
        };
        if at.is_null(row) {
            continue;
        }
        let value = values[row].clone().unwrap_or_default();
        let summary = summary(&rule.condition, &value, customer, trigger);
        out.push(Matched {
            firing: Firing {
                rule_id: rule.rule_id.clone(),
                customer_id: customer.clone(),
                at_micros: at.value(row),
                trigger_id: trigger.clone(),
            },
            agent_id: agents[row].clone(),
            summary,
        });
    }
    Ok(())
}

/// Who owns a unit's cases: its lead, else the lead or manager of the nearest unit above.
struct Owners {
    /// unit → its leads' and managers' person ids (leads first, then by id)
    by_unit: HashMap<String, Vec<(u8, String)>>,
}

impl Owners {
    fn new(org: &Organisation) -> Self {
        let mut by_unit: HashMap<String, Vec<(u8, String)>> = HashMap::new();
        for (person, _, role) in org.people() {
            let rank = match role {
                "lead" => 0,
                "manager" => 1,
                _ => continue,
            };
            if let Some(unit) = org.current_unit_of(person) {
                by_unit
                    .entry(unit.to_owned())
                    .or_default()
                    .push((rank, person.to_owned()));
            }
        }
        for owners in by_unit.values_mut() {
            owners.sort();
        }
        Self { by_unit }
    }

    fn of(&self, org: &Organisation, unit: &str) -> Option<String> {
        org.ancestors(unit).into_iter().find_map(|u| {
            self.by_unit
                .get(&u.id)
                .and_then(|owners| owners.first())
                .map(|(_, person)| person.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<DateTime<Utc>> {
        Some(text.parse().unwrap())
    }

    fn rule(id: &str) -> AlertRule {
        AlertRule::defaults()
            .into_iter()
            .find(|r| r.rule_id == id)
            .unwrap()
    }

    /// A context whose `interactions` are four contacts started at 10, 20, 30 and 40 µs.
    async fn four_contacts() -> SessionContext {
        let ctx = SessionContext::new();
        ctx.sql(
            "CREATE TABLE interactions AS SELECT * FROM (VALUES \
               ('I-1', 'C-1', 'A-1', to_timestamp_micros(10), make_array('a'), 5), \
               ('I-2', 'C-1', 'A-1', to_timestamp_micros(20), make_array('b'), 6), \
               ('I-3', 'C-2', 'A-2', to_timestamp_micros(30), make_array('a'), 7), \
               ('I-4', 'C-2', 'A-2', to_timestamp_micros(40), make_array('c'), 8)) \
             AS t(interaction_id, customer_id, agent_id, started_at, topics, talk_seconds)",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
        ctx
    }

    #[tokio::test]
    async fn rules_over_contacts_share_the_recent_ones_when_there_are_few_enough() {
        let ctx = four_contacts().await;
        let table = contacts_table(&ctx, &[Some(30), Some(20)], None, 3)
            .await
            .unwrap();
        assert_eq!(table, "recent_interactions");
        let batches = ctx
            .sql("SELECT * FROM recent_interactions ORDER BY started_at")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let ids: Vec<String> = batches
            .iter()
            .flat_map(|b| text_column(b, "interaction_id").unwrap())
            .flatten()
            .collect();
        assert_eq!(
            ids,
            ["I-2", "I-3", "I-4"],
            "from the earliest start needed on"
        );
        let columns: Vec<String> = batches[0]
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(
            columns,
            [
                "interaction_id",
                "customer_id",
                "agent_id",
                "started_at",
                "topics"
            ]
        );
        // one rule, a rule over every contact, or too many recent contacts: the table itself
        for (from, max_rows) in [
            (vec![Some(20)], 3),
            (vec![Some(20), None], 3),
            (vec![Some(10), Some(20)], 3),
        ] {
            let ctx = four_contacts().await;
            assert_eq!(
                contacts_table(&ctx, &from, None, max_rows).await.unwrap(),
                "interactions",
                "{from:?} with at most {max_rows} rows"
            );
            assert!(ctx.table_exist("recent_interactions").is_ok_and(|e| !e));
        }
    }

    #[test]
    fn the_earliest_time_is_none_when_one_looks_from_the_start() {
        assert_eq!(earliest([Some(30), Some(20), Some(40)]), Some(20));
        assert_eq!(earliest([Some(30), None, Some(20)]), None);
        assert_eq!(earliest([]), None);
    }

    #[test]
    fn an_ingest_evaluates_the_rules_that_watch_its_records() {
        let contacts = Scope::ingested(RecordKind::Interactions, at("2026-12-01T00:00:00Z"));
        assert_eq!(contacts.of(&rule("complaint")), Some(contacts.since));
        assert_eq!(contacts.of(&rule("repeat-contacts")), Some(contacts.since));
        assert_eq!(contacts.of(&rule("detractor")), None);
        assert_eq!(contacts.of(&rule("high-value-unhappy")), None);

        let answers = Scope::ingested(RecordKind::Surveys, at("2026-12-02T00:00:00Z"));
        assert_eq!(answers.of(&rule("detractor")), Some(answers.since));
        assert_eq!(answers.of(&rule("high-value-unhappy")), Some(answers.since));
        assert_eq!(answers.of(&rule("complaint")), None);

        // Purchases change who is most valuable: the rule looks at every answer in its
        // age limit, whenever the purchases happened.
        let purchases = Scope::ingested(RecordKind::Transactions, at("2026-12-03T00:00:00Z"));
        assert_eq!(purchases.of(&rule("high-value-unhappy")), Some(None));
        assert_eq!(purchases.of(&rule("detractor")), None);
        let taxonomy = Scope::ingested(RecordKind::Topics, None);
        assert_eq!(taxonomy.of(&rule("complaint")), Some(None));
        assert_eq!(taxonomy.of(&rule("repeat-contacts")), None);

        // The schedule: every rule, every record.
        for id in ["detractor", "complaint", "high-value-unhappy"] {
            assert_eq!(Scope::default().of(&rule(id)), Some(None));
        }
    }

    #[test]
    fn the_repeat_window_counts_back_its_span_and_contacts_at_one_instant_together() {
        let day = DAY_MICROS;
        let window = RepeatWindow {
            span: 7 * day,
            contacts: 3,
            since: day,
        };
        let mut state = WindowState::default();
        let mut fired = Vec::new();
        let mut emit = |c: PendingContact, count: usize| fired.push((c.trigger, count));
        for (trigger, customer, at) in [
            // A: the third contact exactly 7 days after the first still counts it
            ("a1", "A", 0),
            ("a2", "A", day),
            ("a3", "A", 7 * day),
            // B: two contacts at one instant count each other
            ("b1", "B", 2 * day),
            ("b2", "B", 3 * day),
            ("b3", "B", 3 * day),
            // C: the first contact is out of the last one's window; D follows C's times
            ("c1", "C", 0),
            ("c2", "C", 8 * day),
            ("c3", "C", 9 * day),
            ("d1", "D", 9 * day),
        ] {
            let contact = PendingContact {
                trigger: trigger.into(),
                customer: customer.into(),
                agent: None,
                at,
            };
            state.push(contact, &window, &mut emit);
        }
        state.flush(&window, &mut emit);
        assert_eq!(
            fired,
            [
                ("a3".to_owned(), 3),
                ("b2".to_owned(), 3),
                ("b3".to_owned(), 3)
            ]
        );

        // before `since`, matches are history
        let late = RepeatWindow {
            since: 8 * day,
            ..window
        };
        let mut state = WindowState::default();
        let mut fired = Vec::new();
        let mut emit = |c: PendingContact, count: usize| fired.push((c.trigger, count));
        for (trigger, at) in [("x1", 0), ("x2", day), ("x3", 2 * day), ("x4", 8 * day)] {
            let contact = PendingContact {
                trigger: trigger.into(),
                customer: "X".into(),
                agent: None,
                at,
            };
            state.push(contact, &late, &mut emit);
        }
        state.flush(&late, &mut emit);
        assert_eq!(fired, [("x4".to_owned(), 3)]);
    }

    #[test]
    fn merged_changes_keep_the_earlier_time_and_both_kinds() {
        let merged = Scope::ingested(RecordKind::Interactions, at("2026-12-02T00:00:00Z"))
            .merge(Scope::ingested(
                RecordKind::Surveys,
                at("2026-12-01T00:00:00Z"),
            ))
            .merge(Scope::ingested(
                RecordKind::Surveys,
                at("2026-12-03T00:00:00Z"),
            ));
        assert_eq!(merged.since, at("2026-12-01T00:00:00Z"));
        assert_eq!(
            merged.changed,
            Some(vec![RecordKind::Interactions, RecordKind::Surveys])
        );
        // A change of unknown time asks for every record; an unknown kind for every rule.
        let unknown = merged
            .clone()
            .merge(Scope::ingested(RecordKind::Surveys, None));
        assert_eq!(unknown.since, None);
        assert_eq!(
            merged
                .merge(Scope::since(at("2026-12-01T00:00:00Z")))
                .changed,
            None
        );
    }
}

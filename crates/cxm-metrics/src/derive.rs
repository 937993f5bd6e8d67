//! The derived tables metrics are computed from: the fact tables with every row attributed
//! (agent, unit at the time, channel, segment, region, topics) and the repeat-contact fields
//! computed per customer.
//!
//! - `contacts`: one row per interaction with `is_repeat` (another contact of the customer
//!   in the previous window), `followed_by_repeat` (another one in the next window; NULL
//!   while that window has not closed by the data horizon), the gaps behind them, the unit
//!   of the agent's membership at the contact, local `day`, `topic_count`, `categories`,
//!   `complaint`.
//! - `surveys`: one row per answer, attributed to its contact, or for answers without a
//!   known contact (relationship surveys) to the customer's last contact before answering.
//! - `transactions`: one row per purchase or refund, attributed to the customer's last
//!   contact at or before it.
//! - `customers`: per day and attribution, the change in active customers and the churns,
//!   attributed to the customer's last contact (for attrition).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use cxm_facts::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Int32Array, Int64Array, ListArray,
    ListBuilder, RecordBatch, StringArray, StringBuilder, UInt32Array,
};
use cxm_facts::arrow::compute::{cast, concat_batches, take};
use cxm_facts::arrow::datatypes::{DataType, Field, Schema};
use cxm_facts::datafusion::prelude::SessionContext;

use crate::MetricsError;
use crate::organisation::Organisation;
use crate::settings::Settings;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// The derived tables, ready to be registered under their source names.
#[derive(Debug, Clone)]
pub struct Derived {
    pub contacts: RecordBatch,
    pub surveys: RecordBatch,
    pub transactions: RecordBatch,
    pub customers: RecordBatch,
    /// The start of the latest contact (microseconds, UTC): windows that end after it
    /// have not closed.
    pub horizon: Option<i64>,
}

/// Local calendar days (since 1970-01-01) of instants in a zone.
#[derive(Debug, Clone, Copy)]
pub struct Calendar {
    zone: Tz,
}

impl Calendar {
    pub fn new(zone: Tz) -> Calendar {
        Calendar { zone }
    }

    /// The local day of an instant in microseconds since the epoch.
    pub fn day(&self, micros: i64) -> i32 {
        if self.zone == chrono_tz::UTC {
            return micros.div_euclid(MICROS_PER_DAY) as i32;
        }
        match DateTime::from_timestamp_micros(micros) {
            Some(utc) => days_since_epoch(utc.with_timezone(&self.zone).date_naive()),
            None => micros.div_euclid(MICROS_PER_DAY) as i32,
        }
    }
}

pub fn days_since_epoch(date: NaiveDate) -> i32 {
    (date - NaiveDate::default()).num_days() as i32
}

pub fn date_of_day(day: i32) -> NaiveDate {
    NaiveDate::default() + chrono::Duration::days(i64::from(day))
}

/// Reads the fact tables registered in `ctx` and derives the metric sources.
pub async fn derive(
    ctx: &SessionContext,
    org: &Organisation,
    settings: &Settings,
) -> Result<Derived, MetricsError> {
    let calendar = Calendar::new(settings.zone()?);
    let interactions = read(
        ctx,
        "SELECT interaction_id, customer_id, agent_id, channel, started_at, queue_seconds, \
         talk_seconds, hold_seconds, after_work_seconds, handle_seconds, topics, resolved, \
         transfers FROM interactions",
    )
    .await?;
    let surveys = read(
        ctx,
        "SELECT response_id, survey, answered_at, customer_id, interaction_id, csat, nps, ces, \
         ratings, comment FROM survey_responses",
    )
    .await?;
    let transactions = read(
        ctx,
        "SELECT transaction_id, customer_id, occurred_at, amount, kind FROM transactions",
    )
    .await?;
    let events = read(
        ctx,
        "SELECT customer_id, occurred_at, kind FROM customer_events",
    )
    .await?;
    let contacts = ContactIndex::build(&interactions, org, settings, calendar)?;
    let derived_surveys = contacts.attribute(
        &surveys,
        "answered_at",
        Some("interaction_id"),
        org,
        calendar,
    )?;
    let derived_transactions =
        contacts.attribute(&transactions, "occurred_at", None, org, calendar)?;
    let customers = contacts.customer_flows(org, &transactions, &events, calendar)?;
    Ok(Derived {
        contacts: contacts.batch,
        surveys: derived_surveys,
        transactions: derived_transactions,
        customers,
        horizon: contacts.horizon,
    })
}

async fn read(ctx: &SessionContext, sql: &str) -> Result<RecordBatch, MetricsError> {
    let frame = ctx.sql(sql).await?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await?;
    Ok(concat_batches(&schema, &batches)?)
}

fn column(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef, MetricsError> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| MetricsError::Internal(format!("derived input lacks column {name}")))?;
    if array.data_type() == to {
        Ok(array.clone())
    } else {
        Ok(cast(array, to)?)
    }
}

fn strings(batch: &RecordBatch, name: &str) -> Result<StringArray, MetricsError> {
    Ok(column(batch, name, &DataType::Utf8)?
        .as_string::<i32>()
        .clone())
}

fn instants(batch: &RecordBatch, name: &str) -> Result<Int64Array, MetricsError> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| MetricsError::Internal(format!("derived input lacks column {name}")))?;
    // Timestamps are microseconds; reinterpret them as integers.
    let micros = cast(
        array,
        &DataType::Timestamp(cxm_facts::arrow::datatypes::TimeUnit::Microsecond, None),
    )?;
    Ok(cast(&micros, &DataType::Int64)?.as_primitive().clone())
}

fn string_list_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// For each of `rows` (one customer's contacts, in time order or reversed): the gap to the
/// nearest contact before it in that order that shares a topic, into `gaps`.
fn same_topic_gaps<'a>(
    rows: impl Iterator<Item = usize>,
    topics_of: &impl Fn(usize) -> &'a [u32],
    started: &Int64Array,
    seen: &mut Vec<(u32, i64)>,
    gaps: &mut [Option<i64>],
) {
    // Topic → start of the latest contact seen with it.
    seen.clear();
    for row in rows {
        let at = started.value(row);
        gaps[row] = topics_of(row)
            .iter()
            .filter_map(|t| {
                seen.iter()
                    .find(|(s, _)| s == t)
                    .map(|(_, when)| (at - when).abs())
            })
            .min();
        for &topic in topics_of(row) {
            match seen.iter_mut().find(|(s, _)| *s == topic) {
                Some(entry) => entry.1 = at,
                None => seen.push((topic, at)),
            }
        }
    }
}

/// Contacts with their derived fields, and per-customer order for attributing other rows.
struct ContactIndex {
    batch: RecordBatch,
    /// Rows sorted by customer, then start.
    order: Vec<u32>,
    /// Per customer: the range of `order` holding its contacts.
    ranges: HashMap<String, (u32, u32)>,
    started: Int64Array,
    horizon: Option<i64>,
}

impl ContactIndex {
    fn build(
        interactions: &RecordBatch,
        org: &Organisation,
        settings: &Settings,
        calendar: Calendar,
    ) -> Result<ContactIndex, MetricsError> {
        let rows = interactions.num_rows();
        let ids = strings(interactions, "interaction_id")?;
        let customers = strings(interactions, "customer_id")?;
        let agents = strings(interactions, "agent_id")?;
        let started = instants(interactions, "started_at")?;
        let topics = column(interactions, "topics", &string_list_type())?;
        let topics: &ListArray = topics.as_list::<i32>();
        let topic_values = topics.values().as_string::<i32>();

        // Topic codes as small integers, and each row's distinct topics.
        let mut topic_ids: HashMap<&str, u32> = HashMap::new();
        let mut topic_codes: Vec<&str> = Vec::new();
        let mut row_topics: Vec<u32> = Vec::with_capacity(topic_values.len());
        let mut topic_offsets: Vec<u32> = Vec::with_capacity(rows + 1);
        topic_offsets.push(0);
        for row in 0..rows {
            let start = row_topics.len();
            if topics.is_valid(row) {
                let offsets = topics.value_offsets();
                for i in offsets[row] as usize..offsets[row + 1] as usize {
                    if topic_values.is_null(i) {
                        continue;
                    }
                    let code = topic_values.value(i);
                    let next = topic_codes.len() as u32;
                    let id = *topic_ids.entry(code).or_insert_with(|| {
                        topic_codes.push(code);
                        next
                    });
                    if !row_topics[start..].contains(&id) {
                        row_topics.push(id);
                    }
                }
            }
            topic_offsets.push(row_topics.len() as u32);
        }
        let topics_of =
            |row: usize| &row_topics[topic_offsets[row] as usize..topic_offsets[row + 1] as usize];

        // Contacts of each customer in time order.
        let mut customer_ids: HashMap<&str, u32> = HashMap::new();
        let mut customer_of: Vec<u32> = Vec::with_capacity(rows);
        for row in 0..rows {
            let next = customer_ids.len() as u32;
            customer_of.push(*customer_ids.entry(customers.value(row)).or_insert(next));
        }
        let mut order: Vec<u32> = (0..rows as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            customer_of[a]
                .cmp(&customer_of[b])
                .then(started.value(a).cmp(&started.value(b)))
                .then_with(|| ids.value(a).cmp(ids.value(b)))
        });
        let horizon = (0..rows).map(|r| started.value(r)).max();

        let window = settings.repeat_window_seconds() * MICROS_PER_SECOND;
        let mut since_previous: Vec<Option<i64>> = vec![None; rows];
        let mut to_next: Vec<Option<i64>> = vec![None; rows];
        let mut since_previous_same: Vec<Option<i64>> = vec![None; rows];
        let mut to_next_same: Vec<Option<i64>> = vec![None; rows];
        let mut ranges: HashMap<String, (u32, u32)> = HashMap::with_capacity(customer_ids.len());
        let mut start = 0usize;
        let mut seen: Vec<(u32, i64)> = Vec::new();
        while start < rows {
            let customer = customer_of[order[start] as usize];
            let mut end = start + 1;
            while end < rows && customer_of[order[end] as usize] == customer {
                end += 1;
            }
            let group = &order[start..end];
            ranges.insert(
                customers.value(group[0] as usize).to_owned(),
                (start as u32, end as u32),
            );
            for pair in group.windows(2) {
                let (a, b) = (pair[0] as usize, pair[1] as usize);
                let gap = started.value(b) - started.value(a);
                since_previous[b] = Some(gap);
                to_next[a] = Some(gap);
            }
            // The nearest earlier (later) contact sharing a topic.
            let forward = group.iter().map(|&row| row as usize);
            same_topic_gaps(
                forward,
                &topics_of,
                &started,
                &mut seen,
                &mut since_previous_same,
            );
            let backward = group.iter().rev().map(|&row| row as usize);
            same_topic_gaps(backward, &topics_of, &started, &mut seen, &mut to_next_same);
            start = end;
        }
        let (previous, next) = if settings.same_topic {
            (&since_previous_same, &to_next_same)
        } else {
            (&since_previous, &to_next)
        };
        let is_repeat: BooleanArray = previous
            .iter()
            .map(|gap| Some(gap.is_some_and(|g| g <= window)))
            .collect();
        let followed_by_repeat: BooleanArray = (0..rows)
            .map(|row| match next[row] {
                Some(gap) if gap <= window => Some(true),
                _ => match horizon {
                    Some(h) if started.value(row) + window <= h => Some(false),
                    _ => None,
                },
            })
            .collect();
        let seconds = |gaps: &[Option<i64>]| -> Int64Array {
            gaps.iter()
                .map(|g| g.map(|g| g.div_euclid(MICROS_PER_SECOND)))
                .collect()
        };

        // Attribution, calendar and topic fields.
        let mut teams = StringBuilder::new();
        let mut segments = StringBuilder::new();
        let mut regions = StringBuilder::new();
        let mut days = Vec::with_capacity(rows);
        let mut topic_counts = Vec::with_capacity(rows);
        let mut complaints = Vec::with_capacity(rows);
        let mut categories = ListBuilder::new(StringBuilder::new());
        let mut row_categories: Vec<&str> = Vec::new();
        for row in 0..rows {
            let at = started.value(row);
            teams.append_option(org.unit_of(agents.value(row), at));
            let customer = org.customer(customers.value(row));
            segments.append_option(customer.and_then(|c| c.segment.as_deref()));
            regions.append_option(customer.and_then(|c| c.region.as_deref()));
            days.push(calendar.day(at));
            let codes = topics_of(row);
            topic_counts.push(codes.len() as i32);
            row_categories.clear();
            let mut complaint = false;
            for &code in codes {
                if let Some(info) = org.topic(topic_codes[code as usize]) {
                    complaint |= info.complaint;
                    if !row_categories.contains(&info.category.as_str()) {
                        row_categories.push(&info.category);
                    }
                }
            }
            complaints.push(complaint);
            for category in &row_categories {
                categories.values().append_value(category);
            }
            categories.append(true);
        }

        let mut fields: Vec<Field> = interactions
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut columns: Vec<ArrayRef> = interactions.columns().to_vec();
        // Normalise the text and list columns so every consumer sees one layout.
        for (index, field) in fields.iter_mut().enumerate() {
            let to = match field.name().as_str() {
                "topics" => string_list_type(),
                _ if matches!(field.data_type(), DataType::Utf8View | DataType::LargeUtf8) => {
                    DataType::Utf8
                }
                _ => continue,
            };
            columns[index] = cast(&columns[index], &to)?;
            *field = Field::new(field.name(), to, field.is_nullable());
        }
        let mut add = |name: &str, array: ArrayRef| {
            fields.push(Field::new(name, array.data_type().clone(), true));
            columns.push(array);
        };
        add("team_id", Arc::new(teams.finish()));
        add("segment", Arc::new(segments.finish()));
        add("region", Arc::new(regions.finish()));
        add("day", Arc::new(Date32Array::from(days)));
        add("topic_count", Arc::new(Int32Array::from(topic_counts)));
        add("categories", Arc::new(categories.finish()));
        add("complaint", Arc::new(BooleanArray::from(complaints)));
        add("is_repeat", Arc::new(is_repeat));
        add("followed_by_repeat", Arc::new(followed_by_repeat));
        add("seconds_since_previous", Arc::new(seconds(&since_previous)));
        add("seconds_to_next", Arc::new(seconds(&to_next)));
        add(
            "seconds_since_previous_same_topic",
            Arc::new(seconds(&since_previous_same)),
        );
        add(
            "seconds_to_next_same_topic",
            Arc::new(seconds(&to_next_same)),
        );
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        Ok(ContactIndex {
            batch,
            order,
            ranges,
            started,
            horizon,
        })
    }

    /// The customer's last contact at or before `at`.
    fn last_contact(&self, customer: &str, at: i64) -> Option<u32> {
        let &(start, end) = self.ranges.get(customer)?;
        let group = &self.order[start as usize..end as usize];
        let after = group.partition_point(|&row| self.started.value(row as usize) <= at);
        after.checked_sub(1).map(|i| group[i])
    }

    /// `rows` with the attribution of a contact: the one named in `link_column` when it is
    /// known, else the customer's last contact at or before `time_column`.
    fn attribute(
        &self,
        rows: &RecordBatch,
        time_column: &str,
        link_column: Option<&str>,
        org: &Organisation,
        calendar: Calendar,
    ) -> Result<RecordBatch, MetricsError> {
        let count = rows.num_rows();
        let customers = strings(rows, "customer_id")?;
        let times = instants(rows, time_column)?;
        let links = link_column.map(|name| strings(rows, name)).transpose()?;
        let contact_ids = strings(&self.batch, "interaction_id")?;
        let by_id: HashMap<&str, u32> = match &links {
            Some(_) => (0..contact_ids.len())
                .map(|row| (contact_ids.value(row), row as u32))
                .collect(),
            None => HashMap::new(),
        };
        let contact_days = self
            .batch
            .column_by_name("day")
            .map(|d| {
                d.as_primitive::<cxm_facts::arrow::datatypes::Date32Type>()
                    .clone()
            })
            .ok_or_else(|| MetricsError::Internal("contacts lack day".into()))?;
        let mut contact_rows: Vec<Option<u32>> = Vec::with_capacity(count);
        let mut linked: Vec<bool> = Vec::with_capacity(count);
        let mut days: Vec<i32> = Vec::with_capacity(count);
        let mut segments = StringBuilder::new();
        let mut regions = StringBuilder::new();
        for row in 0..count {
            let at = times.value(row);
            let by_link = links
                .as_ref()
                .filter(|l| l.is_valid(row))
                .and_then(|l| by_id.get(l.value(row)).copied());
            linked.push(by_link.is_some());
            let contact = by_link.or_else(|| self.last_contact(customers.value(row), at));
            contact_rows.push(contact);
            // A post-contact answer counts on its contact's day; anything else on its own.
            days.push(match by_link {
                Some(c) => contact_days.value(c as usize),
                None => calendar.day(at),
            });
            let customer = org.customer(customers.value(row));
            segments.append_option(customer.and_then(|c| c.segment.as_deref()));
            regions.append_option(customer.and_then(|c| c.region.as_deref()));
        }
        let indices = UInt32Array::from(contact_rows);
        let mut fields: Vec<Field> = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (field, array) in rows.schema().fields().iter().zip(rows.columns()) {
            let array = if matches!(field.data_type(), DataType::Utf8View | DataType::LargeUtf8) {
                cast(array, &DataType::Utf8)?
            } else {
                array.clone()
            };
            fields.push(Field::new(field.name(), array.data_type().clone(), true));
            columns.push(array);
        }
        for name in [
            "agent_id",
            "team_id",
            "channel",
            "topics",
            "categories",
            "complaint",
        ] {
            let source = column(
                &self.batch,
                name,
                self.batch
                    .schema()
                    .field_with_name(name)
                    .map_err(MetricsError::from)?
                    .data_type(),
            )?;
            let array = take(&source, &indices, None)?;
            fields.push(Field::new(name, array.data_type().clone(), true));
            columns.push(array);
        }
        for (name, array) in [
            ("segment", Arc::new(segments.finish()) as ArrayRef),
            ("region", Arc::new(regions.finish())),
            ("day", Arc::new(Date32Array::from(days))),
            ("linked_to_contact", Arc::new(BooleanArray::from(linked))),
        ] {
            fields.push(Field::new(name, array.data_type().clone(), true));
            columns.push(array);
        }
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }

    /// Per local day and attribution (agent and unit of the customer's last contact,
    /// segment, region): the change in active customers and the churns.
    fn customer_flows(
        &self,
        org: &Organisation,
        transactions: &RecordBatch,
        events: &RecordBatch,
        calendar: Calendar,
    ) -> Result<RecordBatch, MetricsError> {
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        enum Happening {
            Joined,
            Contact(u32),
            Seen,
            Reactivated,
            Churned,
        }
        let mut happenings: HashMap<&str, Vec<(i64, Happening)>> = HashMap::new();
        for (customer, info) in org.customers() {
            if let Some(joined) = info.joined_at {
                happenings
                    .entry(customer.as_str())
                    .or_default()
                    .push((joined, Happening::Joined));
            }
        }
        let event_customers = strings(events, "customer_id")?;
        let event_times = instants(events, "occurred_at")?;
        let event_kinds = strings(events, "kind")?;
        for row in 0..events.num_rows() {
            let happening = match event_kinds.value(row) {
                "joined" => Happening::Joined,
                "churned" => Happening::Churned,
                "reactivated" => Happening::Reactivated,
                _ => continue,
            };
            happenings
                .entry(event_customers.value(row))
                .or_default()
                .push((event_times.value(row), happening));
        }
        let transaction_customers = strings(transactions, "customer_id")?;
        let transaction_times = instants(transactions, "occurred_at")?;
        for row in 0..transactions.num_rows() {
            happenings
                .entry(transaction_customers.value(row))
                .or_default()
                .push((transaction_times.value(row), Happening::Seen));
        }
        let contact_customers = strings(&self.batch, "customer_id")?;
        for &row in &self.order {
            happenings
                .entry(contact_customers.value(row as usize))
                .or_default()
                .push((self.started.value(row as usize), Happening::Contact(row)));
        }

        let agents = strings(&self.batch, "agent_id")?;
        let teams = strings(&self.batch, "team_id")?;
        type Key<'a> = (
            i32,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
        );
        let mut flows: HashMap<Key, (i64, i64)> = HashMap::new();
        for (customer, list) in happenings.iter_mut() {
            list.sort_unstable();
            let info = org.customer(customer);
            let segment = info.and_then(|c| c.segment.as_deref());
            let region = info.and_then(|c| c.region.as_deref());
            let has_join = list.iter().any(|(_, h)| *h == Happening::Joined);
            let mut active = false;
            let mut attribution: Option<u32> = None;
            for &(at, happening) in list.iter() {
                let day = calendar.day(at);
                let key = |contact: Option<u32>| -> Key {
                    let (agent, team) = match contact {
                        Some(c) => (
                            Some(agents.value(c as usize)),
                            teams.is_valid(c as usize).then(|| teams.value(c as usize)),
                        ),
                        None => (None, None),
                    };
                    (day, agent, team, segment, region)
                };
                match happening {
                    Happening::Joined | Happening::Reactivated => {
                        if !active {
                            active = true;
                            flows.entry(key(attribution)).or_default().0 += 1;
                        }
                    }
                    Happening::Seen | Happening::Contact(_) => {
                        let next = match happening {
                            Happening::Contact(row) => Some(row),
                            _ => attribution,
                        };
                        if !active && !has_join {
                            // A customer with no join record is active from first sight.
                            active = true;
                            flows.entry(key(next)).or_default().0 += 1;
                        } else if active && next != attribution {
                            let (old, new) = (key(attribution), key(next));
                            if old != new {
                                flows.entry(old).or_default().0 -= 1;
                                flows.entry(new).or_default().0 += 1;
                            }
                        }
                        attribution = next;
                    }
                    Happening::Churned => {
                        if active {
                            active = false;
                            let entry = flows.entry(key(attribution)).or_default();
                            entry.0 -= 1;
                            entry.1 += 1;
                        }
                    }
                }
            }
        }
        let mut days = Vec::with_capacity(flows.len());
        let mut agent_column = StringBuilder::new();
        let mut team_column = StringBuilder::new();
        let mut channel_column = StringBuilder::new();
        let mut segment_column = StringBuilder::new();
        let mut region_column = StringBuilder::new();
        let mut deltas = Vec::with_capacity(flows.len());
        let mut churns = Vec::with_capacity(flows.len());
        for ((day, agent, team, segment, region), (delta, churned)) in flows {
            if delta == 0 && churned == 0 {
                continue;
            }
            days.push(day);
            agent_column.append_option(agent);
            team_column.append_option(team);
            channel_column.append_null();
            segment_column.append_option(segment);
            region_column.append_option(region);
            deltas.push(delta);
            churns.push(churned);
        }
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("day", Arc::new(Date32Array::from(days))),
            ("agent_id", Arc::new(agent_column.finish())),
            ("team_id", Arc::new(team_column.finish())),
            ("channel", Arc::new(channel_column.finish())),
            ("segment", Arc::new(segment_column.finish())),
            ("region", Arc::new(region_column.finish())),
            ("active_change", Arc::new(Int64Array::from(deltas))),
            ("churned", Arc::new(Int64Array::from(churns))),
        ];
        let schema = Schema::new(
            columns
                .iter()
                .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        Ok(RecordBatch::try_new(
            Arc::new(schema),
            columns.into_iter().map(|(_, a)| a).collect(),
        )?)
    }
}

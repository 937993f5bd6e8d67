//! Fact records: contacts, survey answers, transactions and customer events.

use chrono::{DateTime, Utc};

use super::{ContentHasher, FieldReader, Record, parse_text};
use crate::fields::{FieldSource, RecordKind};
use crate::values::{Amount, CesScore, CsatScore, NpsScore, Rating, Seconds, Transfers};
use crate::{
    Channel, CustomerEventKind, FieldError, ParseContext, RecordId, SurveyKind, TransactionKind,
};

/// Longest comment kept, in bytes.
pub const MAX_COMMENT_LEN: usize = 20_000;

/// The topics of a contact.
pub type Topics = smallvec::SmallVec<[RecordId; 4]>;

/// One customer contact (call, chat, email, …) handled by an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    pub interaction_id: RecordId,
    pub customer_id: RecordId,
    pub agent_id: RecordId,
    pub channel: Channel,
    /// When the contact started (UTC).
    pub started_at: DateTime<Utc>,
    /// Seconds waiting in the queue before an agent answered.
    pub queue_seconds: Option<Seconds>,
    /// Seconds talking with the agent.
    pub talk_seconds: Option<Seconds>,
    /// Seconds the customer spent on hold during the contact, excluding queue wait.
    pub hold_seconds: Option<Seconds>,
    /// Seconds of after-contact work by the agent.
    pub after_work_seconds: Option<Seconds>,
    /// Talk + hold + after-contact work, as exported or derived when absent.
    pub handle_seconds: Option<Seconds>,
    /// Distinct topic codes discussed, in the order given (up to four without an allocation:
    /// nearly every contact).
    pub topics: Topics,
    /// Whether the agent marked the issue resolved.
    pub resolved: Option<bool>,
    pub transfers: Option<Transfers>,
}

impl Record for Interaction {
    const KIND: RecordKind = RecordKind::Interactions;

    fn parse(source: &impl FieldSource, ctx: &ParseContext) -> Result<Self, Vec<FieldError>> {
        let mut f = FieldReader::new(source, Self::KIND);
        let interaction_id = f.required(0, RecordId::parse);
        let customer_id = f.required(1, RecordId::parse);
        let agent_id = f.required(2, RecordId::parse);
        let channel = f.required(3, Channel::parse);
        let started_at = f.required(4, |n, r| ctx.timestamps.parse(n, r));
        let duration = |n: &str, r: &str| ctx.duration_unit.parse(n, r);
        let queue_seconds = f.optional(5, duration);
        let talk_seconds = f.optional(6, duration);
        let hold_seconds = f.optional(7, duration);
        let after_work_seconds = f.optional(8, duration);
        let handle_seconds = f
            .optional(9, duration)
            .or_else(|| derived_handle(talk_seconds, hold_seconds, after_work_seconds));
        let topics = f
            .optional(10, |n, r| parse_topic_list(n, r, ctx))
            .unwrap_or_default();
        let resolved = f.optional(11, ParseContext::parse_bool);
        let transfers = f.optional(12, Transfers::parse);
        f.finish(|| {
            Some(Interaction {
                interaction_id: interaction_id?,
                customer_id: customer_id?,
                agent_id: agent_id?,
                channel: channel?,
                started_at: started_at?,
                queue_seconds,
                talk_seconds,
                hold_seconds,
                after_work_seconds,
                handle_seconds,
                topics,
                resolved,
                transfers,
            })
        })
    }

    fn key(&self) -> String {
        self.interaction_id.as_str().to_owned()
    }

    fn key_hash(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(self.interaction_id.as_str().as_bytes())
    }

    fn content_hash(&self) -> u64 {
        self.fields().content_hash()
    }
}

/// Handle time derived from its parts when it was not exported: only when at least talk
/// time is known; missing hold or wrap-up count as 0.
fn derived_handle(
    talk: Option<Seconds>,
    hold: Option<Seconds>,
    after_work: Option<Seconds>,
) -> Option<Seconds> {
    talk.map(|talk| {
        [hold, after_work]
            .into_iter()
            .flatten()
            .fold(talk, Seconds::saturating_add)
    })
}

impl Interaction {
    /// The contact's stored values, borrowing its ids and topics.
    pub fn fields(&self) -> InteractionFields<'_> {
        InteractionFields {
            interaction_id: self.interaction_id.as_str(),
            customer_id: self.customer_id.as_str(),
            agent_id: self.agent_id.as_str(),
            channel: self.channel,
            started_at: self.started_at,
            durations: [
                self.queue_seconds,
                self.talk_seconds,
                self.hold_seconds,
                self.after_work_seconds,
                self.handle_seconds,
            ],
            topics: self.topics.iter().map(RecordId::as_str).collect(),
            resolved: self.resolved,
            transfers: self.transfers,
        }
    }
}

/// A contact's stored values, borrowing its ids and topics from the row they were read
/// from (or from an [`Interaction`]): what its fact table row holds and what its content
/// hash covers. Reading a row into these, rather than into an `Interaction`, copies no
/// text: the ingest's common path appends them straight to the table's columns.
#[derive(Debug, Clone, PartialEq)]
pub struct InteractionFields<'a> {
    pub interaction_id: &'a str,
    pub customer_id: &'a str,
    pub agent_id: &'a str,
    pub channel: Channel,
    pub started_at: DateTime<Utc>,
    /// Queue, talk, hold, after-contact work and handle seconds.
    pub durations: [Option<Seconds>; 5],
    pub topics: smallvec::SmallVec<[&'a str; 4]>,
    pub resolved: Option<bool>,
    pub transfers: Option<Transfers>,
}

impl<'a> InteractionFields<'a> {
    /// A contact's values straight from its canonical fields (in the order of
    /// [`RecordKind::Interactions`]' fields; `None` for an empty field) when every field
    /// is valid and written in its common form: an id, channel, time, number or flag that
    /// starts with a printable character. `None` otherwise; [`Interaction::parse`] then
    /// gives the record or every reason it is rejected. Whenever this gives values, they
    /// are those of the record `Interaction::parse` gives for the same fields (a property
    /// test holds the two together).
    #[inline]
    pub fn parse_common(values: &[Option<&'a str>], ctx: &ParseContext) -> Option<Self> {
        let &[
            interaction_id,
            customer_id,
            agent_id,
            channel,
            started_at,
            queue,
            talk,
            hold,
            after_work,
            handle,
            topics,
            resolved,
            transfers,
        ] = values
        else {
            return None;
        };
        let duration = |name, raw: Option<&str>| {
            optional_common(raw, |raw| ctx.duration_unit.parse(name, raw))
        };
        let talk_seconds = duration("talk_seconds", talk)?;
        let hold_seconds = duration("hold_seconds", hold)?;
        let after_work_seconds = duration("after_work_seconds", after_work)?;
        let handle_seconds = duration("handle_seconds", handle)?
            .or_else(|| derived_handle(talk_seconds, hold_seconds, after_work_seconds));
        Some(Self {
            interaction_id: required_common(interaction_id, |raw| {
                RecordId::check("interaction_id", raw)
            })?,
            customer_id: required_common(customer_id, |raw| RecordId::check("customer_id", raw))?,
            agent_id: required_common(agent_id, |raw| RecordId::check("agent_id", raw))?,
            channel: required_common(channel, |raw| Channel::parse("channel", raw))?,
            started_at: required_common(started_at, |raw| ctx.timestamps.parse("started_at", raw))?,
            durations: [
                duration("queue_seconds", queue)?,
                talk_seconds,
                hold_seconds,
                after_work_seconds,
                handle_seconds,
            ],
            topics: optional_common(topics, |raw| topic_texts("topics", raw, ctx))?
                .unwrap_or_default(),
            resolved: optional_common(resolved, |raw| ParseContext::parse_bool("resolved", raw))?,
            transfers: optional_common(transfers, |raw| Transfers::parse("transfers", raw))?,
        })
    }

    /// xxh3-64 of the contact's id.
    #[inline]
    pub fn key_hash(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(self.interaction_id.as_bytes())
    }

    /// The contact's content hash (see [`Record::content_hash`]).
    pub fn content_hash(&self) -> u64 {
        let mut h = ContentHasher::default();
        h.str(self.interaction_id)
            .str(self.customer_id)
            .str(self.agent_id)
            .str(self.channel.as_str())
            .i64(self.started_at.timestamp_micros());
        for duration in self.durations {
            h.opt_u64(duration.map(|s| u64::from(s.get())));
        }
        h.u64(self.topics.len() as u64);
        for topic in &self.topics {
            h.str(topic);
        }
        h.opt_u64(self.resolved.map(u64::from))
            .opt_u64(self.transfers.map(|t| u64::from(t.get())));
        h.finish()
    }
}

/// Whether a field's text starts with a printable ASCII character: then it is not blank
/// after trimming, and a reader that treats blank fields as missing agrees with `parse`.
#[inline]
fn starts_printable(raw: &str) -> bool {
    raw.as_bytes()
        .first()
        .is_some_and(|b| (0x21..0x7f).contains(b))
}

/// A required field in its common form, parsed; `None` when it is not.
#[inline]
fn required_common<'a, T>(
    raw: Option<&'a str>,
    parse: impl FnOnce(&'a str) -> Result<T, FieldError>,
) -> Option<T> {
    raw.filter(|raw| starts_printable(raw))
        .and_then(|raw| parse(raw).ok())
}

/// An optional field: `Some(None)` when empty, `Some(Some(value))` in its common form,
/// `None` when it is neither.
#[inline]
fn optional_common<'a, T>(
    raw: Option<&'a str>,
    parse: impl FnOnce(&'a str) -> Result<T, FieldError>,
) -> Option<Option<T>> {
    match raw {
        None => Some(None),
        Some(raw) => required_common(Some(raw), parse).map(Some),
    }
}

fn parse_topic_list(field: &str, raw: &str, ctx: &ParseContext) -> Result<Topics, FieldError> {
    Ok(topic_texts(field, raw, ctx)?
        .into_iter()
        .map(RecordId::from_checked)
        .collect())
}

/// The distinct topic ids of a list, in order, as text.
fn topic_texts<'a>(
    field: &str,
    raw: &'a str,
    ctx: &ParseContext,
) -> Result<smallvec::SmallVec<[&'a str; 4]>, FieldError> {
    const MAX_TOPICS: usize = 50;
    let mut topics = smallvec::SmallVec::<[&str; 4]>::new();
    for item in ctx.split_list(raw) {
        // Items are trimmed, and a valid id is its trimmed text: a repeat is found by its
        // text, before it is checked again.
        if topics.contains(&item) {
            continue;
        }
        if topics.len() == MAX_TOPICS {
            return Err(FieldError::new(
                field,
                raw,
                format!("{field} lists more than {MAX_TOPICS} topics"),
            ));
        }
        topics.push(RecordId::check(field, item)?);
    }
    Ok(topics)
}

/// One answer to a survey: post-contact csat, nps, ces or a relationship survey.
#[derive(Debug, Clone, PartialEq)]
pub struct SurveyResponse {
    pub response_id: RecordId,
    pub survey: SurveyKind,
    pub answered_at: DateTime<Utc>,
    pub customer_id: RecordId,
    /// The contact a post-contact survey is about.
    pub interaction_id: Option<RecordId>,
    pub csat: Option<CsatScore>,
    pub nps: Option<NpsScore>,
    pub ces: Option<CesScore>,
    /// Attribute ratings on the survey's declared scale, sorted by attribute.
    pub ratings: Vec<Rating>,
    /// The customer's own words.
    pub comment: Option<String>,
}

impl Record for SurveyResponse {
    const KIND: RecordKind = RecordKind::Surveys;

    fn parse(source: &impl FieldSource, ctx: &ParseContext) -> Result<Self, Vec<FieldError>> {
        let mut f = FieldReader::new(source, Self::KIND);
        let response_id = f.required(0, RecordId::parse);
        let survey = f.required(1, SurveyKind::parse);
        let answered_at = f.required(2, |n, r| ctx.timestamps.parse(n, r));
        let customer_id = f.required(3, RecordId::parse);
        let interaction_id = f.optional(4, RecordId::parse);
        let csat = f.optional(5, CsatScore::parse);
        let nps = f.optional(6, NpsScore::parse);
        let ces = f.optional(7, CesScore::parse);
        let comment = f.optional(8, |n, r| parse_text(n, r, MAX_COMMENT_LEN));
        let mut ratings = Vec::new();
        if let Some(survey) = survey {
            let scale = ctx.rating_scale(survey);
            let mut rating_errors = Vec::new();
            source.for_each_extra(&mut |column, raw| {
                let Some(attribute) = column.strip_prefix("rating_") else {
                    return;
                };
                if raw.trim().is_empty() {
                    return;
                }
                match Rating::parse(attribute, raw, scale) {
                    Ok(rating) => ratings.push(rating),
                    Err(error) => rating_errors.push(error),
                }
            });
            rating_errors.into_iter().for_each(|error| f.fail(error));
            ratings.sort_by(|a, b| a.attribute.cmp(&b.attribute));
            let score_present = match survey {
                SurveyKind::Csat => csat.is_some() || f.raw(5).is_some(),
                SurveyKind::Nps => nps.is_some() || f.raw(6).is_some(),
                SurveyKind::Ces => ces.is_some() || f.raw(7).is_some(),
                SurveyKind::Relationship => {
                    [5, 6, 7].iter().any(|&i| f.raw(i).is_some()) || !ratings.is_empty()
                }
            };
            if !score_present {
                let needed = match survey {
                    SurveyKind::Csat => "csat",
                    SurveyKind::Nps => "nps",
                    SurveyKind::Ces => "ces",
                    SurveyKind::Relationship => "nps, csat, ces or a rating",
                };
                f.fail(FieldError::new(
                    needed.split(',').next().unwrap_or(needed),
                    "",
                    format!("a {survey} survey answer needs {needed}"),
                ));
            }
        }
        f.finish(|| {
            Some(SurveyResponse {
                response_id: response_id?,
                survey: survey?,
                answered_at: answered_at?,
                customer_id: customer_id?,
                interaction_id,
                csat,
                nps,
                ces,
                ratings,
                comment,
            })
        })
    }

    fn key(&self) -> String {
        self.response_id.as_str().to_owned()
    }

    fn key_hash(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(self.response_id.as_str().as_bytes())
    }

    fn content_hash(&self) -> u64 {
        let mut h = ContentHasher::default();
        h.str(self.response_id.as_str())
            .str(self.survey.as_str())
            .i64(self.answered_at.timestamp_micros())
            .str(self.customer_id.as_str())
            .opt_str(self.interaction_id.as_ref().map(RecordId::as_str))
            .opt_u64(self.csat.map(|s| u64::from(s.get())))
            .opt_u64(self.nps.map(|s| u64::from(s.get())))
            .opt_u64(self.ces.map(|s| u64::from(s.get())))
            .u64(self.ratings.len() as u64);
        for rating in &self.ratings {
            h.str(&rating.attribute).u64(u64::from(rating.score));
        }
        h.opt_str(self.comment.as_deref());
        h.finish()
    }
}

/// A purchase or a refund.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    pub transaction_id: RecordId,
    pub customer_id: RecordId,
    pub occurred_at: DateTime<Utc>,
    /// Magnitude of the money moved (never negative); `kind` gives the direction.
    pub amount: Amount,
    pub kind: TransactionKind,
}

impl Record for Transaction {
    const KIND: RecordKind = RecordKind::Transactions;

    fn parse(source: &impl FieldSource, ctx: &ParseContext) -> Result<Self, Vec<FieldError>> {
        let mut f = FieldReader::new(source, Self::KIND);
        let transaction_id = f.required(0, RecordId::parse);
        let customer_id = f.required(1, RecordId::parse);
        let occurred_at = f.required(2, |n, r| ctx.timestamps.parse(n, r));
        let amount = f.required(3, Amount::parse);
        let kind = f.required(4, TransactionKind::parse);
        let mut amount = amount.unwrap_or_default();
        if amount.is_negative() {
            match kind {
                // Many exports write refunds as negative amounts: keep the magnitude.
                Some(TransactionKind::Refund) => amount = amount.abs(),
                _ => f.fail(FieldError::new(
                    "amount",
                    &amount.to_string(),
                    format!("amount {amount} is negative for a purchase; use kind refund"),
                )),
            }
        }
        f.finish(|| {
            Some(Transaction {
                transaction_id: transaction_id?,
                customer_id: customer_id?,
                occurred_at: occurred_at?,
                amount,
                kind: kind?,
            })
        })
    }

    fn key(&self) -> String {
        self.transaction_id.as_str().to_owned()
    }

    fn key_hash(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(self.transaction_id.as_str().as_bytes())
    }

    fn content_hash(&self) -> u64 {
        let mut h = ContentHasher::default();
        h.str(self.transaction_id.as_str())
            .str(self.customer_id.as_str())
            .i64(self.occurred_at.timestamp_micros())
            .i64(self.amount.scaled())
            .str(self.kind.as_str());
        h.finish()
    }
}

/// A customer joined, churned or came back.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerEvent {
    /// `customer_id;occurred_at;kind`: events carry no id of their own, and one customer
    /// has at most one event of a kind at one instant. `;` never occurs inside an id.
    pub event_id: String,
    pub customer_id: RecordId,
    pub occurred_at: DateTime<Utc>,
    pub kind: CustomerEventKind,
    pub reason: Option<String>,
}

impl Record for CustomerEvent {
    const KIND: RecordKind = RecordKind::CustomerEvents;

    fn parse(source: &impl FieldSource, ctx: &ParseContext) -> Result<Self, Vec<FieldError>> {
        let mut f = FieldReader::new(source, Self::KIND);
        let customer_id = f.required(0, RecordId::parse);
        let occurred_at = f.required(1, |n, r| ctx.timestamps.parse_date_or_timestamp(n, r));
        let kind = f.required(2, CustomerEventKind::parse);
        let reason = f.optional(3, |n, r| parse_text(n, r, 1_000));
        f.finish(|| {
            let (customer_id, occurred_at, kind) = (customer_id?, occurred_at?, kind?);
            let event_id = format!(
                "{customer_id};{};{kind}",
                occurred_at.format("%Y-%m-%dT%H:%M:%S%.6fZ")
            );
            Some(CustomerEvent {
                event_id,
                customer_id,
                occurred_at,
                kind,
                reason,
            })
        })
    }

    fn key(&self) -> String {
        self.event_id.clone()
    }

    fn content_hash(&self) -> u64 {
        let mut h = ContentHasher::default();
        h.str(&self.event_id).opt_str(self.reason.as_deref());
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::test_support::Row;

    fn interaction(pairs: &[(&str, &str)]) -> Result<Interaction, Vec<FieldError>> {
        Interaction::parse(
            &Row::new(RecordKind::Interactions, pairs),
            &ParseContext::default(),
        )
    }

    const BASE: [(&str, &str); 5] = [
        ("interaction_id", "I-1"),
        ("customer_id", "C-1"),
        ("agent_id", "A-1"),
        ("channel", "phone"),
        ("started_at", "2024-03-01T09:30:00Z"),
    ];

    #[test]
    fn interaction_derives_handle_time_and_dedupes_topics() {
        let mut pairs = BASE.to_vec();
        pairs.extend([
            ("talk_seconds", "300"),
            ("hold_seconds", "45"),
            ("after_work_seconds", "30"),
            ("topics", "billing;refund;billing"),
        ]);
        let i = interaction(&pairs).unwrap();
        assert_eq!(i.handle_seconds.unwrap().get(), 375);
        assert_eq!(
            i.topics.iter().map(RecordId::as_str).collect::<Vec<_>>(),
            ["billing", "refund"]
        );
        assert_eq!(i.resolved, None);
    }

    #[test]
    fn long_topic_lists_keep_every_distinct_topic_in_order_up_to_fifty() {
        let with_topics = |list: &str| {
            let mut pairs = BASE.to_vec();
            pairs.push(("topics", list));
            interaction(&pairs)
        };
        // More than the four kept without an allocation, with repeats and blanks.
        let contact = with_topics("t1;t2; t3;t4;t5;t2;;t6;t1").unwrap();
        assert_eq!(
            contact
                .topics
                .iter()
                .map(RecordId::as_str)
                .collect::<Vec<_>>(),
            ["t1", "t2", "t3", "t4", "t5", "t6"]
        );
        let fifty: Vec<String> = (1..=50).map(|n| format!("t{n}")).collect();
        assert_eq!(with_topics(&fifty.join(";")).unwrap().topics.len(), 50);
        let repeated = format!("{};t7", fifty.join(";"));
        assert_eq!(with_topics(&repeated).unwrap().topics.len(), 50);
        let errors = with_topics(&format!("{};t51", fifty.join(";"))).unwrap_err();
        assert_eq!(errors[0].reason, "topics lists more than 50 topics");
        let errors = with_topics("t1;bad\u{7}id").unwrap_err();
        assert!(
            errors[0].reason.contains("not allowed in an id"),
            "{}",
            errors[0].reason
        );
    }

    #[test]
    fn explicit_handle_time_wins() {
        let mut pairs = BASE.to_vec();
        pairs.extend([("talk_seconds", "300"), ("handle_seconds", "400")]);
        assert_eq!(
            interaction(&pairs).unwrap().handle_seconds.unwrap().get(),
            400
        );
    }

    #[test]
    fn every_bad_field_is_reported() {
        let errors = interaction(&[
            ("interaction_id", "I-1"),
            ("channel", "pigeon"),
            ("started_at", "2024-13-01"),
            ("hold_seconds", "-5"),
        ])
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "customer_id",
                "agent_id",
                "channel",
                "started_at",
                "hold_seconds"
            ]
        );
    }

    #[test]
    fn content_hash_tells_changes() {
        let a = interaction(&BASE).unwrap();
        let mut pairs = BASE.to_vec();
        pairs.push(("hold_seconds", "1"));
        let b = interaction(&pairs).unwrap();
        assert_eq!(a.content_hash(), interaction(&BASE).unwrap().content_hash());
        assert_ne!(a.content_hash(), b.content_hash());
        assert_eq!(a.key(), "I-1");
    }

    /// The bytes a content hash covers, written out by hand: stored row hashes must stay
    /// what earlier versions wrote, or every stored record would look replaced.
    struct Layout(Vec<u8>);

    impl Layout {
        fn u64(mut self, value: u64) -> Self {
            self.0.extend(value.to_le_bytes());
            self
        }
        fn str(self, value: &str) -> Self {
            let mut with_len = self.u64(value.len() as u64);
            with_len.0.extend(value.bytes());
            with_len
        }
        fn hash(&self) -> u64 {
            xxhash_rust::xxh3::xxh3_64(&self.0)
        }
    }

    #[test]
    fn content_hashes_cover_the_documented_bytes() {
        let mut pairs = BASE.to_vec();
        pairs.extend([
            ("talk_seconds", "300"),
            ("hold_seconds", "45"),
            ("topics", "billing; refund;billing"),
            ("resolved", "true"),
        ]);
        let contact = interaction(&pairs).unwrap();
        let started = contact.started_at.timestamp_micros() as u64;
        let expected = Layout(Vec::new())
            .str("I-1")
            .str("C-1")
            .str("A-1")
            .str("phone")
            .u64(started)
            .u64(0) // queue
            .u64(1)
            .u64(300) // talk
            .u64(1)
            .u64(45) // hold
            .u64(0) // after-contact work
            .u64(1)
            .u64(345) // handle, derived
            .u64(2)
            .str("billing")
            .str("refund")
            .u64(1)
            .u64(1) // resolved
            .u64(0); // transfers
        assert_eq!(contact.content_hash(), expected.hash());

        // A long comment, in a record of more than 1,500 bytes.
        let comment = "slow ".repeat(300);
        let answer = survey(&[
            ("response_id", "R-1"),
            ("survey", "csat"),
            ("answered_at", "2024-03-01T10:00:00Z"),
            ("customer_id", "C-1"),
            ("csat", "2"),
            ("comment", &comment),
        ])
        .unwrap();
        let expected = Layout(Vec::new())
            .str("R-1")
            .str("csat")
            .u64(answer.answered_at.timestamp_micros() as u64)
            .str("C-1")
            .u64(0) // no contact
            .u64(1)
            .u64(2) // csat
            .u64(0)
            .u64(0)
            .u64(0) // no ratings
            .u64(1)
            .str(comment.trim());
        assert_eq!(answer.content_hash(), expected.hash());
    }

    fn survey(pairs: &[(&str, &str)]) -> Result<SurveyResponse, Vec<FieldError>> {
        SurveyResponse::parse(
            &Row::new(RecordKind::Surveys, pairs),
            &ParseContext::default(),
        )
    }

    #[test]
    fn survey_scores_and_ratings_are_checked_against_their_scales() {
        let base = [
            ("response_id", "R-1"),
            ("answered_at", "2024-03-01T10:00:00Z"),
            ("customer_id", "C-1"),
        ];
        let mut ok = base.to_vec();
        ok.extend([
            ("survey", "csat"),
            ("csat", "4"),
            ("rating_ease", "5"),
            ("rating_courtesy", "3"),
            ("comment", " quick and kind "),
        ]);
        let response = survey(&ok).unwrap();
        assert_eq!(response.csat.unwrap().get(), 4);
        assert_eq!(
            response
                .ratings
                .iter()
                .map(|r| r.attribute.as_str())
                .collect::<Vec<_>>(),
            ["courtesy", "ease"]
        );
        assert_eq!(response.comment.as_deref(), Some("quick and kind"));

        let mut bad = base.to_vec();
        bad.extend([("survey", "csat"), ("csat", "7"), ("rating_ease", "6")]);
        let reasons: Vec<String> = survey(&bad)
            .unwrap_err()
            .into_iter()
            .map(|e| e.reason)
            .collect();
        assert_eq!(
            reasons,
            ["csat 7 is outside 1..=5", "rating_ease 6 is outside 1..=5"]
        );

        let mut missing = base.to_vec();
        missing.push(("survey", "nps"));
        assert_eq!(
            survey(&missing).unwrap_err()[0].reason,
            "a nps survey answer needs nps"
        );

        let mut relationship = base.to_vec();
        relationship.extend([("survey", "relationship"), ("rating_value", "9")]);
        let mut ctx = ParseContext::default();
        ctx.set_rating_scale(SurveyKind::Relationship, crate::RatingScale::ZERO_TO_TEN);
        assert!(SurveyResponse::parse(&Row::new(RecordKind::Surveys, &relationship), &ctx).is_ok());
        assert!(
            survey(&relationship).is_err(),
            "9 is outside the default 1..=5 relationship scale"
        );
    }

    #[test]
    fn refunds_keep_their_magnitude_and_negative_purchases_are_rejected() {
        let row = |amount: &str, kind: &str| {
            Transaction::parse(
                &Row::new(
                    RecordKind::Transactions,
                    &[
                        ("transaction_id", "T-1"),
                        ("customer_id", "C-1"),
                        ("occurred_at", "2024-01-01T00:00:00Z"),
                        ("amount", amount),
                        ("kind", kind),
                    ],
                ),
                &ParseContext::default(),
            )
        };
        assert_eq!(row("-12.50", "refund").unwrap().amount.scaled(), 125_000);
        assert!(
            row("-12.50", "purchase").unwrap_err()[0]
                .reason
                .contains("negative for a purchase")
        );
        assert_eq!(
            row("12.50", "purchase").unwrap().amount.to_string(),
            "12.5000"
        );
    }

    #[test]
    fn customer_events_are_keyed_by_customer_instant_and_kind() {
        let event = CustomerEvent::parse(
            &Row::new(
                RecordKind::CustomerEvents,
                &[
                    ("customer_id", "C-1"),
                    ("occurred_at", "2024-05-01"),
                    ("kind", "churned"),
                ],
            ),
            &ParseContext::default(),
        )
        .unwrap();
        assert_eq!(event.key(), "C-1;2024-05-01T00:00:00.000000Z;churned");
    }
}

//! One customer's life over the period: joining, new issues and the follow-ups of unresolved
//! ones, surveys, purchases and refunds, churn and win-back — simulated event by event in
//! time order from the customer's own random stream, so customers can be generated in
//! parallel and in any order with identical results.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rand::{RngExt, SeedableRng};
use rand_distr::{Beta, Distribution, Exp1, Gamma, Poisson, StandardNormal};
use rand_pcg::Pcg64Mcg;

use crate::calendar::DAY;
use crate::model::MAX_ATTRIBUTES;
use crate::output::{ChunkOutput, CustomerFile, push_cents, push_padded, push_quoted};
use crate::text::{ContactFacts, contact_comment, relationship_comment};
use crate::topics::TOPICS;
use crate::world::World;

/// The longest queue wait generated (14 days).
const MAX_QUEUE_SECONDS: f64 = 14.0 * 86_400.0;

const YEAR: f64 = 365.25 * DAY as f64;
const MAX_TOPICS: usize = 6;

const JOIN_REASONS: &[&str] = &["online signup", "store", "referral", "partner offer"];
const REASON_POOR_SERVICE: u8 = 0;
const REASON_UNRESOLVED: u8 = 1;
const REASON_WAITING: u8 = 2;
const REASON_SWITCHED: u8 = 3;
const CHURN_REASONS: &[&str] = &[
    "poor service experience",
    "unresolved problem",
    "long waiting times",
    "switched provider",
    "no longer needed",
    "moved away",
    "price",
];

/// Derives an independent seed for stream `stream` of item `index` (splitmix64 finaliser).
pub(crate) fn stream_seed(seed: u64, stream: u64, index: u64) -> u64 {
    let mut z = seed
        ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) const STREAM_CUSTOMER: u64 = 1;
pub(crate) const STREAM_CORRUPTION: u64 = 2;

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn normal(rng: &mut Pcg64Mcg) -> f64 {
    rng.sample::<f64, _>(StandardNormal)
}

fn exp1(rng: &mut Pcg64Mcg) -> f64 {
    rng.sample::<f64, _>(Exp1)
}

/// Index of the first cumulative weight above a uniform draw.
pub(crate) fn pick(cumulative: &[f64], u: f64) -> usize {
    let total = cumulative.last().copied().unwrap_or(0.0);
    cumulative
        .partition_point(|&c| c <= u * total)
        .min(cumulative.len() - 1)
}

/// Appends the id of a customer's `n`th record: `prefix` + the customer's number + `-nnn`
/// (e.g. `CT-00000042-003` for customer `CU00000042`).
fn push_record_id(buf: &mut Vec<u8>, prefix: &[u8], customer_id: &str, n: u32) {
    buf.extend_from_slice(prefix);
    buf.extend_from_slice(&customer_id.as_bytes()[2..]);
    buf.push(b'-');
    push_padded(buf, u64::from(n), 3);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Issue { channel: u8 },
    FollowUp { channel: u8, topic: u16, chain: u8 },
    Purchase,
    Invitation,
    Churn { reason: u8, after_contact: bool },
    WinBack,
}

/// A past contact, for relationship surveys and refunds.
struct Past {
    at: i64,
    satisfaction_deviation: f64,
    ease_deviation: f64,
    follow_up: bool,
    transfers: u8,
    complaint: bool,
}

struct Customer<'w> {
    world: &'w World,
    rng: Pcg64Mcg,
    corrupt_rng: Pcg64Mcg,
    id: String,
    events: BinaryHeap<Reverse<(i64, u32, Event)>>,
    sequence: u32,
    alive: bool,
    dropped_out: bool,
    churn_pending: bool,
    loyalty: f64,
    dropout: f64,
    purchase_rate: f64,
    spend_rate: f64,
    affinity: f64,
    spend: f64,
    history: VecDeque<Past>,
    last_topic: Option<u16>,
    contacts: u32,
    surveys: u32,
    transactions: u32,
    comment: Vec<u8>,
}

/// Simulates customer `index` into `out`. With a `budget` of contacts left, stops as soon as
/// it is used up; returns whether it was.
pub(crate) fn simulate(
    world: &World,
    index: u64,
    out: &mut ChunkOutput,
    budget: Option<&mut u64>,
) -> bool {
    let model = &world.model;
    let cal = &world.calendar;
    let mut rng = Pcg64Mcg::seed_from_u64(stream_seed(world.seed, STREAM_CUSTOMER, index));
    let corrupt_rng = Pcg64Mcg::seed_from_u64(stream_seed(world.seed, STREAM_CORRUPTION, index));
    let segment_index = pick(&world.segment_cumulative, rng.random());
    let segment = &model.customers.segments[segment_index];
    let region = &model.customers.regions[pick(&world.region_cumulative, rng.random())].0;
    let is_new = rng.random::<f64>() < model.customers.new_customer_share;
    let joined = if is_new {
        cal.start + (rng.random::<f64>() * (cal.end - cal.start) as f64) as i64
    } else {
        let years = (exp1(&mut rng) * model.customers.mean_tenure_years).min(30.0);
        cal.start - ((years * YEAR) as i64).max(DAY)
    };
    let since = joined.max(cal.start);

    let bg = segment.purchases;
    let gg = segment.spend;
    let purchase_rate = gamma(&mut rng, bg.r, 1.0 / bg.alpha);
    let dropout = Beta::new(bg.a, bg.b)
        .map(|d| d.sample(&mut rng))
        .unwrap_or(0.0);
    let spend_rate = gamma(&mut rng, gg.q, 1.0 / gg.gamma);
    let issue_rate = if segment.issues_per_year > 0.0 {
        gamma(
            &mut rng,
            segment.issue_rate_shape,
            segment.issues_per_year / segment.issue_rate_shape,
        )
    } else {
        0.0
    };
    let affinity = normal(&mut rng) * model.relationship.affinity_sd;

    let mut id = String::with_capacity(12);
    id.push_str("CU");
    let mut digits = Vec::with_capacity(10);
    push_padded(&mut digits, index + 1, 8);
    id.push_str(std::str::from_utf8(&digits).unwrap_or_default());

    let mut c = Customer {
        world,
        rng,
        corrupt_rng,
        id,
        events: BinaryHeap::new(),
        sequence: 0,
        alive: true,
        dropped_out: false,
        churn_pending: false,
        loyalty: 0.0,
        dropout,
        purchase_rate,
        spend_rate,
        affinity,
        spend: gg.p,
        history: VecDeque::new(),
        last_topic: None,
        contacts: 0,
        surveys: 0,
        transactions: 0,
        comment: Vec::new(),
    };
    out.customers += 1;
    let share = world.corrupt;
    c.customer_row(out, share, &segment.name, region, joined);
    if is_new {
        let reason = JOIN_REASONS[c.rng.random_range(0..JOIN_REASONS.len())];
        c.event_row(out, joined, "joined", reason);
    }

    // New issues: a Poisson number over the customer's time, placed by the demand shape.
    let mean_issues = issue_rate * cal.years(since, cal.end);
    if mean_issues > 0.0 {
        let issues = Poisson::new(mean_issues)
            .map(|p| p.sample(&mut c.rng))
            .unwrap_or(0.0) as u64;
        for _ in 0..issues {
            let channel = pick(&world.channel_cumulative, c.rng.random());
            let at = cal.sample(&mut c.rng, since, cal.end, channel);
            c.schedule(
                at,
                Event::Issue {
                    channel: channel as u8,
                },
            );
        }
    }
    c.schedule_purchase(since);
    let per_year = model.relationship.invitations_per_year.max(1);
    let every = YEAR / f64::from(per_year);
    let mut wave = 0.0;
    while cal.start as f64 + wave * every < cal.end as f64 {
        let opens = cal.start as f64 + wave * every;
        let at = (opens + c.rng.random::<f64>() * every * 0.9) as i64;
        if at >= since && at < cal.end {
            c.schedule(at, Event::Invitation);
        }
        wave += 1.0;
    }

    let mut budget = budget;
    while let Some(Reverse((at, _, event))) = c.events.pop() {
        if at >= cal.end {
            break;
        }
        match event {
            Event::Churn {
                reason,
                after_contact,
            } => {
                c.churn_pending = false;
                if c.alive {
                    c.alive = false;
                    c.event_row(out, at, "churned", CHURN_REASONS[reason as usize]);
                    if after_contact && c.rng.random::<f64>() < model.churn.win_back_probability {
                        let delay = exp1(&mut c.rng) * model.churn.win_back_mean_days;
                        c.schedule(at + (delay * DAY as f64) as i64 + 1, Event::WinBack);
                    }
                }
            }
            Event::WinBack => {
                if !c.alive && !c.dropped_out {
                    c.alive = true;
                    c.event_row(out, at, "reactivated", "win-back offer");
                    c.schedule_purchase(at);
                }
            }
            _ if !c.alive => {}
            Event::Issue { channel } => {
                if c.contact(out, at, channel as usize, None, 0) {
                    out.contacts += 1;
                    if let Some(left) = budget.as_deref_mut() {
                        *left -= 1;
                        if *left == 0 {
                            return true;
                        }
                    }
                }
            }
            Event::FollowUp {
                channel,
                topic,
                chain,
            } => {
                if c.contact(out, at, channel as usize, Some(topic), chain) {
                    out.contacts += 1;
                    if let Some(left) = budget.as_deref_mut() {
                        *left -= 1;
                        if *left == 0 {
                            return true;
                        }
                    }
                }
            }
            Event::Purchase => c.purchase(out, at),
            Event::Invitation => c.relationship_survey(out, at),
        }
    }
    false
}

fn gamma(rng: &mut Pcg64Mcg, shape: f64, scale: f64) -> f64 {
    Gamma::new(shape, scale)
        .map(|g| g.sample(rng))
        .unwrap_or(0.0)
}

impl Customer<'_> {
    fn schedule(&mut self, at: i64, event: Event) {
        self.sequence += 1;
        self.events.push(Reverse((at, self.sequence, event)));
    }

    fn schedule_purchase(&mut self, after: i64) {
        if self.purchase_rate > 0.0 {
            let wait = exp1(&mut self.rng) / self.purchase_rate * YEAR;
            if wait < (self.world.calendar.end - after) as f64 {
                self.schedule(after + wait as i64 + 1, Event::Purchase);
            }
        }
    }

    fn customer_row(
        &mut self,
        out: &mut ChunkOutput,
        share: f64,
        segment: &str,
        region: &str,
        joined: i64,
    ) {
        let cal = &self.world.calendar;
        out.row(CustomerFile::Customers, share, &mut self.corrupt_rng)
            .text(&self.id)
            .text(segment)
            .text(region)
            .field(|b| cal.push_timestamp(b, joined))
            .end();
    }

    fn event_row(&mut self, out: &mut ChunkOutput, at: i64, kind: &str, reason: &str) {
        let cal = &self.world.calendar;
        out.row(
            CustomerFile::CustomerEvents,
            self.world.corrupt,
            &mut self.corrupt_rng,
        )
        .text(&self.id)
        .field(|b| cal.push_timestamp(b, at))
        .text(kind)
        .text(reason)
        .end();
    }

    /// One contact at `at`; returns false when nobody was at work to take it.
    fn contact(
        &mut self,
        out: &mut ChunkOutput,
        at: i64,
        channel: usize,
        follow_up_topic: Option<u16>,
        chain: u8,
    ) -> bool {
        let world = self.world;
        let model = &world.model;
        let cm = &model.contacts;
        let cal = &world.calendar;
        let rng = &mut self.rng;
        let Some(agent_index) = world.org.agent_on(cal.day_of(at), rng.random()) else {
            return false;
        };
        let agent = &world.org.agents[agent_index as usize];
        let ch = &cm.channels[channel];
        let follow_up = follow_up_topic.is_some();

        // Topics: the reason, further topics the customer raises, escalation, sales offers.
        let mut topics = [0u16; MAX_TOPICS];
        let primary = follow_up_topic.unwrap_or_else(|| world.topics.by_weight(rng.random()));
        topics[0] = primary;
        let mut n = 1;
        let wanted = 1 + pick(&world.topic_count_cumulative, rng.random());
        let mut tries = 0;
        while n < wanted && tries < 12 {
            tries += 1;
            let related = world.topics.same_category(primary);
            let topic = if !related.is_empty() && rng.random::<f64>() < cm.extra_topic_same_category
            {
                related[rng.random_range(0..related.len())]
            } else {
                world.topics.by_weight(rng.random())
            };
            if !topics[..n].contains(&topic) {
                topics[n] = topic;
                n += 1;
            }
        }
        if follow_up && chain >= 1 && rng.random::<f64>() < cm.follow_up.complaint_escalation {
            let complaint = world.topics.complaint_by_category[primary as usize]
                .unwrap_or(world.topics.wait_complaint);
            if !topics[..n].contains(&complaint) && n < MAX_TOPICS - 1 {
                topics[n] = complaint;
                n += 1;
            }
        }
        let sales =
            logistic(cm.proactive_sales_intercept + cm.proactive_sales_warmth * agent.warmth);
        if rng.random::<f64>() < sales {
            let offer = world.topics.sales[rng.random_range(0..world.topics.sales.len())];
            if !topics[..n].contains(&offer) && n < MAX_TOPICS - 1 {
                topics[n] = offer;
                n += 1;
            }
        }
        let extra = (n - 1) as f64;

        let tr = &cm.transfers;
        let transfers: u8 = if rng.random::<f64>()
            < logistic(tr.intercept + tr.skill * agent.skill + tr.extra_topic * extra)
        {
            1 + u8::from(rng.random::<f64>() < tr.second_transfer)
        } else {
            0
        };
        let res = &cm.resolution;
        let resolved = rng.random::<f64>()
            < logistic(
                res.intercept + res.skill * agent.skill + res.extra_topic * extra
                    - TOPICS[primary as usize].difficulty
                    + res.transfer * f64::from(transfers)
                    + res.follow_up * f64::from(u8::from(follow_up)),
            );
        let marked_resolved = resolved || rng.random::<f64>() < res.marked_resolved_when_unresolved;

        let talk = (ch.talk_median
            * (TOPICS[primary as usize].talk_effect + cm.extra_topic_talk * extra
                - cm.speed_effect * agent.speed
                + ch.talk_sigma * normal(rng))
            .exp())
        .round()
        .max(5.0);
        let holds = &cm.holds;
        let hold = if ch.holds {
            let p =
                logistic(holds.intercept + holds.skill * agent.skill + holds.extra_topic * extra);
            if rng.random::<f64>() < p {
                (holds.median * (-holds.speed * agent.speed + holds.sigma * normal(rng)).exp())
                    .round()
                    .max(1.0)
            } else {
                0.0
            }
        } else {
            0.0
        };
        let load = cal.load(at, channel);
        // The log-normal tail is cut at two weeks: no backlog waits longer, and longer
        // durations are rejected at ingest as unit mistakes.
        let queue = (ch.queue_median
            * load.max(0.05).powf(cm.queue_load_exponent)
            * (ch.queue_sigma * normal(rng)).exp())
        .round()
        .min(MAX_QUEUE_SECONDS);
        let after_work = (ch.after_work_median * (ch.after_work_sigma * normal(rng)).exp()).round();
        let handle = talk + hold + after_work;

        let factors = crate::model::Factors {
            resolved: f64::from(u8::from(resolved)),
            follow_up: f64::from(u8::from(follow_up)),
            transfers: f64::from(transfers),
            extra_topics: extra,
            agent_skill: agent.skill,
            agent_warmth: agent.warmth,
            queue_minutes: if ch.real_time {
                (queue / 60.0).min(15.0)
            } else {
                0.0
            },
            wait_hours: if ch.real_time {
                0.0
            } else {
                (queue / 3600.0).min(48.0)
            },
            hold_minutes: (hold / 60.0).min(15.0),
            handle_minutes_over_8: (handle / 60.0 - 8.0).clamp(0.0, 30.0),
        };
        let sat = &model.satisfaction;
        let mut attribute_latent = [0.0f64; MAX_ATTRIBUTES];
        let mut satisfaction = sat.intercept + sat.direct_effects.apply(&factors);
        for (k, (attribute, weight)) in sat
            .attributes
            .iter()
            .zip(&sat.attribute_weights)
            .enumerate()
        {
            let latent = attribute.intercept
                + attribute.effects.apply(&factors)
                + attribute.noise_sd * normal(rng);
            attribute_latent[k] = latent;
            satisfaction += weight * latent;
        }
        satisfaction += sat.noise_sd * normal(rng);
        out.latent
            .add(&attribute_latent[..sat.attributes.len()], satisfaction);
        let csat = satisfaction.round().clamp(1.0, 5.0) as u8;
        if csat == 5 && rng.random::<f64>() < cm.compliment_on_top_rating && n < MAX_TOPICS {
            topics[n] = world.topics.compliment;
            n += 1;
        }

        // The contact.
        self.contacts += 1;
        let number = self.contacts;
        let agent_id = world.org.person_id(agent_index);
        let share = world.corrupt;
        {
            let id = &self.id;
            let mut row = out.row(CustomerFile::Interactions, share, &mut self.corrupt_rng);
            row.field(|b| push_record_id(b, b"CT-", id, number))
                .text(id)
                .text(agent_id)
                .text(&ch.channel)
                .field(|b| cal.push_timestamp(b, at))
                .int(queue as u64)
                .int(talk as u64);
            if ch.holds {
                row.int(hold as u64);
            } else {
                row.empty();
            }
            row.int(after_work as u64)
                .int(handle as u64)
                .field(|b| {
                    for (k, topic) in topics[..n].iter().enumerate() {
                        if k > 0 {
                            b.push(b';');
                        }
                        b.extend_from_slice(TOPICS[*topic as usize].code.as_bytes());
                    }
                })
                .text(if marked_resolved { "true" } else { "false" })
                .int(transfers)
                .end();
        }

        // Post-contact survey.
        let rng = &mut self.rng;
        if rng.random::<f64>() < ch.survey_response_rate {
            let answered =
                at + handle as i64 + (exp1(rng) * sat.answer_delay_mean_hours * 3600.0) as i64;
            let ratings = attribute_latent.map(|l| l.round().clamp(1.0, 5.0) as u8);
            let ratings = &ratings[..sat.attributes.len()];
            let wants_comment = rng.random::<f64>() < sat.comment_probability[csat as usize - 1];
            if answered < cal.end {
                self.comment.clear();
                if wants_comment {
                    let rating_of = |k: Option<usize>| k.map_or(3, |k| ratings[k]);
                    let spec = &TOPICS[primary as usize];
                    let facts = ContactFacts {
                        csat,
                        topic_words: spec.keywords,
                        topic_name: spec.name,
                        resolved,
                        long_wait: factors.queue_minutes > 5.0 || factors.wait_hours > 24.0,
                        long_hold: hold > 240.0,
                        follow_up,
                        transferred: transfers > 0,
                        quick: queue < 30.0,
                        courtesy: rating_of(world.attribute_courtesy),
                        knowledge: rating_of(world.attribute_knowledge),
                    };
                    contact_comment(&mut self.comment, &mut self.rng, &facts);
                }
                self.surveys += 1;
                let number = self.surveys;
                let contact_number = self.contacts;
                let comment = &self.comment;
                let id = &self.id;
                let mut row = out.row(CustomerFile::Surveys, share, &mut self.corrupt_rng);
                row.field(|b| push_record_id(b, b"SV-", id, number))
                    .text("csat")
                    .field(|b| cal.push_timestamp(b, answered))
                    .text(id)
                    .field(|b| push_record_id(b, b"CT-", id, contact_number))
                    .int(csat)
                    .empty()
                    .empty()
                    .field(|b| {
                        if !comment.is_empty() {
                            push_quoted(b, comment);
                        }
                    });
                for rating in ratings {
                    row.int(*rating);
                }
                row.end();
            }
        }

        // Consequences: churn risk, loyalty, the follow-up of an unresolved issue.
        let churn = &model.churn;
        let low = f64::from(u8::from(csat <= 2));
        let top = f64::from(u8::from(csat == 5));
        let experience = |e: &crate::model::ExperienceEffects| {
            e.low_csat * low
                + e.top_csat * top
                + e.follow_up * factors.follow_up
                + e.hold_minutes * factors.hold_minutes
        };
        let rng = &mut self.rng;
        if !self.churn_pending
            && rng.random::<f64>() < logistic(churn.contact_intercept + experience(&churn.contact))
        {
            let reason = if csat <= 2 {
                REASON_POOR_SERVICE
            } else if follow_up {
                REASON_UNRESOLVED
            } else if hold > 300.0 || factors.queue_minutes > 5.0 {
                REASON_WAITING
            } else {
                REASON_SWITCHED
            };
            let delay = 1.0 + rng.random::<f64>() * (churn.max_delay_days - 1.0).max(0.0);
            self.churn_pending = true;
            self.schedule(
                at + (delay * DAY as f64) as i64,
                Event::Churn {
                    reason,
                    after_contact: true,
                },
            );
        }
        self.loyalty += experience(&churn.loyalty);
        let complaint = topics[..n]
            .iter()
            .any(|t| TOPICS[*t as usize].kind == cxm_domain::TopicKind::Complaint);
        let ease = world.attribute_ease;
        self.history.push_back(Past {
            at,
            satisfaction_deviation: satisfaction - model.relationship.satisfaction_reference,
            ease_deviation: ease.map_or(0.0, |k| {
                attribute_latent[k] - model.relationship.ease_reference
            }),
            follow_up,
            transfers,
            complaint,
        });
        while self.history.front().is_some_and(|p| p.at < at - 180 * DAY) {
            self.history.pop_front();
        }
        self.last_topic = Some(primary);

        let fu = &cm.follow_up;
        let rng = &mut self.rng;
        if !resolved && rng.random::<f64>() < fu.probability {
            let delay = fu.delay_median_days * (fu.delay_sigma * normal(rng)).exp();
            let next_channel = if rng.random::<f64>() < fu.same_channel {
                channel
            } else {
                world.phone
            };
            let day_start = (at + (delay * DAY as f64) as i64).div_euclid(DAY) * DAY;
            let mut next = cal.at_hour_of(rng, day_start, next_channel);
            if next <= at + 600 {
                next = at + 600 + rng.random_range(0..3600);
            }
            self.schedule(
                next,
                Event::FollowUp {
                    channel: next_channel as u8,
                    topic: primary,
                    chain: chain.saturating_add(1),
                },
            );
        }
        true
    }

    fn purchase(&mut self, out: &mut ChunkOutput, at: i64) {
        let world = self.world;
        let cal = &world.calendar;
        let refunds = &world.model.refunds;
        let amount = gamma(&mut self.rng, self.spend, 1.0 / self.spend_rate);
        let cents = ((amount * 100.0).round() as u64).max(100);
        self.transaction_row(out, at, cents, "purchase");
        let recent_complaint = self
            .history
            .iter()
            .any(|p| p.complaint && p.at >= at - 30 * DAY);
        let p_refund =
            refunds.probability + refunds.after_complaint * f64::from(u8::from(recent_complaint));
        if self.rng.random::<f64>() < p_refund {
            let delay = 1.0 + self.rng.random::<f64>() * (refunds.max_delay_days - 1.0).max(0.0);
            let refunded = if self.rng.random::<f64>() < refunds.full_share {
                cents
            } else {
                ((cents as f64 * (0.2 + 0.6 * self.rng.random::<f64>())).round() as u64).max(1)
            };
            let when = at + (delay * DAY as f64) as i64;
            if when < cal.end {
                self.transaction_row(out, when, refunded, "refund");
            }
        }
        // BG/NBD dropout after the purchase, shifted by the customer's experiences.
        let p = self.dropout.clamp(1e-12, 1.0 - 1e-12);
        let shifted = if self.loyalty == 0.0 {
            p
        } else {
            logistic((p / (1.0 - p)).ln() + self.loyalty)
        };
        if self.rng.random::<f64>() < shifted {
            self.dropped_out = true;
            if !self.churn_pending {
                self.churn_pending = true;
                let reason = self
                    .rng
                    .random_range(REASON_SWITCHED..CHURN_REASONS.len() as u8);
                let delay = self.rng.random::<f64>() * 30.0;
                self.schedule(
                    at + (delay * DAY as f64) as i64 + 1,
                    Event::Churn {
                        reason,
                        after_contact: false,
                    },
                );
            }
        } else {
            self.schedule_purchase(at);
        }
    }

    fn transaction_row(&mut self, out: &mut ChunkOutput, at: i64, cents: u64, kind: &str) {
        self.transactions += 1;
        let number = self.transactions;
        let cal = &self.world.calendar;
        out.row(
            CustomerFile::Transactions,
            self.world.corrupt,
            &mut self.corrupt_rng,
        )
        .field(|b| push_record_id(b, b"TX-", &self.id, number))
        .text(&self.id)
        .field(|b| cal.push_timestamp(b, at))
        .field(|b| push_cents(b, cents))
        .text(kind)
        .end();
    }

    fn relationship_survey(&mut self, out: &mut ChunkOutput, at: i64) {
        let world = self.world;
        let rel = &world.model.relationship;
        let rng = &mut self.rng;
        if rng.random::<f64>() >= rel.response_rate {
            return;
        }
        let (mut satisfaction, mut ease, mut recent) = (0.0, 0.0, 0usize);
        let (mut follow_ups, mut transfers) = (0u32, 0u32);
        for past in self
            .history
            .iter()
            .filter(|p| p.at >= at - 180 * DAY && p.at < at)
        {
            satisfaction += past.satisfaction_deviation;
            ease += past.ease_deviation;
            recent += 1;
            if past.at >= at - 90 * DAY {
                follow_ups += u32::from(past.follow_up);
                transfers += u32::from(past.transfers);
            }
        }
        if recent > 0 {
            satisfaction /= recent as f64;
            ease /= recent as f64;
        }
        let nps_latent = rel.nps_intercept
            + rel.nps_experience * satisfaction
            + rel.nps_follow_ups * f64::from(follow_ups)
            + self.affinity
            + rel.nps_noise_sd * normal(rng);
        let nps = nps_latent.round().clamp(0.0, 10.0) as u8;
        let ces_latent = rel.ces_intercept
            + rel.ces_ease * ease
            + rel.ces_transfers * f64::from(transfers)
            + rel.ces_noise_sd * normal(rng);
        let ces = ces_latent.round().clamp(1.0, 7.0) as u8;
        self.comment.clear();
        if rng.random::<f64>() < rel.comment_probability {
            let topic = self.last_topic.map(|t| TOPICS[t as usize].keywords[0]);
            relationship_comment(&mut self.comment, &mut self.rng, nps, topic);
        }
        self.surveys += 1;
        let number = self.surveys;
        let cal = &world.calendar;
        let comment = &self.comment;
        let id = &self.id;
        let mut row = out.row(CustomerFile::Surveys, world.corrupt, &mut self.corrupt_rng);
        row.field(|b| push_record_id(b, b"SV-", id, number))
            .text("relationship")
            .field(|b| cal.push_timestamp(b, at))
            .text(id)
            .empty()
            .empty()
            .int(nps)
            .int(ces)
            .field(|b| {
                if !comment.is_empty() {
                    push_quoted(b, comment);
                }
            });
        for _ in &world.model.satisfaction.attributes {
            row.empty();
        }
        row.end();
    }
}

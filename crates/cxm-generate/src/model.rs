//! The generator's model: every parameter that shapes the generated organisation, its
//! customers' behaviour and the true effects behind the data. It is written verbatim into
//! `ground_truth.json`, so an analysis can be checked against the values that made the data.
//!
//! Units: rates are per year, durations in seconds unless a name says otherwise, and
//! probabilities are shares in 0–1. Latent scales are continuous; observed ratings are the
//! latent value rounded and clamped to the survey's scale.

use serde::{Deserialize, Serialize};

/// Most attribute ratings a post-contact survey carries.
pub const MAX_ATTRIBUTES: usize = 8;

/// The whole model. `Model::default()` is the demo company.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    pub organisation: OrganisationModel,
    pub customers: CustomerModel,
    pub contacts: ContactModel,
    pub satisfaction: SatisfactionModel,
    pub relationship: RelationshipModel,
    pub refunds: RefundModel,
    pub churn: ChurnModel,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrganisationModel {
    pub sites: u32,
    /// Inclusive range of teams per site.
    pub teams_per_site: [u32; 2],
    /// Inclusive range of agents per team at the start of the period.
    pub agents_per_team: [u32; 2],
    /// Share of agents who move to another team during the period.
    pub move_share: f64,
    /// Share of agents who leave during the period.
    pub leave_share: f64,
    /// New hires during the period, as a share of the starting headcount.
    pub hire_share: f64,
    /// Mean resolution skill of new hires relative to the established agents (sd units).
    pub new_hire_skill_shift: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomerModel {
    pub segments: Vec<SegmentModel>,
    /// Region names and their shares.
    pub regions: Vec<(String, f64)>,
    /// Share of customers who join during the period (the rest are customers at its start).
    pub new_customer_share: f64,
    /// Mean tenure at the start of the period of existing customers, in years.
    pub mean_tenure_years: f64,
}

/// One customer segment: its share, contact propensity, purchase and spend processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentModel {
    pub name: String,
    pub share: f64,
    /// Mean new issues (contacts not caused by an earlier unresolved one) per customer-year.
    pub issues_per_year: f64,
    /// Shape of the gamma distribution of issue rates across customers (heterogeneity).
    pub issue_rate_shape: f64,
    pub purchases: BgNbd,
    pub spend: GammaGamma,
}

/// BG/NBD purchase process (Fader, Hardie & Lee 2005), time in years: while alive a customer
/// buys as a Poisson process with rate λ ~ Gamma(shape r, rate α); after each purchase they
/// drop out with probability p ~ Beta(a, b). Loyalty (see [`ChurnModel::loyalty`]) shifts p
/// on the logit scale after contacts; a customer without contacts follows the process exactly.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// Gamma-Gamma spend model (Fader, Hardie & Lee 2005): each purchase's amount ~ Gamma(shape p,
/// rate ν), with the customer's ν ~ Gamma(shape q, rate γ); mean spend is pγ/(q−1).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContactModel {
    pub channels: Vec<ChannelModel>,
    /// Probability of 1, 2, 3 and 4 topics raised by the customer.
    pub topic_count_probabilities: [f64; 4],
    /// Probability that an extra topic comes from the primary topic's category.
    pub extra_topic_same_category: f64,
    /// Logit of the agent proactively raising a sales topic: intercept + warmth × agent warmth.
    pub proactive_sales_intercept: f64,
    pub proactive_sales_warmth: f64,
    /// Probability of a compliment topic on a contact the customer rates 5.
    pub compliment_on_top_rating: f64,
    pub resolution: ResolutionModel,
    pub holds: HoldModel,
    pub transfers: TransferModel,
    pub follow_up: FollowUpModel,
    /// Talk time multiplier per resolution-skill sd of the agent's *speed*: talk time is
    /// multiplied by exp(−speed_effect × speed).
    pub speed_effect: f64,
    /// Talk time multiplier per extra topic: exp(extra_topic_talk × (topics − 1)).
    pub extra_topic_talk: f64,
    /// Queue time grows with load: the median is multiplied by load^queue_load_exponent,
    /// where load is the arrival intensity of that day and hour relative to the mean.
    pub queue_load_exponent: f64,
}

/// One channel: its share of new issues and its duration distributions (log-normal: median
/// seconds and log-scale sd).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelModel {
    pub channel: String,
    pub share: f64,
    /// Real-time channels (phone, chat) queue in seconds; the others wait hours.
    pub real_time: bool,
    pub queue_median: f64,
    pub queue_sigma: f64,
    pub talk_median: f64,
    pub talk_sigma: f64,
    pub after_work_median: f64,
    pub after_work_sigma: f64,
    /// Whether the customer can be put on hold (phone, video).
    pub holds: bool,
    /// Probability that a post-contact survey is answered.
    pub survey_response_rate: f64,
}

/// P(issue truly resolved) = logistic(intercept + skill × agent skill + extra_topic ×
/// (topics − 1) − topic difficulty + transfer × transfers + follow_up × [follow-up contact]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResolutionModel {
    pub intercept: f64,
    pub skill: f64,
    pub extra_topic: f64,
    pub transfer: f64,
    pub follow_up: f64,
    /// Agents mark an unresolved contact resolved anyway with this probability.
    pub marked_resolved_when_unresolved: f64,
}

/// P(hold) = logistic(intercept + skill × agent skill + extra_topic × (topics − 1)); hold
/// seconds ~ log-normal(median × exp(−speed × agent speed), sigma).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoldModel {
    pub intercept: f64,
    pub skill: f64,
    pub extra_topic: f64,
    pub median: f64,
    pub sigma: f64,
    pub speed: f64,
}

/// P(transfer) = logistic(intercept + skill × agent skill + extra_topic × (topics − 1)); a
/// transferred contact is transferred twice with `second_transfer`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferModel {
    pub intercept: f64,
    pub skill: f64,
    pub extra_topic: f64,
    pub second_transfer: f64,
}

/// An unresolved issue brings the customer back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FollowUpModel {
    /// Probability that an unresolved issue causes another contact.
    pub probability: f64,
    /// Delay until the follow-up: log-normal with this median (days) and log-scale sd.
    pub delay_median_days: f64,
    pub delay_sigma: f64,
    /// Probability that the follow-up uses the same channel (else phone).
    pub same_channel: f64,
    /// Probability that the second or later contact about one issue adds a complaint topic.
    pub complaint_escalation: f64,
}

/// The operational factors of a contact that the satisfaction model uses. Each field of an
/// [`Effects`] is the coefficient of one of them.
///
/// - `resolved`: 1 when the issue was truly resolved;
/// - `follow_up`: 1 when the contact is a repeat about an unresolved issue;
/// - `transfers`: number of transfers;
/// - `extra_topics`: topics − 1;
/// - `agent_skill`, `agent_warmth`: the agent's latent traits (standard normal);
/// - `queue_minutes`: queue wait in minutes, capped at 15, real-time channels only;
/// - `wait_hours`: response wait in hours, capped at 48, other channels only;
/// - `hold_minutes`: hold time in minutes, capped at 15;
/// - `handle_minutes_over_8`: handle time beyond 8 minutes, in minutes, capped at 30.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Effects {
    pub resolved: f64,
    pub follow_up: f64,
    pub transfers: f64,
    pub extra_topics: f64,
    pub agent_skill: f64,
    pub agent_warmth: f64,
    pub queue_minutes: f64,
    pub wait_hours: f64,
    pub hold_minutes: f64,
    pub handle_minutes_over_8: f64,
}

/// The values of the operational factors of one contact share the shape of their
/// coefficients.
pub(crate) type Factors = Effects;

impl Effects {
    fn to_array(self) -> [f64; 10] {
        [
            self.resolved,
            self.follow_up,
            self.transfers,
            self.extra_topics,
            self.agent_skill,
            self.agent_warmth,
            self.queue_minutes,
            self.wait_hours,
            self.hold_minutes,
            self.handle_minutes_over_8,
        ]
    }

    fn from_array(v: [f64; 10]) -> Effects {
        let [
            resolved,
            follow_up,
            transfers,
            extra_topics,
            agent_skill,
            agent_warmth,
            queue_minutes,
            wait_hours,
            hold_minutes,
            handle_minutes_over_8,
        ] = v;
        Effects {
            resolved,
            follow_up,
            transfers,
            extra_topics,
            agent_skill,
            agent_warmth,
            queue_minutes,
            wait_hours,
            hold_minutes,
            handle_minutes_over_8,
        }
    }

    /// The effect of these coefficients on a contact with factor values `x`.
    pub(crate) fn apply(&self, x: &Factors) -> f64 {
        self.to_array()
            .iter()
            .zip(x.to_array())
            .map(|(coefficient, value)| coefficient * value)
            .sum()
    }

    /// Whether every coefficient is zero.
    pub fn is_zero(&self) -> bool {
        self.to_array().iter().all(|c| *c == 0.0)
    }

    fn scaled(&self, k: f64) -> Effects {
        Effects::from_array(self.to_array().map(|c| c * k))
    }

    fn plus(&self, other: &Effects) -> Effects {
        let (a, b) = (self.to_array(), other.to_array());
        Effects::from_array(std::array::from_fn(|i| a[i] + b[i]))
    }
}

/// One attribute rating's latent value: intercept + effects · factors + N(0, noise_sd).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttributeModel {
    pub name: String,
    pub intercept: f64,
    pub effects: Effects,
    pub noise_sd: f64,
}

/// Post-contact satisfaction. Each attribute (ease, courtesy, knowledge, resolution — "was
/// your problem solved?" — and speed) has a latent value; the latent satisfaction is
/// intercept + Σ weight × attribute latent + direct effects · factors + N(0, noise_sd). Observed csat and ratings are rounded and clamped to
/// 1–5. Every contact has a satisfaction; only survey respondents reveal it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SatisfactionModel {
    pub attributes: Vec<AttributeModel>,
    pub intercept: f64,
    /// Weight of each attribute's latent value, in the order of `attributes`.
    pub attribute_weights: Vec<f64>,
    pub direct_effects: Effects,
    pub noise_sd: f64,
    /// Probability that a respondent writes a comment, by csat 1–5.
    pub comment_probability: [f64; 5],
    /// Mean delay between the end of the contact and the answer, in hours (exponential).
    pub answer_delay_mean_hours: f64,
}

impl SatisfactionModel {
    /// The total effect of each operational factor on latent satisfaction: the direct
    /// effects plus each attribute's effects times the attribute's weight.
    pub fn total_effects(&self) -> Effects {
        self.attributes
            .iter()
            .zip(&self.attribute_weights)
            .fold(self.direct_effects, |total, (attribute, weight)| {
                total.plus(&attribute.effects.scaled(*weight))
            })
    }
}

/// Periodic relationship survey: NPS (0–10) and CES (1–7) of each alive customer.
///
/// NPS latent = nps_intercept + nps_experience × (mean satisfaction deviation of the
/// customer's contacts in the last 180 days) + nps_follow_ups × (follow-up contacts in the
/// last 90 days) + customer affinity ~ N(0, affinity_sd) + N(0, nps_noise_sd).
/// CES latent = ces_intercept + ces_ease × (mean ease deviation, last 180 days) +
/// ces_transfers × (transfers in the last 90 days) + N(0, ces_noise_sd).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RelationshipModel {
    pub invitations_per_year: u32,
    pub response_rate: f64,
    pub comment_probability: f64,
    pub nps_intercept: f64,
    pub nps_experience: f64,
    pub nps_follow_ups: f64,
    pub affinity_sd: f64,
    pub nps_noise_sd: f64,
    pub ces_intercept: f64,
    pub ces_ease: f64,
    pub ces_transfers: f64,
    pub ces_noise_sd: f64,
    /// The satisfaction and ease values a deviation is measured from.
    pub satisfaction_reference: f64,
    pub ease_reference: f64,
}

/// Refunds of purchases.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefundModel {
    pub probability: f64,
    /// Added to the probability when the customer contacted us with a complaint in the
    /// 30 days before the purchase.
    pub after_complaint: f64,
    /// Share of refunds that return the whole amount (the rest return 20–80%).
    pub full_share: f64,
    pub max_delay_days: f64,
}

/// Attrition. Two mechanisms:
/// - after a contact the customer churns (within `max_delay_days`) with probability
///   logistic(contact_intercept + contact.{low_csat, top_csat, follow_up, hold_minutes} ·
///   (csat ≤ 2, csat = 5, follow-up, hold minutes capped at 15));
/// - after each purchase the BG/NBD dropout probability p is shifted on the logit scale by
///   the customer's loyalty balance: the sum of `loyalty` effects of all their contacts so far.
///
/// Customers lost after a contact are won back with `win_back_probability` after an
/// exponential delay; BG/NBD dropouts are permanent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChurnModel {
    pub contact_intercept: f64,
    pub contact: ExperienceEffects,
    pub max_delay_days: f64,
    pub loyalty: ExperienceEffects,
    pub win_back_probability: f64,
    pub win_back_mean_days: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ExperienceEffects {
    /// The contact's csat (answered or not) is 1 or 2.
    pub low_csat: f64,
    /// The contact's csat is 5.
    pub top_csat: f64,
    pub follow_up: f64,
    pub hold_minutes: f64,
}

/// A channel; `durations` are (median, sigma) of queue, talk and after-contact work.
fn channel(
    name: &str,
    share: f64,
    real_time: bool,
    holds: bool,
    survey_response_rate: f64,
    durations: [(f64, f64); 3],
) -> ChannelModel {
    let [queue, talk, after_work] = durations;
    ChannelModel {
        channel: name.to_owned(),
        share,
        real_time,
        queue_median: queue.0,
        queue_sigma: queue.1,
        talk_median: talk.0,
        talk_sigma: talk.1,
        after_work_median: after_work.0,
        after_work_sigma: after_work.1,
        holds,
        survey_response_rate,
    }
}

impl Default for Model {
    fn default() -> Self {
        let none = Effects::default();
        Model {
            organisation: OrganisationModel {
                sites: 3,
                teams_per_site: [8, 12],
                agents_per_team: [8, 14],
                move_share: 0.08,
                leave_share: 0.10,
                hire_share: 0.12,
                new_hire_skill_shift: -0.5,
            },
            customers: CustomerModel {
                segments: vec![
                    SegmentModel {
                        name: "consumer".into(),
                        share: 0.72,
                        issues_per_year: 2.2,
                        issue_rate_shape: 1.5,
                        purchases: BgNbd {
                            r: 2.0,
                            alpha: 0.5,
                            a: 0.6,
                            b: 6.0,
                        },
                        spend: GammaGamma {
                            p: 6.0,
                            q: 4.0,
                            gamma: 15.0,
                        },
                    },
                    SegmentModel {
                        name: "small_business".into(),
                        share: 0.20,
                        issues_per_year: 3.0,
                        issue_rate_shape: 2.0,
                        purchases: BgNbd {
                            r: 2.5,
                            alpha: 0.4,
                            a: 0.5,
                            b: 7.0,
                        },
                        spend: GammaGamma {
                            p: 6.0,
                            q: 4.0,
                            gamma: 40.0,
                        },
                    },
                    SegmentModel {
                        name: "premium".into(),
                        share: 0.08,
                        issues_per_year: 2.6,
                        issue_rate_shape: 2.0,
                        purchases: BgNbd {
                            r: 3.0,
                            alpha: 0.5,
                            a: 0.4,
                            b: 8.0,
                        },
                        spend: GammaGamma {
                            p: 6.0,
                            q: 4.0,
                            gamma: 35.0,
                        },
                    },
                ],
                regions: vec![
                    ("north".into(), 0.28),
                    ("south".into(), 0.31),
                    ("east".into(), 0.19),
                    ("west".into(), 0.22),
                ],
                new_customer_share: 0.2,
                mean_tenure_years: 3.5,
            },
            contacts: ContactModel {
                channels: vec![
                    channel(
                        "phone",
                        0.55,
                        true,
                        true,
                        0.12,
                        [(40.0, 1.0), (300.0, 0.55), (45.0, 0.5)],
                    ),
                    channel(
                        "chat",
                        0.20,
                        true,
                        false,
                        0.16,
                        [(25.0, 0.9), (540.0, 0.5), (30.0, 0.5)],
                    ),
                    channel(
                        "email",
                        0.15,
                        false,
                        false,
                        0.08,
                        [(5.0 * 3600.0, 0.9), (240.0, 0.6), (60.0, 0.5)],
                    ),
                    channel(
                        "messaging",
                        0.06,
                        false,
                        false,
                        0.14,
                        [(0.5 * 3600.0, 1.0), (360.0, 0.6), (30.0, 0.5)],
                    ),
                    channel(
                        "social",
                        0.04,
                        false,
                        false,
                        0.05,
                        [(2.0 * 3600.0, 1.0), (200.0, 0.6), (40.0, 0.5)],
                    ),
                ],
                topic_count_probabilities: [0.56, 0.28, 0.11, 0.05],
                extra_topic_same_category: 0.5,
                proactive_sales_intercept: -3.0,
                proactive_sales_warmth: 0.6,
                compliment_on_top_rating: 0.08,
                resolution: ResolutionModel {
                    intercept: 1.6,
                    skill: 0.8,
                    extra_topic: -0.35,
                    transfer: -0.5,
                    follow_up: 0.3,
                    marked_resolved_when_unresolved: 0.4,
                },
                holds: HoldModel {
                    intercept: -0.9,
                    skill: -0.4,
                    extra_topic: 0.35,
                    median: 75.0,
                    sigma: 0.8,
                    speed: 0.15,
                },
                transfers: TransferModel {
                    intercept: -2.3,
                    skill: -0.5,
                    extra_topic: 0.3,
                    second_transfer: 0.2,
                },
                follow_up: FollowUpModel {
                    probability: 0.85,
                    delay_median_days: 1.5,
                    delay_sigma: 0.8,
                    same_channel: 0.7,
                    complaint_escalation: 0.5,
                },
                speed_effect: 0.12,
                extra_topic_talk: 0.25,
                queue_load_exponent: 1.5,
            },
            satisfaction: SatisfactionModel {
                attributes: vec![
                    AttributeModel {
                        name: "ease".into(),
                        intercept: 3.6,
                        effects: Effects {
                            resolved: 1.0,
                            follow_up: -0.5,
                            transfers: -0.35,
                            extra_topics: -0.15,
                            ..none
                        },
                        noise_sd: 0.7,
                    },
                    AttributeModel {
                        name: "courtesy".into(),
                        intercept: 4.0,
                        effects: Effects {
                            agent_warmth: 0.45,
                            ..none
                        },
                        noise_sd: 0.7,
                    },
                    AttributeModel {
                        name: "knowledge".into(),
                        intercept: 3.8,
                        effects: Effects {
                            agent_skill: 0.45,
                            ..none
                        },
                        noise_sd: 0.7,
                    },
                    AttributeModel {
                        name: "resolution".into(),
                        intercept: 2.0,
                        effects: Effects {
                            resolved: 2.0,
                            follow_up: -0.5,
                            ..none
                        },
                        noise_sd: 0.7,
                    },
                    AttributeModel {
                        name: "speed".into(),
                        intercept: 4.0,
                        effects: Effects {
                            queue_minutes: -0.12,
                            wait_hours: -0.04,
                            hold_minutes: -0.25,
                            handle_minutes_over_8: -0.05,
                            ..none
                        },
                        noise_sd: 0.7,
                    },
                ],
                intercept: -0.29,
                attribute_weights: vec![0.30, 0.10, 0.15, 0.40, 0.25],
                direct_effects: none,
                noise_sd: 0.8,
                comment_probability: [0.75, 0.65, 0.45, 0.4, 0.5],
                answer_delay_mean_hours: 3.0,
            },
            relationship: RelationshipModel {
                invitations_per_year: 4,
                response_rate: 0.15,
                comment_probability: 0.35,
                nps_intercept: 7.4,
                nps_experience: 1.5,
                nps_follow_ups: -0.7,
                affinity_sd: 1.2,
                nps_noise_sd: 1.3,
                ces_intercept: 5.3,
                ces_ease: 0.9,
                ces_transfers: -0.4,
                ces_noise_sd: 1.0,
                satisfaction_reference: 3.9,
                ease_reference: 4.1,
            },
            refunds: RefundModel {
                probability: 0.03,
                after_complaint: 0.10,
                full_share: 0.7,
                max_delay_days: 30.0,
            },
            churn: ChurnModel {
                contact_intercept: -4.5,
                contact: ExperienceEffects {
                    low_csat: 1.2,
                    top_csat: -0.6,
                    follow_up: 0.5,
                    hold_minutes: 0.08,
                },
                max_delay_days: 14.0,
                loyalty: ExperienceEffects {
                    low_csat: 0.5,
                    top_csat: -0.25,
                    follow_up: 0.3,
                    hold_minutes: 0.02,
                },
                win_back_probability: 0.08,
                win_back_mean_days: 90.0,
            },
        }
    }
}

impl Model {
    /// Checks that shares sum to one, probabilities are probabilities and the process
    /// parameters are positive, so sampling cannot fail later.
    pub fn validate(&self) -> Result<(), String> {
        fn share_sum(what: &str, shares: impl Iterator<Item = f64>) -> Result<(), String> {
            let mut sum = 0.0;
            for share in shares {
                if !(0.0..=1.0).contains(&share) {
                    return Err(format!("{what}: share {share} is not in 0–1"));
                }
                sum += share;
            }
            if (sum - 1.0).abs() > 1e-6 {
                return Err(format!("{what}: shares sum to {sum}, not 1"));
            }
            Ok(())
        }
        fn positive(what: &str, value: f64) -> Result<(), String> {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(format!("{what} must be positive, not {value}"))
            }
        }
        let org = &self.organisation;
        if org.sites == 0 || org.teams_per_site[0] == 0 || org.agents_per_team[0] == 0 {
            return Err("the organisation needs at least one site, team and agent".into());
        }
        if org.teams_per_site[0] > org.teams_per_site[1]
            || org.agents_per_team[0] > org.agents_per_team[1]
        {
            return Err("organisation ranges must be [low, high] with low ≤ high".into());
        }
        let customers = &self.customers;
        if customers.segments.is_empty() || customers.regions.is_empty() {
            return Err("customers need at least one segment and one region".into());
        }
        share_sum("segments", customers.segments.iter().map(|s| s.share))?;
        share_sum("regions", customers.regions.iter().map(|r| r.1))?;
        for segment in &customers.segments {
            let name = &segment.name;
            if !(segment.issues_per_year >= 0.0 && segment.issues_per_year.is_finite()) {
                return Err(format!("segment {name}: issues_per_year must be ≥ 0"));
            }
            positive(
                &format!("segment {name}: issue_rate_shape"),
                segment.issue_rate_shape,
            )?;
            let BgNbd { r, alpha, a, b } = segment.purchases;
            for (what, v) in [("r", r), ("alpha", alpha), ("a", a), ("b", b)] {
                positive(&format!("segment {name}: purchases.{what}"), v)?;
            }
            let GammaGamma { p, q, gamma } = segment.spend;
            for (what, v) in [("p", p), ("q", q), ("gamma", gamma)] {
                positive(&format!("segment {name}: spend.{what}"), v)?;
            }
        }
        let contacts = &self.contacts;
        if contacts.channels.is_empty() {
            return Err("contacts need at least one channel".into());
        }
        share_sum("channels", contacts.channels.iter().map(|c| c.share))?;
        share_sum(
            "topic_count_probabilities",
            contacts.topic_count_probabilities.iter().copied(),
        )?;
        for c in &contacts.channels {
            if cxm_domain::Channel::parse("channel", &c.channel).is_err() {
                return Err(format!("{:?} is not a channel cxm knows", c.channel));
            }
            for (what, v) in [
                ("queue_median", c.queue_median),
                ("talk_median", c.talk_median),
                ("after_work_median", c.after_work_median),
            ] {
                positive(&format!("channel {}: {what}", c.channel), v)?;
            }
        }
        let satisfaction = &self.satisfaction;
        if satisfaction.attributes.len() > MAX_ATTRIBUTES {
            return Err(format!(
                "satisfaction: at most {MAX_ATTRIBUTES} attributes, not {}",
                satisfaction.attributes.len()
            ));
        }
        if satisfaction.attributes.len() != satisfaction.attribute_weights.len() {
            return Err("satisfaction: one weight per attribute".into());
        }
        for attribute in &satisfaction.attributes {
            let valid = !attribute.name.is_empty()
                && attribute
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_');
            if !valid {
                return Err(format!(
                    "attribute name {:?} must be lowercase letters and _",
                    attribute.name
                ));
            }
        }
        let probabilities = [
            customers.new_customer_share,
            contacts.extra_topic_same_category,
            contacts.compliment_on_top_rating,
            contacts.resolution.marked_resolved_when_unresolved,
            contacts.transfers.second_transfer,
            contacts.follow_up.probability,
            contacts.follow_up.same_channel,
            contacts.follow_up.complaint_escalation,
            self.relationship.response_rate,
            self.relationship.comment_probability,
            self.refunds.probability,
            self.refunds.after_complaint,
            self.refunds.full_share,
            self.churn.win_back_probability,
        ];
        if probabilities.iter().any(|p| !(0.0..=1.0).contains(p)) {
            return Err("every probability of the model must be in 0–1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_model_is_valid_and_bad_models_are_refused() {
        assert_eq!(Model::default().validate(), Ok(()));
        let mut too_many = Model::default();
        let extra = too_many.satisfaction.attributes[0].clone();
        for _ in 0..MAX_ATTRIBUTES {
            too_many.satisfaction.attributes.push(extra.clone());
            too_many.satisfaction.attribute_weights.push(0.1);
        }
        assert!(
            too_many
                .validate()
                .unwrap_err()
                .contains("at most 8 attributes")
        );
        let mut shares = Model::default();
        shares.contacts.channels[0].share = 0.9;
        assert!(shares.validate().unwrap_err().contains("channels"));
    }

    #[test]
    fn total_effects_add_direct_and_weighted_attribute_effects() {
        let mut s = Model::default().satisfaction;
        // resolved: ease 0.30 × 1.0 + resolution 0.40 × 2.0
        assert!((s.total_effects().resolved - (0.30 + 0.80)).abs() < 1e-12);
        // hold: speed 0.25 × −0.25
        assert!((s.total_effects().hold_minutes + 0.0625).abs() < 1e-12);
        // a direct effect adds to what comes through the attributes
        s.direct_effects.resolved = 0.5;
        assert!((s.total_effects().resolved - (0.5 + 1.10)).abs() < 1e-12);
        assert!(!s.direct_effects.is_zero());
        assert!(Model::default().satisfaction.direct_effects.is_zero());
    }
}

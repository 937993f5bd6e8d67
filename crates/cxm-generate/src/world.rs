//! Everything customers share while they are simulated: the model, the calendar, the
//! organisation and the topic taxonomy, prepared once.

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

use crate::calendar::{ArrivalShape, Calendar};
use crate::customer::stream_seed;
use crate::model::Model;
use crate::org::Organisation;
use crate::topics::TopicSampler;
use crate::{GenerateError, GenerateOptions};

const STREAM_ORGANISATION: u64 = 0;

pub(crate) struct World {
    pub seed: u64,
    pub corrupt: f64,
    pub model: Model,
    pub arrivals: ArrivalShape,
    pub calendar: Calendar,
    pub org: Organisation,
    pub topics: TopicSampler,
    pub segment_cumulative: Vec<f64>,
    pub region_cumulative: Vec<f64>,
    pub channel_cumulative: Vec<f64>,
    pub topic_count_cumulative: Vec<f64>,
    /// Index of the channel follow-ups fall back to (phone, else the first).
    pub phone: usize,
    /// Indexes of the attributes comments and relationship surveys look at, if modelled.
    pub attribute_ease: Option<usize>,
    pub attribute_courtesy: Option<usize>,
    pub attribute_knowledge: Option<usize>,
}

fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut total = 0.0;
    weights
        .map(|w| {
            total += w;
            total
        })
        .collect()
}

impl World {
    pub fn new(options: &GenerateOptions) -> Result<World, GenerateError> {
        let model = options.model.clone();
        model.validate().map_err(GenerateError::Model)?;
        if !(0.0..=0.5).contains(&options.corrupt) {
            return Err(GenerateError::Options(format!(
                "--corrupt {} must be a share between 0 and 0.5",
                options.corrupt
            )));
        }
        if options.months == 0 || options.months > 240 {
            return Err(GenerateError::Options(format!(
                "--months {} must be between 1 and 240",
                options.months
            )));
        }
        let arrivals = ArrivalShape::default();
        let channels: Vec<String> = model
            .contacts
            .channels
            .iter()
            .map(|c| c.channel.clone())
            .collect();
        let calendar = Calendar::new(options.start, options.months, &arrivals, &channels)
            .ok_or_else(|| {
                GenerateError::Options(format!(
                    "--start {} plus {} months is outside the supported dates",
                    options.start, options.months
                ))
            })?;
        let mut org_rng =
            Pcg64Mcg::seed_from_u64(stream_seed(options.seed, STREAM_ORGANISATION, 0));
        let org = Organisation::generate(&model.organisation, &calendar, &mut org_rng);
        let phone = channels.iter().position(|c| c == "phone").unwrap_or(0);
        let attribute = |name: &str| {
            model
                .satisfaction
                .attributes
                .iter()
                .position(|a| a.name == name)
        };
        let (attribute_ease, attribute_courtesy, attribute_knowledge) = (
            attribute("ease"),
            attribute("courtesy"),
            attribute("knowledge"),
        );
        Ok(World {
            seed: options.seed,
            corrupt: options.corrupt,
            segment_cumulative: cumulative(model.customers.segments.iter().map(|s| s.share)),
            region_cumulative: cumulative(model.customers.regions.iter().map(|r| r.1)),
            channel_cumulative: cumulative(model.contacts.channels.iter().map(|c| c.share)),
            topic_count_cumulative: cumulative(
                model.contacts.topic_count_probabilities.iter().copied(),
            ),
            phone,
            attribute_ease,
            attribute_courtesy,
            attribute_knowledge,
            topics: TopicSampler::new(),
            model,
            arrivals,
            calendar,
            org,
        })
    }

    /// Expected new issues per customer over the period (follow-ups come on top).
    pub fn issues_per_customer(&self) -> f64 {
        let years = self.calendar.years(self.calendar.start, self.calendar.end);
        self.model
            .customers
            .segments
            .iter()
            .map(|s| s.share * s.issues_per_year * years)
            .sum()
    }
}

//! How a duration is spread over contacts: a histogram of hold or handle time for the
//! contacts matching a question's filters and the caller's visibility, with bins of a
//! round width (1, 2 or 5 × 10ᵏ seconds) chosen so the bulk of the contacts is spread over
//! about a dozen bins; the long tail is gathered in a last, open bin.

use cxm_facts::arrow::array::{Array, AsArray};
use cxm_facts::arrow::datatypes::{Float64Type, Int64Type};
use serde::Serialize;

use crate::query::Filters;
use crate::records::{RecordOrder, RecordSet, Visible};
use crate::{Engine, MetricsError};

/// A duration of a contact that can be charted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Duration {
    /// Seconds on hold during the contact, excluding queue wait.
    Hold,
    /// Talk + hold + after-contact work, seconds.
    Handle,
}

impl Duration {
    pub fn column(self) -> &'static str {
        match self {
            Duration::Hold => "hold_seconds",
            Duration::Handle => "handle_seconds",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Duration::Hold => "Hold time",
            Duration::Handle => "Handle time",
        }
    }
}

/// One bin: contacts with `from <= seconds < to` (no `to`: the open last bin).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bin {
    pub from: f64,
    pub to: Option<f64>,
    pub contacts: u64,
}

/// A duration's histogram.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    pub duration: Duration,
    /// Width of every bin but the last, seconds.
    pub width: f64,
    pub bins: Vec<Bin>,
    /// Contacts with a value (the sum over the bins).
    pub contacts: u64,
}

/// Bins the bulk of a distribution is spread over.
const BINS: f64 = 12.0;

/// The round bin width (1, 2 or 5 × 10ᵏ seconds, at least 1) that spreads `0..upper` over
/// at most about [`BINS`] bins.
pub fn bin_width(upper: f64) -> f64 {
    if !upper.is_finite() || upper <= BINS {
        return 1.0;
    }
    let raw = upper / BINS;
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|width| *width >= raw)
        .unwrap_or(10.0 * magnitude)
}

impl Engine {
    /// The histogram of `duration` over the contacts matching `filters` that `visible`
    /// admits. The bins cover up to the 95th percentile (rounded up to a whole bin); longer
    /// contacts fall in the last, open bin.
    pub async fn histogram(
        &self,
        duration: Duration,
        filters: &Filters,
        visible: &Visible,
    ) -> Result<Histogram, MetricsError> {
        // A scan of every matching contact: computed once per engine and question.
        let key = format!("{duration:?} {filters:?} {visible:?}");
        self.histograms
            .get_or_compute(key, || self.compute_histogram(duration, filters, visible))
            .await
    }

    async fn compute_histogram(
        &self,
        duration: Duration,
        filters: &Filters,
        visible: &Visible,
    ) -> Result<Histogram, MetricsError> {
        let selection = self
            .select(RecordSet::Contacts, filters, visible, RecordOrder::Newest)
            .await?;
        let column = duration.column();
        let condition = format!("{} AND {column} IS NOT NULL", selection.condition);
        let spread = format!(
            "SELECT CAST(approx_percentile_cont(0.95) WITHIN GROUP (ORDER BY {column}) AS DOUBLE) AS upper \
             FROM {} WHERE {condition}",
            selection.table
        );
        let batches = selection.ctx.sql(&spread).await?.collect().await?;
        let upper = batches
            .first()
            .filter(|b| b.num_rows() > 0 && b.column(0).is_valid(0))
            .map(|b| b.column(0).as_primitive::<Float64Type>().value(0));
        let Some(upper) = upper else {
            return Ok(Histogram {
                duration,
                width: 1.0,
                bins: Vec::new(),
                contacts: 0,
            });
        };
        let width = bin_width(upper);
        // Whole bins up to the upper bound, then the open one.
        let last = ((upper / width).floor() as i64 + 1).max(1);
        let binned = format!(
            "SELECT LEAST(CAST(floor(CAST({column} AS DOUBLE) / {width:?}) AS BIGINT), {last}) AS bin, \
             CAST(count(*) AS BIGINT) AS contacts FROM {} WHERE {condition} GROUP BY 1",
            selection.table
        );
        let batches = selection.ctx.sql(&binned).await?.collect().await?;
        let mut counts = vec![0u64; last as usize + 1];
        for batch in &batches {
            let bins = batch.column(0).as_primitive::<Int64Type>();
            let contacts = batch.column(1).as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                // Durations are never negative; a negative bin would be bad data, kept in the first.
                let bin = bins.value(row).clamp(0, last) as usize;
                counts[bin] += contacts.value(row).max(0) as u64;
            }
        }
        let bins: Vec<Bin> = counts
            .iter()
            .enumerate()
            .map(|(index, &contacts)| Bin {
                from: index as f64 * width,
                to: ((index as i64) < last).then(|| (index + 1) as f64 * width),
                contacts,
            })
            .collect();
        Ok(Histogram {
            duration,
            width,
            contacts: counts.iter().sum(),
            bins,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_widths_are_round_and_spread_the_bulk_over_about_a_dozen_bins() {
        assert_eq!(bin_width(0.0), 1.0);
        assert_eq!(bin_width(10.0), 1.0);
        assert_eq!(bin_width(13.0), 2.0);
        assert_eq!(bin_width(60.0), 5.0);
        assert_eq!(bin_width(600.0), 50.0);
        assert_eq!(bin_width(601.0), 100.0);
        assert_eq!(bin_width(1000.0), 100.0);
        assert_eq!(bin_width(1300.0), 200.0);
        assert_eq!(bin_width(f64::NAN), 1.0);
        for upper in [15.0, 99.0, 250.0, 777.0, 5_000.0, 86_400.0] {
            let bins = upper / bin_width(upper);
            assert!((2.4..=BINS).contains(&bins), "{upper}: {bins}");
        }
    }
}

//! When contacts arrive: daily, weekly and seasonal shape of demand per channel, and fast
//! RFC 3339 formatting of instants inside the generated period.

use chrono::{DateTime, Datelike, NaiveDate};
use rand::RngExt;
use serde::Serialize;

pub(crate) const DAY: i64 = 86_400;

/// The shape of demand, recorded in the ground truth.
#[derive(Debug, Clone, Serialize)]
pub struct ArrivalShape {
    /// Relative demand Monday … Sunday.
    pub weekday: [f64; 7],
    /// Yearly cycle: demand × (1 + amplitude × cos(2π (day of year − peak_day) / 365.25)).
    pub seasonal_amplitude: f64,
    pub seasonal_peak_day: f64,
    /// Demand on 1 January and 24–26 December relative to a normal day.
    pub holiday_factor: f64,
    /// Relative demand by hour of day (UTC), per channel; channels not listed use "default".
    pub hours: Vec<(String, [f64; 24])>,
}

impl Default for ArrivalShape {
    fn default() -> Self {
        #[rustfmt::skip]
        let office = [0.02, 0.01, 0.01, 0.01, 0.02, 0.05, 0.15, 0.4, 0.8, 1.1, 1.25, 1.2, 1.0, 1.1, 1.2, 1.1, 1.0, 0.85, 0.6, 0.45, 0.3, 0.15, 0.07, 0.04];
        #[rustfmt::skip]
        let evening = [0.1, 0.05, 0.03, 0.02, 0.02, 0.05, 0.15, 0.35, 0.6, 0.8, 0.9, 0.95, 1.0, 1.0, 1.0, 1.0, 1.0, 1.05, 1.1, 1.15, 1.1, 0.9, 0.6, 0.3];
        #[rustfmt::skip]
        let written = [0.2, 0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 1.0, 1.2, 1.2, 1.1, 1.0, 1.0, 1.05, 1.0, 0.95, 0.9, 0.8, 0.8, 0.75, 0.6, 0.45, 0.3];
        ArrivalShape {
            weekday: [1.15, 1.05, 1.0, 1.0, 0.95, 0.55, 0.35],
            seasonal_amplitude: 0.15,
            seasonal_peak_day: 15.0,
            holiday_factor: 0.25,
            hours: vec![
                ("phone".into(), office),
                ("chat".into(), evening),
                ("messaging".into(), evening),
                ("social".into(), evening),
                ("email".into(), written),
                ("default".into(), office),
            ],
        }
    }
}

/// Hour-of-day profile of one channel.
pub(crate) struct HourProfile {
    cumulative: [f64; 24],
    /// Each hour's demand relative to the mean hour.
    pub load: [f64; 24],
}

impl HourProfile {
    fn new(weights: &[f64; 24]) -> Self {
        let mut cumulative = [0.0; 24];
        let mut total = 0.0;
        for (h, w) in weights.iter().enumerate() {
            total += w.max(0.0);
            cumulative[h] = total;
        }
        let mean = total / 24.0;
        let load = weights.map(|w| if mean > 0.0 { w.max(0.0) / mean } else { 1.0 });
        HourProfile { cumulative, load }
    }

    fn sample(&self, u: f64) -> i64 {
        let target = u * self.cumulative[23];
        self.cumulative.partition_point(|&c| c <= target).min(23) as i64
    }
}

/// The generated period with its demand shape.
pub(crate) struct Calendar {
    /// First instant of the period (midnight UTC), seconds since the Unix epoch.
    pub start: i64,
    /// First instant after the period.
    pub end: i64,
    pub days: usize,
    /// Cumulative demand by day: `day_cumulative[d]` is the demand before day d.
    day_cumulative: Vec<f64>,
    /// Each day's demand relative to the mean day.
    pub day_load: Vec<f64>,
    /// `YYYY-MM-DD` of each day from `text_from` on.
    day_text: Vec<[u8; 10]>,
    text_from: i64,
    profiles: Vec<HourProfile>,
}

impl Calendar {
    /// `channel_profiles` gives, per channel of the model in order, its hour weights.
    pub fn new(
        start: NaiveDate,
        months: u32,
        shape: &ArrivalShape,
        channels: &[String],
    ) -> Option<Calendar> {
        let end_date = start.checked_add_months(chrono::Months::new(months))?;
        let start_ts = start.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
        let end_ts = end_date.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
        let days = ((end_ts - start_ts) / DAY) as usize;
        let mut day_cumulative = Vec::with_capacity(days + 1);
        let mut weights = Vec::with_capacity(days);
        day_cumulative.push(0.0);
        let mut total = 0.0;
        for d in 0..days {
            let date = start + chrono::Days::new(d as u64);
            let mut w = shape.weekday[date.weekday().num_days_from_monday() as usize];
            let phase = (f64::from(date.ordinal()) - shape.seasonal_peak_day) / 365.25;
            w *= 1.0 + shape.seasonal_amplitude * (std::f64::consts::TAU * phase).cos();
            let holiday = (date.month() == 1 && date.day() == 1)
                || (date.month() == 12 && (24..=26).contains(&date.day()));
            if holiday {
                w *= shape.holiday_factor;
            }
            total += w;
            weights.push(w);
            day_cumulative.push(total);
        }
        let mean = total / days.max(1) as f64;
        let day_load = weights.iter().map(|w| w / mean).collect();
        // Formatting fast path: a year before the start (joins, hires) to 120 days after.
        let text_from = start_ts - 366 * DAY;
        let text_days = days + 366 + 120;
        let day_text = (0..text_days)
            .map(|d| {
                let date = DateTime::from_timestamp(text_from + d as i64 * DAY, 0)
                    .map(|t| t.date_naive())
                    .unwrap_or_default();
                let mut text = [0u8; 10];
                let s = date.format("%Y-%m-%d").to_string();
                text.copy_from_slice(&s.as_bytes()[..10]);
                text
            })
            .collect();
        let default = shape
            .hours
            .iter()
            .find(|(c, _)| c == "default")
            .map(|(_, h)| *h)
            .unwrap_or([1.0; 24]);
        let profiles = channels
            .iter()
            .map(|channel| {
                let weights = shape
                    .hours
                    .iter()
                    .find(|(c, _)| c == channel)
                    .map(|(_, h)| *h)
                    .unwrap_or(default);
                HourProfile::new(&weights)
            })
            .collect();
        Some(Calendar {
            start: start_ts,
            end: end_ts,
            days,
            day_cumulative,
            day_load,
            day_text,
            text_from,
            profiles,
        })
    }

    pub fn years(&self, from: i64, to: i64) -> f64 {
        (to - from).max(0) as f64 / (365.25 * DAY as f64)
    }

    pub fn day_of(&self, t: i64) -> usize {
        (((t - self.start) / DAY).max(0) as usize).min(self.days.saturating_sub(1))
    }

    /// Demand at instant `t` on `channel` relative to the mean (day × hour).
    pub fn load(&self, t: i64, channel: usize) -> f64 {
        let day = self.day_of(t);
        let hour = ((t - self.start).rem_euclid(DAY) / 3600) as usize;
        self.day_load[day] * self.profiles[channel].load[hour]
    }

    /// An instant in `[lo, hi)` drawn from the demand shape of `channel`.
    pub fn sample(&self, rng: &mut impl RngExt, lo: i64, hi: i64, channel: usize) -> i64 {
        let lo = lo.max(self.start);
        let hi = hi.min(self.end);
        if hi <= lo {
            return lo;
        }
        let d_lo = self.day_of(lo);
        let d_hi = self.day_of(hi - 1);
        let a = self.day_cumulative[d_lo];
        let b = self.day_cumulative[d_hi + 1];
        let mut t = lo;
        for _ in 0..4 {
            let target = a + rng.random::<f64>() * (b - a);
            let day = self.day_cumulative[1..]
                .partition_point(|&c| c <= target)
                .clamp(d_lo, d_hi) as i64;
            t = self.at_hour_of(rng, self.start + day * DAY, channel);
            if (lo..hi).contains(&t) {
                return t;
            }
        }
        t.clamp(lo, hi - 1)
    }

    /// An instant on the day starting at `midnight`, at an hour drawn from the channel's
    /// profile.
    pub fn at_hour_of(&self, rng: &mut impl RngExt, midnight: i64, channel: usize) -> i64 {
        let hour = self.profiles[channel].sample(rng.random::<f64>());
        midnight + hour * 3600 + rng.random_range(0..3600)
    }

    /// Appends `t` as `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn push_timestamp(&self, buf: &mut Vec<u8>, t: i64) {
        let offset = t - self.text_from;
        let day = offset.div_euclid(DAY);
        if offset >= 0 && (day as usize) < self.day_text.len() {
            buf.extend_from_slice(&self.day_text[day as usize]);
            let secs = offset.rem_euclid(DAY);
            let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
            buf.extend_from_slice(&[
                b'T',
                b'0' + (h / 10) as u8,
                b'0' + (h % 10) as u8,
                b':',
                b'0' + (m / 10) as u8,
                b'0' + (m % 10) as u8,
                b':',
                b'0' + (s / 10) as u8,
                b'0' + (s % 10) as u8,
                b'Z',
            ]);
        } else {
            push_timestamp_slow(buf, t);
        }
    }
}

/// Appends `t` as `YYYY-MM-DDTHH:MM:SSZ` through chrono.
pub(crate) fn push_timestamp_slow(buf: &mut Vec<u8>, t: i64) {
    let text = DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    buf.extend_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn calendar() -> Calendar {
        let start = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let channels = vec!["phone".to_owned(), "email".to_owned()];
        Calendar::new(start, 12, &ArrivalShape::default(), &channels).unwrap()
    }

    #[test]
    fn formats_like_chrono() {
        let cal = calendar();
        for t in [
            cal.start - 400 * DAY + 5,
            cal.start - 1,
            cal.start,
            cal.start + 86_399,
            cal.end + 3 * DAY + 7_261,
            cal.end + 200 * DAY,
        ] {
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            cal.push_timestamp(&mut fast, t);
            push_timestamp_slow(&mut slow, t);
            assert_eq!(fast, slow);
        }
    }

    #[test]
    fn samples_stay_in_range_and_follow_the_week() {
        let cal = calendar();
        assert_eq!(cal.days, 365);
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
        let mut by_weekday = [0u32; 7];
        let n = 200_000;
        for _ in 0..n {
            let t = cal.sample(&mut rng, cal.start, cal.end, 0);
            assert!((cal.start..cal.end).contains(&t));
            let weekday = DateTime::from_timestamp(t, 0).unwrap().weekday();
            by_weekday[weekday.num_days_from_monday() as usize] += 1;
        }
        // Mondays carry 1.15 / 0.35 times the demand of Sundays (52 or 53 of each).
        let ratio = f64::from(by_weekday[0]) / f64::from(by_weekday[6]);
        assert!((ratio - 1.15 / 0.35).abs() < 0.25, "{ratio}");
        // a narrow window is respected
        let lo = cal.start + 40 * DAY + 3600 * 13;
        for _ in 0..1000 {
            let t = cal.sample(&mut rng, lo, lo + 600, 1);
            assert!((lo..lo + 600).contains(&t));
        }
    }
}

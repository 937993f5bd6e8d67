//! How raw field text becomes typed values: timestamps (with a format and default zone),
//! durations (with a unit), lists (with a separator), booleans, and rating scales.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::values::{RatingScale, Seconds};
use crate::{FieldError, SurveyKind};

/// Unit durations arrive in; stored durations are always whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DurationUnit {
    Milliseconds,
    #[default]
    Seconds,
    Minutes,
}

impl DurationUnit {
    pub fn parse_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "ms" | "millis" | "milliseconds" => Some(Self::Milliseconds),
            "s" | "sec" | "secs" | "seconds" => Some(Self::Seconds),
            "min" | "mins" | "minutes" => Some(Self::Minutes),
            _ => None,
        }
    }

    /// Parses a duration in this unit into whole seconds (rounded to the nearest second).
    /// Also accepts `HH:MM:SS` and `MM:SS`, which many telephony exports use.
    ///
    /// Inlined into the record readers of other crates (several calls a row): a plain
    /// whole number is converted here, anything else by `parse_written`.
    #[inline]
    pub fn parse(self, field: &str, raw: &str) -> Result<Seconds, FieldError> {
        if !raw.is_empty() && raw.len() <= 12 && raw.bytes().all(|b| b.is_ascii_digit()) {
            let value: u64 = raw.bytes().fold(0, |n, b| n * 10 + u64::from(b - b'0'));
            let seconds = match self {
                Self::Milliseconds => (value + 500) / 1000,
                Self::Seconds => value,
                Self::Minutes => value.saturating_mul(60),
            };
            return match u32::try_from(seconds) {
                Ok(seconds) if seconds <= crate::values::MAX_SECONDS => {
                    Ok(Seconds::from_secs(seconds))
                }
                _ => Seconds::new(field, f64::from(crate::values::MAX_SECONDS) + 1.0, raw),
            };
        }
        self.parse_written(field, raw)
    }

    /// A duration written other than as a plain whole number: padded, decimal, or a clock.
    fn parse_written(self, field: &str, raw: &str) -> Result<Seconds, FieldError> {
        let text = crate::parse::trim(raw);
        if text.contains(':') {
            return parse_clock_duration(field, raw, text);
        }
        let value: f64 = match text.parse::<u64>() {
            Ok(whole) => whole as f64,
            Err(_) => text.parse::<f64>().map_err(|_| {
                FieldError::new(field, raw, format!("{field} {text:?} is not a duration"))
            })?,
        };
        let seconds = match self {
            Self::Milliseconds => value / 1000.0,
            Self::Seconds => value,
            Self::Minutes => value * 60.0,
        };
        Seconds::new(field, seconds, text)
    }
}

fn parse_clock_duration(field: &str, raw: &str, text: &str) -> Result<Seconds, FieldError> {
    let invalid = || FieldError::new(field, raw, format!("{field} {text:?} is not a duration"));
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid());
    }
    let mut seconds: f64 = 0.0;
    for part in &parts {
        let value: u32 = part.parse().map_err(|_| invalid())?;
        seconds = seconds * 60.0 + f64::from(value);
    }
    Seconds::new(field, seconds, text)
}

/// Parses timestamps: RFC 3339 by default (a zone or offset is required unless a default
/// zone is given), or a chrono `strftime` format from a mapping.
#[derive(Debug, Clone, Default)]
pub struct TimestampParser {
    format: Option<String>,
    default_zone: Option<Tz>,
}

impl TimestampParser {
    pub fn new(format: Option<String>, default_zone: Option<Tz>) -> Self {
        Self {
            format,
            default_zone,
        }
    }

    /// Parses a zone name like `Europe/Berlin` or `UTC`.
    pub fn parse_zone(name: &str) -> Option<Tz> {
        name.trim().parse().ok()
    }

    /// Parses `raw` of `field` into an instant. Inlined into the record readers of other
    /// crates: the common `YYYY-MM-DDTHH:MM:SSZ` is taken here, anything else by
    /// `parse_written`.
    #[inline]
    pub fn parse(&self, field: &str, raw: &str) -> Result<DateTime<Utc>, FieldError> {
        if self.format.is_none()
            && let Some(instant) = parse_utc_seconds(raw)
        {
            return Ok(instant);
        }
        self.parse_written(field, raw)
    }

    fn parse_written(&self, field: &str, raw: &str) -> Result<DateTime<Utc>, FieldError> {
        let text = crate::parse::trim(raw);
        if text.is_empty() {
            return Err(FieldError::missing(field));
        }
        let not_a_timestamp = |hint: &str| {
            FieldError::new(
                field,
                raw,
                format!("{field} {text:?} is not a timestamp{hint}"),
            )
        };
        if let Some(format) = &self.format {
            if let Ok(zoned) = DateTime::parse_from_str(text, format) {
                return Ok(zoned.with_timezone(&Utc));
            }
            let local = NaiveDateTime::parse_from_str(text, format)
                .or_else(|_| {
                    NaiveDate::parse_from_str(text, format)
                        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                })
                .map_err(|_| not_a_timestamp(&format!(" in the format {format:?}")))?;
            return self.localise(field, raw, local);
        }
        if let Some(instant) = parse_utc_seconds(text) {
            return Ok(instant);
        }
        if let Ok(zoned) = DateTime::parse_from_rfc3339(text) {
            return Ok(zoned.with_timezone(&Utc));
        }
        // Without an offset: a local time or a date, valid only with a default zone.
        let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"))
            .or_else(|_| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
            });
        match local {
            Ok(local) if self.default_zone.is_some() => self.localise(field, raw, local),
            Ok(_) => Err(FieldError::new(
                field,
                raw,
                format!(
                    "{field} {text:?} has no time zone; add an offset (e.g. Z) or set default_zone in a mapping"
                ),
            )),
            Err(_) => Err(not_a_timestamp(
                " (expected RFC 3339, e.g. 2024-03-01T09:30:00Z)",
            )),
        }
    }

    /// Parses a date or a timestamp; a plain date means midnight in the default zone (UTC
    /// when none is set). For effective dates and join dates.
    pub fn parse_date_or_timestamp(
        &self,
        field: &str,
        raw: &str,
    ) -> Result<DateTime<Utc>, FieldError> {
        let text = crate::parse::trim(raw);
        if self.format.is_none()
            && let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        {
            let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
            return match self.default_zone {
                Some(_) => self.localise(field, raw, midnight),
                None => Ok(Utc.from_utc_datetime(&midnight)),
            };
        }
        self.parse(field, raw)
    }

    fn localise(
        &self,
        field: &str,
        raw: &str,
        local: NaiveDateTime,
    ) -> Result<DateTime<Utc>, FieldError> {
        let zone = self.default_zone.unwrap_or(Tz::UTC);
        // In a DST fold take the earlier instant; in a gap the local time does not exist.
        zone.from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    raw,
                    format!(
                        "{field} {:?} does not exist in {zone} (daylight-saving gap)",
                        raw.trim()
                    ),
                )
            })
    }
}

/// The most common exported form, `YYYY-MM-DDTHH:MM:SSZ`, parsed without the general
/// RFC 3339 machinery; anything else returns `None` and takes the general path.
#[inline]
fn parse_utc_seconds(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
        || !matches!(b[19], b'Z' | b'z')
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)?;
    let time = date.and_hms_opt(number(11..13)?, number(14..16)?, number(17..19)?)?;
    Some(Utc.from_utc_datetime(&time))
}

/// The trimmed, non-empty items of a list field ([`ParseContext::split_list`]). Lists are
/// short, so an ASCII separator is found by a byte loop rather than a search call.
pub struct ListItems<'a> {
    rest: Option<&'a str>,
    separator: char,
}

impl<'a> Iterator for ListItems<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        loop {
            let rest = self.rest?;
            let at = if self.separator.is_ascii() {
                let separator = self.separator as u8;
                rest.bytes().position(|byte| byte == separator)
            } else {
                rest.find(self.separator)
            };
            let item = match at.and_then(|at| rest.split_at_checked(at)) {
                Some((item, tail)) => {
                    self.rest = tail.get(self.separator.len_utf8()..);
                    item
                }
                None => {
                    self.rest = None;
                    rest
                }
            };
            let item = trim(item);
            if !item.is_empty() {
                return Some(item);
            }
        }
    }
}

/// Everything a record parser needs besides the field values: how timestamps, durations,
/// lists and rating scales are written in this source.
#[derive(Debug, Clone)]
pub struct ParseContext {
    pub timestamps: TimestampParser,
    pub duration_unit: DurationUnit,
    pub list_separator: char,
    rating_scales: [RatingScale; 4],
}

impl Default for ParseContext {
    fn default() -> Self {
        Self {
            timestamps: TimestampParser::default(),
            duration_unit: DurationUnit::Seconds,
            list_separator: ';',
            rating_scales: [
                RatingScale::ONE_TO_FIVE,  // csat
                RatingScale::ZERO_TO_TEN,  // nps
                RatingScale::ONE_TO_SEVEN, // ces
                RatingScale::ONE_TO_FIVE,  // relationship
            ],
        }
    }
}

impl ParseContext {
    /// The scale attribute ratings of `survey` are declared on.
    pub fn rating_scale(&self, survey: SurveyKind) -> RatingScale {
        self.rating_scales[survey as usize]
    }

    pub fn set_rating_scale(&mut self, survey: SurveyKind, scale: RatingScale) {
        self.rating_scales[survey as usize] = scale;
    }

    /// Splits a list field into its trimmed, non-empty items.
    pub fn split_list<'a>(&self, raw: &'a str) -> ListItems<'a> {
        ListItems {
            rest: Some(raw),
            separator: self.list_separator,
        }
    }

    /// Parses a boolean: the canonical spellings here (inlined into other crates' record
    /// readers), any other by `parse_bool_written`.
    #[inline]
    pub fn parse_bool(field: &str, raw: &str) -> Result<bool, FieldError> {
        match raw {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Self::parse_bool_written(field, raw),
        }
    }

    fn parse_bool_written(field: &str, raw: &str) -> Result<bool, FieldError> {
        let text = crate::parse::trim(raw);
        for (truthy, value) in [
            ("true", true),
            ("false", false),
            ("1", true),
            ("0", false),
            ("yes", true),
            ("no", false),
        ] {
            if text.eq_ignore_ascii_case(truthy) {
                return Ok(value);
            }
        }
        Err(FieldError::new(
            field,
            raw,
            format!("{field} {text:?} is not a boolean (true or false)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc3339_with_offset_is_converted_to_utc() {
        let parser = TimestampParser::default();
        let t = parser
            .parse("started_at", "2024-03-01T09:30:00+02:00")
            .unwrap();
        assert_eq!(t.to_rfc3339(), "2024-03-01T07:30:00+00:00");
        assert_eq!(
            parser
                .parse("started_at", "2024-03-01T09:30:00.250Z")
                .unwrap()
                .timestamp_subsec_millis(),
            250
        );
    }

    #[test]
    fn bad_and_zoneless_timestamps_are_explained() {
        let parser = TimestampParser::default();
        let error = parser.parse("started_at", "2024-13-01").unwrap_err();
        assert!(
            error
                .reason
                .starts_with("started_at \"2024-13-01\" is not a timestamp"),
            "{}",
            error.reason
        );
        let error = parser
            .parse("started_at", "2024-03-01 09:30:00")
            .unwrap_err();
        assert!(
            error.reason.contains("has no time zone"),
            "{}",
            error.reason
        );
    }

    #[test]
    fn default_zone_and_custom_format() {
        let berlin = TimestampParser::parse_zone("Europe/Berlin").unwrap();
        let parser = TimestampParser::new(Some("%d/%m/%Y %H:%M".into()), Some(berlin));
        let t = parser.parse("started_at", "01/07/2024 09:30").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-07-01T07:30:00+00:00");
        // a gap in spring: 02:30 does not exist in Berlin on 2024-03-31
        assert!(
            parser
                .parse("started_at", "31/03/2024 02:30")
                .unwrap_err()
                .reason
                .contains("daylight-saving gap")
        );
        let zoneless = TimestampParser::new(None, Some(berlin));
        assert_eq!(
            zoneless
                .parse("t", "2024-01-15 23:30:00")
                .unwrap()
                .to_rfc3339(),
            "2024-01-15T22:30:00+00:00"
        );
    }

    #[test]
    fn dates_are_midnight() {
        let parser = TimestampParser::default();
        assert_eq!(
            parser
                .parse_date_or_timestamp("valid_from", "2024-02-29")
                .unwrap()
                .to_rfc3339(),
            "2024-02-29T00:00:00+00:00"
        );
        assert!(
            parser
                .parse_date_or_timestamp("valid_from", "2023-02-29")
                .is_err()
        );
    }

    #[test]
    fn durations_in_units_and_clock_format() {
        assert_eq!(
            DurationUnit::Milliseconds
                .parse("hold_seconds", "1499")
                .unwrap()
                .get(),
            1
        );
        assert_eq!(
            DurationUnit::Minutes
                .parse("hold_seconds", "1.5")
                .unwrap()
                .get(),
            90
        );
        assert_eq!(
            DurationUnit::Seconds
                .parse("talk_seconds", "01:02:03")
                .unwrap()
                .get(),
            3723
        );
        assert_eq!(
            DurationUnit::Seconds
                .parse("talk_seconds", "02:03")
                .unwrap()
                .get(),
            123
        );
        assert!(DurationUnit::Seconds.parse("talk_seconds", "1:-2").is_err());
        assert!(
            DurationUnit::Seconds
                .parse("talk_seconds", "abc")
                .unwrap_err()
                .reason
                .contains("is not a duration")
        );
    }

    #[test]
    fn lists_and_booleans() {
        let ctx = ParseContext::default();
        assert_eq!(
            ctx.split_list(" a; b ;;c ").collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert!(ParseContext::parse_bool("resolved", "TRUE").unwrap());
        assert!(!ParseContext::parse_bool("resolved", "0").unwrap());
        assert!(ParseContext::parse_bool("resolved", "maybe").is_err());
    }

    proptest! {
        #[test]
        fn timestamp_parsing_never_panics(s in "\\PC*") {
            let _ = TimestampParser::default().parse("t", &s);
            let _ = TimestampParser::default().parse_date_or_timestamp("t", &s);
            let _ = DurationUnit::Minutes.parse("d", &s);
        }

        #[test]
        fn fast_timestamp_path_agrees_with_rfc3339(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z") {
            let general = DateTime::parse_from_rfc3339(&s).ok().map(|t| t.with_timezone(&Utc));
            prop_assert_eq!(parse_utc_seconds(&s), general);
        }

        #[test]
        fn fast_duration_path_agrees_with_the_general_one(n in 0u64..10_000_000_000, unit in 0usize..3) {
            let unit = [DurationUnit::Milliseconds, DurationUnit::Seconds, DurationUnit::Minutes][unit];
            let fast = unit.parse("d", &n.to_string()).map(|s| s.get()).ok();
            let general = unit.parse("d", &format!(" {n} ")).map(|s| s.get()).ok();
            prop_assert_eq!(fast, general);
        }

        #[test]
        fn utc_timestamps_round_trip(secs in 0i64..4_102_444_800) {
            let t = Utc.timestamp_opt(secs, 0).unwrap();
            let parsed = TimestampParser::default().parse("t", &t.to_rfc3339()).unwrap();
            prop_assert_eq!(parsed, t);
        }
    }
}

/// `text` without leading and trailing whitespace, as [`str::trim`]; values that start
/// and end with a visible ASCII character (nearly all) are returned without scanning.
#[inline]
pub fn trim(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

#[cfg(test)]
mod trim_tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn list_items_are_the_trimmed_non_empty_pieces(
            raw in "[a; |\u{e9}\u{a0}]{0,12}",
            separator in proptest::sample::select(vec![';', '|', '\u{e9}', ' ']),
        ) {
            let ctx = super::ParseContext {
                list_separator: separator,
                ..Default::default()
            };
            let expected: Vec<&str> = raw
                .split(separator)
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .collect();
            prop_assert_eq!(ctx.split_list(&raw).collect::<Vec<_>>(), expected);
        }

        #[test]
        fn trim_is_str_trim(text in "\\PC{0,8}|[ \\t\u{a0}\u{2003}]{0,2}[a-z]{0,3}[ \\t\u{a0}]{0,2}") {
            prop_assert_eq!(super::trim(&text), text.trim());
        }
    }
}

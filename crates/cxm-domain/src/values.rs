//! Validated newtypes for the values inside records: scores, durations, counts, money.

use std::fmt;

use crate::FieldError;

fn parse_integer(field: &str, raw: &str) -> Result<i64, FieldError> {
    let text = crate::parse::trim(raw);
    if let Ok(value) = text.parse::<i64>() {
        return Ok(value);
    }
    // "4.0" is an integer written as a decimal: accept it, reject "4.5".
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value.fract() == 0.0 && value.abs() < 9.0e15 => {
            Ok(value as i64)
        }
        _ => Err(FieldError::new(
            field,
            raw,
            format!("{field} {text:?} is not a whole number"),
        )),
    }
}

macro_rules! bounded_score {
    ($(#[$meta:meta])* $name:ident, $min:literal ..= $max:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u8);

        impl $name {
            pub const MIN: u8 = $min;
            pub const MAX: u8 = $max;

            pub fn new(field: &str, value: i64) -> Result<Self, FieldError> {
                if (i64::from($min)..=i64::from($max)).contains(&value) {
                    Ok(Self(value as u8))
                } else {
                    Err(FieldError::new(
                        field,
                        &value.to_string(),
                        format!("{field} {value} is outside {}..={}", $min, $max),
                    ))
                }
            }

            pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
                let value = parse_integer(field, raw)?;
                Self::new(field, value).map_err(|e| FieldError { value: raw.to_owned(), ..e })
            }

            #[inline]
            pub fn get(self) -> u8 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

bounded_score!(
    /// Post-contact satisfaction on 1–5; 4 and 5 are "satisfied" (top-2-box).
    CsatScore, 1..=5
);
bounded_score!(
    /// Likelihood to recommend on 0–10: 9–10 promoters, 0–6 detractors.
    NpsScore, 0..=10
);
bounded_score!(
    /// Customer effort on 1–7, 7 = very easy; 5–7 count as "easy".
    CesScore, 1..=7
);

impl NpsScore {
    pub fn is_promoter(self) -> bool {
        self.0 >= 9
    }
    pub fn is_detractor(self) -> bool {
        self.0 <= 6
    }
}

impl CsatScore {
    pub fn is_satisfied(self) -> bool {
        self.0 >= 4
    }
}

/// Longest duration accepted: 30 days. Longer values are almost always unit mistakes
/// (milliseconds read as seconds).
pub const MAX_SECONDS: u32 = 30 * 24 * 3600;

/// A non-negative duration in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Seconds(u32);

impl Seconds {
    pub fn new(field: &str, seconds: f64, raw: &str) -> Result<Self, FieldError> {
        if !seconds.is_finite() {
            return Err(FieldError::new(
                field,
                raw,
                format!("{field} {raw:?} is not a number"),
            ));
        }
        if seconds < 0.0 {
            return Err(FieldError::new(
                field,
                raw,
                format!("{field} {raw} is negative"),
            ));
        }
        let rounded = seconds.round();
        if rounded > f64::from(MAX_SECONDS) {
            return Err(FieldError::new(
                field,
                raw,
                format!(
                    "{field} {raw} is more than 30 days ({MAX_SECONDS} s); check the duration unit"
                ),
            ));
        }
        Ok(Self(rounded as u32))
    }

    #[inline]
    pub fn from_secs(seconds: u32) -> Self {
        Self(seconds.min(MAX_SECONDS))
    }

    #[inline]
    pub fn get(self) -> u32 {
        self.0
    }

    pub fn saturating_add(self, other: Seconds) -> Seconds {
        Seconds(self.0.saturating_add(other.0))
    }
}

/// Number of times a contact was transferred between agents or queues (0..=100).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Transfers(u8);

impl Transfers {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = parse_integer(field, raw)?;
        if (0..=100).contains(&value) {
            Ok(Self(value as u8))
        } else {
            Err(FieldError::new(
                field,
                raw,
                format!("{field} {value} is outside 0..=100"),
            ))
        }
    }

    #[inline]
    pub fn get(self) -> u8 {
        self.0
    }
}

/// Money, as a fixed-point number with [`Amount::SCALE`] decimal places (exact; no floats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Amount(i64);

impl Amount {
    /// Decimal places kept.
    pub const SCALE: u32 = 4;
    const UNIT: i64 = 10_000;
    /// Largest magnitude accepted (a trillion currency units).
    const MAX_UNITS: i64 = 1_000_000_000_000;

    /// Parses a decimal like `12`, `-3.5` or `1234.5678`; at most four decimal places.
    /// Thousands separators and currency symbols are not accepted (map them away first).
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let text = crate::parse::trim(raw);
        let invalid = || {
            FieldError::new(
                field,
                raw,
                format!("{field} {text:?} is not a decimal amount"),
            )
        };
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        if !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(invalid());
        }
        if fraction.len() > Self::SCALE as usize {
            return Err(FieldError::new(
                field,
                raw,
                format!(
                    "{field} {text} has more than {} decimal places",
                    Self::SCALE
                ),
            ));
        }
        let whole_units: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        if whole_units >= Self::MAX_UNITS {
            return Err(FieldError::new(
                field,
                raw,
                format!("{field} {text} is implausibly large"),
            ));
        }
        let mut fraction_units: i64 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().map_err(|_| invalid())?
        };
        for _ in fraction.len()..Self::SCALE as usize {
            fraction_units *= 10;
        }
        let units = whole_units * Self::UNIT + fraction_units;
        Ok(Self(if negative { -units } else { units }))
    }

    /// The amount in units of 10^-SCALE (e.g. 12.5 → 125000).
    pub fn scaled(self) -> i64 {
        self.0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn abs(self) -> Self {
        Self(self.0.abs())
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let units = self.0.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:04}",
            units / Self::UNIT as u64,
            units % Self::UNIT as u64
        )
    }
}

/// The scale an attribute rating is given on, declared per survey kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RatingScale {
    pub min: u8,
    pub max: u8,
}

impl RatingScale {
    pub const ONE_TO_FIVE: RatingScale = RatingScale { min: 1, max: 5 };
    pub const ONE_TO_SEVEN: RatingScale = RatingScale { min: 1, max: 7 };
    pub const ZERO_TO_TEN: RatingScale = RatingScale { min: 0, max: 10 };

    /// Parses `"1-5"`, `"1..=7"`, `"0-10"` and the like (a scale of 2..=11 points).
    pub fn parse_spec(spec: &str) -> Option<RatingScale> {
        let spec = spec.trim();
        let (min, max) = spec.split_once("..=").or_else(|| spec.split_once('-'))?;
        let min: u8 = min.trim().parse().ok()?;
        let max: u8 = max.trim().parse().ok()?;
        (min < max && max - min <= 10 && max <= 100).then_some(RatingScale { min, max })
    }
}

impl fmt::Display for RatingScale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.min, self.max)
    }
}

/// One attribute rating of a survey answer, e.g. `ease = 4` on 1–5.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rating {
    /// Attribute name in lowercase snake case, e.g. `ease`, `courtesy`, `knowledge`.
    pub attribute: String,
    pub score: u8,
}

impl Rating {
    pub fn parse(attribute: &str, raw: &str, scale: RatingScale) -> Result<Self, FieldError> {
        let field = format!("rating_{attribute}");
        let valid_name = !attribute.is_empty()
            && attribute.len() <= 64
            && attribute
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name {
            return Err(FieldError::new(
                &field,
                raw,
                format!("rating attribute {attribute:?} must be lowercase letters, digits and _"),
            ));
        }
        let value = parse_integer(&field, raw)?;
        if !(i64::from(scale.min)..=i64::from(scale.max)).contains(&value) {
            return Err(FieldError::new(
                &field,
                raw,
                format!("{field} {value} is outside {scale}"),
            ));
        }
        Ok(Self {
            attribute: attribute.to_owned(),
            score: value as u8,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scores_check_their_scale() {
        assert_eq!(CsatScore::parse("csat", "5").unwrap().get(), 5);
        assert_eq!(CsatScore::parse("csat", " 4.0 ").unwrap().get(), 4);
        assert_eq!(
            CsatScore::parse("csat", "7").unwrap_err().reason,
            "csat 7 is outside 1..=5"
        );
        assert_eq!(
            CsatScore::parse("csat", "0").unwrap_err().reason,
            "csat 0 is outside 1..=5"
        );
        assert_eq!(
            CsatScore::parse("csat", "4.5").unwrap_err().reason,
            "csat \"4.5\" is not a whole number"
        );
        assert_eq!(NpsScore::parse("nps", "0").unwrap().get(), 0);
        assert!(NpsScore::parse("nps", "11").is_err());
        assert!(NpsScore::parse("nps", "9").unwrap().is_promoter());
        assert!(NpsScore::parse("nps", "6").unwrap().is_detractor());
        assert!(!NpsScore::parse("nps", "7").unwrap().is_detractor());
        assert!(CesScore::parse("ces", "7").is_ok());
        assert!(CesScore::parse("ces", "8").is_err());
    }

    #[test]
    fn seconds_round_and_bound() {
        assert_eq!(
            Seconds::new("hold_seconds", 12.5, "12.5").unwrap().get(),
            13
        );
        assert_eq!(
            Seconds::new("hold_seconds", -1.0, "-1").unwrap_err().reason,
            "hold_seconds -1 is negative"
        );
        assert!(
            Seconds::new("talk_seconds", 3.0e6, "3000000")
                .unwrap_err()
                .reason
                .contains("more than 30 days")
        );
        assert!(Seconds::new("talk_seconds", f64::NAN, "NaN").is_err());
    }

    #[test]
    fn amounts_are_exact() {
        assert_eq!(Amount::parse("amount", "12.5").unwrap().scaled(), 125_000);
        assert_eq!(Amount::parse("amount", "-0.0001").unwrap().scaled(), -1);
        assert_eq!(Amount::parse("amount", ".5").unwrap().scaled(), 5_000);
        assert_eq!(Amount::parse("amount", "3").unwrap().to_string(), "3.0000");
        assert!(
            Amount::parse("amount", "1.23456")
                .unwrap_err()
                .reason
                .contains("more than 4 decimal places")
        );
        for bad in ["", "-", ".", "1,000", "$3", "1e3", "--1", "1.2.3"] {
            assert!(
                Amount::parse("amount", bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn rating_scales() {
        assert_eq!(
            RatingScale::parse_spec("1-5"),
            Some(RatingScale::ONE_TO_FIVE)
        );
        assert_eq!(
            RatingScale::parse_spec("0..=10"),
            Some(RatingScale::ZERO_TO_TEN)
        );
        assert_eq!(RatingScale::parse_spec("5-1"), None);
        assert_eq!(
            Rating::parse("ease", "4", RatingScale::ONE_TO_FIVE)
                .unwrap()
                .score,
            4
        );
        assert_eq!(
            Rating::parse("ease", "6", RatingScale::ONE_TO_FIVE)
                .unwrap_err()
                .reason,
            "rating_ease 6 is outside 1..=5"
        );
        assert!(Rating::parse("Ease Of Use", "4", RatingScale::ONE_TO_FIVE).is_err());
    }

    proptest! {
        #[test]
        fn csat_accepts_exactly_one_to_five(n in -1000i64..1000) {
            prop_assert_eq!(CsatScore::parse("csat", &n.to_string()).is_ok(), (1..=5).contains(&n));
        }

        #[test]
        fn nps_accepts_exactly_zero_to_ten(n in -1000i64..1000) {
            prop_assert_eq!(NpsScore::parse("nps", &n.to_string()).is_ok(), (0..=10).contains(&n));
        }

        #[test]
        fn amount_round_trips_through_display(units in -9_999_999_999_999i64..9_999_999_999_999) {
            let amount = Amount::parse("amount", &Amount(units).to_string()).unwrap();
            prop_assert_eq!(amount.scaled(), units);
        }

        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = Amount::parse("amount", &s);
            let _ = CsatScore::parse("csat", &s);
            let _ = Transfers::parse("transfers", &s);
            let _ = RatingScale::parse_spec(&s);
        }
    }
}

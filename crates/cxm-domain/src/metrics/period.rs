//! Time grains and the periods they cut the calendar into, on local calendar days of the
//! organisation's reporting time zone.

use std::fmt;

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// How finely time is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grain {
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
    Quarter,
    Year,
    /// The whole time range as one period.
    All,
}

impl Grain {
    /// Every grain, finest first.
    pub const ALL: [Grain; 6] = [
        Grain::Day,
        Grain::Week,
        Grain::Month,
        Grain::Quarter,
        Grain::Year,
        Grain::All,
    ];

    pub fn parse(text: &str) -> Result<Grain, String> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "day" | "daily" => Grain::Day,
            "week" | "weekly" => Grain::Week,
            "month" | "monthly" => Grain::Month,
            "quarter" | "quarterly" => Grain::Quarter,
            "year" | "yearly" => Grain::Year,
            "all" | "total" => Grain::All,
            other => {
                return Err(format!(
                    "unknown grain {other:?}; expected day, week, month, quarter, year or all"
                ));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Grain::Day => "day",
            Grain::Week => "week",
            Grain::Month => "month",
            Grain::Quarter => "quarter",
            Grain::Year => "year",
            Grain::All => "all",
        }
    }
}

/// One period of a grain: `[start, end)` in local days. For [`Grain::All`] the bounds are
/// those of the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    pub grain: Grain,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    /// The period of `grain` that holds `day`.
    pub fn containing(grain: Grain, day: NaiveDate) -> Period {
        let start = match grain {
            Grain::Day | Grain::All => day,
            Grain::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Grain::Month => day.with_day(1).unwrap_or(day),
            Grain::Quarter => {
                let month0 = (day.month0() / 3) * 3;
                NaiveDate::from_ymd_opt(day.year(), month0 + 1, 1).unwrap_or(day)
            }
            Grain::Year => NaiveDate::from_ymd_opt(day.year(), 1, 1).unwrap_or(day),
        };
        Period {
            grain,
            start,
            end: advance(grain, start),
        }
    }

    /// The period before this one (same grain and length).
    pub fn previous(&self) -> Period {
        match self.grain {
            Grain::All => {
                let length = self.end.signed_duration_since(self.start).num_days();
                let start = self.start - chrono::Duration::days(length);
                Period {
                    grain: Grain::All,
                    start,
                    end: self.start,
                }
            }
            grain => Period::containing(grain, self.start.pred_opt().unwrap_or(self.start)),
        }
    }

    /// Parses a period label: `2025` (year), `2025-Q1`, `2025-03` (month), `2025-W10`
    /// (ISO week), `2025-03-04` (day).
    pub fn parse(text: &str) -> Result<Period, String> {
        let text = text.trim();
        let bad = || {
            format!(
                "period {text:?} is not a year (2025), quarter (2025-Q1), month (2025-03), ISO week (2025-W10) or day (2025-03-04)"
            )
        };
        let parts: Vec<&str> = text.split('-').collect();
        let year: i32 = parts
            .first()
            .and_then(|y| (y.len() == 4).then(|| y.parse().ok()).flatten())
            .ok_or_else(bad)?;
        let day = match parts.as_slice() {
            [_] => {
                return Ok(Period::containing(
                    Grain::Year,
                    ymd(year, 1, 1).ok_or_else(bad)?,
                ));
            }
            [_, q] if q.starts_with(['Q', 'q']) => {
                let quarter: u32 = q[1..].parse().map_err(|_| bad())?;
                if !(1..=4).contains(&quarter) {
                    return Err(bad());
                }
                return Ok(Period::containing(
                    Grain::Quarter,
                    ymd(year, quarter * 3 - 2, 1).ok_or_else(bad)?,
                ));
            }
            [_, w] if w.starts_with(['W', 'w']) => {
                let week: u32 = w[1..].parse().map_err(|_| bad())?;
                let monday =
                    NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).ok_or_else(bad)?;
                return Ok(Period::containing(Grain::Week, monday));
            }
            [_, m] => {
                let month: u32 = m.parse().map_err(|_| bad())?;
                return Ok(Period::containing(
                    Grain::Month,
                    ymd(year, month, 1).ok_or_else(bad)?,
                ));
            }
            [_, m, d] => {
                let (month, day): (u32, u32) =
                    (m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
                ymd(year, month, day).ok_or_else(bad)?
            }
            _ => return Err(bad()),
        };
        Ok(Period::containing(Grain::Day, day))
    }

    /// Whether `day` lies within the period.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start <= day && day < self.end
    }
}

fn ymd(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day)
}

fn advance(grain: Grain, start: NaiveDate) -> NaiveDate {
    let next = match grain {
        Grain::Day | Grain::All => start.checked_add_days(Days::new(1)),
        Grain::Week => start.checked_add_days(Days::new(7)),
        Grain::Month => start.checked_add_months(Months::new(1)),
        Grain::Quarter => start.checked_add_months(Months::new(3)),
        Grain::Year => start.checked_add_months(Months::new(12)),
    };
    next.unwrap_or(start)
}

impl fmt::Display for Period {
    /// The label `Period::parse` reads back (`2025-03`, `2025-Q1`, `2025-W10`, …); a
    /// whole range reads `2025-01-01..2025-12-31`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.start;
        match self.grain {
            Grain::Day => write!(f, "{}", s.format("%Y-%m-%d")),
            Grain::Week => {
                let week = s.iso_week();
                write!(f, "{}-W{:02}", week.year(), week.week())
            }
            Grain::Month => write!(f, "{}", s.format("%Y-%m")),
            Grain::Quarter => write!(f, "{}-Q{}", s.year(), s.month0() / 3 + 1),
            Grain::Year => write!(f, "{}", s.year()),
            Grain::All => {
                let last = self.end.pred_opt().unwrap_or(self.end);
                write!(f, "{}..{}", s.format("%Y-%m-%d"), last.format("%Y-%m-%d"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods_hold_their_days_and_read_back_their_labels() {
        let cases = [
            (
                Grain::Day,
                "2025-03-04",
                "2025-03-04",
                "2025-03-05",
                "2025-03-04",
            ),
            (
                Grain::Week,
                "2025-03-05",
                "2025-03-03",
                "2025-03-10",
                "2025-W10",
            ),
            (
                Grain::Month,
                "2025-02-28",
                "2025-02-01",
                "2025-03-01",
                "2025-02",
            ),
            (
                Grain::Quarter,
                "2025-05-31",
                "2025-04-01",
                "2025-07-01",
                "2025-Q2",
            ),
            (
                Grain::Year,
                "2024-12-31",
                "2024-01-01",
                "2025-01-01",
                "2024",
            ),
        ];
        for (grain, day, start, end, label) in cases {
            let period = Period::containing(grain, d(day));
            assert_eq!((period.start, period.end), (d(start), d(end)), "{grain:?}");
            assert_eq!(period.to_string(), label);
            assert_eq!(Period::parse(label).unwrap(), period, "{label}");
        }
        // ISO week 1 of 2026 starts on Monday 29 December 2025.
        assert_eq!(Period::parse("2026-W01").unwrap().start, d("2025-12-29"));
        assert_eq!(
            Period::parse("2025-03").unwrap().previous().to_string(),
            "2025-02"
        );
        assert_eq!(
            Period::parse("2025-Q1").unwrap().previous().to_string(),
            "2024-Q4"
        );
        for bad in ["25", "2025-13", "2025-Q5", "2025-W60", "2025-02-30", "x"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }
}

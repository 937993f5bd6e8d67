//! The engine's settings and the organisation's catalogue, from `DIR/metrics.toml`:
//!
//! ```toml
//! [settings]
//! repeat_window_days = 7    # 30 is the common industry convention
//! same_topic = false        # a repeat must share a topic with the earlier contact
//! time_zone = "Europe/Berlin"  # the reporting zone: days, weeks and months are local
//!
//! [[metric]]                # the organisation's own metrics, added to the built-in ones
//! name = "long_hold_rate"
//! ...
//! ```

use std::path::Path;

use chrono_tz::Tz;
use cxm_domain::metrics::Catalogue;
use cxm_domain::metrics::MetricDefinition;
use serde::{Deserialize, Serialize};

use crate::MetricsError;

/// The file under the data directory.
pub const SETTINGS_FILE: &str = "metrics.toml";

/// How repeat contacts are recognised and how time is cut.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// A contact within this many days after another of the same customer is a repeat.
    pub repeat_window_days: u32,
    /// Only a contact that shares a topic with the earlier one counts as its repeat.
    pub same_topic: bool,
    /// The IANA zone whose calendar days, weeks and months periods follow.
    pub time_zone: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            repeat_window_days: 7,
            same_topic: false,
            time_zone: "UTC".to_owned(),
        }
    }
}

impl Settings {
    pub fn repeat_window_seconds(&self) -> i64 {
        i64::from(self.repeat_window_days) * 86_400
    }

    pub fn zone(&self) -> Result<Tz, MetricsError> {
        self.time_zone
            .parse::<Tz>()
            .map_err(|_| MetricsError::Settings(format!("unknown time_zone {:?}", self.time_zone)))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    #[serde(default)]
    settings: Settings,
    #[serde(default)]
    metric: Vec<MetricDefinition>,
}

/// Settings and catalogue together: what the derived tables and rollups are built for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineConfig {
    pub settings: Settings,
    pub catalogue: Catalogue,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            settings: Settings::default(),
            catalogue: Catalogue::builtin(),
        }
    }
}

impl EngineConfig {
    /// Parses a settings file's text.
    pub fn parse(text: &str) -> Result<EngineConfig, MetricsError> {
        let file: SettingsFile =
            toml::from_str(text).map_err(|e| MetricsError::Settings(e.to_string()))?;
        if file.settings.repeat_window_days == 0 {
            return Err(MetricsError::Settings(
                "repeat_window_days must be at least 1".to_owned(),
            ));
        }
        let catalogue = Catalogue::builtin().with_metrics(file.metric)?;
        let config = EngineConfig {
            settings: file.settings,
            catalogue,
        };
        config.settings.zone()?;
        Ok(config)
    }

    /// Reads `DIR/metrics.toml` (defaults when it does not exist).
    pub fn load(data_dir: &Path) -> Result<EngineConfig, MetricsError> {
        let path = data_dir.join(SETTINGS_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => EngineConfig::parse(&text).map_err(|e| match e {
                MetricsError::Settings(reason) => {
                    MetricsError::Settings(format!("{}: {reason}", path.display()))
                }
                other => other,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(EngineConfig::default()),
            Err(source) => Err(MetricsError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// A fingerprint of everything the derived tables depend on besides the data.
    pub fn fingerprint(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_and_parse() {
        let config = EngineConfig::parse("").unwrap();
        assert_eq!(config.settings.repeat_window_seconds(), 7 * 86_400);
        let config = EngineConfig::parse(
            "[settings]\nrepeat_window_days = 30\nsame_topic = true\ntime_zone = \"Europe/Berlin\"\n",
        )
        .unwrap();
        assert!(config.settings.same_topic);
        assert_ne!(config.fingerprint(), EngineConfig::default().fingerprint());
        for bad in [
            "[settings]\ntime_zone = \"Mars/Olympus\"",
            "[settings]\nrepeat_window_days = 0",
            "[settings]\nwindow = 3",
        ] {
            assert!(EngineConfig::parse(bad).is_err(), "{bad}");
        }
    }
}

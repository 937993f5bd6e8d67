//! Any bytes as an analyst's RFM summary or observations table must give rows and
//! reported bad rows, or one clear error, never a panic; fitting what was read must not
//! panic either.
#![no_main]

use cxm_analysis::files::{bytes_reader, parse_observations, parse_rfm_summary};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = data.split_first() else { return };
    if selector % 2 == 0 {
        if let Ok(summary) = parse_rfm_summary("fuzz.csv", bytes_reader(body.to_vec())) {
            assert_eq!(summary.ids.len(), summary.rows.len());
            if summary.rows.len() <= 200 {
                let _ = cxm_analysis::clv::BgNbd::fit(&summary.rows);
                let _ = cxm_analysis::clv::GammaGamma::fit(&summary.rows);
            }
        }
    } else if let Ok((observations, _)) = parse_observations("fuzz.csv", bytes_reader(body.to_vec()), "y", &[]) {
        assert!(observations.drivers.iter().all(|d| d.values.len() == observations.values.len()));
        if observations.values.len() <= 200 && observations.drivers.len() <= 6 {
            let settings = cxm_analysis::drivers::DriverSettings { resamples: 5, min_sample: 3, ..Default::default() };
            let _ = cxm_analysis::drivers::analyse(&observations, &settings);
        }
    }
});

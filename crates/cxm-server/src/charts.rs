//! Charts for the dashboards, drawn as SVG on the server with plotters. Every point
//! carries an SVG `<title>`, so hovering shows its value (and its sample), without any
//! script.

use plotters::prelude::*;

pub mod analysis;

/// One point of a trend: its period label, value (if any) and sample.
#[derive(Debug, Clone)]
pub struct Point {
    pub label: String,
    pub value: Option<f64>,
    pub n: u64,
}

const WIDTH: u32 = 640;
const HEIGHT: u32 = 220;
const LINE: RGBColor = RGBColor(31, 95, 191);
const TARGET: RGBColor = RGBColor(30, 125, 50);
const GRID: RGBColor = RGBColor(217, 221, 229);

fn escape(text: &str) -> String {
    maud::html! { (text) }.into_string()
}

/// Makes plotters' SVG scale with the page and names it for screen readers; `hover`
/// elements go on top.
fn finish(svg: String, title: &str, hover: &str) -> String {
    let svg = svg.replacen(
        "<svg ",
        &format!(
            "<svg class=\"chart\" role=\"img\" aria-label=\"{}\" preserveAspectRatio=\"xMidYMid meet\" ",
            escape(title)
        ),
        1,
    );
    match svg.rfind("</svg>") {
        Some(end) => format!(
            "{}<title>{}</title>{hover}</svg>",
            &svg[..end],
            escape(title)
        ),
        None => svg,
    }
}

/// A line over periods with an optional target line; `format` renders values.
pub fn trend(
    title: &str,
    points: &[Point],
    target: Option<f64>,
    format: &dyn Fn(f64) -> String,
) -> Result<String, String> {
    let values: Vec<f64> = points
        .iter()
        .filter_map(|p| p.value)
        .chain(target)
        .collect();
    let (mut low, mut high) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    if !low.is_finite() {
        (low, high) = (0.0, 1.0);
    }
    let pad = ((high - low) * 0.1).max(high.abs() * 0.02).max(1e-9);
    let (low, high) = (low - pad, high + pad);
    let last = points.len().saturating_sub(1).max(1) as f64;
    let mut svg = String::new();
    let mut hover = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..last, low..high)
            .map_err(|e| e.to_string())?;
        let label_of = |x: &f64| {
            let index = x.round();
            if (x - index).abs() > 1e-6 || index < 0.0 {
                return String::new();
            }
            points
                .get(index as usize)
                .map(|p| p.label.clone())
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .x_labels(points.len().clamp(2, 8))
            .x_label_formatter(&label_of)
            .y_labels(5)
            .y_label_formatter(&|y| format(*y))
            .draw()
            .map_err(|e| e.to_string())?;
        if let Some(target) = target {
            chart
                .draw_series(LineSeries::new(
                    [(0.0, target), (last, target)],
                    TARGET.stroke_width(1),
                ))
                .map_err(|e| e.to_string())?;
            let (x, y) = chart.backend_coord(&(last, target));
            hover.push_str(&format!(
                "<g><title>target {}</title><rect x=\"{}\" y=\"{}\" width=\"40\" height=\"8\" fill=\"transparent\"/></g>",
                escape(&format(target)),
                x - 40,
                y - 4
            ));
        }
        // A gap where a period has no value.
        let mut run: Vec<(f64, f64)> = Vec::new();
        let mut runs = Vec::new();
        for (index, point) in points.iter().enumerate() {
            match point.value {
                Some(value) => run.push((index as f64, value)),
                None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
                None => {}
            }
        }
        if !run.is_empty() {
            runs.push(run);
        }
        for run in &runs {
            chart
                .draw_series(LineSeries::new(run.iter().copied(), LINE.stroke_width(2)))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(
                    run.iter()
                        .map(|&(x, y)| Circle::new((x, y), 3, LINE.filled())),
                )
                .map_err(|e| e.to_string())?;
        }
        for (index, point) in points.iter().enumerate() {
            let Some(value) = point.value else { continue };
            let (x, y) = chart.backend_coord(&(index as f64, value));
            hover.push_str(&format!(
                "<g class=\"point\"><title>{}: {} (n = {})</title><circle cx=\"{x}\" cy=\"{y}\" r=\"8\" fill=\"transparent\"/></g>",
                escape(&point.label),
                escape(&format(value)),
                point.n
            ));
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(finish(svg, title, &hover))
}

/// One bar: its label, value and hover note.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// What hovering shows after the label (e.g. "120 contacts").
    pub note: String,
}

/// Which way bars grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// Upwards, labels below (histograms).
    Vertical,
    /// To the right, labels on the left (long names, such as topics).
    Horizontal,
}

/// A bar chart of non-negative values.
pub fn bars(title: &str, bars: &[Bar], orientation: Orientation) -> Result<String, String> {
    let high = bars
        .iter()
        .map(|b| b.value)
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1.0)
        * 1.08;
    let count = bars.len().max(1) as f64;
    // Bars sit on whole numbers (their index; horizontal ones counted from the top), so
    // the axis labels them there.
    let label_of = |x: &f64| {
        let at = x.round();
        if (x - at).abs() > 1e-6 || at < 0.0 {
            return String::new();
        }
        let index = match orientation {
            Orientation::Vertical => at as usize,
            Orientation::Horizontal => match (count as usize).checked_sub(1 + at as usize) {
                Some(index) => index,
                None => return String::new(),
            },
        };
        bars.get(index).map(|b| b.label.clone()).unwrap_or_default()
    };
    let height = match orientation {
        Orientation::Vertical => HEIGHT,
        Orientation::Horizontal => (40 + 22 * bars.len() as u32).max(120),
    };
    let mut svg = String::new();
    let mut hover = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut builder = ChartBuilder::on(&root);
        builder.caption(title, ("sans-serif", 15)).margin(8);
        match orientation {
            Orientation::Vertical => builder.x_label_area_size(28).y_label_area_size(56),
            Orientation::Horizontal => builder.x_label_area_size(24).y_label_area_size(170),
        };
        let slots = -0.5f64..count - 0.5;
        let (x_range, y_range) = match orientation {
            Orientation::Vertical => (slots, 0f64..high),
            Orientation::Horizontal => (0f64..high, slots),
        };
        let mut chart = builder
            .build_cartesian_2d(x_range, y_range)
            .map_err(|e| e.to_string())?;
        let value_label = |v: &f64| format!("{v:.0}");
        let mut mesh = chart.configure_mesh();
        mesh.light_line_style(WHITE).bold_line_style(GRID);
        match orientation {
            Orientation::Vertical => mesh
                .x_labels(bars.len().max(1))
                .x_label_formatter(&label_of)
                .y_labels(5)
                .y_label_formatter(&value_label)
                .disable_x_mesh(),
            Orientation::Horizontal => mesh
                .y_labels(bars.len().max(1))
                .y_label_formatter(&label_of)
                .x_labels(5)
                .x_label_formatter(&value_label)
                .disable_y_mesh(),
        };
        mesh.draw().map_err(|e| e.to_string())?;
        // Horizontal bars run top to bottom in the order given.
        let slot = |index: usize| match orientation {
            Orientation::Vertical => index as f64,
            Orientation::Horizontal => count - 1.0 - index as f64,
        };
        let corners = |index: usize, value: f64| {
            let at = slot(index);
            match orientation {
                Orientation::Vertical => [(at - 0.4, 0.0), (at + 0.4, value)],
                Orientation::Horizontal => [(0.0, at - 0.35), (value, at + 0.35)],
            }
        };
        chart
            .draw_series(bars.iter().enumerate().map(|(index, bar)| {
                Rectangle::new(corners(index, bar.value.max(0.0)), LINE.filled())
            }))
            .map_err(|e| e.to_string())?;
        for (index, bar) in bars.iter().enumerate() {
            let [a, b] = corners(index, high / 1.08);
            let (x0, y0) = chart.backend_coord(&a);
            let (x1, y1) = chart.backend_coord(&b);
            hover.push_str(&format!(
                "<g class=\"bar\"><title>{}: {}</title><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"transparent\"/></g>",
                escape(&bar.label),
                escape(&bar.note),
                x0.min(x1),
                y0.min(y1),
                (x1 - x0).abs(),
                (y1 - y0).abs()
            ));
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(finish(svg, title, &hover))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points() -> Vec<Point> {
        ["2025-01", "2025-02", "2025-03"]
            .iter()
            .zip([Some(0.8), None, Some(0.9)])
            .map(|(label, value)| Point {
                label: (*label).to_owned(),
                value,
                n: 120,
            })
            .collect()
    }

    #[test]
    fn a_trend_has_a_title_and_a_hover_value_per_point() {
        let svg = trend("CSAT <by month>", &points(), Some(0.85), &|v| {
            format!("{:.0}%", v * 100.0)
        })
        .unwrap();
        assert!(svg.starts_with("<svg class=\"chart\""));
        assert!(svg.contains("<title>CSAT &lt;by month&gt;</title>"));
        assert!(svg.contains("<title>2025-01: 80% (n = 120)</title>"));
        assert!(svg.contains("<title>2025-03: 90% (n = 120)</title>"));
        assert!(!svg.contains("2025-02: "), "no value, no point");
        assert!(svg.contains("<title>target 85%</title>"));
        assert!(
            !svg.contains("style="),
            "inline styles are blocked by the CSP"
        );
    }

    #[test]
    fn empty_input_still_draws() {
        assert!(trend("Nothing", &[], None, &|v| v.to_string()).is_ok());
        for orientation in [Orientation::Vertical, Orientation::Horizontal] {
            assert!(bars("Nothing", &[], orientation).is_ok());
        }
    }

    #[test]
    fn every_bar_has_a_hover_note_and_labels_in_order() {
        let items: Vec<Bar> = [("Billing & fees", 30.0), ("Delivery", 12.0), ("Other", 0.0)]
            .iter()
            .map(|(label, value)| Bar {
                label: (*label).to_owned(),
                value: *value,
                note: format!("{value} contacts"),
            })
            .collect();
        for orientation in [Orientation::Vertical, Orientation::Horizontal] {
            let svg = bars("Topic mix", &items, orientation).unwrap();
            assert!(
                svg.contains("<title>Billing &amp; fees: 30 contacts</title>"),
                "{svg}"
            );
            assert!(svg.contains("<title>Other: 0 contacts</title>"));
            for label in ["Billing &amp; fees", "Delivery", "Other"] {
                assert!(
                    svg.contains(&format!(">\n{label}\n</text>")),
                    "axis label {label}"
                );
            }
            assert_eq!(svg.matches("<g class=\"bar\">").count(), 3);
            assert!(
                !svg.contains("style="),
                "inline styles are blocked by the CSP"
            );
        }
    }
}

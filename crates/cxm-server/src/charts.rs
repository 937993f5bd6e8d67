//! Charts for the dashboards, drawn as SVG on the server with plotters. Every point
//! carries an SVG `<title>`, so hovering shows its value (and its sample), without any
//! script.

use plotters::prelude::*;

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
    }
}

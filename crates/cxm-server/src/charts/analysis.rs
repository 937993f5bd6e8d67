//! Charts of the analyses: estimates with intervals, the importance × performance matrix
//! and retention curves. Same conventions as the other charts: SVG from plotters, a hover
//! title on every mark, no inline styles.

use plotters::prelude::*;

use super::{GRID, HEIGHT, LINE, WIDTH, escape, finish};

/// One estimate with its interval.
#[derive(Debug, Clone)]
pub struct Estimate {
    pub label: String,
    pub value: f64,
    pub low: f64,
    pub high: f64,
    pub note: String,
}

const WHISKER: RGBColor = RGBColor(20, 20, 20);
const FIX: RGBColor = RGBColor(191, 50, 31);
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 95, 191),
    RGBColor(191, 50, 31),
    RGBColor(30, 125, 50),
    RGBColor(150, 80, 170),
    RGBColor(200, 130, 0),
    RGBColor(90, 90, 90),
];

/// Horizontal bars, top to bottom in the order given, each with a whisker over its
/// interval (drawn where the interval is known).
pub fn interval_bars(
    title: &str,
    items: &[Estimate],
    format: &dyn Fn(f64) -> String,
) -> Result<String, String> {
    let high = items
        .iter()
        .flat_map(|e| [e.value, e.high])
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.08;
    let count = items.len().max(1) as f64;
    let height = (40 + 24 * items.len() as u32).max(120);
    let label_of = |y: &f64| {
        let at = y.round();
        if (y - at).abs() > 1e-6 || at < 0.0 {
            return String::new();
        }
        (count as usize)
            .checked_sub(1 + at as usize)
            .and_then(|i| items.get(i))
            .map(|e| e.label.clone())
            .unwrap_or_default()
    };
    let mut svg = String::new();
    let mut hover = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(190)
            .build_cartesian_2d(0f64..high, -0.5f64..count - 0.5)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .y_labels(items.len().max(1))
            .y_label_formatter(&label_of)
            .x_labels(5)
            .x_label_formatter(&|x| format(*x))
            .disable_y_mesh()
            .draw()
            .map_err(|e| e.to_string())?;
        let slot = |i: usize| count - 1.0 - i as f64;
        chart
            .draw_series(items.iter().enumerate().map(|(i, e)| {
                Rectangle::new(
                    [(0.0, slot(i) - 0.3), (e.value.max(0.0), slot(i) + 0.3)],
                    LINE.filled(),
                )
            }))
            .map_err(|e| e.to_string())?;
        for (i, e) in items.iter().enumerate() {
            if e.low.is_finite() && e.high.is_finite() {
                let y = slot(i);
                chart
                    .draw_series([
                        PathElement::new(
                            vec![(e.low.max(0.0), y), (e.high, y)],
                            WHISKER.stroke_width(2),
                        ),
                        PathElement::new(
                            vec![(e.low.max(0.0), y - 0.15), (e.low.max(0.0), y + 0.15)],
                            WHISKER.stroke_width(2),
                        ),
                        PathElement::new(
                            vec![(e.high, y - 0.15), (e.high, y + 0.15)],
                            WHISKER.stroke_width(2),
                        ),
                    ])
                    .map_err(|e| e.to_string())?;
            }
            let (x0, y0) = chart.backend_coord(&(0.0, slot(i) + 0.4));
            let (x1, y1) = chart.backend_coord(&(high / 1.08, slot(i) - 0.4));
            hover.push_str(&format!(
                "<g class=\"bar\"><title>{}: {}</title><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"transparent\"/></g>",
                escape(&e.label),
                escape(&e.note),
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

/// A point of the importance × performance matrix.
#[derive(Debug, Clone)]
pub struct MatrixPoint {
    pub label: String,
    /// performance, 0–100
    pub x: f64,
    /// importance (share of R²), 0–1
    pub y: f64,
    /// drawn in the alarm colour
    pub fix_first: bool,
    pub note: String,
}

/// The importance × performance matrix: dividing lines at the given medians, "fix first"
/// points (important, underperforming) in red, each point labelled.
pub fn matrix(
    title: &str,
    points: &[MatrixPoint],
    median_x: f64,
    median_y: f64,
) -> Result<String, String> {
    let top = points
        .iter()
        .map(|p| p.y)
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(0.01)
        * 1.15;
    let mut svg = String::new();
    let mut hover = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(-5f64..105.0, 0f64..top)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .x_desc("performance (0 = worst observed, 100 = best)")
            .y_desc("share of explained variance")
            .x_labels(6)
            .y_labels(5)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .draw()
            .map_err(|e| e.to_string())?;
        for line in [
            vec![(median_x, 0.0), (median_x, top)],
            vec![(-5.0, median_y), (105.0, median_y)],
        ] {
            chart
                .draw_series([PathElement::new(line, GRID.stroke_width(2))])
                .map_err(|e| e.to_string())?;
        }
        for p in points.iter().filter(|p| p.x.is_finite() && p.y.is_finite()) {
            let colour = if p.fix_first { FIX } else { LINE };
            chart
                .draw_series([Circle::new((p.x, p.y), 5, colour.filled())])
                .map_err(|e| e.to_string())?;
            chart
                .draw_series([Text::new(
                    p.label.clone(),
                    (p.x, p.y),
                    ("sans-serif", 11).into_font(),
                )])
                .map_err(|e| e.to_string())?;
            let (x, y) = chart.backend_coord(&(p.x, p.y));
            hover.push_str(&format!(
                "<g class=\"point\"><title>{}: {}</title><circle cx=\"{x}\" cy=\"{y}\" r=\"9\" fill=\"transparent\"/></g>",
                escape(&p.label),
                escape(&p.note)
            ));
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(finish(svg, title, &hover))
}

/// A named step curve: (time, value) from time 0.
#[derive(Debug, Clone)]
pub struct Curve {
    pub name: String,
    pub steps: Vec<(f64, f64)>,
}

/// Step curves falling from 1 (retention), each in its own colour with a legend; hovering a
/// step shows the share retained at that time.
pub fn step_curves(title: &str, x_label: &str, curves: &[Curve]) -> Result<String, String> {
    let right = curves
        .iter()
        .flat_map(|c| c.steps.iter().map(|s| s.0))
        .fold(1.0f64, f64::max);
    let bottom = curves
        .iter()
        .flat_map(|c| c.steps.iter().map(|s| s.1))
        .fold(1.0f64, f64::min);
    let bottom = (bottom - 0.05).clamp(0.0, 0.95);
    let mut svg = String::new();
    let mut hover = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT + 80)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..right, bottom..1.0)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .x_desc(x_label)
            .x_labels(6)
            .y_labels(5)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .draw()
            .map_err(|e| e.to_string())?;
        for (index, curve) in curves.iter().enumerate() {
            let colour = PALETTE[index % PALETTE.len()];
            let mut path = vec![(0.0, 1.0)];
            let mut level = 1.0;
            for &(t, v) in &curve.steps {
                path.push((t, level));
                path.push((t, v));
                level = v;
            }
            path.push((right, level));
            chart
                .draw_series([PathElement::new(path, colour.stroke_width(2))])
                .map_err(|e| e.to_string())?
                .label(curve.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                });
            for &(t, v) in &curve.steps {
                let (x, y) = chart.backend_coord(&(t, v));
                hover.push_str(&format!(
                    "<g class=\"point\"><title>{}: {:.1}% retained after {t:.0}</title><circle cx=\"{x}\" cy=\"{y}\" r=\"4\" fill=\"transparent\"/></g>",
                    escape(&curve.name),
                    v * 100.0
                ));
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE)
            .border_style(GRID)
            .position(SeriesLabelPosition::LowerLeft)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(finish(svg, title, &hover))
}

/// A named line over labelled periods (`None`: no value that period).
#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

/// Lines over the same periods, in their own colours with a legend, and a vertical mark
/// before the period at `marker` (an initiative's start); hovering a point shows its
/// value.
pub fn lines_with_marker(
    title: &str,
    labels: &[String],
    lines: &[Line],
    marker: Option<usize>,
    format: &dyn Fn(f64) -> String,
) -> Result<String, String> {
    let values: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.values.iter().flatten().copied())
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
    let last = labels.len().saturating_sub(1).max(1) as f64;
    let mut svg = String::new();
    let mut hover = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT + 60)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..last, low..high)
            .map_err(|e| e.to_string())?;
        let label_of = |x: &f64| {
            let index = x.round();
            if (x - index).abs() > 1e-6 || index < 0.0 {
                return String::new();
            }
            labels.get(index as usize).cloned().unwrap_or_default()
        };
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .x_labels(labels.len().clamp(2, 7))
            .x_label_formatter(&label_of)
            .y_labels(5)
            .y_label_formatter(&|y| format(*y))
            .draw()
            .map_err(|e| e.to_string())?;
        if let Some(marker) = marker {
            let x = marker as f64 - 0.5;
            chart
                .draw_series([PathElement::new(
                    vec![(x, low), (x, high)],
                    BLACK.stroke_width(1),
                )])
                .map_err(|e| e.to_string())?;
        }
        for (index, line) in lines.iter().enumerate() {
            let colour = PALETTE[index % PALETTE.len()];
            let points: Vec<(f64, f64)> = line
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (i as f64, v)))
                .collect();
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(line.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                });
            for &(x, y) in &points {
                let label = labels.get(x as usize).cloned().unwrap_or_default();
                let (px, py) = chart.backend_coord(&(x, y));
                hover.push_str(&format!(
                    "<g class=\"point\"><title>{} {}: {}</title><circle cx=\"{px}\" cy=\"{py}\" r=\"6\" fill=\"transparent\"/></g>",
                    escape(&line.name),
                    escape(&label),
                    escape(&format(y))
                ));
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE)
            .border_style(GRID)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(finish(svg, title, &hover))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analysis_charts_carry_hover_notes_and_no_inline_styles() {
        let items = vec![
            Estimate {
                label: "hold time".into(),
                value: 0.12,
                low: 0.1,
                high: 0.15,
                note: "12% [10%, 15%]".into(),
            },
            Estimate {
                label: "transfers".into(),
                value: 0.05,
                low: f64::NAN,
                high: f64::NAN,
                note: "5%".into(),
            },
        ];
        let bars =
            interval_bars("Drivers of CSAT", &items, &|v| format!("{:.0}%", v * 100.0)).unwrap();
        assert!(bars.contains("<title>hold time: 12% [10%, 15%]</title>"));
        assert_eq!(bars.matches("<g class=\"bar\">").count(), 2);
        let points = vec![MatrixPoint {
            label: "hold".into(),
            x: 20.0,
            y: 0.4,
            fix_first: true,
            note: "fix first".into(),
        }];
        let grid = matrix("Matrix", &points, 50.0, 0.2).unwrap();
        assert!(grid.contains("<title>hold: fix first</title>"));
        let curves = vec![Curve {
            name: "promoter".into(),
            steps: vec![(30.0, 0.95), (90.0, 0.9)],
        }];
        let svg = step_curves("Retention", "days", &curves).unwrap();
        assert!(svg.contains("promoter: 90.0% retained after 90"));
        for svg in [bars, grid, svg] {
            assert!(
                !svg.contains("style="),
                "inline styles are blocked by the CSP"
            );
        }
    }
}

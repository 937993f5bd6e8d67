//! `cxm clv`, `cxm drivers`, `cxm attrition`, `cxm experience` and `cxm root-causes`: the
//! analyses of cxm-insight, printed.

use std::io::Write;
use std::path::{Path, PathBuf};

use cxm_catalog::DataDir;
use cxm_insight::drivers::{DriverReport, DriverSettings};
use cxm_insight::reports::{ClvReport, ClvRequest, DriverRequest, TimeUnit};
use cxm_insight::sources::{Candidates, Outcome};
use cxm_metrics::{Engine, Filters};

use crate::Format;

/// Which customers, over what horizon, valued how.
#[derive(clap::Args)]
pub struct ClvArgs {
    /// Only customers whose latest purchase belongs to this unit's subtree.
    #[arg(long)]
    unit: Option<String>,
    #[arg(long, value_delimiter = ',')]
    segment: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    region: Vec<String>,
    /// The last day of purchase history to use, YYYY-MM-DD [default: the latest purchase].
    #[arg(long)]
    end: Option<chrono::NaiveDate>,
    /// The time unit of the models' parameters.
    #[arg(long, value_enum, default_value_t = Unit::Week)]
    time_unit: Unit,
    /// Months of future purchases to count.
    #[arg(long, default_value_t = 12)]
    months: u32,
    /// Discount rate per month (0.01 = 1%).
    #[arg(long, default_value_t = 0.01)]
    discount: f64,
    /// Share of a purchase's value that is margin (1 counts revenue).
    #[arg(long, default_value_t = 1.0)]
    margin: f64,
    /// Write every customer's value to this CSV file.
    #[arg(long)]
    customers: Option<PathBuf>,
    /// Fit on this RFM summary (CSV: frequency or x, recency or t_x, T, monetary_value or
    /// zbar, optional customer_id) instead of the data directory's purchases; its times
    /// are in --time-unit.
    #[arg(long, conflicts_with_all = ["unit", "segment", "region", "end"])]
    summary: Option<PathBuf>,
    /// With --summary: the purchase model, BG/NBD or Pareto/NBD (dropout at any time
    /// rather than only after a purchase).
    #[arg(long, value_enum, default_value_t = Model::BgNbd, requires = "summary")]
    model: Model,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Model {
    BgNbd,
    ParetoNbd,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Unit {
    Day,
    Week,
}

pub async fn clv(path: &Path, args: ClvArgs) -> anyhow::Result<()> {
    if let Some(summary) = &args.summary {
        return clv_of_summary(summary, &args);
    }
    let dir = DataDir::open(path)?;
    let engine = Engine::open(&dir).await?;
    let request = ClvRequest {
        filters: Filters {
            unit: args.unit,
            segments: args.segment,
            regions: args.region,
            ..Filters::default()
        },
        end: args.end,
        unit: match args.time_unit {
            Unit::Day => TimeUnit::Day,
            Unit::Week => TimeUnit::Week,
        },
        months: args.months,
        monthly_discount: args.discount,
        margin: args.margin,
    };
    let report = cxm_insight::reports::clv(&engine, &request).await?;
    if let Some(file) = &args.customers {
        write_customers(file, &report)?;
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer(&mut out, &report)?;
            writeln!(out)?;
        }
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record([
                "dimension",
                "group",
                "customers",
                "total_value",
                "mean_value",
                "mean_probability_alive",
                "expected_purchases",
            ])?;
            for g in &report.groups {
                writer.write_record([
                    g.dimension.to_owned(),
                    g.group.clone(),
                    g.customers.to_string(),
                    format!("{:.2}", g.total_value),
                    format!("{:.2}", g.mean_value),
                    format!("{:.4}", g.mean_probability_alive),
                    format!("{:.2}", g.expected_purchases),
                ])?;
            }
            writer.flush()?;
        }
        Format::Table => print_clv(&mut out, &report)?,
    }
    Ok(())
}

/// Reports rows left out of an input file on stderr (the first ten and the count).
fn report_bad_rows(file: &Path, bad: &[cxm_insight::files::BadRow]) {
    for row in bad.iter().take(10) {
        eprintln!("{}: {row}: left out", file.display());
    }
    if bad.len() > 10 {
        eprintln!("{}: {} more rows left out", file.display(), bad.len() - 10);
    }
}

fn clv_of_summary(file: &Path, args: &ClvArgs) -> anyhow::Result<()> {
    use cxm_insight::clv::{BgNbd, GammaGamma, ParetoNbd, ValueSettings};
    let started = std::time::Instant::now();
    let cxm_insight::files::Summary { ids, rows, bad } =
        cxm_insight::files::read_rfm_summary(file)?;
    report_bad_rows(file, &bad);
    let read = started.elapsed().as_secs_f64();
    let days = match args.time_unit {
        Unit::Day => 1.0,
        Unit::Week => 7.0,
    };
    let settings = ValueSettings {
        months: args.months,
        monthly_discount: args.discount,
        margin: args.margin,
        units_per_month: ValueSettings::DAYS_PER_MONTH / days,
    };
    let fit_started = std::time::Instant::now();
    let spend = GammaGamma::fit(&rows)?;
    let spend_seconds = fit_started.elapsed().as_secs_f64();
    let valued = match args.model {
        Model::BgNbd => value_with(|| BgNbd::fit(&rows), &spend.model, &rows, &settings)?,
        Model::ParetoNbd => value_with(|| ParetoNbd::fit(&rows), &spend.model, &rows, &settings)?,
    };
    let Valued {
        purchases,
        parameters,
        alive,
        values,
        fit_seconds,
        value_seconds,
    } = valued;
    if let Some(out) = &args.customers {
        // a million rows: formatted straight into a buffer (ids quoted only when needed)
        let file = std::fs::File::create(out)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
        let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
        writeln!(writer, "customer_id,probability_alive,expected_spend,value")?;
        for (((id, rfm), value), alive) in ids.iter().zip(&rows).zip(&values).zip(&alive) {
            let spend = spend
                .model
                .conditional_expected_spend(rfm)
                .unwrap_or(f64::NAN);
            if id.contains([',', '"', '\n', '\r']) {
                write!(writer, "\"{}\"", id.replace('"', "\"\""))?;
            } else {
                writer.write_all(id.as_bytes())?;
            }
            writeln!(writer, ",{alive:.6},{spend:.4},{value:.4}")?;
        }
        writer
            .flush()
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    }
    let total: f64 = values.iter().sum();
    let model = match args.model {
        Model::BgNbd => "bg_nbd",
        Model::ParetoNbd => "pareto_nbd",
    };
    let summary = serde_json::json!({
        "customers": rows.len(),
        "left_out": bad.len(),
        "model": model,
        "purchases": purchases,
        "spend": spend,
        "total_value": total,
        "mean_value": total / rows.len().max(1) as f64,
        "seconds": { "read": read, "fit": spend_seconds + fit_seconds, "value": value_seconds },
    });
    let mut out = std::io::stdout().lock();
    if matches!(args.format, Format::Table) {
        let s = &spend.model;
        writeln!(
            out,
            "{} customers from {} ({} rows left out)",
            rows.len(),
            file.display(),
            bad.len()
        )?;
        writeln!(
            out,
            "{:<12} {parameters}   log-likelihood {:.4}  ({})",
            match args.model {
                Model::BgNbd => "BG/NBD",
                Model::ParetoNbd => "Pareto/NBD",
            },
            purchases["log_likelihood"].as_f64().unwrap_or(f64::NAN),
            purchases["convergence"]["method"].as_str().unwrap_or("")
        )?;
        writeln!(
            out,
            "Gamma-Gamma  p = {:.6}  q = {:.6}  gamma = {:.6}   log-likelihood {:.4}  ({})",
            s.p, s.q, s.gamma, spend.log_likelihood, spend.convergence.method
        )?;
        writeln!(
            out,
            "value over {} months: total {total:.2}, mean {:.4}",
            args.months,
            total / rows.len().max(1) as f64
        )?;
        writeln!(
            out,
            "seconds: read {read:.3}, fit {:.3}, value {value_seconds:.3}",
            spend_seconds + fit_seconds
        )?;
    } else {
        serde_json::to_writer(&mut out, &summary)?;
        writeln!(out)?;
    }
    Ok(())
}

/// A purchase model's fit, each customer's probability of being alive and value.
struct Valued {
    purchases: serde_json::Value,
    /// the parameters as text, for the table
    parameters: String,
    alive: Vec<f64>,
    values: Vec<f64>,
    fit_seconds: f64,
    value_seconds: f64,
}

/// Fits the purchase model with `fit` and values every customer with it.
fn value_with<P: cxm_insight::clv::PurchaseModel + serde::Serialize>(
    fit: impl FnOnce() -> Result<cxm_insight::clv::Fit<P>, cxm_insight::AnalysisError>,
    spend: &cxm_insight::clv::GammaGamma,
    rows: &[cxm_insight::clv::Rfm],
    settings: &cxm_insight::clv::ValueSettings,
) -> anyhow::Result<Valued> {
    let started = std::time::Instant::now();
    let fit = fit()?;
    let fit_seconds = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let values = cxm_insight::clv::lifetime_values(&fit.model, spend, rows, settings)?;
    let alive = rows
        .iter()
        .map(|r| fit.model.probability_alive(r))
        .collect();
    let value_seconds = started.elapsed().as_secs_f64();
    let parameters = serde_json::to_value(&fit.model)?
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k} = {:.6}", v.as_f64().unwrap_or(f64::NAN)))
                .collect::<Vec<_>>()
                .join("  ")
        })
        .unwrap_or_default();
    Ok(Valued {
        purchases: serde_json::to_value(&fit)?,
        parameters,
        alive,
        values,
        fit_seconds,
        value_seconds,
    })
}

fn write_customers(file: &Path, report: &ClvReport) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_path(file)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
    writer.write_record([
        "customer_id",
        "segment",
        "team_id",
        "nps_group",
        "frequency",
        "recency",
        "age",
        "monetary",
        "probability_alive",
        "expected_purchases",
        "expected_spend",
        "value",
    ])?;
    for c in &report.values {
        writer.write_record([
            c.customer_id.clone(),
            c.segment.clone().unwrap_or_default(),
            c.team_id.clone().unwrap_or_default(),
            c.nps_group.unwrap_or_default().to_owned(),
            c.frequency.to_string(),
            format!("{:.4}", c.recency),
            format!("{:.4}", c.age),
            format!("{:.4}", c.monetary),
            format!("{:.6}", c.probability_alive),
            format!("{:.6}", c.expected_purchases),
            format!("{:.4}", c.expected_spend),
            format!("{:.4}", c.value),
        ])?;
    }
    writer.flush()?;
    Ok(())
}

fn print_clv(out: &mut impl Write, r: &ClvReport) -> anyhow::Result<()> {
    let unit = match r.unit {
        TimeUnit::Day => "days",
        TimeUnit::Week => "weeks",
    };
    let p = &r.purchases;
    let s = &r.spend;
    writeln!(
        out,
        "purchase histories to {} in {unit}: {} customers",
        r.end, r.customers
    )?;
    writeln!(
        out,
        "BG/NBD       r = {:.4}  alpha = {:.4}  a = {:.4}  b = {:.4}   log-likelihood {:.2}  ({}{})",
        p.model.r,
        p.model.alpha,
        p.model.a,
        p.model.b,
        p.log_likelihood,
        p.convergence.method,
        if p.convergence.converged {
            ""
        } else {
            ", NOT CONVERGED"
        }
    )?;
    writeln!(
        out,
        "Gamma-Gamma  p = {:.4}  q = {:.4}  gamma = {:.4}   log-likelihood {:.2}  ({} repeat buyers; {}{})",
        s.model.p,
        s.model.q,
        s.model.gamma,
        s.log_likelihood,
        s.customers,
        s.convergence.method,
        if s.convergence.converged {
            ""
        } else {
            ", NOT CONVERGED"
        }
    )?;
    writeln!(
        out,
        "value over {} months at {}% a month, margin {}: total {:.2}, mean {:.2} per customer",
        r.settings.months,
        r.settings.monthly_discount * 100.0,
        r.settings.margin,
        r.total_value,
        r.mean_value
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<10} {:<20} {:>9} {:>14} {:>10} {:>8} {:>11}",
        "by", "group", "customers", "total value", "mean", "P(alive)", "purchases"
    )?;
    for g in &r.groups {
        writeln!(
            out,
            "{:<10} {:<20} {:>9} {:>14.2} {:>10.2} {:>8.3} {:>11.1}",
            g.dimension,
            g.group,
            g.customers,
            g.total_value,
            g.mean_value,
            g.mean_probability_alive,
            g.expected_purchases
        )?;
    }
    Ok(())
}

/// What to explain, among which answers, with which candidate drivers.
#[derive(clap::Args)]
pub struct DriverArgs {
    /// csat, nps, ces or rating:<attribute> (with --observations: any column).
    #[arg(long, default_value = "csat")]
    outcome: String,
    #[command(flatten)]
    filters: crate::FilterArgs,
    /// Bootstrap resamples for the 95% intervals.
    #[arg(long, default_value_t = 1000)]
    resamples: u32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Offer the most frequent topics (this many) as drivers.
    #[arg(long, default_value_t = 5)]
    topics: usize,
    /// Leave out the operational drivers (hold, handle, queue, transfers, topics per
    /// contact, repeats, channel).
    #[arg(long)]
    no_operational: bool,
    /// Leave out the attribute ratings.
    #[arg(long)]
    no_ratings: bool,
    /// Fewest complete answers to analyse (and values a driver needs).
    #[arg(long, default_value_t = 30)]
    min_sample: usize,
    /// Analyse this CSV instead of the data directory's answers: the --outcome column
    /// explained by every other column (empty = missing).
    #[arg(long)]
    observations: Option<PathBuf>,
    /// With --observations: columns that are better when lower (comma-separated).
    #[arg(long, value_delimiter = ',', requires = "observations")]
    lower_is_better: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub async fn drivers(path: &Path, args: DriverArgs) -> anyhow::Result<()> {
    let settings = DriverSettings {
        resamples: args.resamples,
        seed: args.seed,
        min_sample: args.min_sample,
        ..DriverSettings::default()
    };
    let report = match &args.observations {
        Some(file) => {
            let (observations, bad) =
                cxm_insight::files::read_observations(file, &args.outcome, &args.lower_is_better)?;
            report_bad_rows(file, &bad);
            cxm_insight::drivers::analyse(&observations, &settings)?
        }
        None => drivers_of_data_dir(path, &args, settings).await?,
    };
    print_driver_report(&report, args.format)
}

async fn drivers_of_data_dir(
    path: &Path,
    args: &DriverArgs,
    settings: DriverSettings,
) -> anyhow::Result<DriverReport> {
    let dir = DataDir::open(path)?;
    let engine = Engine::open(&dir).await?;
    let request = DriverRequest {
        filters: args.filters.clone().into_filters(),
        outcome: Outcome::parse(&args.outcome)?,
        candidates: Candidates {
            operational: !args.no_operational,
            ratings: !args.no_ratings,
            topics: args.topics,
        },
        settings,
    };
    Ok(cxm_insight::reports::drivers(&engine, &request).await?)
}

fn print_driver_report(report: &DriverReport, format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer(&mut out, &report)?;
            writeln!(out)?;
        }
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record([
                "rank",
                "driver",
                "relative_weight",
                "low",
                "high",
                "share",
                "shapley",
                "coefficient",
                "coefficient_low",
                "coefficient_high",
                "p_value",
                "mean",
                "performance",
                "quadrant",
            ])?;
            for d in &report.drivers {
                writer.write_record([
                    d.rank.to_string(),
                    d.name.clone(),
                    d.relative_weight.value.to_string(),
                    d.relative_weight.low.to_string(),
                    d.relative_weight.high.to_string(),
                    d.share.to_string(),
                    d.shapley.map(|s| s.value.to_string()).unwrap_or_default(),
                    d.coefficient.value.to_string(),
                    d.coefficient.low.to_string(),
                    d.coefficient.high.to_string(),
                    d.p_value.map(|p| p.to_string()).unwrap_or_default(),
                    d.mean.to_string(),
                    d.performance.to_string(),
                    serde_json::to_value(d.quadrant)?
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                ])?;
            }
            writer.flush()?;
        }
        Format::Table => print_drivers(&mut out, report)?,
    }
    Ok(())
}

fn print_drivers(out: &mut impl Write, r: &DriverReport) -> anyhow::Result<()> {
    writeln!(
        out,
        "drivers of {}: {} answers ({} incomplete left out), R² = {:.3} [{:.3}, {:.3}], {} resamples",
        r.outcome,
        r.n,
        r.incomplete,
        r.r_squared.value,
        r.r_squared.low,
        r.r_squared.high,
        r.resamples
    )?;
    writeln!(
        out,
        "{:>4} {:<28} {:>7} {:>17} {:>6} {:>8} {:>8} {:>9} {:>6}  quadrant",
        "rank", "driver", "weight", "95% interval", "share", "shapley", "coef", "p", "perf",
    )?;
    for d in &r.drivers {
        writeln!(
            out,
            "{:>4} {:<28} {:>7.4} [{:>7.4}, {:>7.4}] {:>5.1}% {:>8} {:>8.3} {:>9} {:>6.1}  {}",
            d.rank,
            d.name,
            d.relative_weight.value,
            d.relative_weight.low,
            d.relative_weight.high,
            d.share * 100.0,
            d.shapley
                .map(|s| format!("{:.4}", s.value))
                .unwrap_or_else(|| "-".into()),
            d.coefficient.value,
            d.p_value
                .map(|p| format!("{p:.2e}"))
                .unwrap_or_else(|| "-".into()),
            d.performance,
            serde_json::to_value(d.quadrant)?
                .as_str()
                .unwrap_or_default(),
        )?;
    }
    for (name, reason) in &r.excluded {
        writeln!(out, "left out: {name}: {reason}")?;
    }
    Ok(())
}

/// Which customers' attrition to analyse.
#[derive(clap::Args)]
pub struct AttritionArgs {
    #[command(flatten)]
    filters: crate::FilterArgs,
    /// Bootstrap resamples for the churn drivers' intervals.
    #[arg(long, default_value_t = 200)]
    resamples: u32,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub async fn attrition(path: &Path, args: AttritionArgs) -> anyhow::Result<()> {
    let dir = DataDir::open(path)?;
    let engine = Engine::open(&dir).await?;
    let settings = DriverSettings {
        resamples: args.resamples,
        ..DriverSettings::default()
    };
    let report =
        cxm_insight::attrition::attrition(&dir, &engine, &args.filters.into_filters(), &settings)
            .await?;
    let Some(mut out) = json_unless_table(args.format, &report)? else {
        return Ok(());
    };
    let rate = |row: &cxm_metrics::MetricRow| {
        row.value
            .map(|v| format!("{:>6.2}% (n {})", v * 100.0, row.n))
            .unwrap_or_else(|| "-".into())
    };
    writeln!(out, "attrition by month")?;
    for row in &report.by_month {
        writeln!(out, "  {:<10} {}", row.period, rate(row))?;
    }
    for (title, rows, key) in [
        ("by segment", &report.by_segment, "segment"),
        ("by team", &report.by_team, "team"),
    ] {
        writeln!(out, "attrition {title}")?;
        for row in rows {
            let group = row.group.get(key).map(String::as_str).unwrap_or("-");
            writeln!(out, "  {group:<20} {}", rate(row))?;
        }
    }
    writeln!(
        out,
        "retention after 30 / 90 / 180 days of the first contact (Kaplan-Meier)"
    )?;
    for curve in &report.curves {
        let at = |days: f64| {
            curve
                .points
                .iter()
                .take_while(|p| p.time <= days)
                .last()
                .map_or(1.0, |p| p.retained)
        };
        writeln!(
            out,
            "  {:<10} {:<20} {:>7} customers {:>6} churned   {:>6.1}% {:>6.1}% {:>6.1}%",
            curve.dimension,
            curve.group,
            curve.customers,
            curve.churned,
            at(30.0) * 100.0,
            at(90.0) * 100.0,
            at(180.0) * 100.0
        )?;
    }
    match (&report.drivers, &report.drivers_note) {
        (Some(drivers), _) => {
            writeln!(out)?;
            print_drivers(&mut out, drivers)?;
        }
        (None, Some(note)) => writeln!(out, "churn drivers: {note}")?,
        (None, None) => {}
    }
    Ok(())
}

/// Whose experiences, before which day, followed for how long.
#[derive(clap::Args)]
pub struct ExperienceArgs {
    #[command(flatten)]
    filters: crate::FilterArgs,
    /// Experiences before this day, behaviour from it on, YYYY-MM-DD [default: --follow-days
    /// before the end of the data].
    #[arg(long)]
    cut: Option<chrono::NaiveDate>,
    /// Days of behaviour to follow after the cut.
    #[arg(long, default_value_t = 180)]
    follow_days: u32,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub async fn experience(path: &Path, args: ExperienceArgs) -> anyhow::Result<()> {
    let dir = DataDir::open(path)?;
    let engine = Engine::open(&dir).await?;
    let request = cxm_insight::experience::ExperienceRequest {
        filters: args.filters.into_filters(),
        cut: args.cut,
        follow_days: args.follow_days,
        ..Default::default()
    };
    let report = cxm_insight::experience::experience_value(&dir, &engine, &request).await?;
    let Some(mut out) = json_unless_table(args.format, &report)? else {
        return Ok(());
    };
    writeln!(
        out,
        "{} customers with contacts before {}, followed {} days to {} (95% intervals)",
        report.customers, report.cut, report.follow_days, report.follow_end
    )?;
    let interval = |i: &cxm_insight::drivers::Interval, scale: f64| {
        format!(
            "{:>9.2} [{:.2}, {:.2}]",
            i.value * scale,
            i.low * scale,
            i.high * scale
        )
    };
    for d in &report.dimensions {
        writeln!(out, "\n{} ({} customers)", d.dimension, d.customers)?;
        writeln!(
            out,
            "  {:<22} {:>8} {:>28} {:>32} {:>28} {:>14}",
            "group",
            "customers",
            "purchases / customer",
            "revenue / customer",
            "churn %",
            "at risk"
        )?;
        for g in &d.comparison.groups {
            writeln!(
                out,
                "  {:<22} {:>8} {:>28} {:>32} {:>28} {:>14.2}",
                g.group,
                g.customers,
                interval(&g.purchases, 1.0),
                interval(&g.revenue, 1.0),
                interval(&g.churn_rate, 100.0),
                g.revenue_at_risk.value
            )?;
        }
        for m in &d.comparison.moves {
            writeln!(
                out,
                "  moving {} customers from {:?} to {:?}: {} revenue in all, churn {} points",
                m.customers,
                m.from,
                m.to,
                interval(&m.value, 1.0),
                interval(&m.churn_change, 100.0)
            )?;
        }
    }
    Ok(())
}

/// Which contacts to look for root causes in.
#[derive(clap::Args)]
pub struct RootCauseArgs {
    #[command(flatten)]
    filters: crate::FilterArgs,
    /// Show this many topics.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub async fn root_causes(path: &Path, args: RootCauseArgs) -> anyhow::Result<()> {
    let dir = DataDir::open(path)?;
    let engine = Engine::open(&dir).await?;
    let report =
        cxm_insight::root_causes::root_causes(&engine, &args.filters.into_filters()).await?;
    let Some(mut out) = json_unless_table(args.format, &report)? else {
        return Ok(());
    };
    writeln!(
        out,
        "{} contacts, {} answers; recent window {} to {}",
        report.totals.contacts, report.totals.answers, report.recent_from, report.to
    )?;
    writeln!(
        out,
        "{:<14} {:<28} {:>8} {:>15} {:>15} {:>15} {:>8} {:>7}",
        "topic",
        "name",
        "contacts",
        "repeat % (rest)",
        "complaint %",
        "dissatisfied %",
        "score",
        "growth"
    )?;
    let gap = |g: &Option<cxm_insight::root_causes::Gap>| {
        g.map(|g| format!("{:.1} ({:.1})", g.rate * 100.0, g.rest * 100.0))
            .unwrap_or_else(|| "-".into())
    };
    for t in report.topics.iter().take(args.limit) {
        writeln!(
            out,
            "{:<14} {:<28} {:>8} {:>15} {:>15} {:>15} {:>8.0} {:>6}{}",
            t.topic,
            t.name.chars().take(28).collect::<String>(),
            t.counts.contacts,
            gap(&t.repeats),
            gap(&t.complaints),
            gap(&t.dissatisfaction),
            t.score,
            t.growth
                .map(|g| format!("{g:.2}"))
                .unwrap_or_else(|| "new".into()),
            if t.emerging { " emerging" } else { "" }
        )?;
    }
    Ok(())
}

/// Prints `report` as JSON unless a table is asked for; gives standard output for the
/// table otherwise.
fn json_unless_table<T: serde::Serialize>(
    format: Format,
    report: &T,
) -> anyhow::Result<Option<std::io::StdoutLock<'static>>> {
    let mut out = std::io::stdout().lock();
    if matches!(format, Format::Table) {
        return Ok(Some(out));
    }
    serde_json::to_writer(&mut out, report)?;
    writeln!(out)?;
    Ok(None)
}

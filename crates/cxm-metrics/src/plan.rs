//! From metric definitions to the SQL that computes them: each metric becomes additive
//! components (counts and sums, summed over any set of cells) and, for quantiles, the
//! values themselves. Identical components of different metrics are computed once.

use std::collections::BTreeMap;

use cxm_domain::metrics::{MetricDefinition, MetricKind, Source};

/// What one source's cells carry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourcePlan {
    /// SQL aggregate expressions, one per component.
    pub components: Vec<String>,
    /// SQL value expressions kept per row, one per quantile measure.
    pub measures: Vec<String>,
}

impl SourcePlan {
    fn component(&mut self, sql: String) -> usize {
        match self.components.iter().position(|c| *c == sql) {
            Some(index) => index,
            None => {
                self.components.push(sql);
                self.components.len() - 1
            }
        }
    }

    fn measure(&mut self, sql: String) -> usize {
        match self.measures.iter().position(|c| *c == sql) {
            Some(index) => index,
            None => {
                self.measures.push(sql);
                self.measures.len() - 1
            }
        }
    }
}

/// Where one metric's inputs are.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPlan {
    pub metric: MetricDefinition,
    /// Indices into the source's components, in the order the kind needs them.
    pub components: Vec<usize>,
    /// For quantiles: the index of the measure.
    pub measure: Option<usize>,
}

/// The components of a set of metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub sources: BTreeMap<Source, SourcePlan>,
    pub metrics: Vec<MetricPlan>,
}

fn predicate(expression: &Option<String>) -> String {
    match expression.as_deref().map(str::trim) {
        Some(e) if !e.is_empty() => format!("({e})"),
        _ => "TRUE".to_owned(),
    }
}

fn count_where(condition: &str) -> String {
    format!("CAST(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END) AS DOUBLE)")
}

/// A metric's value expression as a double, NULL outside its filter.
pub fn value_expression(metric: &MetricDefinition) -> String {
    let value = metric.value.as_deref().unwrap_or("NULL");
    format!(
        "CASE WHEN {} THEN CAST(({value}) AS DOUBLE) END",
        predicate(&metric.filter)
    )
}

impl Plan {
    pub fn new<'a>(metrics: impl IntoIterator<Item = &'a MetricDefinition>) -> Plan {
        let mut plan = Plan::default();
        for metric in metrics {
            let source = plan.sources.entry(metric.source).or_default();
            let mut measure = None;
            let components = match metric.kind {
                MetricKind::Count => {
                    vec![source.component(count_where(&predicate(&metric.filter)))]
                }
                MetricKind::Share => {
                    let denominator = predicate(&metric.denominator);
                    let numerator = predicate(&metric.numerator);
                    vec![
                        source.component(count_where(&format!("{denominator} AND {numerator}"))),
                        source.component(count_where(&denominator)),
                    ]
                }
                MetricKind::Sum | MetricKind::Mean => {
                    let value = value_expression(metric);
                    let mut components = vec![
                        source.component(format!("CAST(COUNT({value}) AS DOUBLE)")),
                        source.component(format!("COALESCE(SUM({value}), 0)")),
                    ];
                    if metric.kind == MetricKind::Mean {
                        components.push(
                            source.component(format!("COALESCE(SUM(({value}) * ({value})), 0)")),
                        );
                    }
                    components
                }
                MetricKind::Quantile => {
                    let value = value_expression(metric);
                    measure = Some(source.measure(value.clone()));
                    vec![source.component(format!("CAST(COUNT({value}) AS DOUBLE)"))]
                }
                MetricKind::Nps => {
                    let value = value_expression(metric);
                    vec![
                        source
                            .component(count_where(&format!("({value}) >= 9 AND ({value}) <= 10"))),
                        source.component(count_where(&format!("({value}) >= 7 AND ({value}) < 9"))),
                        source.component(count_where(&format!("({value}) >= 0 AND ({value}) < 7"))),
                    ]
                }
                MetricKind::Attrition => vec![
                    source.component("CAST(COALESCE(SUM(active_change), 0) AS DOUBLE)".to_owned()),
                    source.component("CAST(COALESCE(SUM(churned), 0) AS DOUBLE)".to_owned()),
                ],
            };
            plan.metrics.push(MetricPlan {
                metric: metric.clone(),
                components,
                measure,
            });
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cxm_domain::metrics::Catalogue;

    #[test]
    fn shared_components_are_computed_once() {
        let catalogue = Catalogue::builtin();
        let plan = Plan::new(catalogue.metrics());
        let contacts = &plan.sources[&Source::Contacts];
        // repeat_contact_rate and complaint_rate share the all-contacts denominator, which is
        // also the contacts count; hold mean and p90 share their count.
        let find = |name: &str| plan.metrics.iter().find(|m| m.metric.name == name).unwrap();
        assert_eq!(
            find("repeat_contact_rate").components[1],
            find("complaint_rate").components[1]
        );
        assert_eq!(
            find("contacts").components[0],
            find("complaint_rate").components[1]
        );
        assert_eq!(
            find("hold_seconds").components[0],
            find("hold_seconds_p90").components[0]
        );
        assert_eq!(contacts.measures.len(), 2);
    }
}

//! Customer praise as kudos candidates: survey answers with a top score (CSAT 4–5 or NPS
//! 9–10) whose comment praises ([`cxm_domain::recognition::praise`]), with the agent who
//! earned it (the answer's contact's agent, else the customer's latest contact's before
//! the answer) and that agent's team at the time. A lead accepts a candidate as kudos
//! from the customer; accepted answers are not offered again.

use std::collections::HashSet;

use cxm_catalog::DataDir;
use cxm_domain::recognition::praise;
use cxm_facts::arrow::array::AsArray;
use cxm_facts::arrow::compute::cast;
use cxm_facts::arrow::datatypes::{DataType, Int64Type};
use cxm_facts::datafusion::prelude::SessionContext;
use cxm_metrics::Organisation;
use cxm_sql::RecognitionStore;
use serde::Serialize;

use crate::LoopError;
use crate::alerts::{answer_agents, literal};

/// A praising answer not yet turned into kudos.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PraiseCandidate {
    pub response_id: String,
    /// RFC 3339, UTC.
    pub answered_at: String,
    pub customer_id: String,
    pub agent_id: String,
    /// The agent's team when the customer answered.
    pub unit_id: Option<String>,
    /// `CSAT 5` or `NPS 10`.
    pub score: String,
    pub comment: String,
    /// The praise words found.
    pub words: Vec<&'static str>,
}

impl PraiseCandidate {
    /// The kudos the customer gives the agent when a lead recognises this praise.
    pub fn into_kudos(self) -> cxm_sql::NewKudos {
        cxm_sql::NewKudos {
            to_person: self.agent_id,
            from_person: None,
            source: cxm_domain::recognition::KudosSource::Customer,
            message: self.comment,
            unit_id: self.unit_id,
            response_id: Some(self.response_id),
        }
    }
}

/// Praise candidates among the answers of the agents `agent_in_scope` accepts (only the
/// answer `only`, when given), newest first, at most `limit`.
pub async fn praise_candidates(
    dir: &DataDir,
    org: &Organisation,
    agent_in_scope: &(dyn Fn(&str, Option<&str>) -> bool + Sync),
    only: Option<&str>,
    limit: usize,
) -> Result<Vec<PraiseCandidate>, LoopError> {
    let ctx = SessionContext::new();
    dir.facts().await?.register(&ctx).await?;
    let only = only.map_or_else(String::new, |id| {
        format!(" AND response_id = {}", literal(id))
    });
    let praised = format!(
        "SELECT response_id AS trigger_id, customer_id, answered_at AS at, interaction_id, \
                csat, nps, comment \
         FROM survey_responses \
         WHERE comment IS NOT NULL AND (csat >= 4 OR nps >= 9){only}"
    );
    let sql = format!(
        "{} SELECT f.trigger_id, f.customer_id, CAST(f.at AS BIGINT) AS at, b.agent_id, \
                CAST(f.csat AS BIGINT) AS csat, CAST(f.nps AS BIGINT) AS nps, f.comment \
         FROM fired f JOIN best b ON b.trigger_id = f.trigger_id \
         ORDER BY at DESC, f.trigger_id",
        answer_agents(&praised)
    );
    let mut found = Vec::new();
    for batch in ctx.sql(&sql).await?.collect().await? {
        let text = |i: usize| -> Result<Vec<Option<String>>, LoopError> {
            let column = cast(batch.column(i), &DataType::Utf8)?;
            Ok(column
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_owned))
                .collect())
        };
        let number = |i: usize| -> Result<Vec<Option<i64>>, LoopError> {
            let column = cast(batch.column(i), &DataType::Int64)?;
            Ok(column.as_primitive::<Int64Type>().iter().collect())
        };
        let (ids, customers, at, agents, csat, nps, comments) = (
            text(0)?,
            text(1)?,
            number(2)?,
            text(3)?,
            number(4)?,
            number(5)?,
            text(6)?,
        );
        for row in 0..batch.num_rows() {
            let (Some(id), Some(customer), Some(at), Some(agent), Some(comment)) = (
                &ids[row],
                &customers[row],
                at[row],
                &agents[row],
                &comments[row],
            ) else {
                continue;
            };
            let Some(words) = praise(comment) else {
                continue;
            };
            let unit = org.unit_of(agent, at).map(str::to_owned);
            if !agent_in_scope(agent, unit.as_deref()) {
                continue;
            }
            let score = match (csat[row], nps[row]) {
                (Some(c), _) if c >= 4 => format!("CSAT {c}"),
                (_, Some(n)) => format!("NPS {n}"),
                _ => continue,
            };
            found.push(PraiseCandidate {
                response_id: id.clone(),
                answered_at: chrono::DateTime::from_timestamp_micros(at)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default(),
                customer_id: customer.clone(),
                agent_id: agent.clone(),
                unit_id: unit,
                score,
                comment: comment.clone(),
                words,
            });
        }
    }
    // leave out the answers already accepted, then keep the newest
    let store = dir.reference().await?;
    let ids: Vec<String> = found.iter().map(|c| c.response_id.clone()).collect();
    let accepted: HashSet<String> = store.accepted_answers(&ids).await?.into_iter().collect();
    store.close().await;
    found.retain(|c| !accepted.contains(&c.response_id));
    found.truncate(limit);
    Ok(found)
}

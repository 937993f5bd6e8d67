//! `POST /api/v1/ingest/{kind}`: other systems send JSON batches of interactions, survey
//! answers, transactions or customer events. Each batch is validated like a file
//! (`cxm ingest`), its valid records are stored in one atomic commit, and the answer —
//! sent only once the commit is durable — says what became of every record.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use cxm_domain::{AccessRole, RecordKind};
use cxm_ingest::{BatchReport, IngestError, RecordBatchRequest};
use cxm_sql::TokenScope;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::Params;
use crate::auth::{self, Principal};
use crate::{ApiError, AppState};

/// The kinds a batch may hold (reference data comes from files).
pub const KINDS: [RecordKind; 4] = [
    RecordKind::Interactions,
    RecordKind::Surveys,
    RecordKind::Transactions,
    RecordKind::CustomerEvents,
];

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/ingest/{kind}", post(ingest))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IngestParams {
    /// Reject records naming customers, agents or topics the store does not know.
    enforce_references: Option<bool>,
    /// Answer only once the metrics include the batch (default false: they are rebuilt
    /// in the background within seconds).
    wait: Option<bool>,
}

/// One record's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordOutcome {
    /// 1-based position in the batch.
    record: u64,
    id: Option<String>,
    /// inserted, replaced, unchanged or rejected.
    status: String,
    /// Why it was rejected (empty otherwise).
    errors: Vec<FieldProblem>,
}

/// One invalid field of a rejected record.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The field (empty when the record could not be read at all).
    field: String,
    value: String,
    /// e.g. `csat 7 is outside 1..=5`.
    reason: String,
}

/// What a batch did (`accepted = inserted + replaced + unchanged`, `read = accepted +
/// rejected`) and every record's result, in the order sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestAnswer {
    kind: String,
    read: u64,
    accepted: u64,
    inserted: u64,
    replaced: u64,
    unchanged: u64,
    rejected: u64,
    /// The quarantine file holding the rejected records, if any.
    quarantine: Option<String>,
    /// The fact table version the batch created; absent when nothing changed.
    version: Option<u64>,
    /// Whether the metrics already include the batch (`wait=true`).
    visible: bool,
    records: Vec<RecordOutcome>,
}

fn may_ingest(principal: &Principal) -> Result<(), ApiError> {
    match principal {
        Principal::Token(token) if token.scope == TokenScope::Ingest => Ok(()),
        Principal::User { user, .. } if user.role == AccessRole::Admin => Ok(()),
        Principal::Token(_) => Err(ApiError::Forbidden(
            "this token may only read; ingesting needs a token with scope ingest".into(),
        )),
        Principal::User { .. } => Err(ApiError::Forbidden(
            "only admins and ingest tokens may send records".into(),
        )),
    }
}

#[utoipa::path(post, path = "/api/v1/ingest/{kind}", tag = "ingest",
    params(("kind" = String, Path, description = "What the records are: interactions, surveys, transactions or customer-events"), IngestParams),
    request_body(content = Vec<Object>, description = "A JSON array of records with the fields of `cxm ingest` (DESIGN.md, canonical formats)", content_type = "application/json"),
    responses((status = 200, body = IngestAnswer, description = "The batch was processed; rejected records are listed with their reasons"),
              (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody)))]
pub(crate) async fn ingest(
    State(state): State<AppState>,
    principal: Principal,
    Path(kind): Path<String>,
    Params(params): Params<IngestParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IngestAnswer>, ApiError> {
    may_ingest(&principal)?;
    let Some(kind) = RecordKind::from_cli_name(&kind).filter(|k| KINDS.contains(k)) else {
        return Err(ApiError::NotFound(format!(
            "no ingest endpoint for {kind:?}: expected one of {}",
            KINDS.map(RecordKind::cli_name).join(", ")
        )));
    };
    let body = body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(_) => ApiError::TooLarge(format!(
            "the body is over the limit of {} bytes; send smaller batches",
            state.config().body_limit
        )),
        other => ApiError::BadRequest(other.body_text()),
    })?;
    let records = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Array(records)) => records,
        Ok(_) => {
            return Err(ApiError::BadRequest(
                "the body must be a JSON array of records".into(),
            ));
        }
        Err(error) => {
            return Err(ApiError::BadRequest(format!(
                "the body is not JSON: {error}"
            )));
        }
    };
    let actor = principal.actor();
    let request = RecordBatchRequest {
        kind,
        records,
        enforce_references: params.enforce_references.unwrap_or(false),
        source: format!("api:{actor}"),
    };
    let report = {
        let _turn = state.ingest_turn().await;
        cxm_ingest::ingest_records(state.dir(), request)
            .await
            .map_err(|error| match error {
                IngestError::File(error) => ApiError::BadRequest(error.to_string()),
                other => ApiError::internal(other),
            })?
    };
    let summary = &report.summary;
    auth::audit(
        &state,
        &actor,
        "ingest",
        format!(
            "{} via the API: {} read, {} inserted, {} replaced, {} unchanged, {} rejected",
            summary.kind,
            summary.read,
            summary.inserted,
            summary.replaced,
            summary.unchanged,
            summary.rejected
        ),
    )
    .await;
    let mut visible = report.version.is_none();
    if report.version.is_some() {
        let change = state.data_changed(kind, report.summary.earliest_micros);
        if params.wait.unwrap_or(false) {
            state.refreshed(change).await?;
            visible = true;
        }
    }
    Ok(Json(answer(report, visible)))
}

fn answer(report: BatchReport, visible: bool) -> IngestAnswer {
    let summary = report.summary;
    IngestAnswer {
        kind: summary.kind,
        read: summary.read,
        accepted: summary.accepted,
        inserted: summary.inserted,
        replaced: summary.replaced,
        unchanged: summary.unchanged,
        rejected: summary.rejected,
        quarantine: summary.quarantine,
        version: report.version,
        visible,
        records: report
            .records
            .into_iter()
            .map(|r| RecordOutcome {
                record: r.record,
                id: r.id,
                status: crate::api::name_of(&r.status),
                errors: r
                    .errors
                    .into_iter()
                    .map(|e| FieldProblem {
                        field: e.field,
                        value: e.value,
                        reason: e.reason,
                    })
                    .collect(),
            })
            .collect(),
    }
}

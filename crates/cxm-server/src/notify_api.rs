//! Telling people what happened to cases, over HTTP:
//!
//! - `GET /api/v1/notifications`: the caller's in-app inbox, newest first;
//!   `POST /api/v1/notifications/read` marks some (or all) read;
//! - `GET /api/v1/webhooks`, `PUT` and `DELETE /api/v1/webhooks/{id}`,
//!   `GET /api/v1/webhooks/{id}/deliveries`: webhook subscriptions and how their
//!   deliveries went, for admins;
//! - `/inbox`: the inbox page.
//!
//! The sender that posts queued events runs in the server (see [`crate::AppState`]).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FormRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use cxm_domain::AccessRole;
use cxm_domain::notify::{EventKind, Webhook, check_secret};
use cxm_sql::{Delivery, Notification, NotifyStore, StoredWebhook};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::{Params, limit};
use crate::auth::{self, Principal};
use crate::cases_api::{csrf_checked, json_body, now_text};
use crate::pages::{MaybeSignedIn, form_csrf, layout, signed_in_page};
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/notifications", get(list_notifications))
        .route("/api/v1/notifications/read", post(read_notifications))
        .route("/api/v1/webhooks", get(list_webhooks))
        .route(
            "/api/v1/webhooks/{id}",
            axum::routing::put(put_webhook).delete(delete_webhook),
        )
        .route("/api/v1/webhooks/{id}/deliveries", get(list_deliveries))
        .route("/inbox", get(inbox_page))
        .route("/inbox/read", post(read_all_form))
}

/// An entry of the caller's inbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    notification_id: i64,
    /// case.opened or case.updated.
    event: String,
    case_id: i64,
    message: String,
    created_at: String,
    /// When it was marked read; absent while unread.
    read_at: Option<String>,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        NotificationView {
            notification_id: n.notification_id,
            event: n.event,
            case_id: n.case_id,
            message: n.message,
            created_at: n.created_at,
            read_at: n.read_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationList {
    notifications: Vec<NotificationView>,
    /// Unread entries in all (beyond the limit too).
    unread: u64,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationParams {
    /// Only unread entries.
    unread: Option<bool>,
    /// At most this many (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Which notifications to mark read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// These ids; every unread one when absent.
    #[schema(max_items = 1000)]
    ids: Option<Vec<i64>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Marked {
    /// How many were unread and are now read.
    marked: u64,
}

/// The caller's person id: the inbox belongs to a person.
fn inbox_owner(principal: &Principal) -> Result<String, ApiError> {
    let user = principal.user()?;
    user.person_id.clone().ok_or_else(|| {
        ApiError::Forbidden(format!(
            "{} is not linked to a person, so has no inbox",
            user.username
        ))
    })
}

#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(NotificationParams),
    responses((status = 200, body = NotificationList), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list_notifications(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<NotificationParams>,
) -> Result<Json<NotificationList>, ApiError> {
    let person = inbox_owner(&principal)?;
    let limit = limit(params.limit, 50, 500)?;
    let store = state.store();
    let notifications = store
        .notifications(&person, params.unread.unwrap_or(false), limit)
        .await?;
    Ok(Json(NotificationList {
        notifications: notifications.into_iter().map(Into::into).collect(),
        unread: store.unread_count(&person).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "notifications",
    request_body(content = MarkRead, content_type = "application/json"),
    responses((status = 200, body = Marked), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody)))]
pub(crate) async fn read_notifications(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Marked>, ApiError> {
    let person = inbox_owner(&principal)?;
    csrf_checked(&principal, &headers)?;
    let request: MarkRead = json_body(&state, body)?;
    if request.ids.as_ref().is_some_and(|ids| ids.len() > 1000) {
        return Err(ApiError::BadRequest(
            "mark at most 1000 ids at a time".into(),
        ));
    }
    let marked = state
        .store()
        .mark_read(&person, request.ids.as_deref(), &now_text())
        .await?;
    Ok(Json(Marked { marked }))
}

/// A webhook subscription and how its deliveries went.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    webhook_id: String,
    url: String,
    /// case.opened and/or case.updated.
    events: Vec<String>,
    enabled: bool,
    updated_at: String,
    updated_by: String,
    /// Deliveries waiting to be sent or retried.
    pending: u64,
    delivered: u64,
    /// Deliveries given up after the last retry.
    failed: u64,
}

impl From<StoredWebhook> for WebhookView {
    fn from(stored: StoredWebhook) -> Self {
        WebhookView {
            webhook_id: stored.webhook.webhook_id,
            url: stored.webhook.url,
            events: stored
                .webhook
                .events
                .iter()
                .map(|e| e.as_str().to_owned())
                .collect(),
            enabled: stored.webhook.enabled,
            updated_at: stored.updated_at,
            updated_by: stored.updated_by,
            pending: stored.pending,
            delivered: stored.delivered,
            failed: stored.failed,
        }
    }
}

/// A webhook subscription to add or change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookUpdate {
    /// https://… (or http://… on the same network).
    #[schema(max_length = 2000)]
    url: String,
    /// case.opened and/or case.updated.
    #[schema(min_items = 1, max_items = 2)]
    events: Vec<String>,
    #[serde(default = "yes")]
    enabled: bool,
    /// The signing secret (16 to 256 printable ASCII characters): required for a new
    /// webhook; an existing one keeps its secret when absent. Never shown again.
    #[schema(min_length = 16, max_length = 256, pattern = "^[!-~]+$")]
    secret: Option<String>,
}

fn yes() -> bool {
    true
}

/// A delivery of one event to a webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    delivery_id: i64,
    /// The Idempotency-Key header, the same on every attempt.
    event_key: String,
    event: String,
    case_id: i64,
    /// pending, delivered or failed.
    status: String,
    attempts: i64,
    created_at: String,
    last_attempt_at: Option<String>,
    last_error: Option<String>,
    delivered_at: Option<String>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        DeliveryView {
            delivery_id: d.delivery_id,
            event_key: d.event_key,
            event: d.event,
            case_id: d.case_id,
            status: d.status,
            attempts: d.attempts,
            created_at: d.created_at,
            last_attempt_at: d.last_attempt_at,
            last_error: d.last_error,
            delivered_at: d.delivered_at,
        }
    }
}

fn admin_only(principal: &Principal) -> Result<(), ApiError> {
    let user = principal.user()?;
    if user.role != AccessRole::Admin {
        return Err(ApiError::Forbidden("only admins manage webhooks".into()));
    }
    Ok(())
}

async fn webhook_view(state: &AppState, id: &str) -> Result<Option<WebhookView>, ApiError> {
    Ok(state
        .store()
        .webhooks()
        .await?
        .into_iter()
        .find(|w| w.webhook.webhook_id == id)
        .map(WebhookView::from))
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "notifications",
    responses((status = 200, body = Vec<WebhookView>), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list_webhooks(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<WebhookView>>, ApiError> {
    admin_only(&principal)?;
    Ok(Json(
        state
            .store()
            .webhooks()
            .await?
            .into_iter()
            .map(WebhookView::from)
            .collect(),
    ))
}

#[utoipa::path(put, path = "/api/v1/webhooks/{id}", tag = "notifications",
    params(("id" = String, Path, description = "The webhook's id: lowercase letters, digits and '-'")),
    request_body(content = WebhookUpdate, content_type = "application/json"),
    responses((status = 200, body = WebhookView), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody, description = "A new webhook without a secret"),
              (status = 413, body = crate::error::ErrorBody)))]
pub(crate) async fn put_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WebhookView>, ApiError> {
    admin_only(&principal)?;
    csrf_checked(&principal, &headers)?;
    let update: WebhookUpdate = json_body(&state, body)?;
    let events = update
        .events
        .iter()
        .map(|e| EventKind::parse("events", e).map_err(|e| ApiError::BadRequest(e.reason)))
        .collect::<Result<Vec<_>, _>>()?;
    let webhook = Webhook {
        webhook_id: id.clone(),
        url: update.url,
        events,
        enabled: update.enabled,
    };
    webhook
        .validate()
        .map_err(|e| ApiError::BadRequest(e.reason))?;
    if let Some(secret) = &update.secret {
        check_secret(secret).map_err(|e| ApiError::BadRequest(e.reason))?;
    }
    state
        .store()
        .set_webhook(
            &webhook,
            update.secret.as_deref(),
            &principal.actor(),
            &now_text(),
        )
        .await?;
    auth::audit(
        &state,
        &principal.actor(),
        "webhook",
        format!("webhook {id} saved ({})", webhook.url),
    )
    .await;
    let view = webhook_view(&state, &id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("webhook {id} vanished after saving")))?;
    Ok(Json(view))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "notifications",
    params(("id" = String, Path, description = "The webhook's id")),
    responses((status = 204, description = "Removed with its deliveries"), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn delete_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    admin_only(&principal)?;
    csrf_checked(&principal, &headers)?;
    if !state.store().remove_webhook(&id).await? {
        return Err(ApiError::NotFound(format!("there is no webhook {id:?}")));
    }
    auth::audit(
        &state,
        &principal.actor(),
        "webhook",
        format!("webhook {id} removed"),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// At most this many, newest first (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "notifications",
    params(("id" = String, Path, description = "The webhook's id"), DeliveryParams),
    responses((status = 200, body = Vec<DeliveryView>), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Params(params): Params<DeliveryParams>,
) -> Result<Json<Vec<DeliveryView>>, ApiError> {
    admin_only(&principal)?;
    let limit = limit(params.limit, 100, 1000)?;
    if webhook_view(&state, &id).await?.is_none() {
        return Err(ApiError::NotFound(format!("there is no webhook {id:?}")));
    }
    Ok(Json(
        state
            .store()
            .deliveries(&id, limit)
            .await?
            .into_iter()
            .map(DeliveryView::from)
            .collect(),
    ))
}

/// Entries on the inbox page.
const PAGE_NOTIFICATIONS: u32 = 100;

fn inbox_markup(notifications: &[Notification], unread: u64, csrf: &str) -> Markup {
    html! {
        h1 { "Inbox" }
        p.summary {
            @if unread == 0 { "Nothing unread." } @else { strong.unread { (unread) " unread" } }
        }
        @if unread > 0 {
            form.inline method="post" action="/inbox/read" {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "Mark all read" }
            }
        }
        @if notifications.is_empty() {
            p { "No notifications yet: cases handed to you will show up here." }
        } @else {
            ol.inbox {
                @for n in notifications {
                    li class=[n.read_at.is_none().then_some("unread")] {
                        (n.created_at) " · "
                        a href={ "/cases/" (n.case_id) } { "Case #" (n.case_id) }
                        " · " (n.message)
                    }
                }
            }
        }
    }
}

async fn inbox_page(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|response| *response)?;
    let result: Result<Markup, ApiError> = async {
        let Ok(person) = inbox_owner(&principal) else {
            return Ok(html! { h1 { "Inbox" } p { "Your account is not linked to a person, so nothing is addressed to it." } });
        };
        let store = state.store();
        let notifications = store
            .notifications(&person, false, PAGE_NOTIFICATIONS)
            .await?;
        let unread = store.unread_count(&person).await?;
        Ok(inbox_markup(&notifications, unread, &csrf))
    }
    .await;
    match result {
        Ok(body) => Ok(layout("Inbox", Some((&principal, &csrf)), body).into_response()),
        Err(error) => Err(error.into_response()),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

async fn read_all_form(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|response| *response)?;
    let Ok(Form(form)) = form else {
        return Err(ApiError::BadRequest("the form was incomplete".into()).into_response());
    };
    form_csrf(&csrf, &form.csrf).map_err(IntoResponse::into_response)?;
    let person = inbox_owner(&principal).map_err(IntoResponse::into_response)?;
    state
        .store()
        .mark_read(&person, None, &now_text())
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    Ok(Redirect::to("/inbox").into_response())
}

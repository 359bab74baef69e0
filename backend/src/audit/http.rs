//! `/api/v1/audit-events` (a page of JSON) and `/api/v1/audit-events.csv` (every match,
//! streamed): contacts see their organisations' events, admins all.

use actix_web::HttpResponse;
use actix_web::http::header::ContentDisposition;
use actix_web::web::{self, Bytes};
use clavis_shared::ErrorBody;
use clavis_shared::audit::{AuditEventView, AuditPage, AuditQuery};

use super::query::{self, Filter, Position};
use crate::access::Access;
use crate::db::Database;
use crate::error::{Error, Result};

/// Events per database read of the CSV export.
const CSV_CHUNK: i64 = 500;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit-events", web::get().to(list))
        .route("/audit-events.csv", web::get().to(export));
}

/// Audit events, newest first, filtered and a page at a time.
#[utoipa::path(get, path = "/api/v1/audit-events", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    access: Access,
    db: web::Data<Database>,
    params: web::Query<AuditQuery>,
) -> Result<web::Json<AuditPage>> {
    let params = params.into_inner();
    let page = db
        .run(move |conn| {
            let filter = Filter::new(conn, &params, &access)?;
            query::page(conn, &filter)
        })
        .await?;
    Ok(web::Json(page))
}

/// Every event the filters match (`page` and `per_page` are ignored), newest first, as CSV
/// streamed while it is read. A cell that a spreadsheet would run as a formula starts with
/// a `'`.
#[utoipa::path(get, path = "/api/v1/audit-events.csv", tag = "audit", params(AuditQuery),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn export(
    access: Access,
    db: web::Data<Database>,
    params: web::Query<AuditQuery>,
) -> Result<HttpResponse> {
    let params = params.into_inner();
    // The filter and the first chunk are read before answering, so that a refusal or a
    // failing database gets its status code instead of a cut-off download.
    let (filter, first) = db
        .run(move |conn| {
            let filter = Filter::new(conn, &params, &access)?;
            let first = query::chunk(conn, &filter, None, CSV_CHUNK)?;
            Ok((filter, first))
        })
        .await?;
    let mut head = csv_rows(&[CSV_HEADER.map(str::to_owned)])?;
    let after = continue_after(&first);
    head.extend_from_slice(&csv_rows(
        &first.iter().map(csv_record).collect::<Vec<_>>(),
    )?);
    let rest = futures_util::stream::unfold(after, move |after| {
        let (db, filter) = (db.clone(), filter.clone());
        async move {
            let after = after?;
            let read = db
                .run(move |conn| query::chunk(conn, &filter, Some(after), CSV_CHUNK))
                .await;
            Some(match read {
                Ok(events) => {
                    let next = continue_after(&events);
                    let rows: Vec<_> = events.iter().map(csv_record).collect();
                    (csv_rows(&rows).map(Bytes::from), next)
                }
                Err(error) => {
                    tracing::error!(%error, "the audit export stopped part-way");
                    (Err(error), None)
                }
            })
        }
    });
    let body = futures_util::stream::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, Error>(Bytes::from(head)) }),
        rest,
    );
    let filename = format!(
        "clavis-audit-{}.csv",
        crate::db::now().format("%Y-%m-%dT%H%M%SZ")
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(ContentDisposition::attachment(filename))
        .streaming(body))
}

/// Where to read on after a chunk; `None` when it was the last (shorter than a full one).
fn continue_after(events: &[AuditEventView]) -> Option<Position> {
    if events.len() < CSV_CHUNK as usize {
        return None;
    }
    events.last().map(query::position_of)
}

const CSV_HEADER: [&str; 14] = [
    "occurred_at",
    "summary",
    "actor_kind",
    "actor",
    "actor_name",
    "action",
    "outcome",
    "organisation",
    "organisation_id",
    "application",
    "client_id",
    "secret_id",
    "source_address",
    "details",
];

fn csv_record(event: &AuditEventView) -> [String; 14] {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    [
        event
            .occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        event.summary.clone(),
        event.actor_kind.clone(),
        event.actor.clone(),
        text(&event.actor_name),
        event.action.clone(),
        event.outcome.clone(),
        text(&event.organisation_name),
        text(&event.organisation_id),
        text(&event.application_name),
        text(&event.client_id),
        text(&event.secret_id),
        text(&event.source_address),
        event.details.to_string(),
    ]
}

/// Rows as CSV (RFC 4180 quoting by the `csv` crate), every cell made [`spreadsheet_safe`].
fn csv_rows(rows: &[[String; 14]]) -> Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer
            .write_record(row.iter().map(|cell| spreadsheet_safe(cell).into_owned()))
            .map_err(|error| Error::Internal(format!("writing CSV: {error}")))?;
    }
    writer
        .into_inner()
        .map_err(|error| Error::Internal(format!("writing CSV: {error}")))
}

/// A cell a spreadsheet would read as a formula (one starting with `=`, `+`, `-`, `@`, a tab
/// or a carriage return) with a `'` in front, so it shows as text: OWASP's advice against
/// CSV injection.
fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn formulas_are_shown_as_text() {
        for formula in ["=1+1", "+1", "-1", "@SUM(A1)", "\t=x", "\r=x"] {
            assert_eq!(spreadsheet_safe(formula), format!("'{formula}"));
        }
        assert_eq!(spreadsheet_safe("mia@acme.test"), "mia@acme.test");
        assert_eq!(spreadsheet_safe(""), "");
    }
}

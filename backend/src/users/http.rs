//! `/api/v1/me` and the admins' role assignments.

use actix_web::{HttpResponse, web};
use clavis_shared::ErrorBody;
use clavis_shared::admin::{PeopleFilter, Person as PersonView};
use clavis_shared::dto::RoleAssignment;
use clavis_shared::paging::{ListQuery, Page};
use clavis_shared::portal::{GrantRole, Me, Membership, UserView};
use clavis_shared::validate::ValidationError;

use super::Person;
use crate::access::{Access, Admin};
use crate::db::{self, Database};
use crate::error::Result;
use crate::orgs;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/me", web::get().to(me))
        .route("/role-assignments", web::get().to(list_roles))
        .route("/role-assignments", web::post().to(grant_role))
        .route("/role-assignments/{id}", web::delete().to(revoke_role))
        .route("/people", web::get().to(people));
}

/// Who is signed in, their roles per organisation, and the CSRF token for changes.
#[utoipa::path(get, path = "/api/v1/me", tag = "session",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(access: Access, db: web::Data<Database>) -> Result<web::Json<Me>> {
    db.run(move |conn| {
        let memberships = orgs::list(conn)?
            .into_iter()
            .filter_map(|organisation| {
                let role = access.role_in(&organisation.id)?;
                Some(Membership { organisation, role })
            })
            .collect();
        Ok(web::Json(Me {
            user: UserView {
                id: access.user.id.clone(),
                email: access.user.email.clone(),
                name: access.user.name.clone(),
            },
            admin: access.is_admin(),
            memberships,
            csrf_token: access.session.csrf_token.clone(),
            session_expires_at: access.session.expires_at,
        }))
    })
    .await
}

/// Every role assignment (admins only).
#[utoipa::path(get, path = "/api/v1/role-assignments", tag = "admin",
    responses((status = 200, body = Vec<RoleAssignment>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_roles(
    _admin: Admin,
    db: web::Data<Database>,
) -> Result<web::Json<Vec<RoleAssignment>>> {
    Ok(web::Json(db.run(super::list).await?))
}

/// Gives a person (by e-mail, or by the provider's subject) a role (admins only). A person
/// who has not signed in yet gets it at their first sign-in.
#[utoipa::path(post, path = "/api/v1/role-assignments", tag = "admin", request_body = GrantRole,
    responses((status = 201, body = RoleAssignment), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn grant_role(
    admin: Admin,
    db: web::Data<Database>,
    body: web::Json<GrantRole>,
) -> Result<HttpResponse> {
    let request = body.into_inner();
    let person = match (request.email, request.subject) {
        (Some(email), None) => Person::Email(email),
        (None, Some(subject)) => Person::Subject(subject),
        _ => {
            return Err(ValidationError::new(
                "email",
                "Name the person by e-mail address or by subject, not both.",
            )
            .into());
        }
    };
    let actor = admin.actor();
    let granted = db
        .run(move |conn| {
            super::grant(
                conn,
                &person,
                request.role,
                request.organisation_id.as_deref(),
                &actor,
                db::now(),
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(granted))
}

/// Takes a role away (admins only).
#[utoipa::path(delete, path = "/api/v1/role-assignments/{id}", tag = "admin",
    params(("id" = String, Path, description = "The role assignment's id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn revoke_role(
    admin: Admin,
    db: web::Data<Database>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let actor = admin.actor();
    db.run(move |conn| super::revoke(conn, &id, &actor, db::now()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Everyone Clavis knows (admins only): who signed in and who was designated by an admin,
/// with their roles and last sign-in, a page at a time. `q` searches e-mail, name and
/// subject; `organisation` and `role` keep people with such a role; `sort` is `email`
/// (default), `name`, `last_sign_in` or `created` (`-` in front for descending).
#[utoipa::path(get, path = "/api/v1/people", tag = "admin", params(ListQuery, PeopleFilter),
    responses((status = 200, body = Page<PersonView>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn people(
    _admin: Admin,
    db: web::Data<Database>,
    query: web::Query<ListQuery>,
    filter: web::Query<PeopleFilter>,
) -> Result<web::Json<Page<PersonView>>> {
    Ok(web::Json(
        db.run(move |conn| super::people(conn, &query, &filter))
            .await?,
    ))
}

//! Authorization, in one place: who may see and change what. Admins may do everything;
//! contacts see their own organisations only, and only credential managers change secrets.
//! To a contact, another organisation's resource is indistinguishable from a missing one.

use actix_web::{FromRequest, HttpRequest, web};
use clavis_shared::dto::Role;
use diesel::prelude::*;
use futures_util::future::LocalBoxFuture;
use std::collections::HashMap;

use super::User;
use crate::audit::Actor;
use crate::db::{Database, DbConn, schema::role_assignments, schema::users};
use crate::error::{Error, Result};
use crate::login::session::{Session, SessionRole};

/// A person's roles: Clavis's own assignments plus those their ID token claimed at sign-in.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    admin: bool,
    /// The strongest role per organisation id.
    by_organisation: HashMap<String, Role>,
}

impl Roles {
    pub fn load(conn: &mut DbConn, user_id: &str, claimed: &[SessionRole]) -> Result<Self> {
        let assigned: Vec<(String, Option<String>)> = role_assignments::table
            .filter(role_assignments::user_id.eq(user_id))
            .select((role_assignments::role, role_assignments::organisation_id))
            .load(conn)?;
        let mut roles = Self::default();
        for (role, organisation_id) in assigned {
            let role: Role = role.parse().map_err(Error::Internal)?;
            match organisation_id {
                None if role == Role::Admin => roles.admin = true,
                Some(organisation_id) => roles.add(organisation_id, role),
                None => {}
            }
        }
        for claimed in claimed {
            roles.add(claimed.organisation_id.clone(), claimed.role);
        }
        Ok(roles)
    }

    fn add(&mut self, organisation_id: String, role: Role) {
        let strongest = match self.by_organisation.get(&organisation_id) {
            Some(Role::CredentialManager) => Role::CredentialManager,
            _ => role,
        };
        self.by_organisation.insert(organisation_id, strongest);
    }

    /// Whether the person may use the portal at all.
    pub fn has_any_role(&self) -> bool {
        self.admin || !self.by_organisation.is_empty()
    }
}

/// The signed-in person and what they may do; handlers that take it answer 401 to anybody
/// without a live session.
#[derive(Debug, Clone)]
pub struct Access {
    pub user: User,
    pub session: Session,
    roles: Roles,
}

impl Access {
    /// Who the audit trail names for this person's changes.
    pub fn actor(&self) -> Actor {
        Actor::User {
            id: self.user.id.clone(),
            email: self
                .user
                .email
                .clone()
                .unwrap_or_else(|| self.user.id.clone()),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.roles.admin
    }

    /// Platform administration: organisations, APIs, applications, people.
    pub fn require_admin(&self) -> Result<()> {
        if self.roles.admin {
            return Ok(());
        }
        Err(Error::Forbidden(
            "Only platform admins may do this.".to_owned(),
        ))
    }

    /// The person's role in the organisation; admins act as admin everywhere.
    pub fn role_in(&self, organisation_id: &str) -> Option<Role> {
        if self.roles.admin {
            return Some(Role::Admin);
        }
        self.roles.by_organisation.get(organisation_id).copied()
    }

    /// Seeing an organisation's applications, secrets and audit events. A contact of another
    /// organisation gets `missing`: the same answer as for something that does not exist.
    pub fn require_view(
        &self,
        organisation_id: &str,
        missing: impl FnOnce() -> Error,
    ) -> Result<()> {
        match self.role_in(organisation_id) {
            Some(_) => Ok(()),
            None => Err(missing()),
        }
    }

    /// Creating and deleting an organisation's client secrets. Check [`Access::require_view`]
    /// first, so a non-member gets the resource's own "not found".
    pub fn require_manage_secrets(&self, organisation_id: &str) -> Result<()> {
        match self.role_in(organisation_id) {
            Some(Role::Admin | Role::CredentialManager) => Ok(()),
            Some(Role::Viewer) => Err(Error::Forbidden(
                "Viewers cannot create or delete secrets. Ask a credential manager of your \
                 organisation."
                    .to_owned(),
            )),
            None => Err(Error::NotFound("There is nothing here.".to_owned())),
        }
    }

    /// The organisations whose data the person may see; `None` means all (admins).
    pub fn visible_organisations(&self) -> Option<Vec<String>> {
        if self.roles.admin {
            return None;
        }
        Some(self.roles.by_organisation.keys().cloned().collect())
    }
}

/// Authentication (the session) first, then the person's roles, fresh on every request so
/// a revoked role takes effect at once.
impl FromRequest for Access {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let session = Session::from_request(req, payload);
        let db = req.app_data::<web::Data<Database>>().cloned();
        Box::pin(async move {
            let session = session.await?;
            let db = db.ok_or_else(|| Error::Internal("no database configured".to_owned()))?;
            db.run(move |conn| {
                let (email, name) = users::table
                    .find(&session.user_id)
                    .select((users::email, users::display_name))
                    .first::<(Option<String>, Option<String>)>(conn)?;
                let roles = Roles::load(conn, &session.user_id, &session.claimed_roles)?;
                let user = User {
                    id: session.user_id.clone(),
                    email,
                    name,
                };
                if !roles.has_any_role() {
                    return Err(Error::Forbidden(
                        "You no longer have a role in Clavis. Ask a platform admin for access."
                            .to_owned(),
                    ));
                }
                Ok(Access {
                    user,
                    session,
                    roles,
                })
            })
            .await
        })
    }
}

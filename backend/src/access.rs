//! Authorization, in one place: who is asking, and what they may see and change.
//!
//! - [`Access`]: the signed-in person (authenticated by their [`Session`]) and their roles,
//!   fresh on every request. A handler that takes it answers 401 to anybody without a session.
//! - [`Admin`]: an [`Access`] proven to be a platform admin. An admin-only handler takes it,
//!   so it cannot run, or even compile, without the check; others get 403.
//! - Contacts see their own organisations only, and only credential managers (and admins)
//!   change secrets ([`Role::may_manage_secrets`], shared with the portal). To a contact,
//!   another organisation's resource is indistinguishable from a missing one: both get the
//!   resource's one [`not_found`] answer.
//! - [`Actor`]: who the audit trail names for a change.

use actix_web::{FromRequest, HttpRequest, web};
use clavis_shared::dto::{Application, Role};
use clavis_shared::validate;
use diesel::prelude::*;
use futures_util::future::LocalBoxFuture;
use std::collections::HashMap;

use crate::db::{Database, DbConn, schema::role_assignments, schema::users};
use crate::error::{Error, Result};
use crate::session::{Session, SessionRole};

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An operator at the `clavis` command line, named by their OS account.
    Cli { os_user: String },
    /// A person signed in to the portal.
    User { id: String, email: String },
    /// An API client authenticating with its credentials.
    Client { client_id: String },
    /// Clavis itself (scheduled jobs).
    System,
}

impl Actor {
    /// The operator running this process's CLI command, as `--actor` (or `CLAVIS_ACTOR`)
    /// names them, for operators who act through a shared service account; otherwise the
    /// operating-system account running the process, from the password database, so it is
    /// known under cron or systemd too, where `$USER` is unset.
    ///
    /// # Errors
    /// A validation error on `actor` for a name that is empty, longer than 64 characters or
    /// holds a control character.
    pub fn cli(named: Option<&str>) -> Result<Self> {
        let os_user = match named {
            Some(name) => validate::actor_name(name)?,
            None => whoami::username(),
        };
        Ok(Self::Cli { os_user })
    }

    /// The kind of actor, as the audit trail stores it (`actor_kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Cli { .. } => "cli",
            Self::User { .. } => "user",
            Self::Client { .. } => "client",
            Self::System => "system",
        }
    }

    /// How the actor is shown to people, e.g. in "created by".
    pub fn label(&self) -> String {
        match self {
            Self::Cli { os_user } => format!("cli:{os_user}"),
            Self::User { email, .. } => email.clone(),
            Self::Client { client_id } => client_id.clone(),
            Self::System => "clavis".to_owned(),
        }
    }
}

/// A person as the portal knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

/// The one answer for a resource that is missing or that the person may not see, per kind of
/// resource, so that the two can never be told apart by their wording.
pub mod not_found {
    use crate::error::Error;

    pub fn organisation(id: &str) -> Error {
        Error::NotFound(format!("No organisation has the id \"{id}\"."))
    }

    pub fn application(client_id: &str) -> Error {
        Error::NotFound(format!(
            "No application has the client_id \"{}\".",
            client_id.trim()
        ))
    }

    pub fn api(code: &str) -> Error {
        Error::NotFound(format!("No API has the code \"{}\".", code.trim()))
    }

    pub fn secret(client_id: &str, secret_id: &str) -> Error {
        Error::NotFound(format!(
            "Application {client_id} has no secret with the id \"{}\".",
            secret_id.trim()
        ))
    }

    pub fn client_key(client_id: &str, key_id: &str) -> Error {
        Error::NotFound(format!(
            "Application {client_id} has no public key or certificate with the id \"{}\".",
            key_id.trim()
        ))
    }

    pub fn role_assignment(id: &str) -> Error {
        Error::NotFound(format!("No role assignment has the id \"{}\".", id.trim()))
    }

    /// A change to the secrets of an organisation the person cannot see: they learn nothing
    /// about what it holds.
    pub fn anything() -> Error {
        Error::NotFound("There is nothing here.".to_owned())
    }
}

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

    /// The person's role in the organisation; admins act as admin everywhere.
    pub fn role_in(&self, organisation_id: &str) -> Option<Role> {
        if self.roles.admin {
            return Some(Role::Admin);
        }
        self.roles.by_organisation.get(organisation_id).copied()
    }

    /// Seeing an organisation, and its applications, secrets and audit events. A contact of
    /// another organisation gets [`not_found::organisation`]: the answer for one that does not
    /// exist.
    pub fn require_view_organisation(&self, organisation_id: &str) -> Result<()> {
        match self.role_in(organisation_id) {
            Some(_) => Ok(()),
            None => Err(not_found::organisation(organisation_id)),
        }
    }

    /// `found`, the application asked for as `client_id`, if the person may see it; a contact
    /// of another organisation gets [`not_found::application`] for `client_id` as it was
    /// written, word for word the answer for one that does not exist.
    pub fn visible_application(&self, client_id: &str, found: Application) -> Result<Application> {
        match self.role_in(&found.organisation_id) {
            Some(_) => Ok(found),
            None => Err(not_found::application(client_id)),
        }
    }

    /// Creating and deleting an organisation's client secrets. Check visibility first
    /// ([`Access::visible_application`]), so a non-member gets the resource's own "not found".
    pub fn require_manage_secrets(&self, organisation_id: &str) -> Result<()> {
        match self.role_in(organisation_id) {
            Some(role) if role.may_manage_secrets() => Ok(()),
            Some(_) => Err(Error::Forbidden(
                "Viewers cannot create or delete secrets. Ask a credential manager of your \
                 organisation."
                    .to_owned(),
            )),
            None => Err(not_found::anything()),
        }
    }

    /// Changes only an organisation's credential managers (and admins) may make, such as its
    /// reminder mailbox; `what` completes "Only credential managers of the organisation may …".
    /// A viewer gets 403 saying so; a non-member [`not_found::organisation`].
    pub fn require_credential_manager(&self, organisation_id: &str, what: &str) -> Result<()> {
        match self.role_in(organisation_id) {
            Some(role) if role.may_manage_secrets() => Ok(()),
            Some(_) => Err(Error::Forbidden(format!(
                "Only credential managers of the organisation may {what}."
            ))),
            None => Err(not_found::organisation(organisation_id)),
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

/// A platform admin: organisations, APIs, applications, people. Handlers that need one take
/// this instead of [`Access`]; anybody else gets 403 before the handler runs.
#[derive(Debug, Clone)]
pub struct Admin(Access);

impl std::ops::Deref for Admin {
    type Target = Access;

    fn deref(&self) -> &Access {
        &self.0
    }
}

impl FromRequest for Admin {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let access = Access::from_request(req, payload);
        Box::pin(async move {
            let access = access.await?;
            if !access.is_admin() {
                return Err(Error::Forbidden(
                    "Only platform admins may do this.".to_owned(),
                ));
            }
            Ok(Self(access))
        })
    }
}

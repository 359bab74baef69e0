//! The demo world of `fixtures/demo-world.json`, which the integration and browser tests
//! start from too, and the local provider's logins of `e2e/oidc/users.fixture.json`: what
//! `cargo xtask demo` seeds through the `clavis` CLI and shows in its guide.

use clavis_shared::dto::Role;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use std::path::Path;

/// Where the demo world is, from the repository root.
const WORLD_FILE: &str = "fixtures/demo-world.json";
/// The people the local OpenID Connect provider signs in, from the repository root.
const LOGINS_FILE: &str = "e2e/oidc/users.fixture.json";

/// Organisations, APIs, applications and people's roles, each created in this order (an
/// application names its organisation and API, a role its organisation).
#[derive(Deserialize)]
pub struct DemoWorld {
    organisations: Vec<Organisation>,
    apis: Vec<Api>,
    applications: Vec<Application>,
    people: Vec<Person>,
}

/// `clavis org create`.
#[derive(Deserialize)]
struct Organisation {
    name: String,
    /// ISO 3166-1 alpha-2.
    country: String,
    #[serde(default)]
    sandbox: bool,
}

/// `clavis api create`.
#[derive(Deserialize)]
struct Api {
    code: String,
    name: String,
    audience: String,
    /// Space-separated, as in OAuth's `scope` parameter.
    scopes: String,
}

/// `clavis app create`: an application of `organisation` (its name) calling `api` (its code).
#[derive(Deserialize)]
struct Application {
    organisation: String,
    api: String,
}

/// `clavis user grant`: `role`, within `organisation` (its name) unless it is admin.
#[derive(Deserialize)]
struct Person {
    email: String,
    role: Role,
    organisation: Option<String>,
}

/// A person the local provider signs in. The password is a made-up test fixture, printed in
/// the demo guide on purpose; the TOTP secret is only checked for presence, never kept.
#[derive(Deserialize)]
pub struct Login {
    email: String,
    password: String,
    totp_secret: Option<IgnoredAny>,
}

impl DemoWorld {
    /// Reads `fixtures/demo-world.json` under `root`.
    pub fn load(root: &Path) -> Result<Self, String> {
        read_json(&root.join(WORLD_FILE))
    }

    /// The `clavis` arguments that create the world, in order.
    pub fn cli_commands(&self) -> Vec<Vec<String>> {
        let organisations = self.organisations.iter().map(|organisation| {
            let mut args = args(&[
                "org",
                "create",
                "--name",
                &organisation.name,
                "--country",
                &organisation.country,
            ]);
            if organisation.sandbox {
                args.push("--sandbox".to_owned());
            }
            args
        });
        let apis = self.apis.iter().map(|api| {
            args(&[
                "api",
                "create",
                "--code",
                &api.code,
                "--name",
                &api.name,
                "--audience",
                &api.audience,
                "--scopes",
                &api.scopes,
            ])
        });
        let applications = self.applications.iter().map(|application| {
            args(&[
                "app",
                "create",
                "--org",
                &application.organisation,
                "--api",
                &application.api,
            ])
        });
        let grants = self.people.iter().map(|person| {
            let mut args = args(&[
                "user",
                "grant",
                "--email",
                &person.email,
                "--role",
                person.role.as_str(),
            ]);
            if let Some(organisation) = &person.organisation {
                args.extend(["--org".to_owned(), organisation.clone()]);
            }
            args
        });
        organisations
            .chain(apis)
            .chain(applications)
            .chain(grants)
            .collect()
    }

    /// The organisation of the first application: the one the demo gives a client secret.
    pub fn first_application_organisation(&self) -> Option<&str> {
        self.applications
            .first()
            .map(|application| application.organisation.as_str())
    }

    /// The guide's table of logins: e-mail, password, and what the person may do (or that the
    /// sign-in is refused, for a login without a second factor).
    pub fn login_table(&self, logins: &[Login]) -> String {
        logins
            .iter()
            .map(|login| {
                let what = if login.totp_secret.is_none() {
                    "no second factor: refused".to_owned()
                } else {
                    self.role_text(&login.email)
                };
                format!("      {:<24}{:<24}{what}\n", login.email, login.password)
            })
            .collect()
    }

    fn role_text(&self, email: &str) -> String {
        let Some(person) = self.people.iter().find(|person| person.email == email) else {
            return "no role".to_owned();
        };
        let organisation = person.organisation.as_deref().unwrap_or_default();
        match person.role {
            Role::Admin => "platform admin".to_owned(),
            Role::CredentialManager => format!("credential manager of {organisation}"),
            Role::Viewer => format!("viewer of {organisation}"),
        }
    }
}

/// The logins of `e2e/oidc/users.fixture.json` under `root`, in its order.
pub fn load_logins(root: &Path) -> Result<Vec<Login>, String> {
    #[derive(Deserialize)]
    struct ProviderFixture {
        users: Vec<Login>,
    }
    read_json::<ProviderFixture>(&root.join(LOGINS_FILE)).map(|fixture| fixture.users)
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|&item| item.to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }

    #[test]
    fn the_demo_world_is_created_in_dependency_order() {
        let world = DemoWorld::load(root()).unwrap();
        let commands: Vec<String> = world
            .cli_commands()
            .iter()
            .map(|args| args.join(" "))
            .collect();
        assert_eq!(
            commands,
            [
                "org create --name Acme --country NL",
                "org create --name Beta --country BE",
                "org create --name Dummy Partner --country NL --sandbox",
                "api create --code SMC --name Ship Manifests --audience https://api.example.org/smc --scopes manifest.read manifest.write",
                "app create --org Acme --api SMC",
                "app create --org Beta --api SMC",
                "app create --org Dummy Partner --api SMC",
                "user grant --email ada.admin@clavis.test --role admin",
                "user grant --email mia.manager@acme.test --role credential_manager --org Acme",
                "user grant --email ben.manager@beta.test --role credential_manager --org Beta",
                "user grant --email vic.viewer@acme.test --role viewer --org Acme",
                "user grant --email nora.nomfa@acme.test --role viewer --org Acme",
            ]
        );
        assert_eq!(world.first_application_organisation(), Some("Acme"));
    }

    #[test]
    fn the_guide_lists_every_login_with_its_role() {
        let world = DemoWorld::load(root()).unwrap();
        let logins = load_logins(root()).unwrap();
        assert_eq!(
            world.login_table(&logins),
            "      ada.admin@clavis.test   fixture-password-ada    platform admin
      mia.manager@acme.test   fixture-password-mia    credential manager of Acme
      ben.manager@beta.test   fixture-password-ben    credential manager of Beta
      vic.viewer@acme.test    fixture-password-vic    viewer of Acme
      nora.nomfa@acme.test    fixture-password-nora   no second factor: refused
"
        );
    }
}

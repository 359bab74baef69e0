//! The `clavis` binary itself, run as an operator would.

use serde_json::Value;
use std::process::{Command, Output};

use crate::on_both_databases;
use crate::smtp_sink::SmtpSink;
use crate::support::{TestDb, database_contains};

on_both_databases!(
    operator_bootstraps_an_organisation_to_a_working_secret,
    wrong_input_is_one_line_nonzero_and_writes_nothing,
    people_are_granted_roles_from_the_command_line,
    the_last_admin_cannot_be_revoked_from_the_command_line,
    the_operator_is_recorded_by_account_or_by_actor,
    applications_are_shown_disabled_and_enabled,
    client_authentication_is_shown_and_changed_option_by_option,
    reminders_are_previewed_and_sent_from_the_command_line,
    resource_servers_and_the_kill_switch_from_the_command_line,
    apis_choose_their_signing_algorithm_and_keys_rotate_per_algorithm,
);

pub(crate) fn clavis(db: &TestDb, args: &[&str]) -> Output {
    clavis_with(db, &[], args)
}

/// Runs `clavis` with extra environment variables (settings).
pub(crate) fn clavis_with(db: &TestDb, env: &[(&str, String)], args: &[&str]) -> Output {
    let workdir = tempfile::tempdir().unwrap();
    command(db, workdir.path())
        .envs(env.iter().map(|(key, value)| (key, value)))
        .args(args)
        .output()
        .expect("run clavis")
}

/// `program` (a `clavis` binary) in `workdir`, with none of the environment's `CLAVIS_*`
/// settings: only those the test gives it.
pub(crate) fn without_settings(program: &std::path::Path, workdir: &std::path::Path) -> Command {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars() {
        if key.starts_with("CLAVIS_") {
            command.env_remove(key);
        }
    }
    command.current_dir(workdir).env("CLAVIS_LOG_LEVEL", "warn");
    command
}

/// `clavis` on the test's database, in `workdir`, with no setting but the test's own.
fn command(db: &TestDb, workdir: &std::path::Path) -> Command {
    let mut command = without_settings(env!("CARGO_BIN_EXE_clavis").as_ref(), workdir);
    command
        .env("CLAVIS_DATABASE_URL", &db.url)
        // Every run shares the master key, as an operator's runs share their config.
        .env(
            "CLAVIS_MASTER_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        );
    command
}

/// Runs a command that must succeed and returns its JSON output.
fn json(db: &TestDb, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let output = clavis(db, &all);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

fn bootstrap(db: &TestDb) -> String {
    bootstrap_with(|args| json(db, args))
}

/// Acme, the SMC API and Acme's application for it, made by `json` (a `clavis` command that
/// must succeed, as JSON); returns the application's client_id.
pub(crate) fn bootstrap_with(json: impl Fn(&[&str]) -> Value) -> String {
    json(&["org", "create", "--name", "Acme", "--country", "NL"]);
    json(&[
        "api",
        "create",
        "--code",
        "SMC",
        "--name",
        "Ship Manifests",
        "--audience",
        "https://api.example.org/smc",
        "--scopes",
        "manifest.read manifest.write",
    ]);
    let app = json(&["app", "create", "--org", "Acme", "--api", "SMC"]);
    assert_eq!(app["name"], "Partner-NL-Acme-SMC");
    app["client_id"].as_str().unwrap().to_owned()
}

fn operator_bootstraps_an_organisation_to_a_working_secret(db: &TestDb) {
    let orgs = json(db, &["org", "list"]);
    assert_eq!(orgs, serde_json::json!([]));
    let client_id = bootstrap(db);

    let created = json(
        db,
        &[
            "secret",
            "create",
            "--app",
            &client_id,
            "--name",
            "deploy",
            "--expires",
            "90d",
        ],
    );
    let value = created["value"].as_str().unwrap().to_owned();
    let secret_id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["hint"], &value[..3]);
    assert_eq!(created["status"], "active");

    assert!(
        !database_contains(db, &value),
        "the printed value is stored nowhere"
    );
    let phc: clavis::secrets::hash::SecretHash = {
        use clavis::db::{DbConn, schema::client_secrets};
        use diesel::prelude::*;
        let mut conn = db.conn();
        let conn: &mut DbConn = &mut conn;
        client_secrets::table
            .find(&secret_id)
            .select(client_secrets::secret_hash)
            .first(conn)
            .unwrap()
    };
    assert!(
        clavis::secrets::hash::verify(&value, &phc),
        "only its argon2id hash is stored"
    );

    let listed = json(db, &["secret", "list", "--app", &client_id]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["hint"], &value[..3]);
    assert!(
        listed[0].get("value").is_none(),
        "a listing never carries the value"
    );
    assert!(
        !String::from_utf8(clavis(db, &["secret", "list", "--app", &client_id]).stdout)
            .unwrap()
            .contains(&value)
    );

    json(
        db,
        &["secret", "delete", "--app", &client_id, "--id", &secret_id],
    );
    assert_eq!(
        json(db, &["secret", "list", "--app", &client_id]),
        serde_json::json!([])
    );
}

fn the_last_admin_cannot_be_revoked_from_the_command_line(db: &TestDb) {
    let granted = json(
        db,
        &[
            "user",
            "grant",
            "--email",
            "ada@example.org",
            "--role",
            "admin",
        ],
    );
    let id = granted[0]["id"].as_str().unwrap();
    assert_refused(
        db,
        &["user", "revoke", "--id", id],
        "This is the last admin role: removing it would leave nobody who can manage Clavis. \
         Grant the admin role to someone else first.",
    );
    assert_eq!(json(db, &["user", "list"]).as_array().unwrap().len(), 1);
}

/// `created_by` names the operator: `--actor` when given, otherwise the account running the
/// command, found without `$USER` (as under cron or systemd).
fn the_operator_is_recorded_by_account_or_by_actor(db: &TestDb) {
    bootstrap(db);
    let account = whoami::username();
    let workdir = tempfile::tempdir().unwrap();
    let output = command(db, workdir.path())
        .env_remove("USER")
        .env_remove("LOGNAME")
        .args([
            "app",
            "create",
            "--org",
            "Acme",
            "--api",
            "SMC",
            "--name",
            "by-account",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let by_account: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(by_account["created_by"], format!("cli:{account}"));
    let named = json(
        db,
        &[
            "app",
            "create",
            "--org",
            "Acme",
            "--api",
            "SMC",
            "--name",
            "named",
            "--actor",
            " Ops Team ",
        ],
    );
    assert_eq!(named["created_by"], "cli:Ops Team");
    // The same from the environment, as a deploy job sets it (the settings ignore it).
    let output = clavis_with(
        db,
        &[("CLAVIS_ACTOR", "deploy-job".to_owned())],
        &[
            "app", "create", "--org", "Acme", "--api", "SMC", "--name", "by-env", "--json",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let by_env: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(by_env["created_by"], "cli:deploy-job");
    assert_refused(
        db,
        &["org", "list", "--actor", " "],
        "The actor name must not be empty.",
    );
}

fn assert_refused(db: &TestDb, args: &[&str], expected: &str) {
    let output = clavis(db, args);
    assert!(!output.status.success(), "{args:?} should fail");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(output.stdout.is_empty(), "nothing on stdout for {args:?}");
}

fn wrong_input_is_one_line_nonzero_and_writes_nothing(db: &TestDb) {
    let client_id = bootstrap(db);
    let before = db.count("audit_events");
    assert_refused(
        db,
        &["org", "create", "--name", "Beta", "--country", "XX"],
        "not an ISO 3166-1 alpha-2 country code",
    );
    assert_refused(
        db,
        &["org", "create", "--name", "acme", "--country", "NL"],
        "already exists",
    );
    assert_refused(
        db,
        &["app", "create", "--org", "Nobody", "--api", "SMC"],
        "No organisation",
    );
    assert_refused(
        db,
        &[
            "app",
            "create",
            "--org",
            "Acme",
            "--api",
            "SMC",
            "--name",
            "Partner-BE-Acme-SMC",
        ],
        "Suggested name: Partner-NL-Acme-SMC",
    );
    assert_refused(
        db,
        &[
            "secret",
            "create",
            "--app",
            &client_id,
            "--name",
            "x",
            "--expires",
            "2099-01-01",
        ],
        "at most one year ahead",
    );
    assert_refused(
        db,
        &[
            "secret",
            "create",
            "--app",
            &client_id,
            "--name",
            "x",
            "--expires",
            "soon",
        ],
        "is not an expiry",
    );
    assert_refused(
        db,
        &[
            "secret",
            "create",
            "--app",
            &client_id,
            "--name",
            "",
            "--expires",
            "30d",
        ],
        "must not be empty",
    );
    assert_refused(
        db,
        &[
            "user",
            "grant",
            "--email",
            "a@example.org",
            "--role",
            "viewer",
        ],
        "name the organisation",
    );
    assert_eq!(db.count("audit_events"), before);
    assert_eq!(db.count("organisations"), 1);
    assert_eq!(db.count("applications"), 1);
    assert_eq!(db.count("client_secrets"), 0);
    assert_eq!(db.count("users"), 0);

    let usage = clavis(db, &["secret", "create", "--app", &client_id]);
    assert_eq!(
        usage.status.code(),
        Some(2),
        "clap reports a missing argument as a usage error"
    );
}

fn people_are_granted_roles_from_the_command_line(db: &TestDb) {
    bootstrap(db);
    let granted = json(
        db,
        &[
            "user",
            "grant",
            "--email",
            "Ann@Example.org",
            "--role",
            "credential_manager",
            "--org",
            "Acme",
        ],
    );
    assert_eq!(granted[0]["email"], "ann@example.org");
    assert_eq!(granted[0]["role"], "credential_manager");
    json(
        db,
        &["user", "grant", "--subject", "admin-sub", "--role", "admin"],
    );
    let listed = json(db, &["user", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let id = granted[0]["id"].as_str().unwrap();
    json(db, &["user", "revoke", "--id", id]);
    assert_eq!(json(db, &["user", "list"]).as_array().unwrap().len(), 1);
}

fn applications_are_shown_disabled_and_enabled(db: &TestDb) {
    let client_id = bootstrap(db);
    assert_eq!(json(db, &["app", "disable", &client_id])["enabled"], false);
    assert_eq!(json(db, &["app", "show", &client_id])["enabled"], false);
    assert_eq!(json(db, &["app", "enable", &client_id])["enabled"], true);
    let listed = json(db, &["app", "list", "--org", "acme"]);
    assert_eq!(listed[0]["client_id"], client_id.as_str());
    assert_eq!(
        json(
            db,
            &["app", "suggest-name", "--org", "Acme", "--api", "smc"]
        ),
        "Partner-NL-Acme-SMC"
    );
    let shown = clavis(db, &["app", "show", &client_id]);
    let text = String::from_utf8(shown.stdout).unwrap();
    assert!(
        text.contains(&format!("client_id:       {client_id}")),
        "{text}"
    );
}

fn client_authentication_is_shown_and_changed_option_by_option(db: &TestDb) {
    let client_id = bootstrap(db);
    let auth = |extra: &[&str]| {
        let mut args = vec!["app", "auth", "--app", client_id.as_str()];
        args.extend_from_slice(extra);
        json(db, &args)
    };
    let shown = auth(&[]);
    assert_eq!(shown["auth_methods"], Value::Null);
    assert_eq!(shown["mutual_tls"], false);

    let changed = auth(&[
        "--methods",
        "tls_client_auth,client_secret",
        "--subject-dn",
        "CN=billing,O=Acme",
    ]);
    assert_eq!(
        changed["auth_methods"],
        serde_json::json!(["client_secret", "tls_client_auth"])
    );
    assert_eq!(
        changed["tls_client_auth"]["field"],
        "tls_client_auth_subject_dn"
    );
    // Options left out keep their setting.
    let renamed = auth(&["--subject-dn", "CN=billing-2,O=Acme"]);
    assert_eq!(renamed["tls_client_auth"]["value"], "CN=billing-2,O=Acme");
    assert_eq!(renamed["auth_methods"], changed["auth_methods"]);
    let text = String::from_utf8(clavis(db, &["app", "auth", "--app", &client_id]).stdout).unwrap();
    assert!(
        text.contains("Methods accepted: client_secret, tls_client_auth"),
        "{text}"
    );
    assert!(
        text.contains("no client certificate reaches this Clavis"),
        "{text}"
    );

    let before = db.count("audit_events");
    for (args, expected) in [
        (&["--methods", "password"][..], "is not a method"),
        (&["--no-subject"][..], "subject DN or alternative name"),
        (&["--subject-dn", "billing"][..], "not a subject DN"),
        (&["--san-ip", "10.0.0"][..], "IP address"),
        (
            &["--require-bound-tokens", "true"][..],
            "no client certificate reaches this Clavis",
        ),
        (
            &["--methods", "client_secret", "--any-method"][..],
            "cannot be used with",
        ),
    ] {
        let mut all = vec!["app", "auth", "--app", client_id.as_str()];
        all.extend_from_slice(args);
        let output = clavis(db, &all);
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert_eq!(db.count("audit_events"), before, "refusals write nothing");
    assert_eq!(
        auth(&["--any-method", "--no-subject"])["auth_methods"],
        Value::Null
    );
}

#[test]
fn human_secret_output_shows_the_value_once_with_a_warning() {
    let db = TestDb::sqlite();
    let client_id = bootstrap(&db);
    let output = clavis(
        &db,
        &[
            "secret",
            "create",
            "--app",
            &client_id,
            "--name",
            "ops",
            "--expires",
            "30d",
        ],
    );
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("shown only this once"), "{text}");
    let value_line = text.lines().last().unwrap();
    assert!(value_line.contains("_clv1_"), "{text}");
    assert_eq!(text.matches(value_line).count(), 1);
}

#[test]
fn bad_configuration_names_the_setting() {
    let db = TestDb::sqlite();
    let output = Command::new(env!("CARGO_BIN_EXE_clavis"))
        .env("CLAVIS_DATABASE_URL", &db.url)
        .env("CLAVIS_LISTEN", "not-an-address")
        .args(["org", "list"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("CLAVIS_LISTEN"), "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_clavis"))
        .env("CLAVIS_DATABASE_URL", "mysql://nope")
        .args(["migrate"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("CLAVIS_DATABASE_URL")
    );
}

fn reminders_are_previewed_and_sent_from_the_command_line(db: &TestDb) {
    let client_id = bootstrap(db);
    let org = json(
        db,
        &[
            "org",
            "update",
            "--org",
            "acme",
            "--notification-email",
            "Team@Acme.test",
        ],
    );
    assert_eq!(org[0]["notification_email"], "team@acme.test");
    json(
        db,
        &[
            "user",
            "grant",
            "--email",
            "mia@acme.test",
            "--role",
            "credential_manager",
            "--org",
            "Acme",
        ],
    );
    json(
        db,
        &[
            "secret",
            "create",
            "--app",
            &client_id,
            "--name",
            "deploy",
            "--expires",
            "30d",
        ],
    );
    let in_ten_days = (chrono::Utc::now() + chrono::Duration::days(10)).to_rfc3339();
    let preview = clavis(
        db,
        &["notify", "run-once", "--dry-run", "--now", &in_ten_days],
    );
    let printed = String::from_utf8(preview.stdout).unwrap();
    assert!(preview.status.success(), "{printed}");
    for needle in [
        "mia@acme.test",
        "team@acme.test",
        "Partner-NL-Acme-SMC",
        "deploy",
        "d21",
        "new",
        "Dry run",
    ] {
        assert!(printed.contains(needle), "{needle} in {printed}");
    }
    assert_eq!(
        db.count("reminder_deliveries"),
        0,
        "a dry run records nothing"
    );

    assert_refused(db, &["notify", "run-once"], "CLAVIS_SMTP_HOST");
    assert_refused(
        db,
        &["notify", "run-once", "--now", "next week"],
        "RFC 3339",
    );

    let sink = SmtpSink::start();
    let smtp = [
        ("CLAVIS_SMTP_HOST", "127.0.0.1".to_owned()),
        ("CLAVIS_SMTP_PORT", sink.port().to_string()),
        ("CLAVIS_SMTP_TLS", "none".to_owned()),
        ("CLAVIS_SMTP_USERNAME", "clavis-relay".to_owned()),
        ("CLAVIS_SMTP_PASSWORD", "relay-password-fixture".to_owned()),
        ("CLAVIS_SMTP_FROM", "Clavis <clavis@example.org>".to_owned()),
    ];
    let run = || {
        let output = clavis_with(
            db,
            &smtp,
            &["notify", "run-once", "--json", "--now", &in_ten_days],
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let report = run();
    let outcomes: Vec<&str> = report["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["sent", "sent"]);
    let mails = sink.mails();
    assert_eq!(mails.len(), 2);
    assert!(
        mails
            .iter()
            .all(|m| m.user.as_deref() == Some("clavis-relay"))
    );
    assert_eq!(
        run()["attempts"],
        serde_json::json!([]),
        "a second run sends nothing"
    );
    assert_eq!(sink.mails().len(), 2);
    let failing = json(db, &["notify", "failing"]);
    assert_eq!(failing, serde_json::json!([]));
}

fn resource_servers_and_the_kill_switch_from_the_command_line(db: &TestDb) {
    let client_id = bootstrap(db);
    let gateway = json(
        db,
        &[
            "app", "create", "--org", "Acme", "--api", "SMC", "--name", "Gateway",
        ],
    )["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let both = format!("{gateway}, {}", client_id.to_uppercase());
    let updated = json(
        db,
        &[
            "api",
            "update",
            "--code",
            "smc",
            "--resource-servers",
            &both,
        ],
    );
    let mut expected = vec![client_id.clone(), gateway.clone()];
    expected.sort();
    assert_eq!(updated[0]["resource_servers"], serde_json::json!(expected));
    assert_eq!(
        json(db, &["api", "list"])[0]["resource_servers"],
        serde_json::json!(expected)
    );
    let table = String::from_utf8(clavis(db, &["api", "list"]).stdout).unwrap();
    assert!(table.contains("RESOURCE SERVERS"), "{table}");

    let before = db.count("api_resource_servers");
    let audit_before = db.count("audit_events");
    let unknown = "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f";
    for (code, resource_servers, refusal) in [
        (
            "SMC",
            unknown,
            format!("No application has the client_id \"{unknown}\""),
        ),
        ("SMC", "gateway", "\"gateway\" is not a GUID".to_owned()),
        (
            "NOPE",
            gateway.as_str(),
            "No API has the code \"NOPE\"".to_owned(),
        ),
    ] {
        let args = [
            "api",
            "update",
            "--code",
            code,
            "--resource-servers",
            resource_servers,
        ];
        assert_refused(db, &args, &refusal);
    }
    assert_refused(
        db,
        &["app", "revoke-tokens", "--app", unknown],
        &format!("No application has the client_id \"{unknown}\""),
    );
    assert_eq!(db.count("api_resource_servers"), before, "nothing written");
    assert_eq!(db.count("audit_events"), audit_before, "nothing audited");

    let cleared = json(
        db,
        &["api", "update", "--code", "SMC", "--resource-servers", ""],
    );
    assert_eq!(cleared[0]["resource_servers"], serde_json::json!([]));

    assert!(json(db, &["app", "show", &client_id])["tokens_revoked_before"].is_null());
    let revoked = json(db, &["app", "revoke-tokens", "--app", &client_id]);
    let moment = revoked["tokens_revoked_before"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(moment).is_ok(),
        "{moment}"
    );
    assert_eq!(
        json(db, &["app", "show", &client_id])["tokens_revoked_before"],
        moment
    );
    let audited: i64 = {
        use clavis::db::{DbConn, schema::audit_events};
        use diesel::prelude::*;
        let mut conn = db.conn();
        let conn: &mut DbConn = &mut conn;
        audit_events::table
            .filter(audit_events::action.eq("application.revoke_tokens"))
            .filter(audit_events::actor_kind.eq("cli"))
            .count()
            .get_result(conn)
            .unwrap()
    };
    assert_eq!(audited, 1);
}

/// (algorithm, state) of every key `clavis keys …` lists.
fn key_states(listed: &Value) -> Vec<(String, String)> {
    let mut states: Vec<(String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|key| {
            (
                key["algorithm"].as_str().unwrap().to_owned(),
                key["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    states.sort();
    states
}

fn apis_choose_their_signing_algorithm_and_keys_rotate_per_algorithm(db: &TestDb) {
    bootstrap(db);
    let listed = json(db, &["api", "list"]);
    assert_eq!(listed[0]["signing_alg"], "ES256", "the configured default");
    let signing = |alg: &str| (alg.to_owned(), "signing".to_owned());
    let pending = |alg: &str| (alg.to_owned(), "published, not yet signing".to_owned());

    let created = json(
        db,
        &[
            "api",
            "create",
            "--code",
            "REG",
            "--name",
            "Registry",
            "--audience",
            "https://api.example.org/reg",
            "--signing-alg",
            "RS256",
        ],
    );
    assert_eq!(created[0]["signing_alg"], "RS256");
    assert_eq!(
        key_states(&json(db, &["keys", "list"])),
        [signing("ES256"), signing("RS256")],
        "the new algorithm's first key signs at once"
    );

    let before = db.count("audit_events");
    assert_refused(
        db,
        &[
            "api",
            "create",
            "--code",
            "BAD",
            "--name",
            "Bad",
            "--audience",
            "https://api.example.org/bad",
            "--signing-alg",
            "HS256",
        ],
        "\"HS256\" is not a signing algorithm: use ES256, RS256 or EdDSA.",
    );
    assert_refused(
        db,
        &["api", "update", "--code", "SMC", "--signing-alg", "es256"],
        "use ES256, RS256 or EdDSA",
    );
    assert_refused(
        db,
        &["api", "update", "--code", "NOPE", "--signing-alg", "RS256"],
        "No API has the code",
    );
    assert_refused(
        db,
        &["keys", "rotate", "--alg", "none"],
        "use ES256, RS256 or EdDSA",
    );
    assert_eq!(db.count("audit_events"), before, "refusals write nothing");
    assert_eq!(db.count("signing_keys"), 2);

    let rotated = json(db, &["keys", "rotate", "--alg", "RS256"]);
    assert_eq!(
        key_states(&rotated),
        [signing("ES256"), pending("RS256"), signing("RS256")]
    );
    let rotated = json(db, &["keys", "rotate"]);
    assert_eq!(
        key_states(&rotated),
        [
            pending("ES256"),
            signing("ES256"),
            pending("RS256"),
            pending("RS256"),
            signing("RS256"),
        ],
        "without --alg every algorithm in use rotates"
    );

    let updated = json(
        db,
        &["api", "update", "--code", "SMC", "--signing-alg", "EdDSA"],
    );
    assert_eq!(updated[0]["signing_alg"], "EdDSA");
    assert_eq!(
        updated[0]["scopes"],
        serde_json::json!(["manifest.read", "manifest.write"])
    );
    let listed = json(db, &["keys", "list"]);
    assert!(key_states(&listed).contains(&signing("EdDSA")));
    let table = clavis(db, &["api", "list"]);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains("SIGNING ALG") && table.contains("EdDSA"),
        "{table}"
    );
}

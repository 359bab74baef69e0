//! What commands print: aligned tables for people, or JSON for scripts.

use anyhow::Context;
use chrono::{DateTime, Utc};
use clavis_shared::client_auth::ClientAuthentication;
use clavis_shared::devices::{Device, DeviceCertificate};
use clavis_shared::dto::{
    Api, Application, ClientKeyInfo, ClientSecretInfo, FederatedCredentialInfo, NewClientSecret,
    Organisation, RoleAssignment, TrustedIssuerInfo,
};
use clavis_shared::portal::{FailingAddress, JwksUriSetting};
use serde::Serialize;

use crate::db::backup::Snapshot;
use crate::keys::{KeyInfo, SigningAlgorithm};
use crate::notify::{Mode, PassReport};

/// Prints results as aligned tables for people or JSON for scripts.
pub struct Output {
    json: bool,
}

impl Output {
    /// `json`: JSON for scripts (`--json`), else tables for people.
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    pub fn print_json<T: Serialize + ?Sized>(&self, value: &T) -> anyhow::Result<()> {
        println!(
            "{}",
            serde_json::to_string_pretty(value).context("cannot encode JSON")?
        );
        Ok(())
    }

    pub fn table<T: Serialize>(
        &self,
        items: &[T],
        headers: &[&str],
        row: impl Fn(&T) -> Vec<String>,
    ) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(items);
        }
        let rows: Vec<Vec<String>> = items.iter().map(row).collect();
        print!("{}", render_table(headers, &rows));
        Ok(())
    }

    pub fn line(&self, text: &str) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(text);
        }
        println!("{text}");
        Ok(())
    }

    pub fn migrated(&self, applied: &[String]) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(&serde_json::json!({ "applied": applied }));
        }
        match applied.len() {
            0 => println!("The database is up to date."),
            n => println!("Applied {n} migration(s): {}", applied.join(", ")),
        }
        Ok(())
    }

    pub fn backup(&self, written: &Snapshot) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(written);
        }
        println!(
            "Backed up to {} ({} bytes, schema {}). The master key is not in it: keep that \
             safe apart, a restore needs it.",
            written.path.display(),
            written.bytes,
            written.schema_version
        );
        Ok(())
    }

    pub fn restored(&self, written: &Snapshot) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(written);
        }
        println!(
            "Restored the database {} ({} bytes, schema {}). Start Clavis with the master key \
             of the instance that made the backup.",
            written.path.display(),
            written.bytes,
            written.schema_version
        );
        Ok(())
    }

    pub fn organisations(&self, items: &[Organisation]) -> anyhow::Result<()> {
        self.table(
            items,
            &[
                "ID",
                "NAME",
                "COUNTRY",
                "SANDBOX",
                "CREATED",
                "REMINDERS ALSO TO",
            ],
            |o| {
                vec![
                    o.id.clone(),
                    o.name.clone(),
                    o.country.clone(),
                    yes_no(o.sandbox),
                    when(o.created_at),
                    o.notification_email.clone().unwrap_or_default(),
                ]
            },
        )
    }

    pub fn apis(&self, items: &[Api]) -> anyhow::Result<()> {
        self.table(
            items,
            &[
                "CODE",
                "NAME",
                "AUDIENCE",
                "SCOPES",
                "RESOURCE SERVERS",
                "SIGNING ALG",
            ],
            |a| {
                vec![
                    a.code.clone(),
                    a.name.clone(),
                    a.audience.clone(),
                    a.scopes.join(" "),
                    a.resource_servers.join(","),
                    a.signing_alg
                        .map_or("default", SigningAlgorithm::as_str)
                        .to_owned(),
                ]
            },
        )
    }

    pub fn applications(&self, items: &[Application]) -> anyhow::Result<()> {
        self.table(
            items,
            &["CLIENT_ID", "NAME", "ENVIRONMENT", "ENABLED", "APIS"],
            |a| {
                vec![
                    a.client_id.clone(),
                    a.name.clone(),
                    a.environment.to_string(),
                    yes_no(a.enabled),
                    a.grants
                        .iter()
                        .map(|g| g.api_code.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                ]
            },
        )
    }

    pub fn application(&self, app: &Application) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(app);
        }
        println!("name:            {}", app.name);
        println!("client_id:       {}", app.client_id);
        println!("organisation:    {}", app.organisation_id);
        println!("environment:     {}", app.environment);
        println!("enabled:         {}", yes_no(app.enabled));
        println!("token lifetime:  {} s", app.token_lifetime_secs);
        if app.requires_device {
            println!("requires device: yes (X-Device-Authorization)");
        }
        if !app.description.is_empty() {
            println!("description:     {}", app.description);
        }
        for grant in &app.grants {
            println!(
                "api:             {} ({}) scopes: {}",
                grant.api_code,
                grant.audience,
                grant.scopes.join(" ")
            );
        }
        println!(
            "created:         {} by {}",
            when(app.created_at),
            app.created_by
        );
        if let Some(moment) = app.tokens_revoked_before {
            println!(
                "tokens revoked:  issued until {}",
                moment.format("%Y-%m-%d %H:%M:%S UTC")
            );
        }
        Ok(())
    }

    pub fn devices(&self, items: &[Device]) -> anyhow::Result<()> {
        self.table(
            items,
            &["DEVICE_ID", "NAME", "ENABLED", "ACTIVE SECRETS", "CREATED"],
            |d| {
                vec![
                    d.device_id.clone(),
                    d.name.clone(),
                    yes_no(d.enabled),
                    d.active_secrets.to_string(),
                    when(d.created_at),
                ]
            },
        )
    }

    pub fn device_certificates(&self, items: &[DeviceCertificate]) -> anyhow::Result<()> {
        self.table(
            items,
            &[
                "ID",
                "NAME",
                "SUBJECT",
                "THUMBPRINT",
                "EXPIRES",
                "LAST USED",
            ],
            |c| {
                vec![
                    c.id.clone(),
                    c.name.clone(),
                    c.subject.clone(),
                    c.certificate_sha256.clone(),
                    when(c.expires_at),
                    c.last_used_at.map_or_else(|| "never".to_owned(), when),
                ]
            },
        )
    }

    /// A secret just created: its row, then its value, the only time it is ever shown.
    pub fn new_secret(&self, created: &NewClientSecret) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(created);
        }
        self.secrets(std::slice::from_ref(&created.info))?;
        println!(
            "\nSecret (shown only this once, store it now):\n{}",
            created.value
        );
        Ok(())
    }

    pub fn secrets(&self, items: &[ClientSecretInfo]) -> anyhow::Result<()> {
        self.table(
            items,
            &[
                "ID",
                "NAME",
                "HINT",
                "CREATED",
                "EXPIRES",
                "LAST USED",
                "STATUS",
            ],
            |s| {
                vec![
                    s.id.clone(),
                    s.name.clone(),
                    format!("{}…", s.hint),
                    when(s.created_at),
                    when(s.expires_at),
                    s.last_used_at.map_or_else(|| "never".to_owned(), when),
                    s.status.as_str().to_owned(),
                ]
            },
        )
    }

    pub fn client_keys(&self, items: &[ClientKeyInfo]) -> anyhow::Result<()> {
        self.table(
            items,
            &[
                "ID",
                "NAME",
                "KIND",
                "TYPE",
                "KID",
                "THUMBPRINT",
                "EXPIRES",
                "LAST USED",
                "STATUS",
            ],
            |k| {
                vec![
                    k.id.clone(),
                    k.name.clone(),
                    k.kind.label().to_owned(),
                    k.key_type.clone(),
                    k.kid.clone(),
                    format!("{}…", k.thumbprint.chars().take(8).collect::<String>()),
                    when(k.expires_at),
                    k.last_used_at.map_or_else(|| "never".to_owned(), when),
                    k.status.as_str().to_owned(),
                ]
            },
        )
    }

    pub fn federated_credentials(&self, items: &[FederatedCredentialInfo]) -> anyhow::Result<()> {
        self.table(
            items,
            &["ID", "NAME", "ISSUER", "SUBJECT", "AUDIENCE", "LAST USED"],
            |f| {
                vec![
                    f.id.clone(),
                    f.name.clone(),
                    f.issuer.clone(),
                    f.subject.clone(),
                    f.audience.clone(),
                    f.last_used_at.map_or_else(|| "never".to_owned(), when),
                ]
            },
        )
    }

    pub fn issuers(&self, items: &[TrustedIssuerInfo]) -> anyhow::Result<()> {
        self.table(
            items,
            &["ID", "NAME", "ISSUER", "CREDENTIALS", "TRUSTED"],
            |i| {
                vec![
                    i.id.clone(),
                    i.name.clone(),
                    i.issuer.clone(),
                    i.credentials.to_string(),
                    when(i.created_at),
                ]
            },
        )
    }

    /// An application's jwks_uri after a change.
    pub fn jwks_uri(&self, setting: &JwksUriSetting) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(setting);
        }
        match &setting.jwks_uri {
            Some(url) => println!("jwks_uri: {url}"),
            None => println!("No jwks_uri: only registered keys are accepted."),
        }
        Ok(())
    }

    /// An application's client authentication settings, with what this Clavis can check.
    pub fn client_authentication(&self, described: &ClientAuthentication) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(described);
        }
        let settings = &described.settings;
        match &settings.auth_methods {
            Some(methods) => {
                let names: Vec<&str> = methods.iter().map(|method| method.as_str()).collect();
                println!("Methods accepted: {}", names.join(", "));
            }
            None => println!("Methods accepted: every method it has credentials for"),
        }
        match &settings.tls_client_auth {
            Some(subject) => println!(
                "tls_client_auth subject: {} {}",
                subject.field.as_str(),
                subject.value
            ),
            None => println!("tls_client_auth subject: none"),
        }
        println!(
            "Certificate-bound tokens: {}",
            if settings.require_bound_tokens {
                "required"
            } else {
                "not required"
            }
        );
        if !described.mutual_tls {
            println!(
                "Note: no client certificate reaches this Clavis (no TLS, no proxy sending Client-Cert): certificate methods and bound tokens cannot work."
            );
        } else if !described.tls_client_auth_ca && settings.tls_client_auth.is_some() {
            println!(
                "Note: no CA is configured for tls_client_auth (CLAVIS_MTLS_CA_FILE): CA-issued certificates are refused."
            );
        }
        Ok(())
    }

    /// A reminder pass: what was due (and to whom), then each attempt to send.
    pub fn reminders(&self, report: &PassReport, mode: Mode) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(report);
        }
        if report.due.is_empty() {
            println!("No reminders are due.");
        } else {
            println!("Reminders due:");
            self.table(
                &report.due,
                &["TO", "HELD BY", "CREDENTIAL", "STAGE", "EXPIRES", "STATE"],
                |d| {
                    vec![
                        d.recipient.clone(),
                        format!("{} {}", d.holder_kind, d.holder),
                        format!("{} {}", d.credential_kind.replace('_', " "), d.secret_name),
                        d.stage.clone(),
                        when(d.expires_at),
                        d.state.clone(),
                    ]
                },
            )?;
        }
        if mode == Mode::DryRun {
            println!("Dry run: nothing was recorded or sent.");
            return Ok(());
        }
        if report.attempts.is_empty() {
            println!("Nothing was waiting to be sent.");
            return Ok(());
        }
        println!("Sending:");
        self.table(
            &report.attempts,
            &["TO", "SECRET ID", "STAGE", "OUTCOME", "DETAIL"],
            |a| {
                vec![
                    a.recipient.clone(),
                    a.secret_id.clone(),
                    a.stage.clone(),
                    a.outcome.to_owned(),
                    a.detail.clone().unwrap_or_default(),
                ]
            },
        )
    }

    /// Addresses that expiry reminders keep failing to reach.
    pub fn failing_addresses(&self, items: &[FailingAddress]) -> anyhow::Result<()> {
        self.table(
            items,
            &[
                "ADDRESS",
                "ORGANISATION",
                "UNDELIVERED",
                "LAST TRY",
                "LAST ERROR",
            ],
            |f| {
                vec![
                    f.recipient.clone(),
                    f.organisation_name.clone(),
                    f.undelivered.to_string(),
                    when(f.last_attempt_at),
                    f.last_error.clone(),
                ]
            },
        )
    }

    pub fn keys(&self, items: &[KeyInfo]) -> anyhow::Result<()> {
        self.table(items, &["KID", "ALGORITHM", "SIGNS FROM", "STATE"], |k| {
            vec![
                k.kid.clone(),
                k.algorithm.to_owned(),
                when(k.activates_at),
                k.state.to_owned(),
            ]
        })
    }

    pub fn assignments(&self, items: &[RoleAssignment]) -> anyhow::Result<()> {
        self.table(
            items,
            &["ID", "PERSON", "ROLE", "ORGANISATION", "GRANTED BY"],
            |a| {
                vec![
                    a.id.clone(),
                    a.email
                        .clone()
                        .or_else(|| a.subject.clone())
                        .unwrap_or_default(),
                    a.role.to_string(),
                    a.organisation_id
                        .clone()
                        .unwrap_or_else(|| "(platform)".to_owned()),
                    a.granted_by.clone(),
                ]
            },
        )
    }
}

fn yes_no(flag: bool) -> String {
    if flag { "yes" } else { "no" }.to_owned()
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let table = render_table(&["A", "LONGER"], &[vec!["wide value".into(), "x".into()]]);
        assert_eq!(table, "A           LONGER\nwide value  x\n");
    }
}

//! Table definitions, written once with types both SQLite and PostgreSQL support.
//! Keep in step with migrations/sqlite and migrations/postgres.

diesel::table! {
    organisations (id) {
        id -> Text,
        name -> Text,
        country -> Text,
        sandbox -> Bool,
        created_at -> Timestamp,
        notification_email -> Nullable<Text>,
    }
}

diesel::table! {
    apis (id) {
        id -> Text,
        code -> Text,
        name -> Text,
        audience -> Text,
        created_at -> Timestamp,
        signing_alg -> Nullable<Text>,
    }
}

diesel::table! {
    api_scopes (api_id, name) {
        api_id -> Text,
        name -> Text,
    }
}

diesel::table! {
    applications (id) {
        id -> Text,
        organisation_id -> Text,
        name -> Text,
        client_id -> Text,
        description -> Text,
        environment -> Text,
        enabled -> Bool,
        token_lifetime_secs -> Integer,
        created_at -> Timestamp,
        created_by -> Text,
        tokens_revoked_before -> Nullable<Timestamp>,
        jwks_uri -> Nullable<Text>,
        auth_methods -> Nullable<Text>,
        tls_client_auth_field -> Nullable<Text>,
        tls_client_auth_value -> Nullable<Text>,
        require_bound_tokens -> Bool,
        requires_device -> Bool,
    }
}

diesel::table! {
    api_resource_servers (api_id, application_id) {
        api_id -> Text,
        application_id -> Text,
    }
}

diesel::table! {
    application_apis (application_id, api_id) {
        application_id -> Text,
        api_id -> Text,
    }
}

diesel::table! {
    application_scopes (application_id, api_id, scope) {
        application_id -> Text,
        api_id -> Text,
        scope -> Text,
    }
}

diesel::table! {
    client_secrets (id) {
        id -> Text,
        application_id -> Text,
        name -> Text,
        hint -> Text,
        secret_hash -> Text,
        created_at -> Timestamp,
        created_by -> Text,
        expires_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        description -> Text,
    }
}

diesel::table! {
    devices (id) {
        id -> Text,
        organisation_id -> Text,
        name -> Text,
        enabled -> Bool,
        created_at -> Timestamp,
        created_by -> Text,
        tokens_revoked_before -> Nullable<Timestamp>,
    }
}

diesel::table! {
    device_secrets (id) {
        id -> Text,
        device_id -> Text,
        name -> Text,
        hint -> Text,
        secret_hash -> Text,
        created_at -> Timestamp,
        created_by -> Text,
        expires_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        description -> Text,
    }
}

diesel::table! {
    device_certificates (id) {
        id -> Text,
        device_id -> Text,
        name -> Text,
        subject -> Text,
        certificate_sha256 -> Text,
        created_at -> Timestamp,
        created_by -> Text,
        expires_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        not_before -> Nullable<Timestamp>,
    }
}

diesel::table! {
    client_keys (id) {
        id -> Text,
        application_id -> Text,
        name -> Text,
        kind -> Text,
        key_type -> Text,
        kid -> Text,
        thumbprint -> Text,
        public_jwk -> Text,
        subject -> Text,
        created_at -> Timestamp,
        created_by -> Text,
        expires_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        certificate_sha256 -> Nullable<Text>,
    }
}

diesel::table! {
    trusted_issuers (id) {
        id -> Text,
        issuer -> Text,
        name -> Text,
        created_at -> Timestamp,
        created_by -> Text,
    }
}

diesel::table! {
    federated_credentials (id) {
        id -> Text,
        application_id -> Text,
        issuer_id -> Text,
        name -> Text,
        subject -> Text,
        audience -> Text,
        created_at -> Timestamp,
        created_by -> Text,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    client_assertion_jtis (client_id, jti) {
        client_id -> Text,
        jti -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        issuer -> Nullable<Text>,
        subject -> Nullable<Text>,
        email -> Nullable<Text>,
        display_name -> Nullable<Text>,
        created_at -> Timestamp,
        last_login_at -> Nullable<Timestamp>,
        claimed_role -> Nullable<Text>,
        claimed_organisation_id -> Nullable<Text>,
    }
}

diesel::table! {
    role_assignments (id) {
        id -> Text,
        user_id -> Text,
        role -> Text,
        organisation_id -> Nullable<Text>,
        granted_at -> Timestamp,
        granted_by -> Text,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        occurred_at -> Timestamp,
        actor_kind -> Text,
        actor -> Text,
        action -> Text,
        organisation_id -> Nullable<Text>,
        application_id -> Nullable<Text>,
        secret_id -> Nullable<Text>,
        source_address -> Nullable<Text>,
        outcome -> Text,
        details -> Text,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        algorithm -> Text,
        sealed_private_key -> Text,
        public_jwk -> Text,
        created_at -> Timestamp,
        activates_at -> Timestamp,
    }
}

diesel::table! {
    revoked_tokens (jti) {
        jti -> Text,
        client_id -> Text,
        expires_at -> Timestamp,
        revoked_at -> Timestamp,
    }
}

diesel::table! {
    job_locks (name) {
        name -> Text,
        locked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        claimed_roles -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    reminder_deliveries (id) {
        id -> Text,
        secret_id -> Text,
        holder_id -> Text,
        organisation_id -> Text,
        stage -> Text,
        stage_order -> Integer,
        recipient -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_at -> Nullable<Timestamp>,
        last_attempt_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// Every actor named in audit_events, once (kept by a trigger on audit_events).
    audit_actors (actor) {
        actor -> Text,
    }
}

diesel::joinable!(api_scopes -> apis (api_id));
diesel::joinable!(applications -> organisations (organisation_id));
diesel::joinable!(api_resource_servers -> apis (api_id));
diesel::joinable!(api_resource_servers -> applications (application_id));
diesel::joinable!(application_apis -> applications (application_id));
diesel::joinable!(application_apis -> apis (api_id));
diesel::joinable!(client_secrets -> applications (application_id));
diesel::joinable!(devices -> organisations (organisation_id));
diesel::joinable!(device_secrets -> devices (device_id));
diesel::joinable!(device_certificates -> devices (device_id));
diesel::joinable!(client_keys -> applications (application_id));
diesel::joinable!(federated_credentials -> applications (application_id));
diesel::joinable!(federated_credentials -> trusted_issuers (issuer_id));
diesel::joinable!(role_assignments -> users (user_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    organisations,
    apis,
    api_scopes,
    applications,
    api_resource_servers,
    application_apis,
    application_scopes,
    client_secrets,
    devices,
    device_secrets,
    device_certificates,
    client_keys,
    trusted_issuers,
    federated_credentials,
    client_assertion_jtis,
    users,
    role_assignments,
    audit_events,
    signing_keys,
    revoked_tokens,
    job_locks,
    sessions,
    reminder_deliveries,
    audit_actors,
);

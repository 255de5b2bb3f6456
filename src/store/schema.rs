//! Table definitions shared by both backends. Maintained by hand: only SQL types common to
//! SQLite and PostgreSQL appear here (see STACK-NOTES: no Timestamptz, Uuid or Json).

diesel::table! {
    organizations (id) {
        id -> BigInt,
        slug -> Text,
        name -> Text,
        created_at -> Timestamp,
        plan -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    memberships (user_id, org_id) {
        user_id -> BigInt,
        org_id -> BigInt,
        role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    scopes (name) {
        name -> Text,
        description -> Text,
        min_role -> Text,
        built_in -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    clients (id) {
        id -> BigInt,
        client_id -> Text,
        org_id -> BigInt,
        name -> Text,
        kind -> Text,
        redirect_uris -> Text,
        scopes -> Text,
        created_at -> Timestamp,
        grant_types -> Text,
        refresh_grace_seconds -> Integer,
        cors_origins -> Text,
    }
}

diesel::table! {
    client_secrets (id) {
        id -> BigInt,
        client_id -> BigInt,
        secret_hash -> Binary,
        prefix -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        org_id -> Nullable<BigInt>,
        actor -> Text,
        action -> Text,
        target -> Nullable<Text>,
        ip -> Nullable<Text>,
        at -> Timestamp,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        token_hash -> Binary,
        user_id -> BigInt,
        csrf_token -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        authenticated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    plan_overrides (org_id, feature) {
        org_id -> BigInt,
        feature -> Text,
        enabled -> Bool,
        expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    consents (user_id, client_id, org_id) {
        user_id -> BigInt,
        client_id -> BigInt,
        org_id -> BigInt,
        scope -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        client_id -> BigInt,
        user_id -> BigInt,
        org_id -> BigInt,
        scope -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    authorization_codes (id) {
        id -> BigInt,
        code_hash -> Binary,
        client_id -> BigInt,
        user_id -> BigInt,
        org_id -> BigInt,
        scope -> Text,
        redirect_uri -> Text,
        code_challenge -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        consumed_at -> Nullable<Timestamp>,
        grant_id -> Nullable<Text>,
        redirect_uri_given -> Bool,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> BigInt,
        token_hash -> Binary,
        grant_id -> Text,
        scope -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        rotated_at -> Nullable<Timestamp>,
        grace_used -> Bool,
    }
}

diesel::table! {
    revoked_access_tokens (jti) {
        jti -> Text,
        expires_at -> Timestamp,
        revoked_at -> Timestamp,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        private_key -> Binary,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    integrations (id) {
        id -> Text,
        org_id -> BigInt,
        name -> Text,
        description -> Text,
        env -> Text,
        scopes -> Text,
        allow_ips -> Text,
        expires_at -> Nullable<Timestamp>,
        inactive_after_secs -> Nullable<BigInt>,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    integration_tokens (id) {
        id -> BigInt,
        integration_id -> Text,
        token_hash -> Binary,
        prefix -> Text,
        last4 -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        last_used_ip -> Nullable<Text>,
        use_count -> BigInt,
    }
}

diesel::table! {
    sign_in_failures (username) {
        username -> Text,
        failures -> Integer,
        last_failure_at -> Timestamp,
        blocked_until -> Nullable<Timestamp>,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    instances (id) {
        id -> Text,
        started_at -> Timestamp,
        acked -> Text,
        seen_at -> BigInt,
    }
}

diesel::table! {
    revocations (id) {
        id -> BigInt,
        at -> Timestamp,
        kind -> Text,
        target -> Text,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        org_id -> BigInt,
        url -> Text,
        description -> Text,
        events -> Text,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        failing_since -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_secrets (id) {
        id -> BigInt,
        endpoint_id -> Text,
        secret -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_events (id) {
        id -> Text,
        org_id -> BigInt,
        event_type -> Text,
        payload -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        event_id -> Text,
        endpoint_id -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> BigInt,
        delivery_id -> BigInt,
        attempted_at -> Timestamp,
        status_code -> Nullable<Integer>,
        latency_ms -> Integer,
        response_excerpt -> Nullable<Text>,
        error -> Nullable<Text>,
        next_attempt_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_notices (integration_id, notice) {
        integration_id -> Text,
        notice -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(memberships -> organizations (org_id));
diesel::joinable!(clients -> organizations (org_id));
diesel::joinable!(client_secrets -> clients (client_id));
diesel::joinable!(audit_events -> organizations (org_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(plan_overrides -> organizations (org_id));
diesel::joinable!(grants -> clients (client_id));
diesel::joinable!(grants -> users (user_id));
diesel::joinable!(grants -> organizations (org_id));
diesel::joinable!(refresh_tokens -> grants (grant_id));
diesel::joinable!(consents -> clients (client_id));
diesel::joinable!(authorization_codes -> clients (client_id));
diesel::joinable!(authorization_codes -> organizations (org_id));
diesel::joinable!(integrations -> organizations (org_id));
diesel::joinable!(integration_tokens -> integrations (integration_id));
diesel::joinable!(webhook_endpoints -> organizations (org_id));
diesel::joinable!(webhook_secrets -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_deliveries -> webhook_events (event_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    users,
    memberships,
    scopes,
    clients,
    client_secrets,
    audit_events,
    sessions,
    consents,
    grants,
    authorization_codes,
    refresh_tokens,
    revoked_access_tokens,
    signing_keys,
    integrations,
    integration_tokens,
    revocations,
    instances,
    sign_in_failures,
    plan_overrides,
    webhook_endpoints,
    webhook_secrets,
    webhook_events,
    webhook_deliveries,
    webhook_attempts,
    webhook_notices,
);

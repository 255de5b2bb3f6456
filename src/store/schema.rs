//! Table definitions shared by both backends. Maintained by hand: only SQL types common to
//! SQLite and PostgreSQL appear here (see STACK-NOTES: no Timestamptz, Uuid or Json).

diesel::table! {
    organizations (id) {
        id -> BigInt,
        slug -> Text,
        name -> Text,
        created_at -> Timestamp,
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

diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(memberships -> organizations (org_id));
diesel::joinable!(clients -> organizations (org_id));
diesel::joinable!(client_secrets -> clients (client_id));
diesel::joinable!(audit_events -> organizations (org_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    users,
    memberships,
    scopes,
    clients,
    client_secrets,
    audit_events,
);

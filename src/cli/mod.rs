//! The operator CLI. Every command takes `--json`: one JSON value on stdout instead of text.
//! Errors go to stderr; bad input (validation, duplicates, unknown names) exits with 2, a
//! database or internal failure with 1.

mod commands;
mod input;
mod members;
mod output;
mod webhooks;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub use output::CliError;

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "OAuth 2.0 authorization server with private-integration tokens"
)]
pub struct Cli {
    /// Print one JSON value on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the HTTP server (migrates the database first).
    Serve,
    /// Apply pending database migrations.
    Migrate,
    /// Organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Scopes that clients and integrations may be granted.
    #[command(subcommand)]
    Scope(ScopeCommand),
    /// User accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// OAuth clients (third-party apps).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Remembered consent.
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// Access-token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Delete expired codes, sessions, grants and retired keys now (the server does this
    /// every minute).
    Purge,
    /// Private-integration tokens.
    #[command(subcommand)]
    Integration(IntegrationCommand),
    /// Members of an organization and their roles.
    #[command(subcommand)]
    Member(MemberCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Webhook endpoints: signed event deliveries (Standard Webhooks).
    #[command(subcommand)]
    Webhook(WebhookCommand),
}

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Register an endpoint; prints its signing secret (whsec_…) once.
    Create {
        #[arg(long)]
        org: String,
        /// https URL (http only where TESSERA_WEBHOOK_ALLOW_HTTP allows it).
        #[arg(long)]
        url: String,
        /// Event types, e.g. integration.revoked: repeat the option, or separate them with
        /// spaces.
        #[arg(long, required = true)]
        events: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List an organization's endpoints (never shows a secret).
    List {
        #[arg(long)]
        org: String,
    },
    /// Show one endpoint.
    Show { id: String },
    /// Change an endpoint's URL, events or description.
    Update {
        id: String,
        #[arg(long)]
        url: Option<String>,
        /// Event types replacing the current ones (repeatable, or space-separated).
        #[arg(long)]
        events: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Send a webhook.test event now and print the attempt.
    Test { id: String },
    /// The endpoint's deliveries, newest first, with every attempt.
    Deliveries {
        id: String,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Send a delivery again (same event, same webhook-id).
    Redeliver { id: String, delivery: i64 },
    /// Issue a new signing secret; the old one keeps signing for --grace (at most 7d).
    RotateSecret {
        id: String,
        #[arg(long)]
        grace: Option<String>,
    },
    /// Stop sending to the endpoint (events still queue for it, for about three days).
    Disable { id: String },
    /// Send to the endpoint again, pending deliveries first.
    Enable { id: String },
    /// Delete the endpoint with its secrets and delivery log.
    Delete { id: String },
}

#[derive(Subcommand)]
pub enum IntegrationCommand {
    /// Create an integration and its token; prints the token once.
    Create(IntegrationCreateArgs),
    /// List an organization's integrations (never shows a token).
    List {
        #[arg(long)]
        org: String,
    },
    /// Show one integration.
    Show { id: String },
    /// Rename an integration, or change its description or IP allowlist (`rename` works too).
    #[command(alias = "rename")]
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Allow use only from this network (CIDR or address); repeatable; replaces the list.
        #[arg(long = "allow-ip", conflicts_with = "allow_anywhere")]
        allow_ips: Vec<String>,
        /// Empty the allowlist: the token may be used from anywhere.
        #[arg(long)]
        allow_anywhere: bool,
    },
    /// Issue a new token. The old one stops now, or after --grace.
    Rotate {
        id: String,
        /// Keep the old token working this long (e.g. 24h).
        #[arg(long)]
        grace: Option<String>,
    },
    /// Make every token of the integration stop working now, or after --in.
    Expire {
        id: String,
        #[arg(long = "in")]
        after: Option<String>,
    },
    /// Revoke the integration and its tokens, at once and for good.
    Revoke { id: String },
}

#[derive(Args)]
pub struct IntegrationCreateArgs {
    #[arg(long)]
    pub org: String,
    #[arg(long)]
    pub name: String,
    /// A scope: repeat the option, or separate several with spaces.
    #[arg(long = "scope", required = true)]
    pub scopes: Vec<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// live (default) or test.
    #[arg(long, default_value = "live")]
    pub env: String,
    /// The tokens stop working after this long (e.g. 90d).
    #[arg(long)]
    pub expires_in: Option<String>,
    /// Allow use only from this network (CIDR or address); repeatable.
    #[arg(long = "allow-ip")]
    pub allow_ips: Vec<String>,
    /// Tokens unused this long stop working (e.g. 30d).
    #[arg(long)]
    pub inactive_after: Option<String>,
    /// The user creating it: its role in the organization caps the scopes.
    #[arg(long)]
    pub created_by: Option<String>,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Newest events first; each filter given must match exactly.
    List {
        #[arg(long)]
        org: String,
        /// At most this many events (1 to 1000).
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Only events older than this event id (pages back).
        #[arg(long)]
        before: Option<i64>,
        /// Only events about this target: an integration id, a client id, a username.
        #[arg(long)]
        target: Option<String>,
        /// Only events by this actor, e.g. user:ada, cli, integration:int_….
        #[arg(long)]
        actor: Option<String>,
        /// Only events of this action, e.g. integration.rotate.
        #[arg(long)]
        action: Option<String>,
    },
}

/// The same actions as `/v1/orgs/{org}/members…`, by the operator (who acts as an owner; the
/// last owner still cannot be demoted or removed).
#[derive(Subcommand)]
pub enum MemberCommand {
    /// List an organization's members and their roles.
    List {
        #[arg(long)]
        org: String,
    },
    /// Add an existing user to an organization.
    Add {
        username: String,
        #[arg(long)]
        org: String,
        /// owner, admin, manager or member.
        #[arg(long)]
        role: String,
    },
    /// Create a user and add them; prints the generated initial password once.
    Create {
        username: String,
        #[arg(long)]
        org: String,
        /// owner, admin, manager or member.
        #[arg(long)]
        role: String,
        /// Read the password from the first line of stdin instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a member's role.
    SetRole {
        username: String,
        #[arg(long)]
        org: String,
        /// owner, admin, manager or member.
        #[arg(long)]
        role: String,
    },
    /// Remove a member: their OAuth grants bound to the organization are revoked.
    Remove {
        username: String,
        #[arg(long)]
        org: String,
    },
}

#[derive(Subcommand)]
pub enum ConsentCommand {
    /// Forget what a user approved for a client and revoke the client's tokens for that user.
    Revoke {
        #[arg(long)]
        user: String,
        #[arg(long)]
        client: String,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Retire the current signing key and create a new one. Running servers pick it up
    /// within 30 seconds; tokens signed with the old key stay valid until they expire.
    Rotate {
        /// ES256 (default) or EdDSA.
        #[arg(long)]
        alg: Option<String>,
    },
    /// List the signing keys still published.
    List,
}

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an organization.
    Create {
        /// URL-safe identifier: lowercase letters, digits, hyphens.
        slug: String,
        /// Display name (defaults to the slug).
        #[arg(long)]
        name: Option<String>,
        /// free, team or enterprise (default: TESSERA_DEFAULT_PLAN, else enterprise).
        #[arg(long)]
        plan: Option<String>,
    },
    /// List organizations.
    List,
    /// An organization's plan and the features it has now.
    Plan { slug: String },
    /// Change an organization's plan (free, team, enterprise). Data and existing tokens stay;
    /// what the new plan lacks can no longer be created.
    SetPlan { slug: String, plan: String },
    /// Turn one feature (integrations, webhooks) on or off for an organization whatever its
    /// plan — a trial, an add-on — or back to what the plan says (`default`).
    Feature {
        slug: String,
        feature: String,
        /// on, off or default.
        state: String,
        /// The override ends after this long (e.g. 14d); for good by default.
        #[arg(long = "for")]
        lasts: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ScopeCommand {
    /// Define a scope.
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// The lowest membership role that may hold this scope.
        #[arg(long, default_value = "member")]
        min_role: String,
    },
    /// List scopes.
    List,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user in an organization. The password is read from stdin, never from argv.
    Create {
        username: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        role: String,
        /// Read the password from the first line of stdin (required).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// End a user's sign-in wait or lockout after failed sign-ins (audited).
    Unlock { username: String },
    /// Set a user's password (read from stdin, never from argv); ends their sessions
    /// (audited). Users change their own on the console's Account page.
    SetPassword {
        username: String,
        /// Read the password from the first line of stdin (required).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register an OAuth client; prints its secret once.
    Create(ClientCreateArgs),
    /// List an organization's clients (never shows secrets).
    List {
        #[arg(long)]
        org: String,
    },
    /// Show one client (never its secret).
    Show { client_id: String },
    /// Change a client's name, redirect URIs, scopes or CORS origins; each list given
    /// replaces the current one.
    Update {
        client_id: String,
        #[arg(long)]
        name: Option<String>,
        /// Exact redirect URI; repeat for several.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A scope: repeat the option, or separate several with spaces.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A browser origin allowed at the token and revocation endpoints (repeatable).
        #[arg(long = "cors-origin")]
        cors_origins: Vec<String>,
    },
    /// Delete a client: its grants are revoked and every token of it stops working.
    Delete { client_id: String },
    /// Issue a new client secret; the old one stops now or after --grace.
    RotateSecret {
        client_id: String,
        /// Keep the old secret working this long (e.g. 1h; at most 7d).
        #[arg(long)]
        grace: Option<String>,
    },
}

#[derive(Args)]
pub struct ClientCreateArgs {
    #[arg(long)]
    pub org: String,
    #[arg(long)]
    pub name: String,
    /// Exact redirect URI; repeat for several.
    #[arg(long = "redirect-uri", required = true)]
    pub redirect_uris: Vec<String>,
    /// A scope the client may ask for: repeat the option, or separate several with spaces.
    #[arg(long = "scope", required = true)]
    pub scopes: Vec<String>,
    /// A public client (SPA, native app): no secret, PKCE required.
    #[arg(long)]
    pub public: bool,
    /// Grant types the client may use (repeatable): authorization_code, refresh_token.
    /// Default: both.
    #[arg(long = "grant-type")]
    pub grant_types: Vec<String>,
    /// Refresh-token rotation grace, e.g. 30s (at most 5m): a refresh token presented again
    /// this soon after its rotation gets a working successor instead of revoking its family.
    /// Default: none (strict rotation).
    #[arg(long = "refresh-grace")]
    pub refresh_grace: Option<String>,
    /// A browser origin allowed to call the token and revocation endpoints (repeatable), e.g.
    /// https://app.example.com. Default: the origins of a public client's redirect URIs.
    #[arg(long = "cors-origin")]
    pub cors_origins: Vec<String>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init();
    let json = cli.json;
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report(json),
    }
}

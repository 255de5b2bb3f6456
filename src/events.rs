//! The webhook event catalogue: every event type Tessera publishes, by its Standard Webhooks
//! name (dot-separated, `noun.verb`). Endpoints subscribe to a subset; payloads are
//! `{"type", "timestamp", "data"}` with `data` never holding a secret (`store::webhooks`
//! writes them, `webhooks::delivery` sends them).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    IntegrationCreated,
    IntegrationUpdated,
    IntegrationRotated,
    /// 7 days and 1 day before an integration's expiry.
    IntegrationExpiring,
    IntegrationExpired,
    IntegrationRevoked,
    /// A leak report (GitHub secret scanning) revoked one of its tokens.
    IntegrationLeaked,
    ClientCreated,
    ClientSecretRotated,
    /// The client and every grant and token it had are gone.
    ClientDeleted,
    /// A leak report revoked a client secret.
    ClientSecretLeaked,
    /// Sent only to the endpoint being tested, whatever it subscribes to.
    WebhookTest,
}

impl EventType {
    pub const ALL: [EventType; 12] = [
        EventType::IntegrationCreated,
        EventType::IntegrationUpdated,
        EventType::IntegrationRotated,
        EventType::IntegrationExpiring,
        EventType::IntegrationExpired,
        EventType::IntegrationRevoked,
        EventType::IntegrationLeaked,
        EventType::ClientCreated,
        EventType::ClientSecretRotated,
        EventType::ClientDeleted,
        EventType::ClientSecretLeaked,
        EventType::WebhookTest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::IntegrationCreated => "integration.created",
            EventType::IntegrationUpdated => "integration.updated",
            EventType::IntegrationRotated => "integration.rotated",
            EventType::IntegrationExpiring => "integration.expiring",
            EventType::IntegrationExpired => "integration.expired",
            EventType::IntegrationRevoked => "integration.revoked",
            EventType::IntegrationLeaked => "integration.leaked",
            EventType::ClientCreated => "client.created",
            EventType::ClientSecretRotated => "client.secret_rotated",
            EventType::ClientDeleted => "client.deleted",
            EventType::ClientSecretLeaked => "client.secret_leaked",
            EventType::WebhookTest => "webhook.test",
        }
    }

    pub fn parse(raw: &str) -> Option<EventType> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_and_has_no_secret_word() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert!(t.as_str().contains('.'));
        }
        assert_eq!(EventType::parse("integration.*"), None);
    }
}

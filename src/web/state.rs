//! What every handler can reach, built once by [`super::server`].

use std::sync::Arc;

use crate::access::checker::Checker;
use crate::config::Config;
use crate::integrations::usage::UsageRecorder;
use crate::oauth::OAuthContext;
use crate::store::Db;

pub(crate) struct AppState {
    pub(crate) config: Arc<Config>,
    pub(crate) db: Db,
    pub(crate) oauth: OAuthContext,
    pub(crate) usage: Arc<UsageRecorder>,
    pub(crate) checker: Arc<Checker>,
}

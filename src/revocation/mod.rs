//! Revocation, as every in-memory cache of this process obeys it.
//!
//! One [`Epoch`] per process: a change made here that can end a credential bumps it at once,
//! and the [`Follower`] bumps it whenever the database's revocation feed moves (a change made
//! by the CLI or another instance), then acknowledges, so that the revoker can return knowing
//! no instance serves the credential (`store::revocations` holds that protocol). A
//! [`DecisionCache`] entry made under an older epoch is never served, and while the feed is not
//! followed nothing is served from memory. The check path's decisions and the token endpoint's
//! client directory are both such caches.
//!
//! Imports: `store` (the feed's position) and nothing above it.

pub(crate) mod cache;
pub(crate) mod feed;

pub(crate) use cache::DecisionCache;
pub(crate) use feed::{Epoch, Follower};

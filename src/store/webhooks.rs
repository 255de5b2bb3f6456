//! Webhook endpoints, their signing secrets, and the outbox: events and their deliveries.
//!
//! [`publish`] is called inside the transaction of the change an event reports, so the change
//! and its event commit together or not at all. Delivery workers take due deliveries with
//! [`claim`]: on PostgreSQL `FOR UPDATE SKIP LOCKED`, so instances sharing the database each
//! take different rows, and a lease (`locked_until`) so that a claim whose worker died is taken
//! again once it lapses (at-least-once, with the same event id every time).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::schema::{
    webhook_attempts, webhook_deliveries, webhook_endpoints, webhook_events, webhook_notices,
    webhook_secrets,
};
use super::{DbConn, StoreResult};
use crate::events::EventType;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints)]
pub struct Endpoint {
    pub id: String,
    pub org_id: i64,
    pub url: String,
    pub description: String,
    pub events: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The fields an update may change.
#[derive(Default, AsChangeset)]
#[diesel(table_name = webhook_endpoints)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
}

impl Endpoint {
    pub fn subscribes_to(&self, t: EventType) -> bool {
        self.events
            .split_ascii_whitespace()
            .any(|e| e == t.as_str())
    }

    pub fn insert(
        conn: &mut DbConn,
        id: &str,
        org_id: i64,
        url: &str,
        description: &str,
        events: &str,
    ) -> StoreResult<()> {
        let now = crate::clock::now();
        diesel::insert_into(webhook_endpoints::table)
            .values((
                webhook_endpoints::id.eq(id),
                webhook_endpoints::org_id.eq(org_id),
                webhook_endpoints::url.eq(url),
                webhook_endpoints::description.eq(description),
                webhook_endpoints::events.eq(events),
                webhook_endpoints::enabled.eq(true),
                webhook_endpoints::created_at.eq(now),
                webhook_endpoints::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    }

    pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Endpoint> {
        webhook_endpoints::table
            .find(id)
            .select(Endpoint::as_select())
            .get_result(conn)
            .map_err(Into::into)
    }

    pub fn find_in_org(conn: &mut DbConn, org_id: i64, id: &str) -> StoreResult<Endpoint> {
        webhook_endpoints::table
            .filter(webhook_endpoints::id.eq(id))
            .filter(webhook_endpoints::org_id.eq(org_id))
            .select(Endpoint::as_select())
            .get_result(conn)
            .map_err(Into::into)
    }

    pub fn list_for_org(conn: &mut DbConn, org_id: i64) -> StoreResult<Vec<Endpoint>> {
        webhook_endpoints::table
            .filter(webhook_endpoints::org_id.eq(org_id))
            .order(webhook_endpoints::created_at.asc())
            .select(Endpoint::as_select())
            .load(conn)
            .map_err(Into::into)
    }

    pub fn update(conn: &mut DbConn, id: &str, changes: &EndpointChanges) -> StoreResult<()> {
        diesel::update(webhook_endpoints::table.find(id))
            .set(changes)
            .execute(conn)?;
        Ok(())
    }

    /// Enables (clearing the reason and the failure streak) or disables with `reason`.
    /// Returns whether the state changed.
    pub fn set_enabled(
        conn: &mut DbConn,
        id: &str,
        enabled: bool,
        reason: Option<&str>,
    ) -> StoreResult<bool> {
        let n = diesel::update(
            webhook_endpoints::table
                .find(id)
                .filter(webhook_endpoints::enabled.eq(!enabled)),
        )
        .set((
            webhook_endpoints::enabled.eq(enabled),
            webhook_endpoints::disabled_reason.eq(reason),
            webhook_endpoints::failing_since.eq(None::<NaiveDateTime>),
            webhook_endpoints::updated_at.eq(crate::clock::now()),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Records a failed delivery: the streak starts now unless it already runs. Returns when
    /// it started.
    pub fn failing(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> StoreResult<NaiveDateTime> {
        diesel::update(
            webhook_endpoints::table
                .find(id)
                .filter(webhook_endpoints::failing_since.is_null()),
        )
        .set(webhook_endpoints::failing_since.eq(now))
        .execute(conn)?;
        let since: Option<NaiveDateTime> = webhook_endpoints::table
            .find(id)
            .select(webhook_endpoints::failing_since)
            .get_result(conn)?;
        Ok(since.unwrap_or(now))
    }

    /// A delivery succeeded: the failure streak ends.
    pub fn succeeded(conn: &mut DbConn, id: &str) -> StoreResult<()> {
        diesel::update(
            webhook_endpoints::table
                .find(id)
                .filter(webhook_endpoints::failing_since.is_not_null()),
        )
        .set(webhook_endpoints::failing_since.eq(None::<NaiveDateTime>))
        .execute(conn)?;
        Ok(())
    }

    /// Deletes the endpoint with its secrets, deliveries and attempts.
    pub fn delete(conn: &mut DbConn, id: &str) -> StoreResult<bool> {
        // Secrets, deliveries and their attempts go with it: `ON DELETE CASCADE` (SQLite
        // connections enforce foreign keys, see `ConnectionManager`).
        let n = diesel::delete(webhook_endpoints::table.find(id)).execute(conn)?;
        Ok(n == 1)
    }
}

/// Adds a signing secret to the endpoint.
pub fn add_secret(conn: &mut DbConn, endpoint_id: &str, secret: &str) -> StoreResult<()> {
    diesel::insert_into(webhook_secrets::table)
        .values((
            webhook_secrets::endpoint_id.eq(endpoint_id),
            webhook_secrets::secret.eq(secret),
            webhook_secrets::created_at.eq(crate::clock::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Makes every signing secret of the endpoint stop at `until`, unless it stops sooner.
pub fn expire_secrets(
    conn: &mut DbConn,
    endpoint_id: &str,
    until: NaiveDateTime,
) -> StoreResult<()> {
    diesel::update(
        webhook_secrets::table
            .filter(webhook_secrets::endpoint_id.eq(endpoint_id))
            .filter(
                webhook_secrets::expires_at
                    .is_null()
                    .or(webhook_secrets::expires_at.gt(until)),
            ),
    )
    .set(webhook_secrets::expires_at.eq(until))
    .execute(conn)?;
    // Secrets past their end sign nothing any more; keep the table small.
    diesel::delete(
        webhook_secrets::table
            .filter(webhook_secrets::endpoint_id.eq(endpoint_id))
            .filter(webhook_secrets::expires_at.le(crate::clock::now())),
    )
    .execute(conn)?;
    Ok(())
}

/// The secrets that sign a delivery at `now`, newest first.
pub fn signing_secrets(
    conn: &mut DbConn,
    endpoint_id: &str,
    now: NaiveDateTime,
) -> StoreResult<Vec<(String, Option<NaiveDateTime>)>> {
    webhook_secrets::table
        .filter(webhook_secrets::endpoint_id.eq(endpoint_id))
        .filter(
            webhook_secrets::expires_at
                .is_null()
                .or(webhook_secrets::expires_at.gt(now)),
        )
        .order(webhook_secrets::id.desc())
        .select((webhook_secrets::secret, webhook_secrets::expires_at))
        .load(conn)
        .map_err(Into::into)
}

/// Writes event `event_type` with `data` for organization `org_id`, and a delivery for each of
/// its endpoints subscribed to that type — a disabled one's waits until it is enabled again
/// (see [`give_up_disabled`]) (or only for `only_endpoint`, which gets it
/// whatever it subscribes to: the test event). Call inside the transaction of the change the
/// event reports. Returns the event id, or `None` when nobody listens (nothing is written).
///
/// The body is `{"type", "timestamp", "data"}` (Standard Webhooks), serialised once here:
/// those exact bytes are signed and sent on every attempt.
pub fn publish(
    conn: &mut DbConn,
    org_id: i64,
    event_type: EventType,
    data: &serde_json::Value,
    only_endpoint: Option<&str>,
) -> StoreResult<Option<String>> {
    // On PostgreSQL the endpoints are read with a key-share lock: an endpoint being deleted
    // is waited for (and then skipped), and one read here cannot be deleted before this
    // transaction's deliveries to it commit — else their foreign key would fail, and the
    // change this event reports would roll back with it.
    let mut endpoints: Vec<Endpoint> = match conn {
        DbConn::Postgresql(pg) => webhook_endpoints::table
            .filter(webhook_endpoints::org_id.eq(org_id))
            .order(webhook_endpoints::created_at.asc())
            .select(Endpoint::as_select())
            .for_key_share()
            .load(pg)?,
        DbConn::Sqlite(_) => Endpoint::list_for_org(conn, org_id)?,
    };
    endpoints.retain(|e| match only_endpoint {
        Some(id) => e.id == id,
        None => e.subscribes_to(event_type),
    });
    if endpoints.is_empty() {
        return Ok(None);
    }
    let now = crate::clock::now();
    // Unique per event and never containing `.` (the signed content is `id.timestamp.body`).
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let payload = serde_json::json!({
        "type": event_type.as_str(),
        "timestamp": crate::clock::rfc3339(now),
        "data": data,
    })
    .to_string();
    diesel::insert_into(webhook_events::table)
        .values((
            webhook_events::id.eq(&id),
            webhook_events::org_id.eq(org_id),
            webhook_events::event_type.eq(event_type.as_str()),
            webhook_events::payload.eq(&payload),
            webhook_events::created_at.eq(now),
        ))
        .execute(conn)?;
    for e in &endpoints {
        diesel::insert_into(webhook_deliveries::table)
            .values((
                webhook_deliveries::event_id.eq(&id),
                webhook_deliveries::endpoint_id.eq(&e.id),
                webhook_deliveries::state.eq(DeliveryState::Pending.as_str()),
                webhook_deliveries::attempts.eq(0),
                webhook_deliveries::next_attempt_at.eq(now),
                webhook_deliveries::created_at.eq(now),
                webhook_deliveries::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(Some(id))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

/// A delivery a worker has claimed: what to send, where, which attempt this is (from 1), and
/// until when the claim holds — together with `attempt`, the claim's identity: a worker that
/// outlived its claim finds it taken over and records nothing over the newer state.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: i64,
    pub event_id: String,
    pub endpoint_id: String,
    pub url: String,
    pub payload: String,
    pub attempt: i32,
    pub lease_until: NaiveDateTime,
}

/// Deliveries due at `$now`: pending, their time come, not claimed (or the claim lapsed),
/// for an enabled endpoint — what the idle look and the claim both mean by "due".
macro_rules! due {
    ($now:expr) => {
        webhook_deliveries::table
            .filter(webhook_deliveries::state.eq(DeliveryState::Pending.as_str()))
            .filter(webhook_deliveries::next_attempt_at.le($now))
            .filter(
                webhook_deliveries::locked_until
                    .is_null()
                    .or(webhook_deliveries::locked_until.le($now)),
            )
            .filter(
                webhook_deliveries::endpoint_id.eq_any(
                    webhook_endpoints::table
                        .filter(webhook_endpoints::enabled.eq(true))
                        .select(webhook_endpoints::id),
                ),
            )
    };
}

/// Claims up to `limit` due deliveries of enabled endpoints until `lease_until`, counting the
/// attempt. On PostgreSQL rows
/// another transaction is claiming are skipped, so concurrent workers never take the same one;
/// SQLite serialises the whole claim.
pub fn claim(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> StoreResult<Vec<Claimed>> {
    // Idle instances look often: one plain read, not a write transaction (on SQLite that
    // would take the write lock every time), tells whether there is anything to claim.
    let any: bool = diesel::select(diesel::dsl::exists(due!(now))).get_result(conn)?;
    if !any {
        return Ok(Vec::new());
    }
    super::transaction(conn, |conn| {
        let order = (webhook_deliveries::next_attempt_at, webhook_deliveries::id);
        let ids: Vec<i64> = match conn {
            // Locks the delivery rows only (endpoints are read in a subquery, so `publish`'s
            // key-share reads of them never wait for a claim).
            DbConn::Postgresql(pg) => due!(now)
                .order(order)
                .limit(limit)
                .select(webhook_deliveries::id)
                .for_update()
                .skip_locked()
                .load(pg)?,
            DbConn::Sqlite(lite) => due!(now)
                .order(order)
                .limit(limit)
                .select(webhook_deliveries::id)
                .load(lite)?,
        };
        take(conn, &ids, now, lease_until)
    })
}

/// Claims deliveries `ids` until `lease_until`, counting the attempt, inside the caller's
/// transaction (the test event is claimed in the transaction that writes it, so no worker
/// takes it first).
pub fn take(
    conn: &mut DbConn,
    ids: &[i64],
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
) -> StoreResult<Vec<Claimed>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(ids)))
        .set((
            webhook_deliveries::locked_until.eq(lease_until),
            webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
            webhook_deliveries::updated_at.eq(now),
        ))
        .execute(conn)?;
    let rows: Vec<(i64, String, String, String, String, i32)> = webhook_deliveries::table
        .inner_join(webhook_events::table)
        .inner_join(webhook_endpoints::table)
        .filter(webhook_deliveries::id.eq_any(ids))
        .order(webhook_deliveries::id.asc())
        .select((
            webhook_deliveries::id,
            webhook_deliveries::event_id,
            webhook_deliveries::endpoint_id,
            webhook_endpoints::url,
            webhook_events::payload,
            webhook_deliveries::attempts,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(delivery_id, event_id, endpoint_id, url, payload, attempt)| Claimed {
                delivery_id,
                event_id,
                endpoint_id,
                url,
                payload,
                attempt,
                lease_until,
            },
        )
        .collect())
}

/// One attempt's outcome, as recorded in the delivery log.
#[derive(Debug, Clone)]
pub struct AttemptRecord<'a> {
    pub attempted_at: NaiveDateTime,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub response_excerpt: Option<&'a str>,
    pub error: Option<&'a str>,
    /// When it is tried again; `None` once delivered or given up.
    pub next_attempt_at: Option<NaiveDateTime>,
    pub state: DeliveryState,
}

/// Records an attempt and releases the claim — if it is still `claim`'s: a worker that
/// outlived its lease (another took the delivery over, or it was redelivered by hand) adds its
/// attempt to the log but leaves the delivery's state alone. Returns whether the claim held;
/// nothing is recorded when the delivery no longer exists (its endpoint was deleted).
pub fn record_attempt(
    conn: &mut DbConn,
    claim: &Claimed,
    a: &AttemptRecord<'_>,
) -> StoreResult<bool> {
    let delivery_id = claim.delivery_id;
    let exists: bool = diesel::select(diesel::dsl::exists(
        webhook_deliveries::table.find(delivery_id),
    ))
    .get_result(conn)?;
    if !exists {
        return Ok(false);
    }
    let n = diesel::update(
        webhook_deliveries::table
            .find(delivery_id)
            .filter(webhook_deliveries::attempts.eq(claim.attempt))
            .filter(webhook_deliveries::locked_until.eq(claim.lease_until)),
    )
    .set((
        webhook_deliveries::state.eq(a.state.as_str()),
        webhook_deliveries::next_attempt_at.eq(a.next_attempt_at.unwrap_or(a.attempted_at)),
        webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
        webhook_deliveries::last_status.eq(a.status_code),
        webhook_deliveries::last_error.eq(a.error),
        webhook_deliveries::updated_at.eq(crate::clock::now()),
    ))
    .execute(conn)?;
    diesel::insert_into(webhook_attempts::table)
        .values((
            webhook_attempts::delivery_id.eq(delivery_id),
            webhook_attempts::attempted_at.eq(a.attempted_at),
            webhook_attempts::status_code.eq(a.status_code),
            webhook_attempts::latency_ms.eq(a.latency_ms),
            webhook_attempts::response_excerpt.eq(a.response_excerpt),
            webhook_attempts::error.eq(a.error),
            webhook_attempts::next_attempt_at.eq(a.next_attempt_at.filter(|_| n == 1)),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// The columns of a [`DeliveryRow`], from deliveries joined with their events.
macro_rules! delivery_columns {
    () => {
        (
            webhook_deliveries::id,
            webhook_deliveries::event_id,
            webhook_events::event_type,
            webhook_deliveries::state,
            webhook_deliveries::attempts,
            webhook_deliveries::next_attempt_at,
            webhook_deliveries::last_status,
            webhook_deliveries::last_error,
            webhook_deliveries::created_at,
            webhook_deliveries::updated_at,
        )
    };
}

/// A delivery as the log lists it.
#[derive(Debug, Clone, Queryable)]
pub struct DeliveryRow {
    pub id: i64,
    pub event_id: String,
    pub event_type: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The endpoint's deliveries, newest first; `before` pages back by id.
pub fn deliveries(
    conn: &mut DbConn,
    endpoint_id: &str,
    limit: i64,
    before: Option<i64>,
) -> StoreResult<Vec<DeliveryRow>> {
    let mut q = webhook_deliveries::table
        .inner_join(webhook_events::table)
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .into_boxed();
    if let Some(before) = before {
        q = q.filter(webhook_deliveries::id.lt(before));
    }
    q.order(webhook_deliveries::id.desc())
        .limit(limit)
        .select(delivery_columns!())
        .load(conn)
        .map_err(Into::into)
}

/// One delivery of the endpoint.
pub fn delivery(conn: &mut DbConn, endpoint_id: &str, id: i64) -> StoreResult<DeliveryRow> {
    webhook_deliveries::table
        .inner_join(webhook_events::table)
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .filter(webhook_deliveries::id.eq(id))
        .select(delivery_columns!())
        .get_result(conn)
        .map_err(Into::into)
}

#[derive(Debug, Clone, Queryable)]
pub struct AttemptRow {
    pub delivery_id: i64,
    pub attempted_at: NaiveDateTime,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    pub next_attempt_at: Option<NaiveDateTime>,
}

/// The attempts of the given deliveries, oldest first.
pub fn attempts(conn: &mut DbConn, delivery_ids: &[i64]) -> StoreResult<Vec<AttemptRow>> {
    webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(delivery_ids))
        .order(webhook_attempts::id.asc())
        .select((
            webhook_attempts::delivery_id,
            webhook_attempts::attempted_at,
            webhook_attempts::status_code,
            webhook_attempts::latency_ms,
            webhook_attempts::response_excerpt,
            webhook_attempts::error,
            webhook_attempts::next_attempt_at,
        ))
        .load(conn)
        .map_err(Into::into)
}

/// Queues a delivery again, now, whatever became of it, with the whole retry schedule ahead
/// of it (its earlier attempts stay in the log).
pub fn redeliver(conn: &mut DbConn, endpoint_id: &str, id: i64) -> StoreResult<bool> {
    let now = crate::clock::now();
    let n = diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
            .filter(webhook_deliveries::id.eq(id)),
    )
    .set((
        webhook_deliveries::state.eq(DeliveryState::Pending.as_str()),
        webhook_deliveries::attempts.eq(0),
        webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
        webhook_deliveries::next_attempt_at.eq(now),
        webhook_deliveries::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// The delivery row of `event_id` for `endpoint_id`.
pub fn delivery_of(conn: &mut DbConn, event_id: &str, endpoint_id: &str) -> StoreResult<i64> {
    webhook_deliveries::table
        .filter(webhook_deliveries::event_id.eq(event_id))
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .select(webhook_deliveries::id)
        .get_result(conn)
        .map_err(Into::into)
}

/// The expiry notices of an integration, each published once.
pub const NOTICE_EXPIRING_7D: &str = "expiring_7d";
pub const NOTICE_EXPIRING_1D: &str = "expiring_1d";
pub const NOTICE_EXPIRED: &str = "expired";

/// Records that `notice` was published for the integration; `false` if it already was (by
/// this or another instance), in which case the caller publishes nothing.
pub fn notice_once(conn: &mut DbConn, integration_id: &str, notice: &str) -> StoreResult<bool> {
    let now = crate::clock::now();
    let n = match conn {
        DbConn::Postgresql(pg) => diesel::sql_query(
            "INSERT INTO webhook_notices (integration_id, notice, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind::<Text, _>(integration_id)
        .bind::<Text, _>(notice)
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .execute(pg)?,
        DbConn::Sqlite(lite) => diesel::sql_query(
            "INSERT INTO webhook_notices (integration_id, notice, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT DO NOTHING",
        )
        .bind::<Text, _>(integration_id)
        .bind::<Text, _>(notice)
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .execute(lite)?,
    };
    Ok(n == 1)
}

/// Forgets expiry notices of `integration_id` (its expiry moved: the new one is announced).
pub fn forget_notices(conn: &mut DbConn, integration_id: &str) -> StoreResult<()> {
    diesel::delete(
        webhook_notices::table.filter(webhook_notices::integration_id.eq(integration_id)),
    )
    .execute(conn)?;
    Ok(())
}

/// Ends the pending deliveries of disabled endpoints that were written before `before`: they
/// are marked failed (and can be redelivered by hand), so that an endpoint enabled again does
/// not receive days-old events and the log can be purged. Returns how many.
pub fn give_up_disabled(conn: &mut DbConn, before: NaiveDateTime) -> StoreResult<usize> {
    let disabled = webhook_endpoints::table
        .filter(webhook_endpoints::enabled.eq(false))
        .select(webhook_endpoints::id);
    diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::state.eq(DeliveryState::Pending.as_str()))
            .filter(webhook_deliveries::created_at.lt(before))
            .filter(webhook_deliveries::endpoint_id.eq_any(disabled)),
    )
    .set((
        webhook_deliveries::state.eq(DeliveryState::Failed.as_str()),
        webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
        webhook_deliveries::last_error.eq("the endpoint stayed disabled"),
        webhook_deliveries::updated_at.eq(crate::clock::now()),
    ))
    .execute(conn)
    .map_err(Into::into)
}

/// Deletes events older than `before` whose deliveries are all finished (delivered or given
/// up), with their deliveries and attempts. Returns how many events went.
pub fn purge(conn: &mut DbConn, before: NaiveDateTime) -> StoreResult<usize> {
    let old: Vec<String> = webhook_events::table
        .filter(webhook_events::created_at.lt(before))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            webhook_deliveries::table
                .filter(webhook_deliveries::event_id.eq(webhook_events::id))
                .filter(webhook_deliveries::state.eq(DeliveryState::Pending.as_str())),
        )))
        .select(webhook_events::id)
        .limit(1000)
        .load(conn)?;
    if old.is_empty() {
        return Ok(0);
    }
    // Their deliveries and attempts go with them (`ON DELETE CASCADE`).
    let n = diesel::delete(webhook_events::table.filter(webhook_events::id.eq_any(&old)))
        .execute(conn)?;
    Ok(n)
}

/// How many deliveries wait to be sent (for the console and operators).
pub fn backlog(conn: &mut DbConn, endpoint_id: &str) -> StoreResult<i64> {
    webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .filter(webhook_deliveries::state.eq(DeliveryState::Pending.as_str()))
        .count()
        .get_result(conn)
        .map_err(Into::into)
}

//! Draining on SIGTERM or SIGINT, and the deadline on request bodies.
//!
//! actix-web's own graceful stop waits for every *connection* to close, so an idle keep-alive
//! connection holds the process until its keep-alive or the shutdown timeout ends. Instead,
//! on a signal: new connections are no longer accepted, every answer from then on carries
//! `Connection: close` (RFC 9112 §9.6) so clients reconnect elsewhere, and once no
//! request has been in flight for a quarter of a second the server stops, dropping the idle
//! connections — at most [`DRAIN_DEADLINE`] after the signal.
//!
//! A request head must arrive within actix-web's client request timeout; its body within
//! `TESSERA_BODY_TIMEOUT` after that ([`body_deadline`]), or reading it fails and the answer is
//! 408 (a stalled body would otherwise hold a connection and a handler forever).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use futures_util::Stream;
use tokio::sync::Notify;

/// The longest a drain waits for requests in flight.
pub(crate) const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// How long the server must have had no request in flight before it stops.
const QUIET: Duration = Duration::from_millis(250);

/// Requests in flight, and whether the server is draining.
#[derive(Default)]
pub(crate) struct Drain {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

impl Drain {
    /// Starts draining and returns once no request is in flight (or at the deadline).
    async fn until_idle(&self) {
        self.draining.store(true, Ordering::SeqCst);
        let idle = || async {
            loop {
                let notified = self.idle.notified();
                if self.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        // Idle for a moment, not an instant: a request whose head reached the socket just
        // before the signal may not have been dispatched (and counted) yet on a busy machine.
        let wait = async {
            loop {
                idle().await;
                tokio::time::sleep(QUIET).await;
                if self.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
            }
        };
        if tokio::time::timeout(DRAIN_DEADLINE, wait).await.is_err() {
            tracing::warn!(
                in_flight = self.in_flight.load(Ordering::SeqCst),
                "requests still in flight at the drain deadline; stopping anyway"
            );
        }
    }
}

/// One request in flight; leaving — also by a panic or a dropped connection — may end the drain.
struct InFlight(Arc<Drain>);

impl InFlight {
    fn enter(drain: Arc<Drain>) -> InFlight {
        drain.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(drain)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Middleware: counts the request in flight; while draining, answers with `Connection: close`.
pub(crate) async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let drain = req.app_data::<web::Data<Arc<Drain>>>().cloned();
    let Some(drain) = drain else {
        return next.call(req).await;
    };
    let counted = InFlight::enter(drain.get_ref().clone());
    let result = next.call(req).await;
    drop(counted);
    let mut res = result?;
    if drain.draining.load(Ordering::SeqCst) {
        res.response_mut()
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
    Ok(res)
}

/// Waits for SIGTERM or SIGINT, then drains and stops the server.
pub(crate) async fn on_signal(handle: ServerHandle, drain: Arc<Drain>) {
    let terminate = async {
        match actix_web::rt::signal::unix::signal(
            actix_web::rt::signal::unix::SignalKind::terminate(),
        ) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    let interrupt = actix_web::rt::signal::ctrl_c();
    let (terminate, interrupt) = (std::pin::pin!(terminate), std::pin::pin!(interrupt));
    let signal = futures_util::future::select(terminate, interrupt).await;
    // Answers from now on close their connections — before anything else (the log line
    // included), so that no answer given while the listener is being paused keeps one open.
    drain.draining.store(true, Ordering::SeqCst);
    match signal {
        futures_util::future::Either::Left(_) => tracing::info!("SIGTERM: draining"),
        futures_util::future::Either::Right(_) => tracing::info!("SIGINT: draining"),
    }
    // No new connections; the kernel's backlog is dropped with the listener.
    handle.pause().await;
    drain.until_idle().await;
    handle.stop(false).await;
}

/// Middleware: a request body must arrive within the configured time after the head. Only
/// requests that announce a body are wrapped, so a `GET` costs nothing.
pub(crate) async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if !has_body {
        return next.call(req).await;
    }
    let timeout = req
        .app_data::<web::Data<crate::web::state::AppState>>()
        .map(|s| s.config.limits.body_timeout);
    if let Some(timeout) = timeout {
        let inner = std::mem::replace(req.parts_mut().1, Payload::None);
        let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(Deadline {
            inner,
            sleep: Box::pin(tokio::time::sleep(timeout)),
        });
        req.set_payload(Payload::from(stream));
    }
    next.call(req).await
}

struct Deadline {
    inner: Payload,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(timed_out())));
        }
        Poll::Pending
    }
}

fn timed_out() -> PayloadError {
    PayloadError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the request body did not arrive in time",
    ))
}

/// Whether a body read failed because the body stalled.
pub(crate) fn is_timeout(e: &PayloadError) -> bool {
    matches!(e, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
}

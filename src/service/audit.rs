//! Recording to the audit trail: events by a caller or by the system, written in the change's
//! transaction, or on their own for reads (a disclosure is recorded before the data is sent).

use serde_json::{json, Value};
use uuid::Uuid;

use super::{Context, Kind, RequestMeta, Result};
use crate::auth::Caller;
use crate::db::audit::{self, AuditFilter, AuditRow, NewAuditEvent};
use crate::db::{Conn, Pool};

/// An event done by an authenticated caller.
pub fn by(
    ctx: &Context,
    caller: &Caller,
    action: &str,
    entity_type: &'static str,
    entity_id: Uuid,
) -> NewAuditEvent {
    NewAuditEvent {
        occurred_at: ctx.clock.now(),
        actor_kind: caller.kind.as_str(),
        actor_id: Some(caller.id),
        actor_organization_id: Some(caller.organization_id),
        action: action.to_owned(),
        entity_type,
        entity_id: Some(entity_id),
        ip: caller.meta.ip.clone(),
        request_id: caller.meta.request_id.clone(),
        reason: None,
        details: json!({}),
    }
}

/// An event with no authenticated actor: sign-in attempts (from `meta`), seeding and sweeps.
pub fn anonymous(
    ctx: &Context,
    actor_kind: &'static str,
    meta: &RequestMeta,
    action: &str,
    entity_type: &'static str,
    entity_id: Option<Uuid>,
) -> NewAuditEvent {
    NewAuditEvent {
        occurred_at: ctx.clock.now(),
        actor_kind,
        actor_id: None,
        actor_organization_id: None,
        action: action.to_owned(),
        entity_type,
        entity_id,
        ip: meta.ip.clone(),
        request_id: meta.request_id.clone(),
        reason: None,
        details: json!({}),
    }
}

/// Appends in the caller's transaction.
pub async fn append(conn: &mut Conn, ev: NewAuditEvent) -> Result<()> {
    audit::append(conn, ev).await?;
    Ok(())
}

/// Records an event that goes with no change of its own (a read, a disclosure), committed
/// before this returns: callers record before they answer, no record, no data. Through the
/// server's [`Recorder`], many such events share one commit.
pub async fn record(ctx: &Context, ev: NewAuditEvent) -> Result<()> {
    match &ctx.recorder {
        Some(r) => r.record(ev).await,
        None => record_now(&ctx.pool, vec![ev]).await,
    }
}

/// One statement, so atomic without a transaction around it (and one round trip, not three).
async fn record_now(pool: &Pool, events: Vec<NewAuditEvent>) -> Result<()> {
    let mut conn = crate::db::connect(pool).await?;
    audit::append_many(&mut conn, &events).await?;
    Ok(())
}

type Waiting = (NewAuditEvent, tokio::sync::oneshot::Sender<Result<()>>);

/// Group commit for standalone events: audited reads each need a durable record before they
/// answer, and one commit (one WAL flush) per read would cap them far below plain reads. The
/// events wait in one queue; a free writer takes everything queued (up to [`BATCH`]) and
/// commits it with one statement, so the busier the server, the larger the groups. Every
/// caller still waits for its own event to be committed.
#[derive(Clone)]
pub struct Recorder {
    queue: tokio::sync::mpsc::Sender<Waiting>,
}

/// Events committed together at most.
const BATCH: usize = 256;
/// How long a writer waits for more events when, behind the one it took, at least
/// `GATHER_FROM` are already waiting (and fewer than a full group). Measured (audited reads,
/// 64 connections, pg_stat_statements): groups of 25 events instead of 8, 19.5 µs of
/// PostgreSQL time per event instead of 25.9, for a millisecond of latency.
const GATHER: std::time::Duration = std::time::Duration::from_millis(1);
const GATHER_FROM: usize = 2;
/// How long a group's statement may take before its connection is given up as hung.
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Writers. One: while it commits, the next group gathers behind it, and the fewer the
/// commits, the less each record costs PostgreSQL (measured: one writer took groups of about
/// 21 events under load, two of about 11, at the same throughput). A flush that stalls holds
/// up every writer alike, so more would not hide it. It keeps its connection.
const WRITERS: usize = 1;

type Queue = std::sync::Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Waiting>>>;

impl Recorder {
    /// Starts the writers on the current runtime.
    pub fn start(pool: Pool) -> Self {
        let (queue, rx) = tokio::sync::mpsc::channel::<Waiting>(4 * BATCH);
        let rx: Queue = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..WRITERS {
            tokio::spawn(Self::writer(pool.clone(), rx.clone()));
        }
        Self { queue }
    }

    /// Takes the next group: waits for one event, then whatever queued behind it.
    async fn next_group(queue: &Queue) -> Option<Vec<Waiting>> {
        let mut rx = queue.lock().await;
        let first = rx.recv().await?;
        if (GATHER_FROM..BATCH - 1).contains(&rx.len()) {
            // Under load, a moment's wait makes the group several times larger: PostgreSQL
            // spends about 86 µs per statement and 17 µs per event, so each record costs less.
            tokio::time::sleep(GATHER).await;
        }
        let mut group = vec![first];
        while group.len() < BATCH {
            match rx.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        Some(group)
    }

    async fn writer(pool: Pool, queue: Queue) {
        // The writer keeps its connection: queuing for the shared pool behind the very
        // requests that wait for it would delay every record.
        let mut held: Option<crate::db::Pooled> = None;
        while let Some(group) = Self::next_group(&queue).await {
            let (events, waiters): (Vec<_>, Vec<_>) = group.into_iter().unzip();
            match Self::write(&pool, &mut held, &events).await {
                // One bad event (a statement PostgreSQL refused) must not fail its
                // neighbours: each on its own, then. A database that is away fails them all
                // at once instead of once per event.
                Err(e) if e.kind != Kind::Unavailable && events.len() > 1 => {
                    for (ev, w) in events.iter().zip(waiters) {
                        let _ =
                            w.send(Self::write(&pool, &mut held, std::slice::from_ref(ev)).await);
                    }
                }
                outcome => {
                    for w in waiters {
                        let answer = match &outcome {
                            Ok(()) => Ok(()),
                            Err(e) => Err(super::Error::new(e.kind, e.code, e.detail.clone())),
                        };
                        let _ = w.send(answer);
                    }
                }
            }
        }
    }

    /// Writes events with one statement on the held connection (a fresh one when none is held)
    /// within [`WRITE_TIMEOUT`]; keeps the connection unless it failed.
    async fn write(
        pool: &Pool,
        held: &mut Option<crate::db::Pooled>,
        events: &[NewAuditEvent],
    ) -> Result<()> {
        let mut conn = match held.take() {
            Some(c) => c,
            None => crate::db::connect(pool).await?,
        };
        match tokio::time::timeout(WRITE_TIMEOUT, audit::append_many(&mut conn, events)).await {
            Ok(Ok(())) => {
                *held = Some(conn);
                Ok(())
            }
            Ok(Err(e)) => {
                if !matches!(e, crate::db::Error::Unavailable(_)) {
                    *held = Some(conn);
                }
                Err(e.into())
            }
            Err(_) => {
                // A connection that does not answer goes out of the pool and is closed: every
                // audited read waits on this writer.
                drop(deadpool::managed::Object::take(conn));
                Err(super::Error::unavailable(
                    "the audit trail did not answer in time",
                ))
            }
        }
    }

    async fn record(&self, ev: NewAuditEvent) -> Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.queue
            .send((ev, tx))
            .await
            .map_err(|_| super::Error::unavailable("the audit writer has stopped"))?;
        rx.await
            .map_err(|_| super::Error::unavailable("the audit writer has stopped"))?
    }
}

/// Supervision reads personal data read-only, and each such read is itself recorded
/// (DESIGN §1). Records `action` when the caller reads as an auditor.
pub async fn record_supervision_read(
    ctx: &Context,
    caller: &Caller,
    action: &str,
    entity_type: &'static str,
    entity_id: Option<Uuid>,
    details: Value,
) -> Result<()> {
    if !super::access::reads_as_supervision(caller) {
        return Ok(());
    }
    let mut ev = by(ctx, caller, action, entity_type, Uuid::nil()).details(details);
    ev.entity_id = entity_id;
    record(ctx, ev).await
}

/// A page of the trail, newest first. Auditors only.
pub async fn list(ctx: &Context, caller: &Caller, filter: AuditFilter) -> Result<Vec<AuditRow>> {
    super::access::require_auditor(caller)?;
    let mut conn = crate::db::connect(&ctx.pool).await?;
    Ok(audit::list(&mut conn, &filter).await?)
}

//! Recording to the audit trail: events by a caller or by the system, written in the change's
//! transaction, or on their own for reads (a disclosure is recorded before the data is sent).

use serde_json::{json, Value};
use uuid::Uuid;

use super::{Context, RequestMeta, Result};
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
    audit::append_many(&mut conn, events).await?;
    Ok(())
}

type Waiting = (NewAuditEvent, tokio::sync::oneshot::Sender<Result<()>>);

/// Group commit for standalone events: audited reads each need a durable record before they
/// answer, and one commit (one WAL flush) per read would cap them far below plain reads. The
/// writer takes whatever has queued while the previous commit was in flight and commits it as
/// one transaction; every caller still waits for its own event to be committed.
#[derive(Clone)]
pub struct Recorder {
    queues: std::sync::Arc<Vec<tokio::sync::mpsc::Sender<Waiting>>>,
    next: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// Events committed together at most.
const BATCH: usize = 256;
/// Writers committing at once, at most: their WAL flushes overlap, so one slow flush holds up a
/// part of the queue, not all of it. Each keeps a connection: at most a quarter of the pool.
const WRITERS: usize = 4;

impl Recorder {
    /// Starts the writers on the current runtime.
    pub fn start(pool: Pool) -> Self {
        let writers = (pool.status().max_size / 4).clamp(1, WRITERS);
        let queues = (0..writers).map(|_| Self::writer(pool.clone())).collect();
        Self {
            queues: std::sync::Arc::new(queues),
            next: Default::default(),
        }
    }

    fn writer(pool: Pool) -> tokio::sync::mpsc::Sender<Waiting> {
        let (queue, mut rx) = tokio::sync::mpsc::channel::<Waiting>(4 * BATCH);
        tokio::spawn(async move {
            // The writer keeps its connection: queuing for the shared pool behind the very
            // requests that wait for it would delay every record.
            let mut held: Option<crate::db::Pooled> = None;
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (events, waiters): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                let outcome = match held.take() {
                    Some(c) => Ok(c),
                    None => crate::db::connect(&pool).await.map_err(super::Error::from),
                };
                let outcome = match outcome {
                    Ok(mut conn) => {
                        let done = audit::append_many(&mut conn, events.clone())
                            .await
                            .map_err(super::Error::from);
                        // A connection that failed is not kept: the next group takes a fresh one.
                        if done.is_ok() {
                            held = Some(conn);
                        }
                        done
                    }
                    Err(e) => Err(e),
                };
                if outcome.is_err() && events.len() > 1 {
                    // One bad event must not fail its neighbours: each on its own, then.
                    for (ev, w) in events.into_iter().zip(waiters) {
                        let _ = w.send(record_now(&pool, vec![ev]).await);
                    }
                    continue;
                }
                for w in waiters {
                    let answer = match &outcome {
                        Ok(()) => Ok(()),
                        Err(e) => Err(super::Error::new(e.kind, e.code, e.detail.clone())),
                    };
                    let _ = w.send(answer);
                }
            }
        });
        queue
    }

    async fn record(&self, ev: NewAuditEvent) -> Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.queues.len();
        self.queues[i]
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

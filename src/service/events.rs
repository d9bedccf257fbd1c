//! The event feed (DESIGN §3 Events and exchange): every state change writes an event to the
//! outbox in its own transaction ([`emit`]); the relay numbers committed events in commit order
//! (see `db::events` for why no poller can skip one); `GET /events` reads them, filtered to what
//! the caller's organisation may see. Payloads carry codes and ids, never personal data.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{transaction, Context, Error, Result};
use crate::auth::Caller;
use crate::db::events::{self, Audience, EventRow};
use crate::db::Conn;
use crate::domain::role::Role;

/// An event about to be written.
#[derive(Debug, Clone)]
pub struct Event {
    event_type: String,
    entity_type: &'static str,
    entity_id: Uuid,
    region_code: Option<String>,
    organization_ids: Vec<Uuid>,
    payload: Value,
}

impl Event {
    /// `event_type` is `<entity>.<change>`, e.g. `referral.accepted`.
    pub fn new(event_type: impl Into<String>, entity_type: &'static str, entity_id: Uuid) -> Self {
        Self {
            event_type: event_type.into(),
            entity_type,
            entity_id,
            region_code: None,
            organization_ids: Vec::new(),
            payload: Value::Object(Default::default()),
        }
    }

    /// Bureaus covering this region see the event.
    pub fn region(mut self, code: &str) -> Self {
        self.region_code = Some(code.to_owned());
        self
    }

    /// These organisations see the event (repeats and `None`s are dropped).
    pub fn organizations(mut self, ids: impl IntoIterator<Item = Option<Uuid>>) -> Self {
        for id in ids.into_iter().flatten() {
            if !self.organization_ids.contains(&id) {
                self.organization_ids.push(id);
            }
        }
        self
    }

    /// Codes and ids only: never a name, number or free text.
    pub fn payload(mut self, payload: Value) -> Self {
        self.payload = payload;
        self
    }
}

impl Event {
    fn row(self, at: DateTime<Utc>) -> EventRow {
        EventRow {
            id: Uuid::now_v7(),
            position: None,
            event_type: self.event_type,
            entity_type: self.entity_type.to_owned(),
            entity_id: self.entity_id,
            region_code: self.region_code,
            organization_ids: self.organization_ids,
            payload: self.payload,
            occurred_at: at,
        }
    }
}

/// Writes the event in the caller's transaction (it joins the feed when that commits).
pub async fn emit(conn: &mut Conn, ev: Event, at: DateTime<Utc>) -> Result<()> {
    events::insert(conn, &ev.row(at)).await?;
    Ok(())
}

/// Writes many events in one statement, in the caller's transaction.
pub async fn emit_many(conn: &mut Conn, evs: Vec<Event>, at: DateTime<Utc>) -> Result<()> {
    let rows: Vec<EventRow> = evs.into_iter().map(|ev| ev.row(at)).collect();
    events::insert_many(conn, &rows).await?;
    Ok(())
}

/// Writes an event about an organisation's own record (project, fund, disclosure): seen by the
/// organisation and the bureaus of its region.
pub async fn emit_for_organization(
    conn: &mut Conn,
    ev: Event,
    organization_id: Uuid,
    at: DateTime<Utc>,
) -> Result<()> {
    let mut ev = ev.organizations([Some(organization_id)]);
    if let Some(org) = crate::db::organizations::find(conn, organization_id).await? {
        ev = ev.region(&org.region_code);
    }
    emit(conn, ev, at).await
}

/// Numbers the events committed since the last run (nothing when another relay is at work).
pub async fn relay(ctx: &Context) -> Result<i64> {
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            if !events::try_relay_lock(conn).await? {
                return Ok(0);
            }
            let mut total = 0;
            loop {
                let n = events::number_new(conn, 1000).await?;
                total += n;
                if n < 1000 {
                    return Ok(total);
                }
            }
        })
    })
    .await
}

/// Deletes events older than the configured retention (the feed is for keeping in sync, not
/// an archive: the audit trail is that). Returns how many.
pub async fn purge(ctx: &Context) -> Result<usize> {
    let before = ctx.clock.now() - chrono::Duration::days(ctx.config.event_retention_days);
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let mut total = 0;
    loop {
        let n = events::purge(&mut conn, before, 5000).await?;
        total += n;
        if n < 5000 {
            return Ok(total);
        }
    }
}

/// Runs the relay about every second, and the retention purge hourly, until the process ends.
pub async fn run_relay(ctx: Context) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut passes = 0u64;
    loop {
        tick.tick().await;
        if let Err(e) = relay(&ctx).await {
            log::warn!("event relay: {e}");
        }
        passes += 1;
        if passes % 3600 == 1 {
            if let Err(e) = purge(&ctx).await {
                log::warn!("event retention: {e}");
            }
            if let Err(e) = super::webhooks::purge(&ctx).await {
                log::warn!("webhook delivery retention: {e}");
            }
        }
    }
}

/// Whose events the caller sees: auditors all, a bureau its region's and its own, a charity its
/// own; nobody else.
pub fn audience(caller: &Caller) -> Result<Audience> {
    if caller.has(Role::Auditor) {
        Ok(Audience::All)
    } else if caller.has(Role::CivilAffairs) {
        Ok(Audience::Region {
            prefix: caller.region.as_str().to_owned(),
            organization_id: caller.organization_id,
        })
    } else if caller.has(Role::Charity) {
        Ok(Audience::Organization(caller.organization_id))
    } else {
        Err(Error::forbidden(
            "the event feed is for bureaus, charities and auditors",
        ))
    }
}

/// The events after `after` the caller's organisation may see: auditors all; a bureau its
/// region's and its own; a charity its referrals, leads, projects and the like.
pub async fn feed(ctx: &Context, caller: &Caller, after: i64, limit: i64) -> Result<Vec<EventRow>> {
    let who = audience(caller)?;
    // Number what has committed so far, so that a poller usually sees its own writes at once
    // (unless another relay is at work: then within a second). A failing relay only delays.
    // Read from a replica, the feed trails anyway: the background relay is enough then.
    if ctx.config.read_database_url.is_none() {
        if let Err(e) = relay(ctx).await {
            log::warn!("event relay: {e}");
        }
    }
    // From the replica when there is one: it replays commits in order, so a poller never skips
    // a position; it may only see the newest ones a little later.
    let rows = {
        let mut conn = crate::db::connect(&ctx.read_pool).await?;
        events::feed(&mut conn, &who, after, None, limit).await?
    };
    if matches!(who, Audience::All) {
        super::audit::record_supervision_read(
            ctx,
            caller,
            "events.read",
            "event",
            None,
            serde_json::json!({"after": after, "count": rows.len()}),
        )
        .await?;
    }
    Ok(rows)
}

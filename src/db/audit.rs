//! The audit trail (审计日志): events appended in the caller's transaction without any shared
//! lock, the seals that chain them (written by the sealer), and the signed checkpoints.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::Bool;
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;

use super::schema::{audit_checkpoints, audit_events, audit_seals};
use super::{Conn, Result};

/// Only one sealer at a time, across instances (a transaction-scoped advisory lock taken by
/// the sealer alone; requests never wait on it).
const SEAL_LOCK: i64 = 0x0A1D_B21D_A0D1_0002;
/// An event to append; the service layer fills it from the caller and the clock.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub occurred_at: DateTime<Utc>,
    pub actor_kind: &'static str,
    pub actor_id: Option<Uuid>,
    pub actor_organization_id: Option<Uuid>,
    pub action: String,
    pub entity_type: &'static str,
    pub entity_id: Option<Uuid>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub reason: Option<String>,
    pub details: Value,
}

impl NewAuditEvent {
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn reason(mut self, reason: Option<String>) -> Self {
        self.reason = reason;
        self
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub seq: i64,
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub actor_organization_id: Option<Uuid>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub reason: Option<String>,
    pub details: Value,
}

/// An event as inserted.
#[derive(Insertable)]
#[diesel(table_name = audit_events)]
struct EventInsert {
    id: Uuid,
    occurred_at: DateTime<Utc>,
    actor_kind: &'static str,
    actor_id: Option<Uuid>,
    actor_organization_id: Option<Uuid>,
    action: String,
    entity_type: &'static str,
    entity_id: Option<Uuid>,
    ip: Option<String>,
    request_id: Option<String>,
    reason: Option<String>,
    details: Value,
}

impl From<NewAuditEvent> for EventInsert {
    fn from(ev: NewAuditEvent) -> Self {
        Self {
            id: Uuid::now_v7(),
            occurred_at: stored_time(ev.occurred_at),
            actor_kind: ev.actor_kind,
            actor_id: ev.actor_id,
            actor_organization_id: ev.actor_organization_id,
            action: ev.action,
            entity_type: ev.entity_type,
            entity_id: ev.entity_id,
            ip: ev.ip,
            request_id: ev.request_id,
            reason: ev.reason,
            details: ev.details,
        }
    }
}

/// PostgreSQL keeps microseconds; the seal covers what is stored.
fn stored_time(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}

/// Appends an event in the transaction of the change it records: a plain insert, so audited
/// work never waits on other audited work. The sealer chains it once committed.
pub async fn append(conn: &mut Conn, ev: NewAuditEvent) -> Result<Uuid> {
    let row = EventInsert::from(ev);
    let id = row.id;
    diesel::insert_into(audit_events::table)
        .values(&row)
        .execute(conn)
        .await?;
    Ok(id)
}

/// Appends many events with one statement (the group commit of standalone events). The
/// statement's text is the same whatever the group's size (columns as arrays, `unnest`), so it
/// is prepared once per connection instead of parsed and planned for every group.
pub async fn append_many(conn: &mut Conn, events: &[NewAuditEvent]) -> Result<()> {
    use diesel::sql_types::{Array, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
    fn col<'a, T>(events: &'a [NewAuditEvent], f: impl Fn(&'a NewAuditEvent) -> T) -> Vec<T> {
        events.iter().map(f).collect()
    }
    let ids = col(events, |_| Uuid::now_v7());
    let times = col(events, |e| stored_time(e.occurred_at));
    let kinds = col(events, |e| e.actor_kind);
    let actors = col(events, |e| e.actor_id);
    let orgs = col(events, |e| e.actor_organization_id);
    let actions = col(events, |e| e.action.as_str());
    let types = col(events, |e| e.entity_type);
    let entities = col(events, |e| e.entity_id);
    let ips = col(events, |e| e.ip.as_deref());
    let requests = col(events, |e| e.request_id.as_deref());
    let reasons = col(events, |e| e.reason.as_deref());
    let details = col(events, |e| &e.details);
    super::Prepared(
        diesel::sql_query(
            "INSERT INTO audit_events (id, occurred_at, actor_kind, actor_id, \
             actor_organization_id, action, entity_type, entity_id, ip, request_id, reason, \
             details) SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<Array<Timestamptz>, _>(times)
        .bind::<Array<Text>, _>(kinds)
        .bind::<Array<Nullable<SqlUuid>>, _>(actors)
        .bind::<Array<Nullable<SqlUuid>>, _>(orgs)
        .bind::<Array<Text>, _>(actions)
        .bind::<Array<Text>, _>(types)
        .bind::<Array<Nullable<SqlUuid>>, _>(entities)
        .bind::<Array<Nullable<Text>>, _>(ips)
        .bind::<Array<Nullable<Text>>, _>(requests)
        .bind::<Array<Nullable<Text>>, _>(reasons)
        .bind::<Array<Jsonb>, _>(details),
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Default)]
pub struct AuditFilter {
    pub entity_type: Option<String>,
    pub entity_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Newest first: return events with `seq` below this.
    pub before_seq: Option<i64>,
    pub limit: i64,
}

pub async fn list(conn: &mut Conn, f: &AuditFilter) -> Result<Vec<AuditRow>> {
    let mut q = audit_events::table
        .select(AuditRow::as_select())
        .into_boxed();
    if let Some(v) = &f.entity_type {
        q = q.filter(audit_events::entity_type.eq(v.clone()));
    }
    if let Some(v) = f.entity_id {
        q = q.filter(audit_events::entity_id.eq(v));
    }
    if let Some(v) = f.actor_id {
        q = q.filter(audit_events::actor_id.eq(v));
    }
    if let Some(v) = &f.action {
        q = q.filter(audit_events::action.eq(v.clone()));
    }
    if let Some(v) = f.from {
        q = q.filter(audit_events::occurred_at.ge(v));
    }
    if let Some(v) = f.to {
        q = q.filter(audit_events::occurred_at.lt(v));
    }
    if let Some(v) = f.before_seq {
        q = q.filter(audit_events::seq.lt(v));
    }
    q.order(audit_events::seq.desc())
        .limit(f.limit)
        .load(conn)
        .await
        .map_err(Into::into)
}

/// A seal: a run of events' place in the chain and its MAC.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_seals)]
pub struct SealRow {
    pub position: i64,
    /// The highest `seq` the seal covers.
    pub seq: i64,
    pub prev_mac: String,
    pub mac: String,
    pub sealed_at: DateTime<Utc>,
    /// The run's events in chain order; `None` on a seal of the one event `seq` (written
    /// before seals covered runs).
    pub seqs: Option<Vec<i64>>,
}

impl SealRow {
    /// The events the seal covers, in chain order.
    pub fn covers(&self) -> Vec<i64> {
        self.seqs.clone().unwrap_or_else(|| vec![self.seq])
    }

    /// How many events the seal covers.
    pub fn size(&self) -> usize {
        self.seqs.as_ref().map_or(1, Vec::len)
    }
}

/// A signed checkpoint of the chain's head.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_checkpoints)]
pub struct CheckpointRow {
    pub position: i64,
    pub head_mac: String,
    pub signed_at: DateTime<Utc>,
    pub key_id: String,
    pub signature: String,
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Takes the sealer's lock for this transaction, unless another sealer holds it.
pub async fn try_seal_lock(conn: &mut Conn) -> Result<bool> {
    let rows: Vec<Locked> = diesel::sql_query(format!(
        "SELECT pg_try_advisory_xact_lock({SEAL_LOCK}) AS locked"
    ))
    .load(conn)
    .await?;
    Ok(<[Locked]>::first(&rows).is_some_and(|r| r.locked))
}

pub async fn last_seal(conn: &mut Conn) -> Result<Option<SealRow>> {
    audit_seals::table
        .select(SealRow::as_select())
        .order(audit_seals::position.desc())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

/// The columns of [`AuditRow`], for the statements written as SQL.
const EVENT_COLUMNS: &str = "e.seq, e.id, e.occurred_at, e.actor_kind, e.actor_id, \
     e.actor_organization_id, e.action, e.entity_type, e.entity_id, e.ip, e.request_id, e.reason, \
     e.details";

/// Every seal with each event it covers (`s`, `m.seq`): a run lists its events in `seqs`, a
/// seal written before runs covers the one event `seq`.
const COVERED: &str = "audit_seals s, unnest(coalesce(s.seqs, ARRAY[s.seq])) AS m(seq)";

/// Committed events after `after_seq` without a seal, oldest first. Only seals whose newest
/// event lies after `after_seq` can cover one, so the search costs the width of the window,
/// not the size of the trail.
pub async fn unsealed(conn: &mut Conn, after_seq: i64, limit: i64) -> Result<Vec<AuditRow>> {
    use diesel::sql_types::Int8;
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events e \
             WHERE e.seq > $1 AND NOT EXISTS ( \
                 SELECT 1 FROM {COVERED} WHERE s.seq > $1 AND m.seq = e.seq) \
             ORDER BY e.seq LIMIT $2"
        )
    });
    super::Prepared(
        diesel::sql_query(SQL.as_str())
            .bind::<Int8, _>(after_seq)
            .bind::<Int8, _>(limit),
    )
    .load(conn)
    .await
    .map_err(Into::into)
}

/// The newest sealed event's `seq` (where the search for unsealed ones starts from).
pub async fn newest_sealed_seq(conn: &mut Conn) -> Result<i64> {
    let seq: Option<i64> = audit_seals::table
        .select(diesel::dsl::max(audit_seals::seq))
        .first(conn)
        .await?;
    Ok(seq.unwrap_or(0))
}

pub async fn insert_seal(conn: &mut Conn, seal: &SealRow) -> Result<()> {
    diesel::insert_into(audit_seals::table)
        .values(seal)
        .execute(conn)
        .await?;
    Ok(())
}

/// Seals after `position`, in chain order.
pub async fn seals_after(conn: &mut Conn, position: i64, limit: i64) -> Result<Vec<SealRow>> {
    audit_seals::table
        .filter(audit_seals::position.gt(position))
        .select(SealRow::as_select())
        .order(audit_seals::position.asc())
        .limit(limit)
        .load(conn)
        .await
        .map_err(Into::into)
}

/// The events with these `seq`s (those that exist), in no particular order.
pub async fn events(conn: &mut Conn, seqs: &[i64]) -> Result<Vec<AuditRow>> {
    audit_events::table
        .filter(audit_events::seq.eq_any(seqs))
        .select(AuditRow::as_select())
        .load(conn)
        .await
        .map_err(Into::into)
}

pub async fn seal_at(conn: &mut Conn, position: i64) -> Result<Option<SealRow>> {
    audit_seals::table
        .find(position)
        .select(SealRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

pub async fn insert_checkpoint(conn: &mut Conn, c: &CheckpointRow) -> Result<()> {
    diesel::insert_into(audit_checkpoints::table)
        .values((
            audit_checkpoints::position.eq(c.position),
            audit_checkpoints::head_mac.eq(&c.head_mac),
            audit_checkpoints::signed_at.eq(c.signed_at),
            audit_checkpoints::key_id.eq(&c.key_id),
            audit_checkpoints::signature.eq(&c.signature),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// The newest checkpoints, newest first.
pub async fn checkpoints(conn: &mut Conn, limit: i64) -> Result<Vec<CheckpointRow>> {
    audit_checkpoints::table
        .select(CheckpointRow::as_select())
        .order(audit_checkpoints::position.desc())
        .limit(limit)
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Events (`e`) no seal covers: an anti-join against every seal's events (hashed, so one pass
/// over each table).
fn uncovered() -> String {
    format!("NOT EXISTS (SELECT 1 FROM {COVERED} WHERE m.seq = e.seq)")
}

#[derive(QueryableByName)]
struct Seq {
    #[diesel(sql_type = diesel::sql_types::Int8)]
    seq: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::Int8)]
    n: i64,
}

/// The oldest event appended before `before` that has no seal, if any.
pub async fn unsealed_before(conn: &mut Conn, before: DateTime<Utc>) -> Result<Option<i64>> {
    let rows: Vec<Seq> = diesel::sql_query(format!(
        "SELECT e.seq FROM audit_events e WHERE e.occurred_at < $1 AND {} \
         ORDER BY e.seq LIMIT 1",
        uncovered()
    ))
    .bind::<diesel::sql_types::Timestamptz, _>(before)
    .load(conn)
    .await?;
    Ok(rows.into_iter().next().map(|r| r.seq))
}

/// Events that exist but have no seal (waiting for the sealer, or removed seals).
pub async fn unsealed_count(conn: &mut Conn) -> Result<i64> {
    let rows: Vec<Count> = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM audit_events e WHERE {}",
        uncovered()
    ))
    .load(conn)
    .await?;
    Ok(rows.into_iter().next().map_or(0, |r| r.n))
}

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

#[derive(Debug, Clone, Queryable, Selectable)]
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
            // PostgreSQL keeps microseconds; the seal covers what is stored.
            occurred_at: ev
                .occurred_at
                .duration_trunc(TimeDelta::microseconds(1))
                .unwrap_or(ev.occurred_at),
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
pub async fn append_many(conn: &mut Conn, events: Vec<NewAuditEvent>) -> Result<()> {
    use diesel::sql_types::{Array, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
    let rows: Vec<EventInsert> = events.into_iter().map(EventInsert::from).collect();
    let mut ids = Vec::with_capacity(rows.len());
    let mut times = Vec::with_capacity(rows.len());
    let mut kinds = Vec::with_capacity(rows.len());
    let mut actors = Vec::with_capacity(rows.len());
    let mut orgs = Vec::with_capacity(rows.len());
    let mut actions = Vec::with_capacity(rows.len());
    let mut types = Vec::with_capacity(rows.len());
    let mut entities = Vec::with_capacity(rows.len());
    let mut ips = Vec::with_capacity(rows.len());
    let mut requests = Vec::with_capacity(rows.len());
    let mut reasons = Vec::with_capacity(rows.len());
    let mut details = Vec::with_capacity(rows.len());
    for r in rows {
        ids.push(r.id);
        times.push(r.occurred_at);
        kinds.push(r.actor_kind);
        actors.push(r.actor_id);
        orgs.push(r.actor_organization_id);
        actions.push(r.action);
        types.push(r.entity_type);
        entities.push(r.entity_id);
        ips.push(r.ip);
        requests.push(r.request_id);
        reasons.push(r.reason);
        details.push(r.details);
    }
    diesel::sql_query(
        "INSERT INTO audit_events (id, occurred_at, actor_kind, actor_id, actor_organization_id, \
         action, entity_type, entity_id, ip, request_id, reason, details) \
         SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
    .bind::<Array<Jsonb>, _>(details)
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

/// A seal: an event's place in the chain and its MAC.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_seals)]
pub struct SealRow {
    pub position: i64,
    pub seq: i64,
    pub prev_mac: String,
    pub mac: String,
    pub sealed_at: DateTime<Utc>,
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

/// Committed events after `after_seq` without a seal, oldest first. Both sides are bounded by
/// `after_seq`, so the search costs the width of the window, not the size of the trail.
pub async fn unsealed(conn: &mut Conn, after_seq: i64, limit: i64) -> Result<Vec<AuditRow>> {
    use diesel::dsl::{exists, not};
    audit_events::table
        .filter(audit_events::seq.gt(after_seq))
        .filter(not(exists(
            audit_seals::table
                .filter(audit_seals::seq.eq(audit_events::seq))
                .filter(audit_seals::seq.gt(after_seq)),
        )))
        .select(AuditRow::as_select())
        .order(audit_events::seq.asc())
        .limit(limit)
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

/// Writes a run of seals with one statement (prepared once: arrays and `unnest`).
pub async fn insert_seals(conn: &mut Conn, seals: &[SealRow]) -> Result<()> {
    use diesel::sql_types::{Array, Int8, Text, Timestamptz};
    diesel::sql_query(
        "INSERT INTO audit_seals (position, seq, prev_mac, mac, sealed_at) \
         SELECT * FROM unnest($1, $2, $3, $4, $5)",
    )
    .bind::<Array<Int8>, _>(seals.iter().map(|s| s.position).collect::<Vec<_>>())
    .bind::<Array<Int8>, _>(seals.iter().map(|s| s.seq).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(
        seals
            .iter()
            .map(|s| s.prev_mac.as_str())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Text>, _>(seals.iter().map(|s| s.mac.as_str()).collect::<Vec<_>>())
    .bind::<Array<Timestamptz>, _>(seals.iter().map(|s| s.sealed_at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Seals after `position` with their events, in chain order.
pub async fn sealed_after(
    conn: &mut Conn,
    position: i64,
    limit: i64,
) -> Result<Vec<(SealRow, Option<AuditRow>)>> {
    audit_seals::table
        .left_join(audit_events::table)
        .filter(audit_seals::position.gt(position))
        .select((SealRow::as_select(), Option::<AuditRow>::as_select()))
        .order(audit_seals::position.asc())
        .limit(limit)
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

/// The oldest event appended before `before` that has no seal, if any.
pub async fn unsealed_before(conn: &mut Conn, before: DateTime<Utc>) -> Result<Option<i64>> {
    audit_events::table
        .left_join(audit_seals::table)
        .filter(audit_seals::seq.is_null())
        .filter(audit_events::occurred_at.lt(before))
        .select(audit_events::seq)
        .order(audit_events::seq.asc())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

/// Events that exist but have no seal (waiting for the sealer, or removed seals).
pub async fn unsealed_count(conn: &mut Conn) -> Result<i64> {
    audit_events::table
        .left_join(audit_seals::table)
        .filter(audit_seals::seq.is_null())
        .count()
        .get_result(conn)
        .await
        .map_err(Into::into)
}

//! The outbox (DESIGN §3 Events) and the feed read from it.
//!
//! Why a poller can never skip an event: writers insert events without a position, inside their
//! own transactions, so an event exists for others only once its transaction has committed.
//! The relay ([`number_new`]) runs one at a time (a transaction-scoped advisory lock) and, after
//! taking the lock, numbers the events its statement can see, continuing from the highest
//! position already given. Every position it hands out is therefore greater than every position
//! committed before, and the relay's own commit makes a whole batch visible at once: the set of
//! positioned events only ever grows at its end. A transaction that commits late (whatever its
//! ids) is numbered by a later relay run, after everything already in the feed. Within one batch
//! (transactions that committed between two relay runs, at most about a second apart) events
//! follow their ids, time-ordered UUIDs made by the writing instance: with several instances
//! whose clocks differ, two changes of one record within a second may be listed in the other
//! order; records that change often (referrals, leads, projects, needs) carry their `version`
//! in the payload for that reason.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Int8};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::schema::outbox_events;
use super::{Conn, Result};

/// Only one relay at a time, across instances.
const RELAY_LOCK: i64 = 0x0A1D_B21D_6E00_0003;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox_events)]
pub struct EventRow {
    pub id: Uuid,
    pub position: Option<i64>,
    pub event_type: String,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub region_code: Option<String>,
    pub organization_ids: Vec<Uuid>,
    pub payload: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut Conn, row: &EventRow) -> Result<()> {
    diesel::insert_into(outbox_events::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

/// Writes many events in one statement (a batch of an import).
pub async fn insert_many(conn: &mut Conn, rows: &[EventRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    diesel::insert_into(outbox_events::table)
        .values(rows)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

#[derive(QueryableByName)]
struct Numbered {
    #[diesel(sql_type = Int8)]
    n: i64,
}

/// Takes the relay's lock for this transaction, unless another relay holds it. The transaction
/// must read committed data statement by statement (set here, whatever the database's default),
/// so that numbering, a statement after the lock, sees the previous relay's commit.
pub async fn try_relay_lock(conn: &mut Conn) -> Result<bool> {
    use diesel_async::SimpleAsyncConnection;
    conn.batch_execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        .await?;
    let rows: Vec<Locked> = diesel::sql_query(format!(
        "SELECT pg_try_advisory_xact_lock({RELAY_LOCK}) AS locked"
    ))
    .load(conn)
    .await?;
    Ok(<[Locked]>::first(&rows).is_some_and(|r| r.locked))
}

/// Numbers up to `limit` committed events that have no position yet, after the highest given
/// (call with the relay lock held; a statement of its own so that it sees the previous relay's
/// commit). Returns how many were numbered.
pub async fn number_new(conn: &mut Conn, limit: i64) -> Result<i64> {
    let rows: Vec<Numbered> = diesel::sql_query(
        "WITH base AS (SELECT coalesce(max(position), 0) AS top FROM outbox_events), \
              fresh AS (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM \
                        (SELECT id FROM outbox_events WHERE position IS NULL ORDER BY id LIMIT $1) f), \
              done AS (UPDATE outbox_events o SET position = base.top + fresh.rn \
                       FROM fresh, base WHERE o.id = fresh.id RETURNING 1) \
         SELECT count(*) AS n FROM done",
    )
    .bind::<Int8, _>(limit)
    .load(conn)
    .await?;
    Ok(<[Numbered]>::first(&rows).map_or(0, |r| r.n))
}

/// Deletes up to `limit` numbered events that occurred before `before`; returns how many.
pub async fn purge(conn: &mut Conn, before: DateTime<Utc>, limit: i64) -> Result<usize> {
    use diesel::sql_types::Timestamptz;
    diesel::sql_query(
        "DELETE FROM outbox_events WHERE id IN (SELECT id FROM outbox_events \
         WHERE occurred_at < $1 AND position IS NOT NULL ORDER BY occurred_at LIMIT $2)",
    )
    .bind::<Timestamptz, _>(before)
    .bind::<Int8, _>(limit)
    .execute(conn)
    .await
    .map_err(Into::into)
}

/// Who reads the feed.
#[derive(Debug, Clone)]
pub enum Audience {
    /// Auditors: everything.
    All,
    /// A bureau: events of its region, and of its organisation.
    Region {
        prefix: String,
        organization_id: Uuid,
    },
    /// A charity (or other organisation): its own events.
    Organization(Uuid),
}

/// The highest position given so far (0 before any).
pub async fn top(conn: &mut Conn) -> Result<i64> {
    let top: Option<i64> = outbox_events::table
        .select(diesel::dsl::max(outbox_events::position))
        .first(conn)
        .await?;
    Ok(top.unwrap_or(0))
}

/// Numbered events after `after` (and up to `upto`, when given), in feed order, that `who` may
/// see.
pub async fn feed(
    conn: &mut Conn,
    who: &Audience,
    after: i64,
    upto: Option<i64>,
    limit: i64,
) -> Result<Vec<EventRow>> {
    let mut q = outbox_events::table
        .filter(outbox_events::position.gt(after))
        .filter(outbox_events::position.le(upto.unwrap_or(i64::MAX)))
        .select(EventRow::as_select())
        .order(outbox_events::position.asc())
        .limit(limit)
        .into_boxed();
    match who {
        Audience::All => {}
        Audience::Region {
            prefix,
            organization_id,
        } => {
            q = q.filter(
                outbox_events::region_code
                    .like(format!("{prefix}%"))
                    .or(outbox_events::organization_ids.contains(vec![*organization_id])),
            );
        }
        Audience::Organization(id) => {
            q = q.filter(outbox_events::organization_ids.contains(vec![*id]));
        }
    }
    q.load(conn).await.map_err(Into::into)
}

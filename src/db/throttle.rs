//! Failed sign-in counting per principal name, shared by every server instance through the database.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamptz};
use diesel_async::RunQueryDsl;

use super::schema::login_throttle;
use super::{Conn, Result};

/// When the principal is locked out, until when.
pub async fn locked_until(
    conn: &mut Conn,
    principal: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>> {
    let until: Option<Option<DateTime<Utc>>> = login_throttle::table
        .find(principal)
        .select(login_throttle::locked_until)
        .first(conn)
        .await
        .optional()?;
    Ok(until.flatten().filter(|t| *t > now))
}

/// Counts a failure in the current window; the `max`-th failure locks for `lockout` seconds.
pub async fn record_failure(
    conn: &mut Conn,
    principal: &str,
    max: i32,
    window_seconds: i64,
    lockout_seconds: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    // One statement, so racing failures are all counted.
    diesel::sql_query(
        "INSERT INTO login_throttle AS t (principal, failures, window_started_at, locked_until)
         VALUES ($1, 1, $5, CASE WHEN $2 <= 1 THEN $5 + make_interval(secs => $4) END)
         ON CONFLICT (principal) DO UPDATE SET
           failures = CASE WHEN t.window_started_at < $5 - make_interval(secs => $3)
                           THEN 1 ELSE t.failures + 1 END,
           window_started_at = CASE WHEN t.window_started_at < $5 - make_interval(secs => $3)
                           THEN $5 ELSE t.window_started_at END,
           locked_until = CASE WHEN t.window_started_at >= $5 - make_interval(secs => $3)
                                AND t.failures + 1 >= $2
                           THEN $5 + make_interval(secs => $4) ELSE t.locked_until END",
    )
    .bind::<Text, _>(principal)
    .bind::<Integer, _>(max)
    .bind::<BigInt, _>(window_seconds)
    .bind::<BigInt, _>(lockout_seconds)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes up to `limit` rows whose window has passed and whose lock-out (if any) has ended.
pub async fn sweep(
    conn: &mut Conn,
    now: DateTime<Utc>,
    window_seconds: i64,
    limit: i64,
) -> Result<usize> {
    diesel::sql_query(
        "DELETE FROM login_throttle WHERE principal IN (
           SELECT principal FROM login_throttle
           WHERE window_started_at < $1 - make_interval(secs => $2)
             AND (locked_until IS NULL OR locked_until < $1)
           LIMIT $3)",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(window_seconds)
    .bind::<BigInt, _>(limit)
    .execute(conn)
    .await
    .map_err(Into::into)
}

pub async fn clear(conn: &mut Conn, principal: &str) -> Result<()> {
    diesel::delete(login_throttle::table.find(principal))
        .execute(conn)
        .await?;
    Ok(())
}

//! Readiness: the database answers and has every migration this build needs.

use super::{Context, Error, Result};

/// The newest applied migration, when it is at least `needed`.
pub async fn check(ctx: &Context, needed: &str) -> Result<String> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let applied = crate::db::applied_migration(&mut conn).await.map_err(|e| {
        log::warn!("readyz: {e}");
        Error::unavailable("the database schema is not migrated")
    })?;
    match applied {
        Some(v) if v.as_str() >= needed => Ok(v),
        other => Err(Error::unavailable(format!(
            "migrations pending: database at {}, this build needs {needed}",
            other.unwrap_or_else(|| "none".into()),
        ))),
    }
}

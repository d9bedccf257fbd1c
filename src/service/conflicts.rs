//! Conflict of interest (优亲厚友): staff declare their relatives by ID number (kept only as the
//! keyed hash); acting on a declared relative's case is refused and recorded, and another user
//! of the same organisation must act.

use serde_json::json;
use uuid::Uuid;

use super::{audit, transaction, Context, Error, Kind, Result};
use crate::auth::{Caller, PrincipalKind};
use crate::db::persons;
use crate::db::relations::{self, RelationRow};
use crate::domain::person::Relation;
use crate::domain::role::Role;

/// Declares a relative (the caller, a user): the normalised, validated ID number is hashed and
/// never stored.
pub async fn declare(
    ctx: &Context,
    caller: &Caller,
    id_number: &str,
    relation: Relation,
) -> Result<RelationRow> {
    if caller.kind != PrincipalKind::User {
        return Err(Error::forbidden(
            "relatives are declared by people, not API clients",
        ));
    }
    let row = RelationRow {
        id: Uuid::now_v7(),
        user_id: caller.id,
        organization_id: caller.organization_id,
        relative_id_hash: ctx.keys.blind_index(id_number),
        relation: relation.as_str().to_owned(),
        declared_at: ctx.clock.now(),
        removed_at: None,
    };
    let ev = audit::by(ctx, caller, "relation.declare", "relation", row.id)
        .details(json!({"relation": relation}));
    let r = row.clone();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            relations::insert(conn, &r).await.map_err(|e| match e {
                crate::db::Error::Duplicate { constraint }
                    if constraint == relations::ONE_ACTIVE =>
                {
                    Error::conflict("duplicate", "this relative is already declared")
                        .with_extra("field", "id_number")
                }
                other => other.into(),
            })?;
            audit::append(conn, ev).await?;
            Ok(())
        })
    })
    .await?;
    Ok(row)
}

pub async fn mine(ctx: &Context, caller: &Caller) -> Result<Vec<RelationRow>> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    Ok(relations::of_user(&mut conn, caller.id).await?)
}

pub async fn remove(ctx: &Context, caller: &Caller, id: Uuid) -> Result<()> {
    let now = ctx.clock.now();
    let ev = audit::by(ctx, caller, "relation.remove", "relation", id);
    let user = caller.id;
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            if !relations::remove(conn, user, id, now).await? {
                return Err(Error::not_found("relation"));
            }
            audit::append(conn, ev).await?;
            Ok(())
        })
    })
    .await
}

/// An organisation's declarations, removed ones included: auditors (recorded).
pub async fn of_organization(
    ctx: &Context,
    caller: &Caller,
    org: Uuid,
) -> Result<Vec<RelationRow>> {
    caller.require_any(&[Role::Auditor])?;
    let rows = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        relations::of_organization(&mut conn, org).await?
    };
    audit::record_supervision_read(
        ctx,
        caller,
        "relation.list",
        "organization",
        Some(org),
        json!({}),
    )
    .await?;
    Ok(rows)
}

/// Refuses (403 `conflict_of_interest`) when the caller declared the person a relative; the
/// refusal is recorded on its own commit, so it stays even though the action is not taken.
pub async fn guard(ctx: &Context, caller: &Caller, person_id: Uuid, action: &str) -> Result<()> {
    if caller.kind != PrincipalKind::User {
        return Ok(());
    }
    let hash = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        persons::find(&mut conn, person_id)
            .await?
            .map(|p| p.id_number_hash)
    };
    match hash {
        Some(h) => guard_hash(ctx, caller, &h, "person", person_id, action).await,
        None => Ok(()),
    }
}

/// As [`guard`], for someone known by the keyed hash of their ID number (a lead's person not yet
/// registered); the refusal is recorded against `entity`.
pub async fn guard_hash(
    ctx: &Context,
    caller: &Caller,
    id_hash: &str,
    entity_type: &'static str,
    entity_id: Uuid,
    action: &str,
) -> Result<()> {
    if caller.kind != PrincipalKind::User {
        return Ok(());
    }
    let related = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        relations::is_relative(&mut conn, caller.id, id_hash).await?
    };
    if !related {
        return Ok(());
    }
    let ev = audit::by(
        ctx,
        caller,
        "conflict_of_interest.refused",
        entity_type,
        entity_id,
    )
    .details(json!({"action": action}));
    audit::record(ctx, ev).await?;
    Err(Error::new(
        Kind::Forbidden,
        "conflict_of_interest",
        "you declared this person a relative; another member of your organisation must act",
    ))
}

//! Who may see which people: civil-affairs staff by region, auditors read-only everywhere,
//! charities only through consent. Shared by persons, consents, government aid and needs.

use chrono::Utc;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::persons::PersonRow;
use crate::db::{consents, organizations, persons, Conn};
use crate::domain::consent::{coverage, Coverage, Requester};
use crate::domain::organization::OrganizationKind;
use crate::domain::parse_or;
use crate::domain::role::Role;
use crate::error::{ApiError, FieldError};

/// How the caller stands towards one person.
#[derive(Debug, Clone)]
pub enum Access {
    /// Civil-affairs staff whose region covers the person's: everything, masked unless revealed.
    Staff,
    /// Supervision: everything, always masked; every read is audited.
    Auditor,
    /// A charity under consent: only the categories it names (or a summary).
    Recipient(Coverage),
}

pub async fn load_person(conn: &mut Conn, id: Uuid) -> Result<PersonRow, ApiError> {
    persons::find(conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("person"))
}

/// The caller's organisation as a consent recipient.
pub async fn requester(conn: &mut Conn, caller: &Caller) -> Result<Requester, ApiError> {
    let org = organizations::find(conn, caller.organization_id)
        .await?
        .ok_or_else(|| ApiError::forbidden("the caller's organisation no longer exists"))?;
    Ok(Requester {
        organization_id: org.id,
        kind: parse_or(&org.kind, OrganizationKind::Other),
        region_code: org.region_code,
    })
}

/// Decides access; people outside the caller's reach are reported as not found, so their
/// existence is not disclosed either.
pub async fn access_to(
    conn: &mut Conn,
    caller: &Caller,
    person: &PersonRow,
) -> Result<Access, ApiError> {
    if caller.has(Role::CivilAffairs) && caller.covers_region(&person.region_code) {
        return Ok(Access::Staff);
    }
    if caller.has(Role::Auditor) {
        return Ok(Access::Auditor);
    }
    if caller.has(Role::Charity) {
        let who = requester(conn, caller).await?;
        let facts: Vec<_> = consents::of_person(conn, person.id)
            .await?
            .iter()
            .map(|c| c.facts())
            .collect();
        let cov = coverage(&facts, &who, None, Utc::now());
        if cov.sees_anything() {
            return Ok(Access::Recipient(cov));
        }
        return Err(ApiError::not_found("person"));
    }
    if caller.has(Role::CivilAffairs) {
        return Err(ApiError::not_found("person"));
    }
    Err(ApiError::forbidden(
        "this role has no access to people's records",
    ))
}

/// For changes: only civil-affairs staff of the person's region.
pub fn require_staff(caller: &Caller, person: &PersonRow) -> Result<(), ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    if caller.covers_region(&person.region_code) {
        Ok(())
    } else {
        Err(ApiError::not_found("person"))
    }
}

/// The region prefix a list may cover: civil-affairs staff within their region, auditors anywhere.
pub fn list_scope(caller: &Caller, requested: Option<&str>) -> Result<String, ApiError> {
    if let Some(r) = requested {
        if r.is_empty() || !r.bytes().all(|b| b.is_ascii_digit()) || r.len() > 12 {
            return Err(ApiError {
                errors: vec![FieldError::new(
                    "region",
                    "invalid_region_code",
                    "a region code prefix has up to 12 digits",
                )],
                ..ApiError::bad_request("invalid_query", "query parameter region must be digits")
            });
        }
    }
    if caller.has(Role::CivilAffairs) {
        let own = caller.region.as_str();
        return match requested {
            None => Ok(own.to_owned()),
            Some(r) if r.starts_with(own) => Ok(r.to_owned()),
            Some(r) if own.starts_with(r) => Ok(own.to_owned()),
            Some(r) => Err(ApiError::forbidden(format!(
                "region {r} is outside your region {own}"
            ))),
        };
    }
    if caller.has(Role::Auditor) {
        return Ok(requested.unwrap_or("").to_owned());
    }
    Err(ApiError::forbidden(
        "this needs one of the roles: civil_affairs, auditor",
    ))
}

/// Supervision reads personal data read-only, and each such read is itself recorded
/// (DESIGN §1). Records `action` when the caller reads as an auditor rather than as staff.
pub async fn record_supervision_read(
    pool: &crate::db::Pool,
    caller: &Caller,
    meta: &crate::api::extract::RequestMeta,
    action: &str,
    entity_type: &'static str,
    entity_id: Option<Uuid>,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    if !caller.has(Role::Auditor) || caller.has(Role::CivilAffairs) {
        return Ok(());
    }
    let mut ev = crate::db::audit::NewAuditEvent::by(
        caller,
        meta,
        action,
        entity_type,
        entity_id.unwrap_or_default(),
    )
    .details(details);
    ev.entity_id = entity_id;
    crate::db::audit::record(pool, ev).await
}

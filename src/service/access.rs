//! The one access policy: who may read, change, reveal or list what, by role, region and
//! consent. Every use case asks here; people and needs outside the caller's reach are answered
//! as not found, so their existence is not disclosed either.

use chrono::{DateTime, Utc};

use super::{Error, Result};
use crate::auth::Caller;
use crate::db::needs::NeedRow;
use crate::db::persons::PersonRow;
use crate::db::{consents, organizations, Conn};
use crate::domain::consent::{coverage, ConsentFacts, Coverage, Purpose, Requester};
use crate::domain::role::Role;

/// How the caller stands towards one person.
#[derive(Debug, Clone)]
pub enum PersonAccess {
    /// Civil-affairs staff whose region covers the person's: everything, masked unless revealed.
    Staff,
    /// Supervision: everything, always masked; every read is audited.
    Auditor,
    /// A charity under consent: only the categories it names (or a summary).
    Recipient(Coverage),
}

/// The facts of every consent a person has given (what coverage is decided on).
pub async fn consent_facts(conn: &mut Conn, person_id: uuid::Uuid) -> Result<Vec<ConsentFacts>> {
    Ok(consents::of_person(conn, person_id)
        .await?
        .iter()
        .map(|c| c.facts())
        .collect())
}

/// The caller's organisation as a consent recipient.
pub async fn requester(conn: &mut Conn, caller: &Caller) -> Result<Requester> {
    let org = organizations::find(conn, caller.organization_id)
        .await?
        .ok_or_else(|| Error::forbidden("the caller's organisation no longer exists"))?;
    Ok(Requester {
        organization_id: org.id,
        kind: org.kind,
        region_code: org.region_code,
    })
}

fn purpose_required() -> Error {
    Error::field(
        "purpose",
        "required",
        "name the purpose you read for; the consent must cover it",
    )
}

/// Checked before a person is looked up, so that neither answer depends on whether the id
/// exists: roles that never read people get 403, a charity that names no purpose 422.
pub fn may_read_people(caller: &Caller, purpose: Option<Purpose>) -> Result<()> {
    if caller.has(Role::CivilAffairs) || caller.has(Role::Auditor) {
        Ok(())
    } else if caller.has(Role::Charity) {
        purpose.map(|_| ()).ok_or_else(purpose_required)
    } else {
        Err(Error::forbidden(
            "this role has no access to people's records",
        ))
    }
}

/// Checked before a need is looked up (403 for roles that never read needs, whatever the id).
pub fn may_read_needs(caller: &Caller) -> Result<()> {
    caller.require_any(&[Role::CivilAffairs, Role::Auditor])
}

/// Decides how the caller may see `person` (for `purpose`, when a charity reads under consent).
pub async fn to_person(
    conn: &mut Conn,
    caller: &Caller,
    person: &PersonRow,
    purpose: Option<Purpose>,
    now: DateTime<Utc>,
) -> Result<PersonAccess> {
    if caller.has(Role::CivilAffairs) && caller.covers_region(&person.region_code) {
        return Ok(PersonAccess::Staff);
    }
    if caller.has(Role::Auditor) {
        return Ok(PersonAccess::Auditor);
    }
    if caller.has(Role::Charity) {
        // A recipient reads for a purpose, and only a consent for that purpose lets it.
        let Some(purpose) = purpose else {
            return Err(purpose_required());
        };
        let who = requester(conn, caller).await?;
        let facts: Vec<_> = consent_facts(conn, person.id).await?;
        let mut cov = coverage(&facts, &who, Some(purpose), now);
        if purpose == Purpose::Referral {
            // Bound to the case: only while a referral to this charity is open.
            let open =
                crate::db::referrals::open_bases_for(conn, person.id, who.organization_id).await?;
            cov = crate::domain::referral::coverage_under_referral(cov, &open);
        }
        if cov.sees_anything() {
            return Ok(PersonAccess::Recipient(cov));
        }
        return Err(Error::not_found("person"));
    }
    if caller.has(Role::CivilAffairs) {
        return Err(Error::not_found("person"));
    }
    Err(Error::forbidden(
        "this role has no access to people's records",
    ))
}

/// For changes to a person and what hangs on it: civil-affairs staff of the person's region.
pub fn change_person(caller: &Caller, person: &PersonRow) -> Result<()> {
    caller.require_any(&[Role::CivilAffairs])?;
    if caller.covers_region(&person.region_code) {
        Ok(())
    } else {
        Err(Error::not_found("person"))
    }
}

/// Reading a person's consents: staff of the region and auditors.
pub fn read_consents(caller: &Caller, person: &PersonRow) -> Result<()> {
    caller.require_any(&[Role::CivilAffairs, Role::Auditor])?;
    if caller.has(Role::Auditor) {
        Ok(())
    } else {
        change_person(caller, person)
    }
}

/// Reading a need: auditors, and civil-affairs staff of its region.
pub fn read_need(caller: &Caller, need: &NeedRow) -> Result<()> {
    if caller.has(Role::Auditor)
        || (caller.has(Role::CivilAffairs) && caller.covers_region(&need.region_code))
    {
        Ok(())
    } else if caller.has(Role::CivilAffairs) {
        Err(Error::not_found("need"))
    } else {
        Err(Error::forbidden(
            "this needs one of the roles: civil_affairs, auditor",
        ))
    }
}

/// Changing a need: civil-affairs staff of its region.
pub fn change_need(caller: &Caller, need: &NeedRow) -> Result<()> {
    caller.require_any(&[Role::CivilAffairs])?;
    read_need(caller, need)
}

/// The region prefix a list of people or needs may cover: civil-affairs staff within their
/// region, auditors anywhere. `requested` has been checked to be a digit prefix.
pub fn list_scope(caller: &Caller, requested: Option<&str>) -> Result<String> {
    if caller.has(Role::CivilAffairs) {
        let own = caller.region.as_str();
        return match requested {
            None => Ok(own.to_owned()),
            Some(r) if r.starts_with(own) => Ok(r.to_owned()),
            Some(r) if own.starts_with(r) => Ok(own.to_owned()),
            Some(r) => Err(Error::forbidden(format!(
                "region {r} is outside your region {own}"
            ))),
        };
    }
    if caller.has(Role::Auditor) {
        return Ok(requested.unwrap_or("").to_owned());
    }
    Err(Error::forbidden(
        "this needs one of the roles: civil_affairs, auditor",
    ))
}

/// A new record placed in `region` must lie within the caller's region.
pub fn place_in_region(caller: &Caller, region: &str) -> Result<()> {
    if caller.covers_region(region) {
        Ok(())
    } else {
        Err(Error::forbidden(format!(
            "region {region} is outside your region {}",
            caller.region.as_str()
        )))
    }
}

/// Whether the caller's reads of personal data are supervision reads (recorded as such).
pub fn reads_as_supervision(caller: &Caller) -> bool {
    caller.has(Role::Auditor) && !caller.has(Role::CivilAffairs)
}

/// The audit trail: auditors only.
pub fn require_auditor(caller: &Caller) -> Result<()> {
    caller.require_any(&[Role::Auditor])
}

/// Managing organisations, users and clients: platform administrators.
pub fn require_admin(caller: &Caller) -> Result<()> {
    caller.require_any(&[Role::Admin])
}

/// Reading organisations with their users and clients: administrators and auditors.
pub fn read_organizations(caller: &Caller) -> Result<()> {
    caller.require_any(&[Role::Admin, Role::Auditor])
}

/// What the caller may see of the organisation register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directory {
    /// Administrators and auditors: every organisation, whatever its status.
    Register,
    /// Civil-affairs and charity staff: active organisations, to find whom to refer to or
    /// record a consent for.
    ActiveOnly,
}

pub fn directory(caller: &Caller) -> Result<Directory> {
    if caller.has(Role::Admin) || caller.has(Role::Auditor) {
        Ok(Directory::Register)
    } else if caller.has(Role::CivilAffairs) || caller.has(Role::Charity) {
        Ok(Directory::ActiveOnly)
    } else {
        Err(Error::forbidden(
            "this needs one of the roles: admin, auditor, civil_affairs, charity",
        ))
    }
}

/// A charity acting on a person itself (recording aid, pairing a volunteer): only under an
/// active consent that names the charity (for any purpose); a region-wide consent's summary
/// is not enough. Anything else reads as not found.
pub async fn named_consent(
    conn: &mut Conn,
    caller: &Caller,
    person: &PersonRow,
    now: DateTime<Utc>,
) -> Result<Coverage> {
    let who = requester(conn, caller).await?;
    let facts: Vec<_> = consent_facts(conn, person.id).await?;
    let cov = coverage(&facts, &who, None, now);
    if cov.categories.is_empty() {
        return Err(Error::not_found("person"));
    }
    Ok(cov)
}

//! Consent (知情同意): recorded per recipient, purpose and data category, never edited, withdrawn
//! in one call that takes effect at once.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::events::{self, Event};
use super::{access, audit, transaction, Context, Error, Result};
use crate::auth::Caller;
use crate::db::consents::{self, ConsentRow, NewConsent};
use crate::db::{organizations, persons, Conn};
use crate::domain::consent::{
    needs_guardian, recipient_still_covered, ConsentMethod, DataCategory, GivenBy, Purpose,
    Requester,
};
use crate::domain::organization::OrganizationStatus;
use crate::domain::resident_id::ResidentId;
use crate::domain::role::Role;
use crate::privacy::Field;

/// The guardian who gave consent, checked.
#[derive(Debug)]
pub struct GuardianFacts {
    pub name: String,
    pub relation: String,
    pub id: ResidentId,
}

/// A consent whose fields have passed every rule that needs no database.
#[derive(Debug)]
pub struct NewConsentInput {
    pub recipient_organization_id: Option<Uuid>,
    /// Normalised region code, for a region-wide consent.
    pub recipient_region_code: Option<String>,
    pub purposes: Vec<Purpose>,
    pub data_categories: Vec<DataCategory>,
    pub method: ConsentMethod,
    pub notice_version: String,
    pub notice_sha256: String,
    pub evidence_ref: String,
    pub given_by: GivenBy,
    pub guardian: Option<GuardianFacts>,
    pub given_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn dedup<T: Ord + Copy>(v: &[T]) -> Vec<T> {
    v.iter()
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

async fn load_person(conn: &mut Conn, id: Uuid) -> Result<crate::db::persons::PersonRow> {
    persons::find(conn, id)
        .await?
        .ok_or_else(|| Error::not_found("person"))
}

/// Records a consent (记录知情同意): civil-affairs staff of the person's region. A person under
/// 14 needs a guardian's consent (PIPL art. 31); the recipient must be an active charity.
pub async fn record(
    ctx: &Context,
    caller: &Caller,
    person_id: Uuid,
    input: NewConsentInput,
) -> Result<ConsentRow> {
    caller.require_any(&[Role::CivilAffairs])?;
    let (guardian_enc, guardian_hash) = match &input.guardian {
        Some(g) => (
            Some(
                ctx.keys
                    .encrypt(Field::GuardianIdNumber, g.id.expose())
                    .map_err(Error::internal)?,
            ),
            Some(ctx.keys.blind_index(g.id.expose())),
        ),
        None => (None, None),
    };
    let new = NewConsent {
        id: Uuid::now_v7(),
        person_id,
        recipient_organization_id: input.recipient_organization_id,
        recipient_region_code: input.recipient_region_code,
        purposes: dedup(&input.purposes),
        data_categories: dedup(&input.data_categories),
        method: input.method,
        notice_version: input.notice_version,
        notice_sha256: input.notice_sha256,
        evidence_ref: input.evidence_ref,
        given_by: input.given_by,
        guardian_name: input.guardian.as_ref().map(|g| g.name.clone()),
        guardian_relation: input.guardian.as_ref().map(|g| g.relation.clone()),
        guardian_id_number_encrypted: guardian_enc,
        guardian_id_number_hash: guardian_hash,
        given_at: input.given_at,
        expires_at: input.expires_at,
        recorded_by_organization_id: caller.organization_id,
        recorded_by: caller.id,
    };
    // The recipient first: the age rule below depends on the birth date, so it is reached only
    // with a real recipient, and a refusal is recorded, or choosing `given_at` would let anyone
    // find the birth date unseen.
    {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        let person = load_person(&mut conn, person_id).await?;
        access::change_person(caller, &person)?;
        if let Some(org_id) = new.recipient_organization_id {
            let org = organizations::find(&mut conn, org_id).await?;
            let ok = org
                .as_ref()
                .is_some_and(|o| o.status == OrganizationStatus::Active && o.kind.is_charity());
            if !ok {
                return Err(Error::field(
                    "recipient.organization_id",
                    "not_a_charity",
                    "the recipient must be an active charity organisation",
                ));
            }
        }
        let on = crate::domain::time::local_date(new.given_at);
        if needs_guardian(person.birth_date, on) && new.given_by != GivenBy::Guardian {
            drop(conn);
            let refused = audit::by(ctx, caller, "consent.refused", "person", person_id)
                .details(json!({"reason": "guardian_required", "given_at": new.given_at}));
            audit::record(ctx, refused).await?;
            return Err(Error::field(
                "given_by",
                "guardian_required",
                "the person is under 14: consent must be given by a guardian (PIPL art. 31)",
            ));
        }
    }
    let ev = audit::by(ctx, caller, "consent.create", "consent", new.id);
    let (ctx2, caller) = (ctx.clone(), caller.clone());
    let now = ctx.clock.now();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            // Checked again in the transaction: the person's region may have changed meanwhile.
            // Locked, as withdrawals and the emergency sweep do, so that a referral waiting
            // for this consent is adopted, not cancelled, when the two meet.
            let person = persons::lock(conn, person_id)
                .await?
                .ok_or_else(|| Error::not_found("person"))?;
            access::change_person(&caller, &person)?;
            let row = consents::insert(conn, &new).await?;
            super::referrals::adopt_consents(conn, &ctx2, &caller, person_id, now).await?;
            let e = Event::new("consent.given", "consent", row.id)
                .region(&person.region_code)
                .organizations([row.recipient_organization_id])
                .payload(json!({"purposes": row.purposes}));
            events::emit(conn, e, now).await?;
            audit::append(
                conn,
                ev.details(json!({
                    "person_id": person_id,
                    "recipient_organization_id": row.recipient_organization_id,
                    "recipient_region_code": row.recipient_region_code,
                    "purposes": row.purposes,
                    "data_categories": row.data_categories,
                    "given_by": row.given_by,
                })),
            )
            .await?;
            Ok(row)
        })
    })
    .await
}

/// A person's consents, newest first: staff of the region and auditors (recorded).
pub async fn of_person(ctx: &Context, caller: &Caller, person_id: Uuid) -> Result<Vec<ConsentRow>> {
    caller.require_any(&[Role::CivilAffairs, Role::Auditor])?;
    let rows = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        let person = load_person(&mut conn, person_id).await?;
        access::read_consents(caller, &person)?;
        consents::of_person(&mut conn, person.id).await?
    };
    audit::record_supervision_read(
        ctx,
        caller,
        "consent.read",
        "person",
        Some(person_id),
        json!({}),
    )
    .await?;
    Ok(rows)
}

/// A withdrawal and what it changed.
pub struct Withdrawal {
    pub consent: ConsentRow,
    /// True when no other active consent still lets the recipient see the person.
    pub recipient_access_ended: bool,
    /// Open referrals that relied on it, cancelled with it.
    pub referrals_cancelled: Vec<Uuid>,
}

/// Withdraws a consent (撤回同意), at once: staff of the person's region record it on the
/// person's behalf. The row is locked, so a second withdrawal is a conflict.
pub async fn withdraw(
    ctx: &Context,
    caller: &Caller,
    consent_id: Uuid,
    reason: Option<String>,
) -> Result<Withdrawal> {
    caller.require_any(&[Role::CivilAffairs])?;
    let now = ctx.clock.now();
    let ev =
        audit::by(ctx, caller, "consent.withdraw", "consent", consent_id).reason(reason.clone());
    let (ctx2, caller) = (ctx.clone(), caller.clone());
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let current = consents::find_for_update(conn, consent_id)
                .await?
                .ok_or_else(|| Error::not_found("consent"))?;
            // Queues with referrals being made for the person (see persons::lock).
            let person = persons::lock(conn, current.person_id)
                .await?
                .ok_or_else(|| Error::not_found("person"))?;
            access::change_person(&caller, &person).map_err(|_| Error::not_found("consent"))?;
            let row = consents::withdraw(conn, consent_id, now, reason.as_deref())
                .await?
                .ok_or_else(|| {
                    Error::conflict("already_withdrawn", "this consent was already withdrawn")
                })?;
            // The same coverage rule as reads decides whether the recipient still sees anything.
            let recipient = match row.recipient_organization_id {
                Some(org) => organizations::find(conn, org).await?.map(|o| Requester {
                    organization_id: o.id,
                    kind: o.kind,
                    region_code: o.region_code,
                }),
                None => None,
            };
            let facts: Vec<_> = access::consent_facts(conn, row.person_id).await?;
            let still_covered =
                recipient_still_covered(&row.facts().recipient, recipient.as_ref(), &facts, now);
            let referrals_cancelled =
                super::referrals::cancel_uncovered(conn, &ctx2, &caller, row.person_id, now)
                    .await?;
            let e = Event::new("consent.withdrawn", "consent", row.id)
                .region(&person.region_code)
                .organizations([row.recipient_organization_id]);
            events::emit(conn, e, now).await?;
            audit::append(
                conn,
                ev.details(
                    json!({"person_id": row.person_id, "recipient_access_ended": !still_covered,
                           "referrals_cancelled": referrals_cancelled}),
                ),
            )
            .await?;
            Ok(Withdrawal {
                consent: row,
                recipient_access_ended: !still_covered,
                referrals_cancelled,
            })
        })
    })
    .await
}

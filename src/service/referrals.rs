//! Referrals (转介): a bureau refers a person with open needs to a charity (or to every charity
//! of a region) under the person's consent for `referral` — or, in an emergency, the PIPL art.
//! 13(4) basis, flagged for supervision; the charity accepts (taking a project place) or
//! declines; the bureau may cancel. Every transition is a conditional update in one transaction
//! with its history row and audit event: of racing callers exactly one wins.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::events::{self, Event};
use super::{access, audit, transaction, Context, Error, FieldError, Result};
use crate::auth::Caller;
use crate::db::referrals::{self, HistoryRow, ReferralFilter, ReferralRow, Transition};
use crate::db::{needs, organizations, persons, projects, Conn};
use crate::domain::consent::{coverage, ConsentFacts, Purpose, Requester};
use crate::domain::need::{NeedStatus, Urgency};
use crate::domain::organization::{OrganizationKind, OrganizationStatus};
use crate::domain::project::{covering_prefixes, ProjectStatus};
use crate::domain::referral::{
    can_transition, is_final, DeclineReason, LegalBasis, Outcome, ReferralStatus,
};
use crate::domain::role::Role;

/// To whom a referral goes.
#[derive(Debug, Clone)]
pub enum Target {
    Organization(Uuid),
    /// Every charity registered in this region; the first to accept owns it.
    Region(String),
}

#[derive(Debug, Clone)]
pub struct NewReferral {
    pub person_id: Uuid,
    pub need_ids: Vec<Uuid>,
    pub target: Target,
    pub project_id: Option<Uuid>,
    pub urgency: Urgency,
    pub note: Option<String>,
    /// The emergency basis's justification (PIPL art. 13(4)), when no consent covers it.
    pub emergency_justification: Option<String>,
    pub previous_referral_id: Option<Uuid>,
}

impl Target {
    /// Whether the consents let data go to this target for `referral`: an addressed charity
    /// needs a consent naming it; an open referral a consent for every charity of the region
    /// (so an emergency without consent goes to a named charity).
    fn covered(&self, facts: &[ConsentFacts], who: &Requester, now: DateTime<Utc>) -> bool {
        let cov = coverage(facts, who, Some(Purpose::Referral), now);
        match self {
            Target::Organization(_) => !cov.categories.is_empty(),
            Target::Region(_) => cov.summary_only,
        }
    }
}

/// The charity the consent must cover: the addressed one, or any charity of the region.
async fn consent_requester(conn: &mut Conn, target: &Target) -> Result<Requester> {
    match target {
        Target::Organization(id) => {
            let org = organizations::find(conn, *id)
                .await?
                .filter(|o| o.status == OrganizationStatus::Active && o.kind.is_charity())
                .ok_or_else(|| {
                    Error::field(
                        "target.organization_id",
                        "not_a_charity",
                        "the target must be an active charity organisation",
                    )
                })?;
            Ok(Requester {
                organization_id: org.id,
                kind: org.kind,
                region_code: org.region_code,
            })
        }
        Target::Region(code) => Ok(Requester {
            organization_id: Uuid::nil(),
            kind: OrganizationKind::Charity,
            region_code: code.clone(),
        }),
    }
}

fn history(
    r: &ReferralRow,
    from: Option<ReferralStatus>,
    caller: &Caller,
    note: Option<String>,
    at: DateTime<Utc>,
) -> HistoryRow {
    HistoryRow {
        id: Uuid::now_v7(),
        referral_id: r.id,
        from_status: from,
        to_status: r.status,
        actor_id: Some(caller.id),
        actor_organization_id: Some(caller.organization_id),
        note,
        at,
    }
}

/// Writes the referral's event: seen by the bureaus of the person's region and by the
/// organisations on the case (an open referral's region charities learn of it from the list).
async fn announce(
    conn: &mut Conn,
    r: &ReferralRow,
    change: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut ev = Event::new(format!("referral.{change}"), "referral", r.id)
        .organizations([
            Some(r.referring_organization_id),
            r.target_organization_id,
            r.owner_organization_id,
        ])
        .payload(json!({
            "status": r.status, "urgency": r.urgency, "project_id": r.project_id,
            "previous_referral_id": r.previous_referral_id,
            "forwarded_from_id": r.forwarded_from_id, "forwarded_to_id": r.forwarded_to_id,
            "outcome": r.outcome, "decline_reason": r.decline_reason, "version": r.version,
        }));
    if let Some(region) = persons::region_of(conn, r.person_id).await? {
        ev = ev.region(&region);
    }
    events::emit(conn, ev, now).await
}

/// Moves the referral's needs from `from` to `to` (those still in `from`).
async fn move_needs(
    conn: &mut Conn,
    ids: &[Uuid],
    from: NeedStatus,
    to: NeedStatus,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    let mut stuck = Vec::new();
    for id in ids {
        let Some(n) = needs::find(conn, *id).await? else {
            stuck.push(*id);
            continue;
        };
        let moved = if n.status == from {
            needs::set_status(conn, n.id, from, to, now, n.version).await?
        } else {
            None
        };
        match moved {
            Some(row) => {
                let e = Event::new(format!("need.{to}"), "need", row.id)
                    .region(&row.region_code)
                    .payload(json!({"from": from, "status": to, "version": row.version}));
                events::emit(conn, e, now).await?;
            }
            None => stuck.push(n.id),
        }
    }
    Ok(stuck)
}

/// Moves an ended referral's needs from `referred` to `to`, except those another open referral
/// still holds (a need re-referred meanwhile stays with that referral).
async fn release_needs(
    conn: &mut Conn,
    r: &ReferralRow,
    to: NeedStatus,
    now: DateTime<Utc>,
) -> Result<()> {
    // Locked first (in id order), so that two referrals sharing a need and ending at once
    // see each other's end: the later one releases it.
    needs::lock_many(conn, &r.need_ids).await?;
    let held = referrals::needs_held_elsewhere(conn, r).await?;
    let free: Vec<Uuid> = r
        .need_ids
        .iter()
        .copied()
        .filter(|n| !held.contains(n))
        .collect();
    move_needs(conn, &free, NeedStatus::Referred, to, now).await?;
    Ok(())
}

/// A case that ended without help: its needs back to the pool (unless another open referral
/// holds them) and the project place taken on acceptance back to the project.
async fn release_case(conn: &mut Conn, row: &ReferralRow, now: DateTime<Utc>) -> Result<()> {
    release_needs(conn, row, NeedStatus::Open, now).await?;
    if let Some(pid) = row.project_id {
        projects::release_place(conn, pid, row.person_id).await?;
    }
    Ok(())
}

/// Refers a person (发起转介): civil-affairs staff of the person's region.
pub async fn create(ctx: &Context, caller: &Caller, input: NewReferral) -> Result<ReferralRow> {
    caller.require_any(&[Role::CivilAffairs])?;
    super::conflicts::guard(ctx, caller, input.person_id, "referral.create").await?;
    let now = ctx.clock.now();
    let id = Uuid::now_v7();
    let ev = audit::by(ctx, caller, "referral.create", "referral", id);
    let deadlines = ctx.config.deadlines;
    let caller = caller.clone();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let person = persons::lock(conn, input.person_id)
                .await?
                .ok_or_else(|| Error::not_found("person"))?;
            access::change_person(&caller, &person)?;
            let mut errors = Vec::new();
            let mut emergency_since = None;
            if let Some(prev) = input.previous_referral_id {
                // A re-referral follows one of this bureau's attempts for the same person that
                // ended without an answer or was declined.
                let previous = referrals::find(conn, prev).await?.filter(|p| {
                    p.person_id == person.id
                        && p.referring_organization_id == caller.organization_id
                        && matches!(
                            p.status,
                            ReferralStatus::Declined | ReferralStatus::Expired
                        )
                });
                // The time allowed to obtain consent runs from the first emergency attempt.
                emergency_since = previous.as_ref().and_then(|p| p.emergency_since);
                if previous.is_none() {
                    errors.push(FieldError::new(
                        "previous_referral_id",
                        "not_a_previous_attempt",
                        "name a declined or expired referral of this person by your bureau",
                    ));
                }
            }
            for (i, nid) in input.need_ids.iter().enumerate() {
                let need = needs::find(conn, *nid).await?;
                match need {
                    Some(n) if n.person_id == person.id && n.status == NeedStatus::Open => {}
                    Some(n) if n.person_id == person.id => errors.push(FieldError::new(
                        format!("need_ids[{i}]"),
                        "not_open",
                        format!("the need is {}", n.status),
                    )),
                    _ => errors.push(FieldError::new(
                        format!("need_ids[{i}]"),
                        "not_found",
                        "no such need of this person",
                    )),
                }
            }
            Error::check(errors)?;
            let who = consent_requester(conn, &input.target).await?;
            if let Some(pid) = input.project_id {
                let p = projects::find(conn, pid)
                    .await?
                    .filter(|p| p.status == ProjectStatus::Published)
                    .ok_or_else(|| {
                        Error::field("project_id", "not_found", "no such published project")
                    })?;
                let fits = match &input.target {
                    Target::Organization(o) => p.organization_id == *o,
                    Target::Region(_) => false,
                };
                if !fits {
                    return Err(Error::field(
                        "project_id",
                        "not_of_target",
                        "the project must be the addressed charity's",
                    ));
                }
            }
            let facts: Vec<_> = access::consent_facts(conn, person.id).await?;
            let covered = input.target.covered(&facts, &who, now);
            if !covered && matches!(input.target, Target::Region(_)) {
                return Err(Error::unprocessable(
                    "consent_required",
                    "a referral open to a region needs the person's consent for every charity there; an emergency goes to a named charity",
                ));
            }
            let legal_basis = match (covered, &input.emergency_justification) {
                (true, _) => LegalBasis::Consent,
                (false, Some(j)) if input.urgency == Urgency::Emergency && !j.trim().is_empty() => {
                    LegalBasis::Emergency
                }
                _ => {
                    return Err(Error::unprocessable(
                        "consent_required",
                        "no consent of the person covers this recipient for referral; record one, or for an emergency threatening life or health state the justification",
                    ))
                }
            };
            if legal_basis == LegalBasis::Emergency
                && referrals::cancelled_for_no_consent_since(
                    conn,
                    person.id,
                    now - chrono::Duration::days(30),
                )
                .await?
            {
                // Referring again must not restart the time allowed to obtain consent.
                return Err(Error::unprocessable(
                    "consent_required",
                    "an emergency referral of this person was cancelled in the last 30 days because no consent was recorded; record the person's consent",
                ));
            }
            let stuck = move_needs(conn, &input.need_ids, NeedStatus::Open, NeedStatus::Referred, now).await?;
            if !stuck.is_empty() {
                return Err(Error::conflict(
                    "concurrent_update",
                    "a need changed meanwhile; reload and retry",
                ));
            }
            let (target_organization_id, target_region_code) = match &input.target {
                Target::Organization(o) => (Some(*o), None),
                Target::Region(r) => (None, Some(r.clone())),
            };
            let row = ReferralRow {
                id,
                person_id: person.id,
                need_ids: input.need_ids,
                referring_organization_id: caller.organization_id,
                referred_by: caller.id,
                target_organization_id,
                target_region_code,
                owner_organization_id: None,
                project_id: input.project_id,
                urgency: input.urgency,
                note: input.note,
                legal_basis,
                emergency_justification: input
                    .emergency_justification
                    .filter(|_| legal_basis == LegalBasis::Emergency),
                status: ReferralStatus::Pending,
                response_due_at: deadlines.response_due(input.urgency, now),
                feedback_due_at: None,
                decline_reason: None,
                outcome: None,
                cancel_reason: None,
                aid_record_ids: Vec::new(),
                previous_referral_id: input.previous_referral_id,
                forwarded_from_id: None,
                forwarded_to_id: None,
                created_at: now,
                updated_at: now,
                version: 1,
                emergency_since: (legal_basis == LegalBasis::Emergency)
                    .then(|| emergency_since.unwrap_or(now)),
            };
            referrals::insert(conn, &row).await?;
            referrals::add_history(conn, &history(&row, None, &caller, None, now)).await?;
            announce(conn, &row, "created", now).await?;
            audit::append(
                conn,
                ev.details(json!({"person_id": row.person_id, "target_organization_id": row.target_organization_id,
                                  "target_region_code": row.target_region_code, "legal_basis": row.legal_basis,
                                  "urgency": row.urgency})),
            )
            .await?;
            Ok(row)
        })
    })
    .await
}

/// How the caller stands towards a referral.
#[derive(Debug, PartialEq, Eq)]
enum Side {
    /// The referring bureau.
    Referrer,
    /// The addressed or owning charity, or (while pending) a charity of an open referral's region.
    Recipient,
    Auditor,
    /// A charity of an open referral's region after another charity took it: told so when it
    /// tries to act (409), shown nothing.
    Taken,
}

async fn side(conn: &mut Conn, caller: &Caller, r: &ReferralRow) -> Result<Option<Side>> {
    if caller.has(Role::CivilAffairs) && r.referring_organization_id == caller.organization_id {
        return Ok(Some(Side::Referrer));
    }
    if caller.has(Role::Charity) {
        let mine = r.target_organization_id == Some(caller.organization_id)
            || r.owner_organization_id == Some(caller.organization_id);
        if mine {
            return Ok(Some(Side::Recipient));
        }
        if let Some(region) = &r.target_region_code {
            let who = access::requester(conn, caller).await?;
            if covering_prefixes(&who.region_code).contains(region) {
                return Ok(Some(if r.status == ReferralStatus::Pending {
                    Side::Recipient
                } else {
                    Side::Taken
                }));
            }
        }
    }
    if caller.has(Role::Auditor) {
        return Ok(Some(Side::Auditor));
    }
    Ok(None)
}

async fn load(conn: &mut Conn, caller: &Caller, id: Uuid) -> Result<(ReferralRow, Side)> {
    let r = referrals::find(conn, id)
        .await?
        .ok_or_else(|| Error::not_found("referral"))?;
    match side(conn, caller, &r).await? {
        Some(s) => Ok((r, s)),
        None => Err(Error::not_found("referral")),
    }
}

fn illegal(from: ReferralStatus, to: ReferralStatus) -> Error {
    Error::conflict(
        "illegal_transition",
        format!("a referral cannot go from {from} to {to}"),
    )
    .with_extra("from", from.as_str())
    .with_extra("to", to.as_str())
}

/// One transition by `side`: checked, applied conditionally, with history and audit.
async fn apply(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    to: ReferralStatus,
    allowed: Side,
    t: Transition,
    note: Option<String>,
) -> Result<ReferralRow> {
    // Deciding a declared relative's case is for someone else of the organisation.
    let person_id = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        referrals::find(&mut conn, id).await?.map(|r| r.person_id)
    };
    if let Some(pid) = person_id {
        super::conflicts::guard(ctx, caller, pid, &format!("referral.{to}")).await?;
    }
    let now = ctx.clock.now();
    let ev = audit::by(ctx, caller, &format!("referral.{to}"), "referral", id).reason(note.clone());
    let deadlines = ctx.config.deadlines;
    let caller = caller.clone();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let (r, s) = load(conn, &caller, id).await?;
            if s == Side::Taken {
                return Err(if r.owner_organization_id.is_some() {
                    Error::conflict("already_taken", "another charity has taken this referral")
                } else {
                    illegal(r.status, to)
                });
            }
            // Only the addressed charity declines: a charity able to take an open referral
            // cannot end it for the others.
            if to == ReferralStatus::Declined
                && r.target_organization_id != Some(caller.organization_id)
            {
                return Err(Error::forbidden("only the addressed charity declines"));
            }
            if s != allowed {
                return Err(Error::forbidden(match allowed {
                    Side::Referrer => "only the referring bureau may do this",
                    _ => "only the addressed charity may do this",
                }));
            }
            if !can_transition(r.status, to) {
                return Err(illegal(r.status, to));
            }
            let mut t = t;
            if let Some(ids) = &t.aid_record_ids {
                let mut errors = Vec::new();
                for (i, aid_id) in ids.iter().enumerate() {
                    let ok = crate::db::aid::find(conn, *aid_id).await?.is_some_and(|a| {
                        a.organization_id == caller.organization_id && a.person_id == r.person_id
                    });
                    if !ok {
                        errors.push(FieldError::new(
                            format!("aid_record_ids[{i}]"),
                            "not_found",
                            "no aid record of yours for this person",
                        ));
                    }
                }
                Error::check(errors)?;
            }
            if to == ReferralStatus::Accepted && r.response_due_at <= now {
                return Err(Error::conflict(
                    "deadline_passed",
                    "the response deadline has passed; the bureau may refer again",
                ));
            }
            if to == ReferralStatus::Accepted && r.legal_basis == LegalBasis::Consent {
                // A consent may have run out since the referral was made.
                let facts: Vec<_> = access::consent_facts(conn, r.person_id).await?;
                if !covered_now(conn, &r, &facts, now).await? {
                    return Err(Error::conflict(
                        "consent_withdrawn",
                        "the person's consent no longer covers this referral; the bureau may cancel it",
                    ));
                }
            }
            if to == ReferralStatus::Accepted {
                t.owner_organization_id = Some(caller.organization_id);
                t.feedback_due_at = Some(deadlines.feedback_due(now));
                if let Some(pid) = r.project_id {
                    // A place of the project for this person, once (aid later takes no other).
                    let first = projects::add_beneficiary_value(
                        conn,
                        pid,
                        r.person_id,
                        0,
                        None,
                        crate::domain::time::local_date(now),
                    )
                    .await?
                    .unwrap_or(false);
                    if first && projects::draw(conn, pid, true, 0, now).await?.is_none() {
                        return Err(Error::conflict(
                            "no_places_left",
                            "the project has no places left",
                        ));
                    }
                }
            }
            let Some(row) = referrals::transition(conn, &r, to, &t, now).await? else {
                // Lost a race: say what the winner made of it.
                let now_is = referrals::find(conn, id)
                    .await?
                    .ok_or_else(|| Error::not_found("referral"))?;
                return Err(
                    if now_is.target_region_code.is_some()
                        && now_is
                            .owner_organization_id
                            .is_some_and(|o| o != caller.organization_id)
                    {
                        Error::conflict("already_taken", "another charity has taken this referral")
                    } else if !can_transition(now_is.status, to) {
                        illegal(now_is.status, to)
                    } else {
                        Error::conflict(
                            "concurrent_update",
                            "another request moved the referral meanwhile; reload",
                        )
                    },
                );
            };
            if is_final(to) {
                // Met when helped; otherwise back to the pool for another referral.
                let helped = t
                    .outcome
                    .as_deref()
                    .and_then(|o| o.parse::<Outcome>().ok())
                    .is_some_and(Outcome::helped);
                let next = if helped {
                    NeedStatus::Met
                } else {
                    NeedStatus::Open
                };
                release_needs(conn, &row, next, now).await?;
                if let (false, Some(pid)) = (helped, row.project_id) {
                    // The place taken on acceptance comes back when no aid was given there.
                    projects::release_place(conn, pid, row.person_id).await?;
                }
            }
            referrals::add_history(conn, &history(&row, Some(r.status), &caller, note, now))
                .await?;
            announce(conn, &row, to.as_str(), now).await?;
            audit::append(
                conn,
                ev.details(json!({"from": r.status.as_str(), "to": to.as_str()})),
            )
            .await?;
            Ok(row)
        })
    })
    .await
}

/// Accepts (接收转介): the addressed charity, or the first charity of an open referral's region.
pub async fn accept(ctx: &Context, caller: &Caller, id: Uuid) -> Result<ReferralRow> {
    caller.require_any(&[Role::Charity])?;
    apply(
        ctx,
        caller,
        id,
        ReferralStatus::Accepted,
        Side::Recipient,
        Transition::default(),
        None,
    )
    .await
}

/// Declines with a reason (拒绝转介): the addressed charity.
pub async fn decline(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    reason: DeclineReason,
    note: Option<String>,
) -> Result<ReferralRow> {
    caller.require_any(&[Role::Charity])?;
    let t = Transition {
        decline_reason: Some(reason),
        ..Transition::default()
    };
    apply(
        ctx,
        caller,
        id,
        ReferralStatus::Declined,
        Side::Recipient,
        t,
        note,
    )
    .await
}

/// Starts helping (开始帮扶): the charity that accepted.
pub async fn start(ctx: &Context, caller: &Caller, id: Uuid) -> Result<ReferralRow> {
    caller.require_any(&[Role::Charity])?;
    apply(
        ctx,
        caller,
        id,
        ReferralStatus::InProgress,
        Side::Recipient,
        Transition::default(),
        None,
    )
    .await
}

/// Reports the outcome (反馈结果): the charity that helped, with the aid records it filed for
/// the person. The needs are met when the person got help, open again otherwise.
pub async fn complete(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    outcome: Outcome,
    aid_record_ids: Vec<Uuid>,
    note: Option<String>,
) -> Result<ReferralRow> {
    caller.require_any(&[Role::Charity])?;
    let t = Transition {
        outcome: Some(outcome.as_str().to_owned()),
        aid_record_ids: Some(aid_record_ids),
        ..Transition::default()
    };
    apply(
        ctx,
        caller,
        id,
        ReferralStatus::Completed,
        Side::Recipient,
        t,
        note,
    )
    .await
}

/// Expires pending referrals nobody answered in time, their needs back to the pool. Safe with
/// several servers: rows are claimed with SKIP LOCKED, each by one sweeper.
pub async fn expire_overdue(ctx: &Context) -> Result<usize> {
    let now = ctx.clock.now();
    let ctx2 = ctx.clone();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let due = referrals::lock_overdue(conn, now, 100).await?;
            let mut expired = 0;
            for r in due {
                // Each in a savepoint: one referral that cannot be expired (its history, say)
                // is logged and retried next time, and does not hold back the others.
                let (id, c) = (r.id, ctx2.clone());
                let one = crate::db::savepoint(conn, move |conn| {
                    Box::pin(async move { expire_one(conn, &c, r, now).await })
                })
                .await;
                match one {
                    Ok(()) => expired += 1,
                    Err(e) => log::warn!("referral {id} not expired: {e}"),
                }
            }
            Ok(expired)
        })
    })
    .await
}

async fn expire_one(
    conn: &mut Conn,
    ctx: &Context,
    r: ReferralRow,
    now: DateTime<Utc>,
) -> Result<()> {
    let row = referrals::transition(
        conn,
        &r,
        ReferralStatus::Expired,
        &Transition::default(),
        now,
    )
    .await?
    .ok_or_else(|| Error::conflict("concurrent_update", "changed meanwhile"))?;
    release_needs(conn, &row, NeedStatus::Open, now).await?;
    referrals::add_history(
        conn,
        &HistoryRow {
            id: Uuid::now_v7(),
            referral_id: row.id,
            from_status: Some(r.status),
            to_status: row.status,
            actor_id: None,
            actor_organization_id: None,
            note: Some("no answer by the response deadline".into()),
            at: now,
        },
    )
    .await?;
    let ev = audit::anonymous(
        ctx,
        "system",
        &super::RequestMeta::default(),
        "referral.expired",
        "referral",
        Some(row.id),
    );
    audit::append(
        conn,
        ev.details(json!({"response_due_at": r.response_due_at})),
    )
    .await?;
    announce(conn, &row, "expired", now).await
}

/// After a consent is withdrawn (in that transaction): cancels the person's open referrals
/// whose recipient no consent covers for `referral` any more (reason `consent_withdrawn`), their
/// needs back to the pool. Referrals made on the emergency basis are left to supervision.
pub async fn cancel_uncovered(
    conn: &mut Conn,
    ctx: &Context,
    caller: &Caller,
    person_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    let facts: Vec<_> = access::consent_facts(conn, person_id).await?;
    let mut cancelled = Vec::new();
    for r in referrals::open_of_person(conn, person_id).await? {
        if r.legal_basis != LegalBasis::Consent {
            continue;
        }
        if covered_now(conn, &r, &facts, now).await? {
            continue;
        }
        let t = Transition {
            cancel_reason: Some("consent_withdrawn".into()),
            ..Transition::default()
        };
        let Some(row) = referrals::transition(conn, &r, ReferralStatus::Cancelled, &t, now).await?
        else {
            continue;
        };
        release_case(conn, &row, now).await?;
        referrals::add_history(
            conn,
            &history(
                &row,
                Some(r.status),
                caller,
                Some("consent_withdrawn".into()),
                now,
            ),
        )
        .await?;
        announce(conn, &row, "cancelled", now).await?;
        let ev = audit::by(ctx, caller, "referral.cancelled", "referral", row.id)
            .reason(Some("consent_withdrawn".into()));
        audit::append(
            conn,
            ev.details(json!({"from": r.status.as_str(), "to": "cancelled"})),
        )
        .await?;
        cancelled.push(row.id);
    }
    Ok(cancelled)
}

/// Whether the person's consents (`facts`) now cover the referral's recipient for `referral`.
async fn covered_now(
    conn: &mut Conn,
    r: &ReferralRow,
    facts: &[ConsentFacts],
    now: DateTime<Utc>,
) -> Result<bool> {
    let target = match (
        r.owner_organization_id.or(r.target_organization_id),
        &r.target_region_code,
    ) {
        (Some(o), _) => Target::Organization(o),
        (None, Some(region)) => Target::Region(region.clone()),
        (None, None) => return Ok(false),
    };
    let who = match consent_requester(conn, &target).await {
        Ok(w) => w,
        // A recipient no longer active is covered by nothing.
        Err(_) => Requester {
            organization_id: Uuid::nil(),
            kind: OrganizationKind::Other,
            region_code: String::new(),
        },
    };
    Ok(target.covered(facts, &who, now))
}

/// After a consent is recorded (in that transaction): the person's open referrals made on the
/// emergency basis that the consents now cover rest on consent from here on (and leave the
/// supervision list).
pub async fn adopt_consents(
    conn: &mut Conn,
    ctx: &Context,
    caller: &Caller,
    person_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    let facts: Vec<_> = access::consent_facts(conn, person_id).await?;
    let mut adopted = Vec::new();
    for r in referrals::open_of_person(conn, person_id).await? {
        if r.legal_basis != LegalBasis::Emergency || !covered_now(conn, &r, &facts, now).await? {
            continue;
        }
        if let Some(row) = referrals::adopt_consent(conn, &r, now).await? {
            referrals::add_history(
                conn,
                &history(
                    &row,
                    Some(r.status),
                    caller,
                    Some("consent recorded".into()),
                    now,
                ),
            )
            .await?;
            announce(conn, &row, "consent_recorded", now).await?;
            let ev = audit::by(ctx, caller, "referral.consent_recorded", "referral", row.id);
            audit::append(conn, ev.details(json!({"legal_basis": "consent"}))).await?;
            adopted.push(row.id);
        }
    }
    Ok(adopted)
}

/// Ends referrals made on the emergency basis that still have no consent after the configured
/// time (reason `no_consent`, counted from the first emergency attempt of the case), or moves
/// them onto the consent recorded meanwhile. Each in its own transaction that locks the person
/// first (as consent recording and withdrawal do), then the referral with SKIP LOCKED: safe with
/// several servers, and one referral that fails does not hold back the others.
pub async fn cancel_unconsented(ctx: &Context) -> Result<usize> {
    let now = ctx.clock.now();
    let cutoff = now - ctx.config.deadlines.emergency_consent;
    let due = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        referrals::emergency_before(&mut conn, cutoff, 100).await?
    };
    let mut cancelled = 0;
    for (id, person_id) in due {
        let c = ctx.clone();
        let one = transaction(&ctx.pool, move |conn| {
            Box::pin(async move { settle_emergency(conn, &c, id, person_id, cutoff, now).await })
        })
        .await;
        match one {
            Ok(true) => cancelled += 1,
            Ok(false) => {}
            Err(e) => log::warn!("emergency referral {id} not settled: {e}"),
        }
    }
    Ok(cancelled)
}

/// One emergency referral past its time: onto the consent if one now covers it, else cancelled.
/// Returns whether it was cancelled.
async fn settle_emergency(
    conn: &mut Conn,
    ctx: &Context,
    id: Uuid,
    person_id: Uuid,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool> {
    persons::lock(conn, person_id).await?;
    let Some(r) = referrals::lock_skip(conn, id).await? else {
        return Ok(false);
    };
    let still_due = r.legal_basis == LegalBasis::Emergency
        && !is_final(r.status)
        && r.emergency_since.is_some_and(|s| s <= cutoff);
    if !still_due {
        return Ok(false);
    }
    let system = |note: &str, row: &ReferralRow| HistoryRow {
        id: Uuid::now_v7(),
        referral_id: row.id,
        from_status: Some(r.status),
        to_status: row.status,
        actor_id: None,
        actor_organization_id: None,
        note: Some(note.into()),
        at: now,
    };
    let audit_system = |action: &str, row: &ReferralRow| {
        audit::anonymous(
            ctx,
            "system",
            &super::RequestMeta::default(),
            action,
            "referral",
            Some(row.id),
        )
    };
    let facts: Vec<_> = access::consent_facts(conn, r.person_id).await?;
    if covered_now(conn, &r, &facts, now).await? {
        if let Some(row) = referrals::adopt_consent(conn, &r, now).await? {
            referrals::add_history(conn, &system("consent recorded", &row)).await?;
            announce(conn, &row, "consent_recorded", now).await?;
            let ev = audit_system("referral.consent_recorded", &row);
            audit::append(conn, ev.details(json!({"legal_basis": "consent"}))).await?;
        }
        return Ok(false);
    }
    let t = Transition {
        cancel_reason: Some("no_consent".into()),
        ..Transition::default()
    };
    let Some(row) = referrals::transition(conn, &r, ReferralStatus::Cancelled, &t, now).await?
    else {
        return Ok(false);
    };
    release_case(conn, &row, now).await?;
    referrals::add_history(
        conn,
        &system(
            "no consent recorded in time after an emergency referral",
            &row,
        ),
    )
    .await?;
    announce(conn, &row, "cancelled", now).await?;
    let ev = audit_system("referral.cancelled", &row).reason(Some("no_consent".into()));
    audit::append(
        conn,
        ev.details(json!({"from": r.status.as_str(), "to": "cancelled"})),
    )
    .await?;
    Ok(true)
}

/// Runs the expiry sweep about every 30 seconds until the process ends.
pub async fn run_expiry(ctx: Context) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = expire_overdue(&ctx).await {
            log::warn!("referral expiry: {e}");
        }
        if let Err(e) = cancel_unconsented(&ctx).await {
            log::warn!("emergency referrals without consent: {e}");
        }
    }
}

/// Cancels (撤回转介): the referring bureau, while not ended.
pub async fn cancel(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    reason: String,
) -> Result<ReferralRow> {
    caller.require_any(&[Role::CivilAffairs])?;
    let t = Transition {
        cancel_reason: Some(reason.clone()),
        ..Transition::default()
    };
    apply(
        ctx,
        caller,
        id,
        ReferralStatus::Cancelled,
        Side::Referrer,
        t,
        Some(reason),
    )
    .await
}

/// Whether the caller sees an open referral only as an offer: a charity of the region that has
/// not taken it learns neither the person nor the needs nor the note until it accepts.
fn offer_only(caller: &Caller, r: &ReferralRow) -> bool {
    caller.has(Role::Charity)
        && !caller.has(Role::CivilAffairs)
        && r.target_organization_id != Some(caller.organization_id)
        && r.owner_organization_id != Some(caller.organization_id)
}

/// A referral as the caller may see it: the whole case, or (an open referral not yet taken, to
/// a charity of its region) an offer whose person, needs and note the view must leave out.
#[derive(Debug)]
pub enum Seen {
    Case(ReferralRow),
    Offer(ReferralRow),
}

impl Seen {
    /// The stored referral (for its id and version; the view decides what it shows).
    pub fn row(&self) -> &ReferralRow {
        match self {
            Seen::Case(r) | Seen::Offer(r) => r,
        }
    }
}

fn seen(caller: &Caller, r: ReferralRow) -> Seen {
    if offer_only(caller, &r) {
        Seen::Offer(r)
    } else {
        Seen::Case(r)
    }
}

/// One referral: the referring bureau, the addressed or owning charity, auditors (recorded).
pub async fn get(ctx: &Context, caller: &Caller, id: Uuid) -> Result<Seen> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let (r, s) = load(&mut conn, caller, id).await?;
    drop(conn);
    if s == Side::Taken {
        return Err(Error::not_found("referral"));
    }
    audit::record_supervision_read(
        ctx,
        caller,
        "referral.read",
        "referral",
        Some(id),
        json!({}),
    )
    .await?;
    Ok(seen(caller, r))
}

/// A referral's history, oldest first, for the same readers.
pub async fn history_of(ctx: &Context, caller: &Caller, id: Uuid) -> Result<Vec<HistoryRow>> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let (r, s) = load(&mut conn, caller, id).await?;
    if s == Side::Taken || offer_only(caller, &r) {
        return Err(Error::not_found("referral"));
    }
    let rows = referrals::history(&mut conn, id).await?;
    drop(conn);
    audit::record_supervision_read(
        ctx,
        caller,
        "referral.history.read",
        "referral",
        Some(id),
        json!({}),
    )
    .await?;
    Ok(rows)
}

/// Referrals the caller's organisation sent (`sent`) or received.
pub async fn list(
    ctx: &Context,
    caller: &Caller,
    sent: bool,
    mut filter: ReferralFilter,
) -> Result<Vec<Seen>> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    if sent {
        caller.require_any(&[Role::CivilAffairs])?;
        filter.referring_organization_id = Some(caller.organization_id);
    } else {
        caller.require_any(&[Role::Charity])?;
        if filter.person_region.is_some() {
            // Offers hide whom they are about; a region filter would tell where they live.
            return Err(Error::bad_parameter(
                "invalid_query",
                "region",
                "sent_only",
                "region filters the referrals a bureau sent",
            ));
        }
        let who = access::requester(&mut conn, caller).await?;
        filter.received_by = Some((caller.organization_id, covering_prefixes(&who.region_code)));
    }
    // One snapshot for the parts of a received list (db::referrals::list reads it in three), so
    // a referral that changes hands meanwhile is in exactly one of them.
    let rows = conn
        .build_transaction()
        .repeatable_read()
        .read_only()
        .run(async |conn| referrals::list(conn, &filter).await)
        .await?;
    Ok(rows.into_iter().map(|r| seen(caller, r)).collect())
}

/// Whether the caller is one of the two parties of the case: the referring bureau, or the
/// charity it is addressed to or owned by (not a charity merely able to take an open one).
fn party(caller: &Caller, r: &ReferralRow, s: &Side) -> bool {
    match s {
        Side::Referrer => true,
        Side::Recipient => {
            r.target_organization_id == Some(caller.organization_id)
                || r.owner_organization_id == Some(caller.organization_id)
        }
        _ => false,
    }
}

/// Writes a note to the other party (案件沟通): the referring bureau or the charity.
pub async fn add_note(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    body: String,
) -> Result<referrals::NoteRow> {
    let now = ctx.clock.now();
    let ev = audit::by(ctx, caller, "referral.note", "referral", id);
    let caller = caller.clone();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let (r, s) = load(conn, &caller, id).await?;
            if !party(&caller, &r, &s) {
                return Err(if s == Side::Auditor {
                    Error::forbidden("auditors read the notes, they do not write them")
                } else {
                    Error::not_found("referral")
                });
            }
            let note = referrals::NoteRow {
                id: Uuid::now_v7(),
                referral_id: id,
                author_id: caller.id,
                author_organization_id: caller.organization_id,
                body,
                created_at: now,
            };
            referrals::add_note(conn, &note).await?;
            audit::append(conn, ev.details(json!({"note_id": note.id}))).await?;
            Ok(note)
        })
    })
    .await
}

/// The case's notes: its two parties, and auditors (recorded).
pub async fn notes(ctx: &Context, caller: &Caller, id: Uuid) -> Result<Vec<referrals::NoteRow>> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let (r, s) = load(&mut conn, caller, id).await?;
    if !(party(caller, &r, &s) || s == Side::Auditor) {
        return Err(Error::not_found("referral"));
    }
    let rows = referrals::notes(&mut conn, id).await?;
    drop(conn);
    audit::record_supervision_read(
        ctx,
        caller,
        "referral.notes.read",
        "referral",
        Some(id),
        json!({}),
    )
    .await?;
    Ok(rows)
}

/// Forwards a referral addressed to a charity federation (慈善总会) to one of its member
/// charities: a new referral to the member, linked to the original, which ends as `cancelled`
/// (reason `forwarded`) and names the forward. The consent must cover the member for referral
/// (an emergency basis carries over); the needs stay referred.
pub async fn forward(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    member: Uuid,
) -> Result<ReferralRow> {
    caller.require_any(&[Role::Charity])?;
    let person_id = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        referrals::find(&mut conn, id).await?.map(|r| r.person_id)
    };
    if let Some(pid) = person_id {
        super::conflicts::guard(ctx, caller, pid, "referral.forward").await?;
    }
    let now = ctx.clock.now();
    let new_id = Uuid::now_v7();
    let ev = audit::by(ctx, caller, "referral.forward", "referral", id);
    let caller = caller.clone();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let (r, s) = load(conn, &caller, id).await?;
            let federation = organizations::find(conn, caller.organization_id).await?;
            let is_federation = federation
                .as_ref()
                .is_some_and(|o| o.kind == OrganizationKind::CharityFederation);
            if s != Side::Recipient
                || r.target_organization_id != Some(caller.organization_id)
                || !is_federation
            {
                return Err(Error::forbidden(
                    "only the federation the referral is addressed to forwards it",
                ));
            }
            if r.status != ReferralStatus::Pending {
                return Err(illegal(r.status, ReferralStatus::Cancelled));
            }
            let target = organizations::find(conn, member)
                .await?
                .filter(|o| {
                    o.parent_id == Some(caller.organization_id)
                        && o.status == OrganizationStatus::Active
                        && o.kind.is_charity()
                })
                .ok_or_else(|| {
                    Error::field(
                        "organization_id",
                        "not_a_member",
                        "name an active member charity of the federation",
                    )
                })?;
            if r.legal_basis == LegalBasis::Consent {
                persons::lock(conn, r.person_id).await?;
                let facts: Vec<_> = access::consent_facts(conn, r.person_id).await?;
                let who = Requester {
                    organization_id: target.id,
                    kind: target.kind,
                    region_code: target.region_code.clone(),
                };
                if !Target::Organization(target.id).covered(&facts, &who, now) {
                    return Err(Error::unprocessable(
                        "consent_required",
                        "no consent of the person names the member charity for referral",
                    ));
                }
            }
            let forwarded = ReferralRow {
                id: new_id,
                target_organization_id: Some(target.id),
                target_region_code: None,
                owner_organization_id: None,
                project_id: None,
                status: ReferralStatus::Pending,
                feedback_due_at: None,
                decline_reason: None,
                outcome: None,
                cancel_reason: None,
                aid_record_ids: Vec::new(),
                previous_referral_id: None,
                forwarded_from_id: Some(r.id),
                forwarded_to_id: None,
                created_at: now,
                updated_at: now,
                version: 1,
                ..r.clone()
            };
            referrals::insert(conn, &forwarded).await?;
            let t = Transition {
                cancel_reason: Some("forwarded".into()),
                forwarded_to_id: Some(new_id),
                ..Transition::default()
            };
            let original = referrals::transition(conn, &r, ReferralStatus::Cancelled, &t, now)
                .await?
                .ok_or_else(|| {
                    Error::conflict(
                        "concurrent_update",
                        "the referral changed meanwhile; reload",
                    )
                })?;
            referrals::add_history(
                conn,
                &history(
                    &original,
                    Some(r.status),
                    &caller,
                    Some("forwarded".into()),
                    now,
                ),
            )
            .await?;
            referrals::add_history(
                conn,
                &history(
                    &forwarded,
                    None,
                    &caller,
                    Some("forwarded by the federation".into()),
                    now,
                ),
            )
            .await?;
            audit::append(
                conn,
                ev.details(json!({"forwarded_to": new_id, "member": target.id})),
            )
            .await?;
            announce(conn, &original, "forwarded", now).await?;
            announce(conn, &forwarded, "created", now).await?;
            Ok(forwarded)
        })
    })
    .await
}

//! Aid records (帮扶记录): what a charity gave, recorded in one transaction with the project's
//! places and budget, the fund's ledger when paid from a fund, the duplicate-aid flags and the
//! audit event.

use chrono::NaiveDate;
use serde_json::json;
use uuid::Uuid;

use super::events::{self, Event};
use super::{access, audit, funds, transaction, Context, Error, Result};
use crate::auth::Caller;
use crate::db::aid::{self, AidFilter, AidRecordRow, FlagRow};
use crate::db::{persons, projects, Conn};
use crate::domain::aid::{duplicates, form_fits, AidRecordForm, EntryKind, OtherAid, ServiceType};
use crate::domain::need::NeedCategory;
use crate::domain::project::ProjectStatus;
use crate::domain::role::Role;

/// An aid record whose fields have each passed their own rules.
#[derive(Debug, Clone)]
pub struct AidInput {
    pub person_id: Uuid,
    pub project_id: Uuid,
    pub category: NeedCategory,
    pub form: AidRecordForm,
    pub value_fen: Option<i64>,
    pub service_minutes: Option<i32>,
    pub service_type: Option<ServiceType>,
    pub aid_on: NaiveDate,
    pub period_end: Option<NaiveDate>,
    pub note: Option<String>,
    pub fund_id: Option<Uuid>,
}

/// A recorded aid and the other sources it duplicates.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub record: AidRecordRow,
    pub flags: Vec<FlagRow>,
}

/// Duplicate-aid flags name another source's aid (a government programme is income or health
/// data, another charity's help is aid history): they are for supervision. A charity never
/// sees them, not even for its own records.
pub fn for_caller(caller: &Caller, mut recorded: Vec<Recorded>) -> Vec<Recorded> {
    if !(caller.has(Role::CivilAffairs) || caller.has(Role::Auditor)) {
        for r in &mut recorded {
            r.flags.clear();
        }
    }
    recorded
}

/// The rules of one record against its project (`field` prefixes the names, for reports).
fn check_against_project(
    input: &AidInput,
    project: &projects::ProjectRow,
    field: &str,
) -> Vec<super::FieldError> {
    let name = |f: &str| format!("{field}{f}");
    let mut errors = Vec::new();
    if !form_fits(input.form, project.aid_form) {
        errors.push(super::FieldError::new(
            name("form"),
            "form_not_offered",
            format!("the project gives {} aid", project.aid_form),
        ));
    }
    if !project.categories.contains(&input.category) {
        errors.push(super::FieldError::new(
            name("category"),
            "category_not_offered",
            "the project does not help with this category",
        ));
    }
    if input.aid_on < project.starts_on || input.aid_on > project.ends_on {
        errors.push(super::FieldError::new(
            name("aid_on"),
            "outside_project_period",
            "the date lies outside the project's period",
        ));
    }
    errors
}

/// Records one aid in `conn`'s transaction: the rules that need the database, the project's
/// places and budget, the fund's expenditure, the record, its duplicate-aid flags.
pub async fn record_in(
    conn: &mut Conn,
    ctx: &Context,
    caller: &Caller,
    input: AidInput,
    report: Option<Uuid>,
    field: &str,
) -> Result<Recorded> {
    let now = ctx.clock.now();
    let project = projects::find(conn, input.project_id)
        .await?
        .filter(|p| p.organization_id == caller.organization_id)
        .ok_or_else(|| {
            Error::field(
                &format!("{field}project_id"),
                "not_found",
                "no such project of yours",
            )
        })?;
    if project.status != ProjectStatus::Published {
        return Err(Error::conflict(
            "project_not_open",
            format!(
                "aid is recorded in a published project; this one is {}",
                project.status
            ),
        ));
    }
    let mut errors = check_against_project(&input, &project, field);
    if input.aid_on > crate::domain::time::local_date(now) {
        errors.push(super::FieldError::new(
            format!("{field}aid_on"),
            "in_the_future",
            "aid is recorded once given",
        ));
    }
    Error::check(errors)?;
    let person = persons::find(conn, input.person_id)
        .await?
        .ok_or_else(|| Error::not_found("person"))?;
    access::named_consent(conn, caller, &person, now).await?;
    aid::lock_person(conn, person.id).await?;

    let value = input.value_fen.unwrap_or(0);
    let first = projects::add_beneficiary_value(
        conn,
        project.id,
        person.id,
        value,
        project.per_person_cap_fen,
        input.aid_on,
    )
    .await?
    .ok_or_else(|| {
        Error::conflict(
            "per_person_cap_exceeded",
            "this would give the person more than the project's per-person cap",
        )
        .with_extra(
            "per_person_cap_fen",
            project.per_person_cap_fen.unwrap_or(0),
        )
    })?;
    let id = Uuid::now_v7();
    let fund_entry_id = match input.fund_id {
        Some(fund_id) => {
            let entry = funds::append_entry(
                conn,
                caller,
                fund_id,
                funds::EntryInput {
                    kind: EntryKind::Aid,
                    amount_fen: value,
                    reverses_id: None,
                    counterparty: None,
                    note: Some(format!("aid record {id}")),
                    occurred_on: input.aid_on,
                    aid_record_id: Some(id),
                },
                now,
            )
            .await
            .map_err(|e| match e.kind {
                super::Kind::Forbidden | super::Kind::NotFound => Error::field(
                    &format!("{field}fund_id"),
                    "not_found",
                    "no such fund of yours",
                ),
                _ => e,
            })?;
            Some(entry.id)
        }
        None => None,
    };
    let record = AidRecordRow {
        id,
        organization_id: caller.organization_id,
        person_id: person.id,
        project_id: project.id,
        referral_id: None,
        category: input.category,
        form: input.form,
        value_fen: input.value_fen,
        service_minutes: input.service_minutes,
        service_type: input.service_type,
        aid_on: input.aid_on,
        period_end: input.period_end,
        note: input.note,
        fund_id: input.fund_id,
        fund_entry_id,
        feedback_report_id: report,
        recorded_by: caller.id,
        created_at: now,
    };
    aid::insert(conn, &record).await?;
    let flags = duplicate_flags(conn, &record, &person.region_code, now).await?;
    aid::insert_flags(conn, &flags).await?;
    let e = Event::new("aid_record.created", "aid_record", record.id)
        .region(&person.region_code)
        .organizations([Some(record.organization_id)])
        .payload(json!({"project_id": record.project_id,
                        "referral_id": record.referral_id, "category": record.category,
                        "form": record.form, "feedback_report_id": report}));
    events::emit(conn, e, now).await?;
    // The project's row is locked from here to the commit: last, so that records of one
    // project wait on each other as briefly as possible.
    if projects::draw(conn, project.id, first, value, now)
        .await?
        .is_none()
    {
        // Read again: a racing record may have taken the last place or the budget meanwhile.
        let p = projects::find(conn, project.id)
            .await?
            .ok_or_else(|| Error::not_found("project"))?;
        return Err(if p.status != ProjectStatus::Published {
            Error::conflict("project_not_open", "the project is no longer published")
        } else if first && p.places_left <= 0 {
            Error::conflict("no_places_left", "the project has no places left")
        } else {
            Error::conflict(
                "budget_exceeded",
                "the project's budget does not cover this",
            )
            .with_extra("budget_left_fen", p.budget_fen - p.spent_fen)
        });
    }
    Ok(Recorded { record, flags })
}

/// The other sources that helped the same person in the same category in an overlapping period.
async fn duplicate_flags(
    conn: &mut Conn,
    r: &AidRecordRow,
    region_code: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<FlagRow>> {
    let period = (r.aid_on, r.period_end.unwrap_or(r.aid_on));
    let mut flags = Vec::new();
    let flag = |source: &str, other: Uuid, org: Option<Uuid>, programme| FlagRow {
        id: Uuid::now_v7(),
        aid_record_id: r.id,
        person_id: r.person_id,
        region_code: region_code.to_owned(),
        category: r.category,
        other_source: source.to_owned(),
        other_record_id: other,
        other_organization_id: org,
        other_programme: programme,
        detected_at: now,
    };
    for (gid, programme, from, to) in
        aid::government_overlapping(conn, r.person_id, period.0, period.1).await?
    {
        let other = OtherAid::Government {
            programme,
            period: (from, to),
        };
        if duplicates(r.organization_id, r.category, period, &other) {
            flags.push(flag("government", gid, None, Some(programme)));
        }
    }
    for o in aid::charity_overlapping(
        conn,
        r.person_id,
        r.category,
        r.organization_id,
        period.0,
        period.1,
    )
    .await?
    {
        let other = OtherAid::Charity {
            organization_id: o.organization_id,
            category: o.category,
            period: (o.aid_on, o.period_end.unwrap_or(o.aid_on)),
        };
        if duplicates(r.organization_id, r.category, period, &other) {
            flags.push(flag("charity", o.id, Some(o.organization_id), None));
        }
    }
    Ok(flags)
}

/// Records one aid (登记帮扶记录): charity staff, for a person their charity may see under a
/// consent naming it, in one of their own published projects.
pub async fn record(ctx: &Context, caller: &Caller, input: AidInput) -> Result<Recorded> {
    caller.require_any(&[Role::Charity])?;
    super::conflicts::guard(ctx, caller, input.person_id, "aid.record").await?;
    let ev = audit::by(ctx, caller, "aid.record", "aid_record", Uuid::nil());
    let (ctx2, caller) = (ctx.clone(), caller.clone());
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let done = record_in(conn, &ctx2, &caller, input, None, "").await?;
            let mut ev = ev.details(json!({
                "person_id": done.record.person_id,
                "project_id": done.record.project_id,
                "value_fen": done.record.value_fen,
                "fund_id": done.record.fund_id,
                "duplicate_flags": done.flags.len(),
            }));
            ev.entity_id = Some(done.record.id);
            audit::append(conn, ev).await?;
            Ok(for_caller(&caller, vec![done]).remove(0))
        })
    })
    .await
}

/// Lists aid records: a charity its own; civil-affairs staff those of people in their region;
/// auditors all (recorded).
pub async fn list(
    ctx: &Context,
    caller: &Caller,
    region: Option<&str>,
    mut filter: AidFilter,
) -> Result<Vec<Recorded>> {
    if caller.has(Role::Charity) && !caller.has(Role::CivilAffairs) {
        filter.organization_id = Some(caller.organization_id);
    } else {
        filter.region_prefix = Some(access::list_scope(caller, region)?);
    }
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let rows = aid::list(&mut conn, &filter).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut flags = aid::flags_of(&mut conn, &ids).await?;
    drop(conn);
    audit::record_supervision_read(
        ctx,
        caller,
        "aid_record.list",
        "aid_record",
        None,
        json!({"region": region, "person_id": filter.person_id, "project_id": filter.project_id}),
    )
    .await?;
    let recorded = rows
        .into_iter()
        .map(|record| {
            let (mine, rest): (Vec<_>, Vec<_>) =
                flags.drain(..).partition(|f| f.aid_record_id == record.id);
            flags = rest;
            Recorded {
                record,
                flags: mine,
            }
        })
        .collect();
    Ok(for_caller(caller, recorded))
}

/// One person's aid from every source (government programmes and charities).
#[derive(Debug)]
pub struct AidHistory {
    pub government: Vec<crate::db::persons::GovernmentAidRow>,
    pub charity: Vec<AidRecordRow>,
}

/// A person's aid history (救助帮扶记录): civil-affairs staff of the region; auditors (recorded);
/// a charity only under a consent for `purpose` that names the `aid_history` category (recorded
/// as a disclosure). Others: not found.
pub async fn history(
    ctx: &Context,
    caller: &Caller,
    person_id: Uuid,
    purpose: Option<crate::domain::consent::Purpose>,
) -> Result<AidHistory> {
    use crate::domain::consent::DataCategory;
    use access::PersonAccess;
    access::may_read_people(caller, purpose)?;
    let now = ctx.clock.now();
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let person = persons::find(&mut conn, person_id)
        .await?
        .ok_or_else(|| Error::not_found("person"))?;
    let reach = access::to_person(&mut conn, caller, &person, purpose, now).await?;
    let recipient = matches!(reach, PersonAccess::Recipient(_));
    let event = match reach {
        PersonAccess::Staff => None,
        PersonAccess::Auditor => Some(audit::by(
            ctx,
            caller,
            "person.aid_history.read",
            "person",
            person_id,
        )),
        PersonAccess::Recipient(cov) if cov.allows(DataCategory::AidHistory) => Some(
            audit::by(
                ctx,
                caller,
                "person.aid_history.disclose",
                "person",
                person_id,
            )
            .details(json!({"categories": ["aid_history"], "purpose": purpose})),
        ),
        PersonAccess::Recipient(_) => return Err(Error::not_found("person")),
    };
    let government = persons::government_aid_of(&mut conn, person_id).await?;
    let mut charity = aid::of_person(&mut conn, person_id).await?;
    // `aid_history` is the government aid received; of charity aid a charity sees its own only
    // (another charity's help would tell it more: categories, values, who).
    if recipient {
        charity.retain(|r| r.organization_id == caller.organization_id);
    }
    drop(conn);
    if let Some(ev) = event {
        audit::record(ctx, ev).await?;
    }
    Ok(AidHistory {
        government,
        charity,
    })
}

/// Duplicate-aid flags (一人多头救助) for supervision: civil-affairs staff of the people's region,
/// auditors anywhere (recorded).
pub async fn duplicate_flags_list(
    ctx: &Context,
    caller: &Caller,
    region: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<FlagRow>> {
    let prefix = access::list_scope(caller, region)?;
    let rows = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        aid::flags_in(&mut conn, &prefix, after, limit).await?
    };
    audit::record_supervision_read(
        ctx,
        caller,
        "aid.duplicate_flags.list",
        "aid_record",
        None,
        json!({"region": prefix}),
    )
    .await?;
    Ok(rows)
}

//! Supply–demand matching (供需对接): for a need, the published projects whose eligibility the
//! person meets, ranked with their reasons, and the near misses with the rules that failed.

use chrono::NaiveDate;
use uuid::Uuid;

use super::{access, Context, Error, Result};
use crate::auth::Caller;
use crate::db::persons::PersonRow;
use crate::db::projects::{self, ProjectRow};
use crate::db::{needs, persons};
use crate::domain::project::{
    covering_prefixes, judge, rank, Eligibility, Judgement, PersonFacts, ProjectFacts,
};
use crate::domain::resident_id::age;
use crate::domain::role::Role;
use crate::domain::time::local_date;

/// How many candidate projects one match looks at, at most.
const CANDIDATES: i64 = 500;

fn in_force(from: Option<NaiveDate>, to: Option<NaiveDate>, today: NaiveDate) -> bool {
    from.is_none_or(|f| f <= today) && to.is_none_or(|t| t >= today)
}

/// What matching knows of a person on `today`: statuses count only while certified.
pub fn person_facts(p: &PersonRow, today: NaiveDate) -> PersonFacts {
    PersonFacts {
        region_code: p.region_code.clone(),
        tier: p
            .tier
            .filter(|_| in_force(p.tier_valid_from, p.tier_valid_to, today)),
        relapse_monitoring: p.relapse_monitoring
            && in_force(p.relapse_valid_from, p.relapse_valid_to, today),
        circumstances: p.special_circumstances.clone(),
        age: age(p.birth_date, today),
    }
}

pub fn project_facts(p: &ProjectRow) -> ProjectFacts {
    ProjectFacts {
        categories: p.categories.clone(),
        eligibility: Eligibility {
            region_prefixes: p.region_prefixes.clone(),
            tiers: p.tiers.clone(),
            relapse_monitoring: p.relapse_monitoring,
            circumstances: p.circumstances.clone(),
            min_age: p.min_age.and_then(|a| u32::try_from(a).ok()),
            max_age: p.max_age.and_then(|a| u32::try_from(a).ok()),
        },
        places_left: p.places_left,
        starts_on: p.starts_on,
        ends_on: p.ends_on,
    }
}

/// The projects for a need, best first, and (when asked) the near misses.
#[derive(Debug)]
pub struct Matches {
    pub need_id: Uuid,
    pub matches: Vec<(ProjectRow, Judgement)>,
    pub near_misses: Vec<(ProjectRow, Judgement)>,
}

/// Matches a need (civil-affairs staff of its region): published projects in the need's
/// category whose regions cover the person, judged and ranked by the domain rules.
pub async fn for_need(
    ctx: &Context,
    caller: &Caller,
    need_id: Uuid,
    include_near: bool,
) -> Result<Matches> {
    caller.require_any(&[Role::CivilAffairs])?;
    let today = local_date(ctx.clock.now());
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let need = needs::find(&mut conn, need_id)
        .await?
        .ok_or_else(|| Error::not_found("need"))?;
    access::change_need(caller, &need)?;
    let person = persons::find(&mut conn, need.person_id)
        .await?
        .ok_or_else(|| Error::not_found("need"))?;
    let facts = person_facts(&person, today);
    let candidates = projects::match_candidates(
        &mut conn,
        &covering_prefixes(&person.region_code),
        need.category,
        today,
        include_near,
        CANDIDATES,
    )
    .await?;
    drop(conn);
    let (mut matches, mut near_misses): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .map(|p| {
            let j = judge(&project_facts(&p), &facts, need.category, today);
            (p, j)
        })
        .partition(|(_, j)| j.fits());
    rank(&mut matches);
    rank(&mut near_misses);
    if !include_near {
        near_misses.clear();
    }
    Ok(Matches {
        need_id,
        matches,
        near_misses,
    })
}

/// A need that fits a project, as its charity may see it.
#[derive(Debug)]
pub struct NeedMatch {
    pub need: crate::db::needs::NeedRow,
    /// The person, when a consent names the charity (with what it covers); `None` for a
    /// region-wide consent's de-identified summary.
    pub person: Option<(PersonRow, crate::domain::consent::Coverage)>,
    /// The need's region as far as the consent shows it (the county without `household`).
    pub region_code: String,
    pub age: u32,
    /// Why it fits, judged only on consented data.
    pub reasons: Vec<crate::domain::project::MatchReason>,
}

/// How many consented needs one project match looks at, at most.
const NEED_CANDIDATES: i64 = 1000;

/// Needs for a published project (the owning charity): open needs that fit, of people whose
/// consent for `matching` covers this charity. Every rule is judged only on data the consent
/// names (domain `judge_under_consent`), and the list is ordered by urgency, not by how well
/// hidden facts fit, so the answer tells the charity nothing the consent does not.
pub async fn for_project(
    ctx: &Context,
    caller: &Caller,
    project_id: Uuid,
) -> Result<Vec<NeedMatch>> {
    use crate::domain::consent::{coverage, DataCategory, Purpose};
    use crate::domain::project::{county, judge_under_consent, ProjectStatus};
    caller.require_any(&[Role::Charity])?;
    let now = ctx.clock.now();
    let today = local_date(now);
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let project = super::projects::load_owned(&mut conn, caller, project_id).await?;
    if project.status != ProjectStatus::Published {
        return Err(Error::conflict(
            "project_not_open",
            "only a published project is matched with needs",
        ));
    }
    let who = access::requester(&mut conn, caller).await?;
    let candidates = needs::consented_for_matching(
        &mut conn,
        &project.categories,
        &project.region_prefixes,
        who.organization_id,
        &who.region_code,
        now,
        NEED_CANDIDATES,
    )
    .await?;
    let need_ids: Vec<Uuid> = candidates.iter().map(|c| c.need_id).collect();
    let person_ids: Vec<Uuid> = candidates.iter().map(|c| c.person_id).collect();
    let needs = needs::find_many(&mut conn, &need_ids).await?;
    let people = persons::find_many(&mut conn, &person_ids).await?;
    let consents = crate::db::consents::of_persons(&mut conn, &person_ids).await?;
    drop(conn);
    let facts = project_facts(&project);
    let mut out = Vec::new();
    for need in needs {
        let Some(person) = people.iter().find(|p| p.id == need.person_id) else {
            continue;
        };
        let theirs: Vec<_> = consents
            .iter()
            .filter(|c| c.person_id == person.id)
            .map(|c| c.facts())
            .collect();
        let cov = coverage(&theirs, &who, Some(Purpose::Matching), now);
        if !cov.sees_anything() {
            continue;
        }
        let Some(judgement) = judge_under_consent(
            &facts,
            &person_facts(person, today),
            need.category,
            today,
            &cov.categories,
        ) else {
            continue;
        };
        if !judgement.fits() {
            continue;
        }
        let region_code = if cov.allows(DataCategory::Household) {
            need.region_code.clone()
        } else {
            county(&need.region_code).to_owned()
        };
        out.push(NeedMatch {
            region_code,
            age: age(person.birth_date, today),
            reasons: judgement.reasons,
            person: (!cov.summary_only).then(|| (person.clone(), cov)),
            need,
        });
    }
    out.sort_by(|a, b| {
        b.need
            .urgency
            .cmp(&a.need.urgency)
            .then(a.need.id.cmp(&b.need.id))
    });
    // What the charity now sees of whom is a disclosure: on the record, with the rules asked.
    let named: Vec<Uuid> = out
        .iter()
        .filter_map(|m| m.person.as_ref().map(|(p, _)| p.id))
        .collect();
    let ev = super::audit::by(ctx, caller, "project.matches", "project", project_id).details(
        serde_json::json!({"purpose": "matching", "persons": named,
            "summaries": out.len() - named.len(),
            "eligibility": {"region_prefixes": project.region_prefixes, "tiers": project.tiers,
                "relapse_monitoring": project.relapse_monitoring,
                "circumstances": project.circumstances, "min_age": project.min_age,
                "max_age": project.max_age}}),
    );
    super::audit::record(ctx, ev).await?;
    Ok(out)
}

//! Charity projects (慈善项目): their status machine, eligibility (受助条件) and how a need is
//! matched to them (供需对接): which rules a person meets, which fail, and the ranking.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use std::collections::BTreeSet;

use super::consent::DataCategory;
use super::need::NeedCategory;
use super::person::{Circumstance, Tier};
use super::region;

text_enum! {
    /// What a project gives.
    AidForm {
        /// 物质 (money or goods)
        Material = "material",
        /// 服务
        Service = "service",
        Both = "both",
    }
}

text_enum! {
    ProjectStatus {
        Draft = "draft",
        Published = "published",
        Closed = "closed",
    }
}

text_enum! {
    /// Which projects a list shows.
    ProjectScope {
        /// Published and closed projects (civil-affairs staff: of their region by default).
        Published = "published",
        /// The caller's charity's own, drafts included.
        Mine = "mine",
        /// A federation's member charities' projects, drafts included.
        Members = "members",
    }
}

/// draft → published → closed (a draft may also be closed without ever being published).
pub fn can_transition(from: ProjectStatus, to: ProjectStatus) -> bool {
    use ProjectStatus::*;
    matches!(
        (from, to),
        (Draft, Published) | (Draft, Closed) | (Published, Closed)
    )
}

/// Who a project is for. Empty lists and absent bounds mean "no condition".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Eligibility {
    /// Region-code prefixes (at least one): the person must live under one of them.
    pub region_prefixes: Vec<String>,
    /// Any of these low-income tiers…
    pub tiers: Vec<Tier>,
    /// …or, when set, a person under relapse monitoring (防止返贫监测对象).
    pub relapse_monitoring: bool,
    /// Any of these circumstances.
    pub circumstances: Vec<Circumstance>,
    pub min_age: Option<u32>,
    pub max_age: Option<u32>,
}

/// What matching may know of a person (as of the matching day).
#[derive(Debug, Clone)]
pub struct PersonFacts {
    pub region_code: String,
    /// The tier in force on the day, if any.
    pub tier: Option<Tier>,
    /// Relapse monitoring in force on the day.
    pub relapse_monitoring: bool,
    pub circumstances: Vec<Circumstance>,
    pub age: u32,
}

/// What matching knows of a project.
#[derive(Debug, Clone)]
pub struct ProjectFacts {
    pub categories: Vec<NeedCategory>,
    pub eligibility: Eligibility,
    pub places_left: i32,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
}

text_enum! {
    /// Why a project fits (each a rule met in a way that says something).
    MatchReason {
        /// A region prefix is the person's very region.
        RegionExact = "region_exact",
        /// A region prefix covers the person's region.
        RegionPrefix = "region_prefix",
        /// The person's tier (or relapse monitoring) is one the project names.
        Tier = "tier",
        /// One of the person's circumstances is one the project names.
        Circumstance = "circumstance",
        /// The project names an age range and the person is within it.
        Age = "age",
    }
}

text_enum! {
    /// A rule a person or need does not meet.
    MatchRule {
        Region = "region",
        Category = "category",
        Tier = "tier",
        Circumstance = "circumstance",
        Age = "age",
        /// No places left.
        Places = "places",
        /// The project has ended (or not started by its end).
        Period = "period",
    }
}

/// One project judged against one person and need category.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Judgement {
    pub reasons: Vec<MatchReason>,
    /// Rules that failed; empty when the project fits.
    pub failed: Vec<MatchRule>,
    /// Higher is a better fit (see [`judge`]).
    pub score: i32,
    pub places_left: i32,
    /// Days from `today` to the project's last day (0 on that day).
    pub days_to_end: i64,
}

impl Judgement {
    pub fn fits(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Judges `project` for `person`'s need of `category` on `today`. Score: a region prefix as
/// long as the person's region 40, else 2 per digit of the longest covering prefix; a named
/// tier 20; 10 per shared circumstance; an age range 5. Conditions a project does not set
/// neither add nor fail.
pub fn judge(
    project: &ProjectFacts,
    person: &PersonFacts,
    category: NeedCategory,
    today: NaiveDate,
) -> Judgement {
    let e = &project.eligibility;
    let mut reasons = Vec::new();
    let mut failed = Vec::new();
    let mut score = 0;

    let longest = e
        .region_prefixes
        .iter()
        .filter(|p| region::covers(p, &person.region_code))
        .map(|p| p.len())
        .max();
    match longest {
        Some(n) if n == person.region_code.len() => {
            reasons.push(MatchReason::RegionExact);
            score += 40;
        }
        Some(n) => {
            reasons.push(MatchReason::RegionPrefix);
            score += 2 * n as i32;
        }
        None => failed.push(MatchRule::Region),
    }
    if !project.categories.contains(&category) {
        failed.push(MatchRule::Category);
    }
    if !e.tiers.is_empty() || e.relapse_monitoring {
        let by_tier = person.tier.is_some_and(|t| e.tiers.contains(&t));
        let by_relapse = e.relapse_monitoring && person.relapse_monitoring;
        if by_tier || by_relapse {
            reasons.push(MatchReason::Tier);
            score += 20;
        } else {
            failed.push(MatchRule::Tier);
        }
    }
    if !e.circumstances.is_empty() {
        let shared = e
            .circumstances
            .iter()
            .filter(|c| person.circumstances.contains(c))
            .count() as i32;
        if shared > 0 {
            reasons.push(MatchReason::Circumstance);
            score += 10 * shared;
        } else {
            failed.push(MatchRule::Circumstance);
        }
    }
    if e.min_age.is_some() || e.max_age.is_some() {
        let above = e.min_age.is_none_or(|m| person.age >= m);
        let below = e.max_age.is_none_or(|m| person.age <= m);
        if above && below {
            reasons.push(MatchReason::Age);
            score += 5;
        } else {
            failed.push(MatchRule::Age);
        }
    }
    if project.places_left <= 0 {
        failed.push(MatchRule::Places);
    }
    if project.ends_on < today {
        failed.push(MatchRule::Period);
    }
    Judgement {
        reasons,
        failed,
        score,
        places_left: project.places_left,
        days_to_end: (project.ends_on - today).num_days(),
    }
}

/// The data category a circumstance belongs to (what a consent must name for a charity to
/// learn it).
pub fn circumstance_category(c: Circumstance) -> DataCategory {
    match c {
        _ if c.is_health() => DataCategory::Health,
        _ if c.is_disability() => DataCategory::Disability,
        Circumstance::IncomeLoss => DataCategory::Income,
        Circumstance::Minor => DataCategory::Identity,
        _ => DataCategory::Household,
    }
}

/// The age range of a band.
fn band_bounds(age: u32) -> (u32, u32) {
    match age {
        0..=13 => (0, 13),
        14..=17 => (14, 17),
        18..=34 => (18, 34),
        35..=59 => (35, 59),
        60..=79 => (60, 79),
        _ => (80, 150),
    }
}

/// Judges a project for a person as far as a charity's consent lets it learn the facts: a rule
/// is evaluated only on data the consent names (`allowed`), so that the answer tells the charity
/// nothing more. Without `income` a tier condition cannot be judged, without the circumstance's
/// category neither can that circumstance (`None`: the person is left out); without `identity`
/// age is known only by its band (the band must lie within the range), without `household` the
/// region only down to the county.
pub fn judge_under_consent(
    project: &ProjectFacts,
    person: &PersonFacts,
    category: NeedCategory,
    today: NaiveDate,
    allowed: &BTreeSet<DataCategory>,
) -> Option<Judgement> {
    let may = |c: DataCategory| allowed.contains(&c);
    let e = &project.eligibility;
    if (!e.tiers.is_empty() || e.relapse_monitoring) && !may(DataCategory::Income) {
        return None;
    }
    let mut project = project.clone();
    if !e.circumstances.is_empty() {
        project
            .eligibility
            .circumstances
            .retain(|c| may(circumstance_category(*c)));
        if project.eligibility.circumstances.is_empty() {
            return None;
        }
    }
    let mut seen = person.clone();
    if !may(DataCategory::Household) {
        seen.region_code = county(&person.region_code).to_owned();
    }
    if !may(DataCategory::Income) {
        seen.tier = None;
        seen.relapse_monitoring = false;
    }
    seen.circumstances
        .retain(|c| may(circumstance_category(*c)));
    if !may(DataCategory::Identity) && (e.min_age.is_some() || e.max_age.is_some()) {
        let (lo, hi) = band_bounds(person.age);
        let inside = e.min_age.is_none_or(|m| lo >= m) && e.max_age.is_none_or(|m| hi <= m);
        if !inside {
            return None;
        }
        seen.age = lo.max(e.min_age.unwrap_or(0));
    }
    Some(judge(&project, &seen, category, today))
}

/// A region code cut to its county (6 digits): what a de-identified view may show.
pub fn county(code: &str) -> &str {
    &code[..code.len().min(6)]
}

/// Best first: higher score, then the project that ends sooner (its help must be used first),
/// then more places left.
pub fn rank<T>(judged: &mut [(T, Judgement)]) {
    judged.sort_by(|(_, a), (_, b)| {
        b.score
            .cmp(&a.score)
            .then(a.days_to_end.cmp(&b.days_to_end))
            .then(b.places_left.cmp(&a.places_left))
    });
}

/// The region prefixes (2, 4, 6, 9, 12 digits) that cover `code`: a project covers the person
/// when its prefixes and these overlap (an indexable array overlap in SQL).
pub fn covering_prefixes(code: &str) -> Vec<String> {
    [2, 4, 6, 9, 12]
        .into_iter()
        .filter(|&n| n <= code.len())
        .map(|n| code[..n].to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("a test date")
    }

    fn project() -> ProjectFacts {
        ProjectFacts {
            categories: vec![NeedCategory::Medical],
            eligibility: Eligibility {
                region_prefixes: vec!["2301".into()],
                ..Eligibility::default()
            },
            places_left: 3,
            starts_on: day("2026-01-01"),
            ends_on: day("2026-12-31"),
        }
    }

    fn person() -> PersonFacts {
        PersonFacts {
            region_code: "230102".into(),
            tier: Some(Tier::SubsistenceAllowance),
            relapse_monitoring: false,
            circumstances: vec![Circumstance::MajorIllness],
            age: 40,
        }
    }

    #[test]
    fn the_status_machine() {
        use ProjectStatus::*;
        assert!(can_transition(Draft, Published));
        assert!(can_transition(Published, Closed));
        assert!(can_transition(Draft, Closed));
        assert!(!can_transition(Closed, Published));
        assert!(!can_transition(Published, Draft));
        assert!(!can_transition(Published, Published));
    }

    #[test]
    fn a_table_of_cases() {
        let today = day("2026-06-01");
        type Change = fn(&mut ProjectFacts, &mut PersonFacts);
        let cases: Vec<(&str, Change, Vec<MatchReason>, Vec<MatchRule>)> = vec![
            (
                "only a region",
                |_, _| {},
                vec![MatchReason::RegionPrefix],
                vec![],
            ),
            (
                "exact region",
                |p, _| p.eligibility.region_prefixes = vec!["230102".into()],
                vec![MatchReason::RegionExact],
                vec![],
            ),
            (
                "another city",
                |p, _| p.eligibility.region_prefixes = vec!["2302".into()],
                vec![],
                vec![MatchRule::Region],
            ),
            (
                "one of several regions",
                |p, _| p.eligibility.region_prefixes = vec!["2302".into(), "23".into()],
                vec![MatchReason::RegionPrefix],
                vec![],
            ),
            (
                "other category",
                |p, _| p.categories = vec![NeedCategory::Education],
                vec![MatchReason::RegionPrefix],
                vec![MatchRule::Category],
            ),
            (
                "tier named",
                |p, _| p.eligibility.tiers = vec![Tier::SubsistenceAllowance],
                vec![MatchReason::RegionPrefix, MatchReason::Tier],
                vec![],
            ),
            (
                "tier not named",
                |p, _| p.eligibility.tiers = vec![Tier::ExtremePoverty],
                vec![MatchReason::RegionPrefix],
                vec![MatchRule::Tier],
            ),
            (
                "no tier in force",
                |p, q| {
                    p.eligibility.tiers = vec![Tier::SubsistenceAllowance];
                    q.tier = None;
                },
                vec![MatchReason::RegionPrefix],
                vec![MatchRule::Tier],
            ),
            (
                "relapse monitoring instead of a tier",
                |p, q| {
                    p.eligibility.tiers = vec![Tier::ExtremePoverty];
                    p.eligibility.relapse_monitoring = true;
                    q.relapse_monitoring = true;
                },
                vec![MatchReason::RegionPrefix, MatchReason::Tier],
                vec![],
            ),
            (
                "circumstance shared",
                |p, _| {
                    p.eligibility.circumstances =
                        vec![Circumstance::MajorIllness, Circumstance::Disabled]
                },
                vec![MatchReason::RegionPrefix, MatchReason::Circumstance],
                vec![],
            ),
            (
                "circumstance missing",
                |p, _| p.eligibility.circumstances = vec![Circumstance::Minor],
                vec![MatchReason::RegionPrefix],
                vec![MatchRule::Circumstance],
            ),
            (
                "age inside",
                |p, _| {
                    p.eligibility.min_age = Some(18);
                    p.eligibility.max_age = Some(40);
                },
                vec![MatchReason::RegionPrefix, MatchReason::Age],
                vec![],
            ),
            (
                "age above",
                |p, _| p.eligibility.max_age = Some(39),
                vec![MatchReason::RegionPrefix],
                vec![MatchRule::Age],
            ),
            (
                "no places",
                |p, _| p.places_left = 0,
                vec![MatchReason::RegionPrefix],
                vec![MatchRule::Places],
            ),
            (
                "ended",
                |p, _| p.ends_on = day("2026-05-31"),
                vec![MatchReason::RegionPrefix],
                vec![MatchRule::Period],
            ),
            (
                "several failures",
                |p, q| {
                    p.eligibility.min_age = Some(60);
                    p.eligibility.tiers = vec![Tier::ExtremePoverty];
                    q.region_code = "230203".into();
                },
                vec![],
                vec![MatchRule::Region, MatchRule::Tier, MatchRule::Age],
            ),
        ];
        for (name, change, reasons, failed) in cases {
            let (mut p, mut q) = (project(), person());
            change(&mut p, &mut q);
            let j = judge(&p, &q, NeedCategory::Medical, today);
            assert_eq!(j.reasons, reasons, "{name}: reasons");
            assert_eq!(j.failed, failed, "{name}: failed rules");
            assert_eq!(j.fits(), failed.is_empty(), "{name}: fits");
        }
    }

    #[test]
    fn the_last_day_still_fits() {
        let j = judge(
            &project(),
            &person(),
            NeedCategory::Medical,
            day("2026-12-31"),
        );
        assert!(j.fits());
        assert_eq!(j.days_to_end, 0);
    }

    #[test]
    fn ranking_prefers_the_closer_fit_then_the_sooner_end() {
        let today = day("2026-06-01");
        let broad = project();
        let mut exact = project();
        exact.eligibility.region_prefixes = vec!["230102".into()];
        let mut targeted = project();
        targeted.eligibility.tiers = vec![Tier::SubsistenceAllowance];
        targeted.ends_on = day("2026-07-01");
        let mut targeted_later = targeted.clone();
        targeted_later.ends_on = day("2026-09-01");
        let mut judged: Vec<(&str, Judgement)> = [
            ("broad", &broad),
            ("targeted_later", &targeted_later),
            ("exact", &exact),
            ("targeted", &targeted),
        ]
        .into_iter()
        .map(|(n, p)| (n, judge(p, &person(), NeedCategory::Medical, today)))
        .collect();
        rank(&mut judged);
        let order: Vec<_> = judged.iter().map(|(n, _)| *n).collect();
        assert_eq!(order, ["exact", "targeted", "targeted_later", "broad"]);
    }

    #[test]
    fn under_consent_only_consented_facts_decide() {
        use DataCategory as D;
        let today = day("2026-06-01");
        let only = |cs: &[DataCategory]| cs.iter().copied().collect::<BTreeSet<_>>();
        let mut tiered = project();
        tiered.eligibility.tiers = vec![Tier::SubsistenceAllowance];
        // A tier condition needs the income category; without it the person is left out.
        assert!(judge_under_consent(
            &tiered,
            &person(),
            NeedCategory::Medical,
            today,
            &only(&[D::Identity])
        )
        .is_none());
        let j = judge_under_consent(
            &tiered,
            &person(),
            NeedCategory::Medical,
            today,
            &only(&[D::Income]),
        )
        .expect("judged");
        assert!(j.fits());
        // An illness is health data: a disability-only consent cannot test it.
        let mut ill = project();
        ill.eligibility.circumstances = vec![Circumstance::MajorIllness];
        assert!(judge_under_consent(
            &ill,
            &person(),
            NeedCategory::Medical,
            today,
            &only(&[D::Disability])
        )
        .is_none());
        assert!(judge_under_consent(
            &ill,
            &person(),
            NeedCategory::Medical,
            today,
            &only(&[D::Health])
        )
        .expect("judged")
        .fits());
        // Without identity, age only by band: 40 is in 35-59, which lies within 30-60 but not 40-60.
        let mut aged = project();
        aged.eligibility.min_age = Some(30);
        aged.eligibility.max_age = Some(60);
        assert!(
            judge_under_consent(&aged, &person(), NeedCategory::Medical, today, &only(&[]))
                .is_some()
        );
        aged.eligibility.min_age = Some(40);
        assert!(
            judge_under_consent(&aged, &person(), NeedCategory::Medical, today, &only(&[]))
                .is_none()
        );
        // Without household, a village-level project cannot place the person.
        let mut village = project();
        village.eligibility.region_prefixes = vec!["230102001".into()];
        let mut p = person();
        p.region_code = "230102001001".into();
        let j = judge_under_consent(&village, &p, NeedCategory::Medical, today, &only(&[]))
            .expect("judged");
        assert_eq!(j.failed, [MatchRule::Region]);
        assert!(judge_under_consent(
            &village,
            &p,
            NeedCategory::Medical,
            today,
            &only(&[D::Household])
        )
        .expect("judged")
        .fits());
    }

    #[test]
    fn covering_prefixes_of_a_village() {
        assert_eq!(
            covering_prefixes("230102001001"),
            ["23", "2301", "230102", "230102001", "230102001001"]
        );
        assert_eq!(covering_prefixes("2301"), ["23", "2301"]);
    }
}

//! Person imports (数据导入) from the low-income population monitoring platform's CSV export:
//! civil-affairs staff upload a file; every row is checked with the registration rules; valid
//! rows are upserted by ID number (its keyed hash) or external id, a batch per transaction, so
//! importing the same file again changes nothing. The job row shows progress while the upload
//! streams; refused rows are reported by line. Rows for people outside the caller's region, or
//! registered elsewhere, are refused without saying more.

use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use super::events::{self, Event};
use super::persons::NewRegistration;
use super::{audit, transaction, Context, Error, Result};
use crate::auth::Caller;
use crate::db::imports::{self, ImportRow};
use crate::db::persons::{self as person_rows, PersonChanges, PersonRow};
use crate::domain::phone::MobilePhone;
use crate::domain::role::Role;
use crate::privacy::Field;

/// A row that passed the field rules, with its line in the file.
#[derive(Debug)]
pub struct Row {
    pub line: u64,
    pub reg: NewRegistration,
}

/// The ID numbers an import has seen so far, to refuse a later row repeating an earlier one: a
/// 64-bit fingerprint each (about 20 MB for 1.5 million rows; the rows themselves are not kept).
/// A repeated external id needs no memory: within a batch it is checked here, across batches
/// the first row is in the database by then and the later one is refused as taken.
#[derive(Debug, Default)]
pub struct Seen {
    ids: HashSet<u64>,
}

fn fingerprint(s: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let mut h = KEYS.get_or_init(Default::default).build_hasher();
    h.write(s.as_bytes());
    h.finish()
}

/// A refused row, as reported.
pub fn refused(line: u64, field: &str, code: &str, message: &str) -> Value {
    json!({"line": line, "field": field, "code": code, "message": message})
}

/// Opens an import job for the caller's organisation.
pub async fn start(ctx: &Context, caller: &Caller) -> Result<ImportRow> {
    caller.require_any(&[Role::CivilAffairs])?;
    let row = ImportRow {
        id: Uuid::now_v7(),
        organization_id: caller.organization_id,
        created_by: caller.id,
        status: "running".into(),
        rows_read: 0,
        rows_written: 0,
        rows_unchanged: 0,
        rows_rejected: 0,
        rejected: json!([]),
        failure: None,
        created_at: ctx.clock.now(),
        finished_at: None,
        updated_at: ctx.clock.now(),
    };
    let ev = audit::by(ctx, caller, "import.start", "import", row.id);
    let r = row.clone();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            imports::insert(conn, &r).await?;
            audit::append(conn, ev).await
        })
    })
    .await?;
    Ok(row)
}

/// What an existing person's record would change to (only the fields the platform keeps).
fn changes(ctx: &Context, p: &PersonRow, reg: &NewRegistration) -> Result<Option<PersonChanges>> {
    let mut c = PersonChanges::default();
    let mut any = false;
    let name = reg.name.trim();
    if p.name != name {
        c.name = Some(name.to_owned());
        any = true;
    }
    let phone_now = match &p.phone_encrypted {
        Some(e) => Some(super::persons::decrypt(ctx, Field::Phone, e)?),
        None => None,
    };
    if phone_now.as_deref() != reg.phone.as_ref().map(MobilePhone::expose) {
        c.phone_encrypted = Some(match &reg.phone {
            Some(ph) => Some(
                ctx.keys
                    .encrypt(Field::Phone, ph.expose())
                    .map_err(Error::internal)?,
            ),
            None => None,
        });
        c.phone_masked = Some(reg.phone.as_ref().map(MobilePhone::masked));
        any = true;
    }
    if p.region_code != reg.region_code {
        c.region_code = Some(reg.region_code.clone());
        any = true;
    }
    let tier = reg.low_income.as_ref();
    let tier_now = (
        p.tier,
        p.tier_certifying_region.clone(),
        p.tier_valid_from,
        p.tier_valid_to,
    );
    let tier_new = (
        tier.map(|t| t.tier),
        tier.map(|t| t.status.certifying_region.clone()),
        tier.map(|t| t.status.valid_from),
        tier.and_then(|t| t.status.valid_to),
    );
    if tier_now != tier_new {
        c.tier = Some(tier_new.0);
        c.tier_certifying_region = Some(tier_new.1);
        c.tier_valid_from = Some(tier_new.2);
        c.tier_valid_to = Some(tier_new.3);
        any = true;
    }
    let relapse = reg.relapse_monitoring.as_ref();
    let relapse_now = (
        p.relapse_monitoring,
        p.relapse_certifying_region.clone(),
        p.relapse_valid_from,
        p.relapse_valid_to,
    );
    let relapse_new = (
        relapse.is_some(),
        relapse.map(|s| s.certifying_region.clone()),
        relapse.map(|s| s.valid_from),
        relapse.and_then(|s| s.valid_to),
    );
    if relapse_now != relapse_new {
        c.relapse_monitoring = Some(relapse_new.0);
        c.relapse_certifying_region = Some(relapse_new.1);
        c.relapse_valid_from = Some(relapse_new.2);
        c.relapse_valid_to = Some(relapse_new.3);
        any = true;
    }
    if reg.external_id.is_some() && p.external_id != reg.external_id {
        c.external_id = Some(reg.external_id.clone());
        any = true;
    }
    Ok(any.then_some(c))
}

/// Writes one batch in one transaction: new people inserted together, changed ones updated,
/// unchanged ones left alone; the job's counts move with it.
pub async fn write_batch(
    ctx: &Context,
    caller: &Caller,
    import_id: Uuid,
    seen: &mut Seen,
    read: i64,
    rows: Vec<Row>,
    mut rejected: Vec<Value>,
) -> Result<()> {
    let now = ctx.clock.now();
    // Everything that needs the keys is done before the transaction.
    let mut prepared = Vec::with_capacity(rows.len());
    let mut batch_external = HashSet::new();
    for r in rows {
        if !caller.covers_region(&r.reg.region_code) {
            rejected.push(refused(
                r.line,
                "region_code",
                "outside_region",
                "the region is outside yours",
            ));
            continue;
        }
        let hash = ctx.keys.blind_index(r.reg.id.expose());
        if !seen.ids.insert(fingerprint(&hash)) {
            rejected.push(refused(
                r.line,
                "id_number",
                "duplicate_row",
                "an earlier row has the same ID number",
            ));
            continue;
        }
        if let Some(e) = &r.reg.external_id {
            if !batch_external.insert(e.clone()) {
                rejected.push(refused(
                    r.line,
                    "external_id",
                    "duplicate_row",
                    "an earlier row has the same external_id",
                ));
                continue;
            }
        }
        prepared.push((r, hash));
    }
    // Rows are written in the order of their lookup hash, not the file's: two imports of the
    // same people in different orders then take the rows' locks (and the unique index's) in the
    // same order, and neither waits on the other in a cycle.
    prepared.sort_by(|a, b| a.1.cmp(&b.1));
    let caller2 = caller.clone();
    let ctx2 = ctx.clone();
    let ev = audit::by(ctx, caller, "person.import", "import", import_id);
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let hashes: Vec<String> = prepared.iter().map(|(_, h)| h.clone()).collect();
            let externals: Vec<String> = prepared
                .iter()
                .filter_map(|(r, _)| r.reg.external_id.clone())
                .collect();
            let existing = imports::existing(conn, &hashes, &externals).await?;
            let by_hash: HashMap<&str, &PersonRow> = existing
                .iter()
                .map(|p| (p.id_number_hash.as_str(), p))
                .collect();
            let by_external: HashMap<&str, &PersonRow> = existing
                .iter()
                .filter_map(|p| p.external_id.as_deref().map(|e| (e, p)))
                .collect();
            let (mut written, mut unchanged) = (0i64, 0i64);
            let mut new_people = Vec::new();
            let mut new_lines = Vec::new();
            let mut changed_ids = Vec::new();
            let mut events_out = Vec::new();
            let mut probes = Vec::new();
            for (r, hash) in prepared {
                let mine = by_hash.get(hash.as_str()).copied();
                let theirs = r
                    .reg
                    .external_id
                    .as_deref()
                    .and_then(|e| by_external.get(e).copied());
                // Someone outside the caller's region, by either key: refused without saying
                // which key or where, and recorded as a cross-region look-up (as a single
                // registration would be), so that supervision can see a file used to probe.
                let elsewhere = [mine, theirs]
                    .into_iter()
                    .flatten()
                    .find(|p| !caller2.covers_region(&p.region_code));
                if let Some(p) = elsewhere {
                    rejected.push(refused(
                        r.line,
                        "id_number",
                        "already_registered",
                        "registered outside your region; ask that region's bureau",
                    ));
                    probes.push(p.id);
                    continue;
                }
                let person = match (mine, theirs) {
                    (None, None) => {
                        let region = r.reg.region_code.clone();
                        new_lines.push((r.line, region));
                        new_people.push(super::persons::new_person(&ctx2, &caller2, r.reg, hash)?);
                        continue;
                    }
                    (Some(a), Some(b)) if a.id != b.id => {
                        rejected.push(refused(
                            r.line,
                            "external_id",
                            "external_id_taken",
                            "the external_id belongs to another person",
                        ));
                        continue;
                    }
                    (None, Some(_)) => {
                        rejected.push(refused(
                            r.line,
                            "external_id",
                            "external_id_taken",
                            "the external_id belongs to another person",
                        ));
                        continue;
                    }
                    (Some(p), _) => p,
                };
                match changes(&ctx2, person, &r.reg)? {
                    None => unchanged += 1,
                    Some(mut c) => {
                        c.updated_at = Some(now);
                        match person_rows::update(conn, person.id, &c, person.version).await? {
                            Some(row) => {
                                written += 1;
                                changed_ids.push(row.id);
                                events_out.push(
                                    Event::new("person.updated", "person", row.id)
                                        .region(&row.region_code)
                                        .payload(json!({"version": row.version})),
                                );
                            }
                            None => rejected.push(refused(
                                r.line,
                                "id_number",
                                "concurrent_update",
                                "the record changed meanwhile; import again",
                            )),
                        }
                    }
                }
            }
            let inserted: HashSet<Uuid> = crate::db::persons::insert_many(conn, &new_people, now)
                .await?
                .into_iter()
                .collect();
            for (p, (line, region)) in new_people.iter().zip(&new_lines) {
                if inserted.contains(&p.id) {
                    events_out.push(Event::new("person.created", "person", p.id).region(region));
                } else {
                    rejected.push(refused(
                        *line,
                        "id_number",
                        "registered_concurrently",
                        "registered by someone else meanwhile; import again",
                    ));
                }
            }
            written += inserted.len() as i64;
            events::emit_many(conn, events_out, now).await?;
            for pid in &probes {
                let look = audit::by(
                    &ctx2,
                    &caller2,
                    "person.cross_region_lookup",
                    "person",
                    *pid,
                )
                .details(json!({"by": "import", "import_id": import_id}));
                audit::append(conn, look).await?;
            }
            rejected.sort_by_key(|r| r["line"].as_u64());
            // Rows refused, not reasons: a row may be refused for several fields.
            let refused_rows = rejected
                .iter()
                .filter_map(|r| r["line"].as_u64())
                .collect::<HashSet<_>>()
                .len() as i64;
            let running = imports::progress(
                conn,
                import_id,
                imports::Progress {
                    read,
                    written,
                    unchanged,
                    rejected_rows: refused_rows,
                },
                &rejected,
                now,
            )
            .await?;
            if !running {
                // Failed by the sweeper meanwhile: this batch is not written, the import stops.
                return Err(Error::conflict(
                    "concurrent_update",
                    "the import was ended meanwhile (no progress for ten minutes)",
                ));
            }
            audit::append(
                conn,
                ev.details(json!({"created": inserted, "updated": changed_ids,
                                  "unchanged": unchanged, "rejected": rejected.len()})),
            )
            .await
        })
    })
    .await
}

/// Closes the job (failed with the reason, or completed).
pub async fn finish(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    failure: Option<String>,
) -> Result<ImportRow> {
    let now = ctx.clock.now();
    let ev = audit::by(ctx, caller, "import.finish", "import", id);
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let row = imports::finish(conn, id, failure.as_deref(), now).await?;
            audit::append(
                conn,
                ev.details(
                    json!({"status": row.status, "read": row.rows_read, "written": row.rows_written,
                                  "unchanged": row.rows_unchanged, "rejected": row.rows_rejected}),
                ),
            )
            .await?;
            Ok(row)
        })
    })
    .await
}

/// An import without progress for this long is taken to have broken off (its upload or its
/// server gone): every batch of a live one reports within seconds.
const STALE_AFTER_MINUTES: i64 = 10;

/// Marks failed the imports left `running` by a broken-off upload or a stopped server (the
/// rows written so far stay; importing the file again completes it and changes nothing else).
pub async fn fail_stale(ctx: &Context) -> Result<usize> {
    let now = ctx.clock.now();
    let before = now - chrono::Duration::minutes(STALE_AFTER_MINUTES);
    let ctx2 = ctx.clone();
    transaction(&ctx.pool, move |conn| {
        Box::pin(async move {
            let ids = imports::fail_stale(
                conn,
                before,
                "no progress for ten minutes (the upload broke off or the server stopped); \
                 import the file again: rows already written stay as they are",
                now,
            )
            .await?;
            for id in &ids {
                let ev = audit::anonymous(
                    &ctx2,
                    "system",
                    &super::RequestMeta::default(),
                    "import.interrupted",
                    "import",
                    Some(*id),
                );
                audit::append(conn, ev).await?;
            }
            Ok(ids.len())
        })
    })
    .await
}

/// An import of the caller's organisation.
pub async fn get(ctx: &Context, caller: &Caller, id: Uuid) -> Result<ImportRow> {
    caller.require_any(&[Role::CivilAffairs])?;
    let mut conn = crate::db::connect(&ctx.pool).await?;
    imports::find(&mut conn, id)
        .await?
        .filter(|i| i.organization_id == caller.organization_id)
        .ok_or_else(|| Error::not_found("import"))
}

/// The caller's organisation's imports, newest first.
pub async fn list(ctx: &Context, caller: &Caller) -> Result<Vec<ImportRow>> {
    caller.require_any(&[Role::CivilAffairs])?;
    let mut conn = crate::db::connect(&ctx.pool).await?;
    Ok(imports::of_organization(&mut conn, caller.organization_id, 100).await?)
}

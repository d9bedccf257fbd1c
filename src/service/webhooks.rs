//! Webhooks (DESIGN §3 Events and exchange): an organisation subscribes an https URL to event
//! types and receives, pushed, the events `GET /events` would show it. The sender is a
//! background job: for each active subscription (under a lease, so each is served by one instance
//! at a time, in order, with no database lock held while a receiver answers) it queues the new
//! events and delivers the oldest first, signed (`AidBridge-Signature: t=…,v1=HMAC-SHA256(secret,
//! "t.body")`), at least once, retrying with exponential back-off and jitter; after the last
//! attempt a delivery is dead-lettered and the next one goes. The secret is shown once and kept
//! encrypted.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde_json::json;
use std::sync::OnceLock;
use uuid::Uuid;

use super::{audit, events, transaction, Context, Error, Result};
use crate::auth::{Caller, PrincipalKind};
use crate::db::events::{Audience, EventRow};
use crate::db::webhooks::{self, DeliveryRow, SubscriptionRow};
use crate::db::Conn;
use crate::domain::region::RegionCode;
use crate::domain::webhook::{retry_at, signature, DeliveryStatus, MAX_ATTEMPTS};
use crate::privacy::Field;

/// Events queued per subscription per pass, and deliveries attempted.
const QUEUE_BATCH: i64 = 500;
const SEND_BATCH: usize = 20;

/// A new subscription and its secret (shown this once).
#[derive(Debug)]
pub struct Created {
    pub row: SubscriptionRow,
    pub secret: String,
}

fn audience_columns(a: &Audience) -> (&'static str, Option<String>) {
    match a {
        Audience::All => ("all", None),
        Audience::Region { prefix, .. } => ("region", Some(prefix.clone())),
        Audience::Organization(_) => ("organization", None),
    }
}

/// The audience a subscription serves now: never wider than when it was made, nor than what its
/// creator may read today (roles, region); `None` while the creator's account or organisation
/// may not act, or the creator no longer reads the feed: nothing is queued or sent then (the
/// subscription resumes where it stopped if they may again). Also the creator as a caller, for
/// recording an auditor's pushes.
async fn standing_audience(
    conn: &mut Conn,
    s: &SubscriptionRow,
) -> Result<Option<(Audience, Caller)>> {
    use crate::db::{organizations, users};
    use crate::domain::organization::OrganizationStatus;
    let org = match organizations::find(conn, s.organization_id).await? {
        Some(o) if o.status == OrganizationStatus::Active => o,
        _ => return Ok(None),
    };
    let (kind, roles, region) = if let Some(u) = users::find_user(conn, s.created_by).await? {
        if !u.enabled || u.organization_id != s.organization_id {
            return Ok(None);
        }
        (PrincipalKind::User, u.roles, u.region_code)
    } else if let Some(c) = users::find_client(conn, s.created_by).await? {
        if !c.enabled || c.organization_id != s.organization_id {
            return Ok(None);
        }
        (PrincipalKind::Client, c.roles, org.region_code)
    } else {
        return Ok(None);
    };
    let Ok(region) = RegionCode::parse(&region) else {
        return Ok(None);
    };
    let creator = Caller {
        id: s.created_by,
        kind,
        organization_id: s.organization_id,
        roles,
        region,
        meta: Default::default(),
    };
    let Ok(today) = events::audience(&creator) else {
        return Ok(None);
    };
    Ok(Some((narrower(audience_of(s), today), creator)))
}

/// Of the audience a subscription was made with and the one its creator has now, the narrower
/// (the present one when they are alike: a bureau moved to another region follows it).
fn narrower(made: Audience, now: Audience) -> Audience {
    fn breadth(a: &Audience) -> u8 {
        match a {
            Audience::Organization(_) => 0,
            Audience::Region { .. } => 1,
            Audience::All => 2,
        }
    }
    if breadth(&made) < breadth(&now) {
        made
    } else {
        now
    }
}

fn audience_of(s: &SubscriptionRow) -> Audience {
    match s.audience.as_str() {
        "all" => Audience::All,
        "region" => Audience::Region {
            prefix: s.region_code.clone().unwrap_or_default(),
            organization_id: s.organization_id,
        },
        _ => Audience::Organization(s.organization_id),
    }
}

/// Whether an event of `event_type` goes to a subscription to `types` (exact, or `entity.*`;
/// none: all).
pub fn wants(types: &[String], event_type: &str) -> bool {
    types.is_empty()
        || types.iter().any(|t| match t.strip_suffix(".*") {
            Some(entity) => event_type
                .strip_prefix(entity)
                .is_some_and(|r| r.starts_with('.')),
            None => t == event_type,
        })
}

/// Subscribes the caller's organisation (建立订阅): whoever may read the feed. Events from now
/// on are delivered.
/// Active subscriptions an organisation may hold.
pub const MAX_SUBSCRIPTIONS: i64 = 20;

pub async fn subscribe(
    ctx: &Context,
    caller: &Caller,
    url: String,
    event_types: Vec<String>,
) -> Result<Created> {
    let audience = events::audience(caller)?;
    let (kind, region) = audience_columns(&audience);
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let secret = format!("whsec_{}", hex::encode(raw));
    let now = ctx.clock.now();
    let mut row = SubscriptionRow {
        id: Uuid::now_v7(),
        organization_id: caller.organization_id,
        url,
        event_types,
        secret_encrypted: ctx
            .keys
            .encrypt(Field::WebhookSecret, &secret)
            .map_err(Error::internal)?,
        audience: kind.to_owned(),
        region_code: region,
        active: true,
        cursor: 0,
        created_by: caller.id,
        created_at: now,
        updated_at: now,
        lease_until: None,
    };
    let ev = audit::by(ctx, caller, "webhook.create", "webhook", row.id)
        .details(json!({"url": row.url, "event_types": row.event_types}));
    let r = row.clone();
    row.cursor = transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let mut r = r;
            // Each subscription is served in turn by the sender: a bound keeps one organisation
            // from crowding out the others.
            if webhooks::lock_and_count_active(conn, r.organization_id).await? >= MAX_SUBSCRIPTIONS {
                return Err(Error::conflict(
                    "subscription_limit",
                    format!("an organisation has at most {MAX_SUBSCRIPTIONS} active subscriptions; delete one first"),
                )
                .with_extra("limit", MAX_SUBSCRIPTIONS));
            }
            r.cursor = crate::db::events::top(conn).await?;
            webhooks::insert(conn, &r).await?;
            audit::append(conn, ev).await?;
            Ok(r.cursor)
        })
    })
    .await?;
    Ok(Created { row, secret })
}

/// The caller's organisation's subscription (404 for any other).
pub async fn get(ctx: &Context, caller: &Caller, id: Uuid) -> Result<SubscriptionRow> {
    events::audience(caller)?;
    let mut conn = crate::db::connect(&ctx.pool).await?;
    webhooks::find(&mut conn, id)
        .await?
        .filter(|s| s.organization_id == caller.organization_id)
        .ok_or_else(|| Error::not_found("webhook"))
}

pub async fn list(ctx: &Context, caller: &Caller) -> Result<Vec<SubscriptionRow>> {
    events::audience(caller)?;
    let mut conn = crate::db::connect(&ctx.pool).await?;
    Ok(webhooks::of_organization(&mut conn, caller.organization_id).await?)
}

/// Ends a subscription (its log stays).
pub async fn unsubscribe(ctx: &Context, caller: &Caller, id: Uuid) -> Result<()> {
    get(ctx, caller, id).await?;
    let now = ctx.clock.now();
    let ev = audit::by(ctx, caller, "webhook.delete", "webhook", id);
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            if !webhooks::deactivate(conn, id, now).await? {
                return Err(Error::conflict(
                    "already_ended",
                    "this subscription has already ended",
                ));
            }
            audit::append(conn, ev).await
        })
    })
    .await
}

/// The subscription's delivery log, newest first.
pub async fn deliveries(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    status: Option<DeliveryStatus>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<DeliveryRow>> {
    get(ctx, caller, id).await?;
    let mut conn = crate::db::connect(&ctx.pool).await?;
    Ok(webhooks::deliveries(&mut conn, id, status, before, limit).await?)
}

/// Queues a delivered or dead-lettered delivery again (its turn comes by event order).
pub async fn redeliver(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    delivery: Uuid,
) -> Result<DeliveryRow> {
    get(ctx, caller, id).await?;
    let now = ctx.clock.now();
    let ev = audit::by(ctx, caller, "webhook.redeliver", "webhook", id)
        .details(json!({"delivery_id": delivery}));
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let Some(row) = webhooks::requeue(conn, id, delivery, now).await? else {
                // Not queued again: a delivery that is still pending, or none at all.
                return Err(match webhooks::find_delivery(conn, id, delivery).await? {
                    Some(_) => Error::conflict(
                        "already_pending",
                        "the delivery is still waiting to be made",
                    ),
                    None => Error::not_found("delivery"),
                });
            };
            audit::append(conn, ev).await?;
            Ok(row)
        })
    })
    .await
}

/// The body a receiver gets: the event as `GET /events` shows it.
fn body_of(e: &EventRow) -> String {
    json!({
        "id": e.id,
        "cursor": e.position.unwrap_or_default().to_string(),
        "type": e.event_type,
        "entity_type": e.entity_type,
        "entity_id": e.entity_id,
        "occurred_at": e.occurred_at,
        "data": e.payload,
    })
    .to_string()
}

/// Queues the events committed since the subscription's cursor that it wants.
async fn enqueue(
    conn: &mut Conn,
    s: &SubscriptionRow,
    audience: &Audience,
    pushed: Option<crate::db::audit::NewAuditEvent>,
    now: DateTime<Utc>,
) -> Result<()> {
    // Everything numbered up to `top` is committed and visible now; the next pass starts there.
    let top = crate::db::events::top(conn).await?;
    let rows = crate::db::events::feed(conn, audience, s.cursor, Some(top), QUEUE_BATCH).await?;
    let cursor = if (rows.len() as i64) < QUEUE_BATCH {
        top
    } else {
        rows.last().and_then(|r| r.position).unwrap_or(s.cursor)
    };
    let queued: Vec<DeliveryRow> = rows
        .iter()
        .filter(|e| wants(&s.event_types, &e.event_type))
        .map(|e| DeliveryRow {
            id: Uuid::now_v7(),
            subscription_id: s.id,
            event_id: e.id,
            event_position: e.position.unwrap_or_default(),
            event_type: e.event_type.clone(),
            body: body_of(e),
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_status_code: None,
            last_error: None,
            created_at: now,
            delivered_at: None,
        })
        .collect();
    webhooks::add_deliveries(conn, &queued).await?;
    // Everything pushed to an auditor's subscription is a supervision read, as the feed's are.
    if let Some(ev) = pushed.filter(|_| !queued.is_empty()) {
        audit::append(
            conn,
            ev.details(json!({"subscription_id": s.id, "count": queued.len(),
                              "after": s.cursor, "until": cursor})),
        )
        .await?;
    }
    if cursor != s.cursor {
        webhooks::set_cursor(conn, s.id, cursor).await?;
    }
    Ok(())
}

/// The one HTTP client (built once; a TLS set-up that fails is an error of each pass, not a
/// panic of the sender).
fn client() -> Result<&'static reqwest::Client> {
    static CLIENT: OnceLock<std::result::Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                // A receiver answers for itself: no redirects to other hosts, no proxy from the
                // environment.
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .connect_timeout(std::time::Duration::from_secs(3))
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::internal(format!("webhook HTTP client: {e}")))
}

/// One attempt: the status code, or why there is none.
async fn post(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    d: &DeliveryRow,
    now: DateTime<Utc>,
) -> (Option<i32>, Option<String>) {
    let res = client
        .post(url)
        .header("content-type", "application/json")
        .header("aidbridge-signature", signature(secret, now, &d.body))
        .header("aidbridge-event-id", d.event_id.to_string())
        .header("aidbridge-delivery-id", d.id.to_string())
        .body(d.body.clone())
        .send()
        .await;
    match res {
        Ok(r) => {
            let code = i32::from(r.status().as_u16());
            let err = (!r.status().is_success()).then(|| format!("answered {code}"));
            (Some(code), err)
        }
        // The error's text, without the URL's query (it may carry a receiver's token).
        Err(e) => (None, Some(e.without_url().to_string())),
    }
}

/// How long a sender holds a subscription without renewing (a sender that dies frees it then).
const LEASE: chrono::Duration = chrono::Duration::seconds(60);

/// Serves one subscription under its lease: queue what is new (one short transaction), then
/// deliver in order while deliveries succeed (a failed one waits for its retry, and so do the ones
/// after it). Each attempt is recorded on its own as soon as it is made, and no database lock is
/// held while the receiver answers. Returns attempts made.
async fn serve(ctx: &Context, s: SubscriptionRow) -> Result<usize> {
    let now = ctx.clock.now();
    let standing = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        standing_audience(&mut conn, &s).await?
    };
    let Some((audience, creator)) = standing else {
        return Ok(0);
    };
    let pushed = matches!(audience, Audience::All)
        .then(|| audit::by(ctx, &creator, "events.pushed", "webhook", s.id));
    let queued = s.clone();
    transaction(&ctx.pool, move |conn| {
        Box::pin(async move { enqueue(conn, &queued, &audience, pushed, now).await })
    })
    .await?;
    let secret = ctx
        .keys
        .decrypt(Field::WebhookSecret, &s.secret_encrypted)
        .map_err(Error::internal)?;
    let mut attempts = 0;
    while attempts < SEND_BATCH {
        let head = {
            let mut conn = crate::db::connect(&ctx.pool).await?;
            // Ended meanwhile (`DELETE /webhooks/{id}`): nothing more goes out.
            if !webhooks::renew_lease(&mut conn, s.id, ctx.clock.now() + LEASE).await? {
                break;
            }
            webhooks::head(&mut conn, s.id).await?
        };
        let Some(mut d) = head else {
            break;
        };
        if d.next_attempt_at > now {
            break;
        }
        // The signature's time is the moment of sending, not of the pass.
        let (code, error) = post(client()?, &s.url, &secret, &d, ctx.clock.now()).await;
        attempts += 1;
        d.attempts += 1;
        d.last_status_code = code;
        d.last_error = error;
        let at = ctx.clock.now();
        if d.last_error.is_none() {
            d.status = DeliveryStatus::Delivered;
            d.delivered_at = Some(at);
        } else if d.attempts >= MAX_ATTEMPTS {
            d.status = DeliveryStatus::Dead;
        } else {
            d.next_attempt_at = retry_at(d.attempts, at, rand::random::<f64>());
        }
        {
            let mut conn = crate::db::connect(&ctx.pool).await?;
            webhooks::record_attempt(&mut conn, &d).await?;
        }
        if d.status == DeliveryStatus::Pending {
            break;
        }
    }
    Ok(attempts)
}

/// The delivery log is kept as long as the feed keeps its events: ended deliveries older than
/// the retention are deleted (hourly, with the events). Returns how many.
pub async fn purge(ctx: &Context) -> Result<usize> {
    let before = ctx.clock.now() - chrono::Duration::days(ctx.config.event_retention_days);
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let mut total = 0;
    loop {
        let n = webhooks::purge_ended(&mut conn, before, 5000).await?;
        total += n;
        if n < 5000 {
            return Ok(total);
        }
    }
}

/// One pass of the sender over every active subscription no other instance is serving (a lease
/// per subscription). Returns the attempts made.
pub async fn send_due(ctx: &Context) -> Result<usize> {
    let ids: Vec<Uuid> = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        let top = crate::db::events::top(&mut conn).await?;
        webhooks::due_ids(&mut conn, top, ctx.clock.now(), 10_000).await?
    };
    let mut total = 0;
    for id in ids {
        let now = ctx.clock.now();
        let leased = {
            let mut conn = crate::db::connect(&ctx.pool).await?;
            webhooks::take_lease(&mut conn, id, now, now + LEASE).await?
        };
        let Some(s) = leased else {
            continue;
        };
        let served = serve(ctx, s).await;
        {
            let mut conn = crate::db::connect(&ctx.pool).await?;
            webhooks::end_lease(&mut conn, id).await?;
        }
        match served {
            Ok(n) => total += n,
            Err(e) => log::warn!("webhook {id}: {e}"),
        }
    }
    Ok(total)
}

/// Runs the sender every second until the process ends.
pub async fn run_sender(ctx: Context) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = send_due(&ctx).await {
            log::warn!("webhook sender: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn subscriptions_name_types_or_entities() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(super::wants(&[], "lead.closed"));
        assert!(super::wants(&t(&["referral.*"]), "referral.accepted"));
        assert!(!super::wants(&t(&["referral.*"]), "referrals.accepted"));
        assert!(super::wants(&t(&["lead.closed", "need.*"]), "lead.closed"));
        assert!(!super::wants(&t(&["lead.closed"]), "lead.submitted"));
    }
}

//! Start-up data: the first administrator of a real deployment, and the demo organisations
//! and accounts of embedded/demo mode. Each runs in one transaction with its audit events.

use serde_json::json;
use uuid::Uuid;

use crate::auth::password;
use crate::db::audit::{self, NewAuditEvent};
use crate::db::organizations::{self as orgs, NewOrganization};
use crate::db::users::{self, NewUser};
use crate::db::Pool;
use crate::domain::uscc::Uscc;
use crate::service::{transaction, Error};

pub const ADMIN_USERNAME: &str = "admin";
pub const DEMO_PASSWORD: &str = "aidbridge-demo";
const PLATFORM_ORG: &str = "AidBridge 平台运营 (platform operator)";

/// One demo login, printed at start.
pub struct DemoLogin {
    pub username: &'static str,
    pub role: &'static str,
    pub organization: &'static str,
}

pub const DEMO_LOGINS: &[DemoLogin] = &[
    DemoLogin {
        username: "admin",
        role: "admin",
        organization: PLATFORM_ORG,
    },
    DemoLogin {
        username: "province.ca",
        role: "civil_affairs",
        organization: "黑龙江省民政厅 (230000)",
    },
    DemoLogin {
        username: "harbin.ca",
        role: "civil_affairs",
        organization: "哈尔滨市民政局 (230100)",
    },
    DemoLogin {
        username: "daoli.ca",
        role: "civil_affairs",
        organization: "哈尔滨市道里区民政局 (230102)",
    },
    DemoLogin {
        username: "federation",
        role: "charity",
        organization: "黑龙江省慈善总会",
    },
    DemoLogin {
        username: "charity.edu",
        role: "charity",
        organization: "哈尔滨市助学慈善基金会",
    },
    DemoLogin {
        username: "charity.care",
        role: "charity",
        organization: "哈尔滨市道里区关爱服务中心",
    },
    DemoLogin {
        username: "grid.worker",
        role: "grassroots",
        organization: "哈尔滨市道里区民政局 (230102)",
    },
    DemoLogin {
        username: "auditor",
        role: "auditor",
        organization: "省纪委监委驻民政厅纪检监察组",
    },
];

async fn hash(secret: &str) -> Result<String, Error> {
    let s = secret.to_owned();
    tokio::task::spawn_blocking(move || password::hash(&s))
        .await
        .map_err(Error::internal)?
        .map_err(Error::internal)
}

async fn insert_org(
    conn: &mut crate::db::Conn,
    kind: &str,
    name: &str,
    uscc16: Option<&str>,
    region: &str,
    fundraising: bool,
    parent: Option<Uuid>,
) -> Result<Uuid, Error> {
    let uscc = match uscc16 {
        Some(s) => Some(Uscc::complete(s).ok_or_else(|| Error::internal("bad demo USCC"))?),
        None => None,
    };
    let row = orgs::insert(
        conn,
        &NewOrganization {
            id: Uuid::now_v7(),
            kind: kind
                .parse()
                .map_err(|_| Error::internal("bad demo organisation kind"))?,
            name: name.to_owned(),
            uscc,
            region_code: region.to_owned(),
            public_fundraising: fundraising,
            parent_id: parent,
        },
    )
    .await?;
    audit::append(
        conn,
        system_event("organization.create", "organization", row.id)
            .details(json!({"kind": kind, "region_code": region, "seed": true})),
    )
    .await?;
    Ok(row.id)
}

async fn insert_user(
    conn: &mut crate::db::Conn,
    org: Uuid,
    username: &str,
    display_name: &str,
    role: &str,
    region: &str,
    password_hash: &str,
) -> Result<(), Error> {
    let row = users::insert_user(
        conn,
        &NewUser {
            id: Uuid::now_v7(),
            organization_id: org,
            username,
            display_name,
            password_hash,
            roles: vec![role.parse().map_err(|_| Error::internal("bad demo role"))?],
            region_code: region,
        },
    )
    .await?;
    audit::append(
        conn,
        system_event("user.create", "user", row.id)
            .details(json!({"username": username, "roles": [role], "seed": true})),
    )
    .await?;
    Ok(())
}

/// An event done by the start-up itself (no actor), at the system clock's time.
fn system_event(action: &str, entity_type: &'static str, entity_id: Uuid) -> NewAuditEvent {
    NewAuditEvent {
        occurred_at: crate::clock::Clock::system().now(),
        actor_kind: "system",
        actor_id: None,
        actor_organization_id: None,
        action: action.to_owned(),
        entity_type,
        entity_id: Some(entity_id),
        ip: None,
        request_id: None,
        reason: None,
        details: json!({}),
    }
}

async fn seed_lock(conn: &mut crate::db::Conn) -> Result<(), Error> {
    use diesel_async::RunQueryDsl;
    diesel::sql_query("SELECT pg_advisory_xact_lock(724100100)")
        .execute(conn)
        .await
        .map_err(crate::db::Error::from)?;
    Ok(())
}

/// Creates the platform operator's `admin` when no administrator exists. Returns whether it did.
pub async fn ensure_admin(pool: &Pool, admin_password: &str) -> Result<bool, Error> {
    let hash = hash(admin_password).await?;
    transaction(pool, |conn| {
        Box::pin(async move {
            // Several instances may start at once: one seeds, the others see it done.
            seed_lock(conn).await?;
            if orgs::admin_exists(conn).await? {
                return Ok(false);
            }
            let org = insert_org(conn, "other", PLATFORM_ORG, None, "23", false, None).await?;
            insert_user(
                conn,
                org,
                ADMIN_USERNAME,
                "Platform administrator",
                "admin",
                "23",
                &hash,
            )
            .await?;
            Ok(true)
        })
    })
    .await
}

/// Seeds the demo organisations and one user per role, once (idempotent by a marker USCC).
pub async fn seed_demo(pool: &Pool, admin_password: Option<&str>) -> Result<bool, Error> {
    ensure_admin(pool, admin_password.unwrap_or(DEMO_PASSWORD)).await?;
    let marker =
        Uscc::complete("11230000MB000001").ok_or_else(|| Error::internal("bad demo USCC"))?;
    let hash = hash(DEMO_PASSWORD).await?;
    transaction(pool, |conn| {
        Box::pin(async move {
            seed_lock(conn).await?;
            let existing = orgs::list(
                conn,
                &orgs::OrganizationFilter {
                    kind: Some(crate::domain::organization::OrganizationKind::CivilAffairsBureau),
                    limit: 1000,
                    ..Default::default()
                },
            )
            .await?;
            if existing
                .iter()
                .any(|o| o.uscc.as_deref() == Some(marker.as_str()))
            {
                return Ok(false);
            }
            let h = hash.as_str();
            let province = insert_org(
                conn,
                "civil_affairs_bureau",
                "黑龙江省民政厅",
                Some("11230000MB000001"),
                "23",
                false,
                None,
            )
            .await?;
            let harbin = insert_org(
                conn,
                "civil_affairs_bureau",
                "哈尔滨市民政局",
                Some("11230100MB000002"),
                "2301",
                false,
                Some(province),
            )
            .await?;
            let daoli = insert_org(
                conn,
                "civil_affairs_bureau",
                "哈尔滨市道里区民政局",
                Some("11230102MB000003"),
                "230102",
                false,
                Some(harbin),
            )
            .await?;
            let federation = insert_org(
                conn,
                "charity_federation",
                "黑龙江省慈善总会",
                Some("51230000MJ000004"),
                "23",
                true,
                None,
            )
            .await?;
            let edu = insert_org(
                conn,
                "charity",
                "哈尔滨市助学慈善基金会",
                Some("53230100MJ000005"),
                "2301",
                true,
                Some(federation),
            )
            .await?;
            let care = insert_org(
                conn,
                "social_work_agency",
                "哈尔滨市道里区关爱服务中心",
                Some("52230102MJ000006"),
                "230102",
                false,
                Some(federation),
            )
            .await?;
            let supervision = insert_org(
                conn,
                "other",
                "省纪委监委驻民政厅纪检监察组",
                None,
                "23",
                false,
                None,
            )
            .await?;
            insert_user(
                conn,
                province,
                "province.ca",
                "省民政厅 社会救助处",
                "civil_affairs",
                "23",
                h,
            )
            .await?;
            insert_user(
                conn,
                harbin,
                "harbin.ca",
                "哈尔滨市民政局 社会救助科",
                "civil_affairs",
                "2301",
                h,
            )
            .await?;
            insert_user(
                conn,
                daoli,
                "daoli.ca",
                "道里区民政局 救助股",
                "civil_affairs",
                "230102",
                h,
            )
            .await?;
            insert_user(
                conn,
                federation,
                "federation",
                "省慈善总会 项目部",
                "charity",
                "23",
                h,
            )
            .await?;
            insert_user(
                conn,
                edu,
                "charity.edu",
                "助学基金会 项目官员",
                "charity",
                "2301",
                h,
            )
            .await?;
            insert_user(
                conn,
                care,
                "charity.care",
                "关爱服务中心 社工",
                "charity",
                "230102",
                h,
            )
            .await?;
            insert_user(
                conn,
                daoli,
                "grid.worker",
                "道里区 网格员",
                "grassroots",
                "230102",
                h,
            )
            .await?;
            insert_user(
                conn,
                supervision,
                "auditor",
                "纪检监察组 审计员",
                "auditor",
                "23",
                h,
            )
            .await?;
            Ok(true)
        })
    })
    .await
}

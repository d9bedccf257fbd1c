//! Tokens: both OAuth grants, RFC 6749 errors, lockout, expiry and tampering.

use aidbridge::auth::token::Claims;
use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::{problem, spawn_app, spawn_app_with, DEMO_PASSWORD};

#[tokio::test]
async fn password_grant_issues_a_bearer_token_that_identifies_the_caller() {
    let app = spawn_app().await;
    let res = app.try_token("harbin.ca", DEMO_PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let token = body["access_token"].as_str().unwrap();
    let claims = app.keys.verify(token, chrono::Utc::now()).unwrap();
    assert_eq!(claims.roles, vec!["civil_affairs".to_string()]);
    assert_eq!(claims.region, "2301");
    assert_eq!(claims.exp - claims.iat, 900);

    let me: Value = app
        .get("/api/v1/me", Some(token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["name"], "harbin.ca");
    assert_eq!(me["kind"], "user");
    assert_eq!(me["roles"], json!(["civil_affairs"]));
    assert_eq!(me["organization"]["name"], "哈尔滨市民政局");
}

#[tokio::test]
async fn password_grant_accepts_json_bodies() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/api/v1/auth/token",
            None,
            &json!({"grant_type": "password", "username": "auditor", "password": DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn wrong_credentials_get_invalid_grant_without_saying_which_part() {
    let app = spawn_app().await;
    let wrong_password = app.try_token("harbin.ca", "not-the-password").await;
    assert_eq!(wrong_password.status(), 400);
    let a: Value = wrong_password.json().await.unwrap();
    let unknown_user = app.try_token("nobody", "not-the-password").await;
    assert_eq!(unknown_user.status(), 400);
    let b: Value = unknown_user.json().await.unwrap();
    assert_eq!(a["error"], "invalid_grant");
    assert_eq!(a, b, "the two failures must be indistinguishable");
}

#[tokio::test]
async fn malformed_token_requests_get_rfc6749_errors() {
    let app = spawn_app().await;
    let post_form = |form: Vec<(&'static str, &'static str)>| {
        app.client
            .post(app.url("/api/v1/auth/token"))
            .form(&form)
            .send()
    };
    let res = post_form(vec![("username", "x")]).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let res = post_form(vec![("grant_type", "authorization_code")])
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let res = post_form(vec![("grant_type", "password"), ("username", "admin")])
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let res = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .header("content-type", "text/plain")
        .body("grant_type=password")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
}

async fn create_client(app: &crate::helpers::TestApp, admin: &str, org: &str) -> (String, String) {
    let res = app
        .post(
            &format!("/api/v1/organizations/{org}/clients"),
            Some(admin),
            &json!({"name": "哈尔滨市社会救助信息系统", "roles": ["civil_affairs"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    (
        body["client_id"].as_str().unwrap().to_owned(),
        body["client_secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn client_credentials_work_in_the_body_and_with_http_basic() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let org = app.org_id("哈尔滨市民政局").await;
    let (id, secret) = create_client(&app, &admin, &org).await;

    let res = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let token = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me: Value = app
        .get("/api/v1/me", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["kind"], "client");
    assert_eq!(me["name"], id.as_str());
    assert_eq!(me["region"], "2301");

    let res = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let res = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .basic_auth(&id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().contains_key("www-authenticate"));
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_account_even_for_the_right_password() {
    let app = spawn_app_with(|c| c.login_max_failures = 3).await;
    for _ in 0..3 {
        assert_eq!(
            app.try_token("daoli.ca", "guess-guess-guess")
                .await
                .status(),
            400
        );
    }
    let res = app.try_token("daoli.ca", DEMO_PASSWORD).await;
    assert_eq!(res.status(), 429);
    let retry: i64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 900);
    // Another account is not affected; an unknown name locks the same way (no enumeration).
    assert_eq!(
        app.try_token("harbin.ca", DEMO_PASSWORD).await.status(),
        200
    );
    for _ in 0..3 {
        app.try_token("ghost", "x").await;
    }
    assert_eq!(app.try_token("ghost", "x").await.status(), 429);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM login_throttle WHERE locked_until > now()")
            .await,
        2
    );
}

#[tokio::test]
async fn a_successful_sign_in_resets_the_failure_count() {
    let app = spawn_app_with(|c| c.login_max_failures = 3).await;
    for _ in 0..2 {
        app.try_token("daoli.ca", "guess-guess-guess").await;
    }
    assert_eq!(app.try_token("daoli.ca", DEMO_PASSWORD).await.status(), 200);
    for _ in 0..2 {
        app.try_token("daoli.ca", "guess-guess-guess").await;
    }
    assert_eq!(app.try_token("daoli.ca", DEMO_PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn missing_expired_and_tampered_tokens_are_rejected_with_401() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/me", None).await;
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_eq!(problem(res, 401).await["code"], "missing_token");

    let token = app.token("auditor").await;
    let mut claims: Claims = app.keys.verify(&token, chrono::Utc::now()).unwrap();
    claims.iat -= 3600;
    claims.exp = chrono::Utc::now().timestamp() - 60;
    let expired = app.keys.sign(&claims).unwrap();
    assert_eq!(
        problem(app.get("/api/v1/me", Some(&expired)).await, 401).await["code"],
        "token_expired"
    );

    // Raise the roles in the payload without re-signing.
    let parts: Vec<&str> = token.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut payload: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    payload["roles"] = json!(["admin"]);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(payload.to_string()),
        parts[2]
    );
    assert_eq!(
        problem(app.get("/api/v1/me", Some(&forged)).await, 401).await["code"],
        "invalid_token"
    );
    assert_eq!(
        problem(app.get("/api/v1/me", Some("not-a-jwt")).await, 401).await["code"],
        "invalid_token"
    );

    // Signed with another key under the same key id.
    let other = aidbridge::auth::token::TokenKeys::from_config(
        "test:YW5vdGhlci1zZWVkLWFub3RoZXItc2VlZC0zMmJ5dGU=",
        900,
    )
    .unwrap();
    let foreign = other.sign(&claims_with_future_exp(claims)).unwrap();
    assert_eq!(
        problem(app.get("/api/v1/me", Some(&foreign)).await, 401).await["code"],
        "invalid_token"
    );
}

fn claims_with_future_exp(mut c: Claims) -> Claims {
    c.exp = chrono::Utc::now().timestamp() + 600;
    c
}

#[tokio::test]
async fn disabled_users_cannot_sign_in() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let org = app.org_id("哈尔滨市道里区民政局").await;
    let users: Value = app
        .get(&format!("/api/v1/organizations/{org}/users"), Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let user = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "daoli.ca")
        .unwrap();
    let res = app
        .patch(
            &format!(
                "/api/v1/organizations/{org}/users/{}",
                user["id"].as_str().unwrap()
            ),
            Some(&admin),
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.try_token("daoli.ca", DEMO_PASSWORD).await.status(), 400);
}

#[tokio::test]
async fn disabling_an_account_or_suspending_its_organisation_ends_its_tokens_at_once() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let edu = app.token("charity.edu").await;
    assert_eq!(app.get("/api/v1/me", Some(&edu)).await.status(), 200);
    let org = app.org_id("哈尔滨市助学慈善基金会").await;
    let res = app
        .patch(
            &format!("/api/v1/organizations/{org}"),
            Some(&admin),
            &json!({"status": "suspended"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let p = problem(app.get("/api/v1/me", Some(&edu)).await, 401).await;
    assert_eq!(p["code"], "invalid_token");
    app.patch(
        &format!("/api/v1/organizations/{org}"),
        Some(&admin),
        &json!({"status": "active"}),
    )
    .await;
    assert_eq!(app.get("/api/v1/me", Some(&edu)).await.status(), 200);

    // A change made elsewhere (another instance, or the database) is seen within seconds.
    let daoli = app.token("daoli.ca").await;
    assert_eq!(app.get("/api/v1/me", Some(&daoli)).await.status(), 200);
    app.exec("UPDATE users SET enabled = false WHERE username = 'daoli.ca'")
        .await
        .unwrap();
    app.clock.advance(chrono::Duration::seconds(
        aidbridge::service::standing::TTL_SECONDS + 1,
    ));
    problem(app.get("/api/v1/me", Some(&daoli)).await, 401).await;
}

#[tokio::test]
async fn auditors_and_admins_hold_no_other_role() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let org = app.org_id("哈尔滨市民政局").await;
    let p = problem(
        app.post(
            &format!("/api/v1/organizations/{org}/users"),
            Some(&admin),
            &json!({"username": "two.hats", "display_name": "两顶帽子",
                    "password": "long-enough-password", "roles": ["civil_affairs", "auditor"]}),
        )
        .await,
        422,
    )
    .await;
    assert!(
        p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["code"] == "separation_of_duties"),
        "{p}"
    );
    // The database keeps the rule too.
    let err = app
        .exec("UPDATE users SET roles = '{civil_affairs,auditor}' WHERE username = 'harbin.ca'")
        .await;
    assert!(err.is_err());
}

/// A sign-in as if from `address` (behind a trusted proxy).
async fn sign_in_from(
    app: &crate::helpers::TestApp,
    address: &str,
    username: &str,
    password: &str,
) -> u16 {
    app.client
        .post(app.url("/api/v1/auth/token"))
        .header("x-forwarded-for", address)
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn nobody_locks_another_out_from_elsewhere_and_spraying_locks_the_sprayer() {
    let app = spawn_app_with(|c| {
        c.login_max_failures = 3;
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            sign_in_from(&app, "198.51.100.1", "daoli.ca", "wrong-guess").await,
            400
        );
    }
    assert_eq!(
        sign_in_from(&app, "198.51.100.1", "daoli.ca", DEMO_PASSWORD).await,
        429
    );
    // The owner, from their own office, is not locked out by the attacker.
    assert_eq!(
        sign_in_from(&app, "203.0.113.5", "daoli.ca", DEMO_PASSWORD).await,
        200
    );
    // One address trying many accounts is stopped as a whole (4 × the account limit).
    for i in 0..12 {
        sign_in_from(&app, "198.51.100.2", &format!("user{i}"), "spray-password").await;
    }
    assert_eq!(
        sign_in_from(&app, "198.51.100.2", "harbin.ca", DEMO_PASSWORD).await,
        429
    );
    assert_eq!(
        sign_in_from(&app, "203.0.113.6", "harbin.ca", DEMO_PASSWORD).await,
        200
    );
}

#[tokio::test]
async fn a_storm_of_bad_sign_ins_does_not_starve_other_requests() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let storm = futures_util::future::join_all(
        (0..50).map(|i| app.try_token(if i % 2 == 0 { "daoli.ca" } else { "nobody" }, "wrong")),
    );
    let read = async {
        let mut statuses = Vec::new();
        for _ in 0..5 {
            statuses.push(app.get("/api/v1/me", Some(&daoli)).await.status().as_u16());
        }
        statuses
    };
    let (storm, reads) = futures_util::future::join(storm, read).await;
    assert_eq!(reads, vec![200; 5]);
    for res in storm {
        let s = res.status().as_u16();
        assert!([400, 429, 503].contains(&s), "{s}");
        if s == 503 {
            assert!(res.headers().get("retry-after").is_some());
        }
    }
}

#[tokio::test]
async fn a_password_hashed_with_older_parameters_is_rehashed_at_sign_in() {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let app = spawn_app().await;
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8 * 1024, 1, 1, None).unwrap(),
    )
    .hash_password(DEMO_PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
    .unwrap()
    .to_string();
    app.exec(&format!(
        "UPDATE users SET password_hash = '{weak}' WHERE username = 'daoli.ca'"
    ))
    .await
    .unwrap();
    app.token("daoli.ca").await;
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM users WHERE username = 'daoli.ca'
             AND password_hash LIKE '$argon2id$v=19$m=19456,t=2,p=1$%'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn other_systems_verify_tokens_with_the_published_keys() {
    let app = spawn_app().await;
    let token = app.token("harbin.ca").await;
    let meta: Value = app
        .get("/.well-known/oauth-authorization-server", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], "aidbridge");
    assert!(meta["jwks_uri"]
        .as_str()
        .unwrap()
        .ends_with("/.well-known/jwks.json"));
    let set: jsonwebtoken::jwk::JwkSet = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("the signing key is published");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.set_issuer(&["aidbridge"]);
    v.set_audience(&["aidbridge-api"]);
    v.validate_exp = false;
    let claims = jsonwebtoken::decode::<Claims>(
        &token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &v,
    )
    .unwrap()
    .claims;
    assert_eq!(claims.region, "2301");
}

async fn refresh(app: &crate::helpers::TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replayed_one_revokes_its_family() {
    let app = spawn_app().await;
    let first: Value = app
        .try_token("daoli.ca", DEMO_PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let next: Value = refresh(&app, &r1).await.json().await.unwrap();
    let r2 = next["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    let access = next["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/me", Some(access)).await.status(), 200);
    // r1 again: a replay. It fails, and so does r2 from now on (the family is revoked).
    let res = refresh(&app, &r1).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(refresh(&app, &r2).await.status(), 400);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'auth.refresh_reuse'")
            .await,
        1
    );
    // Clients get no refresh token; an unknown one is invalid_grant.
    assert_eq!(refresh(&app, "no-such-token").await.status(), 400);
    // Only hashes are stored.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM refresh_tokens WHERE token_hash = '{r2}'"
        ))
        .await,
        0
    );
}

#[tokio::test]
async fn a_revoked_or_disabled_users_refresh_token_no_longer_works() {
    let app = spawn_app().await;
    let first: Value = app
        .try_token("daoli.ca", DEMO_PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let res = app
        .client
        .post(app.url("/api/v1/auth/revoke"))
        .form(&[("token", r1.as_str()), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(refresh(&app, &r1).await.status(), 400);

    let second: Value = app
        .try_token("harbin.ca", DEMO_PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    app.exec("UPDATE users SET enabled = false WHERE username = 'harbin.ca'")
        .await
        .unwrap();
    assert_eq!(
        refresh(&app, second["refresh_token"].as_str().unwrap())
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn a_new_password_ends_every_refresh_token_of_the_user() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let first: Value = app
        .try_token("daoli.ca", DEMO_PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let org = app.org_id("哈尔滨市道里区民政局").await;
    let users: Value = app
        .get(&format!("/api/v1/organizations/{org}/users"), Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "daoli.ca")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .patch(
            &format!("/api/v1/organizations/{org}/users/{id}"),
            Some(&admin),
            &json!({"password": "a-brand-new-passphrase"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        refresh(&app, first["refresh_token"].as_str().unwrap())
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn a_sign_in_that_finds_no_hashing_slot_in_time_is_told_to_come_back() {
    use aidbridge::service::sign_in::{sign_in, Credentials};
    let app = spawn_app().await;
    // Every slot taken (as by a storm of sign-ins on this instance).
    let ctx = aidbridge::service::Context {
        hashing: std::sync::Arc::new(tokio::sync::Semaphore::new(0)),
        ..app.service_context()
    };
    let creds = Credentials::User {
        username: "daoli.ca",
        password: DEMO_PASSWORD,
    };
    let e = match sign_in(&ctx, &app.keys, creds, &Default::default()).await {
        Err(e) => e,
        Ok(_) => panic!("signed in without a hashing slot"),
    };
    assert_eq!(e.kind, aidbridge::service::Kind::Unavailable);
    assert!(e.retry_after.is_some());
    // With a slot, the same sign-in succeeds.
    let ctx = app.service_context();
    let creds = Credentials::User {
        username: "daoli.ca",
        password: DEMO_PASSWORD,
    };
    assert!(matches!(
        sign_in(&ctx, &app.keys, creds, &Default::default()).await,
        Ok(aidbridge::service::sign_in::Outcome::Issued { .. })
    ));
}

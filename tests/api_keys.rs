//! API keys without a secret at rest (API.md "API keys"), on a real Postgres: the migration of a
//! database filled the seed's way, keys written the seed's way later, the whole lifecycle through
//! the router, and rotation and revocation racing real concurrent debits.

mod common;

use common::http::*;
use common::*;
use fltr_credits::core::api_key::{self, KeyRef};
use fltr_credits::core::idempotency::request_hash;
use fltr_credits::core::session::Credential;
use fltr_credits::core::time::Timestamp;
use fltr_credits::core::validate::{Amount, Operation};
use fltr_credits::engine::Engine;
use fltr_credits::http::HttpRequest;
use fltr_credits::migrator;
use fltr_credits::sql::ops::consume::{ConsumeRequest, Payer};
use serde_json::{json, Value};
use tokio_postgres::Client;

/// Connections racing a rotation or a revocation (each test on its own; the server allows 100).
const RACERS: usize = 32;
static RACE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SEED_KEY: &str = "fltr_live_seed_key_0000000000001";
const SHORT_KEY: &str = "sk_short1";
const TEAM_KEY: &str = "fltr_live_seed_team_key_00000001";

fn usage(payer: Payer, amount: i64, idempotency_key: Option<&str>) -> ConsumeRequest {
    ConsumeRequest {
        payer,
        amount: Amount::new(amount).unwrap(),
        operation: Operation::new("document.process").unwrap(),
        resource_id: Some("doc_1".into()),
        metadata: None,
        idempotency_key: idempotency_key.map(String::from),
    }
}

/// Every text column of every table (all schemas but the catalogs) holding `needle` anywhere.
async fn columns_holding(client: &Client, needle: &str) -> Vec<String> {
    let columns = client
        .query(
            "SELECT table_schema::text, table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND data_type IN ('text', 'character varying', 'json', 'jsonb')",
            &[],
        )
        .await
        .unwrap();
    let mut found = Vec::new();
    for column in columns {
        let (schema, table, name): (String, String, String) = (column.get(0), column.get(1), column.get(2));
        let sql = format!("SELECT count(*) FROM \"{schema}\".\"{table}\" WHERE \"{name}\"::text LIKE '%' || $1 || '%'");
        let count: i64 = client.query_one(&sql, &[&needle]).await.unwrap().get(0);
        if count > 0 {
            found.push(format!("{schema}.{table}.{name} ({count})"));
        }
    }
    found
}

/// A database at 0003 (before hashed keys) filled the way the seed's FLTR app fills it: secrets
/// in `api_key_credits.api_key`, copied into the ledger and an idempotency record.
async fn seed_way_database(client: &Client) {
    let native = Native(client);
    migrator::rollback(&native, "0003").await.expect("roll back to 0003");
    client
        .batch_execute(&format!(
            "INSERT INTO teams (id, name, credits, owner_id, created_at, updated_at) VALUES ('t1', 'Team', 0, NULL, now(), now());
             INSERT INTO users (id, name, email, credits) VALUES ('u1', 'u1', 'u1@example.com', 40), ('u2', 'u2', 'u2@example.com', 0);
             UPDATE users SET team_id = 't1' WHERE id = 'u2';
             INSERT INTO api_key_credits (api_key, user_id, team_id, credits, daily_limit, created_at, updated_at) VALUES
               ('{SEED_KEY}', 'u1', NULL, 50, 100, now(), now()),
               ('{SHORT_KEY}', 'u1', NULL, 10, NULL, now(), now()),
               ('{TEAM_KEY}', 'u2', 't1', 5, NULL, now(), now());
             INSERT INTO credit_transactions (id, user_id, team_id, amount, type, operation, api_key_id, metadata, created_at) VALUES
               ('ctx_u1_grant', 'u1', NULL, 40, 'grant', 'grant', NULL, NULL, now() - interval '2 days'),
               ('ctx_k1_grant', 'u1', NULL, 60, 'grant', 'grant', '{SEED_KEY}', NULL, now() - interval '2 days'),
               ('ctx_k1_usage', 'u1', NULL, -10, 'usage', 'document.process', '{SEED_KEY}', NULL, now() - interval '1 day'),
               ('ctx_k2_grant', 'u1', NULL, 10, 'grant', 'grant', '{SHORT_KEY}', NULL, now() - interval '2 days'),
               ('ctx_k3_grant', 'u2', 't1', 5, 'grant', 'grant', '{TEAM_KEY}', NULL, now() - interval '2 days');"
        ))
        .await
        .expect("seed-way rows");
    // The stored outcome of an idempotent consume, exactly as the statement writes one.
    let fingerprint = request_hash(&["consume", "10", "document.process", "doc_1", ""]);
    client
        .execute(
            "INSERT INTO credit_idempotency_keys (account_kind, account_id, idempotency_key, request_hash, response, created_at)
             SELECT 'api_key', $1::text, 'job-1', $2::text, json_build_object('status', 'ok', 'transaction_id', 'ctx_k1_usage',
               'charged_kind', 'api_key', 'charged_id', $1::text, 'amount', 10, 'balance', 50, 'daily_limit', 100, 'daily_used', 10,
               'monthly_limit', NULL, 'monthly_used', 10, 'now', (now() at time zone 'utc')::text)::text, now()",
            &[&SEED_KEY, &fingerprint],
        )
        .await
        .expect("idempotency record");
}

#[tokio::test]
async fn a_database_filled_the_seed_way_is_migrated_with_no_secret_left_and_every_key_still_working() {
    let db = TestDb::migrated("keys_seed_way").await;
    let client = db.client().await;
    seed_way_database(&client).await;
    // Reconcile's own statement needs the current schema; at 0003 the same attribution rule by hand.
    let unbalanced = "SELECT (SELECT count(*) FROM api_key_credits k WHERE k.credits <> coalesce((SELECT sum(t.amount) FROM credit_transactions t WHERE t.api_key_id = k.api_key), 0))
        + (SELECT count(*) FROM teams m WHERE m.credits <> coalesce((SELECT sum(t.amount) FROM credit_transactions t WHERE t.api_key_id IS NULL AND t.team_id = m.id), 0))
        + (SELECT count(*) FROM users u WHERE u.credits <> coalesce((SELECT sum(t.amount) FROM credit_transactions t WHERE t.api_key_id IS NULL AND t.team_id IS NULL AND t.user_id = u.id), 0))";
    assert_eq!(scalar(&client, unbalanced).await, "0", "the seed-way data reconciles before the migration");
    for secret in [SEED_KEY, SHORT_KEY, TEAM_KEY] {
        assert!(!columns_holding(&client, secret).await.is_empty(), "{secret} is at rest before");
    }

    let report = migrator::migrate(&Native(&client), false).await.expect("migrate");
    assert_eq!(report.applied, vec!["0004_hashed_api_keys", "0005_holds", "0006_expiring_credits"]);
    assert!(report.drift.is_empty(), "{:?}", report.drift);
    for secret in [SEED_KEY, SHORT_KEY, TEAM_KEY] {
        assert_eq!(columns_holding(&client, secret).await, Vec::<String>::new(), "{secret} is gone from every column");
    }
    assert_eq!(reconcile_drift(&client).await, 0, "history stays attributable to the same keys");
    let id = key_id(SEED_KEY);
    assert_eq!(
        scalar(
            &client,
            &format!("SELECT string_agg(id, ',' ORDER BY id) FROM credit_transactions WHERE api_key_id = '{id}'")
        )
        .await,
        "ctx_k1_grant,ctx_k1_usage"
    );
    assert_eq!(
        scalar(
            &client,
            &format!("SELECT start || '|' || coalesce(name, '-') FROM api_key_credits WHERE api_key = '{id}'")
        )
        .await,
        "fltr_live|-"
    );
    assert_eq!(
        scalar(&client, &format!("SELECT start FROM api_key_credits WHERE api_key = '{}'", key_id(SHORT_KEY))).await,
        "",
        "a short hand-made secret keeps no prefix"
    );

    // Every old secret keeps working, and is named by its public id.
    let engine = Engine::new(Native(&client));
    let charged = engine.consume(&usage(Payer::ApiKey(KeyRef::secret(SEED_KEY)), 5, None), now()).await.unwrap();
    assert_eq!((charged.charged.id.as_str(), charged.balance), (id.as_str(), 45));
    let short = engine.consume(&usage(Payer::ApiKey(KeyRef::secret(SHORT_KEY)), 1, None), now()).await.unwrap();
    assert_eq!(short.balance, 9);
    let team = engine.consume(&usage(Payer::ApiKey(KeyRef::secret(TEAM_KEY)), 1, None), now()).await.unwrap();
    assert_eq!(team.balance, 4);
    // The idempotency record stored before the migration still replays, under the key's id.
    let replay =
        engine.consume(&usage(Payer::ApiKey(KeyRef::secret(SEED_KEY)), 10, Some("job-1")), now()).await.unwrap();
    assert!(replay.replayed);
    assert_eq!((replay.transaction_id.as_deref(), replay.charged.id.as_str()), (Some("ctx_k1_usage"), id.as_str()));
    let conflict =
        engine.consume(&usage(Payer::ApiKey(KeyRef::secret(SEED_KEY)), 11, Some("job-1")), now()).await.unwrap_err();
    assert_eq!(conflict.code(), "idempotency_conflict");

    assert_eq!(reconcile_drift(&client).await, 0);
    assert!(migrator::verify_schema(&Native(&client)).await.unwrap().is_empty());
    let again = migrator::migrate(&Native(&client), false).await.unwrap();
    assert_eq!((again.applied.len(), again.hashed_api_keys), (0, 0), "nothing left to do");
}

#[tokio::test]
async fn a_key_written_the_seed_way_later_is_drift_until_its_first_use_or_the_next_migrate() {
    let db = TestDb::migrated("keys_late_seed").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    legacy_api_key(&client, SEED_KEY, "u1", None).await;
    legacy_api_key(&client, SHORT_KEY, "u1", None).await;
    let drift = migrator::verify_schema(&Native(&client)).await.unwrap();
    assert_eq!(drift.iter().map(|d| d.kind).collect::<Vec<_>>(), vec!["plaintext_api_keys"]);
    assert!(drift[0].found.starts_with("2 key row(s)"), "{}", drift[0].found);
    assert!(!drift[0].found.contains(SEED_KEY), "drift never quotes a secret");

    // First use: authenticated, then hashed (this key only).
    let engine = Engine::new(Native(&client));
    let principal = engine.authenticate(&Credential::ApiKey(SEED_KEY.into()), now()).await.unwrap();
    assert_eq!(
        principal,
        fltr_credits::sql::ops::principal::Principal::ApiKey { api_key: key_id(SEED_KEY), user_id: "u1".into() }
    );
    assert_eq!(columns_holding(&client, SEED_KEY).await, Vec::<String>::new());
    assert!(migrator::verify_schema(&Native(&client)).await.unwrap()[0].found.starts_with("1 key row(s)"));

    // A listing or balance shows the unused one by the id it will have; that id works at once.
    let balance = engine.balance(&fltr_credits::core::account::Account::user("u1").unwrap(), now()).await.unwrap();
    assert!(balance.api_keys.iter().any(|key| key.id == key_id(SHORT_KEY)));
    let grant = fltr_credits::sql::ops::grant::GrantRequest {
        account: fltr_credits::core::account::Account::api_key(&key_id(SHORT_KEY)).unwrap(),
        amount: Amount::new(3).unwrap(),
        operation: None,
        metadata: None,
        idempotency_key: None,
        expires_at: None,
    };
    assert_eq!(engine.grant(&grant, now()).await.unwrap().balance, 3, "granted by the id a balance showed");
    assert_eq!(columns_holding(&client, SHORT_KEY).await, Vec::<String>::new(), "adopted on the way");
    legacy_api_key(&client, "sk_later_key_000000000001", "u1", None).await;
    let charged = engine
        .consume(&usage(Payer::ApiKey(KeyRef::Id(key_id("sk_later_key_000000000001"))), 1, None), now())
        .await
        .unwrap_err();
    assert_eq!(charged.code(), "insufficient_credits", "found by its id (and empty)");

    // The next migrate hashes the rest.
    legacy_api_key(&client, "sk_last_key_0000000000001", "u1", None).await;
    let report = migrator::migrate(&Native(&client), false).await.unwrap();
    assert_eq!(report.hashed_api_keys, 1);
    assert!(report.drift.is_empty());
    assert_eq!(columns_holding(&client, "sk_last_key_0000000000001").await, Vec::<String>::new());
    let engine = Engine::new(Native(&client));
    assert!(engine.authenticate(&Credential::Bearer(SHORT_KEY.into()), now()).await.is_ok());
    assert!(engine.authenticate(&Credential::Bearer("sk_last_key_0000000000001".into()), now()).await.is_ok());
    // A public id or a stored hash presented as a secret is not a credential.
    for forged in [key_id(SEED_KEY), api_key::hash(SEED_KEY)] {
        assert_eq!(
            engine.authenticate(&Credential::ApiKey(forged.clone()), now()).await.unwrap_err().code(),
            "unauthenticated",
            "{forged}"
        );
    }
}

fn at(request: HttpRequest, now: Timestamp) -> HttpRequest {
    HttpRequest { now, ..request }
}

fn patch(path: &str, body: Value) -> HttpRequest {
    HttpRequest::new("PATCH", path, "req_test", now())
        .with_header("content-type", "application/json")
        .with_body(body.to_string())
}

fn delete(path: &str) -> HttpRequest {
    HttpRequest::new("DELETE", path, "req_test", now())
}

fn consume_with(secret: &str, amount: i64) -> HttpRequest {
    post("/api/v1/credits/consume", json!({"amount": amount, "operation": "document.process"}))
        .with_header("x-api-key", secret)
}

#[tokio::test]
async fn the_whole_lifecycle_through_the_router() {
    let db = TestDb::migrated("keys_lifecycle").await;
    let client = db.client().await;
    let alice = signed_in(&client, "alice", 100).await;
    let mallory = signed_in(&client, "mallory", 0).await;

    // Create: the secret once, its hash only at rest.
    let created =
        call(&client, bearer(post("/api/v1/api-keys", json!({"name": "ci", "daily_limit": 20})), &alice)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("Cache-Control"), Some("no-store"));
    let secret = created.body["key"].as_str().unwrap().to_string();
    let id = created.body["id"].as_str().unwrap().to_string();
    assert!(api_key::is_secret(&secret) && secret.len() == 41, "{secret}");
    assert_eq!(created.body["start"], secret[..9]);
    assert_eq!(created.body["daily_limit"], 20);
    assert_eq!(columns_holding(&client, &secret).await, Vec::<String>::new(), "no secret at rest");
    assert_eq!(columns_holding(&client, &secret[9..]).await, Vec::<String>::new(), "nor its random part");

    // Fund by id, spend by secret.
    let funded =
        call(&client, bearer(post(&format!("/api/v1/api-keys/{id}/allocate"), json!({"amount": 30})), &alice)).await;
    assert_eq!((funded.status, funded.body["charged"]["id"].as_str()), (200, Some(id.as_str())), "{}", funded.body);
    let spent = call(&client, consume_with(&secret, 4)).await;
    assert_eq!((spent.status, spent.body["balance"].as_i64()), (200, Some(26)), "{}", spent.body);
    assert_eq!(
        call(&client, bearer(post("/api/v1/credits/consume", json!({"amount": 1, "operation": "x"})), &secret))
            .await
            .status,
        200
    );

    // List: masked, with use and limits; never the secret.
    let listed = call(&client, bearer(get("/api/v1/api-keys"), &alice)).await;
    assert_eq!(listed.status, 200);
    let key = &listed.body["api_keys"][0];
    assert_eq!(
        (key["id"].as_str(), key["credits"].as_i64(), key["limits"]["daily"]["used"].as_i64()),
        (Some(id.as_str()), Some(25), Some(5))
    );
    assert!(key["last_used_at"].is_string() && key["key"].is_null());
    assert!(!listed.body.to_string().contains(&secret[9..]));
    assert_eq!(call(&client, bearer(get("/api/v1/api-keys"), &mallory)).await.body["api_keys"], json!([]));

    // Update: a tighter limit holds at once; null lifts it.
    let updated = call(
        &client,
        bearer(patch(&format!("/api/v1/api-keys/{id}"), json!({"daily_limit": 6, "name": "deploy"})), &alice),
    )
    .await;
    assert_eq!((updated.status, updated.body["name"].as_str()), (200, Some("deploy")), "{}", updated.body);
    assert_eq!(call(&client, consume_with(&secret, 2)).await.code(), "daily_limit_exceeded");
    assert_eq!(
        call(&client, bearer(patch(&format!("/api/v1/api-keys/{id}"), json!({"daily_limit": null})), &alice))
            .await
            .body["daily_limit"],
        Value::Null
    );
    assert_eq!(call(&client, consume_with(&secret, 2)).await.status, 200);

    // Another user's key is not there at all.
    for request in [
        patch(&format!("/api/v1/api-keys/{id}"), json!({"name": "x"})),
        delete(&format!("/api/v1/api-keys/{id}")),
        post(&format!("/api/v1/api-keys/{id}/rotate"), json!({})),
        post(&format!("/api/v1/api-keys/{id}/allocate"), json!({"amount": 1})),
    ] {
        let answer = call(&client, bearer(request, &mallory)).await;
        assert_eq!((answer.status, answer.code()), (404, "not_found"), "{}", answer.body);
    }
    // An API key cannot manage keys.
    assert_eq!(call(&client, bearer(get("/api/v1/api-keys"), &secret)).await.code(), "forbidden");

    // Rotate with a grace: both secrets work until it ends, then only the new one.
    let rotated =
        call(&client, bearer(post(&format!("/api/v1/api-keys/{id}/rotate"), json!({"grace_seconds": 60})), &alice))
            .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_secret = rotated.body["key"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    assert_eq!(call(&client, consume_with(&secret, 1)).await.status, 200, "the old secret during its grace");
    let keyed = || consume_with(&secret, 1).with_header("idempotency-key", "grace-1");
    let first = call(&client, keyed()).await;
    assert_eq!((first.status, call(&client, keyed()).await.header("Idempotent-Replayed")), (200, Some("true")));
    assert_eq!(
        call(&client, post("/api/v1/credits/check", json!({"amount": 1})).with_header("x-api-key", &secret))
            .await
            .status,
        200
    );
    let later = Timestamp(now().0 + 61_000_000);
    assert_eq!(call(&client, at(consume_with(&secret, 1), later)).await.code(), "unauthenticated", "after the grace");
    assert_eq!(call(&client, at(consume_with(&new_secret, 1), later)).await.status, 200);
    // Rotating again without a grace ends the old secret at once.
    let again = call(&client, bearer(post(&format!("/api/v1/api-keys/{id}/rotate"), json!({})), &alice)).await;
    let newest = again.body["key"].as_str().unwrap().to_string();
    assert_eq!(call(&client, consume_with(&new_secret, 1)).await.code(), "unauthenticated");
    assert_eq!(call(&client, consume_with(&secret, 1)).await.code(), "unauthenticated");
    assert_eq!(call(&client, consume_with(&newest, 1)).await.status, 200);

    // Revoke: 401 at once, the rest of the allowance back to alice, ledgered; twice is the same answer.
    let before = scalar(&client, "SELECT credits FROM users WHERE id = 'alice'").await.parse::<i64>().unwrap();
    let left = scalar(&client, &format!("SELECT credits FROM api_key_credits WHERE api_key = '{id}'"))
        .await
        .parse::<i64>()
        .unwrap();
    let revoked = call(&client, bearer(delete(&format!("/api/v1/api-keys/{id}")), &alice)).await;
    assert_eq!(
        (revoked.status, revoked.body["returned"].as_i64(), revoked.body["replayed"].as_bool()),
        (200, Some(left), Some(false)),
        "{}",
        revoked.body
    );
    assert_eq!(scalar(&client, "SELECT credits FROM users WHERE id = 'alice'").await, (before + left).to_string());
    assert_eq!(call(&client, consume_with(&newest, 1)).await.code(), "unauthenticated");
    let twice = call(&client, bearer(delete(&format!("/api/v1/api-keys/{id}")), &alice)).await;
    assert_eq!(
        (twice.body["returned"].as_i64(), twice.body["revoked_at"].clone(), twice.header("Idempotent-Replayed")),
        (Some(left), revoked.body["revoked_at"].clone(), Some("true"))
    );
    let changed = call(&client, bearer(post(&format!("/api/v1/api-keys/{id}/rotate"), json!({})), &alice)).await;
    assert_eq!((changed.status, changed.code()), (409, "api_key_revoked"));
    assert_eq!(
        call(&client, bearer(patch(&format!("/api/v1/api-keys/{id}"), json!({"name": "y"})), &alice)).await.code(),
        "api_key_revoked"
    );
    assert_eq!(reconcile_drift(&client).await, 0, "balance == ledger for alice and the key");

    // Expiry: 401 after expires_at, with no sweep.
    let expiring = call(
        &client,
        bearer(
            post("/api/v1/api-keys", json!({"expires_at": Timestamp(now().0 + 3_600_000_000).to_rfc3339()})),
            &alice,
        ),
    )
    .await;
    let (expiring_id, expiring_secret) =
        (expiring.body["id"].as_str().unwrap().to_string(), expiring.body["key"].as_str().unwrap().to_string());
    call(&client, bearer(post(&format!("/api/v1/api-keys/{expiring_id}/allocate"), json!({"amount": 2})), &alice))
        .await;
    assert_eq!(call(&client, consume_with(&expiring_secret, 1)).await.status, 200);
    let after_expiry = Timestamp(now().0 + 3_601_000_000);
    assert_eq!(call(&client, at(consume_with(&expiring_secret, 1), after_expiry)).await.code(), "unauthenticated");

    // Revoke-leaked: the service only; unknown secrets are ignored.
    let leaked = post("/api/v1/api-keys/revoke-leaked", json!({"keys": [expiring_secret, "fltr_not_a_real_key"]}));
    assert_eq!(call(&client, bearer(leaked.clone(), &alice)).await.code(), "forbidden");
    let answer = call(&client, bearer(leaked.clone(), SERVICE)).await;
    assert_eq!((answer.status, answer.body["revoked"].as_i64()), (200, Some(1)), "{}", answer.body);
    assert_eq!(call(&client, bearer(leaked, SERVICE)).await.body["revoked"], 0, "already revoked");
    assert_eq!(call(&client, consume_with(&expiring_secret, 1)).await.code(), "unauthenticated");
    assert_eq!(reconcile_drift(&client).await, 0);
}

#[tokio::test]
async fn bad_input_gets_a_stable_code_and_a_secret_is_never_echoed() {
    let db = TestDb::migrated("keys_bad_input").await;
    let client = db.client().await;
    let alice = signed_in(&client, "alice", 10).await;
    let secret = call(&client, bearer(post("/api/v1/api-keys", json!({})), &alice)).await.body["key"]
        .as_str()
        .unwrap()
        .to_string();
    let past = Timestamp(now().0 - 1_000_000).to_rfc3339();
    let far = Timestamp(now().0 + 11 * 366 * 86_400_000_000).to_rfc3339();
    for (body, what) in [
        (json!({"nmae": "x"}), "unknown field"),
        (json!({"daily_limit": -1}), "negative limit"),
        (json!({"monthly_limit": 3_000_000_000i64}), "absurd limit"),
        (json!({"daily_limit": 1.5}), "fractional limit"),
        (json!({"daily_limit": "5"}), "limit as text"),
        (json!({"expires_at": past}), "expiry in the past"),
        (json!({"expires_at": far}), "expiry too far"),
        (json!({"expires_at": "tomorrow"}), "not a time"),
        (json!({"name": ""}), "empty name"),
        (json!({"team": "yes"}), "team not a boolean"),
    ] {
        let answer = call(&client, bearer(post("/api/v1/api-keys", body), &alice)).await;
        assert_eq!((answer.status, answer.code()), (400, "invalid_request"), "{what}: {}", answer.body);
    }
    let keyed = bearer(post("/api/v1/api-keys", json!({})), &alice).with_header("idempotency-key", "k1");
    assert_eq!(call(&client, keyed).await.code(), "invalid_request", "a secret shown once cannot be replayed");
    assert_eq!(
        call(&client, bearer(post("/api/v1/api-keys", json!({"team": true})), &alice)).await.code(),
        "forbidden",
        "no team"
    );
    for method_path in [
        patch(&format!("/api/v1/api-keys/{secret}"), json!({})),
        delete(&format!("/api/v1/api-keys/{secret}")),
        post(&format!("/api/v1/api-keys/{secret}/allocate"), json!({"amount": 1})),
        post(&format!("/api/v1/api-keys/{}/rotate", secret.replace('_', "%5F")), json!({})),
        get(&format!("/api/v1/api-keys/{secret}/nowhere")),
    ] {
        let answer = call(&client, bearer(method_path, &alice)).await;
        assert!(answer.status == 400 || answer.status == 404, "{}", answer.body);
        assert!(!answer.body.to_string().contains(&secret[5..]), "the secret is echoed: {}", answer.body);
    }
    let whole = call(&client, bearer(post("/api/v1/api-keys", json!({"daily_limit": 5.0})), &alice)).await;
    assert_eq!((whole.status, whole.body["daily_limit"].as_i64()), (201, Some(5)), "5.0 is the integer 5");
    for request in [patch("/api/v1/api-keys/a%00b", json!({})), delete("/api/v1/api-keys/a%00b")] {
        assert_eq!(call(&client, bearer(request, &alice)).await.code(), "invalid_request", "a NUL in an id");
    }
    let long = json!({"keys": ["é".repeat(300)]});
    assert_eq!(call(&client, bearer(post("/api/v1/api-keys/revoke-leaked", long), SERVICE)).await.status, 200);
    let grace =
        call(&client, bearer(post("/api/v1/api-keys/key_x/rotate", json!({"grace_seconds": 700_000})), &alice)).await;
    assert_eq!(grace.code(), "invalid_request");
}

#[tokio::test]
async fn team_keys_are_seen_by_current_members_and_changed_by_their_creator_or_the_owner() {
    let db = TestDb::migrated("keys_team").await;
    let client = db.client().await;
    team(&client, "t1", None).await;
    let owner = signed_in(&client, "owner", 0).await;
    let member = signed_in(&client, "member", 0).await;
    let other = signed_in(&client, "other", 0).await;
    client.batch_execute("UPDATE users SET team_id = 't1'; UPDATE teams SET owner_id = 'owner'").await.unwrap();
    fund(&client, fltr_credits::core::account::Account::team("t1").unwrap(), 50).await;
    let created =
        call(&client, bearer(post("/api/v1/api-keys", json!({"team": true, "name": "shared"})), &member)).await;
    assert_eq!((created.status, created.body["team_id"].as_str()), (201, Some("t1")), "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let funded =
        call(&client, bearer(post(&format!("/api/v1/api-keys/{id}/allocate"), json!({"amount": 20})), &member)).await;
    assert_eq!(funded.status, 200, "{}", funded.body);

    let seen = call(&client, bearer(get("/api/v1/api-keys"), &other)).await;
    assert_eq!(seen.body["api_keys"][0]["id"], id.as_str(), "a current member sees the team's keys");
    let refused =
        call(&client, bearer(patch(&format!("/api/v1/api-keys/{id}"), json!({"name": "mine"})), &other)).await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"));
    let by_owner =
        call(&client, bearer(patch(&format!("/api/v1/api-keys/{id}"), json!({"daily_limit": 9})), &owner)).await;
    assert_eq!(by_owner.status, 200, "{}", by_owner.body);
    // Rotating hands out a credential: the owner may not take a member's key (and spend the pool as
    // them), only its creator may.
    let taken = call(&client, bearer(post(&format!("/api/v1/api-keys/{id}/rotate"), json!({})), &owner)).await;
    assert_eq!((taken.status, taken.code()), (403, "forbidden"), "{}", taken.body);
    assert!(taken.body.get("key").is_none());
    let rotated = call(&client, bearer(post(&format!("/api/v1/api-keys/{id}/rotate"), json!({})), &member)).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    // An owner who left the team no longer changes its keys.
    client.batch_execute("UPDATE users SET team_id = NULL WHERE id = 'owner'").await.unwrap();
    let gone = call(&client, bearer(patch(&format!("/api/v1/api-keys/{id}"), json!({"daily_limit": 1})), &owner)).await;
    assert_eq!(gone.code(), "not_found", "{}", gone.body);
    client.batch_execute("UPDATE users SET team_id = 't1' WHERE id = 'owner'").await.unwrap();

    // An ex-member no longer sees it; its id is then as unknown as any other.
    client.batch_execute("UPDATE users SET team_id = NULL WHERE id = 'other'").await.unwrap();
    assert_eq!(call(&client, bearer(get("/api/v1/api-keys"), &other)).await.body["api_keys"], json!([]));
    assert_eq!(call(&client, bearer(delete(&format!("/api/v1/api-keys/{id}")), &other)).await.code(), "not_found");

    // Revoked by the owner: the allowance goes back to the team pool, not to anyone's own.
    let revoked = call(&client, bearer(delete(&format!("/api/v1/api-keys/{id}")), &owner)).await;
    assert_eq!(revoked.body["returned"], 20, "{}", revoked.body);
    assert_eq!(scalar(&client, "SELECT credits FROM teams WHERE id = 't1'").await, "50");
    assert_eq!(scalar(&client, "SELECT sum(credits) FROM users").await, "0");
    let report = Engine::new(Native(&client)).reconcile(false, now()).await.unwrap();
    assert!(report.drift.is_empty(), "{:?}", report.drift);
}

/// Debits by the old secret race a rotation without grace: every debit that succeeded committed
/// before the rotation (none after it), and the books still balance.
#[tokio::test]
async fn a_rotation_racing_debits_leaves_no_debit_on_the_old_secret_after_it() {
    let _alone = RACE.lock().await;
    let db = TestDb::migrated("keys_rotate_race").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    api_key(&client, SEED_KEY, "u1", None, None, None).await;
    let account = fltr_credits::core::account::Account::api_key(&key_id(SEED_KEY)).unwrap();
    fund(&client, account, 100_000).await;
    let rotated_at = std::sync::Arc::new(std::sync::Mutex::new(None::<std::time::Instant>));
    let mut tasks = Vec::new();
    for _ in 0..RACERS {
        let (url, rotated_at) = (db.url.clone(), rotated_at.clone());
        tasks.push(tokio::spawn(async move {
            let connection = fltr_credits::adapters::native::database::connect(&url).await.unwrap();
            let engine = Engine::new(Native(&connection));
            let mut late_successes = 0;
            for _ in 0..40 {
                let started = std::time::Instant::now();
                let result = engine.consume(&usage(Payer::ApiKey(KeyRef::secret(SEED_KEY)), 1, None), now()).await;
                let rotation = *rotated_at.lock().unwrap();
                match result {
                    Ok(_) if rotation.is_some_and(|at| started > at) => late_successes += 1,
                    Ok(_) => {}
                    Err(error) => assert_eq!(error.code(), "unauthenticated", "{error}"),
                }
            }
            late_successes
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let engine = Engine::new(Native(&client));
    let entropy = fltr_credits::adapters::native::random::entropy().unwrap();
    engine.rotate_key(&key_id(SEED_KEY), None, 0, &entropy, now()).await.unwrap();
    *rotated_at.lock().unwrap() = Some(std::time::Instant::now());
    let mut late = 0;
    for task in tasks {
        late += task.await.unwrap();
    }
    assert_eq!(late, 0, "a debit that started after the rotation returned was charged to the old secret");
    let usage_rows = scalar(&client, "SELECT count(*) FROM credit_transactions WHERE type = 'usage'").await;
    let spent = 100_000
        - scalar(&client, &format!("SELECT credits FROM api_key_credits WHERE api_key = '{}'", key_id(SEED_KEY)))
            .await
            .parse::<i64>()
            .unwrap();
    assert_eq!(usage_rows, spent.to_string(), "every success has its ledger row, no more");
    assert!(spent > 0 && spent < (RACERS * 40) as i64, "the rotation landed mid-run ({spent})");
    assert_eq!(reconcile_drift(&client).await, 0);
}

/// Revocation racing debits: no debit after it, and every credit is either spent (ledgered) or
/// back in the user's pool.
#[tokio::test]
async fn a_revocation_racing_debits_returns_exactly_what_was_left() {
    let _alone = RACE.lock().await;
    let db = TestDb::migrated("keys_revoke_race").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    fund(&client, fltr_credits::core::account::Account::user("u1").unwrap(), 5_000).await;
    api_key(&client, SEED_KEY, "u1", None, None, None).await;
    let engine = Engine::new(Native(&client));
    let allocate = fltr_credits::sql::ops::allocate::AllocateRequest {
        api_key: key_id(SEED_KEY),
        amount: Amount::new(5_000).unwrap(),
        idempotency_key: None,
        owner: None,
    };
    engine.allocate(&allocate, now()).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..RACERS {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move {
            let connection = fltr_credits::adapters::native::database::connect(&url).await.unwrap();
            let engine = Engine::new(Native(&connection));
            let mut spent = 0;
            for _ in 0..30 {
                match engine.consume(&usage(Payer::ApiKey(KeyRef::secret(SEED_KEY)), 1, None), now()).await {
                    Ok(_) => spent += 1,
                    Err(error) => assert_eq!(error.code(), "unauthenticated", "{error}"),
                }
            }
            spent
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let revoked = engine.revoke_key(&key_id(SEED_KEY), None, now()).await.unwrap();
    let mut spent = 0;
    for task in tasks {
        spent += task.await.unwrap();
    }
    assert_eq!(revoked.returned + spent, 5_000, "spent + returned == allocated");
    assert_eq!(scalar(&client, "SELECT credits FROM users WHERE id = 'u1'").await, revoked.returned.to_string());
    assert_eq!(
        scalar(&client, &format!("SELECT credits FROM api_key_credits WHERE api_key = '{}'", key_id(SEED_KEY))).await,
        "0"
    );
    assert_eq!(reconcile_drift(&client).await, 0);
}

/// What an attacker tried (and must not get): credits stranded on or returned by a dead key, a
/// dead secret reading its stored outcomes, a secret echoed in any error, a hand-made secret
/// used as an id, concurrent revokes answered 503.
#[tokio::test]
async fn a_dead_key_neither_replays_nor_strands_credits_and_no_error_echoes_a_secret() {
    let db = TestDb::migrated("keys_attacks").await;
    let client = db.client().await;
    let alice = signed_in(&client, "alice", 100).await;
    let created = call(&client, bearer(post("/api/v1/api-keys", json!({})), &alice)).await;
    let (id, secret) =
        (created.body["id"].as_str().unwrap().to_string(), created.body["key"].as_str().unwrap().to_string());
    call(&client, bearer(post(&format!("/api/v1/api-keys/{id}/allocate"), json!({"amount": 10})), &alice)).await;
    let keyed = || consume_with(&secret, 4).with_header("idempotency-key", "job-7");
    let spent = call(&client, keyed()).await;
    assert_eq!(spent.status, 200, "{}", spent.body);

    // Revoked while others revoke it too: one revocation, every answer 200.
    let answers = futures_join(&db, &id, 8).await;
    assert_eq!(answers.iter().filter(|(status, replayed)| *status == 200 && !replayed).count(), 1, "{answers:?}");
    assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
    assert_eq!(scalar(&client, "SELECT credits FROM users WHERE id = 'alice'").await, "96");

    // A dead secret gets nothing back, not even its stored outcome.
    assert_eq!(call(&client, keyed()).await.code(), "unauthenticated");
    let other = consume_with(&secret, 5).with_header("idempotency-key", "job-7");
    assert_eq!(call(&client, other).await.code(), "unauthenticated");

    // The usage refunded after the revocation goes to the pool the key came from, not the dead key.
    let usage = spent.body["transaction_id"].as_str().unwrap().to_string();
    let refunded =
        call(&client, bearer(post("/api/v1/credits/refund", json!({"transaction_id": usage})), SERVICE)).await;
    assert_eq!((refunded.status, refunded.body["balance"].as_i64()), (200, Some(100)), "{}", refunded.body);
    assert_eq!(scalar(&client, &format!("SELECT credits FROM api_key_credits WHERE api_key = '{id}'")).await, "0");
    assert_eq!(reconcile_drift(&client).await, 0);
    let grant = bearer(post("/admin/grant", json!({"api_key_id": id, "amount": 5})), ADMIN);
    assert_eq!(call(&client, grant).await.code(), "not_found", "no credits onto a revoked key");

    // No error echoes a secret, wherever it was pasted; a hand-made secret is not an id either.
    let fresh = call(&client, bearer(post("/api/v1/api-keys", json!({})), &alice)).await.body["key"]
        .as_str()
        .unwrap()
        .to_string();
    for request in [
        get("/api/v1/credits/balance").with_query(&format!("{fresh}=1")),
        get("/api/v1/credits/transactions").with_query(&format!("limit={fresh}")),
        post("/api/v1/api-keys", json!({ fresh.clone(): 1 })),
        post("/api/v1/credits/consume", json!({"amount": fresh.clone(), "operation": "x"})),
        consume_with(&fresh, 1).with_header("idempotency-key", &fresh),
        patch("/api/v1/api-keys/sk_plain_handmade_0001", json!({})),
        post("/api/v1/api-keys/sk_plain_handmade_0001/allocate", json!({"amount": 1})),
    ] {
        let answer = call(&client, bearer(request, &alice)).await;
        assert!(answer.status == 400 || answer.code() == "not_found", "{}", answer.body);
        assert!(!answer.body.to_string().contains(&fresh[5..]), "echoed: {}", answer.body);
    }
    assert_eq!(
        scalar(
            &client,
            &format!("SELECT count(*) FROM credit_idempotency_keys WHERE idempotency_key LIKE '%{}%'", &fresh[5..])
        )
        .await,
        "0"
    );
}

/// `n` concurrent revokes of one key, each on its own connection: (status, replayed).
async fn futures_join(db: &TestDb, id: &str, n: usize) -> Vec<(u16, bool)> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (url, id) = (db.url.clone(), id.to_string());
        tasks.push(tokio::spawn(async move {
            let connection = fltr_credits::adapters::native::database::connect(&url).await.unwrap();
            let answer = call(&connection, bearer(delete(&format!("/api/v1/api-keys/{id}")), SERVICE)).await;
            (answer.status, answer.body["replayed"].as_bool().unwrap_or(false))
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

//! Shared by the holds tests: request builders, an account with credits, a team with a signed-in
//! member, and a race of real connections.
#![allow(dead_code)]

use super::*;
use fltr_credits::adapters::native::database::connect;
use fltr_credits::core::time::Timestamp;
use fltr_credits::sql::ops::consume::{ConsumeRequest, Payer};
use fltr_credits::sql::ops::holds::close::{Actor, Close, CloseRequest};
use fltr_credits::sql::ops::holds::open::HoldRequest;
use std::sync::Arc;
use tokio::sync::Barrier;
use tokio_postgres::Client;

pub fn hold(payer: Payer, amount: i64, ttl_seconds: i64, idempotency_key: Option<&str>) -> HoldRequest {
    HoldRequest {
        payer,
        amount: Amount::new(amount).unwrap(),
        operation: fltr_credits::core::validate::Operation::new("document.process").unwrap(),
        resource_id: Some("doc_1".into()),
        metadata: Some(r#"{"pages":12}"#.into()),
        ttl_seconds,
        idempotency_key: idempotency_key.map(String::from),
    }
}

pub fn usage(payer: Payer, amount: i64, idempotency_key: Option<&str>) -> ConsumeRequest {
    ConsumeRequest {
        payer,
        amount: Amount::new(amount).unwrap(),
        operation: fltr_credits::core::validate::Operation::new("load.test").unwrap(),
        resource_id: None,
        metadata: None,
        idempotency_key: idempotency_key.map(String::from),
    }
}

pub fn capture(hold_id: &str, amount: Option<i64>, actor: Actor, idempotency_key: Option<&str>) -> CloseRequest {
    CloseRequest {
        hold_id: hold_id.into(),
        close: Close::Capture(amount),
        actor,
        idempotency_key: idempotency_key.map(String::from),
    }
}

pub fn release(hold_id: &str, idempotency_key: Option<&str>) -> CloseRequest {
    CloseRequest {
        hold_id: hold_id.into(),
        close: Close::Release,
        actor: Actor::Service,
        idempotency_key: idempotency_key.map(String::from),
    }
}

pub fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

/// A user with `credits` on their own pool, ledgered.
pub async fn user_with(client: &Client, id: &str, credits: i64) {
    user(client, id, None).await;
    if credits > 0 {
        fund(client, Account::user(id).unwrap(), credits).await;
    }
}

/// Team `t1` owned by `owner` (a member), member `m1` signed in with session token `tok_m1`, and
/// `credits` on the team pool.
pub async fn team_with_signed_in_member(client: &Client, credits: i64) {
    user(client, "owner", None).await;
    team(client, "t1", Some("owner")).await;
    client.execute("UPDATE users SET team_id = 't1' WHERE id = 'owner'", &[]).await.unwrap();
    user(client, "m1", Some("t1")).await;
    fund(client, Account::team("t1").unwrap(), credits).await;
    client
        .execute(
            "INSERT INTO sessions (id, expires_at, token, updated_at, user_id) VALUES ('s1', (now() at time zone 'utc') + interval '1 day', 'tok_m1', now(), 'm1')",
            &[],
        )
        .await
        .unwrap();
}

/// Reconcile at `when` finds nothing: balances equal their ledgers, held totals their active holds,
/// and no balance is below its unexpired holds.
pub async fn assert_clean_at(client: &Client, when: Timestamp) {
    let report = Engine::new(Native(client)).reconcile(false, when).await.unwrap();
    assert!(report.drift.is_empty() && report.holds.is_empty() && report.blocks.is_empty(), "reconcile: {report:?}");
}

/// Runs `clients` connections at once; each runs `work` with its index and its own connection
/// (closed when the work ends).
pub async fn race<T, F, Fut>(url: &str, clients: usize, work: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize, Arc<Client>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send,
{
    let work = Arc::new(work);
    let barrier = Arc::new(Barrier::new(clients));
    let mut tasks = Vec::new();
    for index in 0..clients {
        let (url, work, barrier) = (url.to_string(), work.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let client = Arc::new(connect(&url).await.expect("connect"));
            barrier.wait().await;
            work(index, client).await
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.push(task.await.expect("task"));
    }
    all
}

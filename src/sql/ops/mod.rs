//! One module per credit operation: `plan*(…) -> Statement` and `decode*(rows) -> outcome`.

pub mod allocate;
pub mod api_keys;
pub mod balance;
pub mod check;
pub mod consume;
pub mod expiring;
pub mod grant;
pub mod holds;
pub mod payer;
pub mod principal;
pub mod prune;
pub mod purchase;
pub mod reconcile;
pub mod refund;
pub mod seed;
pub mod transactions;
pub mod usage;

#[cfg(test)]
mod parameter_tests {
    //! Every statement references exactly the parameters it binds, `$1..$n`. Drivers that send
    //! untyped parameters (pg, neon, postgres.js) fail on one the SQL never uses.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use crate::core::account::Account;
    use crate::core::api_key::{Entropy, KeyRef, ENTROPY_BYTES};
    use crate::core::session::Credential;
    use crate::core::time::Timestamp;
    use crate::core::validate::{Amount, Operation};
    use crate::sql::statement::Statement;

    fn referenced(sql: &str) -> Vec<usize> {
        let mut found: Vec<usize> = sql
            .match_indices('$')
            .filter_map(|(at, _)| {
                let digits: String = sql[at + 1..].chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect();
        found.sort();
        found.dedup();
        found
    }

    #[test]
    fn every_bound_parameter_is_referenced_and_no_other() {
        let now = Timestamp(1_764_064_800_000_000);
        let amount = Amount::new(5).unwrap();
        let consume = |payer| super::consume::ConsumeRequest {
            payer,
            amount,
            operation: Operation::new("x").unwrap(),
            resource_id: None,
            metadata: None,
            idempotency_key: None,
        };
        use super::consume::Payer;
        let user = Account::user("u").unwrap();
        let statements: Vec<Statement> = vec![
            super::consume::plan(&consume(Payer::User("u".into())), now),
            super::consume::plan(&consume(Payer::Session("t".into())), now),
            super::consume::plan(&consume(Payer::ApiKey(KeyRef::secret("k"))), now),
            super::consume::plan(&consume(Payer::ApiKey(KeyRef::Id("key_1".into()))), now),
            super::consume::plan(&consume(Payer::ApiKey(KeyRef::Rotated { hash: "h".into() })), now),
            super::consume::plan(
                &super::consume::ConsumeRequest {
                    idempotency_key: Some("key".into()),
                    ..consume(Payer::ApiKey(KeyRef::Rotated { hash: "h".into() }))
                },
                now,
            ),
            super::consume::plan(
                &super::consume::ConsumeRequest {
                    idempotency_key: Some("key".into()),
                    ..consume(Payer::ApiKey(KeyRef::secret("k")))
                },
                now,
            ),
            super::consume::plan(
                &super::consume::ConsumeRequest {
                    idempotency_key: Some("key".into()),
                    ..consume(Payer::ApiKey(KeyRef::Id("key_1".into())))
                },
                now,
            ),
            super::check::plan(&Payer::User("u".into()), amount, now),
            super::check::plan(&Payer::ApiKey(KeyRef::secret("k")), amount, now),
            super::check::plan(&Payer::Team("t".into()), amount, now),
            super::consume::plan(&consume(Payer::Team("t".into())), now),
            super::grant::plan(
                &super::grant::GrantRequest {
                    account: user.clone(),
                    amount,
                    operation: None,
                    metadata: None,
                    idempotency_key: None,
                    expires_at: Some(now.plus_millis(1000)),
                },
                now,
            ),
            super::purchase::plan(
                &super::purchase::PurchaseRequest {
                    user_id: "u".into(),
                    amount,
                    payment_id: "p".into(),
                    event_id: "e".into(),
                    metadata: None,
                },
                now,
            ),
            super::purchase::plan_record_unfulfilled("p", "e", None, "r", now),
            super::refund::plan("t", &super::refund::RefundScope::Any, now).unwrap(),
            super::allocate::plan(
                &super::allocate::AllocateRequest { api_key: "k".into(), amount, idempotency_key: None, owner: None },
                now,
            ),
            super::balance::plan(&user, now),
            super::transactions::plan(&user, 10, None),
            super::usage::plan(
                &user,
                &super::usage::UsageQuery::parse(Some("2026-11-01"), Some("2026-12-01"), None).unwrap(),
            ),
            super::reconcile::plan(false, now),
            super::principal::plan(&Credential::Bearer("b".into()), now),
            super::prune::plan(48, now).unwrap(),
            super::seed::plan(amount, now),
            super::api_keys::adopt::plan_all(),
            super::api_keys::adopt::plan_resolve(&KeyRef::secret("k"), now).unwrap(),
            super::api_keys::create::plan(
                &super::api_keys::create::CreateRequest {
                    user_id: "u".into(),
                    settings: super::api_keys::create::KeySettings {
                        name: None,
                        daily_limit: None,
                        monthly_limit: None,
                        expires_at: None,
                    },
                    team: false,
                    entropy: Entropy([7; ENTROPY_BYTES]),
                },
                now,
            )
            .unwrap()
            .0,
            super::api_keys::manage::plan_list("u", now),
            super::api_keys::manage::plan_update("key_1", Some("u"), &Default::default(), now),
            super::api_keys::manage::plan_rotate("key_1", None, 60, &Entropy([7; ENTROPY_BYTES]), now).unwrap().0,
            super::api_keys::revoke::plan_revoke("key_1", Some("u"), now),
            super::api_keys::revoke::plan_revoke_leaked(&["ab".into()], now),
        ];
        for statement in statements {
            let expected: Vec<usize> = (1..=statement.params.len()).collect();
            assert_eq!(referenced(statement.sql), expected, "{}", &statement.sql[..statement.sql.len().min(120)]);
        }
    }
}

//! What only Node needs (`fltr-credits/node.js`, the CLI): migrations, schema verification,
//! rollback and seeding, in their own wasm module (feature `js-admin`), so the edge module that
//! Next.js middleware and the browser load carries none of the migrator (BENCHMARKS.md §3).

use crate::adapters::js::convert;
use crate::adapters::js::credits::{amount, now, promise, Credits};
use crate::core::error::CreditError;
use crate::engine::Engine;
use crate::http::holds::SWEEP_BATCHES;
use crate::migrator;
use crate::sql::executor::run;
use crate::sql::ops::seed;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
impl Credits {
    /// Applies pending migrations (one transaction, drizzle's journal). `query` must reach ONE
    /// connection (a pg `Client`, not a `Pool`): BEGIN and COMMIT are separate calls.
    #[wasm_bindgen(unchecked_return_type = "Promise<MigrateReport>")]
    pub fn migrate(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ dryRun?: boolean }")] options: JsValue,
    ) -> js_sys::Promise {
        let executor = self.executor.clone();
        let parsed = convert::options(&options, "migrate", &["dryRun"]);
        promise(async move {
            let dry_run = parsed?.get("dryRun").and_then(Value::as_bool).unwrap_or(false);
            migrator::migrate(&executor, dry_run).await
        })
    }

    /// Compares the live schema with the model: `{ ok, drift: [...] }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<{ ok: boolean; drift: Drift[] }>")]
    pub fn verify(&self) -> js_sys::Promise {
        let executor = self.executor.clone();
        promise(async move {
            let drift = migrator::verify_schema(&executor).await?;
            Ok(json!({ "ok": drift.is_empty(), "drift": drift }))
        })
    }

    /// Gives `amount` credits (with a ledger row) to every user with 0 credits never seeded.
    #[wasm_bindgen(js_name = seedCredits, unchecked_return_type = "Promise<{ granted_users: number; amount: number }>")]
    pub fn seed_credits(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{ amount: number }")] options: JsValue,
    ) -> js_sys::Promise {
        let executor = self.executor.clone();
        let parsed = convert::options(&options, "seedCredits", &["amount"]);
        promise(async move {
            let amount = amount(&parsed?)?;
            run(&executor, &seed::plan(amount, now()), seed::decode).await
        })
    }

    /// Undoes applied migrations newer than `to` (`"none"`: all). One connection, like `migrate`.
    #[wasm_bindgen(unchecked_return_type = "Promise<{ rolled_back: string[] }>")]
    pub fn rollback(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{ to: string }")] options: JsValue,
    ) -> js_sys::Promise {
        let executor = self.executor.clone();
        let parsed = convert::options(&options, "rollback", &["to"]);
        promise(async move {
            let to = convert::text(&parsed?, "to")?
                .ok_or_else(|| CreditError::invalid_request("to is required (a tag, or \"none\")"))?;
            migrator::rollback(&executor, &to).await
        })
    }

    /// Tidies expired holds: marks them `expired` and gives their amounts back to their accounts'
    /// held totals (and a key's current windows), in batches that never wait on a lock. Nothing
    /// depends on it (an expired hold stops counting at its `expires_at` by itself); run it from a
    /// cron job, as the Worker's cron trigger runs `POST /admin/sweep`. → `{ ok, expired_holds,
    /// accounts }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<SweepReport>")]
    pub fn sweep(&self) -> js_sys::Promise {
        let engine = Engine::new(self.executor.clone());
        promise(async move {
            let report = engine.sweep(SWEEP_BATCHES, now()).await?;
            Ok(
                json!({ "ok": true, "expired_holds": report.expired_holds, "accounts": report.accounts, "expired_blocks": report.expired_blocks }),
            )
        })
    }
}

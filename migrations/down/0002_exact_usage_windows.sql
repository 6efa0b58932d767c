SET LOCAL lock_timeout = '5s';
--> statement-breakpoint
SET LOCAL statement_timeout = '60s';
--> statement-breakpoint
DROP INDEX IF EXISTS "credit_transactions_team_id_created_at_idx";
--> statement-breakpoint
DROP INDEX IF EXISTS "credit_transactions_api_key_id_created_at_idx";
--> statement-breakpoint
DROP INDEX IF EXISTS "credit_transactions_user_id_created_at_idx";
--> statement-breakpoint
DROP TABLE IF EXISTS "credit_idempotency_keys" CASCADE;
--> statement-breakpoint
ALTER TABLE "api_key_credits" DROP COLUMN IF EXISTS "monthly_window_start";
--> statement-breakpoint
ALTER TABLE "api_key_credits" DROP COLUMN IF EXISTS "monthly_used";
--> statement-breakpoint
ALTER TABLE "api_key_credits" DROP COLUMN IF EXISTS "daily_window_start";
--> statement-breakpoint
ALTER TABLE "api_key_credits" DROP COLUMN IF EXISTS "daily_used";
SET LOCAL lock_timeout = '5s';
--> statement-breakpoint
SET LOCAL statement_timeout = '60s';
--> statement-breakpoint
DROP INDEX IF EXISTS "credit_holds_transaction_id_idx";
--> statement-breakpoint
DROP INDEX IF EXISTS "credit_holds_state_expires_at_idx";
--> statement-breakpoint
DROP INDEX IF EXISTS "credit_holds_account_state_expires_at_idx";
--> statement-breakpoint
DROP TABLE IF EXISTS "credit_holds" CASCADE;
--> statement-breakpoint
ALTER TABLE "api_key_credits" DROP COLUMN IF EXISTS "held_credits";
--> statement-breakpoint
ALTER TABLE "teams" DROP COLUMN IF EXISTS "held_credits";
--> statement-breakpoint
ALTER TABLE "users" DROP COLUMN IF EXISTS "held_credits";
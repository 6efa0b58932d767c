SET LOCAL lock_timeout = '5s';
--> statement-breakpoint
SET LOCAL statement_timeout = '60s';
--> statement-breakpoint
DROP FUNCTION IF EXISTS "credit_blocks_take"(ids text[], deadlines timestamp without time zone[], lefts integer[], amount integer);
--> statement-breakpoint
DROP FUNCTION IF EXISTS "credit_blocks_left"(lefts integer[], amount integer);
--> statement-breakpoint
ALTER TABLE "credit_holds" DROP COLUMN IF EXISTS "expiring";
--> statement-breakpoint
ALTER TABLE "credit_transactions" DROP COLUMN IF EXISTS "expiring";
--> statement-breakpoint
ALTER TABLE "api_key_credits" DROP COLUMN IF EXISTS "expiring_take";
--> statement-breakpoint
ALTER TABLE "api_key_credits" DROP COLUMN IF EXISTS "expiring_left";
--> statement-breakpoint
ALTER TABLE "api_key_credits" DROP COLUMN IF EXISTS "expiring_at";
--> statement-breakpoint
ALTER TABLE "api_key_credits" DROP COLUMN IF EXISTS "expiring_ids";
--> statement-breakpoint
ALTER TABLE "teams" DROP COLUMN IF EXISTS "expiring_take";
--> statement-breakpoint
ALTER TABLE "teams" DROP COLUMN IF EXISTS "expiring_left";
--> statement-breakpoint
ALTER TABLE "teams" DROP COLUMN IF EXISTS "expiring_at";
--> statement-breakpoint
ALTER TABLE "teams" DROP COLUMN IF EXISTS "expiring_ids";
--> statement-breakpoint
ALTER TABLE "users" DROP COLUMN IF EXISTS "expiring_take";
--> statement-breakpoint
ALTER TABLE "users" DROP COLUMN IF EXISTS "expiring_left";
--> statement-breakpoint
ALTER TABLE "users" DROP COLUMN IF EXISTS "expiring_at";
--> statement-breakpoint
ALTER TABLE "users" DROP COLUMN IF EXISTS "expiring_ids";
SET LOCAL lock_timeout = '5s';
--> statement-breakpoint
SET LOCAL statement_timeout = '60s';
--> statement-breakpoint
DROP INDEX IF EXISTS "api_key_credits_team_id_idx";
--> statement-breakpoint
DROP INDEX IF EXISTS "api_key_credits_previous_key_hash_idx";
--> statement-breakpoint
DROP INDEX IF EXISTS "api_key_credits_key_hash_idx";
--> statement-breakpoint
ALTER TABLE "api_key_credits" DROP COLUMN IF EXISTS "previous_key_expires_at";
--> statement-breakpoint
ALTER TABLE "api_key_credits" DROP COLUMN IF EXISTS "previous_key_hash";
--> statement-breakpoint
ALTER TABLE "api_key_credits" DROP COLUMN IF EXISTS "last_used_at";
--> statement-breakpoint
ALTER TABLE "api_key_credits" DROP COLUMN IF EXISTS "revoked_at";
--> statement-breakpoint
ALTER TABLE "api_key_credits" DROP COLUMN IF EXISTS "expires_at";
--> statement-breakpoint
ALTER TABLE "api_key_credits" DROP COLUMN IF EXISTS "name";
--> statement-breakpoint
ALTER TABLE "api_key_credits" DROP COLUMN IF EXISTS "start";
--> statement-breakpoint
ALTER TABLE "api_key_credits" DROP COLUMN IF EXISTS "key_hash";
SET LOCAL lock_timeout = '5s';
--> statement-breakpoint
SET LOCAL statement_timeout = '60s';
--> statement-breakpoint
ALTER TABLE IF EXISTS "users" DROP CONSTRAINT IF EXISTS "users_team_id_teams_id_fk";
--> statement-breakpoint
ALTER TABLE IF EXISTS "teams" DROP CONSTRAINT IF EXISTS "teams_owner_id_users_id_fk";
--> statement-breakpoint
ALTER TABLE IF EXISTS "credit_transactions" DROP CONSTRAINT IF EXISTS "credit_transactions_team_id_teams_id_fk";
--> statement-breakpoint
ALTER TABLE IF EXISTS "credit_transactions" DROP CONSTRAINT IF EXISTS "credit_transactions_user_id_users_id_fk";
--> statement-breakpoint
ALTER TABLE IF EXISTS "api_key_credits" DROP CONSTRAINT IF EXISTS "api_key_credits_team_id_teams_id_fk";
--> statement-breakpoint
ALTER TABLE IF EXISTS "api_key_credits" DROP CONSTRAINT IF EXISTS "api_key_credits_user_id_users_id_fk";
--> statement-breakpoint
ALTER TABLE "users" DROP COLUMN IF EXISTS "team_id";
--> statement-breakpoint
ALTER TABLE "users" DROP COLUMN IF EXISTS "total_credits_purchased";
--> statement-breakpoint
ALTER TABLE "users" DROP COLUMN IF EXISTS "credits";
--> statement-breakpoint
DROP TABLE IF EXISTS "teams" CASCADE;
--> statement-breakpoint
DROP TABLE IF EXISTS "credit_transactions" CASCADE;
--> statement-breakpoint
DROP TABLE IF EXISTS "api_key_credits" CASCADE;
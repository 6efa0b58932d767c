SET LOCAL lock_timeout = '5s';
--> statement-breakpoint
SET LOCAL statement_timeout = '60s';
--> statement-breakpoint
DROP TABLE IF EXISTS "credit_unfulfilled_purchases" CASCADE;
--> statement-breakpoint
DROP INDEX IF EXISTS "users_team_id_idx";
--> statement-breakpoint
DROP INDEX IF EXISTS "api_key_credits_user_id_idx";
SET LOCAL lock_timeout = '5s';
--> statement-breakpoint
SET LOCAL statement_timeout = '60s';
--> statement-breakpoint
DROP INDEX IF EXISTS "verifications_identifier_idx";
--> statement-breakpoint
DROP INDEX IF EXISTS "accounts_userId_idx";
--> statement-breakpoint
DROP INDEX IF EXISTS "sessions_userId_idx";
--> statement-breakpoint
ALTER TABLE IF EXISTS "accounts" DROP CONSTRAINT IF EXISTS "accounts_user_id_users_id_fk";
--> statement-breakpoint
ALTER TABLE IF EXISTS "sessions" DROP CONSTRAINT IF EXISTS "sessions_user_id_users_id_fk";
--> statement-breakpoint
DROP TABLE IF EXISTS "verifications" CASCADE;
--> statement-breakpoint
DROP TABLE IF EXISTS "accounts" CASCADE;
--> statement-breakpoint
DROP TABLE IF EXISTS "sessions" CASCADE;
--> statement-breakpoint
DROP TABLE IF EXISTS "users" CASCADE;
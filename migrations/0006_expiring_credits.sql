SET LOCAL lock_timeout = '5s';
--> statement-breakpoint
SET LOCAL statement_timeout = '60s';
--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "expiring_ids" text[];
--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "expiring_at" timestamp[];
--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "expiring_left" integer[];
--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "expiring_take" jsonb;
--> statement-breakpoint
ALTER TABLE "teams" ADD COLUMN IF NOT EXISTS "expiring_ids" text[];
--> statement-breakpoint
ALTER TABLE "teams" ADD COLUMN IF NOT EXISTS "expiring_at" timestamp[];
--> statement-breakpoint
ALTER TABLE "teams" ADD COLUMN IF NOT EXISTS "expiring_left" integer[];
--> statement-breakpoint
ALTER TABLE "teams" ADD COLUMN IF NOT EXISTS "expiring_take" jsonb;
--> statement-breakpoint
ALTER TABLE "api_key_credits" ADD COLUMN IF NOT EXISTS "expiring_ids" text[];
--> statement-breakpoint
ALTER TABLE "api_key_credits" ADD COLUMN IF NOT EXISTS "expiring_at" timestamp[];
--> statement-breakpoint
ALTER TABLE "api_key_credits" ADD COLUMN IF NOT EXISTS "expiring_left" integer[];
--> statement-breakpoint
ALTER TABLE "api_key_credits" ADD COLUMN IF NOT EXISTS "expiring_take" jsonb;
--> statement-breakpoint
ALTER TABLE "credit_transactions" ADD COLUMN IF NOT EXISTS "expiring" jsonb;
--> statement-breakpoint
ALTER TABLE "credit_holds" ADD COLUMN IF NOT EXISTS "expiring" jsonb;
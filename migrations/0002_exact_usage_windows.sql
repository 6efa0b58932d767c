SET LOCAL lock_timeout = '5s';
--> statement-breakpoint
SET LOCAL statement_timeout = '60s';
--> statement-breakpoint
ALTER TABLE "api_key_credits" ADD COLUMN IF NOT EXISTS "daily_used" integer DEFAULT 0 NOT NULL;
--> statement-breakpoint
ALTER TABLE "api_key_credits" ADD COLUMN IF NOT EXISTS "daily_window_start" timestamp;
--> statement-breakpoint
ALTER TABLE "api_key_credits" ADD COLUMN IF NOT EXISTS "monthly_used" integer DEFAULT 0 NOT NULL;
--> statement-breakpoint
ALTER TABLE "api_key_credits" ADD COLUMN IF NOT EXISTS "monthly_window_start" timestamp;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "credit_idempotency_keys" (
	"account_kind" text NOT NULL,
	"account_id" text NOT NULL,
	"idempotency_key" text NOT NULL,
	"request_hash" text NOT NULL,
	"response" text NOT NULL,
	"created_at" timestamp NOT NULL,
	CONSTRAINT "credit_idempotency_keys_pk" PRIMARY KEY("account_kind","account_id","idempotency_key")
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "credit_transactions_user_id_created_at_idx" ON "credit_transactions" USING btree ("user_id","created_at","id");
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "credit_transactions_api_key_id_created_at_idx" ON "credit_transactions" USING btree ("api_key_id","created_at","id");
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "credit_transactions_team_id_created_at_idx" ON "credit_transactions" USING btree ("team_id","created_at","id");
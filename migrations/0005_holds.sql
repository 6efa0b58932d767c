SET LOCAL lock_timeout = '5s';
--> statement-breakpoint
SET LOCAL statement_timeout = '60s';
--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "held_credits" integer DEFAULT 0 NOT NULL;
--> statement-breakpoint
ALTER TABLE "teams" ADD COLUMN IF NOT EXISTS "held_credits" integer DEFAULT 0 NOT NULL;
--> statement-breakpoint
ALTER TABLE "api_key_credits" ADD COLUMN IF NOT EXISTS "held_credits" integer DEFAULT 0 NOT NULL;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "credit_holds" (
	"id" text PRIMARY KEY NOT NULL,
	"account_kind" text NOT NULL,
	"account_id" text NOT NULL,
	"user_id" text NOT NULL,
	"team_id" text,
	"api_key_id" text,
	"opened_by" text NOT NULL,
	"amount" integer NOT NULL,
	"captured" integer,
	"state" text NOT NULL,
	"operation" text NOT NULL,
	"resource_id" text,
	"metadata" text,
	"transaction_id" text,
	"daily_window_start" timestamp,
	"monthly_window_start" timestamp,
	"expires_at" timestamp NOT NULL,
	"created_at" timestamp NOT NULL,
	"closed_at" timestamp
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "credit_holds_account_state_expires_at_idx" ON "credit_holds" USING btree ("account_kind","account_id","state","expires_at");
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "credit_holds_state_expires_at_idx" ON "credit_holds" USING btree ("state","expires_at");
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "credit_holds_transaction_id_idx" ON "credit_holds" USING btree ("transaction_id");
SET LOCAL lock_timeout = '5s';
--> statement-breakpoint
SET LOCAL statement_timeout = '60s';
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "api_key_credits_user_id_idx" ON "api_key_credits" USING btree ("user_id");
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "users_team_id_idx" ON "users" USING btree ("team_id");
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "credit_unfulfilled_purchases" (
	"payment_id" text PRIMARY KEY NOT NULL,
	"event_id" text NOT NULL,
	"user_id" text,
	"reason" text NOT NULL,
	"attempts" integer DEFAULT 1 NOT NULL,
	"first_seen_at" timestamp NOT NULL,
	"last_seen_at" timestamp NOT NULL
);
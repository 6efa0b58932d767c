SET LOCAL lock_timeout = '5s';
--> statement-breakpoint
SET LOCAL statement_timeout = '60s';
--> statement-breakpoint
ALTER TABLE "api_key_credits" ADD COLUMN IF NOT EXISTS "key_hash" text;
--> statement-breakpoint
ALTER TABLE "api_key_credits" ADD COLUMN IF NOT EXISTS "start" text;
--> statement-breakpoint
ALTER TABLE "api_key_credits" ADD COLUMN IF NOT EXISTS "name" text;
--> statement-breakpoint
ALTER TABLE "api_key_credits" ADD COLUMN IF NOT EXISTS "expires_at" timestamp;
--> statement-breakpoint
ALTER TABLE "api_key_credits" ADD COLUMN IF NOT EXISTS "revoked_at" timestamp;
--> statement-breakpoint
ALTER TABLE "api_key_credits" ADD COLUMN IF NOT EXISTS "last_used_at" timestamp;
--> statement-breakpoint
ALTER TABLE "api_key_credits" ADD COLUMN IF NOT EXISTS "previous_key_hash" text;
--> statement-breakpoint
ALTER TABLE "api_key_credits" ADD COLUMN IF NOT EXISTS "previous_key_expires_at" timestamp;
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "api_key_credits_key_hash_idx" ON "api_key_credits" USING btree ("key_hash");
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "api_key_credits_previous_key_hash_idx" ON "api_key_credits" USING btree ("previous_key_hash");
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "api_key_credits_team_id_idx" ON "api_key_credits" USING btree ("team_id");
--> statement-breakpoint
WITH legacy AS (
  SELECT k.api_key AS secret, encode(sha256(convert_to(k.api_key, 'UTF8')), 'hex') AS key_hash
  FROM api_key_credits k WHERE k.key_hash IS NULL AND (true)
  ORDER BY k.api_key
  FOR UPDATE OF k
), adopted AS (
  UPDATE api_key_credits k SET api_key = 'key_' || left(l.key_hash, 20), key_hash = l.key_hash,
    start = CASE WHEN length(l.secret) >= 20 THEN left(l.secret, 9) ELSE '' END
  FROM legacy l WHERE k.api_key = l.secret
  RETURNING k.api_key AS id
), relabel_ledger AS (
  UPDATE credit_transactions t SET api_key_id = 'key_' || left(l.key_hash, 20)
  FROM legacy l WHERE t.api_key_id = l.secret
  RETURNING t.id
), relabel_idempotency AS (
  UPDATE credit_idempotency_keys i SET account_id = 'key_' || left(l.key_hash, 20),
    response = replace(i.response, to_json(l.secret)::text, to_json('key_' || left(l.key_hash, 20))::text)
  FROM legacy l WHERE i.account_kind = 'api_key' AND i.account_id = l.secret
  RETURNING 1
)
SELECT (SELECT count(*) FROM adopted)::text AS keys, (SELECT count(*) FROM relabel_ledger)::text AS ledger_rows,
  (SELECT count(*) FROM relabel_idempotency)::text AS idempotency_rows;
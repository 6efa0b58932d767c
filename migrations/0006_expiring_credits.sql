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
--> statement-breakpoint
CREATE OR REPLACE FUNCTION "credit_blocks_left"(lefts integer[], amount integer) RETURNS integer[] LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
  result integer[] := lefts;
  rest integer := amount;
  taken integer;
BEGIN
  FOR i IN 1 .. coalesce(array_length(lefts, 1), 0) LOOP
    EXIT WHEN rest <= 0;
    taken := least(lefts[i], rest);
    result[i] := lefts[i] - taken;
    rest := rest - taken;
  END LOOP;
  RETURN result;
END
$fn$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION "credit_blocks_take"(ids text[], deadlines timestamp[], lefts integer[], amount integer) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
  result jsonb;
  rest integer := amount;
  taken integer;
BEGIN
  FOR i IN 1 .. coalesce(array_length(lefts, 1), 0) LOOP
    EXIT WHEN rest <= 0;
    taken := least(lefts[i], rest);
    IF taken > 0 THEN
      result := coalesce(result, '{}'::jsonb) || jsonb_build_object(ids[i], jsonb_build_array(taken, deadlines[i]));
      rest := rest - taken;
    END IF;
  END LOOP;
  RETURN result;
END
$fn$;
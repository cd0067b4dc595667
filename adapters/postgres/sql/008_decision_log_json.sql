-- The decision log keeps `input` and `output` as `json`, the text each
-- record was answered with, not as `jsonb`. Nothing queries inside them on
-- the write path, and converting about 2 kB of JSON to jsonb was the largest
-- part of what PostgreSQL spent per logged decision (bench/README.md, "The
-- log written with COPY"). Readers lose nothing: `->`, `->>` and
-- json_build_object work on json, and a cast to jsonb is one `::jsonb` away.
--
-- Applied by the migrator after 007 on every run; idempotent, and once done
-- it no longer touches the table. The first run rewrites the table under an
-- exclusive lock: decisions are still answered and published meanwhile, but
-- the projector's inserts and the log's readers wait until it is done, so
-- prune a large log first (`ledger-admin prune-decision-log`). Changing the
-- type resets the columns' compression, so it is set again in the same
-- statement (migration 007's lz4).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_attribute
             WHERE attrelid = 'decision_log.decisions'::regclass
               AND attname IN ('input', 'output') AND atttypid = 'jsonb'::regtype) THEN
    ALTER TABLE decision_log.decisions
      ALTER COLUMN input TYPE json USING input::json,
      ALTER COLUMN output TYPE json USING output::json,
      ALTER COLUMN input SET COMPRESSION lz4,
      ALTER COLUMN output SET COMPRESSION lz4;
  END IF;
END
$$;

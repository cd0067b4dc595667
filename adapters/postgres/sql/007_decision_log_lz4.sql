-- The decision log's input and output are compressed with lz4, not pglz,
-- when a row is large enough to be compressed at all (about 2 kB). pglz
-- was 9% of the projector's PostgreSQL backend under decision load
-- (bench/README.md); lz4 compresses several times faster. Values written
-- before keep their pglz form, which PostgreSQL reads as before; nothing is
-- rewritten. Applied by the migrator after 006 on every run; idempotent, and
-- once done it no longer locks the table.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_attribute
             WHERE attrelid = 'decision_log.decisions'::regclass
               AND attname IN ('input', 'output') AND attcompression IS DISTINCT FROM 'l') THEN
    ALTER TABLE decision_log.decisions
      ALTER COLUMN input SET COMPRESSION lz4,
      ALTER COLUMN output SET COMPRESSION lz4;
  END IF;
END
$$;

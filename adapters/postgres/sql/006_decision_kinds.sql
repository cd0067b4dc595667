-- The decision log records two kinds of answers (commands/decision_log/
-- decision_record.h): admission decisions and, since the shadow check of a
-- candidate entitlement policy version replays them, entitlement checks.
-- Rows from before are admission decisions. Applied by the migrator after
-- 005 on every run; idempotent.
ALTER TABLE decision_log.decisions ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'admission';
CREATE INDEX IF NOT EXISTS decisions_by_kind ON decision_log.decisions (kind, recorded_at, seq);

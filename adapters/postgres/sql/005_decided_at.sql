-- Mutation evidence (seed 001, mutation rule 5): every outcome record keeps
-- the position of the writer's model its command was decided against — the
-- last global position before the command's first event (for a command that
-- changed nothing, the head when it was decided). A retry answers it again.
-- Applied by the migrator after 004 on every run; idempotent. Records
-- written before this column existed keep NULL: nothing is rewritten, and an
-- answer built from such a record says it does not know.
ALTER TABLE ledger.command_outcomes ADD COLUMN IF NOT EXISTS decided_at_position bigint;

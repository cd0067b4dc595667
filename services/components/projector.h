// The projector process: consumes `ledger.events` in its own consumer group
// and applies events to its read model, rows and checkpoint in one
// transaction (ProjectionRunner). Kafka offsets are committed after the
// database commit, so a crash re-reads at most a batch, which the checkpoint
// turns into no-ops.
//
// Rebuild: replays history from position 0 into a schema (emptied first),
// from the PostgreSQL event store or from Kafka at offset 0.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "domain/error.h"

namespace ledger::services {

struct ProjectorOptions {
  std::string pg_url;
  std::string brokers;
  std::string topic = "ledger.events";
  std::string schema = "rm";
  std::string group_id = "ledger-projector-policy-values";
  std::size_t batch_size = 1000;
};

void run_projector(const ProjectorOptions& options, const std::atomic<bool>& stop);

// Applies what the event store holds beyond the schema's checkpoint (no
// Kafka); returns the checkpoint reached.
domain::Result<std::int64_t> catch_up_from_store(const ProjectorOptions& options);

enum class RebuildSource { kPostgres, kKafka };
// Returns the checkpoint reached (the head of history at the time).
domain::Result<std::int64_t> rebuild(const ProjectorOptions& options, RebuildSource source);

}  // namespace ledger::services

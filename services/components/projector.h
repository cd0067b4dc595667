// The projector process: consumes `ledger.events` in its own consumer group
// and applies each batch to every read model it maintains (policy values,
// audit), each through its own ProjectionRunner: rows and that projection's
// checkpoint in one transaction. Kafka offsets are committed only after every
// projection committed the batch, so a crash re-reads at most a batch, which
// the checkpoints turn into no-ops. A projection that finds a gap (e.g. one
// added after the consumer group had moved on) is caught up from the
// PostgreSQL event store, then Kafka consumption resumes.
//
// Rebuild: replays history from position 0 into a schema (emptied first),
// from the PostgreSQL event store or from Kafka at offset 0, for every read
// model (or the ones named in `read_models`).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/kafka/kafka.h"
#include "domain/error.h"

namespace ledger::services {

struct ProjectorOptions {
  std::string pg_url;
  std::string brokers;
  adapters::kafka::KafkaSecurity kafka_security{};  // this service's own principal
  std::string topic = "ledger.events";
  std::string schema = "rm";
  std::string group_id = "ledger-projector-policy-values";
  std::size_t batch_size = 1000;
  // Projection names (see read_models()); empty = all of them.
  std::vector<std::string> read_models{};
};

// Every read model the projector maintains: its projection (checkpoint)
// name and the tables it writes, in the order batches are applied.
struct ReadModelInfo {
  std::string_view projection;
  std::vector<std::string_view> tables;
};
const std::vector<ReadModelInfo>& read_models();
// kInvalidArgument `unknown_read_model` for a name not in read_models().
domain::Result<void> check_read_model_names(const std::vector<std::string>& names);

// Catches up from the event store once (a newly added read model is built at
// start), then follows Kafka until `stop`.
void run_projector(const ProjectorOptions& options, const std::atomic<bool>& stop);

// Applies what the event store holds beyond the schema's checkpoints (no
// Kafka); returns the checkpoint reached (the lowest of the read models').
domain::Result<std::int64_t> catch_up_from_store(const ProjectorOptions& options);

enum class RebuildSource { kPostgres, kKafka };
// Returns the checkpoint reached (the head of history at the time; the lowest
// of the read models'). An unknown name in `read_models` is kInvalidArgument
// `unknown_read_model`.
domain::Result<std::int64_t> rebuild(const ProjectorOptions& options, RebuildSource source);

}  // namespace ledger::services

// The projector process over Kafka and PostgreSQL: the loop of
// projections/projector.h with `ledger.events` (its own consumer group) as
// its EventFeed, the event store as its EventHistory and the `rm` schema as
// its ReadModelStore. It applies each batch to every read model it maintains (policy values,
// audit), each through its own ProjectionRunner: rows and that projection's
// checkpoint in one transaction. Kafka offsets are committed only after every
// projection committed the batch, so a crash re-reads at most a batch, which
// the checkpoints turn into no-ops. A projection that finds a gap (e.g. one
// added after the consumer group had moved on) is caught up from the
// PostgreSQL event store, then Kafka consumption resumes.
//
// Every record from Kafka passes a projections::ChainGuard before any read
// model sees it (invariant 8): junk is skipped, a record whose hash or link
// to the previous event does not check is never applied, the true event for
// that position is read from the event store and applied instead, and each
// such case raises an alarm: a log line (`chain alarm: reason=...`; past
// the first eight of a batch, one line counts the rest by reason), the
// counter `ledger_projector_chain_alarms_total{reason}` and a detail in
// readiness (ProjectorStatus, served by ledger-projector's status port).
//
// Rebuild: replays history from position 0 into a schema (emptied first),
// from the PostgreSQL event store or from Kafka at offset 0, for every read
// model (or the ones named in `read_models`). From Kafka, through the same
// ChainGuard: its alarms are returned to the caller (the auditor's replay).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/http/http_types.h"
#include "adapters/kafka/kafka.h"
#include "adapters/metrics/metrics.h"
#include "domain/error.h"
#include "projections/projector.h"

namespace ledger::projector {

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

// The projector's loop, the read-model list and the status it reports live
// in projections/projector.h; these names are kept here for its callers.
using projections::check_read_model_names;
using projections::ProjectorStatus;
using projections::read_models;
using projections::ReadModelInfo;

// GET /healthz (200), /readyz (200 while consuming, else 503; body
// readiness_json()) and /metrics (`metrics` in Prometheus text, with
// ledger_projector_chain_alarms_total{reason}, ledger_projector_checkpoint
// and ledger_projector_consuming read from `status` when scraped); anything
// else 404. Both must outlive the handler.
adapters::http::HttpHandler projector_status_routes(const ProjectorStatus& status,
                                                    adapters::metrics::Registry& metrics);

// Catches up from the event store once (a newly added read model is built at
// start), then follows Kafka until `stop`, reporting to `status` if given.
void run_projector(const ProjectorOptions& options, const std::atomic<bool>& stop, ProjectorStatus* status = nullptr);

// Applies what the event store holds beyond the schema's checkpoints (no
// Kafka); returns the checkpoint reached (the lowest of the read models').
domain::Result<events::GlobalPosition> catch_up_from_store(const ProjectorOptions& options);

enum class RebuildSource { kPostgres, kKafka };
// Returns the checkpoint reached (the head of history at the time; the lowest
// of the read models'). An unknown name in `read_models` is kInvalidArgument
// `unknown_read_model`.
// From Kafka, every alarm of the chain guard is logged and, with `alarms`,
// appended there.
domain::Result<events::GlobalPosition> rebuild(const ProjectorOptions& options, RebuildSource source,
                                               std::vector<projections::ChainAlarm>* alarms = nullptr);

}  // namespace ledger::projector

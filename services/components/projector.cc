#include "services/components/projector.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <span>
#include <thread>

#include "adapters/kafka/kafka.h"
#include "adapters/postgres/event_store.h"
#include "adapters/postgres/read_model_store.h"
#include "events/codec/json_codec.h"
#include "projections/admission_projection.h"
#include "projections/audit_projection.h"
#include "projections/policy_values_projection.h"

namespace ledger::services {

namespace {

domain::Result<std::vector<events::RecordedEvent>> decode_batch(const std::vector<adapters::kafka::KafkaMessage>& msgs) {
  std::vector<events::RecordedEvent> out;
  out.reserve(msgs.size());
  for (const auto& m : msgs) {
    auto r = codec::recorded_from_text(m.value);
    if (!r) {
      domain::Error e{domain::ErrorKind::kInternal, "undecodable_record", r.error(), {}};
      e.with("offset", std::to_string(m.offset));
      return std::unexpected(std::move(e));
    }
    out.push_back(std::move(*r));
  }
  return out;
}

// The projections of one process over one read-model schema, each with its
// own runner (and so its own checkpoint). Not movable: runners refer to the
// projections and the store.
class ProjectionSet {
 public:
  static domain::Result<std::unique_ptr<ProjectionSet>> create(const ProjectorOptions& options) {
    std::unique_ptr<ProjectionSet> set(new ProjectionSet(options));
    if (auto ok = check_read_model_names(options.read_models); !ok) return std::unexpected(ok.error());
    for (const projections::Projection* p : {static_cast<const projections::Projection*>(&set->policy_values_),
                                             static_cast<const projections::Projection*>(&set->audit_),
                                             static_cast<const projections::Projection*>(&set->admission_)}) {
      const bool wanted = options.read_models.empty() ||
                          std::find(options.read_models.begin(), options.read_models.end(), p->name()) !=
                              options.read_models.end();
      if (wanted) set->runners_.emplace_back(*p, set->store_);
    }
    return set;
  }
  ProjectionSet(const ProjectionSet&) = delete;
  ProjectionSet& operator=(const ProjectionSet&) = delete;

  // Applies the batch to every projection (each skips what it already has).
  // All are tried even when one fails, so one failing read model does not
  // hold back the others; the first error is returned and the caller re-reads.
  domain::Result<projections::ApplyStats> apply(std::span<const events::RecordedEvent> batch) {
    std::optional<domain::Error> first_error;
    projections::ApplyStats total;
    bool any = false;
    for (auto& runner : runners_) {
      auto r = runner.apply(batch);
      if (!r) {
        if (!first_error) first_error = r.error();
        continue;
      }
      total.applied += r->applied;
      total.skipped += r->skipped;
      total.checkpoint = any ? std::min(total.checkpoint, r->checkpoint) : r->checkpoint;
      any = true;
    }
    if (first_error) return std::unexpected(std::move(*first_error));
    return total;
  }

  // The lowest checkpoint: every projection has applied history up to it.
  domain::Result<std::int64_t> checkpoint() {
    std::optional<std::int64_t> low;
    for (auto& runner : runners_) {
      auto c = runner.checkpoint();
      if (!c) return c;
      low = low ? std::min(*low, *c) : *c;
    }
    return low.value_or(0);
  }

 private:
  explicit ProjectionSet(const ProjectorOptions& options) : store_(options.pg_url, options.schema) {}

  projections::PolicyValuesProjection policy_values_;
  projections::AuditProjection audit_;
  projections::AdmissionProjection admission_;
  adapters::postgres::PgReadModelStore store_;
  std::vector<projections::ProjectionRunner> runners_;
};

domain::Result<std::int64_t> catch_up(ProjectionSet& set, adapters::postgres::PgEventReader& reader,
                                      std::size_t batch_size) {
  auto head = reader.head_position();
  if (!head) return std::unexpected(head.error());
  auto at = set.checkpoint();
  if (!at) return at;
  while (*at < *head) {
    auto batch = reader.read_after(*at, batch_size);
    if (!batch) return std::unexpected(batch.error());
    if (batch->empty()) break;
    auto applied = set.apply(*batch);
    if (!applied) return std::unexpected(applied.error());
    auto next = set.checkpoint();
    if (!next) return next;
    if (*next <= *at) break;  // no progress: let the caller see where it stands
    at = next;
  }
  return *at;
}

}  // namespace

const std::vector<ReadModelInfo>& read_models() {
  static const std::vector<ReadModelInfo> kReadModels = {
      {projections::PolicyValuesProjection::kName, {"policy_keys", "policy_values"}},
      {projections::AuditProjection::kName, {projections::AuditProjection::kTable}},
      {projections::AdmissionProjection::kName,
       {projections::AdmissionProjection::tables().begin(), projections::AdmissionProjection::tables().end()}},
  };
  return kReadModels;
}

domain::Result<void> check_read_model_names(const std::vector<std::string>& names) {
  const auto& known = read_models();
  for (const auto& name : names) {
    if (std::none_of(known.begin(), known.end(), [&](const ReadModelInfo& m) { return m.projection == name; })) {
      std::string list;
      for (const auto& m : known) list += (list.empty() ? "" : ", ") + std::string(m.projection);
      domain::Error e{domain::ErrorKind::kInvalidArgument, "unknown_read_model",
                      "no read model named '" + name + "' (known: " + list + ")", {}};
      e.with("read_model", name);
      return std::unexpected(std::move(e));
    }
  }
  return {};
}

void run_projector(const ProjectorOptions& options, const std::atomic<bool>& stop) {
  using namespace std::chrono_literals;
  namespace kafka = adapters::kafka;
  // Start from what the store holds: a read model added by an upgrade (its
  // checkpoint at 0 while the consumer group is at the end of the topic) is
  // built now instead of waiting for the next event to reveal the gap. What
  // Kafka then delivers again is skipped by the checkpoints.
  if (auto caught = catch_up_from_store(options); caught) {
    spdlog::info("projector: caught up from the event store to position {}", *caught);
  } else {
    spdlog::warn("projector: catch-up from the store failed, Kafka will do: {}", caught.error().message);
  }
  auto set = ProjectionSet::create(options);
  if (!set) {
    spdlog::critical("projector: {}", set.error().message);
    return;
  }
  auto& models = **set;
  std::unique_ptr<kafka::KafkaConsumer> consumer;

  while (!stop) {
    if (!consumer) {
      auto c = kafka::KafkaConsumer::create({.brokers = options.brokers,
                                             .security = options.kafka_security,
                                             .group_id = options.group_id,
                                             .topics = {options.topic},
                                             .client_id = "ledger-projector"});
      if (!c) {
        spdlog::warn("projector: consumer unavailable: {}", c.error().message);
        std::this_thread::sleep_for(1s);
        continue;
      }
      consumer = std::move(*c);
    }
    auto msgs = consumer->poll(options.batch_size, 200ms);
    if (!msgs) {
      spdlog::warn("projector: poll failed: {}", msgs.error().message);
      consumer.reset();
      std::this_thread::sleep_for(1s);
      continue;
    }
    if (msgs->empty()) continue;
    auto batch = decode_batch(*msgs);
    domain::Result<projections::ApplyStats> applied =
        batch ? models.apply(*batch) : domain::Result<projections::ApplyStats>(std::unexpected(batch.error()));
    if (!applied) {
      // Some projection did not write the batch; re-read it from the
      // committed offset (the others skip it then).
      spdlog::error("projector: batch not applied: {} ({})", applied.error().message, applied.error().code);
      if (applied.error().code == "position_gap") {
        // A projection is behind the consumer group's offsets (e.g. a read
        // model added later): bring it up from the event store first.
        adapters::postgres::PgEventReader reader(options.pg_url);
        if (auto at = catch_up(models, reader, options.batch_size); at) {
          spdlog::info("projector: caught up from the event store to position {}", *at);
        } else {
          spdlog::warn("projector: catch-up from the event store failed: {}", at.error().message);
        }
      }
      consumer.reset();
      std::this_thread::sleep_for(500ms);
      continue;
    }
    spdlog::debug("projector: applied {} skipped {} checkpoint {}", applied->applied, applied->skipped,
                  applied->checkpoint);
    // Every projection committed the batch: only now move the offsets.
    if (auto ok = consumer->commit(*msgs); !ok) {
      spdlog::warn("projector: offset commit failed (harmless, the checkpoint dedupes): {}", ok.error().message);
    }
  }
  if (consumer) consumer->close();
}

domain::Result<std::int64_t> catch_up_from_store(const ProjectorOptions& options) {
  auto set = ProjectionSet::create(options);
  if (!set) return std::unexpected(set.error());
  adapters::postgres::PgEventReader reader(options.pg_url);
  return catch_up(**set, reader, options.batch_size);
}

domain::Result<std::int64_t> rebuild(const ProjectorOptions& options, RebuildSource source) {
  using namespace std::chrono_literals;
  // Refuse unknown names before anything is dropped.
  if (auto set = ProjectionSet::create(options); !set) return std::unexpected(set.error());
  if (auto ok = adapters::postgres::prepare_read_model_schema(options.pg_url, options.schema, /*reset=*/true); !ok) {
    return std::unexpected(ok.error());
  }
  if (source == RebuildSource::kPostgres) return catch_up_from_store(options);

  auto set = ProjectionSet::create(options);
  if (!set) return std::unexpected(set.error());
  auto& models = **set;
  auto r = adapters::kafka::KafkaPartitionReader::create(
      {.brokers = options.brokers, .security = options.kafka_security, .topic = options.topic, .partition = 0, .start_offset = 0});
  if (!r) return std::unexpected(r.error());
  auto& kreader = **r;
  auto end = kreader.high_watermark(10s);
  if (!end) return std::unexpected(end.error());
  std::int64_t next_offset = 0;
  while (next_offset < *end) {
    auto msgs = kreader.poll(options.batch_size, 1s);
    if (!msgs) return std::unexpected(msgs.error());
    if (msgs->empty()) continue;
    next_offset = msgs->back().offset + 1;
    auto batch = decode_batch(*msgs);
    if (!batch) return std::unexpected(batch.error());
    auto applied = models.apply(*batch);
    if (!applied) return std::unexpected(applied.error());
  }
  return models.checkpoint();
}

}  // namespace ledger::services

#include "services/components/projector.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "adapters/kafka/kafka.h"
#include "adapters/postgres/event_store.h"
#include "adapters/postgres/read_model_store.h"
#include "events/codec/json_codec.h"
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

}  // namespace

void run_projector(const ProjectorOptions& options, const std::atomic<bool>& stop) {
  using namespace std::chrono_literals;
  namespace kafka = adapters::kafka;
  projections::PolicyValuesProjection projection;
  adapters::postgres::PgReadModelStore store(options.pg_url, options.schema);
  projections::ProjectionRunner runner(projection, store);
  std::unique_ptr<kafka::KafkaConsumer> consumer;

  while (!stop) {
    if (!consumer) {
      auto c = kafka::KafkaConsumer::create({.brokers = options.brokers,
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
        batch ? runner.apply(*batch) : domain::Result<projections::ApplyStats>(std::unexpected(batch.error()));
    if (!applied) {
      // Nothing of the batch was written; re-read it from the committed offset.
      spdlog::error("projector: batch not applied: {} ({})", applied.error().message, applied.error().code);
      consumer.reset();
      std::this_thread::sleep_for(500ms);
      continue;
    }
    spdlog::debug("projector: applied {} skipped {} checkpoint {}", applied->applied, applied->skipped,
                  applied->checkpoint);
    if (auto ok = consumer->commit(*msgs); !ok) {
      spdlog::warn("projector: offset commit failed (harmless, the checkpoint dedupes): {}", ok.error().message);
    }
  }
  if (consumer) consumer->close();
}

domain::Result<std::int64_t> catch_up_from_store(const ProjectorOptions& options) {
  projections::PolicyValuesProjection projection;
  adapters::postgres::PgReadModelStore store(options.pg_url, options.schema);
  projections::ProjectionRunner runner(projection, store);
  adapters::postgres::PgEventReader reader(options.pg_url);
  auto head = reader.head_position();
  if (!head) return std::unexpected(head.error());
  auto at = runner.checkpoint();
  if (!at) return at;
  while (*at < *head) {
    auto batch = reader.read_after(*at, options.batch_size);
    if (!batch) return std::unexpected(batch.error());
    if (batch->empty()) break;
    auto applied = runner.apply(*batch);
    if (!applied) return std::unexpected(applied.error());
    *at = applied->checkpoint;
  }
  return *at;
}

domain::Result<std::int64_t> rebuild(const ProjectorOptions& options, RebuildSource source) {
  using namespace std::chrono_literals;
  if (auto ok = adapters::postgres::prepare_read_model_schema(options.pg_url, options.schema, /*reset=*/true); !ok) {
    return std::unexpected(ok.error());
  }
  if (source == RebuildSource::kPostgres) return catch_up_from_store(options);

  projections::PolicyValuesProjection projection;
  adapters::postgres::PgReadModelStore store(options.pg_url, options.schema);
  projections::ProjectionRunner runner(projection, store);
  auto r = adapters::kafka::KafkaPartitionReader::create(
      {.brokers = options.brokers, .topic = options.topic, .partition = 0, .start_offset = 0});
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
    auto applied = runner.apply(*batch);
    if (!applied) return std::unexpected(applied.error());
  }
  return runner.checkpoint();
}

}  // namespace ledger::services

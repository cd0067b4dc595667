#include "adapters/projector/memory_feed.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <thread>

#include "adapters/postgres/event_store.h"
#include "adapters/projector/projector.h"
#include "projections/chain_guard.h"

namespace ledger::projector {

namespace {

using namespace std::chrono_literals;

class StoreHistory final : public projections::TrueHistory {
 public:
  explicit StoreHistory(adapters::postgres::PgEventReader& reader) : reader_(reader) {}
  domain::Result<std::vector<events::RecordedEvent>> read_after(events::GlobalPosition after,
                                                                std::size_t limit) override {
    return reader_.read_after(after, limit);
  }

 private:
  adapters::postgres::PgEventReader& reader_;
};

domain::Result<events::GlobalPosition> load(adapters::postgres::PgEventReader& reader,
                                            projections::AdmissionStore& store, std::size_t batch_size) {
  auto head = reader.head_position();
  if (!head) return std::unexpected(head.error());
  while (store.position() < *head) {
    auto batch = reader.read_after(store.position(), batch_size);
    if (!batch) return std::unexpected(batch.error());
    if (batch->empty()) break;
    if (auto ok = store.apply(*batch); !ok) return std::unexpected(ok.error());
  }
  return store.position();
}

// Sleeps up to `d`, waking early on stop.
void pause(const std::atomic<bool>& stop, std::chrono::milliseconds d) {
  for (auto left = d; left > 0ms && !stop; left -= 10ms) std::this_thread::sleep_for(std::min(left, 10ms));
}

void follow_store(const MemoryFeedOptions& options, projections::AdmissionStore& store,
                  adapters::postgres::PgEventReader& reader, const std::atomic<bool>& stop) {
  while (!stop) {
    auto batch = reader.read_after(store.position(), options.batch_size);
    if (!batch) {
      spdlog::warn("memory read model: reading the event store failed: {}", batch.error().message);
      pause(stop, 1000ms);
      continue;
    }
    if (batch->empty()) {
      reader.wait_for_commit(200ms);
      continue;
    }
    if (auto ok = store.apply(*batch); !ok) {
      spdlog::error("memory read model: batch not applied: {} ({})", ok.error().message, ok.error().code);
      pause(stop, 500ms);
    }
  }
}

void follow_kafka(const MemoryFeedOptions& options, projections::AdmissionStore& store,
                  adapters::postgres::PgEventReader& reader, const std::atomic<bool>& stop) {
  namespace kafka = adapters::kafka;
  StoreHistory history(reader);
  projections::ChainGuard guard(history);
  projections::ChainAlarmLog alarm_log;
  std::unique_ptr<kafka::KafkaConsumer> consumer;
  while (!stop) {
    if (!consumer) {
      auto c = kafka::KafkaConsumer::create({.brokers = options.brokers,
                                             .security = options.kafka_security,
                                             .group_id = options.group_id,
                                             .topics = {options.topic},
                                             .client_id = "ledger-query"});
      if (!c) {
        spdlog::warn("memory read model: consumer unavailable: {}", c.error().message);
        pause(stop, 1000ms);
        continue;
      }
      consumer = std::move(*c);
    }
    auto msgs = consumer->poll(options.batch_size, 200ms);
    if (!msgs) {
      spdlog::warn("memory read model: poll failed: {}", msgs.error().message);
      consumer.reset();
      pause(stop, 1000ms);
      continue;
    }
    if (msgs->empty()) {
      alarm_log.raise({}, nullptr);  // counts held back are logged once their interval has passed
      continue;
    }
    // The guard continues the chain from the store's position.
    domain::Result<void> anchored;
    if (!guard.anchored()) anchored = guard.anchor(store.position());
    std::vector<projections::FeedRecord> records;
    records.reserve(msgs->size());
    for (const auto& m : *msgs) records.push_back({m.offset, m.value});
    auto guarded =
        anchored ? guard.admit(records) : domain::Result<projections::Guarded>(std::unexpected(anchored.error()));
    if (guarded) alarm_log.raise(guarded->alarms, nullptr);
    auto applied = guarded ? store.apply(guarded->events) : domain::Result<void>(std::unexpected(guarded.error()));
    if (!applied) {
      guard.unanchor();
      spdlog::error("memory read model: batch not applied: {} ({})", applied.error().message, applied.error().code);
      if (applied.error().code == "position_gap") {
        if (auto at = load(reader, store, options.batch_size); !at) {
          spdlog::warn("memory read model: catch-up from the event store failed: {}", at.error().message);
        }
      }
      consumer.reset();
      pause(stop, 500ms);
      continue;
    }
    if (auto ok = consumer->commit(*msgs); !ok) {
      spdlog::warn("memory read model: offset commit failed (harmless, positions dedupe): {}", ok.error().message);
    }
  }
  if (consumer) consumer->close();
}

}  // namespace

domain::Result<events::GlobalPosition> load_from_store(const std::string& pg_url, projections::AdmissionStore& store,
                                                       std::size_t batch_size) {
  adapters::postgres::PgEventReader reader(pg_url);
  return load(reader, store, batch_size);
}

void run_memory_feed(const MemoryFeedOptions& options, projections::AdmissionStore& store,
                     const std::atomic<bool>& stop) {
  adapters::postgres::PgEventReader reader(options.pg_url);
  // The start snapshot: the event store up to its head now. Until it is
  // applied, nothing is answered from memory.
  while (!stop && !store.ready()) {
    auto at = load(reader, store, options.batch_size);
    if (!at) {
      spdlog::warn("memory read model: loading from the event store failed: {}", at.error().message);
      pause(stop, 1000ms);
      continue;
    }
    store.settle();
    store.mark_ready();
    spdlog::info("memory read model: ready at position {} ({} scope nodes)", at->value,
                 store.snapshot()->admission.node_count());
  }
  if (options.tail == MemoryFeedOptions::Tail::kStore) {
    follow_store(options, store, reader, stop);
  } else {
    follow_kafka(options, store, reader, stop);
  }
}

}  // namespace ledger::projector

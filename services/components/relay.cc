#include "services/components/relay.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "adapters/kafka/kafka.h"
#include "adapters/postgres/event_store.h"
#include "events/codec/json_codec.h"

namespace ledger::services {

void run_relay(const RelayOptions& options, const std::atomic<bool>& stop) {
  using namespace std::chrono_literals;
  namespace kafka = adapters::kafka;
  adapters::postgres::PgEventReader reader(options.pg_url);
  adapters::postgres::PgRelayCheckpoint checkpoint(options.pg_url, options.name);
  std::unique_ptr<kafka::KafkaProducer> producer;
  std::optional<std::int64_t> published;  // durable position, once loaded

  auto back_off = [&](const char* what, const domain::Error& e) {
    spdlog::warn("relay: {} failed: {} ({})", what, e.message, e.code);
    published.reset();  // start again from the durable position
    std::this_thread::sleep_for(500ms);
  };

  while (!stop) {
    if (!published) {
      auto p = checkpoint.load();
      if (!p) {
        back_off("loading the checkpoint", p.error());
        continue;
      }
      published = *p;
      spdlog::info("relay: publishing from position {}", *published);
    }
    if (!producer) {
      auto p = kafka::KafkaProducer::create({.brokers = options.brokers, .security = options.kafka_security, .client_id = "ledger-relay"});
      if (!p) {
        back_off("creating the producer", p.error());
        continue;
      }
      producer = std::move(*p);
    }
    auto batch = reader.read_after(*published, options.batch_size);
    if (!batch) {
      back_off("reading events", batch.error());
      continue;
    }
    if (batch->empty()) {
      reader.wait_for_commit(1s);
      continue;
    }
    bool ok = true;
    for (const auto& r : *batch) {
      auto sent = producer->produce(options.topic, r.meta.tenant, codec::to_json_text(r),
                                    {{"event_id", r.meta.event_id},
                                     {"global_position", std::to_string(r.meta.global_position)},
                                     {"event_type", r.event_type}});
      if (!sent) {
        back_off("producing", sent.error());
        ok = false;
        break;
      }
    }
    if (!ok) {
      producer.reset();  // a fresh producer session: nothing half-sent survives
      continue;
    }
    if (auto flushed = producer->flush(30s); !flushed) {
      producer.reset();
      back_off("delivering to Kafka", flushed.error());
      continue;
    }
    const std::int64_t last = batch->back().meta.global_position;
    if (auto stored = checkpoint.store(last); !stored) {
      back_off("storing the checkpoint", stored.error());
      continue;
    }
    published = last;
    spdlog::debug("relay: published up to {}", last);
  }
}

}  // namespace ledger::services

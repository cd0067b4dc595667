// The relay process over the real stores: the PostgreSQL event store as the
// relay's EventSource, `ledger.events` on Kafka as its EventPublisher
// (idempotent producer, acks=all; keyed by tenant, with `event_id`,
// `global_position` and `event_type` in the record headers) and its
// PostgreSQL checkpoint. The loop itself, and its guarantees, are
// commands/relay/relay.h.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "adapters/kafka/kafka.h"
#include "commands/relay/ports.h"
#include "commands/relay/relay.h"

namespace ledger::relay {

struct RelayOptions {
  std::string pg_url;
  std::string brokers;
  adapters::kafka::KafkaSecurity kafka_security{};  // this service's own principal
  std::string topic = "ledger.events";
  std::string name = "ledger.events";  // checkpoint key
  std::size_t batch_size = 1000;
};

// `ledger.events` on Kafka. A producer is created on first use and dropped
// after any failure, so the next publish starts a fresh producer session.
class KafkaEventPublisher final : public EventPublisher {
 public:
  KafkaEventPublisher(std::string brokers, adapters::kafka::KafkaSecurity security, std::string topic);
  ~KafkaEventPublisher() override;
  domain::Result<void> publish(std::span<const events::RecordedEvent> batch) override;

 private:
  std::string brokers_;
  adapters::kafka::KafkaSecurity security_;
  std::string topic_;
  std::unique_ptr<adapters::kafka::KafkaProducer> producer_;
};

// Runs the relay until `stop`, telling `observe` each step.
void run_relay(const RelayOptions& options, const std::atomic<bool>& stop, const StepObserver& observe = {});

}  // namespace ledger::relay

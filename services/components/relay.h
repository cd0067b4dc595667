// The relay: tails committed events in global order and publishes them to
// `ledger.events` (idempotent producer, acks=all), keyed by tenant, with
// `event_id`, `global_position` and `event_type` in the record headers.
//
// It stores the position it has published up to in PostgreSQL only after
// Kafka acknowledged everything up to it, and starts from there: after a
// crash it re-publishes at most the last unacknowledged batch (duplicates
// are allowed, loss and reordering are not). On any Kafka or database failure
// it goes back to its durable position and tries again.
#pragma once

#include <atomic>
#include <string>

#include "adapters/kafka/kafka.h"

namespace ledger::services {

struct RelayOptions {
  std::string pg_url;
  std::string brokers;
  adapters::kafka::KafkaSecurity kafka_security{};  // this service's own principal
  std::string topic = "ledger.events";
  std::string name = "ledger.events";  // checkpoint key
  std::size_t batch_size = 1000;
};

void run_relay(const RelayOptions& options, const std::atomic<bool>& stop);

}  // namespace ledger::services

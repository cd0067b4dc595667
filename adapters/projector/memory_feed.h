// The apply loop of the query service's in-memory read models
// (projections/admission/admission_store.h): starts from a snapshot of the
// ledger — every event the PostgreSQL event store holds up to its head at
// start — then follows the tail of `ledger.events` in the query service's
// OWN consumer group, through a projections::ChainGuard like every consumer
// of the topic (junk skipped, a record whose hash or link does not check is
// replaced by the true event from the store, each case a `chain alarm` log
// line). The store is marked ready once the start snapshot is applied:
// before that the routes answer 503 `snapshot_not_ready`.
//
// Offsets are committed after the batch is applied; a restart starts from
// the store's head again, so what Kafka re-delivers is skipped by position.
// `Tail::kStore` follows the event store instead of Kafka (polling
// read_after), for a principal that may not read the topic.
//
//   std::atomic<bool> stop{false};
//   std::thread feed([&] { run_memory_feed(options, store, stop); });
//
// Runs on the calling thread until `stop`; retries every failure (logged).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "adapters/kafka/kafka.h"
#include "domain/error.h"
#include "projections/admission/admission_store.h"

namespace ledger::projector {

struct MemoryFeedOptions {
  enum class Tail { kKafka, kStore };
  std::string pg_url;
  std::string brokers;
  adapters::kafka::KafkaSecurity kafka_security{};  // this service's own principal
  std::string topic = "ledger.events";
  std::string group_id = "ledger-query";
  std::size_t batch_size = 1000;
  Tail tail = Tail::kKafka;
};

// Applies the event store's events up to its head (read when called) to
// `store`; returns the position reached. Does not mark it ready.
domain::Result<events::GlobalPosition> load_from_store(const std::string& pg_url, projections::AdmissionStore& store,
                                                       std::size_t batch_size = 1000);

void run_memory_feed(const MemoryFeedOptions& options, projections::AdmissionStore& store,
                     const std::atomic<bool>& stop);

}  // namespace ledger::projector

// The decision log on Kafka (issue 13 part 6).
//
//   DecisionLogPublisher  in ledger-query: one thread drains the
//                         DecisionLogBuffer in batches (up to `batch_max`)
//                         and publishes them to `ledger.decisions`: one
//                         Kafka record per organization (and up to 200
//                         decisions), a JSON array in answer order, keyed
//                         by organization id (one tenant's records stay in
//                         order on one partition), then flushes.
//                         The decision path only pushes into the buffer.
//                         A batch Kafka refuses is retried (with backoff)
//                         until it is delivered or the service stops; while
//                         it waits the buffer fills and drops, counted.
//   run_decision_log_projector  in ledger-projector: consumes the topic in
//                         its own group and inserts the records into
//                         decision_log.decisions (adapters/postgres/
//                         decision_log_store.h; a Kafka record is an array
//                         of decision records or one), committing offsets only
//                         after the insert: at-least-once, and a redelivered
//                         record is stored once (keyed by decision_id). A
//                         record that is not a decision record is logged and
//                         skipped.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

#include "adapters/kafka/kafka.h"
#include "adapters/postgres/decision_log_store.h"
#include "commands/decision_log/decision_log_buffer.h"

namespace ledger::adapters::kafka {

class DecisionLogPublisher {
 public:
  struct Options {
    std::string brokers;
    KafkaSecurity security{};
    std::string topic = "ledger.decisions";
    std::size_t batch_max = 1000;
  };
  // Starts the draining thread.
  DecisionLogPublisher(Options options, commands::DecisionLogBuffer& buffer);
  // Closes the buffer, publishes what it still holds (bounded by a few
  // seconds of retries) and joins.
  ~DecisionLogPublisher();
  DecisionLogPublisher(const DecisionLogPublisher&) = delete;
  DecisionLogPublisher& operator=(const DecisionLogPublisher&) = delete;

  std::uint64_t published() const { return published_.load(); }
  std::uint64_t failed_batches() const { return failed_.load(); }

 private:
  void run();

  Options options_;
  commands::DecisionLogBuffer& buffer_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> published_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::thread thread_;
};

struct DecisionLogProjectorOptions {
  std::string brokers;
  KafkaSecurity security{};
  std::string topic = "ledger.decisions";
  std::string group_id = "ledger-projector-decisions";
};

// Until `stop`; throws nothing it can handle itself (database or Kafka
// outages are logged and retried).
void run_decision_log_projector(const DecisionLogProjectorOptions& options, postgres::PgDecisionLog& log,
                                const std::atomic<bool>& stop);

}  // namespace ledger::adapters::kafka

// The decision log on Kafka (issue 13 part 6).
//
//   DecisionLogPublisher  in ledger-query: one thread drains the
//                         DecisionLogBuffer in batches (up to `batch_max`,
//                         waiting up to `linger` for one to fill)
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
//                         its own group (fetches held by the broker up to
//                         `fetch_wait_ms` to fill) and inserts the records into
//                         decision_log.decisions (adapters/postgres/
//                         decision_log_store.h; a Kafka record is an array
//                         of decision records or one), committing offsets only
//                         after the insert: at-least-once, and a redelivered
//                         record is stored once (keyed by decision_id). A
//                         record that is not a decision record is logged and
//                         skipped (read_decision_log_value), and so is one
//                         PostgreSQL refuses: a batch the database refuses
//                         is stored record by record, so one bad record
//                         never holds back its neighbours or the topic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/kafka/kafka.h"
#include "adapters/postgres/decision_log_store.h"
#include "commands/decision_log/decision_log_buffer.h"
#include "projections/log_budget.h"

namespace ledger::adapters::kafka {

class DecisionLogPublisher {
 public:
  struct Options {
    std::string brokers;
    KafkaSecurity security{};
    std::string topic = "ledger.decisions";
    // Records per batch, each batch published and then flushed: the wait
    // for the broker's acknowledgement is per batch, so under load it is
    // what bounds the log's rate. On this 2-core machine (issue 12),
    // batches of 1,000 published some 35,000 records/s and the buffer
    // dropped half of a batched load of 70,000 decisions/s; of 10,000 it
    // kept up. At most this many records (about 2 KB each) are in flight.
    std::size_t batch_max = 10000;
    // After a batch's first record, how long the publisher waits for more
    // (up to batch_max) before it publishes. Each batch costs a produce
    // request, its acknowledgement and a fetch on the broker, and each
    // fetched batch an insert and an offset commit: at 5,000 decisions/s,
    // batches of a few records cost the broker and PostgreSQL more than
    // the query service spent deciding them. Records reach the log this
    // much later.
    std::chrono::milliseconds linger{20};
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

// The decision records of one `ledger.decisions` value: a JSON array of
// records, or one record. Every record is checked as
// decision_record_from_json checks it, and more strictly where PostgreSQL
// would refuse it later: `recorded_at` and `as_of` RFC 3339 instants,
// `snapshot_version` a signed 64-bit integer, no member of the record
// twice, no U+0000 in any string or key. A record that passes keeps its
// scalar fields and the texts of its input and output in `input_json` and
// `output_json` (compact, written from simdjson's parse: no nlohmann tree is
// built); `input`, `output` and `encoded` stay empty. A record
// that does not is left out and described in `refused`; its neighbours are
// kept. A value that is not JSON refuses everything in it.
struct DecisionLogValue {
  std::vector<commands::DecisionRecord> records;
  std::vector<std::string> refused;
};
DecisionLogValue read_decision_log_value(std::string_view value);

// The decision-log projector's warnings about the records it skips.
// Whoever can write to the topic could otherwise turn each record of a
// value into a log line: of each interval (10 s by default, from its first
// warning) the first `lines` are logged one by one and the rest counted,
// then logged as one line once the interval has passed (at the next poll,
// idle ones included: roll()) or when the projector stops (flush()).
class SkippedRecordLog {
 public:
  explicit SkippedRecordLog(
      std::size_t lines = 5, std::chrono::milliseconds interval = std::chrono::seconds(10),
      projections::LogBudget::Clock now = [] { return std::chrono::steady_clock::now(); })
      : budget_(lines, interval, std::move(now)) {}
  void skipped(std::string_view where, std::string_view why);
  void roll() { log_held(budget_.roll()); }
  void flush() { log_held(budget_.take_held()); }

 private:
  void log_held(std::size_t count) const;
  projections::LogBudget budget_;
};

struct DecisionLogProjectorOptions {
  std::string brokers;
  KafkaSecurity security{};
  std::string topic = "ledger.decisions";
  std::string group_id = "ledger-projector-decisions";
  // The broker answers the consumer's fetch once this much is there or
  // after fetch_wait_ms (see DecisionLogPublisher::Options::linger): fewer,
  // larger inserts and offset commits. Records reach the table this much
  // later at most.
  int fetch_min_bytes = 256 * 1024;
  int fetch_wait_ms = 100;
};

// Until `stop`; throws nothing it can handle itself (database or Kafka
// outages are logged and retried).
void run_decision_log_projector(const DecisionLogProjectorOptions& options, postgres::PgDecisionLog& log,
                                const std::atomic<bool>& stop);

}  // namespace ledger::adapters::kafka

// The projector's loop over its ports: consume `ledger.events` (EventFeed),
// pass every record through the ChainGuard (invariant 8), apply what it
// admits to every read model through its ProjectionRunner (rows and
// checkpoint in one transaction, invariant 4), and only then commit the
// feed's offsets. A crash or failure anywhere re-reads at most a batch,
// which the checkpoints turn into no-ops; a read model behind the feed (a
// position gap) is caught up from the committed history first.
//
//   projections::ProjectionSet set(store);        // every read model
//   projections::Projector p(set, history, feed, &status);
//   p.run(stop);                                  // or p.step() in a test
//
// adapters/projector/ wires it to Kafka and PostgreSQL; adapters/memory/
// has in-memory ports for unit tests.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "domain/error.h"
#include "projections/admission/admission_projection.h"
#include "projections/audit/audit_projection.h"
#include "projections/chain_guard.h"
#include "projections/log_budget.h"
#include "projections/policy_values/policy_values_projection.h"
#include "projections/projection.h"

namespace ledger::projections {

// `ledger.events` as the projector consumes it.
class EventFeed {
 public:
  virtual ~EventFeed() = default;
  // Up to `max` records after the last committed one (or after the last
  // polled one within a session); empty when nothing came within `timeout`.
  // An error ends the session: the next poll starts a new one.
  virtual domain::Result<std::vector<FeedRecord>> poll(std::size_t max, std::chrono::milliseconds timeout) = 0;
  // Marks everything polled so far as consumed (the consumer group's offsets).
  virtual domain::Result<void> commit() = 0;
  // Ends the session: what was polled and not committed is delivered again.
  virtual void reset() = 0;
};

// The committed history (the event store): the guard's true events and the
// source of catch-up.
class EventHistory : public TrueHistory {
 public:
  virtual domain::Result<events::GlobalPosition> head_position() = 0;
};

// Every read model the projector maintains: its projection (checkpoint)
// name and the tables it writes, in the order batches are applied.
struct ReadModelInfo {
  std::string_view projection;
  std::vector<std::string_view> tables;
};
const std::vector<ReadModelInfo>& read_models();
// kInvalidArgument `unknown_read_model` for a name not in read_models().
domain::Result<void> check_read_model_names(const std::vector<std::string>& names);

// The projections of one process over one store, each with its own runner
// (and so its own checkpoint). Not movable: runners refer to the projections
// and the store.
class ProjectionSet {
 public:
  // `names` as in read_models(); empty = all of them.
  static domain::Result<std::unique_ptr<ProjectionSet>> create(ReadModelStore& store,
                                                               const std::vector<std::string>& names = {});
  ProjectionSet(const ProjectionSet&) = delete;
  ProjectionSet& operator=(const ProjectionSet&) = delete;

  // Applies the batch to every projection (each skips what it already has).
  // All are tried even when one fails, so one failing read model does not
  // hold back the others; the first error is returned and the caller re-reads.
  domain::Result<ApplyStats> apply(std::span<const events::RecordedEvent> batch);
  // The lowest checkpoint: every projection has applied history up to it.
  domain::Result<events::GlobalPosition> checkpoint();

 private:
  explicit ProjectionSet(ReadModelStore& store) : store_(store) {}

  PolicyValuesProjection policy_values_;
  AuditProjection audit_;
  AdmissionProjection admission_;
  ReadModelStore& store_;
  std::vector<ProjectionRunner> runners_;
};

// Applies the committed history beyond the set's checkpoint; returns the
// checkpoint reached.
domain::Result<events::GlobalPosition> catch_up(ProjectionSet& set, EventHistory& history, std::size_t batch_size);

// What the running projector reports about itself: its checkpoint, whether
// it consumes, and the chain alarms raised so far. Thread-safe (the
// projector thread writes, the status port reads).
class ProjectorStatus {
 public:
  void consuming(bool yes);
  void checkpoint(events::GlobalPosition position);
  void alarm(const ChainAlarm& a);

  std::uint64_t alarms() const;
  // {"status": "ready"|"not_ready", "consuming", "checkpoint",
  //  "chain": {"status": "ok"|"alarm", "alarms", "by_reason": {...}, "last": {...}}}.
  // Alarms do not make the projector unready: it applied the true events
  // and continues; they are the operator's signal that someone wrote to
  // the topic who should not have.
  std::string readiness_json() const;
  bool ready() const;
  // What /metrics shows (adapters/projector projector_status_routes).
  struct Counts {
    bool consuming = false;
    events::GlobalPosition checkpoint;
    std::map<std::string, std::uint64_t> alarms_by_reason;
  };
  Counts counts() const;

 private:
  mutable std::mutex mu_;
  bool consuming_ = false;
  events::GlobalPosition checkpoint_;
  std::map<std::string, std::uint64_t> by_reason_;
  std::optional<ChainAlarm> last_;
};

// Logs chain alarms as structured lines (error level) and counts each in
// `status` when given. Whoever can write junk to the topic must not be able
// to flood the log with it: of each interval (10 s by default, from its
// first alarm) the first kLines alarms are logged one by one and the rest
// only counted by reason, then logged as one line of counts once the
// interval has passed (at the next raise, or flush). Every alarm is
// counted in `status` either way. One per reader of the topic, used by
// its thread only.
class ChainAlarmLog {
 public:
  using Clock = LogBudget::Clock;
  static constexpr std::size_t kLines = 8;

  explicit ChainAlarmLog(
      std::chrono::milliseconds interval = std::chrono::seconds(10),
      Clock now = [] { return std::chrono::steady_clock::now(); });

  // The alarms of one polled batch; with none, only logs the counts held
  // back when their interval has passed (a reader calls it when idle too).
  void raise(std::span<const ChainAlarm> alarms, ProjectorStatus* status);
  // Logs the counts held back now, if any (a rebuild's end).
  void flush();

 private:
  void log_held(std::size_t count);

  LogBudget budget_;
  std::map<std::string, std::size_t> held_;  // by reason
  std::int64_t held_from_ = 0;               // the lowest and highest offset held back
  std::int64_t held_to_ = 0;
};

struct ProjectorLoopOptions {
  std::size_t batch_size = 1000;
  std::chrono::milliseconds poll_timeout{200};
  std::chrono::milliseconds feed_back_off{1000};  // after the feed failed
  std::chrono::milliseconds apply_back_off{500};  // after a batch was not applied
};

class Projector {
 public:
  enum class Step {
    kApplied,     // a batch was applied by every read model and the feed committed
    kIdle,        // nothing came
    kFeedFailed,  // the feed failed; its session was reset
    kNotApplied,  // some read model did not apply the batch; the feed was reset to re-deliver it
  };

  Projector(ProjectionSet& set, EventHistory& history, EventFeed& feed, ProjectorStatus* status = nullptr,
            ProjectorLoopOptions options = {});

  // One poll, guard, apply and commit; never sleeps (run() backs off).
  Step step();
  void run(const std::atomic<bool>& stop);

 private:
  ProjectionSet& set_;
  EventHistory& history_;
  EventFeed& feed_;
  ProjectorStatus* status_;
  ProjectorLoopOptions options_;
  ChainGuard guard_;
  ChainAlarmLog alarm_log_;
};

}  // namespace ledger::projections

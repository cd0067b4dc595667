// The command service: decides commands and appends their events with group
// commit.
//
//   CommandService svc(store, clock);
//   svc.start();
//   auto outcome = svc.submit_async(request).get();   // Result<Accepted>
//
// Policy-key commands are decided against their own stream. Admission
// commands (registries, hierarchy, ceilings, reservations) need more than
// one stream — a ceiling is checked against its ancestors', a reservation
// against every reservation under the same ceiling — so the writer keeps the
// whole admission model (domain::AdmissionModel) in memory, loaded from the
// store when it becomes the writer and evolved with every event it appends.
// Being the only writer, it is never stale.
//
// Any number of threads submit; one writer thread takes whatever is queued
// (up to `max_batch`), and for each command: returns the stored outcome if its
// idempotency key (the caller's tenant and actor with its command_id,
// commands/idempotency.h) was accepted before for the same request (409
// `idempotency_key_reused` for another request), else loads its stream state (cached while this
// instance holds the writer lock), calls the aggregate's pure `decide`, and
// evolves the state tentatively so later commands of the same batch see it.
// The accepted ones are appended in ONE transaction; only after it commits do
// callers learn they were accepted. If the transaction fails because a
// dependency is away (kUnavailable) or the chain moved (kAborted), every
// command of the batch gets the error (nothing of it was written) and the
// cache of the touched streams is dropped. If it fails for any other reason
// (kInternal: e.g. the database refused one member's data), nothing of it
// was written either, and each member is decided and committed again on its
// own, so one bad command never fails its batch neighbours.
//
// Nothing a command brings can end the writer thread: an unexpected
// exception while processing a batch answers its waiting callers with
// kInternal `internal` and drops every cached state.
//
// Lifecycle: construct, start(), submit from any thread, stop() (also in the
// destructor) answers queued commands with `shutting_down`.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "commands/command.h"
#include "commands/ports.h"
#include "domain/config/secrets.h"

namespace ledger::commands {

class ChainAnchor;  // commands/chain_anchor.h

struct Accepted {
  std::string command_id;
  std::vector<std::string> event_ids;
  events::GlobalPosition position;  // read-your-writes token: query with min_position=position
  events::StreamVersion stream_version;
  bool duplicate = false;  // this caller's command_id was accepted before; first outcome returned
  // Mutation evidence (seed 001, rule 5): the position of the writer's
  // in-memory model this command was decided against (CommandOutcome).
  // Answered as evidence {snapshot_kind: "writer_model", snapshot_version}.
  std::optional<events::GlobalPosition> decided_at_position = {};
  // When its events were committed (the writer's clock; CommandOutcome).
  std::optional<events::Instant> recorded_at = {};
};

class CommandService {
 public:
  struct Options {
    std::size_t max_batch = 256;
    std::chrono::milliseconds heartbeat{500};  // how often an idle instance checks the writer lock
    // How often the writer records `expired` for reservations whose window
    // has passed (the reservation sweeper); zero turns it off. Measured on
    // the service's Clock, like the windows themselves: the writer looks on
    // each idle heartbeat whether an interval of that clock has passed.
    std::chrono::milliseconds sweep_interval{5000};
    // Signs the chain head when due (commands/chain_anchor.h); the writer
    // thread calls it after each batch's replies went out and on idle
    // heartbeats, while it is the writer. Not owned; nullptr: no anchors.
    ChainAnchor* anchor = nullptr;
    // What per-application policy configs are constructed with when a
    // command attaches or changes one (the CEL engine for custom_cel).
    domain::app_policy::PolicyDeps app_policy_deps = {};
    // Seals configuration secrets (commands/config_writer.h). Not owned.
    domain::config::SecretSealer* config_sealer = nullptr;
    // Reads the process settings a reload with reload_env re-reads: the
    // code of why they cannot be read, nullopt when they can. The reload's
    // ConfigReloaded event records a failure under `errors`. Empty: not
    // checked (no errors recorded).
    std::function<std::optional<std::string>()> process_settings_check = {};
    // Called on the writer thread after each group commit that wrote (its
    // metrics): how many commands the group held, how many appends it made,
    // how long the store's append took, and whether it committed. Must not
    // throw.
    struct GroupCommit {
      std::size_t commands = 0;
      std::size_t appends = 0;
      std::chrono::nanoseconds append_time{0};
      bool committed = false;
    };
    std::function<void(const GroupCommit&)> on_group_commit = {};
    // Called on the writer thread after each sweep, with how many
    // reservations it found past their window (metrics; tests wait on it
    // instead of sleeping). Must not throw.
    std::function<void(std::size_t expired)> on_sweep = {};
  };

  CommandService(EventStore& store, Clock& clock, Options options);
  CommandService(EventStore& store, Clock& clock) : CommandService(store, clock, Options{}) {}
  ~CommandService();
  CommandService(const CommandService&) = delete;
  CommandService& operator=(const CommandService&) = delete;

  void start();
  void stop();

  std::future<domain::Result<Accepted>> submit_async(CommandRequest request);

  // True while the last attempt to act as writer succeeded.
  bool is_writer() const;

 private:
  struct Pending {
    CommandRequest request;
    std::promise<domain::Result<Accepted>> reply;
  };
  struct CachedStream {
    domain::PolicyKeyState state;
    events::GlobalPosition last_position;
  };

  void run();
  // Runs `body`; an exception answers every still waiting member of `batch`.
  void guarded(std::vector<Pending>& batch, const std::function<void()>& body);
  void process(std::vector<Pending>& batch);
  // One group commit: plan_group, plan_refusal_records, commit, answer_all.
  // False (nothing answered) when it failed with kInternal and `may_split`:
  // process() then runs each member on its own.
  bool process_group(std::vector<Pending>& batch, bool may_split);

  // What a group comes to before anything is written (command_service.cc).
  struct Plan;
  // Decides every command of `batch` (whose stored outcomes are `known`)
  // against the writer's models, evolving them tentatively: an answer now
  // or an append. Reads the store only to load a model or stream the cache
  // does not hold; an error is a dependency's (nothing answered).
  domain::Result<void> plan_group(const std::vector<Pending>& batch,
                                  const std::vector<std::optional<CommandOutcome>>& known, events::Instant now,
                                  Plan& plan);
  domain::Result<void> plan_admission_command(std::size_t i, const CommandRequest& req, events::Instant now,
                                              Plan& plan);
  domain::Result<void> plan_policy_command(std::size_t i, const CommandRequest& req, events::Instant now, Plan& plan);
  // Adds the AccessRefused record of each refusal the plan holds, unless an
  // earlier attempt of the same command recorded it.
  domain::Result<void> plan_refusal_records(const std::vector<Pending>& batch, events::Instant now, Plan& plan);
  // Appends the plan's appends in one transaction (nothing when it has
  // none), moves the tentative streams into the cache and fills in each
  // appended command's answer.
  domain::Result<void> commit(Plan& plan, std::size_t commands);
  // Replies to every member of `batch` with its answer.
  static void answer_all(std::vector<Pending>& batch, Plan& plan);
  // True when the sweeper is on and an interval of the Clock has passed
  // since the last sweep (or the clock went back).
  bool sweep_due(events::Instant now) const;
  void sweep(events::Instant now);
  domain::Result<CachedStream> load(const std::string& stream_id);
  // The admission model, loaded from the store on first use under this epoch.
  domain::Result<domain::AdmissionModel*> admission();

  EventStore& store_;
  Clock& clock_;
  Options options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::atomic<bool> writer_{false};
  std::thread thread_;

  // Writer-thread only.
  std::uint64_t epoch_ = 0;
  std::map<std::string, CachedStream> cache_;
  // Registries, hierarchy, ceilings and reservations: admission commands are
  // decided against all of it. Dropped with the cache, and whenever a batch
  // that touched it fails to commit.
  std::optional<domain::AdmissionModel> admission_;
  std::unordered_map<std::string, events::GlobalPosition> admission_positions_;  // last position per admission stream
  std::optional<events::Instant> last_sweep_;                                    // on clock_

  // Plan entitlements (commands/entitlement_service.cc): decided against
  // their own model, loaded like the admission model and dropped with it.
  domain::Result<domain::entitlements::EntitlementsModel*> entitlements();
  // The append of an accepted entitlement command (evolving the model
  // tentatively), or its refusal; kUnavailable when the model cannot load.
  domain::Result<StreamAppend> entitlement_append(const CommandRequest& req, const IdempotencyKey& key,
                                                  events::Instant now);
  // `plan_archived` for an organization.create / change_plan naming a plan
  // a product space archived; nullopt when the plan may be assigned.
  std::optional<domain::Error> plan_assignment_refusal(const Command& c);
  std::optional<domain::entitlements::EntitlementsModel> entitlements_;
  std::unordered_map<std::string, events::GlobalPosition> entitlement_positions_;
};

}  // namespace ledger::commands

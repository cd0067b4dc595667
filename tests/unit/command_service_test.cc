// The command service (commands/command_service.h) over the in-memory event
// store and a manual clock: acceptance, idempotency, rejection, optimistic
// concurrency, store outages and group commit under concurrent submitters.
//
// Batches are made deterministic without sleeping: GatedStore (below) can
// hold the writer inside acquire_writer(), so the test knows that everything
// it submits meanwhile is queued and forms the next batch.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "adapters/http/routes/http_json.h"
#include "adapters/memory/event_store.h"
#include "adapters/system/clock.h"
#include "commands/command_service.h"
#include "events/codec/json_codec.h"

namespace ledger::commands {
namespace {

using adapters::memory::InMemoryEventStore;
using adapters::system::ManualClock;
using domain::ErrorKind;
using events::Instant;
using events::PolicyScope;
using events::PolicyValue;
using events::ScopeLevel;

constexpr Instant kT0{1'780'272'000'000'000};  // 2026-06-01T00:00:00Z
constexpr std::int64_t kMinute = 60'000'000;

// An EventStore decorator around InMemoryEventStore that can hold the writer
// at the start of its next batch and make one chosen call of a later batch
// fail (through InMemoryEventStore::fail_next).
class GatedStore final : public EventStore {
 public:
  enum class Stage { kAcquire, kFindOutcomes, kReadStream, kAppend };

  explicit GatedStore(InMemoryEventStore& inner) : inner_(inner) {}

  // The next acquire_writer() blocks until release().
  void hold_next_batch() {
    std::lock_guard lock(mu_);
    hold_ = true;
  }
  void wait_until_held() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return held_; });
  }
  void release() {
    {
      std::lock_guard lock(mu_);
      hold_ = false;
      held_ = false;
    }
    cv_.notify_all();
  }
  // In the batch after the one being held, the call at `stage` fails with `e`.
  void fail_in_next_batch(Stage stage, domain::Error e) {
    std::lock_guard lock(mu_);
    failure_ = Failure{stage, held_batch_ + 1, std::move(e)};
  }
  int append_calls() const {
    std::lock_guard lock(mu_);
    return append_calls_;
  }
  int batches() const {
    std::lock_guard lock(mu_);
    return batch_;
  }

  domain::Result<std::vector<events::Envelope>> read_by_types(std::span<const std::string> types,
                                                              events::GlobalPosition after_position,
                                                              std::size_t limit) override {
    return inner_.read_by_types(types, after_position, limit);
  }
  domain::Result<std::uint64_t> acquire_writer() override {
    {
      std::unique_lock lock(mu_);
      ++batch_;
      if (hold_) {
        held_batch_ = batch_;
        held_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return !hold_; });
      }
    }
    arm(Stage::kAcquire);
    return inner_.acquire_writer();
  }
  domain::Result<std::vector<events::Envelope>> read_stream(const std::string& stream_id) override {
    arm(Stage::kReadStream);
    return inner_.read_stream(stream_id);
  }
  domain::Result<std::vector<std::optional<CommandOutcome>>> find_outcomes(
      std::span<const commands::IdempotencyKey> keys) override {
    arm(Stage::kFindOutcomes);
    return inner_.find_outcomes(keys);
  }
  domain::Result<std::vector<CommandOutcome>> append(std::span<const StreamAppend> batch) override {
    {
      std::lock_guard lock(mu_);
      ++append_calls_;
    }
    arm(Stage::kAppend);
    return inner_.append(batch);
  }

 private:
  void arm(Stage stage) {
    std::lock_guard lock(mu_);
    if (failure_ && failure_->stage == stage && failure_->batch == batch_) {
      inner_.fail_next(failure_->error);
      failure_.reset();
    }
  }

  InMemoryEventStore& inner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  bool held_ = false;
  struct Failure {
    Stage stage;
    int batch;
    domain::Error error;
  };
  std::optional<Failure> failure_;
  int batch_ = 0;  // batches started (acquire_writer calls); writer thread only
  int held_batch_ = 0;
  int append_calls_ = 0;
};

const char* const kWindow = "billing.window_seconds";
const char* const kDeposit = "billing.minimum_deposit_minor";

events::PolicyKeyDefined int_key(const char* key, std::int64_t def, std::int64_t min, std::int64_t max) {
  events::PolicyKeyDefined d;
  d.key = key;
  d.value_type = events::ValueType::kInt;
  d.default_value = PolicyValue{def};
  d.min = min;
  d.max = max;
  d.write_audience = codec::implied_write_audience(key);  // as a definition naming none gets it
  return d;
}
Command define_window() { return domain::DefinePolicyKey{int_key(kWindow, 60, 1, 3600)}; }
Command define_deposit() { return domain::DefinePolicyKey{int_key(kDeposit, 1000, 100, 100000)}; }

Command set_value(const char* key, PolicyScope scope, std::int64_t v, std::optional<std::int64_t> old = {}) {
  domain::SetPolicyValue c;
  c.key = key;
  c.scope = std::move(scope);
  c.value = PolicyValue{v};
  c.reason = "customer request";
  if (old) c.old_value = PolicyValue{*old};
  return c;
}

PolicyScope org(std::string id) { return {ScopeLevel::kOrganization, std::move(id)}; }
PolicyScope user(std::string id) { return {ScopeLevel::kUser, std::move(id)}; }

Principal alice() { return Principal{events::Actor{"user", "alice", {"platform_admin"}}, "platform"}; }

CommandRequest request(std::string id, Command c, std::optional<events::StreamVersion> expected_version = {}) {
  CommandRequest r;
  r.meta.command_id = id;
  r.meta.principal = alice();
  r.meta.correlation_id = "corr-" + id;
  r.meta.causation_id = "cause-" + id;
  r.command = std::move(c);
  r.expected_version = expected_version;
  return r;
}

std::string evidence(const domain::Error& e, const std::string& key) {
  for (const auto& [k, v] : e.evidence_texts()) {
    if (k == key) return v;
  }
  return "<none>";
}

class CommandServiceTest : public ::testing::Test {
 protected:
  CommandServiceTest() { svc_.start(); }

  domain::Result<Accepted> submit(CommandRequest r) { return svc_.submit_async(std::move(r)).get(); }
  Accepted accept(CommandRequest r) {
    const std::string id = r.meta.command_id;
    auto a = submit(std::move(r));
    EXPECT_TRUE(a.has_value()) << id << ": " << a.error().code << " " << a.error().message;
    return a.value_or(Accepted{});
  }
  std::vector<events::RecordedEvent> recorded() const { return memory_.all(); }

  // Holds the writer on a throwaway batch so that what is submitted next is
  // queued; release() lets it form exactly one batch.
  std::future<domain::Result<Accepted>> plug(CommandRequest r) {
    store_.hold_next_batch();
    auto f = svc_.submit_async(std::move(r));
    store_.wait_until_held();
    return f;
  }

  ManualClock clock_{kT0};
  InMemoryEventStore memory_{clock_};
  GatedStore store_{memory_};
  CommandService svc_{store_, clock_};
};

// ---------------------------------------------------------------------------
// Acceptance

TEST_F(CommandServiceTest, AcceptedCommandReturnsPositionAndEventIds) {
  auto a = accept(request("cmd-1", define_window()));
  EXPECT_EQ(a.command_id, "cmd-1");
  EXPECT_EQ(a.position, events::GlobalPosition{1});
  EXPECT_EQ(a.stream_version, events::StreamVersion{1});
  EXPECT_FALSE(a.duplicate);
  ASSERT_EQ(a.event_ids.size(), 1u);

  auto all = recorded();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].meta.event_id, a.event_ids[0]);
  EXPECT_EQ(all[0].meta.global_position, events::GlobalPosition{1});
  EXPECT_EQ(all[0].event_type, "PolicyKeyDefined");
}

TEST_F(CommandServiceTest, EventsCarryTheCommandMeta) {
  accept(request("cmd-1", define_window()));
  clock_.advance_micros(kMinute);
  auto a = accept(request("cmd-2", set_value(kWindow, user("u-1"), 120)));
  EXPECT_EQ(a.position, events::GlobalPosition{2});
  EXPECT_EQ(a.stream_version, events::StreamVersion{2});

  auto all = recorded();
  ASSERT_EQ(all.size(), 2u);
  const auto& m = all[1].meta;
  EXPECT_EQ(m.stream_id, "policy-key:billing.window_seconds");
  EXPECT_EQ(m.stream_version, events::StreamVersion{2});
  EXPECT_EQ(m.actor, alice().actor);
  EXPECT_EQ(m.tenant, "platform");  // a user scope: the caller's tenant
  EXPECT_EQ(m.command_id, "cmd-2");
  EXPECT_EQ(m.correlation_id, "corr-cmd-2");
  EXPECT_EQ(m.causation_id, "cause-cmd-2");
  EXPECT_EQ(m.occurred_at, Instant{kT0.micros + kMinute});
  EXPECT_EQ(m.recorded_at, Instant{kT0.micros + kMinute});

  auto env = codec::decode(all[1]);
  ASSERT_TRUE(env.has_value()) << env.error();
  const auto& e = std::get<events::PolicyValueSet>(env->event);
  EXPECT_EQ(e.after, PolicyValue{std::int64_t{120}});
  EXPECT_EQ(e.before, PolicyValue{std::int64_t{60}});
  EXPECT_EQ(e.before_source, events::BeforeSource::kDefault);
  EXPECT_EQ(e.effective_at, Instant{kT0.micros + kMinute});  // defaults to the service clock
}

TEST_F(CommandServiceTest, OrganizationScopedEventsBelongToThatOrganization) {
  accept(request("cmd-1", define_window()));
  accept(request("cmd-2", set_value(kWindow, org("org-7"), 120)));
  auto all = recorded();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].meta.tenant, "platform");
  EXPECT_EQ(all[1].meta.tenant, "org-7");
}

TEST_F(CommandServiceTest, AnOrganizationsPrincipalWritesOnlyItsOwnValues) {
  accept(request("cmd-1", define_window()));
  auto home = request("cmd-2", set_value(kWindow, user("u-1"), 120));
  home.meta.principal = Principal{events::Actor{"user", "hank", {"tenant_admin"}}, "org-home"};
  accept(home);
  auto other = request("cmd-3", set_value(kWindow, org("org-7"), 120));
  other.meta.principal = home.meta.principal;
  auto refused = submit(other);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "forbidden");
  auto all = recorded();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].meta.tenant, "org-home");
  EXPECT_EQ(all[2].event_type, "AccessRefused");
  EXPECT_EQ(all[2].meta.tenant, "org-7");
}

TEST_F(CommandServiceTest, LaterCommandsSeeEarlierOnes) {
  accept(request("cmd-1", define_window()));
  accept(request("cmd-2", set_value(kWindow, org("org-1"), 120, 60)));
  accept(request("cmd-3", set_value(kWindow, org("org-1"), 180, 120)));
  auto stale = submit(request("cmd-4", set_value(kWindow, org("org-1"), 240, 120)));
  ASSERT_FALSE(stale.has_value());
  EXPECT_EQ(stale.error().code, "old_value_mismatch");
  EXPECT_EQ(recorded().size(), 3u);
}

TEST_F(CommandServiceTest, BackdatingIsJudgedAgainstTheServiceClock) {
  accept(request("cmd-1", define_window()));
  clock_.advance_micros(60 * kMinute);
  auto c = std::get<domain::SetPolicyValue>(set_value(kWindow, org("org-1"), 120));
  c.effective_at = Instant{kT0.micros + 54 * kMinute};  // six minutes before the clock
  auto r = submit(request("cmd-2", c));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "effective_at_in_past");
  c.effective_at = Instant{kT0.micros + 55 * kMinute};  // exactly five
  EXPECT_TRUE(submit(request("cmd-3", c)).has_value());
}

TEST_F(CommandServiceTest, RedefiningIdenticallyIsAcceptedWithoutEvents) {
  auto first = accept(request("cmd-1", define_window()));
  accept(request("cmd-2", set_value(kWindow, org("org-1"), 120)));
  auto again = accept(request("cmd-3", define_window()));
  EXPECT_FALSE(again.duplicate);
  EXPECT_TRUE(again.event_ids.empty());
  EXPECT_EQ(again.stream_version, events::StreamVersion{2});
  EXPECT_EQ(again.position, events::GlobalPosition{2});  // the stream's last position: reading there shows the key
  EXPECT_EQ(recorded().size(), 2u);
  // And it is remembered like any outcome.
  auto dup = accept(request("cmd-3", define_window()));
  EXPECT_TRUE(dup.duplicate);
  EXPECT_EQ(dup.position, again.position);
  EXPECT_EQ(first.position, events::GlobalPosition{1});
}

// ---------------------------------------------------------------------------
// Idempotency

TEST_F(CommandServiceTest, SameCommandIdTwiceReturnsTheFirstOutcome) {
  auto first = accept(request("cmd-1", define_window()));
  auto set1 = accept(request("cmd-2", set_value(kWindow, org("org-1"), 120)));
  auto set2 = accept(request("cmd-2", set_value(kWindow, org("org-1"), 120)));
  EXPECT_FALSE(set1.duplicate);
  EXPECT_TRUE(set2.duplicate);
  EXPECT_EQ(set2.command_id, "cmd-2");
  EXPECT_EQ(set2.position, set1.position);
  EXPECT_EQ(set2.stream_version, set1.stream_version);
  EXPECT_EQ(set2.event_ids, set1.event_ids);
  EXPECT_EQ(recorded().size(), 2u);
  EXPECT_EQ(first.position, events::GlobalPosition{1});
}

TEST_F(CommandServiceTest, ARetryIsNotDecidedAgainEvenIfItsBodyChanged) {
  accept(request("cmd-1", define_window()));
  auto set1 = accept(request("cmd-2", set_value(kWindow, org("org-1"), 120)));
  // A retry that would now be refused (value out of bounds) still answers
  // with the first outcome: the id, not the body, identifies the command.
  auto retry = accept(request("cmd-2", set_value(kWindow, org("org-1"), 999999)));
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.event_ids, set1.event_ids);
  EXPECT_EQ(recorded().size(), 2u);
}

TEST_F(CommandServiceTest, SameCommandIdTwiceInOneBatchWritesOneSetOfEvents) {
  auto plugged = plug(request("cmd-1", define_window()));
  auto a = svc_.submit_async(request("cmd-2", set_value(kWindow, org("org-1"), 120)));
  auto b = svc_.submit_async(request("cmd-2", set_value(kWindow, org("org-1"), 120)));
  auto c = svc_.submit_async(request("cmd-2", set_value(kWindow, org("org-1"), 120)));
  store_.release();
  ASSERT_TRUE(plugged.get().has_value());
  auto ra = a.get(), rb = b.get(), rc = c.get();
  ASSERT_TRUE(ra.has_value() && rb.has_value() && rc.has_value());
  EXPECT_FALSE(ra->duplicate);
  EXPECT_TRUE(rb->duplicate);
  EXPECT_TRUE(rc->duplicate);
  EXPECT_EQ(rb->event_ids, ra->event_ids);
  EXPECT_EQ(rc->event_ids, ra->event_ids);
  EXPECT_EQ(rb->position, ra->position);
  EXPECT_EQ(ra->position, events::GlobalPosition{2});
  EXPECT_EQ(recorded().size(), 2u);
  EXPECT_EQ(store_.append_calls(), 2);  // one per batch
}

TEST_F(CommandServiceTest, RepeatOfARejectedCommandInOneBatchGetsTheSameRejection) {
  auto plugged = plug(request("cmd-0", define_window()));
  auto a = svc_.submit_async(request("cmd-1", set_value(kWindow, org("org-1"), 0)));
  auto b = svc_.submit_async(request("cmd-1", set_value(kWindow, org("org-1"), 0)));
  store_.release();
  ASSERT_TRUE(plugged.get().has_value());
  auto ra = a.get(), rb = b.get();
  ASSERT_FALSE(ra.has_value());
  ASSERT_FALSE(rb.has_value());
  EXPECT_EQ(ra.error().code, "value_out_of_bounds");
  EXPECT_EQ(rb.error().code, "value_out_of_bounds");
  EXPECT_EQ(recorded().size(), 1u);
}

TEST_F(CommandServiceTest, CommandsOfOneBatchSeeEachOthersEffects) {
  auto plugged = plug(request("cmd-0", define_window()));
  auto a = svc_.submit_async(request("cmd-1", set_value(kWindow, org("org-1"), 120, 60)));
  auto b = svc_.submit_async(request("cmd-2", set_value(kWindow, org("org-1"), 180, 120)));
  auto stale = svc_.submit_async(request("cmd-3", set_value(kWindow, org("org-1"), 240, 60)));
  auto versioned = svc_.submit_async(request("cmd-4", set_value(kWindow, org("org-2"), 240), events::StreamVersion{3}));
  store_.release();
  ASSERT_TRUE(plugged.get().has_value());
  auto ra = a.get(), rb = b.get(), rs = stale.get(), rv = versioned.get();
  ASSERT_TRUE(ra.has_value());
  ASSERT_TRUE(rb.has_value()) << rb.error().code;
  ASSERT_FALSE(rs.has_value());
  EXPECT_EQ(rs.error().code, "old_value_mismatch");
  ASSERT_TRUE(rv.has_value()) << rv.error().code;  // the stream is at version 3 after a and b
  EXPECT_EQ(ra->position, events::GlobalPosition{2});
  EXPECT_EQ(rb->position, events::GlobalPosition{3});
  EXPECT_EQ(rv->position, events::GlobalPosition{4});
  EXPECT_EQ(rv->stream_version, events::StreamVersion{4});
  EXPECT_EQ(recorded().size(), 4u);
}

// Seed 001, mutation rule 5: every accepted command names the position of
// the writer's state it was decided against — within a group commit, the
// earlier members' events included — and a retry answers it again.
TEST_F(CommandServiceTest, EachCommandNamesThePositionItWasDecidedAgainst) {
  auto plugged = plug(request("cmd-0", define_window()));
  auto a = svc_.submit_async(request("cmd-1", set_value(kWindow, org("org-1"), 120)));
  auto same = svc_.submit_async(request("cmd-2", define_window()));  // changes nothing
  auto refused = svc_.submit_async(request("cmd-3", set_value(kWindow, org("org-1"), 0)));
  auto b = svc_.submit_async(request("cmd-4", set_value(kWindow, org("org-2"), 180)));
  store_.release();
  auto p = plugged.get();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->decided_at_position, events::GlobalPosition{0});  // an empty ledger
  auto ra = a.get(), rs = same.get(), rr = refused.get(), rb = b.get();
  ASSERT_TRUE(ra.has_value() && rs.has_value() && rb.has_value());
  ASSERT_FALSE(rr.has_value());
  EXPECT_EQ(ra->decided_at_position, events::GlobalPosition{1});
  EXPECT_EQ(rs->decided_at_position, events::GlobalPosition{2});  // cmd-1, decided before it in the same batch, counts
  EXPECT_EQ(rb->decided_at_position, events::GlobalPosition{2});  // the refusal wrote nothing
  EXPECT_EQ(rb->position, events::GlobalPosition{3});
  auto retry = accept(request("cmd-4", set_value(kWindow, org("org-2"), 180)));
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.decided_at_position, events::GlobalPosition{2});
  auto later = accept(request("cmd-5", set_value(kWindow, org("org-3"), 240)));
  EXPECT_EQ(later.decided_at_position, events::GlobalPosition{3});
  EXPECT_EQ(later.position, events::GlobalPosition{4});
}

// ---------------------------------------------------------------------------
// Rejection

TEST_F(CommandServiceTest, RejectionWritesNothing) {
  auto r = submit(request("cmd-1", set_value(kWindow, org("org-1"), 120)));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(r.error().code, "unknown_policy_key");
  EXPECT_EQ(evidence(r.error(), "correlation_id"), "corr-cmd-1");
  EXPECT_TRUE(recorded().empty());
  EXPECT_EQ(store_.append_calls(), 0);
}

TEST_F(CommandServiceTest, RejectedCommandDoesNotStopTheRestOfItsBatch) {
  auto plugged = plug(request("cmd-0", define_window()));
  auto good1 = svc_.submit_async(request("cmd-1", set_value(kWindow, org("org-1"), 120)));
  auto bad = svc_.submit_async(request("cmd-2", set_value(kWindow, org("org-1"), 5000)));
  auto good2 = svc_.submit_async(request("cmd-3", set_value(kWindow, org("org-2"), 90)));
  store_.release();
  ASSERT_TRUE(plugged.get().has_value());
  auto r1 = good1.get(), r2 = bad.get(), r3 = good2.get();
  ASSERT_TRUE(r1.has_value());
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.error().code, "value_out_of_bounds");
  ASSERT_TRUE(r3.has_value());
  EXPECT_EQ(r1->position, events::GlobalPosition{2});
  EXPECT_EQ(r3->position, events::GlobalPosition{3});
  auto all = recorded();
  ASSERT_EQ(all.size(), 3u);
  for (const auto& r : all) EXPECT_NE(r.meta.command_id, "cmd-2");
}

TEST_F(CommandServiceTest, ARejectedCommandIdMayBeRetriedOnceTheRuleAllows) {
  auto r = submit(request("cmd-1", set_value(kWindow, org("org-1"), 120)));
  ASSERT_FALSE(r.has_value());
  accept(request("cmd-0", define_window()));
  auto retry = accept(request("cmd-1", set_value(kWindow, org("org-1"), 120)));
  EXPECT_FALSE(retry.duplicate);
  EXPECT_EQ(retry.position, events::GlobalPosition{2});
}

TEST_F(CommandServiceTest, ConflictingDefinitionIsAborted) {
  accept(request("cmd-1", define_window()));
  auto r = submit(request("cmd-2", domain::DefinePolicyKey{int_key(kWindow, 60, 1, 7200)}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "policy_key_conflict");
  EXPECT_EQ(r.error().kind, ErrorKind::kAborted);
  EXPECT_EQ(recorded().size(), 1u);
}

// ---------------------------------------------------------------------------
// expected_version

TEST_F(CommandServiceTest, MatchingExpectedVersionIsAccepted) {
  accept(request("cmd-1", define_window(), events::StreamVersion{0}));
  auto a = accept(request("cmd-2", set_value(kWindow, org("org-1"), 120), events::StreamVersion{1}));
  EXPECT_EQ(a.stream_version, events::StreamVersion{2});
}

TEST_F(CommandServiceTest, ExpectedVersionMismatchIsAStreamVersionConflict) {
  accept(request("cmd-1", define_window()));
  for (std::int64_t expected : {0, 2, 5}) {
    auto r = submit(request("cmd-x" + std::to_string(expected), set_value(kWindow, org("org-1"), 120),
                            events::StreamVersion{expected}));
    ASSERT_FALSE(r.has_value()) << expected;
    EXPECT_EQ(r.error().code, "stream_version_conflict");
    EXPECT_EQ(r.error().kind, ErrorKind::kAborted);
    EXPECT_EQ(evidence(r.error(), "stream_id"), "policy-key:billing.window_seconds");
    EXPECT_EQ(evidence(r.error(), "expected_version"), std::to_string(expected));
    EXPECT_EQ(evidence(r.error(), "actual_version"), "1");
    // Like every refusal, it names the request's correlation id.
    EXPECT_EQ(evidence(r.error(), "correlation_id"), "corr-cmd-x" + std::to_string(expected));
  }
  EXPECT_EQ(recorded().size(), 1u);
}

TEST_F(CommandServiceTest, ExpectedVersionOnAStreamThatDoesNotExistYet) {
  auto r = submit(request("cmd-1", define_window(), events::StreamVersion{1}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "stream_version_conflict");
  EXPECT_TRUE(recorded().empty());
}

// ---------------------------------------------------------------------------
// Store outages

TEST_F(CommandServiceTest, StoreFailureFailsTheWholeBatchThenRetriesAreAcceptedOnce) {
  for (auto stage : {GatedStore::Stage::kAcquire, GatedStore::Stage::kFindOutcomes, GatedStore::Stage::kReadStream,
                     GatedStore::Stage::kAppend}) {
    SCOPED_TRACE(static_cast<int>(stage));
    ManualClock clock{kT0};
    InMemoryEventStore memory{clock};
    GatedStore store{memory};
    CommandService svc{store, clock};
    svc.start();
    ASSERT_TRUE(svc.submit_async(request("cmd-0", define_window())).get().has_value());

    // One batch: a new stream, a cached one, and a command depending on the
    // first of the batch.
    store.hold_next_batch();
    auto plugged = svc.submit_async(request("plug", set_value(kWindow, user("u-0"), 30)));
    store.wait_until_held();
    std::vector<CommandRequest> batch = {
        request("cmd-1", define_deposit()),
        request("cmd-2", set_value(kWindow, org("org-1"), 120, 60)),
        request("cmd-3", set_value(kDeposit, org("org-1"), 5000, 1000)),
    };
    std::vector<std::future<domain::Result<Accepted>>> replies;
    for (const auto& r : batch) replies.push_back(svc.submit_async(r));
    store.fail_in_next_batch(stage, domain::Error{ErrorKind::kUnavailable, "database_unavailable", "down", {}});
    store.release();
    ASSERT_TRUE(plugged.get().has_value());
    for (auto& f : replies) {
      auto r = f.get();
      ASSERT_FALSE(r.has_value());
      EXPECT_EQ(r.error().kind, ErrorKind::kUnavailable);
      EXPECT_EQ(r.error().code, "database_unavailable");
    }
    EXPECT_EQ(memory.all().size(), 2u);  // cmd-0 and the plug only

    // Retrying the same commands: each accepted once, decided afresh.
    for (const auto& r : batch) {
      auto a = svc.submit_async(r).get();
      ASSERT_TRUE(a.has_value()) << r.meta.command_id << ": " << a.error().code;
      EXPECT_FALSE(a->duplicate) << r.meta.command_id;
    }
    for (const auto& r : batch) {
      auto a = svc.submit_async(r).get();
      ASSERT_TRUE(a.has_value());
      EXPECT_TRUE(a->duplicate) << r.meta.command_id;
    }
    auto all = memory.all();
    ASSERT_EQ(all.size(), 5u);
    std::multiset<std::string> ids;
    for (const auto& e : all) ids.insert(e.meta.command_id);
    for (const char* id : {"cmd-0", "plug", "cmd-1", "cmd-2", "cmd-3"}) EXPECT_EQ(ids.count(id), 1u) << id;
    auto window = memory.read_stream("policy-key:billing.window_seconds");
    ASSERT_TRUE(window.has_value());
    ASSERT_EQ(window->size(), 3u);
    EXPECT_EQ((*window)[2].meta.stream_version, events::StreamVersion{3});
  }
}

TEST_F(CommandServiceTest, FailNextOnTheStoreFailsTheNextBatch) {
  accept(request("cmd-0", define_window()));
  memory_.fail_next(domain::Error{ErrorKind::kUnavailable, "database_unavailable", "down", {}});
  auto r = submit(request("cmd-1", set_value(kWindow, org("org-1"), 120)));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(::ledger::routes::http_status(r.error().kind), 503);
  EXPECT_EQ(recorded().size(), 1u);
  auto retry = accept(request("cmd-1", set_value(kWindow, org("org-1"), 120)));
  EXPECT_FALSE(retry.duplicate);
  auto again = accept(request("cmd-1", set_value(kWindow, org("org-1"), 120)));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(recorded().size(), 2u);
}

// ---------------------------------------------------------------------------
// Lifecycle

TEST_F(CommandServiceTest, SubmittingAfterStopIsRefused) {
  svc_.stop();
  auto r = submit(request("cmd-1", define_window()));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "shutting_down");
  EXPECT_EQ(r.error().kind, ErrorKind::kUnavailable);
  svc_.stop();  // idempotent
  svc_.start();
  EXPECT_TRUE(submit(request("cmd-1", define_window())).has_value());
}

TEST(CommandServiceLifecycle, SubmittingBeforeStartIsRefused) {
  ManualClock clock{kT0};
  InMemoryEventStore store{clock};
  CommandService svc{store, clock};
  auto r = svc.submit_async(request("cmd-1", define_window())).get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "shutting_down");
  EXPECT_TRUE(store.all().empty());
}

// ---------------------------------------------------------------------------
// Group commit under concurrent submitters

TEST(CommandServiceConcurrency, ManyThreadsGetGapFreePositionsAndAValidChain) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  constexpr int kShared = 50;  // ids every thread submits: accepted once overall
  ManualClock clock{kT0};
  InMemoryEventStore store{clock};
  CommandService svc{store, clock, CommandService::Options{.max_batch = 64}};
  svc.start();
  ASSERT_TRUE(svc.submit_async(request("def-window", define_window())).get().has_value());
  ASSERT_TRUE(svc.submit_async(request("def-deposit", define_deposit())).get().has_value());

  struct Reply {
    std::string command_id;
    domain::Result<Accepted> result;
  };
  std::vector<std::vector<Reply>> replies(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::pair<std::string, std::future<domain::Result<Accepted>>>> futures;
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = "cmd-" + std::to_string(t) + "-" + std::to_string(i);
        const char* key = (i % 2 == 0) ? kWindow : kDeposit;
        const std::int64_t value = (i % 2 == 0) ? 1 + i : 100 + i;
        futures.emplace_back(id, svc.submit_async(request(id, set_value(key, user("u-" + std::to_string(t)), value))));
        if (i < kShared) {
          const std::string shared = "shared-" + std::to_string(i);
          futures.emplace_back(shared, svc.submit_async(request(shared, set_value(kWindow, org("org-shared"), 1 + i))));
        }
        if (i % 50 == 49) clock.advance_micros(1);
      }
      for (auto& [id, f] : futures) replies[t].push_back(Reply{id, f.get()});
    });
  }
  for (auto& th : threads) th.join();
  svc.stop();

  // Every reply accepted; each id has exactly one first acceptance, and its
  // duplicates echo it.
  std::map<std::string, Accepted> first;
  std::map<std::string, std::vector<Accepted>> dups;
  for (const auto& per_thread : replies) {
    for (const auto& r : per_thread) {
      ASSERT_TRUE(r.result.has_value()) << r.command_id << ": " << r.result.error().code;
      EXPECT_EQ(r.result->command_id, r.command_id);
      // Decided against the head just before its own events (rule 5 evidence).
      ASSERT_TRUE(r.result->decided_at_position.has_value()) << r.command_id;
      EXPECT_EQ(r.result->decided_at_position->value,
                r.result->position.value - static_cast<std::int64_t>(r.result->event_ids.size()))
          << r.command_id;
      if (r.result->duplicate) {
        dups[r.command_id].push_back(*r.result);
      } else {
        EXPECT_TRUE(first.emplace(r.command_id, *r.result).second) << r.command_id << " accepted twice";
      }
    }
  }
  const std::size_t expected_commands = kThreads * kPerThread + kShared;
  EXPECT_EQ(first.size(), expected_commands);
  EXPECT_EQ(dups.size(), static_cast<std::size_t>(kShared));
  for (const auto& [id, ds] : dups) {
    ASSERT_TRUE(first.count(id)) << id;
    EXPECT_EQ(ds.size(), static_cast<std::size_t>(kThreads - 1)) << id;
    for (const auto& d : ds) {
      EXPECT_EQ(d.event_ids, first[id].event_ids) << id;
      EXPECT_EQ(d.position, first[id].position) << id;
    }
  }

  // The log: positions 1..N without gaps, per-stream versions without gaps,
  // each accepted command exactly once, every link of the chain sound.
  auto all = store.all();
  ASSERT_EQ(all.size(), expected_commands + 2);
  std::string prev = events::kGenesisHash;
  std::map<std::string, std::int64_t> versions;
  std::map<std::string, int> per_command;
  std::set<std::string> event_ids;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto& r = all[i];
    EXPECT_EQ(r.meta.global_position.value, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(r.meta.stream_version.value, ++versions[r.meta.stream_id]) << r.meta.stream_id;
    EXPECT_EQ(r.prev_hash, prev) << i;
    EXPECT_EQ(codec::compute_hash(r), r.hash) << i;
    EXPECT_TRUE(codec::decode(r).has_value()) << i;
    EXPECT_TRUE(event_ids.insert(r.meta.event_id).second) << r.meta.event_id;
    ++per_command[r.meta.command_id];
    prev = r.hash;
  }
  EXPECT_EQ(per_command.size(), expected_commands + 2);
  for (const auto& [id, n] : per_command) EXPECT_EQ(n, 1) << id;
  for (const auto& [id, a] : first) {
    ASSERT_EQ(a.event_ids.size(), 1u) << id;
    const auto& r = all[static_cast<std::size_t>(a.position.value - 1)];
    EXPECT_EQ(r.meta.command_id, id);
    EXPECT_EQ(r.meta.event_id, a.event_ids[0]);
    EXPECT_EQ(r.meta.stream_version, a.stream_version);
  }
  // Commands of one thread keep their submission order.
  for (int t = 0; t < kThreads; ++t) {
    events::GlobalPosition last;
    for (int i = 0; i < kPerThread; ++i) {
      const auto& a = first["cmd-" + std::to_string(t) + "-" + std::to_string(i)];
      EXPECT_GT(a.position, last);
      last = a.position;
    }
  }
}

// ---------------------------------------------------------------------------
// The plan of a group commit

// A group is planned against the writer's models before anything is
// written (CommandService::plan_group), then committed in one append: for
// any mix of commands — accepted, rejected, duplicated, reusing an id with
// another body, naming a stale expected_version, or reaching into another
// organization (refused, and recorded as AccessRefused) — one group answers
// each command exactly as submitting them one at a time does, and writes the
// same events; without refusals, at the same positions with the same ids
// and chain (a group appends its AccessRefused records after its
// commands). Only an immediate repeat is generated: a repeat of a rejected
// command later in a group gets the same rejection, where on its own it
// would be decided again.
CommandRequest generated_request(int n, int organization, int value_kind, std::optional<std::int64_t> old_value,
                                 bool as_tenant, std::optional<events::StreamVersion> expected_version) {
  const std::int64_t value = value_kind == 0 ? 0 : 30 * value_kind;  // 0 is out of bounds
  auto r = request("cmd-" + std::to_string(n),
                   set_value(kWindow, org("org-" + std::to_string(organization)), value, old_value), expected_version);
  if (as_tenant) r.meta.principal = Principal{events::Actor{"user", "org1-admin", {"tenant_admin"}}, "org-1"};
  // What the edge hashes: the body (commands/idempotency.h tells a retry from a reuse by it).
  r.meta.request_hash = std::to_string(organization) + "/" + std::to_string(value) + "/" +
                        std::to_string(old_value.value_or(-1)) + "/" +
                        std::to_string(expected_version.value_or(events::StreamVersion{-1}).value);
  return r;
}

std::vector<CommandRequest> generate_requests() {
  const int count = *rc::gen::inRange(1, 24);
  std::vector<CommandRequest> out;
  for (int n = 0; n < count; ++n) {
    const int repeat = out.empty() ? 0 : *rc::gen::inRange(0, 5);  // 1: same body, 2: another body
    if (repeat == 1) {
      out.push_back(out.back());
      continue;
    }
    const int organization = *rc::gen::inRange(1, 4);
    const int value_kind = *rc::gen::inRange(0, 6);
    std::optional<std::int64_t> old_value;
    if (*rc::gen::inRange(0, 4) == 0) old_value = 30 * *rc::gen::inRange(1, 6);
    std::optional<events::StreamVersion> expected;
    if (*rc::gen::inRange(0, 5) == 0) expected = events::StreamVersion{*rc::gen::inRange(1, 6)};
    auto r = generated_request(n, organization, value_kind, old_value, *rc::gen::inRange(0, 3) == 0, expected);
    if (repeat == 2) r.meta.command_id = out.back().meta.command_id;  // the id again, with another body
    out.push_back(std::move(r));
  }
  return out;
}

// What the caller sees of an answer; `where`: with its positions and event ids.
std::string answer_text(const domain::Result<Accepted>& a, bool where) {
  if (!a) return "error " + a.error().code;
  std::string text =
      "ok " + a->command_id + " v" + std::to_string(a->stream_version.value) + (a->duplicate ? " dup" : "");
  if (!where) return text;
  for (const auto& id : a->event_ids) text += " " + id;
  return text + " p" + std::to_string(a->position.value) + " d" +
         std::to_string(a->decided_at_position.value_or(events::GlobalPosition{-1}).value);
}

// The events written, apart from where they landed: a group records its
// refusals after its commands, one at a time each right away.
std::multiset<std::string> written(const std::vector<events::RecordedEvent>& all) {
  std::multiset<std::string> out;
  for (const auto& r : all) {
    out.insert(r.meta.command_id + " " + r.meta.stream_id + " v" + std::to_string(r.meta.stream_version.value) + " " +
               r.event_type + " " + r.payload);
  }
  return out;
}

RC_GTEST_PROP(CommandServicePlan, OneGroupAnswersAndWritesWhatTheCommandsOneAtATimeDo, ()) {
  const auto requests = generate_requests();
  for (const auto& r : requests) {
    const auto& c = std::get<domain::SetPolicyValue>(r.command);
    RC_LOG() << r.meta.command_id << " by " << r.meta.principal.tenant << ": " << c.scope.id << " = "
             << std::get<std::int64_t>(c.value.v)
             << (c.old_value ? " old " + std::to_string(std::get<std::int64_t>(c.old_value->v)) : "")
             << (r.expected_version ? " expecting v" + std::to_string(r.expected_version->value) : "") << "\n";
  }
  ManualClock clock{kT0};
  InMemoryEventStore one_by_one_store{clock};
  InMemoryEventStore grouped_store{clock};

  std::vector<domain::Result<Accepted>> one_by_one;
  {
    CommandService svc(one_by_one_store, clock);
    svc.start();
    RC_ASSERT(svc.submit_async(request("cmd-key", define_window())).get().has_value());
    for (const auto& r : requests) one_by_one.push_back(svc.submit_async(r).get());
    svc.stop();
  }
  std::vector<domain::Result<Accepted>> grouped;
  {
    GatedStore gate(grouped_store);
    CommandService svc(gate, clock);
    svc.start();
    gate.hold_next_batch();
    auto key = svc.submit_async(request("cmd-key", define_window()));
    gate.wait_until_held();
    std::vector<std::future<domain::Result<Accepted>>> answers;
    for (const auto& r : requests) answers.push_back(svc.submit_async(r));
    gate.release();
    RC_ASSERT(key.get().has_value());
    for (auto& f : answers) grouped.push_back(f.get());
    svc.stop();
    RC_ASSERT(gate.batches() == 2);  // the key's batch, then every request in one group
  }
  const bool refusals =
      std::any_of(grouped.begin(), grouped.end(), [](const auto& a) { return !a && a.error().code == "forbidden"; });
  RC_TAG(refusals ? "with refusals" : "without refusals");
  for (std::size_t i = 0; i < requests.size(); ++i)
    RC_ASSERT(answer_text(grouped[i], !refusals) == answer_text(one_by_one[i], !refusals));
  RC_ASSERT(written(grouped_store.all()) == written(one_by_one_store.all()));
  if (!refusals) RC_ASSERT(grouped_store.all() == one_by_one_store.all());
}

}  // namespace
}  // namespace ledger::commands

// The projector's invariants (ARCHITECTURE.md invariant 4: each event is
// applied exactly once per read model, rebuild equals live; invariant 8:
// only what continues the chain is applied) against the in-memory ports,
// with redelivery, duplicates, junk, forgeries, crashes and failures.
#include "projections/projector.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "adapters/memory/event_store.h"
#include "adapters/memory/projector_ports.h"
#include "events/codec/json_codec.h"

namespace ledger::projections {
namespace {

using adapters::memory::InMemoryReadModelStore;
using adapters::memory::MemoryHistory;
using adapters::memory::MemoryTopicFeed;

events::RecordedEvent value_set(std::int64_t position, const std::string& prev_hash, std::int64_t value) {
  events::EventMeta m;
  m.global_position = events::GlobalPosition{position};
  m.stream_id = "policy-key:k" + std::to_string(position % 3);
  m.stream_version = events::StreamVersion{position};
  m.event_id = "e-" + std::to_string(position);
  m.occurred_at = events::Instant{1'780'272'000'000'000 + position};
  m.recorded_at = m.occurred_at;
  m.actor = {"user", "alice", {"platform_admin"}};
  m.tenant = "platform";
  m.command_id = "c" + std::to_string(position);
  events::PolicyValueSet set;
  set.key = "k" + std::to_string(position % 3);
  set.scope = {events::ScopeLevel::kGlobal, ""};
  set.before = events::PolicyValue{std::int64_t{0}};
  set.after = events::PolicyValue{value};
  set.effective_at = m.occurred_at;
  set.reason = "r";
  return codec::record(m, set, prev_hash);
}

// Commits `n` more events to the history (what the writer does).
void commit(MemoryHistory& history, int n) {
  for (int i = 0; i < n; ++i) {
    const auto p = static_cast<std::int64_t>(history.committed.size()) + 1;
    const std::string prev = history.committed.empty() ? events::kGenesisHash : history.committed.back().hash;
    history.committed.push_back(value_set(p, prev, p * 7));
  }
}

// A store whose next commit can fail (a database outage mid-batch).
class FlakyStore final : public ReadModelStore {
 public:
  domain::Result<events::GlobalPosition> checkpoint(std::string_view projection) override {
    return inner.checkpoint(projection);
  }
  domain::Result<void> commit(std::string_view projection, std::span<const RowOp> ops, events::GlobalPosition from,
                              events::GlobalPosition to) override {
    if (fail_next_commit) {
      fail_next_commit = false;
      return domain::fail(domain::ErrorKind::kUnavailable, "injected_failure", "commit");
    }
    return inner.commit(projection, ops, from, to);
  }
  InMemoryReadModelStore inner;
  bool fail_next_commit = false;
};

// The read models rebuilt from the committed history alone.
std::map<std::string, InMemoryReadModelStore::Table> rebuilt(MemoryHistory& history) {
  InMemoryReadModelStore store;
  auto set = ProjectionSet::create(store);
  EXPECT_TRUE(set.has_value());
  EXPECT_TRUE(catch_up(**set, history, 7).has_value());
  return store.tables();
}

TEST(Projector, AppliesWhatTheFeedDeliversAndCommitsOnlyAfterward) {
  MemoryHistory history;
  MemoryTopicFeed feed;
  FlakyStore store;
  commit(history, 3);
  for (const auto& e : history.committed) feed.publish(e);
  auto set = ProjectionSet::create(store);
  ASSERT_TRUE(set.has_value());
  ProjectorStatus status;
  Projector projector(**set, history, feed, &status);
  store.fail_next_commit = true;
  EXPECT_EQ(projector.step(), Projector::Step::kNotApplied);
  EXPECT_EQ(feed.committed, 0u);  // the batch will be delivered again
  EXPECT_EQ(projector.step(), Projector::Step::kApplied);
  EXPECT_EQ(feed.committed, 3u);
  EXPECT_EQ((*set)->checkpoint().value(), events::GlobalPosition{3});
  EXPECT_EQ(status.readiness_json().find("\"checkpoint\":3") != std::string::npos, true);
  EXPECT_EQ(store.inner.tables(), rebuilt(history));
}

TEST(Projector, AForgedRecordIsReplacedByTheTrueEventAndRaisesAnAlarm) {
  MemoryHistory history;
  MemoryTopicFeed feed;
  InMemoryReadModelStore store;
  commit(history, 2);
  feed.publish(history.committed[0]);
  auto forged = value_set(2, history.committed[0].hash, 999'999);  // a valid-looking link, a false value
  forged.hash = std::string(64, '0');
  feed.publish(forged);
  auto set = ProjectionSet::create(store);
  ProjectorStatus status;
  Projector projector(**set, history, feed, &status);
  EXPECT_EQ(projector.step(), Projector::Step::kApplied);
  EXPECT_EQ(status.alarms(), 1u);
  EXPECT_EQ(store.tables(), rebuilt(history));
}

// The chain guard fills what the feed skipped from the committed history.
TEST(Projector, AReadModelBehindTheFeedIsFilledFromHistory) {
  MemoryHistory history;
  MemoryTopicFeed feed;
  InMemoryReadModelStore store;
  commit(history, 5);
  for (const auto& e : history.committed) feed.publish(e);
  feed.committed = 3;  // the group moved on before this read model existed
  auto set = ProjectionSet::create(store);
  Projector projector(**set, history, feed);
  EXPECT_EQ(projector.step(), Projector::Step::kApplied);
  EXPECT_EQ((*set)->checkpoint().value(), events::GlobalPosition{5});
  EXPECT_EQ(store.tables(), rebuilt(history));
}

// Whatever the topic holds and whatever fails, the read models end equal
// to a rebuild from history: nothing applied twice, nothing skipped,
// nothing forged, and checkpoints never beyond the committed head.
RC_GTEST_PROP(Projector, LiveEqualsRebuildWhateverTheTopicHoldsAndWhateverFails, ()) {
  MemoryHistory history;
  MemoryTopicFeed feed;
  FlakyStore store;
  std::size_t relayed = 0;  // history published so far, in order
  auto set = ProjectionSet::create(store);
  RC_ASSERT(set.has_value());
  auto projector = std::make_unique<Projector>(
      **set, history, feed, nullptr, ProjectorLoopOptions{.batch_size = *rc::gen::inRange<std::size_t>(1, 5)});
  const int steps = *rc::gen::inRange(1, 50);
  for (int i = 0; i < steps; ++i) {
    switch (*rc::gen::inRange(0, 10)) {
      case 0:
        commit(history, *rc::gen::inRange(1, 4));
        break;
      case 1:  // the relay publishes what it has not yet
        while (relayed < history.committed.size()) feed.publish(history.committed[relayed++]);
        break;
      case 2:  // the relay re-publishes a range after a failure (at least once)
        if (relayed > 0) {
          const auto from = *rc::gen::inRange<std::size_t>(0, relayed);
          for (auto k = from; k < relayed; ++k) feed.publish(history.committed[k]);
        }
        break;
      case 3:
        feed.topic.push_back("{not json");
        break;
      case 4:
        if (relayed < history.committed.size()) {  // a forgery for the next position
          auto f = history.committed[relayed];
          f.payload = R"({"forged":true})";
          feed.publish(f);
        }
        break;
      case 5:
        feed.fail_next_poll = true;
        break;
      case 6:
        store.fail_next_commit = true;
        break;
      case 7:  // crash and restart: the uncommitted part of the topic comes again
        feed.reset();
        set = ProjectionSet::create(store);
        projector = std::make_unique<Projector>(**set, history, feed);
        break;
      default:
        projector->step();
        break;
    }
    auto cp = (*set)->checkpoint();
    RC_ASSERT(cp.has_value());
    RC_ASSERT(cp->value <= static_cast<std::int64_t>(history.committed.size()));
  }
  // Failures stop; the relay catches up; the projector drains the topic.
  feed.fail_next_poll = false;
  store.fail_next_commit = false;
  while (relayed < history.committed.size()) feed.publish(history.committed[relayed++]);
  for (std::size_t k = 0; k < feed.topic.size() + 4; ++k) projector->step();
  RC_ASSERT((*set)->checkpoint().value().value == static_cast<std::int64_t>(history.committed.size()));
  RC_ASSERT(store.inner.tables() == rebuilt(history));
}

}  // namespace
}  // namespace ledger::projections

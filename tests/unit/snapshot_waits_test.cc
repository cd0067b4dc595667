// SnapshotWaits: waiters woken by the checkpoint, by their deadline or by
// stop(); the per-principal and total caps.
#include "adapters/http/routes/snapshot_waits.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

namespace ledger::routes {
namespace {

using namespace std::chrono_literals;
using Outcome = SnapshotWaits::Outcome;

TEST(SnapshotWaits, WakesAWaiterWhenTheCheckpointReachesItsPosition) {
  std::atomic<std::int64_t> checkpoint{5};
  SnapshotWaits waits(
      [&]() -> domain::Result<events::GlobalPosition> { return events::GlobalPosition{checkpoint.load()}; },
      {.poll = 1ms});
  std::promise<Outcome> done;
  ASSERT_TRUE(waits.wait("alice", events::GlobalPosition{7}, 60s, [&](Outcome o) { done.set_value(o); }));
  auto f = done.get_future();
  EXPECT_EQ(waits.waiting("alice"), 1);
  checkpoint = 7;
  EXPECT_EQ(f.get(), Outcome::kReached);
  EXPECT_EQ(waits.waiting("alice"), 0);
}

TEST(SnapshotWaits, EndsAWaiterAtItsDeadline) {
  SnapshotWaits waits([]() -> domain::Result<events::GlobalPosition> { return events::GlobalPosition{1}; },
                      {.poll = 1ms});
  std::promise<Outcome> done;
  ASSERT_TRUE(waits.wait("alice", events::GlobalPosition{2}, 20ms, [&](Outcome o) { done.set_value(o); }));
  EXPECT_EQ(done.get_future().get(), Outcome::kTimedOut);
}

TEST(SnapshotWaits, CapsWaitsPerPrincipalAndInTotal) {
  SnapshotWaits waits([]() -> domain::Result<events::GlobalPosition> { return events::GlobalPosition{0}; },
                      {.per_principal = 2, .total = 3, .poll = 1ms});
  std::atomic<int> stopped{0};
  auto count = [&](Outcome o) {
    if (o == Outcome::kStopped) stopped.fetch_add(1);
  };
  ASSERT_TRUE(waits.wait("alice", events::GlobalPosition{9}, 60s, count));
  ASSERT_TRUE(waits.wait("alice", events::GlobalPosition{9}, 60s, count));
  auto refused = waits.wait("alice", events::GlobalPosition{9}, 60s, count);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "too_many_waits");
  EXPECT_EQ(refused.error().kind, domain::ErrorKind::kResourceExhausted);
  ASSERT_TRUE(waits.wait("bob", events::GlobalPosition{9}, 60s, count));
  auto full = waits.wait("carol", events::GlobalPosition{9}, 60s, count);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, "too_many_waits");
  EXPECT_EQ(waits.waiting("carol"), 0);
  waits.stop();
  EXPECT_EQ(stopped.load(), 3);
  auto after = waits.wait("dave", events::GlobalPosition{1}, 1s, count);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, "shutting_down");
}

}  // namespace
}  // namespace ledger::routes

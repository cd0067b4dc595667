// The relay's invariant (ARCHITECTURE.md invariant 3: commit order is
// position order, nothing is skipped on the way to the bus) against the
// in-memory ports, with failures injected at every port.
#include "commands/relay/relay.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <set>

#include "adapters/memory/relay_ports.h"

namespace ledger::relay {
namespace {

using adapters::memory::MemoryBus;
using adapters::memory::MemoryCheckpoint;
using adapters::memory::MemoryEventSource;

void commit(MemoryEventSource& source, int n) {
  for (int i = 0; i < n; ++i) {
    events::RecordedEvent e;
    e.meta.global_position = events::GlobalPosition{static_cast<std::int64_t>(source.committed.size()) + 1};
    e.meta.stream_id = "s";
    e.event_type = "Test";
    source.committed.push_back(e);
  }
}

// Positions from their numbers, to compare with what the bus received.
std::vector<events::GlobalPosition> positions(std::initializer_list<std::int64_t> values) {
  std::vector<events::GlobalPosition> out;
  for (auto v : values) out.push_back(events::GlobalPosition{v});
  return out;
}

// The first time each position reached the bus, in the order it did.
std::vector<events::GlobalPosition> first_arrivals(const std::vector<events::GlobalPosition>& received) {
  std::vector<events::GlobalPosition> out;
  std::set<events::GlobalPosition> seen;
  for (auto p : received)
    if (seen.insert(p).second) out.push_back(p);
  return out;
}

TEST(Relay, PublishesInOrderAndStoresTheCheckpointAfterDelivery) {
  MemoryEventSource source;
  MemoryBus bus;
  MemoryCheckpoint checkpoint;
  commit(source, 5);
  Relay relay(source, bus, checkpoint, {.batch_size = 2});
  EXPECT_EQ(relay.step(), StepOutcome::kPublished);
  EXPECT_EQ(checkpoint.position, events::GlobalPosition{2});
  EXPECT_EQ(relay.step(), StepOutcome::kPublished);
  EXPECT_EQ(relay.step(), StepOutcome::kPublished);
  EXPECT_EQ(relay.step(), StepOutcome::kIdle);
  EXPECT_EQ(bus.received, positions({1, 2, 3, 4, 5}));
  EXPECT_EQ(checkpoint.position, events::GlobalPosition{5});
}

TEST(Relay, AFailedDeliveryIsResentFromTheDurablePositionNeverSkipped) {
  MemoryEventSource source;
  MemoryBus bus;
  MemoryCheckpoint checkpoint;
  commit(source, 4);
  Relay relay(source, bus, checkpoint, {.batch_size = 4});
  bus.fail_after = 2;  // 1 and 2 delivered, then the bus fails
  EXPECT_EQ(relay.step(), StepOutcome::kFailed);
  EXPECT_EQ(checkpoint.position, events::GlobalPosition{0});  // nothing is durable until the whole batch is
  EXPECT_EQ(relay.step(), StepOutcome::kPublished);
  EXPECT_EQ(bus.received, positions({1, 2, 1, 2, 3, 4}));
  EXPECT_EQ(bus.sessions, 2u);  // the retry ran in a fresh session
  EXPECT_EQ(checkpoint.position, events::GlobalPosition{4});
}

TEST(Relay, ACheckpointThatCouldNotBeStoredMeansResendingNotLosing) {
  MemoryEventSource source;
  MemoryBus bus;
  MemoryCheckpoint checkpoint;
  commit(source, 3);
  Relay relay(source, bus, checkpoint);
  checkpoint.fail_next_store = true;
  EXPECT_EQ(relay.step(), StepOutcome::kFailed);
  EXPECT_FALSE(relay.published().has_value());
  EXPECT_EQ(relay.step(), StepOutcome::kPublished);
  EXPECT_EQ(first_arrivals(bus.received), positions({1, 2, 3}));
  EXPECT_EQ(checkpoint.position, events::GlobalPosition{3});
}

TEST(Relay, ASourceThatSkipsAPositionIsRefusedAndNothingIsPublished) {
  MemoryEventSource source;
  MemoryBus bus;
  MemoryCheckpoint checkpoint;
  commit(source, 3);
  source.hide_position = events::GlobalPosition{2};
  Relay relay(source, bus, checkpoint);
  EXPECT_EQ(relay.step(), StepOutcome::kFailed);
  EXPECT_TRUE(bus.received.empty());
  EXPECT_EQ(checkpoint.position, events::GlobalPosition{0});
  source.hide_position.reset();
  EXPECT_EQ(relay.step(), StepOutcome::kPublished);
  EXPECT_EQ(bus.received, positions({1, 2, 3}));
}

// Any interleaving of commits, steps, failures at every port and restarts
// (a new Relay over the same durable ports): the bus sees every committed
// position, first arrivals in ascending order with no gap, the checkpoint
// never runs ahead of the bus, and once the failures stop everything
// committed is published and durable.
RC_GTEST_PROP(Relay, NothingIsSkippedOrReorderedWhateverFails, ()) {
  MemoryEventSource source;
  MemoryBus bus;
  MemoryCheckpoint checkpoint;
  const auto batch = *rc::gen::inRange<std::size_t>(1, 6);
  auto relay = std::make_unique<Relay>(source, bus, checkpoint, LoopOptions{.batch_size = batch});
  const auto steps = *rc::gen::inRange(1, 60);
  for (int i = 0; i < steps; ++i) {
    switch (*rc::gen::inRange(0, 7)) {
      case 0:
        commit(source, *rc::gen::inRange(1, 5));
        break;
      case 1:
        bus.fail_after = *rc::gen::inRange<std::size_t>(0, batch);
        break;
      case 2:
        checkpoint.fail_next_store = true;
        break;
      case 3:
        checkpoint.fail_next_load = true;
        break;
      case 4:
        source.fail_next_read = true;
        break;
      case 5:
        relay = std::make_unique<Relay>(source, bus, checkpoint, LoopOptions{.batch_size = batch});
        break;
      default:
        relay->step();
        break;
    }
    const auto firsts = first_arrivals(bus.received);
    for (std::size_t k = 0; k < firsts.size(); ++k) RC_ASSERT(firsts[k].value == static_cast<std::int64_t>(k) + 1);
    RC_ASSERT(checkpoint.position.value <= static_cast<std::int64_t>(firsts.size()));
  }
  bus.fail_after.reset();
  checkpoint.fail_next_store = checkpoint.fail_next_load = source.fail_next_read = false;
  for (std::size_t i = 0; i < source.committed.size() + 2; ++i) relay->step();
  RC_ASSERT(first_arrivals(bus.received).size() == source.committed.size());
  RC_ASSERT(checkpoint.position.value == static_cast<std::int64_t>(source.committed.size()));
}

}  // namespace
}  // namespace ledger::relay

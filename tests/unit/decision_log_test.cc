// The decision log's buffer and record (issue 13 part 6): bounded, drops
// counted, batches drained in order, a lingering drain ended by what it
// waits for; the record's JSON round-trips.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "commands/decision_log/decision_log_buffer.h"
#include "commands/decision_log/decision_record.h"
#include "tests/support/decision_records.h"

namespace ledger::commands {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

DecisionRecord record(int i) {
  DecisionRecord r = testing::sample_decision_record("d-" + std::to_string(i));
  r.snapshot_version = 40 + i;
  return r;
}

TEST(DecisionLogBuffer, IsBoundedAndCountsWhatItDrops) {
  DecisionLogBuffer b(3);
  EXPECT_TRUE(b.push(record(1)));
  EXPECT_TRUE(b.push(record(2)));
  EXPECT_TRUE(b.push(record(3)));
  EXPECT_FALSE(b.push(record(4)));
  EXPECT_FALSE(b.push(record(5)));
  EXPECT_EQ(b.size(), 3u);
  EXPECT_EQ(b.accepted(), 3u);
  EXPECT_EQ(b.dropped(), 2u);
  // Draining makes room again.
  EXPECT_EQ(b.drain(1, 0ms).size(), 1u);
  EXPECT_TRUE(b.push(record(6)));
  EXPECT_EQ(b.dropped(), 2u);
  EXPECT_EQ(b.accepted(), 4u);
}

// push_made builds the record only when there is room: a full buffer (or
// a closed one) counts the drop without calling make().
TEST(DecisionLogBuffer, AFullBufferDropsWithoutBuildingTheRecord) {
  DecisionLogBuffer b(2);
  int built = 0;
  auto make = [&] {
    ++built;
    return record(built);
  };
  EXPECT_TRUE(b.push_made(make));
  EXPECT_TRUE(b.push_made(make));
  EXPECT_FALSE(b.push_made(make));
  EXPECT_FALSE(b.push_made(make));
  EXPECT_EQ(built, 2);
  EXPECT_EQ(b.dropped(), 2u);
  EXPECT_EQ(b.accepted(), 2u);
  // Draining makes room again, for a record built then.
  EXPECT_EQ(b.drain(1, 0ms).size(), 1u);
  EXPECT_TRUE(b.push_made(make));
  EXPECT_EQ(built, 3);
  auto rest = b.drain(10, 0ms);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[1].decision_id, record(3).decision_id);
  b.close();
  EXPECT_FALSE(b.push_made(make));  // closed: built, then dropped by push()
  EXPECT_EQ(b.dropped(), 3u);
}

TEST(DecisionLogBuffer, DrainsBatchesInPushOrder) {
  DecisionLogBuffer b(100);
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(b.push(record(i)));
  auto first = b.drain(5, 0ms);
  ASSERT_EQ(first.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(first[i].decision_id, "d-" + std::to_string(i));
  auto second = b.drain(5, 0ms);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0].decision_id, "d-5");
  EXPECT_EQ(second[1].decision_id, "d-6");
  EXPECT_TRUE(b.drain(5, 0ms).empty());
}

TEST(DecisionLogBuffer, CloseWakesTheDrainerAndDropsLaterPushes) {
  DecisionLogBuffer b(10);
  std::atomic<bool> woke{false};
  std::thread drainer([&] {
    auto batch = b.drain(10, std::chrono::hours(1));
    EXPECT_TRUE(batch.empty());
    woke = true;
  });
  b.close();
  drainer.join();
  EXPECT_TRUE(woke);
  EXPECT_FALSE(b.push(record(1)));
  EXPECT_EQ(b.dropped(), 1u);
}

// A lingering drain, once it has a first record, waits for more; what ends
// the wait early is what it waits for: `max` records, or close().
// One drain(max, an hour, an hour) on a thread of its own; the buffer is
// closed before the join, so a failed assertion cannot leave it waiting.
class HourLongDrain {
 public:
  HourLongDrain(DecisionLogBuffer& b, std::size_t max)
      : b_(b),
        result_(drained_.get_future()),
        thread_([this, max] { drained_.set_value(b_.drain(max, std::chrono::hours(1), std::chrono::hours(1))); }) {}
  ~HourLongDrain() {
    b_.close();
    thread_.join();
  }
  HourLongDrain(const HourLongDrain&) = delete;
  HourLongDrain& operator=(const HourLongDrain&) = delete;
  std::future<std::vector<DecisionRecord>>& result() { return result_; }

 private:
  DecisionLogBuffer& b_;
  std::promise<std::vector<DecisionRecord>> drained_;
  std::future<std::vector<DecisionRecord>> result_;
  std::thread thread_;
};

TEST(DecisionLogBuffer, ALingeringDrainReturnsOnceMaxAreQueued) {
  DecisionLogBuffer b(100);
  HourLongDrain drainer(b, 3);
  auto& result = drainer.result();
  ASSERT_TRUE(b.push(record(1)));
  ASSERT_TRUE(b.push(record(2)));
  // Two of three: the drainer lingers (an hour, unless the third wakes it).
  EXPECT_EQ(result.wait_for(100ms), std::future_status::timeout);
  ASSERT_TRUE(b.push(record(3)));
  ASSERT_EQ(result.wait_for(30s), std::future_status::ready) << "the push that reached max did not end the linger";
  const auto batch = result.get();
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_EQ(batch[0].decision_id, "d-1");
  EXPECT_EQ(batch[2].decision_id, "d-3");
}

// A buffer smaller than a batch is full before `max` can be queued: the
// push that fills it ends the linger, or every later push would be dropped
// while the drainer waits.
TEST(DecisionLogBuffer, AFullBufferEndsALingerForMoreThanItHolds) {
  DecisionLogBuffer b(2);
  HourLongDrain drainer(b, 1000);
  auto& result = drainer.result();
  ASSERT_TRUE(b.push(record(1)));
  EXPECT_EQ(result.wait_for(100ms), std::future_status::timeout);
  ASSERT_TRUE(b.push(record(2)));
  ASSERT_EQ(result.wait_for(30s), std::future_status::ready)
      << "the push that filled the buffer did not end the linger";
  EXPECT_EQ(result.get().size(), 2u);
  EXPECT_EQ(b.dropped(), 0u);
}

TEST(DecisionLogBuffer, CloseEndsALingeringDrainWithWhatItHas) {
  DecisionLogBuffer b(100);
  HourLongDrain drainer(b, 10);
  auto& result = drainer.result();
  ASSERT_TRUE(b.push(record(1)));
  ASSERT_TRUE(b.push(record(2)));
  EXPECT_EQ(result.wait_for(100ms), std::future_status::timeout);
  b.close();
  ASSERT_EQ(result.wait_for(30s), std::future_status::ready) << "close() did not end the linger";
  EXPECT_EQ(result.get().size(), 2u);
}

TEST(DecisionLogBuffer, ALingeringDrainWaitsItsLingerThenTakesWhatCame) {
  DecisionLogBuffer b(100);
  ASSERT_TRUE(b.push(record(1)));
  const auto start = std::chrono::steady_clock::now();
  const auto batch = b.drain(10, 0ms, 50ms);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  ASSERT_EQ(batch.size(), 1u);
  // Without a first record there is nothing to linger for: it returns after `wait`.
  EXPECT_TRUE(b.drain(10, 0ms, std::chrono::hours(1)).empty());
  // With max already queued, it does not linger at all.
  for (int i = 2; i <= 4; ++i) ASSERT_TRUE(b.push(record(i)));
  EXPECT_EQ(b.drain(3, 0ms, std::chrono::hours(1)).size(), 3u);
}

TEST(DecisionLogBuffer, ManyPushersLoseNothingBelowTheBound) {
  DecisionLogBuffer b(100000);
  std::vector<std::thread> pushers;
  for (int t = 0; t < 4; ++t) {
    pushers.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) b.push(record(t * 1000 + i));
    });
  }
  std::size_t drained = 0;
  for (auto& p : pushers) p.join();
  while (true) {
    auto batch = b.drain(333, 0ms);
    if (batch.empty()) break;
    EXPECT_LE(batch.size(), 333u);
    drained += batch.size();
  }
  EXPECT_EQ(drained, 4000u);
  EXPECT_EQ(b.dropped(), 0u);
}

// Drains that take everything (the queue swapped out) and drains of fewer
// than are queued (moved one by one), alternating while four threads push:
// every record comes out once, each thread's in the order it pushed them,
// and the room a drain makes is seen by push_made.
TEST(DecisionLogBuffer, DrainsWhileOthersPushLoseNothingAndKeepOrder) {
  constexpr int kPushers = 4;
  constexpr int kEach = 5000;
  DecisionLogBuffer b(64);
  std::atomic<int> running{kPushers};
  std::vector<std::thread> pushers;
  std::atomic<std::uint64_t> retries{0};
  for (int t = 0; t < kPushers; ++t) {
    pushers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // A full buffer drops: push again, after letting the drainer run,
        // until it is taken.
        while (!b.push_made([&] { return record(t * kEach + i); })) {
          retries.fetch_add(1);
          std::this_thread::yield();
        }
      }
      running.fetch_sub(1);
    });
  }
  std::vector<int> next(kPushers, 0);
  int drained = 0;
  int out_of_order = 0;
  bool all = false;
  while (running.load() > 0 || b.size() > 0) {
    all = !all;
    const auto batch = b.drain(all ? 100000 : 7, 1ms);
    if (!all) {
      EXPECT_LE(batch.size(), 7u);
    }
    for (const auto& r : batch) {
      const int id = std::stoi(r.decision_id.substr(2));
      const int t = id / kEach;
      // Reported once, and the loop goes on: the pushers wait on it.
      if (id % kEach != next[t] && out_of_order++ == 0) {
        ADD_FAILURE() << "thread " << t << "'s record " << id % kEach << " came where " << next[t] << " was due";
      }
      next[t] = id % kEach + 1;
      ++drained;
    }
  }
  for (auto& p : pushers) p.join();
  EXPECT_EQ(out_of_order, 0);
  EXPECT_EQ(drained, kPushers * kEach);
  EXPECT_EQ(b.accepted(), static_cast<std::uint64_t>(kPushers * kEach));
  EXPECT_EQ(b.dropped(), retries.load());
  EXPECT_EQ(b.size(), 0u);
}

TEST(DecisionRecord, JsonRoundTrips) {
  const DecisionRecord r = record(7);
  const Json j = decision_record_json(r);
  EXPECT_EQ(j["actor"]["actor_id"], "acme-service");
  EXPECT_EQ(j["snapshot_version"], 47);
  EXPECT_EQ(j["output"]["matched_rules"][0]["rule_id"], "r1");
  auto back = decision_record_from_json(Json::parse(j.dump()));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(decision_record_json(*back), j);
}

// The query service writes a record's text without building its tree; it
// must be the very text the tree dumps to, whatever the fields hold: quotes,
// backslashes, control characters, bytes that are not UTF-8, any snapshot
// version.
RC_GTEST_PROP(DecisionRecord, EncodedTextIsTheTreesDump, ()) {
  const auto text = [] {
    return *rc::gen::oneOf(rc::gen::arbitrary<std::string>(),
                           rc::gen::container<std::string>(rc::gen::inRange<char>(0x20, 0x7f)),
                           rc::gen::element<std::string>("", "\"", "\\", "a\nb", "\x7f", "\xc3\xa9", "\xff\xfe"));
  };
  DecisionRecord r;
  for (std::string* field :
       {&r.kind, &r.decision_id, &r.recorded_at, &r.as_of, &r.organization_id, &r.project_id, &r.actor_tenant,
        &r.actor_type, &r.actor_id, &r.correlation_id, &r.decision, &r.reason_code}) {
    *field = text();
  }
  r.snapshot_version = *rc::gen::arbitrary<std::int64_t>();
  const auto replace = Json::error_handler_t::replace;
  const Json input = {
      {"correlation_id", text()}, {"hierarchy", {{"project_id", text()}}}, {"n", *rc::gen::arbitrary<int>()}};
  const Json output = {{"decision", text()}, {"matched_rules", Json::array({{{"rule_id", text()}}})}};
  const std::string encoded =
      encoded_decision_record(r, input.dump(-1, ' ', false, replace), output.dump(-1, ' ', false, replace));
  DecisionRecord whole = r;
  whole.input = input;
  whole.output = output;
  RC_ASSERT(encoded == decision_record_json(whole).dump(-1, ' ', false, replace));
}

TEST(DecisionRecord, RefusesMissingOrMistypedFields) {
  Json j = decision_record_json(record(1));
  j.erase("snapshot_version");
  auto r = decision_record_from_json(j);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "invalid_decision_record");
  j = decision_record_json(record(1));
  j["actor"]["actor_id"] = 5;
  EXPECT_FALSE(decision_record_from_json(j));
  j = decision_record_json(record(1));
  j["input"] = "not an object";
  EXPECT_FALSE(decision_record_from_json(j));
  EXPECT_FALSE(decision_record_from_json(Json::array()));
}

TEST(DecisionRecord, KnowsItsKindAndReadsOldRecordsAsAdmission) {
  DecisionRecord r = record(3);
  r.kind = kEntitlementCheck;
  auto back = decision_record_from_json(decision_record_json(r));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->kind, kEntitlementCheck);
  Json old = decision_record_json(record(3));
  old.erase("kind");  // written before there were two kinds
  auto admission = decision_record_from_json(old);
  ASSERT_TRUE(admission) << admission.error().message;
  EXPECT_EQ(admission->kind, kAdmissionDecision);
  for (const Json& bad : {Json("vote"), Json(3), Json(nullptr)}) {
    old["kind"] = bad;
    auto refused = decision_record_from_json(old);
    ASSERT_FALSE(refused) << bad.dump();
    EXPECT_EQ(refused.error().code, "invalid_decision_record");
  }
}

}  // namespace
}  // namespace ledger::commands

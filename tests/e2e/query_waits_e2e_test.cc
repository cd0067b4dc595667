// Read-your-writes waits through the real ledger-query process (issue 10,
// item 7): a request waiting for min_position holds no worker thread, so
// many of them never stall /healthz or other principals' reads; a principal
// waits in at most 4 requests at once (beyond: 429 too_many_waits with
// Retry-After); a min_position beyond the event store's head is refused at
// once; and a parked wait is woken when the projector reaches its position.
//
// The projector is held still (SIGSTOP) so that the read models stay behind
// a position the event store already has.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/e2e_stack.h"
#include "tests/support/e2e_support.h"

namespace {

using namespace std::chrono_literals;
using ledger::adapters::http::HttpClient;
using ledger::testing::call;
using ledger::testing::eventually;
using ledger::testing::Reply;
using Stack = ledger::testing::ServiceStack;

// Principals allowed to read reservations (reservation.read), each with its
// own cap of parked waits, and how many concurrent waits each sends: the
// first one 16 by itself.
const std::vector<std::pair<std::string, int>> kWaiters = {{"Bearer dev-acme-reader", 16},
                                                           {"Bearer dev-globex-reader", 5},
                                                           {"Bearer dev-acme-service", 5},
                                                           {"Bearer dev-globex-service", 5}};
constexpr int kPerPrincipal = 4;  // ledger-query's default --max-waits-per-principal

// Lets the projector go on however the test ends.
struct ResumeProjector {
  Stack& stack;
  ~ResumeProjector() { stack.resume_projector(); }
};

TEST(QueryWaitsE2E, ParkedWaitsHoldNoThreadAreCappedPerPrincipalAndWakeAtTheirPosition) {
  Stack s("query_waits_e2e");
  ASSERT_TRUE(s.start());
  const std::int64_t first = s.ok("registry.register", {{"kind", "product"}, {"entry_id", "waits-a"}});
  ASSERT_GT(first, 0);
  // The read models hold `first` before the projector is held.
  Reply caught_up = s.query("GET", "/v1/reservations?min_position=" + std::to_string(first) + "&wait_ms=10000",
                            "Bearer dev-acme-reader");
  ASSERT_EQ(caught_up.status, 200) << caught_up.describe();

  s.pause_projector();
  ResumeProjector resume{s};
  const std::int64_t ahead = s.ok("registry.register", {{"kind", "product"}, {"entry_id", "waits-b"}});
  ASSERT_GT(ahead, first);  // in the event store, not in the read models

  // 31 concurrent waits (wait_ms at its maximum) from 4 principals, 16 of
  // them from one: more than ledger-query's 16 request threads.
  const std::string target = "/v1/reservations?min_position=" + std::to_string(ahead) + "&wait_ms=10000";
  std::mutex mu;
  std::vector<Reply> replies;
  std::atomic<int> finished{0};
  ledger::testing::ThreadGroup group;
  int parked = 0, excess = 0;
  for (const auto& [token, count] : kWaiters) {
    parked += std::min(count, kPerPrincipal);
    excess += std::max(0, count - kPerPrincipal);
    for (int i = 0; i < count; ++i) {
      group.threads.emplace_back([&, token = token] {
        HttpClient client("127.0.0.1", s.query_port(), 30s);
        Reply r = call(client, "GET", target, {}, token);
        std::lock_guard lock(mu);
        replies.push_back(std::move(r));
        ++finished;
      });
    }
  }

  // The cap refuses each principal's waits beyond four at once, while those
  // four wait on.
  ASSERT_TRUE(eventually(8s, [&] { return finished.load() >= excess; }))
      << "no wait was refused: " << finished.load() << " of " << parked + excess << " answered";
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(static_cast<int>(replies.size()), excess);
    for (const Reply& r : replies) {
      EXPECT_EQ(r.status, 429) << r.describe();
      EXPECT_EQ(r.code(), "too_many_waits") << r.describe();
      EXPECT_FALSE(r.retry_after.empty()) << r.describe();
    }
  }

  // While 16 requests are parked: /healthz, another principal's read and a wait
  // beyond the head are all answered, before any parked wait ends.
  HttpClient other("127.0.0.1", s.query_port(), 30s);
  Reply health = call(other, "GET", "/healthz", {}, "");
  EXPECT_EQ(health.status, 200) << health.describe();
  Reply read = call(other, "GET", "/v1/reservations", {}, "Bearer dev-acme-admin");
  EXPECT_EQ(read.status, 200) << read.describe();
  Reply beyond = call(other, "GET", "/v1/reservations?min_position=" + std::to_string(ahead + 1000) + "&wait_ms=10000",
                      {}, "Bearer dev-acme-tenant-admin");
  EXPECT_EQ(beyond.status, 400) << beyond.describe();
  EXPECT_EQ(beyond.code(), "position_beyond_head") << beyond.describe();
  EXPECT_EQ(finished.load(), excess) << "the parked waits ended before the other requests were answered";

  // The projector reaches `ahead`: every parked wait is answered 200 (a
  // timeout would be 503 snapshot_not_ready).
  s.resume_projector();
  group.join();
  std::lock_guard lock(mu);
  ASSERT_EQ(static_cast<int>(replies.size()), parked + excess);
  int ok = 0;
  for (const Reply& r : replies) {
    if (r.status == 200) {
      ++ok;
      EXPECT_GE(r.body.value("snapshot_version", std::int64_t{0}), ahead) << r.describe();
    }
  }
  EXPECT_EQ(ok, parked) << s.describe_logs();
}

}  // namespace

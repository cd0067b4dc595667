// One bad command never fails its group-commit neighbours, and nothing a
// command brings ends the writer thread (commands/command_service.h; issue
// 10, items 1 and 10). The store below stands in for a database that refuses
// one member's data (as PostgreSQL's jsonb refuses U+0000) or an adapter
// that throws.
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "adapters/memory/event_store.h"
#include "adapters/system/clock.h"
#include "commands/command_service.h"

namespace ledger::commands {
namespace {

using adapters::memory::InMemoryEventStore;
using adapters::system::ManualClock;
using domain::ErrorKind;

constexpr events::Instant kT0{1'780'272'000'000'000};  // 2026-06-01T00:00:00Z

// Refuses (kInternal `database_error`) every append batch holding a command
// whose correlation id is "poison"; throws for "throw". Can hold the writer
// at the start of its next batch, so a test knows what forms the next one.
class RefusingStore final : public EventStore {
 public:
  explicit RefusingStore(InMemoryEventStore& inner) : inner_(inner) {}

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
  std::vector<std::size_t> append_sizes() const {
    std::lock_guard lock(mu_);
    return append_sizes_;
  }

  domain::Result<std::uint64_t> acquire_writer() override {
    {
      std::unique_lock lock(mu_);
      if (hold_) {
        held_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return !hold_; });
      }
    }
    return inner_.acquire_writer();
  }
  domain::Result<std::vector<events::Envelope>> read_stream(const std::string& stream_id) override {
    return inner_.read_stream(stream_id);
  }
  domain::Result<std::vector<events::Envelope>> read_by_types(std::span<const std::string> types,
                                                              events::GlobalPosition after,
                                                              std::size_t limit) override {
    return inner_.read_by_types(types, after, limit);
  }
  domain::Result<std::vector<std::optional<CommandOutcome>>> find_outcomes(
      std::span<const IdempotencyKey> keys) override {
    return inner_.find_outcomes(keys);
  }
  domain::Result<std::vector<CommandOutcome>> append(std::span<const StreamAppend> batch) override {
    {
      std::lock_guard lock(mu_);
      append_sizes_.push_back(batch.size());
    }
    for (const auto& a : batch) {
      if (a.meta.correlation_id == "throw") throw std::runtime_error("adapter bug");
      if (a.meta.correlation_id == "poison") {
        return domain::fail(ErrorKind::kInternal, "database_error", "the database refused the operation");
      }
    }
    return inner_.append(batch);
  }

 private:
  InMemoryEventStore& inner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  bool held_ = false;
  std::vector<std::size_t> append_sizes_;
};

CommandRequest define(const std::string& id, const std::string& correlation_id) {
  static int keys = 0;
  events::PolicyKeyDefined d;
  d.key = "test.key_" + std::to_string(++keys);
  d.value_type = events::ValueType::kInt;
  d.default_value = events::PolicyValue{std::int64_t{1}};
  d.min = 0;
  d.max = 10;
  CommandRequest r;
  r.meta.command_id = id;
  r.meta.correlation_id = correlation_id;
  r.meta.principal = Principal{events::Actor{"user", "alice", {"platform_admin"}}, "platform"};
  r.command = domain::DefinePolicyKey{d};
  return r;
}

class CommandIsolationTest : public ::testing::Test {
 protected:
  CommandIsolationTest() { svc_.start(); }

  // Holds the writer on a batch of its own, queues `requests` behind it and
  // lets them form exactly one batch; returns their replies.
  std::vector<domain::Result<Accepted>> one_batch(const std::vector<CommandRequest>& requests) {
    store_.hold_next_batch();
    auto plug = svc_.submit_async(define("plug-" + std::to_string(++plugs_), "plug"));
    store_.wait_until_held();
    std::vector<std::future<domain::Result<Accepted>>> futures;
    for (const auto& r : requests) futures.push_back(svc_.submit_async(r));
    store_.release();
    EXPECT_TRUE(plug.get().has_value());
    std::vector<domain::Result<Accepted>> out;
    for (auto& f : futures) out.push_back(f.get());
    return out;
  }

  ManualClock clock_{kT0};
  InMemoryEventStore memory_{clock_};
  RefusingStore store_{memory_};
  CommandService svc_{store_, clock_};
  int plugs_ = 0;
};

TEST_F(CommandIsolationTest, AMemberTheDatabaseRefusesFailsAloneItsNeighboursAreCommitted) {
  std::vector<CommandRequest> batch;
  for (int i = 0; i < 6; ++i) batch.push_back(define("cmd-" + std::to_string(i), i == 3 ? "poison" : "ok"));
  auto replies = one_batch(batch);
  for (int i = 0; i < 6; ++i) {
    const auto& r = replies[static_cast<std::size_t>(i)];
    if (i == 3) {
      ASSERT_FALSE(r.has_value());
      EXPECT_EQ(r.error().kind, ErrorKind::kInternal);
      EXPECT_EQ(r.error().code, "database_error");
    } else {
      ASSERT_TRUE(r.has_value()) << i << ": " << r.error().code;
      EXPECT_FALSE(r->duplicate);
    }
  }
  // The group of six was tried once, then each member on its own.
  const auto sizes = store_.append_sizes();
  ASSERT_GE(sizes.size(), 2u);
  EXPECT_EQ(sizes[1], 6u);
  EXPECT_EQ(sizes.size(), 2u + 6u);
  EXPECT_EQ(memory_.all().size(), 1u + 5u);  // the plug and the five neighbours
  // Later commands go on as ever.
  EXPECT_TRUE(svc_.submit_async(define("after", "ok")).get().has_value());
}

TEST_F(CommandIsolationTest, AnExceptionInsideTheWriterAnswersInternalAndTheWriterGoesOn) {
  auto thrown = svc_.submit_async(define("boom", "throw")).get();
  ASSERT_FALSE(thrown.has_value());
  EXPECT_EQ(thrown.error().kind, ErrorKind::kInternal);
  EXPECT_EQ(thrown.error().code, "internal");
  auto replies = one_batch({define("n1", "ok"), define("n2", "ok")});
  for (const auto& r : replies) EXPECT_TRUE(r.has_value());
  EXPECT_TRUE(svc_.submit_async(define("n3", "ok")).get().has_value());
}

}  // namespace
}  // namespace ledger::commands

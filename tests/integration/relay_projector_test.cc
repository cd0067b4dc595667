// Relay and projector against the real PostgreSQL and Kafka: events reach
// Kafka in global order and survive a relay restart; the projector builds the
// read model exactly once; a rebuild from position 0 (from the store or from
// Kafka) equals the live read model row for row.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "adapters/kafka/kafka.h"
#include "adapters/postgres/event_store.h"
#include "adapters/postgres/read_model_store.h"
#include "adapters/projector/projector.h"
#include "adapters/relay/relay.h"
#include "adapters/system/clock.h"
#include "commands/command_service.h"
#include "events/codec/json_codec.h"
#include "projections/policy_values/policy_values_projection.h"
#include "tests/support/test_env.h"

namespace ledger {
namespace {

using namespace std::chrono_literals;

class SpineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::create_database(::testing::UnitTest::GetInstance()->current_test_info()->name());
    topic_ = testing::unique_name("ledger.events");
    ASSERT_TRUE(adapters::kafka::ensure_topics(testing::kafka_brokers(), {{topic_, 1, {{"retention.ms", "-1"}}}}, 30s,
                                               testing::kafka_security()));
    store_ = std::make_unique<adapters::postgres::PgEventStore>(db_.app_url, clock_);
    service_ = std::make_unique<commands::CommandService>(*store_, clock_);
    service_->start();
  }
  void TearDown() override { service_->stop(); }

  commands::Principal admin() { return {{"user", "tester", {"platform_admin"}}, "platform"}; }

  void define(const std::string& key) {
    events::PolicyKeyDefined d{key, events::ValueType::kInt, events::PolicyValue{std::int64_t{1}}, 0, 1'000'000, {},
                               ""};
    commands::CommandRequest r{{"def-" + key, admin(), "", ""}, domain::DefinePolicyKey{d}, {}};
    ASSERT_TRUE(service_->submit_async(r).get().has_value());
  }

  // Sets `n` values, returns the last position.
  std::int64_t set_values(const std::string& key, int from, int n) {
    std::vector<std::future<domain::Result<commands::Accepted>>> fs;
    for (int i = from; i < from + n; ++i) {
      commands::CommandRequest r{
          {"set-" + std::to_string(i), admin(), "", ""},
          domain::SetPolicyValue{key,
                                 {events::ScopeLevel::kOrganization, "org-" + std::to_string(i % 5)},
                                 events::PolicyValue{std::int64_t{i}},
                                 {},
                                 "test",
                                 {}},
          {}};
      fs.push_back(service_->submit_async(r));
    }
    std::int64_t last = 0;
    for (auto& f : fs) {
      auto r = f.get();
      EXPECT_TRUE(r.has_value());
      if (r) last = std::max(last, r->position.value);
    }
    return last;
  }

  // Reads the whole topic from offset 0; returns global positions in order.
  std::vector<std::int64_t> positions_on_kafka(std::int64_t until_position) {
    auto reader = adapters::kafka::KafkaPartitionReader::create({.brokers = testing::kafka_brokers(),
                                                                 .security = testing::kafka_security(),
                                                                 .topic = topic_,
                                                                 .partition = 0,
                                                                 .start_offset = 0});
    EXPECT_TRUE(reader.has_value());
    std::vector<std::int64_t> out;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline && (out.empty() || out.back() < until_position)) {
      auto msgs = (*reader)->poll(1000, 500ms);
      if (!msgs) break;
      for (const auto& m : *msgs) {
        auto r = codec::recorded_from_text(m.value);
        EXPECT_TRUE(r.has_value());
        EXPECT_EQ(m.key, r->meta.tenant);
        EXPECT_EQ(*m.header("global_position"), std::to_string(r->meta.global_position.value));
        EXPECT_EQ(*m.header("event_id"), r->meta.event_id);
        out.push_back(r->meta.global_position.value);
      }
    }
    return out;
  }

  std::int64_t wait_for_checkpoint(const std::string& schema, std::int64_t position) {
    adapters::postgres::PgReadModelStore store(db_.app_url, schema);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    std::int64_t cp = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      // Every read model the projector maintains must get there.
      cp = std::min(store.checkpoint("policy_values").value_or(events::GlobalPosition{0}).value,
                    store.checkpoint("audit").value_or(events::GlobalPosition{0}).value);
      if (cp >= position) break;
      std::this_thread::sleep_for(20ms);
    }
    return cp;
  }

  testing::TestDatabase db_;
  std::string topic_;
  adapters::system::SystemClock clock_;
  std::unique_ptr<adapters::postgres::PgEventStore> store_;
  std::unique_ptr<commands::CommandService> service_;
};

// Checks: first occurrences are exactly 1..n in order; every later record
// repeats an earlier position (a duplicate after a restart), never skips.
void expect_in_order_without_loss(const std::vector<std::int64_t>& seen, std::int64_t n) {
  std::int64_t next = 1;
  for (auto p : seen) {
    if (p == next)
      ++next;
    else
      EXPECT_LT(p, next) << "position " << p << " arrived before " << next;
  }
  EXPECT_EQ(next, n + 1);
}

TEST_F(SpineTest, RelayPublishesInGlobalOrderAndResumesAfterRestart) {
  define("test.limit");
  std::int64_t last = set_values("test.limit", 0, 200);
  relay::RelayOptions options{.pg_url = db_.app_url,
                              .brokers = testing::kafka_brokers(),
                              .kafka_security = testing::kafka_security(),
                              .topic = topic_,
                              .name = topic_,
                              .batch_size = 50};
  {
    std::atomic<bool> stop{false};
    std::thread relay([&] { relay::run_relay(options, stop); });
    auto seen = positions_on_kafka(last);
    stop = true;
    relay.join();
    expect_in_order_without_loss(seen, last);
  }
  adapters::postgres::PgRelayCheckpoint cp(db_.app_url, topic_);
  EXPECT_EQ(cp.load().value_or(events::GlobalPosition{-1}), events::GlobalPosition{last});

  last = set_values("test.limit", 200, 150);
  std::atomic<bool> stop{false};
  std::thread relay([&] { relay::run_relay(options, stop); });
  auto seen = positions_on_kafka(last);
  stop = true;
  relay.join();
  expect_in_order_without_loss(seen, last);
}

TEST_F(SpineTest, RebuildFromPositionZeroEqualsTheLiveReadModel) {
  define("test.limit");
  define("test.other");
  std::int64_t last = set_values("test.limit", 0, 300);
  last = std::max(last, set_values("test.other", 300, 100));

  std::atomic<bool> stop{false};
  std::thread relay([&] {
    relay::run_relay({.pg_url = db_.app_url,
                      .brokers = testing::kafka_brokers(),
                      .kafka_security = testing::kafka_security(),
                      .topic = topic_,
                      .name = topic_},
                     stop);
  });
  projector::ProjectorOptions live{.pg_url = db_.app_url,
                                   .brokers = testing::kafka_brokers(),
                                   .kafka_security = testing::kafka_security(),
                                   .topic = topic_,
                                   .schema = "rm",
                                   .group_id = testing::unique_name("projector")};
  std::thread projector([&] { projector::run_projector(live, stop); });
  EXPECT_EQ(wait_for_checkpoint("rm", last), last);
  stop = true;
  relay.join();
  projector.join();

  EXPECT_EQ(testing::sql_scalar(db_.admin_url, "SELECT count(*) FROM rm.policy_values"), "400");
  EXPECT_EQ(testing::sql_scalar(db_.admin_url, "SELECT count(*) FROM rm.policy_keys"), "2");
  EXPECT_EQ(testing::sql_scalar(db_.admin_url, "SELECT count(*) FROM rm.audit_log"), "402");

  for (auto source : {projector::RebuildSource::kPostgres, projector::RebuildSource::kKafka}) {
    const std::string schema = source == projector::RebuildSource::kPostgres ? "rm_from_pg" : "rm_from_kafka";
    auto options = live;
    options.schema = schema;
    auto rebuilt = projector::rebuild(options, source);
    ASSERT_TRUE(rebuilt.has_value()) << rebuilt.error().message;
    EXPECT_EQ(*rebuilt, events::GlobalPosition{last});
    ASSERT_EQ(adapters::postgres::read_model_tables(),
              (std::vector<std::string>{"checkpoints", "policy_keys", "policy_values", "audit_log", "registry_entries",
                                        "scope_nodes", "scope_links", "ceiling_rules", "delegations", "reservations",
                                        "reservation_states", "token_revocations"}));
    for (const auto& table : adapters::postgres::read_model_tables()) {
      auto diff = adapters::postgres::diff_tables(db_.admin_url, "rm", schema, table, 10);
      ASSERT_TRUE(diff.has_value());
      EXPECT_TRUE(diff->empty()) << schema << "." << table << " differs: " << diff->front();
    }
  }
}

TEST_F(SpineTest, ProjectorIgnoresDuplicatesAndRefusesGaps) {
  define("test.limit");
  set_values("test.limit", 0, 10);
  adapters::postgres::PgEventReader reader(db_.app_url);
  auto events = reader.read_after(events::GlobalPosition{0}, 100);
  ASSERT_TRUE(events.has_value());
  projections::PolicyValuesProjection projection;
  adapters::postgres::PgReadModelStore store(db_.app_url, "rm");
  projections::ProjectionRunner runner(projection, store);
  ASSERT_TRUE(runner.apply(*events).has_value());
  auto again = runner.apply(*events);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->applied, 0u);
  EXPECT_EQ(again->skipped, events->size());
  EXPECT_EQ(testing::sql_scalar(db_.admin_url, "SELECT count(*) FROM rm.policy_values"), "10");

  set_values("test.limit", 10, 5);
  auto more = reader.read_after(events::GlobalPosition{13}, 100);  // skips position 12: a gap
  ASSERT_TRUE(more.has_value());
  auto gap = runner.apply(*more);
  ASSERT_FALSE(gap.has_value());
  EXPECT_EQ(gap.error().code, "position_gap");
  EXPECT_EQ(testing::sql_scalar(db_.admin_url, "SELECT count(*) FROM rm.policy_values"), "10");
}

}  // namespace
}  // namespace ledger

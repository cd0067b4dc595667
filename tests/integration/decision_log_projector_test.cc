// The decision-log projector at its trust boundary, on the real broker and
// database: `ledger.decisions` is read, never trusted. A Kafka record that is
// not JSON, a record that is not a decision record, and a record PostgreSQL
// itself refuses are each skipped alone; their neighbours, in the same Kafka
// record and in the same insert, are stored, and the projector goes on to
// what comes after them.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "adapters/kafka/decision_log_kafka.h"
#include "adapters/kafka/kafka.h"
#include "adapters/postgres/decision_log_store.h"
#include "commands/decision_log/decision_record.h"
#include "tests/support/decision_records.h"
#include "tests/support/test_env.h"

namespace ledger {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

Json record(const std::string& id) { return commands::decision_record_json(testing::sample_decision_record(id)); }

TEST(DecisionLogProjector, SkipsEachBadRecordAloneAndStoresItsNeighbours) {
  const auto db = testing::create_database("decision_log_projector");
  // This test's own rule, so that the database refuses one record that the
  // reader lets through (a refusal of PostgreSQL's, SQLSTATE 23514).
  ASSERT_EQ(testing::sql_exec(db.admin_url,
                              "ALTER TABLE decision_log.decisions ADD CONSTRAINT test_refuses_poison "
                              "CHECK (decision_id <> 'poison')"),
            "");
  const std::string topic = testing::unique_name("ledger.decisions");
  auto created =
      adapters::kafka::ensure_topics(testing::kafka_brokers(), {{topic, 1, {}}}, 30s, testing::kafka_security());
  ASSERT_TRUE(created.has_value()) << created.error().message;

  Json late = record("late");
  late["recorded_at"] = "yesterday";
  Json nul = record("nul");
  nul["input"]["note"] = std::string("a\0b", 3);
  Json no_actor = record("no-actor");
  no_actor.erase("actor");
  const std::vector<std::string> values = {
      Json::array({record("a"), late, record("b")}).dump(),
      "{ not json",
      Json::array({record("c"), nul, record("poison"), record("d")}).dump(),
      record("e").dump(),
      Json::array({no_actor, record("f")}).dump(),
  };
  {
    auto producer = adapters::kafka::KafkaProducer::create(
        {.brokers = testing::kafka_brokers(), .security = testing::kafka_security(), .client_id = "dl-test"});
    ASSERT_TRUE(producer.has_value()) << producer.error().message;
    for (const auto& v : values) ASSERT_TRUE((*producer)->produce(topic, "org-acme", v).has_value());
    ASSERT_TRUE((*producer)->flush(20s).has_value());
  }

  adapters::postgres::PgDecisionLog log(db.url_for("ledger_projector"), 1);
  std::atomic<bool> stop{false};
  std::thread projector([&] {
    adapters::kafka::run_decision_log_projector({.brokers = testing::kafka_brokers(),
                                                 .security = testing::kafka_security(),
                                                 .topic = topic,
                                                 .group_id = testing::unique_name("ledger-projector-decisions")},
                                                log, stop);
  });
  // "f" is in the last Kafka record: once it is in, everything before it was read.
  const std::string stored_f = "SELECT count(*) FROM decision_log.decisions WHERE decision_id = 'f'";
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (testing::sql_scalar(db.admin_url, stored_f) != "1" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  stop = true;
  projector.join();
  EXPECT_EQ(testing::sql_scalar(db.admin_url,
                                "SELECT string_agg(decision_id, ',' ORDER BY decision_id) FROM decision_log.decisions"),
            "a,b,c,d,e,f");
  // Each stored record is the one that was sent, input and output included,
  // byte for byte.
  const Json e = record("e");
  EXPECT_EQ(testing::sql_scalar(db.admin_url,
                                "SELECT input::text || ' ' || output::text || ' ' || actor_id || ' ' || "
                                "snapshot_version FROM decision_log.decisions WHERE decision_id = 'e'"),
            e["input"].dump() + " " + e["output"].dump() + " acme-service 42");
}

// A batch holding records already stored (Kafka redelivers what was read
// before an offset commit was lost), or one record twice, stores each once
// and leaves the stored ones as they are; the batch after it goes in whole.
TEST(DecisionLogStore, ARedeliveredBatchStoresEachRecordOnce) {
  const auto db = testing::create_database("decision_log_store");
  adapters::postgres::PgDecisionLog log(db.url_for("ledger_projector"), 1);
  auto read = [](const std::vector<Json>& records) {
    return adapters::kafka::read_decision_log_value(Json(records).dump()).records;
  };
  Json tabbed = record("b");
  tabbed["correlation_id"] = "tab\there\nand a backslash \\ too";
  tabbed["input"]["note"] = "a\tb \"quoted\" \\ é";
  auto first = log.insert(read({record("a"), tabbed}));
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(*first, 2U);
  auto again = log.insert(read({tabbed, record("c"), record("a"), record("c"), record("d")}));
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(*again, 2U);
  auto after = log.insert(read({record("e")}));
  ASSERT_TRUE(after.has_value()) << after.error().message;
  EXPECT_EQ(*after, 1U);
  // Once each, in the order they arrived.
  EXPECT_EQ(
      testing::sql_scalar(db.admin_url, "SELECT string_agg(decision_id, ',' ORDER BY seq) FROM decision_log.decisions"),
      "a,b,c,d,e");
  EXPECT_EQ(testing::sql_scalar(db.admin_url,
                                "SELECT correlation_id || '|' || input::text FROM decision_log.decisions "
                                "WHERE decision_id = 'b'"),
            tabbed["correlation_id"].get<std::string>() + "|" + tabbed["input"].dump());
  // And read back as they were written.
  adapters::postgres::DecisionLogFilter by_correlation;
  by_correlation.correlation_id = tabbed["correlation_id"].get<std::string>();
  auto page = log.page(by_correlation);
  ASSERT_TRUE(page.has_value()) << page.error().message;
  ASSERT_EQ(page->items.size(), 1U);
  EXPECT_EQ(page->items[0].record.input, tabbed["input"]);
  EXPECT_EQ(page->items[0].record.output, tabbed["output"]);
}

}  // namespace
}  // namespace ledger

// The writer's anchors through the real command service and PostgreSQL, as
// `ledger-audit verify` judges them (audit::verify_store with an
// AnchorPolicy): an intact anchored history verifies with the key, a forged
// anchor signature, a tail left unsigned (anchors removed, or a writer with
// no key) and a key the auditor does not hold are findings; without a key
// anchors are only counted.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "adapters/audit/audit_tools.h"
#include "adapters/postgres/event_store.h"
#include "adapters/system/clock.h"
#include "commands/chain_anchor.h"
#include "commands/command_service.h"
#include "events/codec/json_codec.h"
#include "tests/support/test_env.h"

namespace ledger {
namespace {

std::string config_file(const char* name) {
  std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/config/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ChainAnchorVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::create_database(std::string("anchor_") +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  // A key definition and n - 1 values, signed every `every` events (0: no anchor at all).
  void write(int n, std::int64_t every) {
    adapters::postgres::PgEventStore store(db_.app_url, clock_);
    auto key = codec::ChainSigningKey::from_pem(config_file("dev-only-chain-anchor-key.pem"));
    ASSERT_TRUE(key.has_value());
    commands::ChainAnchor anchor(store, store, clock_, *key, {.every_events = every, .every = {}});
    commands::CommandService::Options options;
    options.sweep_interval = {};
    options.anchor = every > 0 ? &anchor : nullptr;
    commands::CommandService svc(store, clock_, options);
    svc.start();
    const commands::Principal admin{{"user", "t", {"platform_admin"}}, "platform"};
    events::PolicyKeyDefined d{
        "anchor.test", events::ValueType::kInt, events::PolicyValue{std::int64_t{1}}, 0, 1000, {}, ""};
    ASSERT_TRUE(svc.submit_async({{"def", admin, "", ""}, domain::DefinePolicyKey{d}, {}}).get().has_value());
    for (int i = 1; i < n; ++i) {
      commands::CommandRequest r{{"set" + std::to_string(i), admin, "", ""},
                                 domain::SetPolicyValue{"anchor.test",
                                                        {events::ScopeLevel::kUser, "u" + std::to_string(i)},
                                                        events::PolicyValue{std::int64_t{i}},
                                                        {},
                                                        "r",
                                                        {}},
                                 {}};
      ASSERT_TRUE(svc.submit_async(r).get().has_value());
    }
    svc.stop();
  }
  audit::AnchorPolicy dev_key(std::int64_t max_unsigned = 2000) {
    auto pub = codec::ChainVerifyingKey::from_pem(config_file("dev-only-chain-anchor-key.pub.pem"));
    EXPECT_TRUE(pub.has_value());
    return audit::AnchorPolicy{{*pub}, max_unsigned};
  }
  audit::VerifyReport verify(audit::AnchorPolicy policy) {
    audit::VerifyOptions options;
    options.anchors = std::move(policy);
    auto r = audit::verify_store(db_.app_url, options);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return r.value_or(audit::VerifyReport{});
  }

  testing::TestDatabase db_;
  adapters::system::ManualClock clock_{events::Instant{1'780'272'000'000'000}};
};

TEST_F(ChainAnchorVerify, AnAnchoredHistoryVerifiesWithTheKeyAndIsOnlyCountedWithout) {
  write(20, 4);
  auto with_key = verify(dev_key());
  ASSERT_TRUE(with_key.intact()) << with_key.broken->message;
  EXPECT_TRUE(with_key.anchors.checked);
  EXPECT_GE(with_key.anchors.verified, 4);
  EXPECT_EQ(with_key.anchors.anchors, with_key.anchors.verified);
  EXPECT_GE(with_key.anchors.last_signed_position, with_key.head_position - 4);
  auto without = verify({});
  EXPECT_TRUE(without.intact());
  EXPECT_FALSE(without.anchors.checked);
  EXPECT_EQ(without.anchors.anchors, with_key.anchors.anchors);
  EXPECT_EQ(without.anchors.verified, 0);
}

TEST_F(ChainAnchorVerify, AForgedSignatureAndAnUnknownKeyAreFindings) {
  write(10, 4);
  // Re-seal a changed signature so the chain itself stays intact.
  adapters::postgres::PgEventReader reader(db_.admin_url);
  auto all = reader.read_after(events::GlobalPosition{0}, 100);
  ASSERT_TRUE(all.has_value());
  std::string prev = events::kGenesisHash;
  std::string sql = "ALTER TABLE ledger.events DISABLE TRIGGER USER; ";
  bool forged = false;
  for (auto r : *all) {
    if (!forged && r.event_type == events::ChainHeadSigned::kType) {
      auto j = nlohmann::json::parse(r.payload);
      std::string sig = j["signature"];
      sig[0] = sig[0] == 'a' ? 'b' : 'a';
      j["signature"] = sig;
      r.payload = codec::canonical_payload(j);
      forged = true;
    }
    r.prev_hash = prev;
    r.hash = codec::compute_hash(r);
    prev = r.hash;
    sql += "UPDATE ledger.events SET payload = '" + r.payload + "'::jsonb, prev_hash = '" + r.prev_hash +
           "', hash = '" + r.hash + "' WHERE global_position = " + std::to_string(r.meta.global_position.value) + "; ";
  }
  ASSERT_TRUE(forged);
  sql += "ALTER TABLE ledger.events ENABLE TRIGGER USER";
  ASSERT_EQ(testing::sql_exec(db_.admin_url, sql), "");
  EXPECT_TRUE(verify({}).intact());
  auto report = verify(dev_key());
  ASSERT_FALSE(report.intact());
  EXPECT_EQ(report.broken->code, "anchor_signature_invalid") << report.broken->message;

  auto other = codec::ChainSigningKey::from_pem(
      "-----BEGIN PRIVATE KEY-----\n"
      "MC4CAQAwBQYDK2VwBCIEIMJJ0J2ltgKLAM/8/jDB3RNoe75wNw+jWVk3MUpNwgDM\n"
      "-----END PRIVATE KEY-----\n");
  ASSERT_TRUE(other.has_value());
  auto other_pub = codec::ChainVerifyingKey::from_pem(other->public_pem());
  ASSERT_TRUE(other_pub.has_value());
  auto unknown = verify(audit::AnchorPolicy{{*other_pub}, 2000});
  ASSERT_FALSE(unknown.intact());
  EXPECT_EQ(unknown.broken->code, "anchor_unknown_key");
}

TEST_F(ChainAnchorVerify, AnUnsignedTailLongerThanAllowedIsAFinding) {
  write(12, 0);  // a writer with no key
  auto report = verify(dev_key(/*max_unsigned=*/5));
  ASSERT_FALSE(report.intact());
  EXPECT_EQ(report.broken->code, "unsigned_tail");
  EXPECT_NE(report.broken->message.find("12 events after the start of history carry no signed head"), std::string::npos)
      << report.broken->message;
  EXPECT_TRUE(verify(dev_key(/*max_unsigned=*/12)).intact());
}

}  // namespace
}  // namespace ledger

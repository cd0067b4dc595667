// Issue 10, item 11: the chain is anchored. The real ledger-command, with
// the dev-only anchor key, signs its chain head every 5 events
// (ChainHeadSigned in the stream chain-anchors). A superuser then rewrites
// one event behind the append-only trigger's back and recomputes every later
// hash (anchors included, which he can re-seal but not re-sign):
// `ledger-audit verify` alone finds the chain intact; with
// `--public-key` it names the rewrite through the signature, and a key it
// was not given is a finding too.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "adapters/postgres/event_store.h"
#include "events/codec/chain.h"
#include "events/codec/json_codec.h"
#include "tests/support/e2e_support.h"
#include "tests/support/process.h"
#include "tests/support/test_env.h"

namespace ledger {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using testing::call;
using testing::eventually;
using testing::Reply;

using CliRun = testing::CommandRun;

// The command with its stderr, to completion.
CliRun run(const std::string& cmd) { return testing::run_command(cmd + " 2>&1"); }

const std::string kPublicKey = std::string(LEDGER_SOURCE_DIR) + "/config/dev-only-chain-anchor-key.pub.pem";

TEST(ChainAnchorE2e, ASuperusersRewriteWithRecomputedHashesIsCaughtOnlyThroughTheSignedHead) {
  const auto db = testing::create_database("chain_anchor_e2e");
  const std::vector<std::pair<std::string, std::string>> env = {
      {"LEDGER_PG_URL", db.app_url},
      {"LEDGER_COMMAND_PG_URL", db.url_for("ledger_command")},
      {"LEDGER_KAFKA_BROKERS", testing::kafka_brokers()},
      {"LEDGER_KAFKA_COMMANDS", "false"},
      {"LEDGER_TOKENS_FILE", std::string(LEDGER_SOURCE_DIR) + "/config/tokens.json"},
      {"LEDGER_COMMAND_PORT", "0"},
      {"LEDGER_EVENTS_TOPIC", testing::unique_name("ledger.events")},
      {"LEDGER_COMMANDS_TOPIC", testing::unique_name("ledger.commands")},
      {"LEDGER_RESULTS_TOPIC", testing::unique_name("ledger.command-results")},
      {"LEDGER_ANCHOR_KEY_FILE", std::string(LEDGER_SOURCE_DIR) + "/config/dev-only-chain-anchor-key.pem"},
      {"LEDGER_ANCHOR_EVERY_EVENTS", "5"},
      {"LEDGER_ANCHOR_EVERY_SECONDS", "0"},  // by count only: positions are deterministic
      {"LEDGER_LOG_LEVEL", "info"}};
  {
    testing::ChildProcess writer({std::string(LEDGER_BINARY_DIR) + "/services/ledger-command"}, env);
    const auto port = writer.wait_for_port(30s);
    ASSERT_NE(port, 0) << testing::tail(writer);
    adapters::http::HttpClient client("127.0.0.1", port, 30s);
    ASSERT_TRUE(eventually(30s, [&] { return call(client, "GET", "/readyz").status == 200; })) << testing::tail(writer);
    Reply def =
        call(client, "POST", "/v1/commands/policy_key.define",
             Json{{"key", "anchor.test"}, {"value_type", "int"}, {"default", 1}, {"min", 0}, {"max", 1000}}.dump());
    ASSERT_EQ(def.status, 200) << def.describe();
    for (int i = 1; i <= 17; ++i) {
      Reply r = call(client, "POST", "/v1/commands/policy_value.set",
                     Json{{"key", "anchor.test"},
                          {"scope", {{"user_id", "u" + std::to_string(i)}}},
                          {"value", i},
                          {"reason", "e2e"}}
                         .dump());
      ASSERT_EQ(r.status, 200) << r.describe();
    }
    // The anchor follows the commit that reached the count (after its reply).
    ASSERT_TRUE(eventually(30s, [&] {
      return testing::sql_scalar(db.admin_url,
                                 "SELECT count(*) FROM ledger.events WHERE event_type = 'ChainHeadSigned'") == "3";
    })) << testing::tail(writer);
    EXPECT_NE(writer.log().find("chain anchoring on: key id "), std::string::npos);
    writer.terminate();
  }
  // Each anchor signs the event right before it, in its own stream, as the platform's worker.
  EXPECT_EQ(testing::sql_scalar(db.admin_url,
                                "SELECT string_agg(global_position || ':' || (payload->>'position'), ',' ORDER BY "
                                "global_position) FROM ledger.events WHERE stream_id = 'chain-anchors' AND tenant = "
                                "'platform' AND actor->>'id' = 'chain-anchor'"),
            "6:5,12:11,18:17");

  const std::string audit = "LEDGER_PG_URL='" + db.url_for("ledger_auditor") + "' '" + std::string(LEDGER_BINARY_DIR) +
                            "/services/ledger-audit' verify";
  const CliRun intact = run(audit + " --public-key '" + kPublicKey + "'");
  EXPECT_EQ(intact.status, 0) << intact.out;
  EXPECT_NE(intact.out.find("signed chain heads: 3 verified, the last at position 17"), std::string::npos)
      << intact.out;

  // The superuser's rewrite: position 3 gets another actor, and every later
  // event (the anchors too) is re-sealed so the chain links again.
  adapters::postgres::PgEventReader reader(db.admin_url);
  auto all = reader.read_after(events::GlobalPosition{0}, 1000);
  ASSERT_TRUE(all.has_value()) << all.error().message;
  ASSERT_EQ(all->size(), 21u);
  std::string prev = (*all)[1].hash;
  std::string sql = "ALTER TABLE ledger.events DISABLE TRIGGER USER; ";
  for (std::size_t i = 2; i < all->size(); ++i) {
    auto r = (*all)[i];
    if (i == 2) r.meta.actor.id = "mallory";
    r.prev_hash = prev;
    r.hash = codec::compute_hash(r);
    prev = r.hash;
    sql += "UPDATE ledger.events SET actor = jsonb_set(actor, '{id}', to_jsonb('" + r.meta.actor.id +
           "'::text)), prev_hash = '" + r.prev_hash + "', hash = '" + r.hash +
           "' WHERE global_position = " + std::to_string(r.meta.global_position.value) + "; ";
  }
  sql += "ALTER TABLE ledger.events ENABLE TRIGGER USER";
  ASSERT_EQ(testing::sql_exec(db.admin_url, sql), "");

  // The chain alone cannot tell...
  const CliRun fooled = run(audit);
  EXPECT_EQ(fooled.status, 0) << fooled.out;
  EXPECT_NE(fooled.out.find("verified 21 events"), std::string::npos) << fooled.out;
  EXPECT_NE(fooled.out.find("3 signed chain heads not checked (give --public-key)"), std::string::npos) << fooled.out;
  // ...the signature can: the first signed head at or after the rewrite no longer matches.
  const CliRun caught = run(audit + " --public-key '" + kPublicKey + "' --json");
  EXPECT_EQ(caught.status, 1) << caught.out;
  const Json j = Json::parse(caught.out.substr(caught.out.find('{')), nullptr, false);
  ASSERT_TRUE(j.is_object()) << caught.out;
  EXPECT_EQ(j["broken"]["code"], "signed_head_mismatch") << caught.out;
  EXPECT_EQ(j["broken"]["position"], 5) << caught.out;
  EXPECT_NE(j["broken"]["message"].get<std::string>().find("history at or before position 5 was rewritten"),
            std::string::npos)
      << caught.out;

  // A key the auditor was not given is not trusted.
  const auto dir = std::filesystem::temp_directory_path() / testing::unique_name("chain-anchor-e2e");
  std::filesystem::create_directories(dir);
  const auto other = (dir / "other.pub.pem").string();
  std::ofstream(other) << codec::ChainSigningKey::from_pem(
                              "-----BEGIN PRIVATE KEY-----\n"
                              "MC4CAQAwBQYDK2VwBCIEIMJJ0J2ltgKLAM/8/jDB3RNoe75wNw+jWVk3MUpNwgDM\n"
                              "-----END PRIVATE KEY-----\n")
                              ->public_pem();
  const CliRun unknown = run(audit + " --public-key '" + other + "'");
  EXPECT_EQ(unknown.status, 1) << unknown.out;
  EXPECT_NE(unknown.out.find("not among the public keys given"), std::string::npos) << unknown.out;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ledger

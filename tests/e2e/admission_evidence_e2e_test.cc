// Issue 13, parts 5 and 7, through the real services:
//
//   AdmissionEvidenceE2e.EveryAcceptedMutationNamesTheSnapshotItWasDecidedAgainst
//     seed 001's mutation rule 5: every accepted command answers evidence
//     {snapshot_kind: "writer_model", snapshot_version} beside the position
//     it wrote, a retry answers the same, and every audit row of the
//     command (GET /v1/audit) records the same number.
//   AdmissionEvidenceE2e.DecisionsAnswerTheProductsOwnMessages
//     a product registers its text per reason code and locale as policy
//     values; decisions (memory and SQL paths, single and batch) answer it
//     with its source, fall back to the ledger's text, and `ledger-audit
//     decisions` derives the same words from history.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

#include "tests/support/e2e_stack.h"
#include "tests/support/e2e_support.h"
#include "tests/support/process.h"

namespace {

using ledger::testing::eventually;
using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using Json = nlohmann::json;
using namespace std::chrono_literals;

Json scope(const std::string& level, const std::string& id) { return {{"level", level}, {"id", id}}; }

class Stack : public ledger::testing::ServiceStack {
 public:
  using ServiceStack::ServiceStack;
  std::string at() const { return "?min_position=" + std::to_string(last_position()) + "&wait_ms=10000"; }
  // The org acme (plan pro) with project P1 under department D; D's gpu.count ceiling is 10.
  void build() {
    register_gpu_quota();
    ok("organization.create", {{"organization_id", "acme"}, {"name", "Acme"}, {"plan_id", "pro"}});
    ok("department.create", {{"department_id", "D"}, {"organization_id", "acme"}});
    ok("project.create", {{"project_id", "P1"}, {"organization_id", "acme"}, {"department_id", "D"}});
    ok("ceiling.set", {{"scope", scope("department", "D")},
                       {"dimension", "gpu.count"},
                       {"quantity", 10},
                       {"unit", "gpu"},
                       {"reason", "e2e"}});
  }
};

Json input(std::int64_t delta, const std::string& correlation) {
  return {
      {"actor",
       {{"actor_type", "service_account"},
        {"actor_id", "scheduler"},
        {"roles", Json::array()},
        {"scopes", Json::array()}}},
      {"hierarchy", {{"organization_id", "acme"}, {"department_id", "D"}, {"project_id", "P1"}}},
      {"product",
       {{"product_id", "gpuaas"}, {"resource_type", "gpu_node"}, {"resource_id", "n1"}, {"action", "start"}}},
      {"request",
       {{"dimension", "gpu.count"}, {"requested_delta", delta}, {"unit", "gpu"}, {"region", ""}, {"sku_or_model", ""}}},
      {"current_usage", {{"scope_window", ""}, {"quantity", 0}, {"unit", "gpu"}}},
      {"correlation_id", correlation}};
}

// The audit rows of one command (GET /v1/audit?command_id=).
Json audit_rows(Stack& s, const std::string& command_id) {
  Reply r = s.query("GET", "/v1/audit" + s.at() + "&command_id=" + command_id, kAdminToken);
  EXPECT_EQ(r.status, 200) << r.describe();
  return r.body["items"];
}

TEST(AdmissionEvidenceE2e, EveryAcceptedMutationNamesTheSnapshotItWasDecidedAgainst) {
  Stack s("mutation_evidence_e2e");
  ASSERT_TRUE(s.start());
  s.build();

  // One event: decided against the head just before it (a quiet ledger:
  // the previous command's position).
  const std::int64_t before = s.last_position();
  const Json lower = {{"scope", scope("department", "D")},
                      {"dimension", "gpu.count"},
                      {"quantity", 9},
                      {"unit", "gpu"},
                      {"reason", "e2e"},
                      {"command_id", "ev-lower"}};
  Reply c = s.command("ceiling.set", lower);
  ASSERT_EQ(c.status, 200) << c.describe();
  EXPECT_EQ(c.body["position"], before + 1) << c.describe();
  EXPECT_EQ(c.body["evidence"], (Json{{"snapshot_kind", "writer_model"}, {"snapshot_version", before}}))
      << c.describe();
  // A retry answers the first outcome, evidence included.
  Reply retry = s.command("ceiling.set", lower);
  ASSERT_EQ(retry.status, 200) << retry.describe();
  EXPECT_EQ(retry.body["duplicate"], true);
  EXPECT_EQ(retry.body["evidence"], c.body["evidence"]) << retry.describe();

  // Two events (consumed, then exhausted): both decided against the same
  // snapshot, the position before the first.
  const auto now = std::chrono::system_clock::now();
  s.ok("reservation.draft", {{"reservation_id", "r1"},
                             {"owner", scope("project", "P1")},
                             {"kind", "gpu_nodes"},
                             {"dimension", "gpu.count"},
                             {"quantity", 5},
                             {"window_start", ledger::testing::rfc3339(now - 1h)},
                             {"window_end", ledger::testing::rfc3339(now + 24h)},
                             {"reason", "e2e"}});
  s.ok("reservation.activate", {{"reservation_id", "r1"}, {"organization_id", "acme"}});
  const std::int64_t before_consume = s.last_position();
  Reply consume =
      s.command("reservation.consume",
                {{"reservation_id", "r1"}, {"organization_id", "acme"}, {"quantity", 5}, {"command_id", "ev-consume"}});
  ASSERT_EQ(consume.status, 200) << consume.describe();
  ASSERT_EQ(consume.body["event_ids"].size(), 2u) << consume.describe();
  EXPECT_EQ(consume.body["position"], before_consume + 2);
  EXPECT_EQ(consume.body["evidence"]["snapshot_version"], before_consume) << consume.describe();

  // A command that changed nothing: decided against the head at the time.
  Reply same = s.command("registry.register", {{"kind", "product"}, {"entry_id", "gpuaas"}});
  ASSERT_EQ(same.status, 200) << same.describe();
  ASSERT_EQ(same.body["no_change"], true) << same.describe();
  EXPECT_EQ(same.body["evidence"]["snapshot_version"], s.last_position()) << same.describe();

  // The audit rows record the same number for every event of the command.
  const Json lowered = audit_rows(s, "ev-lower");
  ASSERT_EQ(lowered.size(), 1u) << lowered.dump();
  EXPECT_EQ(lowered[0]["evidence"], c.body["evidence"]) << lowered.dump();
  const Json consumed = audit_rows(s, "ev-consume");
  ASSERT_EQ(consumed.size(), 2u) << consumed.dump();
  for (const auto& row : consumed) {
    EXPECT_EQ(row["evidence"], consume.body["evidence"]) << consumed.dump();
  }
  // Every row of the log: never ahead of its own position, and the first
  // row of each command sits right after what it was decided against.
  Reply all = s.query("GET", "/v1/audit" + s.at() + "&limit=1000", kAdminToken);
  ASSERT_EQ(all.status, 200) << all.describe();
  ASSERT_GE(all.body["items"].size(), 10u);
  std::string last_command;
  for (const auto& row : all.body["items"]) {
    const std::int64_t position = row["position"];
    const std::int64_t decided = row["evidence"]["snapshot_version"];
    EXPECT_LT(decided, position) << row.dump();
    if (row["command_id"] != last_command) {
      EXPECT_EQ(decided, position - 1) << row.dump();
    }
    last_command = row["command_id"].get<std::string>();
  }
}

TEST(AdmissionEvidenceE2e, DecisionsAnswerTheProductsOwnMessages) {
  Stack s("product_messages_e2e");
  ASSERT_TRUE(s.start());
  s.build();
  const std::int64_t before_messages = s.last_position();
  const std::string ledger_text = "This request would exceed your quota.";

  // The product's text: a default, a German one, and Acme's own override.
  s.ok("policy_key.define", {{"key", "messages.admission.ceiling_exceeded"},
                             {"value_type", "string"},
                             {"default", "Your plan's GPU limit is reached."}});
  s.ok("policy_key.define", {{"key", "messages.admission.ceiling_exceeded.de"},
                             {"value_type", "string"},
                             {"default", "Ihr GPU-Kontingent ist erreicht."}});
  const std::int64_t acme_override = s.ok("policy_value.set", {{"key", "messages.admission.ceiling_exceeded"},
                                                               {"scope", {{"org_id", "acme"}}},
                                                               {"value", "Acme: ask gpu-desk@acme.example."},
                                                               {"reason", "e2e"}});

  auto decide = [&](const Json& body, const std::string& language, const std::string& params = "") {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!language.empty()) headers.emplace_back("accept-language", language);
    return s.query("POST", "/v1/decisions" + s.at() + params, kAdminToken, body, headers);
  };

  // No locale: the organization's override of the reason code's own key.
  Reply plain = decide(input(11, "m-1"), "");
  ASSERT_EQ(plain.status, 200) << plain.describe();
  EXPECT_EQ(plain.body["reason_code"], "ceiling_exceeded");
  EXPECT_EQ(plain.body["user_message"], "Acme: ask gpu-desk@acme.example.") << plain.describe();
  const Json& src = plain.body["user_message_source"];
  EXPECT_EQ(src["kind"], "product");
  EXPECT_EQ(src["key"], "messages.admission.ceiling_exceeded");
  EXPECT_EQ(src["source"], (Json{{"level", "organization"}, {"id", "acme"}})) << src.dump();
  EXPECT_EQ(src["set_at_position"], acme_override);
  EXPECT_EQ(src["is_default"], false);

  // German first: the German key's default.
  Reply german = decide(input(11, "m-2"), "de-DE, en;q=0.5");
  ASSERT_EQ(german.status, 200) << german.describe();
  EXPECT_EQ(german.body["user_message"], "Ihr GPU-Kontingent ist erreicht.") << german.describe();
  EXPECT_EQ(german.body["user_message_source"]["locale"], "de");
  EXPECT_EQ(german.body["user_message_source"]["accept_language"], (Json{"de_de", "de", "en"}));
  // The rule ids and evidence stay the ledger's.
  EXPECT_EQ(german.body["evidence"]["snapshot_version"], plain.body["evidence"]["snapshot_version"]);
  EXPECT_EQ(german.body["evidence"]["correlation_id"], "m-2") << german.describe();
  EXPECT_EQ(german.body["matched_rules"], plain.body["matched_rules"]) << german.describe();

  // No product text for the reason code: the ledger's.
  Reply allowed = decide(input(1, "m-3"), "de");
  ASSERT_EQ(allowed.status, 200) << allowed.describe();
  EXPECT_EQ(allowed.body["reason_code"], "within_ceiling");
  EXPECT_EQ(allowed.body["user_message_source"]["kind"], "ledger") << allowed.describe();
  EXPECT_EQ(allowed.body["user_message"], "This request is within your quota.");

  // A hostile header is no error: ignored whole.
  Reply hostile = decide(input(11, "m-4"), std::string(2000, 'x') + ";q=0.5");
  ASSERT_EQ(hostile.status, 200) << hostile.describe();
  EXPECT_EQ(hostile.body["user_message"], "Acme: ask gpu-desk@acme.example.");
  EXPECT_EQ(hostile.body["user_message_source"]["accept_language"], Json::array());

  // The SQL path reads the same text in the decision's snapshot; before
  // the product registered any, the ledger's own.
  Reply now_sql = decide(input(11, "m-5"), "de", "&as_of_position=" + std::to_string(s.last_position()));
  ASSERT_EQ(now_sql.status, 200) << now_sql.describe();
  EXPECT_EQ(now_sql.body["user_message"], "Ihr GPU-Kontingent ist erreicht.") << now_sql.describe();
  Reply then_sql = decide(input(11, "m-6"), "de", "&as_of_position=" + std::to_string(before_messages));
  ASSERT_EQ(then_sql.status, 200) << then_sql.describe();
  EXPECT_EQ(then_sql.body["user_message_source"]["kind"], "ledger") << then_sql.describe();
  EXPECT_EQ(then_sql.body["user_message"], ledger_text) << then_sql.describe();

  // A batch: each item its own reason code's text.
  Reply batch = s.query("POST", "/v1/decisions:batch" + s.at(), kAdminToken,
                        {{"decisions", {input(11, "m-7"), input(2, "m-8")}}}, {{"accept-language", "de"}});
  ASSERT_EQ(batch.status, 200) << batch.describe();
  EXPECT_EQ(batch.body["results"][0]["user_message"], "Ihr GPU-Kontingent ist erreicht.") << batch.describe();
  EXPECT_EQ(batch.body["results"][1]["user_message_source"]["kind"], "ledger") << batch.describe();

  // Logged, and derived again from history: the same words.
  auto logged = [&] { return std::stoll(s.sql("SELECT count(*) FROM decision_log.decisions")); };
  ASSERT_TRUE(eventually(30s, [&] { return logged() >= 8; })) << logged() << s.describe_logs();
  EXPECT_EQ(logged(), 8);
  const std::string audit = std::string(LEDGER_BINARY_DIR) + "/services/ledger-audit decisions --pg-url '" +
                            s.database().url_for("ledger_auditor") + "' 2>&1";
  auto agree = ledger::testing::run_command(audit);
  EXPECT_EQ(agree.status, 0) << agree.out;
  EXPECT_NE(agree.out.find("re-derived 8 logged decisions: all agree"), std::string::npos) << agree.out;
  s.sql(
      "UPDATE decision_log.decisions SET output = jsonb_set(output::jsonb, '{user_message}', '\"Free GPUs for all!\"') "
      "WHERE correlation_id = 'm-2'");
  auto differ = ledger::testing::run_command(audit);
  EXPECT_EQ(differ.status, 1) << differ.out;
  EXPECT_NE(differ.out.find("1 differ"), std::string::npos) << differ.out;
  EXPECT_NE(differ.out.find("user_message"), std::string::npos) << differ.out;
}

}  // namespace

// End-to-end tests of the admission core (issue 3) through the real stack:
// commands over HTTP and `ledger.commands` into ledger-command, PostgreSQL,
// the relay to Kafka, the projector's admission and audit read models, and
// ledger-query's decisions, effective ceilings and reservations.
//
//   AdmissionE2e.SevenMutationRulesHoldThroughTheStack
//     seed 001's mutation rules one by one: idempotent, parent ceilings
//     validated, registry entries validated, audit with before/after, actor,
//     scope and correlation id, evidence with snapshot kind and version,
//     read-your-writes through min_position, ledger entries never mutated.
//   AdmissionE2e.ReservationLifecycleAndCapacityForOthers
//   AdmissionE2e.BadInputIsRefusedWithAStableCodeAndWritesNothing
//   AdmissionE2e.PerRequestCeilingDeniesOneOversizedRequest
//
// Synchronisation is by min_position and polling with deadlines.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <chrono>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "adapters/http/client.h"
#include "adapters/kafka/kafka.h"
#include "services/common/process.h"
#include "services/common/settings.h"
#include "tests/support/e2e_stack.h"
#include "tests/support/e2e_support.h"
#include "tests/support/process.h"
#include "tests/support/test_env.h"

namespace {

using namespace std::chrono_literals;
using ledger::adapters::http::HttpClient;
using ledger::testing::call;
using ledger::testing::ChildProcess;
using ledger::testing::eventually;
using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using ledger::testing::tail;
using Json = nlohmann::json;
using Env = std::vector<std::pair<std::string, std::string>>;

// Queries here ask as the platform administrator.
class Stack : public ledger::testing::ServiceStack {
 public:
  using ServiceStack::ServiceStack;
  Reply query(const std::string& method, const std::string& target, const Json& body = nullptr) {
    return ServiceStack::query(method, target, kAdminToken, body);
  }
  Reply decide(Json input, std::int64_t min_position) {
    return query("POST", "/v1/decisions?min_position=" + std::to_string(min_position), input);
  }
  std::int64_t events() const {
    const std::string v = sql("SELECT count(*) FROM ledger.events");
    return v.empty() ? 0 : std::stoll(v);
  }
};

Json scope(const std::string& level, const std::string& id) { return {{"level", level}, {"id", id}}; }

// Registries and acme (plan pro) -> research -> {llm, vision}, acme.default -> misc.
void build_acme(Stack& s) {
  s.ok("registry.register", {{"kind", "product"}, {"entry_id", "gpuaas"}, {"description", "GPU as a service"}});
  s.ok("registry.register", {{"kind", "usage_unit"}, {"entry_id", "gpu"}});
  s.ok("registry.register",
       {{"kind", "resource_type"}, {"entry_id", "gpu_node"}, {"attributes", {{"product", "gpuaas"}}}});
  s.ok("registry.register", {{"kind", "quota_dimension"},
                             {"entry_id", "gpu.count"},
                             {"attributes", {{"product", "gpuaas"}, {"resource_type", "gpu_node"}, {"unit", "gpu"}}}});
  s.ok("organization.create", {{"organization_id", "acme"}, {"name", "Acme"}, {"plan_id", "pro"}});
  s.ok("department.create", {{"department_id", "research"}, {"organization_id", "acme"}, {"name", "Research"}});
  s.ok("project.create", {{"project_id", "llm"}, {"organization_id", "acme"}, {"department_id", "research"}});
  s.ok("project.create", {{"project_id", "vision"}, {"organization_id", "acme"}, {"department_id", "research"}});
  s.ok("project.create", {{"project_id", "misc"}, {"organization_id", "acme"}});
}

Json ceiling(const Json& at, std::int64_t q, const std::string& command_id = "") {
  Json b = {{"scope", at}, {"dimension", "gpu.count"}, {"quantity", q}, {"unit", "gpu"}, {"reason", "e2e"}};
  if (!command_id.empty()) b["command_id"] = command_id;
  return b;
}

Json decision_input(const std::string& project, std::int64_t usage, std::int64_t delta,
                    const std::string& correlation_id = "corr-e2e") {
  return {
      {"actor",
       {{"actor_type", "service_account"},
        {"actor_id", "scheduler"},
        {"roles", Json::array()},
        {"scopes", Json::array()}}},
      {"hierarchy", {{"organization_id", "acme"}, {"department_id", ""}, {"project_id", project}}},
      {"product",
       {{"product_id", "gpuaas"}, {"resource_type", "gpu_node"}, {"resource_id", "n1"}, {"action", "start"}}},
      {"request",
       {{"dimension", "gpu.count"}, {"requested_delta", delta}, {"unit", "gpu"}, {"region", ""}, {"sku_or_model", ""}}},
      {"current_usage", {{"scope_window", ""}, {"quantity", usage}, {"unit", "gpu"}}},
      {"registry_versions", Json::object()},
      {"correlation_id", correlation_id}};
}

TEST(AdmissionE2e, SevenMutationRulesHoldThroughTheStack) {
  Stack s("admission_rules_e2e");
  ASSERT_TRUE(s.start());
  build_acme(s);
  s.ok("ceiling.set", ceiling(scope("organization", "acme"), 32));
  s.ok("ceiling.set", ceiling(scope("department", "research"), 16));

  // 1. Idempotent: the same command id twice is one set of events.
  const std::int64_t before_retry = s.events();
  Reply first = s.command("ceiling.set", ceiling(scope("project", "llm"), 8, "cmd-llm-8"));
  ASSERT_EQ(first.status, 200) << first.describe();
  Reply again = s.command("ceiling.set", ceiling(scope("project", "llm"), 8, "cmd-llm-8"));
  ASSERT_EQ(again.status, 200) << again.describe();
  EXPECT_TRUE(again.body["duplicate"].get<bool>());
  EXPECT_EQ(again.body["position"], first.body["position"]);
  EXPECT_EQ(s.events(), before_retry + 1);

  // 2. Parent ceilings are validated; the failing parent and rule are evidence.
  const std::int64_t before_raise = s.events();
  Reply raise = s.command("ceiling.set", ceiling(scope("project", "vision"), 20));
  ASSERT_EQ(raise.status, 422) << raise.describe();
  EXPECT_EQ(raise.code(), "parent_ceiling_exceeded");
  EXPECT_EQ(raise.body["evidence"]["failing_parent_scope"], "department:research");
  EXPECT_EQ(raise.body["evidence"]["rule_id"], "ceiling:department:research:gpu.count");
  EXPECT_EQ(s.events(), before_raise);

  // 3. Registry entries are validated.
  Json unknown = ceiling(scope("project", "vision"), 2);
  unknown["dimension"] = "tpu.count";
  unknown.erase("unit");
  Reply unregistered = s.command("ceiling.set", unknown);
  ASSERT_EQ(unregistered.status, 422) << unregistered.describe();
  EXPECT_EQ(unregistered.code(), "unknown_registry_entry");
  EXPECT_EQ(s.events(), before_raise);

  // 6. Read-your-writes: a decision at the write's position sees it.
  const std::int64_t lowered = s.ok("ceiling.set", ceiling(scope("project", "llm"), 6, "cmd-llm-6"));
  Reply d = s.decide(decision_input("llm", 1, 2, "corr-rule-5"), lowered);
  ASSERT_EQ(d.status, 200) << d.describe();
  EXPECT_EQ(d.body["decision"], "allow");
  EXPECT_EQ(d.body["effective_ceiling"]["quantity"], 6);
  EXPECT_EQ(d.body["effective_ceiling"]["unit"], "gpu");
  EXPECT_EQ(d.body["effective_ceiling"]["inherited_from"], "project");
  EXPECT_EQ(d.body["limit_remaining"], 3);
  // 5. Evidence with snapshot kind and version.
  EXPECT_EQ(d.body["evidence"]["snapshot_kind"], "effective_ceiling");
  EXPECT_GE(std::stoll(d.body["evidence"]["snapshot_version"].get<std::string>()), lowered);
  EXPECT_EQ(d.body["evidence"]["correlation_id"], "corr-rule-5");
  ASSERT_TRUE(d.body["matched_rules"].is_array());
  bool matched_own = false;
  for (const auto& r : d.body["matched_rules"]) {
    matched_own = matched_own || (r["rule_id"] == "ceiling:project:llm:gpu.count" && r["version"] == "2");
  }
  EXPECT_TRUE(matched_own) << d.body.dump();
  Reply warn = s.decide(decision_input("llm", 4, 1), lowered);
  EXPECT_EQ(warn.body["decision"], "warn") << warn.describe();
  Reply deny = s.decide(decision_input("llm", 4, 3), lowered);
  EXPECT_EQ(deny.body["decision"], "deny") << deny.describe();
  EXPECT_EQ(deny.body["reason_code"], "ceiling_exceeded");
  Reply inherited = s.decide(decision_input("vision", 0, 1), lowered);
  EXPECT_EQ(inherited.body["effective_ceiling"]["inherited_from"], "department") << inherited.describe();

  // 4. Audit: before/after, actor, scope and correlation id of the change.
  Reply corr_change = s.command("ceiling.set", ceiling(scope("project", "llm"), 5), kAdminToken,
                                {{"x-correlation-id", "corr-audit-4"}});
  ASSERT_EQ(corr_change.status, 200) << corr_change.describe();
  const std::int64_t p4 = corr_change.body["position"];
  Reply audit = s.query("GET", "/v1/audit?correlation_id=corr-audit-4&min_position=" + std::to_string(p4));
  ASSERT_EQ(audit.status, 200) << audit.describe();
  ASSERT_EQ(audit.body["items"].size(), 1u) << audit.describe();
  const Json& row = audit.body["items"][0];
  EXPECT_EQ(row["event_type"], "CeilingSet");
  EXPECT_EQ(row["scope"]["level"], "project");
  EXPECT_EQ(row["scope"]["id"], "llm");
  EXPECT_EQ(row["before"]["quantity"], 6) << row.dump();
  EXPECT_EQ(row["after"]["quantity"], 5) << row.dump();
  EXPECT_EQ(row["actor"]["id"], "platform-admin") << row.dump();

  // Moving a project changes what binds it; the old answer stays at its position.
  s.ok("department.create", {{"department_id", "ops"}, {"organization_id", "acme"}});
  s.ok("ceiling.set", ceiling(scope("department", "ops"), 2));
  const std::int64_t moved = s.ok("project.move", {{"project_id", "vision"}, {"department_id", "ops"}});
  Reply after_move = s.decide(decision_input("vision", 0, 1), moved);
  EXPECT_EQ(after_move.body["effective_ceiling"]["quantity"], 2) << after_move.describe();
  Reply before_move =
      s.query("POST", "/v1/decisions?as_of_position=" + std::to_string(lowered), decision_input("vision", 0, 1));
  EXPECT_EQ(before_move.body["effective_ceiling"]["quantity"], 16) << before_move.describe();

  // Admission commands over Kafka are decided the same way.
  {
    Json body = ceiling(scope("project", "misc"), 3, "cmd-kafka-misc-3");
    body["type"] = "ceiling.set";
    ASSERT_TRUE(s.publish("cmd-kafka-misc-3", body, kAdminToken));
    ASSERT_TRUE(eventually(
        60s, [&] { return s.sql("SELECT count(*) FROM ledger.events WHERE command_id = 'cmd-kafka-misc-3'") == "1"; }));
    const std::int64_t p =
        std::stoll(s.sql("SELECT global_position FROM ledger.events WHERE command_id = 'cmd-kafka-misc-3'"));
    Reply misc = s.decide(decision_input("misc", 0, 1), p);
    EXPECT_EQ(misc.body["effective_ceiling"]["quantity"], 3) << misc.describe();
  }

  // 7. Ledger entries are never mutated: the first ceiling event is as it was.
  const std::string first_hash =
      s.sql("SELECT hash FROM ledger.events WHERE event_type = 'CeilingSet' ORDER BY global_position LIMIT 1");
  EXPECT_FALSE(first_hash.empty());
  EXPECT_EQ(
      s.sql(
          "SELECT count(*) FROM ledger.events WHERE event_type = 'CeilingSet' AND stream_id = 'ceilings:project:llm'"),
      "3");
  EXPECT_EQ(s.sql("SELECT hash FROM ledger.events WHERE event_type = 'CeilingSet' ORDER BY global_position LIMIT 1"),
            first_hash);
}

TEST(AdmissionE2e, ReservationLifecycleAndCapacityForOthers) {
  Stack s("admission_reservations_e2e");
  ASSERT_TRUE(s.start());
  build_acme(s);
  s.ok("ceiling.set", ceiling(scope("department", "research"), 10));
  const auto now = std::chrono::system_clock::now();
  const auto rfc = ledger::testing::rfc3339;
  Json draft = {{"reservation_id", "res-vision"},
                {"owner", scope("project", "vision")},
                {"kind", "gpu_nodes"},
                {"dimension", "gpu.count"},
                {"sku_or_model", "h100"},
                {"quantity", 6},
                {"window_start", rfc(now - 1h)},
                {"window_end", rfc(now + 24h)},
                {"reason", "training"}};
  s.ok("reservation.draft", draft);
  Reply illegal = s.command("reservation.resume", {{"reservation_id", "res-vision"}, {"organization_id", "acme"}});
  ASSERT_EQ(illegal.status, 409) << illegal.describe();
  EXPECT_EQ(illegal.code(), "illegal_transition");
  const std::int64_t active =
      s.ok("reservation.activate", {{"reservation_id", "res-vision"}, {"organization_id", "acme"}});

  // Another project under the same ceiling cannot have what vision reserved.
  Reply others = s.decide(decision_input("llm", 0, 8), active);
  ASSERT_EQ(others.status, 200) << others.describe();
  EXPECT_EQ(others.body["decision"], "deny");
  EXPECT_EQ(others.body["reason_code"], "capacity_reserved");
  Reply owner = s.decide(decision_input("vision", 0, 8), active);
  EXPECT_EQ(owner.body["decision"], "allow") << owner.describe();

  s.ok("reservation.consume", {{"reservation_id", "res-vision"}, {"organization_id", "acme"}, {"quantity", 6}});
  const std::int64_t released =
      s.ok("reservation.release", {{"reservation_id", "res-vision"}, {"organization_id", "acme"}, {"quantity", 2}});
  Reply r = s.query("GET", "/v1/reservations/res-vision?organization_id=acme&min_position=" + std::to_string(released));
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.body["state"], "active") << r.describe();
  EXPECT_EQ(r.body["consumed"], 4) << r.describe();
  // Read as of a later instant, past the window: expired at once.
  Reply later = s.query("GET", "/v1/reservations/res-vision?organization_id=acme&as_of=" + rfc(now + 48h));
  EXPECT_EQ(later.body["state"], "expired") << later.describe();
  Reply missing = s.query("GET", "/v1/reservations/no-such?organization_id=acme");
  EXPECT_EQ(missing.status, 404) << missing.describe();

  // A window that ends in two seconds: ledger-command's sweeper records the
  // expiry for the audit trail, once, as the reservation-sweeper worker.
  Json brief = draft;
  brief["reservation_id"] = "res-brief";
  brief["quantity"] = 1;
  brief["window_end"] = rfc(std::chrono::system_clock::now() + 2s);
  s.ok("reservation.draft", brief);
  s.ok("reservation.activate", {{"reservation_id", "res-brief"}, {"organization_id", "acme"}});
  const std::string swept =
      "SELECT count(*) FROM ledger.events WHERE stream_id = 'reservation:acme/res-brief' AND "
      "event_type = 'ReservationStateChanged' AND actor->>'id' = 'reservation-sweeper' AND payload->>'state' = "
      "'expired'";
  ASSERT_TRUE(eventually(60s, [&] { return s.sql(swept) == "1"; })) << "the sweeper never recorded the expiry";
  const std::int64_t at = std::stoll(s.sql("SELECT max(global_position) FROM ledger.events"));
  Reply expired = s.query("GET", "/v1/reservations/res-brief?organization_id=acme&min_position=" + std::to_string(at));
  EXPECT_EQ(expired.body["recorded_state"], "expired") << expired.describe();
  // Two more sweeps (ledger-command counts them on /metrics): nothing
  // recorded twice.
  HttpClient command("127.0.0.1", s.command_port(), 10s);
  std::string sample;  // the counter's value as last read, for the failure messages
  auto sweeps = [&]() -> double {
    auto r = command.request("GET", "/metrics", "");
    if (!r || r->status != 200) return -1;
    const std::string name = "\nledger_reservation_sweeps_total ";
    const auto at = r->body.find(name);
    if (at == std::string::npos) return -1;
    const auto from = at + name.size();
    sample = r->body.substr(from, r->body.find_first_of(" \n", from) - from);
    // Text that is no number fails the test below rather than throwing.
    double value = -1;
    const auto [end, ec] = std::from_chars(sample.data(), sample.data() + sample.size(), value);
    return ec == std::errc{} && end == sample.data() + sample.size() ? value : -1;
  };
  const double before = sweeps();
  ASSERT_GE(before, 1) << "ledger-command counts no sweeps on /metrics (ledger_reservation_sweeps_total: '" << sample
                       << "')";
  ASSERT_TRUE(eventually(60s, [&] { return sweeps() >= before + 2; }))
      << "the sweeper stopped (ledger_reservation_sweeps_total: '" << sample << "')";
  EXPECT_EQ(s.sql(swept), "1");
}

TEST(AdmissionE2e, BadInputIsRefusedWithAStableCodeAndWritesNothing) {
  Stack s("admission_bad_input_e2e");
  ASSERT_TRUE(s.start());
  build_acme(s);
  const std::int64_t before = s.events();
  struct Case {
    std::string type;
    Json body;
    int status;
    std::string code;
  };
  Json negative = ceiling(scope("project", "llm"), 1);
  negative["quantity"] = -1;
  Json text = ceiling(scope("project", "llm"), 1);
  text["quantity"] = "five";
  Json fraction = ceiling(scope("project", "llm"), 1);
  fraction["quantity"] = 1.5;
  Json unit = ceiling(scope("project", "llm"), 1);
  unit["unit"] = "gib";
  const std::vector<Case> cases = {
      {"ceiling.set", ceiling(scope("project", "ghost"), 1), 404, "unknown_scope"},
      {"ceiling.set", negative, 400, "invalid_quantity"},
      {"ceiling.set", text, 400, "invalid_quantity"},
      {"ceiling.set", fraction, 400, "invalid_quantity"},
      {"ceiling.set", unit, 422, "unit_mismatch"},
      {"reservation.draft",
       {{"reservation_id", "r-back"},
        {"owner", scope("project", "llm")},
        {"kind", "gpu_nodes"},
        {"dimension", "gpu.count"},
        {"quantity", 1},
        {"window_start", "2027-01-02T00:00:00Z"},
        {"window_end", "2027-01-01T00:00:00Z"}},
       422,
       "invalid_window"},
      {"department.create",
       {{"department_id", "sub"}, {"organization_id", "acme"}, {"parent_department_id", "research"}},
       200,
       ""},
      {"department.move", {{"department_id", "research"}, {"parent_department_id", "sub"}}, 422, "hierarchy_cycle"},
      {"project.move", {{"project_id", "llm"}, {"department_id", "nowhere"}}, 404, "unknown_scope"},
      {"ceiling.set",
       {{"scope", scope("galaxy", "x")}, {"dimension", "gpu.count"}, {"quantity", 1}, {"reason", "x"}},
       400,
       "invalid_scope"},
  };
  std::int64_t accepted = 0;
  for (const auto& c : cases) {
    Reply r = s.command(c.type, c.body);
    EXPECT_EQ(r.status, c.status) << c.type << " " << c.body.dump() << ": " << r.describe();
    if (c.status == 200)
      ++accepted;
    else
      EXPECT_EQ(r.code(), c.code) << c.type << " " << c.body.dump();
  }
  EXPECT_EQ(s.events(), before + accepted) << "only the one good command wrote anything";
  // Decisions refuse bad input too.
  Json bad = decision_input("llm", 0, 1);
  bad["request"]["requested_delta"] = -3;
  EXPECT_EQ(s.query("POST", "/v1/decisions", bad).status, 400);
  bad = decision_input("ghost", 0, 1);
  EXPECT_EQ(s.query("POST", "/v1/decisions?min_position=" + std::to_string(s.last_position()), bad).status, 404);
  bad = decision_input("llm", 0, 1);
  bad["request"]["dimension"] = "tpu.count";
  bad["request"]["unit"] = "";
  bad["current_usage"]["unit"] = "";
  Reply unreg = s.query("POST", "/v1/decisions?min_position=" + std::to_string(s.last_position()), bad);
  EXPECT_EQ(unreg.status, 422) << unreg.describe();
  EXPECT_EQ(unreg.code(), "unknown_registry_entry");
}

TEST(AdmissionE2e, PerRequestCeilingDeniesOneOversizedRequest) {
  Stack s("admission_request_ceiling_e2e");
  ASSERT_TRUE(s.start());
  build_acme(s);
  s.ok("ceiling.set", ceiling(scope("department", "research"), 100));
  Json cap = ceiling(scope("project", "llm"), 8);
  cap["window"] = "request";
  const std::int64_t set = s.ok("ceiling.set", cap);

  // No single request in llm may ask for more than 8 GPUs.
  Reply deny = s.decide(decision_input("llm", 0, 9, "corr-request-cap"), set);
  ASSERT_EQ(deny.status, 200) << deny.describe();
  EXPECT_EQ(deny.body["decision"], "deny");
  EXPECT_EQ(deny.body["reason_code"], "request_ceiling_exceeded");
  EXPECT_EQ(deny.body["user_message"].get<std::string>().find("llm"), std::string::npos) << deny.describe();
  EXPECT_EQ(deny.body["effective_ceiling"]["quantity"], 8);
  EXPECT_EQ(deny.body["effective_ceiling"]["unit"], "gpu");
  EXPECT_EQ(deny.body["effective_ceiling"]["inherited_from"], "request");
  EXPECT_EQ(deny.body["effective_ceiling"]["inherited_from_scope"], scope("project", "llm"));
  EXPECT_EQ(deny.body["limit_remaining"], 8);
  EXPECT_EQ(deny.body["evidence"]["correlation_id"], "corr-request-cap");
  bool matched = false;
  for (const auto& r : deny.body["matched_rules"]) {
    matched = matched || r["rule_id"] == "ceiling:project:llm:gpu.count/per_request";
  }
  EXPECT_TRUE(matched) << deny.describe();

  // A smaller request is answered by the usage window as before.
  Reply allow = s.decide(decision_input("llm", 0, 8), set);
  ASSERT_EQ(allow.status, 200) << allow.describe();
  EXPECT_EQ(allow.body["decision"], "allow") << allow.describe();
  EXPECT_EQ(allow.body["reason_code"], "within_ceiling");
  EXPECT_EQ(allow.body["effective_ceiling"]["quantity"], 100);
  EXPECT_EQ(allow.body["effective_ceiling"]["inherited_from"], "department");
  // Another project is not capped by llm's rule.
  EXPECT_EQ(s.decide(decision_input("vision", 0, 9), set).body["decision"], "allow");

  // A child cannot raise the department's request cap.
  Json dept_cap = ceiling(scope("department", "research"), 4);
  dept_cap["window"] = "request";
  s.ok("ceiling.set", dept_cap);
  Json raise = ceiling(scope("project", "vision"), 6);
  raise["window"] = "request";
  Reply refused = s.command("ceiling.set", raise);
  ASSERT_EQ(refused.status, 422) << refused.describe();
  EXPECT_EQ(refused.code(), "parent_ceiling_exceeded");
  EXPECT_EQ(refused.body["evidence"]["rule_id"], "ceiling:department:research:gpu.count/per_request");

  // The effective-ceilings route lists the request window like any other;
  // llm's own 8 is clamped by the department's 4.
  Reply eff = s.query("GET",
                      "/v1/ceilings/effective?scope_level=project&scope_id=llm&dimension=gpu.count&window=request"
                      "&min_position=" +
                          std::to_string(s.last_position()));
  ASSERT_EQ(eff.status, 200) << eff.describe();
  ASSERT_EQ(eff.body["ceilings"].size(), 1u) << eff.describe();
  EXPECT_EQ(eff.body["ceilings"][0]["window"], "request");
  EXPECT_EQ(eff.body["ceilings"][0]["quantity"], 4);
  EXPECT_EQ(eff.body["ceilings"][0]["inherited_from"], scope("department", "research"));
}

}  // namespace

// End-to-end tests of capacity per reservation state (issue 13 parts 1-3)
// through the real stack: commands over HTTP into ledger-command, the relay,
// the projector's admission read model, ledger-query's decisions, views and
// reservations, and ledger-audit as a process. Each reproduces the issue's
// scenario exactly and failed before the fix.
//
//   CapacityE2e.AnExhaustedReservationStillHoldsItsCapacity      (part 1)
//   CapacityE2e.OnlyOverlappingWindowsCompeteForCapacity         (part 2)
//   CapacityE2e.ActorTypeExpiredPrincipalAndLoweredCeiling       (part 3, and
//     moves and plan changes that would over-commit a reservation)
//
// Synchronisation is by min_position.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

#include "tests/support/e2e_stack.h"
#include "tests/support/e2e_support.h"
#include "tests/support/process.h"
#include "tests/support/test_env.h"

namespace {

using namespace std::chrono_literals;
using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using Json = nlohmann::json;

class Stack : public ledger::testing::ServiceStack {
 public:
  using ServiceStack::ServiceStack;
  Reply query(const std::string& method, const std::string& target, const Json& body = nullptr) {
    return ServiceStack::query(method, target, kAdminToken, body);
  }
  // A decision at the stack's last write, optionally read at instant `as_of`.
  Reply decide(const Json& input, const std::string& as_of = "") {
    std::string q = "/v1/decisions?min_position=" + std::to_string(last_position());
    if (!as_of.empty()) q += "&as_of=" + as_of;
    return query("POST", q, input);
  }
  // The department view's `reserved` for its gpu.count ceiling.
  Json department_ceiling(const std::string& dept, const std::string& as_of = "") {
    std::string q = "/v1/views/departments/" + dept + "?min_position=" + std::to_string(last_position());
    if (!as_of.empty()) q += "&as_of=" + as_of;
    Reply v = query("GET", q);
    EXPECT_EQ(v.status, 200) << v.describe();
    for (const auto& c : v.body["ceilings"]) {
      if (c["dimension"] == "gpu.count" && c["window"] == "") return c;
    }
    ADD_FAILURE() << "no gpu.count ceiling in " << v.describe();
    return Json();
  }
};

Json scope(const std::string& level, const std::string& id) { return {{"level", level}, {"id", id}}; }

// Seed 001's issue scenario: acme (plan pro) -> department D (ceiling 30) -> P1, P2.
void build(Stack& s) {
  s.register_gpu_quota();
  s.ok("organization.create", {{"organization_id", "acme"}, {"name", "Acme"}, {"plan_id", "pro"}});
  s.ok("department.create", {{"department_id", "D"}, {"organization_id", "acme"}});
  s.ok("project.create", {{"project_id", "P1"}, {"organization_id", "acme"}, {"department_id", "D"}});
  s.ok("project.create", {{"project_id", "P2"}, {"organization_id", "acme"}, {"department_id", "D"}});
  s.ok("ceiling.set", {{"scope", scope("department", "D")},
                       {"dimension", "gpu.count"},
                       {"quantity", 30},
                       {"unit", "gpu"},
                       {"reason", "e2e"}});
}

Json reservation(const std::string& id, const std::string& project, std::int64_t q,
                 std::chrono::system_clock::time_point start, std::chrono::system_clock::time_point end) {
  return {{"reservation_id", id},
          {"owner", scope("project", project)},
          {"kind", "gpu_nodes"},
          {"dimension", "gpu.count"},
          {"quantity", q},
          {"window_start", ledger::testing::rfc3339(start)},
          {"window_end", ledger::testing::rfc3339(end)},
          {"reason", "e2e"}};
}

Json decision_input(const std::string& project, std::int64_t delta, const std::string& actor_type = "service_account",
                    const std::string& actor_id = "scheduler") {
  return {
      {"actor",
       {{"actor_type", actor_type}, {"actor_id", actor_id}, {"roles", Json::array()}, {"scopes", Json::array()}}},
      {"hierarchy", {{"organization_id", "acme"}, {"department_id", "D"}, {"project_id", project}}},
      {"product",
       {{"product_id", "gpuaas"}, {"resource_type", "gpu_node"}, {"resource_id", "n1"}, {"action", "start"}}},
      {"request",
       {{"dimension", "gpu.count"}, {"requested_delta", delta}, {"unit", "gpu"}, {"region", ""}, {"sku_or_model", ""}}},
      {"current_usage", {{"scope_window", ""}, {"quantity", 0}, {"unit", "gpu"}}},
      {"registry_versions", Json::object()},
      {"correlation_id", "corr-capacity"}};
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

TEST(CapacityE2e, AnExhaustedReservationStillHoldsItsCapacity) {
  Stack s("capacity_exhausted_e2e");
  ASSERT_TRUE(s.start());
  build(s);
  const auto now = std::chrono::system_clock::now();
  s.ok("reservation.draft", reservation("r1", "P1", 25, now - 1h, now + 24h));
  s.ok("reservation.activate", {{"reservation_id", "r1"}, {"organization_id", "acme"}});
  Reply before = s.decide(decision_input("P2", 0));
  ASSERT_EQ(before.status, 200) << before.describe();
  EXPECT_EQ(before.body["available"], 5) << before.describe();

  // Consume all 25: r1 is exhausted and still occupies its window.
  const std::int64_t exhausted =
      s.ok("reservation.consume", {{"reservation_id", "r1"}, {"organization_id", "acme"}, {"quantity", 25}});
  Reply r1 = s.query("GET", "/v1/reservations/r1?organization_id=acme&min_position=" + std::to_string(exhausted));
  ASSERT_EQ(r1.status, 200) << r1.describe();
  EXPECT_EQ(r1.body["state"], "exhausted");
  EXPECT_EQ(r1.body["holds_capacity"], true) << r1.describe();
  EXPECT_EQ(r1.body["held"], 25) << r1.describe();
  // A sibling's decision does not jump from 5 available to 30.
  Reply sibling = s.decide(decision_input("P2", 6));
  ASSERT_EQ(sibling.status, 200) << sibling.describe();
  EXPECT_EQ(sibling.body["available"], 5) << sibling.describe();
  EXPECT_EQ(sibling.body["decision"], "deny");
  EXPECT_EQ(sibling.body["reason_code"], "capacity_reserved");
  EXPECT_EQ(s.department_ceiling("D")["reserved"], 25);

  // A second reservation cannot be activated on top of it.
  s.ok("reservation.draft", reservation("r2", "P2", 25, now - 1h, now + 24h));
  Reply r2 = s.command("reservation.activate", {{"reservation_id", "r2"}, {"organization_id", "acme"}});
  ASSERT_EQ(r2.status, 422) << r2.describe();
  EXPECT_EQ(r2.code(), "capacity_unavailable");
  EXPECT_EQ(r2.body["evidence"]["reserved_with_this"], 50) << r2.describe();

  // Releasing 1 of r1 makes it active again, alone: never 50 under 30.
  const std::int64_t released =
      s.ok("reservation.release", {{"reservation_id", "r1"}, {"organization_id", "acme"}, {"quantity", 1}});
  Reply active = s.query("GET", "/v1/reservations/r1?organization_id=acme&min_position=" + std::to_string(released));
  EXPECT_EQ(active.body["state"], "active") << active.describe();
  Reply r2_now = s.query("GET", "/v1/reservations/r2?organization_id=acme&min_position=" + std::to_string(released));
  EXPECT_EQ(r2_now.body["state"], "draft") << r2_now.describe();
  const Json d = s.department_ceiling("D");
  EXPECT_EQ(d["reserved"], 25) << d.dump();
  EXPECT_EQ(d["quantity"], 30) << d.dump();

  // The audit CLI, from history alone, says what r1 held when it was exhausted.
  const std::string audit = quote(std::string(LEDGER_BINARY_DIR) + "/services/ledger-audit") + " as-of --pg-url " +
                            quote(s.database().app_url) + " --reservation r1 --position " + std::to_string(exhausted);
  auto json = ledger::testing::run_command(audit + " --json 2>/dev/null");
  ASSERT_EQ(json.status, 0) << json.out;
  const Json a = Json::parse(json.out);
  EXPECT_EQ(a["state"], "exhausted") << json.out;
  EXPECT_EQ(a["held"], 25) << json.out;
  auto text = ledger::testing::run_command(audit + " 2>&1");
  EXPECT_NE(text.out.find("holds:          25 gpu"), std::string::npos) << text.out;
}

TEST(CapacityE2e, OnlyOverlappingWindowsCompeteForCapacity) {
  Stack s("capacity_windows_e2e");
  ASSERT_TRUE(s.start());
  build(s);
  const auto now = std::chrono::system_clock::now();
  const auto rfc = ledger::testing::rfc3339;
  // r1 = 25 for tomorrow.
  s.ok("reservation.draft", reservation("r1", "P1", 25, now + 24h, now + 48h));
  s.ok("reservation.activate", {{"reservation_id", "r1"}, {"organization_id", "acme"}});

  // 25 for the day after never overlaps it.
  s.ok("reservation.draft", reservation("r2", "P2", 25, now + 48h, now + 72h));
  Reply day_after = s.command("reservation.activate", {{"reservation_id", "r2"}, {"organization_id", "acme"}});
  ASSERT_EQ(day_after.status, 200) << day_after.describe();

  // Nor does 25 for the next hour: the decision and the view agree it is free.
  Reply free = s.decide(decision_input("P2", 25));
  ASSERT_EQ(free.status, 200) << free.describe();
  EXPECT_EQ(free.body["available"], 30) << free.describe();
  EXPECT_EQ(s.department_ceiling("D")["reserved"], 0);
  s.ok("reservation.draft", reservation("r3", "P2", 25, now, now + 1h));
  Reply next_hour = s.command("reservation.activate", {{"reservation_id", "r3"}, {"organization_id", "acme"}});
  ASSERT_EQ(next_hour.status, 200) << next_hour.describe();

  // Every instant agrees: now r3 holds, tomorrow r1, the day after r2.
  EXPECT_EQ(s.decide(decision_input("P1", 0)).body["available"], 5);
  EXPECT_EQ(s.department_ceiling("D")["reserved"], 25);
  const std::string tomorrow = rfc(now + 30h);
  Reply then = s.decide(decision_input("P2", 0), tomorrow);
  ASSERT_EQ(then.status, 200) << then.describe();
  EXPECT_EQ(then.body["available"], 5) << then.describe();
  EXPECT_EQ(s.department_ceiling("D", tomorrow)["reserved"], 25);
  EXPECT_EQ(s.decide(decision_input("P1", 0), rfc(now + 54h)).body["available"], 5);
  EXPECT_EQ(s.department_ceiling("D", rfc(now + 80h))["reserved"], 0);

  // One spanning tomorrow and the day after meets each at its own peak.
  s.ok("reservation.draft", reservation("r4", "P1", 6, now + 36h, now + 60h));
  Reply span = s.command("reservation.activate", {{"reservation_id", "r4"}, {"organization_id", "acme"}});
  ASSERT_EQ(span.status, 422) << span.describe();
  EXPECT_EQ(span.code(), "capacity_unavailable");
  EXPECT_EQ(span.body["evidence"]["reserved_with_this"], 31) << span.describe();
  s.ok("reservation.draft", reservation("r5", "P1", 5, now + 36h, now + 60h));
  Reply fits = s.command("reservation.activate", {{"reservation_id", "r5"}, {"organization_id", "acme"}});
  EXPECT_EQ(fits.status, 200) << fits.describe();
}

TEST(CapacityE2e, ActorTypeExpiredPrincipalAndLoweredCeiling) {
  Stack s("capacity_bounds_e2e");
  ASSERT_TRUE(s.start());
  build(s);
  const auto now = std::chrono::system_clock::now();
  const auto rfc = ledger::testing::rfc3339;

  // actor_type outside the seed's four is bad input.
  Reply robot = s.decide(decision_input("P1", 1, "robot"));
  EXPECT_EQ(robot.status, 400) << robot.describe();
  EXPECT_EQ(robot.code(), "invalid_decision_input");
  EXPECT_EQ(s.decide(decision_input("P1", 1, "worker")).status, 200);

  // An API key and a service account past their expires_at are denied.
  s.ok("principal.create",
       {{"principal_id", "key1"}, {"principal_type", "api_key"}, {"project_id", "P1"}, {"expires_at", rfc(now - 1h)}});
  s.ok("principal.create", {{"principal_id", "svc1"},
                            {"principal_type", "service_account"},
                            {"project_id", "P1"},
                            {"expires_at", rfc(now + 1h)}});
  Reply key = s.decide(decision_input("P1", 1, "api_key", "key1"));
  ASSERT_EQ(key.status, 200) << key.describe();
  EXPECT_EQ(key.body["decision"], "deny") << key.describe();
  EXPECT_EQ(key.body["reason_code"], "principal_expired");
  Reply svc = s.decide(decision_input("P1", 1, "service_account", "svc1"));
  EXPECT_EQ(svc.body["decision"], "allow") << svc.describe();
  Reply svc_later = s.decide(decision_input("P1", 1, "service_account", "svc1"), rfc(now + 2h));
  EXPECT_EQ(svc_later.body["decision"], "deny") << svc_later.describe();
  EXPECT_EQ(svc_later.body["reason_code"], "principal_expired");

  // Lowering a ceiling below what active reservations hold is refused.
  s.ok("reservation.draft", reservation("r1", "P1", 25, now - 1h, now + 24h));
  s.ok("reservation.activate", {{"reservation_id", "r1"}, {"organization_id", "acme"}});
  const std::int64_t before = std::stoll(s.sql("SELECT count(*) FROM ledger.events"));
  Reply lower = s.command("ceiling.set", {{"scope", scope("department", "D")},
                                          {"dimension", "gpu.count"},
                                          {"quantity", 20},
                                          {"unit", "gpu"},
                                          {"reason", "e2e"}});
  EXPECT_EQ(lower.status, 422) << lower.describe();
  EXPECT_EQ(lower.code(), "ceiling_below_reserved");
  EXPECT_EQ(lower.body["evidence"]["reservation_id"], "r1") << lower.describe();
  EXPECT_EQ(lower.body["evidence"]["reserved"], 25) << lower.describe();
  EXPECT_EQ(std::stoll(s.sql("SELECT count(*) FROM ledger.events")), before) << "a refusal writes nothing";
  EXPECT_EQ(s.department_ceiling("D")["quantity"], 30);
  // Down to exactly what is held is fine.
  s.ok("ceiling.set", {{"scope", scope("department", "D")},
                       {"dimension", "gpu.count"},
                       {"quantity", 25},
                       {"unit", "gpu"},
                       {"reason", "e2e"}});

  // Nor can the hierarchy change under the reservation: P1 (holding 25)
  // into a department of 10, or acme onto a plan capped at 20, is refused
  // and writes nothing; the view still shows r1 under D.
  s.ok("department.create", {{"department_id", "D2"}, {"organization_id", "acme"}});
  s.ok("ceiling.set", {{"scope", scope("department", "D2")},
                       {"dimension", "gpu.count"},
                       {"quantity", 10},
                       {"unit", "gpu"},
                       {"reason", "e2e"}});
  s.ok("ceiling.set", {{"scope", scope("plan", "starter")},
                       {"dimension", "gpu.count"},
                       {"quantity", 20},
                       {"unit", "gpu"},
                       {"reason", "e2e"}});
  const std::int64_t before_moves = std::stoll(s.sql("SELECT count(*) FROM ledger.events"));
  Reply move = s.command("project.move", {{"project_id", "P1"}, {"department_id", "D2"}});
  EXPECT_EQ(move.status, 422) << move.describe();
  EXPECT_EQ(move.code(), "ceiling_below_reserved");
  EXPECT_EQ(move.body["evidence"]["reservation_id"], "r1") << move.describe();
  EXPECT_EQ(move.body["evidence"]["effective_quantity"], 10) << move.describe();
  Reply plan = s.command("organization.change_plan", {{"organization_id", "acme"}, {"plan_id", "starter"}});
  EXPECT_EQ(plan.status, 422) << plan.describe();
  EXPECT_EQ(plan.code(), "ceiling_below_reserved");
  EXPECT_EQ(std::stoll(s.sql("SELECT count(*) FROM ledger.events")), before_moves) << "a refusal writes nothing";
  EXPECT_EQ(s.department_ceiling("D")["reserved"], 25);
  // Suspended, r1 holds nothing, and the move is accepted.
  s.ok("reservation.suspend", {{"reservation_id", "r1"}, {"organization_id", "acme"}});
  s.ok("project.move", {{"project_id", "P1"}, {"department_id", "D2"}});
}

}  // namespace

// Reservation ids are scoped per organization, through the real processes
// (issue 10, item 12). Before, ids were global: `reservation.draft` of an id
// another organization used answered 409 `already_exists`, which told the
// caller the id was taken by someone (an existence oracle across tenants).
//
// Now org-globex drafting "r1" while org-acme has "r1" creates globex's own
// "r1"; every command and read of globex resolves "r1" within globex, and
// naming acme's explicitly answers exactly like an unknown id. Acme's "r1" is
// untouched, and no answer to globex mentions acme.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

#include "tests/support/e2e_stack.h"
#include "tests/support/e2e_support.h"

namespace {

using namespace std::chrono_literals;
using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using ledger::testing::rfc3339;
using Json = nlohmann::json;
using Stack = ledger::testing::ServiceStack;

const std::string kAcmeAdmin = "Bearer dev-acme-tenant-admin";  // org-acme
const std::string kAcmeReader = "Bearer dev-acme-reader";
const std::string kGlobexAdmin = "Bearer dev-globex-tenant-admin";  // org-globex
const std::string kGlobexService = "Bearer dev-globex-service";
const std::string kGlobexReader = "Bearer dev-globex-reader";
const std::string kGlobexAuditor = "Bearer dev-globex-auditor";

Json draft(const std::string& project, std::int64_t quantity, const std::string& sku) {
  // One window for every draft of the test: the same draft sent twice must
  // be the same draft even when a second passes between the two.
  static const auto now = std::chrono::system_clock::now();
  return {{"reservation_id", "r1"},
          {"owner", {{"level", "project"}, {"id", project}}},
          {"kind", "gpu_nodes"},
          {"dimension", "gpu.count"},
          {"sku_or_model", sku},
          {"quantity", quantity},
          {"unit", "gpu"},
          {"window_start", rfc3339(now - 1h)},
          {"window_end", rfc3339(now + 24h)},
          {"reason", "reservation ids e2e"}};
}

// Nothing in an answer to globex may name acme or its project.
void expect_no_acme(const Reply& r, const std::string& what) {
  const std::string text = r.body.dump();
  EXPECT_EQ(text.find("acme"), std::string::npos) << what << ": " << r.describe();
}

// The audit rows about reservations in an audit page, each of which must
// belong to `tenant`.
int reservation_rows(const Reply& page, const std::string& tenant) {
  int n = 0;
  for (const auto& row : page.body["items"]) {
    if (row["subject"]["kind"] != "reservation") continue;
    EXPECT_EQ(row["tenant"], tenant) << row.dump();
    ++n;
  }
  return n;
}

TEST(ReservationIdsE2e, EachOrganizationHasItsOwnIdsAndNeverSeesAnothers) {
  Stack s("reservation_ids_e2e");
  ASSERT_TRUE(s.start());
  s.register_gpu_quota();
  s.ok("organization.create", {{"organization_id", "org-acme"}, {"plan_id", "pro"}});
  s.ok("organization.create", {{"organization_id", "org-globex"}, {"plan_id", "pro"}});
  s.ok("project.create", {{"project_id", "acme-p"}, {"organization_id", "org-acme"}});
  s.ok("project.create", {{"project_id", "globex-p"}, {"organization_id", "org-globex"}});

  // Acme drafts r1, activates it and consumes 1 of 4.
  ASSERT_EQ(s.command("reservation.draft", draft("acme-p", 4, "h100"), kAcmeAdmin).status, 200);
  ASSERT_EQ(s.command("reservation.activate", {{"reservation_id", "r1"}}, kAcmeAdmin).status, 200);
  ASSERT_EQ(s.command("reservation.consume", {{"reservation_id", "r1"}, {"quantity", 1}}, kAcmeAdmin).status, 200);
  const std::string acme_events =
      "SELECT count(*) FROM ledger.events WHERE event_type LIKE 'Reservation%' AND tenant = 'org-acme'";
  ASSERT_EQ(s.sql(acme_events), "3");

  // Globex drafts r1 too (other attributes): accepted as its own, not 409.
  Reply mine = s.command("reservation.draft", draft("globex-p", 2, "a100"), kGlobexAdmin);
  ASSERT_EQ(mine.status, 200) << mine.describe();
  expect_no_acme(mine, "globex's draft");
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.events WHERE event_type = 'ReservationDrafted'"), "2");
  EXPECT_EQ(s.sql("SELECT stream_id FROM ledger.events WHERE event_type = 'ReservationDrafted' AND "
                  "tenant = 'org-globex'"),
            "reservation:org-globex/r1");
  // The same draft again is a no-op for globex (its own r1, same attributes).
  Reply again = s.command("reservation.draft", draft("globex-p", 2, "a100"), kGlobexAdmin);
  EXPECT_EQ(again.status, 200) << again.describe();

  // Globex's lifecycle commands by id reach its own r1 only.
  Reply act = s.command("reservation.activate", {{"reservation_id", "r1"}}, kGlobexAdmin);
  ASSERT_EQ(act.status, 200) << act.describe();
  expect_no_acme(act, "globex's activate");
  Reply used = s.command("reservation.consume", {{"reservation_id", "r1"}, {"quantity", 2}}, kGlobexService);
  ASSERT_EQ(used.status, 200) << used.describe();  // all of globex's 2 (acme's has 3 left: no 409, no 422)
  Reply back = s.command("reservation.release", {{"reservation_id", "r1"}, {"quantity", 1}}, kGlobexService);
  ASSERT_EQ(back.status, 200) << back.describe();
  // More than globex's own r1 ever had consumed: refused on globex's numbers.
  Reply over = s.command("reservation.release", {{"reservation_id", "r1"}, {"quantity", 2}}, kGlobexService);
  EXPECT_EQ(over.code(), "release_exceeds_consumed") << over.describe();
  EXPECT_EQ(over.body["evidence"]["consumed"], 1) << over.describe();
  expect_no_acme(over, "globex's refused release");

  // Naming acme's r1 explicitly answers exactly like an unknown id, for
  // every command that names a reservation by id.
  for (const std::string type : {"reservation.activate", "reservation.suspend", "reservation.retire",
                                 "reservation.consume", "reservation.release"}) {
    Json foreign_body = {{"reservation_id", "r1"}, {"organization_id", "org-acme"}};
    Json unknown_body = {{"reservation_id", "r-nobody"}, {"organization_id", "org-globex"}};
    if (type == "reservation.consume" || type == "reservation.release") {
      foreign_body["quantity"] = 1;
      unknown_body["quantity"] = 1;
    }
    const std::string& token =
        type == "reservation.consume" || type == "reservation.release" ? kGlobexService : kGlobexAdmin;
    Reply foreign = s.command(type, foreign_body, token);
    Reply unknown = s.command(type, unknown_body, token);
    EXPECT_EQ(foreign.status, 404) << type << ": " << foreign.describe();
    EXPECT_EQ(foreign.status, unknown.status) << type;
    EXPECT_EQ(foreign.code(), "unknown_reservation") << type;
    EXPECT_EQ(foreign.code(), unknown.code()) << type;
    EXPECT_EQ(foreign.body["message"], unknown.body["message"]) << type;
    EXPECT_EQ(foreign.body["evidence"]["reservation_id"], "r1") << type;
    EXPECT_EQ(foreign.body["evidence"].size(), unknown.body["evidence"].size()) << type;  // + correlation_id
    expect_no_acme(foreign, type);
  }

  // Globex reads its own r1; acme's reads like an unknown id.
  const std::string fresh = "min_position=" + std::to_string(s.last_position()) + "&wait_ms=10000";
  Reply own = s.query("GET", "/v1/reservations/r1?" + fresh, kGlobexReader);
  ASSERT_EQ(own.status, 200) << own.describe();
  EXPECT_EQ(own.body["organization_id"], "org-globex");
  EXPECT_EQ(own.body["quantity"], 2);
  EXPECT_EQ(own.body["consumed"], 1);
  EXPECT_EQ(own.body["state"], "active");
  expect_no_acme(own, "globex's read");
  Reply foreign = s.query("GET", "/v1/reservations/r1?organization_id=org-acme&" + fresh, kGlobexReader);
  Reply unknown = s.query("GET", "/v1/reservations/r-nobody?" + fresh, kGlobexReader);
  EXPECT_EQ(foreign.status, 404) << foreign.describe();
  EXPECT_EQ(foreign.code(), unknown.code());
  EXPECT_EQ(foreign.body["message"], unknown.body["message"]);
  expect_no_acme(foreign, "globex's read of acme's r1");
  Reply list = s.query("GET", "/v1/reservations?" + fresh, kGlobexReader);
  ASSERT_EQ(list.status, 200) << list.describe();
  ASSERT_EQ(list.body["items"].size(), 1u) << list.describe();
  EXPECT_EQ(list.body["items"][0]["organization_id"], "org-globex");
  expect_no_acme(list, "globex's list");
  // Globex's audit of its project's subtree: its own r1's rows only.
  Reply audit =
      s.query("GET", "/v1/audit?scope_level=project&scope_id=globex-p&descendants=true&" + fresh, kGlobexAuditor);
  ASSERT_EQ(audit.status, 200) << audit.describe();
  // drafted, activated, consumed, exhausted, released, active again
  EXPECT_EQ(reservation_rows(audit, "org-globex"), 6) << audit.describe();
  expect_no_acme(audit, "globex's audit");

  // Acme's r1 is untouched: its three events, quantity 4, consumed 1, active.
  EXPECT_EQ(s.sql(acme_events), "3");
  Reply theirs = s.query("GET", "/v1/reservations/r1?" + fresh, kAcmeReader);
  ASSERT_EQ(theirs.status, 200) << theirs.describe();
  EXPECT_EQ(theirs.body["organization_id"], "org-acme");
  EXPECT_EQ(theirs.body["quantity"], 4);
  EXPECT_EQ(theirs.body["consumed"], 1);
  EXPECT_EQ(theirs.body["state"], "active");
  // Acme's subtree audit (its project) holds acme's reservation rows only,
  // though globex's r1 shares the id.
  Reply subtree =
      s.query("GET", "/v1/audit?scope_level=project&scope_id=acme-p&descendants=true&" + fresh, kAdminToken);
  ASSERT_EQ(subtree.status, 200) << subtree.describe();
  EXPECT_EQ(reservation_rows(subtree, "org-acme"), 3) << subtree.describe();  // drafted, activated, consumed

  // A platform principal names the organization: without it, 400.
  Reply unnamed = s.command("reservation.suspend", {{"reservation_id", "r1"}});
  EXPECT_EQ(unnamed.status, 400) << unnamed.describe();
  EXPECT_EQ(unnamed.code(), "missing_field");
  EXPECT_EQ(s.query("GET", "/v1/reservations/r1?" + fresh, kAdminToken).status, 400);
  Reply named = s.command("reservation.suspend", {{"reservation_id", "r1"}, {"organization_id", "org-globex"}});
  ASSERT_EQ(named.status, 200) << named.describe();
  const std::string at = "min_position=" + std::to_string(s.last_position()) + "&wait_ms=10000";
  EXPECT_EQ(s.query("GET", "/v1/reservations/r1?organization_id=org-globex&" + at, kAdminToken).body["state"],
            "suspended");
  EXPECT_EQ(s.query("GET", "/v1/reservations/r1?organization_id=org-acme&" + at, kAdminToken).body["state"], "active");
}

}  // namespace

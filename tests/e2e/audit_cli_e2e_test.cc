// `ledger-audit` as a process: --help on every subcommand, exit statuses
// (0 ok, 1 a finding, 2 bad input), the messages an auditor reads, --json,
// verify --file working with no database at all, and as-of for policy
// values, quota ceilings and reservations.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "adapters/postgres/event_store.h"
#include "adapters/system/clock.h"
#include "commands/command_service.h"
#include "tests/support/process.h"
#include "tests/support/test_env.h"

namespace ledger {
namespace {

using Json = nlohmann::json;

using Run = testing::CommandRun;  // out: stdout, and stderr unless asked not to

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

Run audit(const std::string& args, bool with_stderr = true) {
  const std::string cmd = quote(std::string(LEDGER_BINARY_DIR) + "/services/ledger-audit") + " " + args +
                          (with_stderr ? " 2>&1" : " 2>/dev/null");
  return testing::run_command(cmd);
}

class AuditCliE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::create_database(::testing::UnitTest::GetInstance()->current_test_info()->name());
    dir_ = std::filesystem::temp_directory_path() / testing::unique_name("ledger-audit-e2e");
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // A key definition and `n - 1` values: positions 1..n.
  void write(int n) {
    adapters::system::ManualClock clock{events::Instant{1'780'272'000'000'000}};
    adapters::postgres::PgEventStore store(db_.app_url, clock);
    commands::CommandService svc(store, clock);
    svc.start();
    const commands::Principal admin{{"user", "e2e", {"platform_admin"}}, "platform"};
    events::PolicyKeyDefined d{
        "billing.window_seconds", events::ValueType::kInt, events::PolicyValue{std::int64_t{60}}, 1, 86400, {}, ""};
    ASSERT_TRUE(svc.submit_async({{"def", admin, "", ""}, domain::DefinePolicyKey{d}, {}}).get().has_value());
    for (int i = 1; i < n; ++i) {
      clock.advance_micros(60'000'000);
      commands::CommandRequest r{{"set" + std::to_string(i), admin, "", ""},
                                 domain::SetPolicyValue{d.key,
                                                        {events::ScopeLevel::kOrganization, "acme"},
                                                        events::PolicyValue{std::int64_t{100 + i}},
                                                        {},
                                                        "e2e",
                                                        {}},
                                 {}};
      ASSERT_TRUE(svc.submit_async(r).get().has_value());
    }
  }
  // Admission history through the command service, one command a minute:
  //   1-3 registry, 4 acme (plan pro), 5 research, 6 ops, 7 p1 in research,
  //   8 acme gpu.count 100, 9 research 50, 10 ops 20, 11 acme lowered to 60,
  //   12 p1 moved to ops, 13 res-1 drafted (p1, 10 gpu, window 00:00-06:00),
  //   14 activated, 15 4 consumed.
  void write_admission() {
    adapters::system::ManualClock clock{events::Instant{1'780'272'000'000'000}};
    adapters::postgres::PgEventStore store(db_.app_url, clock);
    commands::CommandService::Options options;
    options.sweep_interval = std::chrono::milliseconds(0);  // no Expired event: as-of must compute it
    commands::CommandService svc(store, clock, options);
    svc.start();
    const commands::Principal admin{{"user", "e2e", {"platform_admin"}}, "platform"};
    int n = 0;
    auto run = [&](commands::Command c) {
      clock.advance_micros(60'000'000);
      auto out = svc.submit_async({{"adm" + std::to_string(++n), admin, "", ""}, std::move(c), {}}).get();
      ASSERT_TRUE(out.has_value()) << out.error().code << ": " << out.error().message;
      ASSERT_EQ(out->position, events::GlobalPosition{n});
    };
    using events::QuotaLevel;
    run(domain::RegisterEntry{"product", "gpuaas", "GPU as a service", {}});
    run(domain::RegisterEntry{"usage_unit", "gpu", "one GPU", {}});
    run(domain::RegisterEntry{"quota_dimension", "gpu.count", "GPUs", {{"product", "gpuaas"}, {"unit", "gpu"}}});
    run(domain::CreateOrganization{"acme", "Acme", "pro", ""});
    run(domain::CreateDepartment{"research", "acme", "", "Research"});
    run(domain::CreateDepartment{"ops", "acme", "", "Ops"});
    run(domain::CreateProject{"p1", "acme", "research", "P1"});
    run(domain::SetCeiling{{QuotaLevel::kOrganization, "acme"}, {"gpu.count", "", "", ""}, 100, "gpu", "e2e"});
    run(domain::SetCeiling{{QuotaLevel::kDepartment, "research"}, {"gpu.count", "", "", ""}, 50, "gpu", "e2e"});
    run(domain::SetCeiling{{QuotaLevel::kDepartment, "ops"}, {"gpu.count", "", "", ""}, 20, "gpu", "e2e"});
    run(domain::SetCeiling{{QuotaLevel::kOrganization, "acme"}, {"gpu.count", "", "", ""}, 60, "gpu", "e2e"});
    run(domain::MoveProject{"p1", "ops"});
    run(domain::DraftReservation{"res-1",
                                 {QuotaLevel::kProject, "p1"},
                                 "gpu_nodes",
                                 "gpu.count",
                                 "eu-1",
                                 "h100",
                                 10,
                                 "gpu",
                                 events::Instant{1'780'272'000'000'000},
                                 events::Instant{1'780'272'000'000'000 + 6 * 3'600'000'000LL},
                                 {},
                                 "e2e"});
    run(domain::TransitionReservation{"res-1", "activate", "e2e", "acme"});
    run(domain::ConsumeReservation{"res-1", 4, "e2e", "acme"});
  }
  void tamper(const std::string& statement) {
    ASSERT_EQ(testing::sql_exec(db_.admin_url, "ALTER TABLE ledger.events DISABLE TRIGGER USER; " + statement +
                                                   "; ALTER TABLE ledger.events ENABLE TRIGGER USER"),
              "");
  }
  std::string pg() { return "--pg-url " + quote(db_.app_url); }
  std::string path(const std::string& name) { return (dir_ / name).string(); }

  testing::TestDatabase db_;
  std::filesystem::path dir_;
};

TEST_F(AuditCliE2e, EverySubcommandHasHelp) {
  for (const char* sub : {"verify", "export", "history", "as-of", "digest", "replay"}) {
    auto r = audit(std::string(sub) + " --help");
    EXPECT_EQ(r.status, 0) << sub << ": " << r.out;
    EXPECT_NE(r.out.find("--json"), std::string::npos) << sub;
    EXPECT_NE(r.out.find("--pg-url"), std::string::npos) << sub;
  }
  auto asof_help = audit("as-of --help");
  for (const char* flag : {"--key", "--ceiling", "--reservation", "--scope-level", "--dimension", "--instant"}) {
    EXPECT_NE(asof_help.out.find(flag), std::string::npos) << flag;
  }
  auto top = audit("--help");
  EXPECT_EQ(top.status, 0);
  EXPECT_NE(top.out.find("as-of"), std::string::npos);
  EXPECT_EQ(audit("").status, 2);  // a subcommand is required
  EXPECT_EQ(audit("frobnicate").status, 2);
}

TEST_F(AuditCliE2e, VerifyExportAndTamperEvidence) {
  write(30);
  const std::string head =
      testing::sql_scalar(db_.admin_url, "SELECT hash FROM ledger.events WHERE global_position = 30");
  auto ok = audit("verify " + pg());
  EXPECT_EQ(ok.status, 0) << ok.out;
  EXPECT_EQ(ok.out, "verified 30 events, head position 30, head hash " + head + "\n");
  auto js = audit("verify --json " + pg(), false);
  EXPECT_EQ(js.status, 0);
  EXPECT_EQ(Json::parse(js.out)["head_hash"], head);

  auto exported = audit("export " + pg() + " --out " + quote(path("all.jsonl")));
  EXPECT_EQ(exported.status, 0) << exported.out;
  auto file = audit("verify --file " + quote(path("all.jsonl")) + " --pg-url postgresql://nobody@127.0.0.1:1/none");
  EXPECT_EQ(file.status, 0) << file.out;
  EXPECT_EQ(file.out, ok.out);

  // Truncated mid-line: the line is named.
  {
    std::ifstream in(path("all.jsonl"), std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(path("cut.jsonl"), std::ios::binary) << text.substr(0, text.size() - 100);
  }
  auto cut = audit("verify --file " + quote(path("cut.jsonl")));
  EXPECT_EQ(cut.status, 1);
  EXPECT_NE(cut.out.find("line 30: truncated"), std::string::npos) << cut.out;
  auto missing = audit("verify --file " + quote(path("nope.jsonl")));
  EXPECT_EQ(missing.status, 2);
  EXPECT_NE(missing.out.find("no such file"), std::string::npos) << missing.out;

  // Edited and deleted rows are named by position.
  tamper("UPDATE ledger.events SET payload = jsonb_set(payload, '{after}', '1') WHERE global_position = 17");
  auto edited = audit("verify " + pg());
  EXPECT_EQ(edited.status, 1);
  EXPECT_EQ(edited.out.rfind("position 17: hash mismatch (stored ", 0), 0u) << edited.out;
  auto ej = Json::parse(audit("verify --json " + pg(), false).out);
  EXPECT_FALSE(ej["ok"].get<bool>());
  EXPECT_EQ(ej["broken"]["position"], 17);
  tamper("DELETE FROM ledger.events WHERE global_position = 12");
  auto gap = audit("verify " + pg());
  EXPECT_EQ(gap.status, 1);
  EXPECT_EQ(gap.out.rfind("position 12 missing (found 13 after 11)", 0), 0u) << gap.out;

  // Bad ranges: clear errors, nothing written.
  auto beyond = audit("export " + pg() + " --out " + quote(path("x.jsonl")) + " --to 99");
  EXPECT_EQ(beyond.status, 2);
  EXPECT_NE(beyond.out.find("position 99 is beyond the head of the ledger (30)"), std::string::npos) << beyond.out;
  EXPECT_FALSE(std::filesystem::exists(path("x.jsonl")));
}

TEST_F(AuditCliE2e, AsOfHistoryAndDigest) {
  write(10);
  auto at = audit("as-of " + pg() + " --key billing.window_seconds --org-id acme --position 5 --json", false);
  ASSERT_EQ(at.status, 0) << at.out;
  auto j = Json::parse(at.out);
  EXPECT_EQ(j["value"], 104);
  EXPECT_EQ(j["position"], 5);
  EXPECT_EQ(j["source"]["level"], "organization");
  auto text = audit("as-of " + pg() + " --key billing.window_seconds --org-id acme --instant 2026-06-01T00:03:30Z");
  EXPECT_EQ(text.status, 0) << text.out;
  EXPECT_EQ(text.out.rfind("billing.window_seconds = 103\n", 0), 0u) << text.out;

  auto malformed = audit("as-of " + pg() + " --key billing.window_seconds --instant yesterday");
  EXPECT_EQ(malformed.status, 2);
  EXPECT_NE(malformed.out.find("malformed instant 'yesterday'"), std::string::npos) << malformed.out;
  auto beyond = audit("as-of " + pg() + " --key billing.window_seconds --position 11");
  EXPECT_EQ(beyond.status, 2);
  EXPECT_NE(beyond.out.find("position 11 is beyond the head of the ledger (10)"), std::string::npos) << beyond.out;
  auto neither = audit("as-of " + pg() + " --key billing.window_seconds");
  EXPECT_EQ(neither.status, 2);

  auto history = audit("history " + pg() + " --key billing.window_seconds --json", false);
  EXPECT_EQ(history.status, 0);
  int lines = 0;
  for (std::size_t p = 0; (p = history.out.find('\n', p)) != std::string::npos; ++p) ++lines;
  EXPECT_EQ(lines, 10);
  EXPECT_EQ(audit("history " + pg() + " --key no.such_key").status, 2);
  auto both = audit("history " + pg() + " --stream a --key b");
  EXPECT_EQ(both.status, 2);
  EXPECT_NE(both.out.find("excludes"), std::string::npos) << both.out;

  std::ofstream(path("key")) << "e2e-secret\n";
  auto signed_ = audit("digest " + pg() + " --position 8 --key-file " + quote(path("key")), false);
  ASSERT_EQ(signed_.status, 0) << signed_.out;
  std::ofstream(path("digest.json")) << signed_.out;
  EXPECT_EQ(Json::parse(signed_.out)["algorithm"], "HMAC-SHA256");
  auto check = audit("digest " + pg() + " --check " + quote(path("digest.json")) + " --key-file " + quote(path("key")));
  EXPECT_EQ(check.status, 0) << check.out;
  tamper("UPDATE ledger.events SET payload = jsonb_set(payload, '{reason}', '\"x\"') WHERE global_position = 3");
  auto changed =
      audit("digest " + pg() + " --check " + quote(path("digest.json")) + " --key-file " + quote(path("key")));
  EXPECT_EQ(changed.status, 1);
  EXPECT_NE(changed.out.find("position 3: hash mismatch"), std::string::npos) << changed.out;
  auto no_key = audit("digest " + pg() + " --position 8 --key-file " + quote(path("none")));
  EXPECT_EQ(no_key.status, 2);
  EXPECT_NE(no_key.out.find("key file not found"), std::string::npos) << no_key.out;
}

TEST_F(AuditCliE2e, AsOfCeilingAndReservation) {
  write_admission();
  const std::string ceiling = "as-of " + pg() + " --ceiling --scope-level project --scope-id p1 --dimension gpu.count";
  // Before the move: research's 50, with the rule's version.
  auto old = audit(ceiling + " --position 10 --json", false);
  ASSERT_EQ(old.status, 0) << old.out;
  auto j = Json::parse(old.out);
  EXPECT_EQ(j["quantity"], 50);
  EXPECT_EQ(j["unit"], "gpu");
  EXPECT_EQ(j["inherited_from"], (Json{{"level", "department"}, {"id", "research"}}));
  EXPECT_EQ(j["position"], 10);
  ASSERT_EQ(j["matched_rules"].size(), 2u);
  EXPECT_EQ(j["matched_rules"][0]["rule_id"], "ceiling:organization:acme:gpu.count");
  EXPECT_EQ(j["matched_rules"][0]["version"], 1);
  // After it: ops' 20; the organization's rule at version 2.
  auto now = audit(ceiling + " --position 12 --json", false);
  ASSERT_EQ(now.status, 0) << now.out;
  j = Json::parse(now.out);
  EXPECT_EQ(j["quantity"], 20);
  EXPECT_EQ(j["inherited_from"]["id"], "ops");
  EXPECT_EQ(j["matched_rules"][0]["version"], 2);
  // Readable, by instant (00:11:30: after position 11, before the move).
  auto text = audit(ceiling + " --instant 2026-06-01T00:11:30Z");
  EXPECT_EQ(text.status, 0) << text.out;
  EXPECT_EQ(text.out.rfind("gpu.count @ project:p1 = 50 gpu\n", 0), 0u) << text.out;
  EXPECT_NE(text.out.find("inherited from: department:research"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("ceiling ceiling:organization:acme:gpu.count v2"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("reflects:       position 11"), std::string::npos) << text.out;

  const std::string res = "as-of " + pg() + " --reservation res-1";
  auto active = audit(res + " --position 15 --json", false);
  ASSERT_EQ(active.status, 0) << active.out;
  j = Json::parse(active.out);
  EXPECT_EQ(j["state"], "active");
  EXPECT_EQ(j["consumed"], 4);
  EXPECT_EQ(j["quantity"], 10);
  EXPECT_EQ(j["owner"], (Json{{"level", "project"}, {"id", "p1"}}));
  // Past its window: expired, though no Expired event was recorded.
  auto expired = audit(res + " --instant 2026-06-01T07:00:00Z");
  EXPECT_EQ(expired.status, 0) << expired.out;
  EXPECT_EQ(expired.out.rfind("reservation res-1: expired (recorded active; its window has ended)\n", 0), 0u)
      << expired.out;
  EXPECT_NE(expired.out.find("10 gpu, consumed 4, remaining 6"), std::string::npos) << expired.out;

  // Bad input: exit 2 with a clear message.
  auto unknown = audit(res + " --position 12");
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.out.find("reservation 'res-1' did not exist at position 12 (created later, at position 13)"),
            std::string::npos)
      << unknown.out;
  auto no_scope = audit("as-of " + pg() +
                        " --ceiling --scope-level project --scope-id nope --dimension gpu.count "
                        "--position 15");
  EXPECT_EQ(no_scope.status, 2);
  EXPECT_NE(no_scope.out.find("scope project:nope did not exist at position 15"), std::string::npos) << no_scope.out;
  auto beyond = audit(res + " --position 16");
  EXPECT_EQ(beyond.status, 2);
  EXPECT_NE(beyond.out.find("position 16 is beyond the head of the ledger (15)"), std::string::npos) << beyond.out;
  auto ej = Json::parse(audit(res + " --position 16 --json", false).out);
  EXPECT_EQ(ej["error"]["code"], "position_beyond_head");
  const std::string galaxy = "as-of " + pg() + " --ceiling --scope-level galaxy --scope-id x --dimension d";
  EXPECT_EQ(audit(galaxy + " --position 1").status, 2);
  EXPECT_EQ(audit("as-of " + pg() + " --ceiling --scope-level project --scope-id p1 --position 1").status, 2);
  EXPECT_EQ(audit(ceiling + " --window fortnight --position 12").status, 2);
  EXPECT_EQ(audit("as-of " + pg() + " --reservation res-1 --ceiling --position 1").status, 2);
  EXPECT_EQ(audit(res + " --dimension gpu.count --position 15").status, 2);  // a ceiling flag without --ceiling
  EXPECT_EQ(audit("as-of " + pg() + " --position 1").status, 2);             // no question
  EXPECT_EQ(audit(res).status, 2);                                           // no point
}

}  // namespace
}  // namespace ledger

// `ledger-audit` as a process: --help on every subcommand, exit statuses
// (0 ok, 1 a finding, 2 bad input), the messages an auditor reads, --json,
// and verify --file working with no database at all.
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
#include "tests/support/test_env.h"

namespace ledger {
namespace {

using Json = nlohmann::json;

struct Run {
  int status = -1;
  std::string out;  // stdout and stderr together
};

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

Run audit(const std::string& args, bool with_stderr = true) {
  const std::string cmd = quote(std::string(LEDGER_BINARY_DIR) + "/services/ledger-audit") + " " + args +
                          (with_stderr ? " 2>&1" : " 2>/dev/null");
  Run r;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(cmd.c_str(), "r"), [](FILE*) { return 0; });
  std::array<char, 4096> buf{};
  for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), pipe.get())) > 0;) r.out.append(buf.data(), n);
  const int raw = ::pclose(pipe.release());
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
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
    events::PolicyKeyDefined d{"billing.window_seconds", events::ValueType::kInt, events::PolicyValue{std::int64_t{60}},
                               1, 86400, {}, ""};
    ASSERT_TRUE(svc.submit_async({{"def", admin, "", ""}, domain::DefinePolicyKey{d}, {}}).get().has_value());
    for (int i = 1; i < n; ++i) {
      clock.advance_micros(60'000'000);
      commands::CommandRequest r{{"set" + std::to_string(i), admin, "", ""},
                                 domain::SetPolicyValue{d.key, {events::ScopeLevel::kOrganization, "acme"},
                                                        events::PolicyValue{std::int64_t{100 + i}}, {}, "e2e", {}},
                                 {}};
      ASSERT_TRUE(svc.submit_async(r).get().has_value());
    }
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
  auto top = audit("--help");
  EXPECT_EQ(top.status, 0);
  EXPECT_NE(top.out.find("as-of"), std::string::npos);
  EXPECT_EQ(audit("").status, 2);  // a subcommand is required
  EXPECT_EQ(audit("frobnicate").status, 2);
}

TEST_F(AuditCliE2e, VerifyExportAndTamperEvidence) {
  write(30);
  const std::string head = testing::sql_scalar(db_.admin_url, "SELECT hash FROM ledger.events WHERE global_position = 30");
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
  auto changed = audit("digest " + pg() + " --check " + quote(path("digest.json")) + " --key-file " + quote(path("key")));
  EXPECT_EQ(changed.status, 1);
  EXPECT_NE(changed.out.find("position 3: hash mismatch"), std::string::npos) << changed.out;
  auto no_key = audit("digest " + pg() + " --position 8 --key-file " + quote(path("none")));
  EXPECT_EQ(no_key.status, 2);
  EXPECT_NE(no_key.out.find("key file not found"), std::string::npos) << no_key.out;
}

}  // namespace
}  // namespace ledger

// The command service's admission path: commands decided against the whole
// admission model, the model reloaded from the store after a failed commit or
// a new writer epoch, tenant checks, expected versions and the reservation
// sweeper.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "adapters/kafka/access_refusals.h"
#include "adapters/memory/event_store.h"
#include "adapters/system/clock.h"
#include "commands/access/authorization.h"
#include "commands/command_service.h"
#include "commands/decode.h"
#include "domain/access/access_refusal.h"
#include "domain/text.h"

#include <nlohmann/json.hpp>

namespace ledger::commands {
namespace {

using adapters::memory::InMemoryEventStore;
using adapters::system::ManualClock;
using domain::QuotaLevel;
using domain::QuotaScope;
using events::Instant;

constexpr Instant kT0{1'780'272'000'000'000};  // 2026-06-01T00:00:00Z
constexpr std::int64_t kHour = 3'600'000'000LL;

Principal operator_() { return Principal{events::Actor{"user", "ops", {"platform_admin"}}, "platform"}; }
Principal acme_admin() { return Principal{events::Actor{"user", "ann", {"tenant_admin"}}, "acme"}; }

class AdmissionServiceTest : public ::testing::Test {
 protected:
  explicit AdmissionServiceTest(std::chrono::milliseconds sweep = std::chrono::milliseconds(0))
      : svc_(memory_, clock_,
             CommandService::Options{.max_batch = 64,
                                     .heartbeat = std::chrono::milliseconds(20),
                                     .sweep_interval = sweep,
                                     .on_sweep = [this](std::size_t expired) { swept(expired); }}) {
    svc_.start();
  }

  // The sweeper's reports (Options::on_sweep), so a test waits for a sweep
  // instead of sleeping.
  struct Sweep {
    int count = 0;
    std::size_t expired = 0;  // of the last one
  };
  Sweep sweeps() {
    std::lock_guard lock(sweep_mu_);
    return sweeps_;
  }
  // Waits until more than `after` sweeps ran; false after 10 s.
  bool wait_for_sweep(int after) {
    std::unique_lock lock(sweep_mu_);
    return sweep_cv_.wait_for(lock, std::chrono::seconds(10), [&] { return sweeps_.count > after; });
  }

  domain::Result<Accepted> submit(Command c, Principal who = operator_(),
                                  std::optional<events::StreamVersion> expected = {}) {
    CommandRequest r;
    r.meta.command_id = "cmd-" + std::to_string(++n_);
    r.meta.principal = std::move(who);
    r.meta.correlation_id = r.meta.command_id;
    r.command = std::move(c);
    r.expected_version = expected;
    return svc_.submit_async(std::move(r)).get();
  }
  void accept(Command c, Principal who = operator_()) {
    auto a = submit(std::move(c), std::move(who));
    ASSERT_TRUE(a.has_value()) << a.error().code << ": " << a.error().message;
  }
  void setup() {
    accept(domain::RegisterEntry{"product", "gpuaas", "", {}});
    accept(domain::RegisterEntry{"usage_unit", "gpu", "", {}});
    accept(domain::RegisterEntry{"quota_dimension", "gpu.count", "", {{"product", "gpuaas"}, {"unit", "gpu"}}});
    accept(domain::CreateOrganization{"acme", "Acme", "pro", ""});
    accept(domain::CreateProject{"llm", "acme", "", "LLM"});
  }
  std::vector<events::RecordedEvent> of_type(const std::string& type) const {
    std::vector<events::RecordedEvent> out;
    for (const auto& r : memory_.all()) {
      if (r.event_type == type) out.push_back(r);
    }
    return out;
  }

  void swept(std::size_t expired) {
    {
      std::lock_guard lock(sweep_mu_);
      ++sweeps_.count;
      sweeps_.expired = expired;
    }
    sweep_cv_.notify_all();
  }

  int n_ = 0;
  std::mutex sweep_mu_;
  std::condition_variable sweep_cv_;
  Sweep sweeps_;
  ManualClock clock_{kT0};
  InMemoryEventStore memory_{clock_};
  CommandService svc_;
};

TEST_F(AdmissionServiceTest, EventsBelongToTheOrganizationAndStreamsPerEntity) {
  setup();
  accept(domain::SetCeiling{{QuotaLevel::kProject, "llm"}, {"gpu.count", "", "", ""}, 8, "gpu", "start"});
  const auto set = of_type("CeilingSet");
  ASSERT_EQ(set.size(), 1u);
  EXPECT_EQ(set[0].meta.tenant, "acme");
  EXPECT_EQ(set[0].meta.stream_id, "ceilings:project:llm");
  EXPECT_EQ(set[0].meta.actor.id, "ops");
  EXPECT_EQ(of_type("RegistryEntryRegistered")[0].meta.tenant, "platform");
}

TEST_F(AdmissionServiceTest, ATenantMayOnlyChangeItsOwnOrganization) {
  setup();
  accept(domain::CreateOrganization{"globex", "Globex", "free", ""});
  auto other = submit(domain::CreateProject{"spy", "globex", "", ""}, acme_admin());
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, "forbidden");
  EXPECT_EQ(other.error().kind, domain::ErrorKind::kPermissionDenied);
  auto global =
      submit(domain::SetCeiling{{QuotaLevel::kGlobal, ""}, {"gpu.count", "", "", ""}, 1, "", "x"}, acme_admin());
  ASSERT_FALSE(global);
  EXPECT_EQ(global.error().code, "forbidden");
  accept(domain::CreateProject{"own", "acme", "", ""}, acme_admin());
  EXPECT_EQ(of_type("ProjectCreated").size(), 2u);
}

TEST_F(AdmissionServiceTest, ACrossTenantAttemptIsRecordedAsAccessRefused) {
  setup();
  accept(domain::CreateOrganization{"globex", "Globex", "free", ""});
  auto other = submit(domain::CreateProject{"spy", "globex", "", ""}, acme_admin());
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, "forbidden");
  const auto refused = of_type("AccessRefused");
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].meta.stream_id, "access-refusals:globex");
  EXPECT_EQ(refused[0].meta.tenant, "globex");
  EXPECT_EQ(refused[0].meta.actor, acme_admin().actor);
  EXPECT_EQ(refused[0].meta.causation_id, "cmd-" + std::to_string(n_));
  const auto payload = nlohmann::json::parse(refused[0].payload);
  EXPECT_EQ(payload["principal_tenant"], "acme");
  EXPECT_EQ(payload["target_tenant"], "globex");
  EXPECT_EQ(payload["route_family"], "hierarchy.write");
  EXPECT_EQ(payload["target"], "project.create");
  EXPECT_EQ(payload["reason"], "tenant_mismatch");
  EXPECT_TRUE(of_type("ProjectCreated").size() == 1u) << "the refused command wrote nothing of its own";
}

// A principal may carry more than a refusal holds (a token up to 64 roles,
// ids of 256 characters of several bytes): its refused attempt is recorded
// cut to the refusal's bounds (32 roles, 256 characters each, between
// characters), not dropped.
TEST_F(AdmissionServiceTest, ARefusalIsRecordedCutWhenThePrincipalCarriesMoreThanItHolds) {
  setup();
  accept(domain::CreateOrganization{"globex", "Globex", "free", ""});
  std::string long_id;
  for (int i = 0; i < 300; ++i) long_id += "\u00e9";
  std::vector<std::string> roles;
  for (int i = 0; i < 40; ++i) roles.push_back("role-" + std::to_string(100 + i) + "-" + long_id);
  const Principal many{events::Actor{"user", long_id, roles}, "acme"};
  auto other = submit(domain::CreateProject{"spy", "globex", "", ""}, many);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, "forbidden");
  const auto refused = of_type("AccessRefused");
  ASSERT_EQ(refused.size(), 1u);
  const auto payload = nlohmann::json::parse(refused[0].payload);
  EXPECT_EQ(payload["actor_id"], long_id.substr(0, 2 * 256));
  ASSERT_EQ(payload["actor_roles"].size(), 32u);
  EXPECT_EQ(payload["actor_roles"][0], roles[0].substr(0, 9 + 2 * 247));
  EXPECT_EQ(payload["target_tenant"], "globex");
}

// The edges' refusals (adapters/kafka/access_refusals.h) are cut the same
// way: a request naming a long tenant or target is recorded, and its text
// stays valid UTF-8.
TEST(AccessRefusalAtTheEdge, LongRequestFieldsAreCutBetweenCharacters) {
  std::string long_text = "x";
  for (int i = 0; i < 300; ++i) long_text += "\u4e2d";
  const Principal who{events::Actor{"user", "ann", {"reader"}}, "acme"};
  const auto r = adapters::kafka::refusal_of(who, "org-" + long_text, RouteFamily::kViewRead, "GET",
                                             "/v1/views/" + long_text, "tenant_mismatch");
  EXPECT_EQ(domain::code_points(r.target_tenant), 256u);
  EXPECT_EQ(domain::code_points(r.target), 256u);
  EXPECT_TRUE(valid_utf8(r.target));
  EXPECT_TRUE(valid_utf8(r.target_tenant));
  EXPECT_TRUE(domain::decide(domain::RecordAccessRefusal{r}).has_value());
  EXPECT_EQ(domain::first_code_points("a\u00e9b", 2), "a\u00e9");
  EXPECT_EQ(domain::first_code_points("a\u00e9b", 1), "a");
  EXPECT_EQ(domain::first_code_points("ab", 5), "ab");
}

TEST_F(AdmissionServiceTest, RulesAreNotEvaluatedForAnotherOrganization) {
  setup();
  accept(domain::CreateOrganization{"globex", "Globex", "free", ""});
  accept(domain::CreateProject{"g1", "globex", "", ""});
  // A rule would say 404 unknown_registry_entry; the tenant check answers first.
  auto probe = submit(domain::SetCeiling{{QuotaLevel::kProject, "g1"}, {"no.such.dimension", "", "", ""}, 1, "", "x"},
                      acme_admin());
  ASSERT_FALSE(probe);
  EXPECT_EQ(probe.error().code, "forbidden");
  // Policy values at another organization's scope or project: refused too.
  auto value = submit(
      domain::SetPolicyValue{
          "k", {events::ScopeLevel::kProject, "g1"}, events::PolicyValue{true}, std::nullopt, "x", std::nullopt},
      acme_admin());
  ASSERT_FALSE(value);
  EXPECT_EQ(value.error().code, "forbidden");
  EXPECT_EQ(of_type("AccessRefused").size(), 2u);
}

TEST_F(AdmissionServiceTest, AnotherOrganizationsReservationIdAnswersLikeAnUnknownOne) {
  setup();
  accept(domain::CreateOrganization{"globex", "Globex", "free", ""});
  accept(domain::CreateProject{"g1", "globex", "", ""});
  domain::DraftReservation d;
  d.reservation_id = "res-g";
  d.owner = {QuotaLevel::kProject, "g1"};
  d.kind = "gpu_nodes";
  d.dimension = "gpu.count";
  d.quantity = 1;
  d.window_start = kT0;
  d.window_end = Instant{kT0.micros + kHour};
  accept(d);
  // Ids are unique per organization: acme's "res-g" is simply unknown...
  auto own = submit(domain::ConsumeReservation{"res-g", 1, ""}, acme_admin());
  ASSERT_FALSE(own);
  EXPECT_EQ(own.error().code, "unknown_reservation");
  // ... and naming globex's answers exactly like an unknown id.
  auto foreign = submit(domain::ConsumeReservation{"res-g", 1, "", "globex"}, acme_admin());
  auto unknown = submit(domain::ConsumeReservation{"res-none", 1, ""}, acme_admin());
  ASSERT_FALSE(foreign);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(foreign.error().kind, unknown.error().kind);
  EXPECT_EQ(foreign.error().code, "unknown_reservation");
  EXPECT_EQ(foreign.error().message, unknown.error().message);
  ASSERT_EQ(foreign.error().evidence.size(), unknown.error().evidence.size());
  EXPECT_EQ(foreign.error().evidence[0].first, "reservation_id");
  // ... but only the foreign one is an attempt on record.
  const auto refused = of_type("AccessRefused");
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].meta.tenant, "globex");
}

TEST_F(AdmissionServiceTest, RetryingARefusedCommandIdRecordsOneAttempt) {
  setup();
  accept(domain::CreateOrganization{"globex", "Globex", "free", ""});
  for (int i = 0; i < 2; ++i) {
    CommandRequest r;
    r.meta.command_id = "same-id";
    r.meta.principal = acme_admin();
    r.command = domain::CreateProject{"spy", "globex", "", ""};
    auto out = svc_.submit_async(std::move(r)).get();
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().code, "forbidden");
  }
  EXPECT_EQ(of_type("AccessRefused").size(), 1u);
}

TEST_F(AdmissionServiceTest, ARecordedRefusalNamesTheRefusedPrincipalAsActor) {
  events::AccessRefused r{"user",       "mallory", {"reader"},  "acme",           "globex",
                          "audit.read", "GET",     "/v1/audit", "tenant_mismatch"};
  const Principal recorder{events::Actor{"service_account", "ledger-query", {"refusal_recorder"}},
                           std::string(kRefusalRecorderTenant)};
  accept(domain::RecordAccessRefusal{r}, recorder);
  const auto refused = of_type("AccessRefused");
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].meta.actor, (events::Actor{"user", "mallory", {"reader"}}));
  EXPECT_EQ(refused[0].meta.tenant, "globex");
  // An organization's own service may not file refusals under another organization.
  auto forged = submit(domain::RecordAccessRefusal{r},
                       Principal{events::Actor{"service_account", "acme-billing", {"service"}}, "acme"});
  ASSERT_FALSE(forged);
  EXPECT_EQ(forged.error().code, "forbidden");
  // Nor may a platform principal other than the recorder (issue 10, item 9).
  auto platform = submit(domain::RecordAccessRefusal{r},
                         Principal{events::Actor{"service_account", "ops-bot", {"service"}}, "platform"});
  ASSERT_FALSE(platform);
  EXPECT_EQ(platform.error().code, "forbidden");
  r.reason = "because";
  auto bad = submit(domain::RecordAccessRefusal{r}, recorder);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "invalid_field");
}

TEST_F(AdmissionServiceTest, ExpectedVersionIsCheckedOnTheCommandsStream) {
  setup();
  auto stale = submit(domain::MoveProject{"llm", "acme.default"}, operator_(), events::StreamVersion{5});
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, "stream_version_conflict");
  accept(domain::CreateDepartment{"research", "acme", "", ""});
  auto ok = submit(domain::MoveProject{"llm", "research"}, operator_(), events::StreamVersion{1});
  ASSERT_TRUE(ok) << ok.error().code;
  EXPECT_EQ(ok->stream_version, events::StreamVersion{2});
}

TEST_F(AdmissionServiceTest, AFailedCommitDropsTheTentativeModel) {
  setup();
  memory_.fail_next(domain::Error{domain::ErrorKind::kUnavailable, "database_unavailable", "down", {}});
  auto failed = submit(domain::CreateDepartment{"research", "acme", "", ""});
  ASSERT_FALSE(failed);
  // Had the model kept the department, this move would be accepted.
  auto move = submit(domain::MoveProject{"llm", "research"});
  ASSERT_FALSE(move);
  EXPECT_EQ(move.error().code, "unknown_scope");
  accept(domain::CreateDepartment{"research", "acme", "", ""});
  accept(domain::MoveProject{"llm", "research"});
}

class SweeperTest : public AdmissionServiceTest {
 protected:
  SweeperTest() : AdmissionServiceTest(std::chrono::milliseconds(30)) {}
};

TEST_F(SweeperTest, RecordsExpiredOnceTheWindowHasPassed) {
  setup();
  accept(domain::DraftReservation{"r1",
                                  {QuotaLevel::kProject, "llm"},
                                  "gpu_nodes",
                                  "gpu.count",
                                  "",
                                  "",
                                  2,
                                  "",
                                  kT0,
                                  Instant{kT0.micros + kHour},
                                  {},
                                  "run"});
  accept(domain::TransitionReservation{"r1", "activate", "", "acme"});
  // The sweeper runs on the service's clock: with it standing still, after
  // the first sweep no interval passes and nothing sweeps again.
  ASSERT_TRUE(wait_for_sweep(0));
  const int first = sweeps().count;
  // An interval inside the window: a sweep that finds nothing.
  clock_.advance_micros(40'000);
  ASSERT_TRUE(wait_for_sweep(first));
  EXPECT_EQ(sweeps().expired, 0u);
  EXPECT_EQ(of_type("ReservationStateChanged").size(), 1u) << "nothing to sweep inside the window";
  // Past the window: the next sweep records the expiry.
  clock_.advance_micros(2 * kHour);
  const int before = sweeps().count;
  ASSERT_TRUE(wait_for_sweep(before));
  EXPECT_EQ(sweeps().expired, 1u);
  const auto changes = of_type("ReservationStateChanged");
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_NE(changes[1].payload.find("\"state\":\"expired\""), std::string::npos) << changes[1].payload;
  EXPECT_EQ(changes[1].meta.actor.id, "reservation-sweeper");
  EXPECT_EQ(changes[1].meta.command_id, "reservation-sweeper:acme/r1:expired");
  // Another interval: the expired reservation is not swept again.
  clock_.advance_micros(40'000);
  const int again = sweeps().count;
  ASSERT_TRUE(wait_for_sweep(again));
  EXPECT_EQ(sweeps().expired, 0u);
  EXPECT_EQ(of_type("ReservationStateChanged").size(), 2u) << "swept once";
}

TEST_F(SweeperTest, NoIntervalOfTheClockNoSweep) {
  ASSERT_TRUE(wait_for_sweep(0));
  const int first = sweeps().count;
  // Less than an interval of the service's clock: however many heartbeats
  // pass (20 ms each, on the real clock), no second sweep.
  clock_.advance_micros(29'000);
  std::unique_lock lock(sweep_mu_);
  EXPECT_FALSE(sweep_cv_.wait_for(lock, std::chrono::milliseconds(300), [&] { return sweeps_.count > first; }));
}

TEST_F(SweeperTest, AClockThatWentBackSweepsAtOnce) {
  ASSERT_TRUE(wait_for_sweep(0));
  const int first = sweeps().count;
  clock_.set(Instant{kT0.micros - kHour});
  EXPECT_TRUE(wait_for_sweep(first)) << "a clock that went back must not stop the sweeper until it catches up";
}

}  // namespace
}  // namespace ledger::commands

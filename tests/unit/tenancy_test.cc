// Tenancy of idempotency keys and policy keys (issue 10, items 5 and 6), as
// pure rules and through the command service over the in-memory store:
//   - an outcome is returned only to the same tenant + actor + request body;
//     a reuse of the key with another body is idempotency_key_reused;
//   - the ledger's internal keys are out of every caller's reach;
//   - a key's write audience: platform keys take no value from an
//     organization's principal (403, audited);
//   - a value written for a tenant never answers for a chain outside it.
#include <gtest/gtest.h>

#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <algorithm>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "adapters/http/routes/http_json.h"
#include "adapters/memory/event_store.h"
#include "adapters/system/clock.h"
#include "commands/command_service.h"
#include "commands/decode.h"
#include "commands/idempotency.h"
#include "domain/policy_key.h"
#include "domain/policy_resolution.h"
#include "events/codec/json_codec.h"

namespace ledger::commands {
namespace {

using adapters::memory::InMemoryEventStore;
using adapters::system::ManualClock;
using Json = nlohmann::json;

constexpr events::Instant kT0{1'780'272'000'000'000};  // 2026-06-01T00:00:00Z

Principal principal(std::string tenant, std::string type, std::string id, std::string role = "tenant_admin") {
  return Principal{events::Actor{std::move(type), std::move(id), {std::move(role)}}, std::move(tenant)};
}
Principal platform_admin() { return principal("platform", "user", "platform-admin", "platform_admin"); }

// A request as the edges build it: decoded from JSON, with its hash.
CommandRequest decoded(const std::string& type, Json body, const Principal& who, const std::string& command_id) {
  auto d = decode_command(type, body);
  EXPECT_TRUE(d.has_value()) << (d ? "" : d.error().code + ": " + d.error().message);
  CommandRequest r;
  r.command = d ? d->command : Command{};
  r.expected_version = d ? d->expected_version : std::nullopt;
  r.meta.command_id = command_id;
  r.meta.principal = who;
  r.meta.correlation_id = "corr-" + command_id;
  r.meta.request_hash = d ? d->request_hash : "";
  return r;
}

Json define_key(const std::string& key) {
  return {{"key", key}, {"value_type", "int"}, {"default", 60}, {"min", 1}, {"max", 1000000}};
}
Json set_at_org(const std::string& key, const std::string& org, std::int64_t value) {
  return {{"key", key}, {"scope", {{"org_id", org}}}, {"value", value}, {"reason", "tenancy test"}};
}

// ---------------------------------------------------------------- request hash

TEST(RequestHash, IsTheCanonicalRequestWithoutIdsTypeOrNulls) {
  const Json a = Json::parse(R"({"key":"k.v","value":1,"reason":"r","scope":{"org_id":"o"}})");
  const Json b = Json::parse(
      R"({"scope":{"org_id":"o"},"reason":"r","command_id":"x","type":"policy_value.set","value":1,"key":"k.v","old_value":null})");
  EXPECT_EQ(request_hash("policy_value.set", a), request_hash("policy_value.set", b));
  EXPECT_EQ(request_hash("policy_value.set", a).size(), 64u);
  Json c = a;
  c["value"] = 2;
  EXPECT_NE(request_hash("policy_value.set", a), request_hash("policy_value.set", c));
  EXPECT_NE(request_hash("policy_value.set", a), request_hash("policy_key.define", a));
}

TEST(RequestHash, DecodingComputesIt) {
  auto d = decode_command("policy_value.set", set_at_org("k.v", "o", 1));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->request_hash, request_hash("policy_value.set", set_at_org("k.v", "o", 1)));
}

TEST(Replay, FirstDuplicateOrReused) {
  EXPECT_EQ(replay_of(std::nullopt, "h1"), Replay::kFirst);
  EXPECT_EQ(replay_of(std::string("h1"), "h1"), Replay::kDuplicate);
  EXPECT_EQ(replay_of(std::string("h1"), "h2"), Replay::kReused);
  EXPECT_EQ(replay_of(std::string(), "h2"), Replay::kDuplicate);  // a record from before hashing
  EXPECT_EQ(key_reused("c").code, "idempotency_key_reused");
  EXPECT_EQ(::ledger::routes::http_status(key_reused("c").kind), 409);
}

// ---------------------------------------------------------------- keys

TEST(IdempotencyKey, IsTheCallersTenantActorAndCommandId) {
  CommandMeta m;
  m.command_id = "c-1";
  m.principal = principal("org-acme", "user", "admin");
  EXPECT_EQ(idempotency_key(m), (IdempotencyKey{"org-acme", "user", "admin", "c-1"}));
  m.principal.tenant.clear();  // an empty token tenant acts as the platform, as everywhere
  EXPECT_EQ(idempotency_key(m).tenant, "platform");
}

// No caller, whatever its token says and whatever id it sends, has a key in
// the ledger's internal namespace (the sweeper's, the refusal records').
RC_GTEST_PROP(IdempotencyKey, NoCallerReachesAnInternalKey,
              (std::string tenant, std::string actor_type, std::string actor_id, std::string command_id,
               std::string component, std::string internal_id)) {
  CommandMeta m;
  m.command_id = command_id;
  m.principal = principal(tenant, actor_type, actor_id);
  const auto external = idempotency_key(m);
  RC_ASSERT(external != internal_key(component, internal_id));
  RC_ASSERT(external != refusal_record_key(IdempotencyKey{tenant, actor_type, actor_id, internal_id}));
  // ... not even the sweeper's own principal sending the sweeper's id.
  m.principal = Principal{events::Actor{"worker", "reservation-sweeper", {"system"}}, "platform"};
  m.command_id = "reservation-sweeper:" + internal_id + ":expired";
  CommandMeta sweeper = m;
  sweeper.internal = true;
  RC_ASSERT(idempotency_key(m) != idempotency_key(sweeper));
}

RC_GTEST_PROP(IdempotencyKey, RefusalRecordsAreOnePerPrincipalAndCommand,
              (std::string t1, std::string a1, std::string c1, std::string t2, std::string a2, std::string c2)) {
  const IdempotencyKey k1{t1, "user", a1, c1}, k2{t2, "user", a2, c2};
  RC_ASSERT((refusal_record_key(k1) == refusal_record_key(k2)) == (k1 == k2));
}

// ---------------------------------------------------------------- through the command service

class TenancyServiceTest : public ::testing::Test {
 protected:
  TenancyServiceTest() { svc_.start(); }
  domain::Result<Accepted> submit(CommandRequest r) { return svc_.submit_async(std::move(r)).get(); }

  ManualClock clock_{kT0};
  InMemoryEventStore store_{clock_};
  CommandService svc_{store_, clock_, CommandService::Options{.sweep_interval = std::chrono::milliseconds(0)}};
};

TEST_F(TenancyServiceTest, AnotherTenantsCommandIdIsNotItsOutcome) {
  const std::string key = "billing.window_seconds";  // tenant-writable by its name
  ASSERT_TRUE(submit(decoded("policy_key.define", define_key(key), platform_admin(), "define")).has_value());
  const auto acme = principal("org-acme", "user", "acme-admin");
  const auto globex = principal("org-globex", "user", "globex-admin");
  // Globex squats the id acme is about to use.
  auto squat = submit(decoded("policy_value.set", set_at_org(key, "org-globex", 7), globex, "shared-id"));
  ASSERT_TRUE(squat.has_value()) << squat.error().code;
  EXPECT_FALSE(squat->duplicate);
  // Acme's command with that id is its own, applied.
  auto mine = submit(decoded("policy_value.set", set_at_org(key, "org-acme", 9), acme, "shared-id"));
  ASSERT_TRUE(mine.has_value()) << mine.error().code;
  EXPECT_FALSE(mine->duplicate);
  EXPECT_NE(mine->event_ids, squat->event_ids);
  // Each replay answers its own caller only.
  auto again = submit(decoded("policy_value.set", set_at_org(key, "org-acme", 9), acme, "shared-id"));
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->event_ids, mine->event_ids);
  // The same key with another body is refused, and writes nothing.
  const auto before = store_.all().size();
  auto reused = submit(decoded("policy_value.set", set_at_org(key, "org-acme", 10), acme, "shared-id"));
  ASSERT_FALSE(reused.has_value());
  EXPECT_EQ(reused.error().code, "idempotency_key_reused");
  // A position is a JSON integer in the evidence.
  ASSERT_NE(reused.error().find("first_position"), nullptr);
  EXPECT_EQ(*reused.error().find("first_position"), ledger::domain::EvidenceValue{mine->position.value});
  EXPECT_EQ(store_.all().size(), before);
  // The envelope keeps the command id the caller sent.
  EXPECT_EQ(store_.all().back().meta.command_id, "shared-id");
}

TEST_F(TenancyServiceTest, ATenantMayNotSetAPlatformKeyAndTheRefusalIsAudited) {
  ASSERT_TRUE(
      submit(decoded("policy_key.define", define_key("rate_limit.api_requests_per_minute"), platform_admin(), "define"))
          .has_value());
  const auto acme = principal("org-acme", "user", "acme-admin");
  auto r = submit(
      decoded("policy_value.set", set_at_org("rate_limit.api_requests_per_minute", "org-acme", 1000000), acme, "lift"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "policy_key_platform_only");
  EXPECT_EQ(::ledger::routes::http_status(r.error().kind), 403);
  const auto all = store_.all();
  ASSERT_EQ(all.size(), 2u);  // the definition and the refusal, no value
  auto env = codec::decode(all.back());
  ASSERT_TRUE(env.has_value());
  const auto* refused = std::get_if<events::AccessRefused>(&env->event);
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->reason, "platform_only_key");
  EXPECT_EQ(refused->actor_id, "acme-admin");
  EXPECT_EQ(refused->target_tenant, "org-acme");
  EXPECT_EQ(refused->route_family, "policy_value.write");
  EXPECT_EQ(env->meta.tenant, "org-acme");
  // The platform sets it.
  auto ok = submit(decoded("policy_value.set", set_at_org("rate_limit.api_requests_per_minute", "org-acme", 5),
                           platform_admin(), "set"));
  EXPECT_TRUE(ok.has_value()) << ok.error().code;
}

// An outcome is returned only to the same tenant + actor + body: a random
// sequence of commands from principals who share command ids (and actor
// ids across tenants), each answered as the model says.
TEST(TenancyProperty, AnOutcomeIsReturnedOnlyToTheSameTenantActorAndBody) {
  EXPECT_TRUE(rc::check([](std::vector<std::tuple<int, int, int>> ops) {
    ManualClock clock{kT0};
    InMemoryEventStore store{clock};
    CommandService svc{store, clock, CommandService::Options{.sweep_interval = std::chrono::milliseconds(0)}};
    svc.start();
    const std::string key = "billing.window_seconds";
    RC_ASSERT(
        svc.submit_async(decoded("policy_key.define", define_key(key), platform_admin(), "define")).get().has_value());
    const Principal who[] = {principal("org-acme", "user", "admin"), principal("org-globex", "user", "admin"),
                             principal("org-acme", "service_account", "admin")};
    struct First {
      int body;
      std::vector<std::string> event_ids;
      events::GlobalPosition position;
    };
    std::map<std::pair<int, int>, First> model;  // (principal, command id) -> first accepted
    for (auto [p, id, body] : ops) {
      p = std::abs(p % 3);
      id = std::abs(id % 3);
      body = std::abs(body % 2);
      const std::string command_id = "c-" + std::to_string(id);
      auto r =
          svc.submit_async(decoded("policy_value.set", set_at_org(key, who[p].tenant, 10 + body), who[p], command_id))
              .get();
      auto it = model.find({p, id});
      if (it == model.end()) {
        RC_ASSERT(r.has_value());
        RC_ASSERT(!r->duplicate);
        model[{p, id}] = First{body, r->event_ids, r->position};
      } else if (it->second.body == body) {
        RC_ASSERT(r.has_value());
        RC_ASSERT(r->duplicate);
        RC_ASSERT(r->event_ids == it->second.event_ids);
        RC_ASSERT(r->position == it->second.position);
      } else {
        RC_ASSERT(!r.has_value());
        RC_ASSERT(r.error().code == std::string("idempotency_key_reused"));
      }
    }
  }));
}

// ---------------------------------------------------------------- write audience

TEST(WriteAudience, TheKeyNameImpliesItAndTheCatalogMayNameIt) {
  using events::WriteAudience;
  EXPECT_EQ(codec::implied_write_audience("rate_limit.api_requests_per_minute"), WriteAudience::kPlatform);
  EXPECT_EQ(codec::implied_write_audience("auth.service_account_token_ttl_seconds"), WriteAudience::kPlatform);
  EXPECT_EQ(codec::implied_write_audience("quota.warn_threshold_percent"), WriteAudience::kPlatform);
  EXPECT_EQ(codec::implied_write_audience("allocation.refund_window_days"), WriteAudience::kTenant);
  EXPECT_EQ(codec::implied_write_audience("rate_limitx.y"), WriteAudience::kTenant);

  auto def = [](Json body) -> domain::Result<events::PolicyKeyDefined> {
    auto d = decode_command("policy_key.define", body);
    if (!d) return std::unexpected(d.error());
    return std::get<domain::DefinePolicyKey>(d->command).definition;
  };
  EXPECT_EQ(def(define_key("rate_limit.x"))->write_audience, WriteAudience::kPlatform);
  EXPECT_EQ(def(define_key("billing.x"))->write_audience, WriteAudience::kTenant);
  Json named = define_key("billing.x");
  named["write_audience"] = "platform";
  EXPECT_EQ(def(named)->write_audience, WriteAudience::kPlatform);
  named["write_audience"] = "everyone";
  ASSERT_FALSE(def(named).has_value());
  EXPECT_EQ(def(named).error().code, "invalid_field");
}

TEST(WriteAudience, V1DefinitionsUpcastToTheAudienceTheirNameImplies) {
  events::PolicyKeyDefined d;
  d.key = "rate_limit.api_requests_per_minute";
  d.value_type = events::ValueType::kInt;
  d.default_value = events::PolicyValue{std::int64_t{120}};
  d.min = 1;
  d.max = 1000000;
  Json v1 = codec::encode_payload(d);
  v1.erase("write_audience");
  auto up = codec::decode_payload("PolicyKeyDefined", 1, v1);
  ASSERT_TRUE(up.has_value()) << up.error();
  EXPECT_EQ(std::get<events::PolicyKeyDefined>(*up).write_audience, events::WriteAudience::kPlatform);
  v1["key"] = "allocation.refund_window_days";
  up = codec::decode_payload("PolicyKeyDefined", 1, v1);
  ASSERT_TRUE(up.has_value());
  EXPECT_EQ(std::get<events::PolicyKeyDefined>(*up).write_audience, events::WriteAudience::kTenant);
  // v2 must name it.
  EXPECT_FALSE(codec::decode_payload("PolicyKeyDefined", 2, v1).has_value());
}

TEST(WriteAudience, PlatformKeysTakeValuesFromPlatformPrincipalsOnly) {
  events::PolicyKeyDefined d;
  d.key = "rate_limit.x";
  d.write_audience = events::WriteAudience::kPlatform;
  EXPECT_TRUE(domain::check_write_audience(d, /*tenant_writer=*/false).has_value());
  ASSERT_FALSE(domain::check_write_audience(d, true).has_value());
  EXPECT_EQ(domain::check_write_audience(d, true).error().code, "policy_key_platform_only");
  d.write_audience = events::WriteAudience::kTenant;
  EXPECT_TRUE(domain::check_write_audience(d, true).has_value());
}

// ---------------------------------------------------------------- resolution

// A value written for tenant T answers only chains of organization T: never a
// platform principal's (no organization) nor another organization's.
RC_GTEST_PROP(PolicyResolution, ATenantsValueNeverAnswersOutsideThatTenant,
              (int writer_pick, int reader_pick, bool at_user)) {
  const std::string tenants[] = {"org-acme", "org-globex", "platform"};
  const std::string writer = tenants[std::abs(writer_pick % 3)];
  const std::string reader_org = std::abs(reader_pick % 3) == 2 ? "" : tenants[std::abs(reader_pick % 3)];
  events::PolicyKeyDefined key;
  key.key = "allocation.refund_window_days";
  key.default_value = events::PolicyValue{std::int64_t{30}};
  domain::ScopeChain chain{"victim", "", reader_org, ""};
  domain::ValueCandidate c;
  c.scope = at_user ? events::PolicyScope{events::ScopeLevel::kUser, "victim"}
                    : events::PolicyScope{events::ScopeLevel::kOrganization, reader_org};
  c.value = events::PolicyValue{std::int64_t{365}};
  c.effective_at = kT0;
  c.position = 7;
  c.tenant = writer;
  const auto res = domain::resolve(key, chain, std::span(&c, 1), kT0);
  const bool applies = writer == "platform" || (!reader_org.empty() && writer == reader_org);
  if (c.scope.level == events::ScopeLevel::kOrganization && reader_org.empty()) {
    RC_ASSERT(res.is_default);  // no organization in the chain: nothing at that level
  } else {
    RC_ASSERT(res.is_default == !applies);
  }
  // Rows from before the column existed keep answering everyone.
  c.tenant = std::nullopt;
  if (at_user) RC_ASSERT(!domain::resolve(key, chain, std::span(&c, 1), kT0).is_default);
}

}  // namespace
}  // namespace ledger::commands

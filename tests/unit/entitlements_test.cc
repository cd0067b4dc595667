// Plan entitlements (domain/entitlements/entitlements.h): given events ->
// when command -> then events or a stable error code; the check's default
// deny and reasons; and a property: the active version per (policy,
// environment) after any random sequence of activations equals a brute
// force over the recorded history.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "domain/entitlements/entitlements.h"
#include "events/codec/json_codec.h"
#include "projections/entitlements/entitlements_view.h"

namespace ledger {
namespace {

using namespace domain::entitlements;

const Context kCtx{"platform-admin", events::Instant{1'780'000'000'000'000}};

// A model that applies what it decides (as the writer does), with positions.
struct Ledger {
  EntitlementsModel model;
  std::int64_t position = 0;
  std::vector<events::Envelope> history;

  domain::Result<Decided> run(const Command& c, const std::string& actor = "platform-admin") {
    auto d = decide(model, c, Context{actor, events::Instant{1'780'000'000'000'000 + position}});
    if (!d) return d;
    for (const auto& e : d->events) {
      events::EventMeta meta;
      meta.stream_id = d->stream_id;
      meta.global_position = events::GlobalPosition{++position};
      meta.recorded_at = events::Instant{1'780'000'000'000'000 + position};
      model.apply(meta, e);
      history.push_back({meta, e});
    }
    return d;
  }
  void must(const Command& c) {
    auto d = run(c);
    ASSERT_TRUE(d.has_value()) << d.error().code << ": " << d.error().message;
  }
  std::string code(const Command& c) {
    auto d = run(c);
    return d ? std::string("accepted") : d.error().code;
  }
};

Rules allow(std::vector<std::string> plans, std::vector<std::string> deny = {}) {
  return Rules{"plan-allowlist", std::move(plans), std::move(deny)};
}

void seed(Ledger& l) {
  for (const char* p : {"free", "pro", "enterprise"}) l.must(DefinePlan{"default", p, p, ""});
  l.must(DefineCapability{"default", "export-data", "Export", ""});
  l.must(CreatePolicy{"default", "cap-export-data", "Export Data Policy", "", allow({"pro", "enterprise"}), "", ""});
}

TEST(Entitlements, CapabilityNamesAreKebabCaseOfThreeToFifty) {
  EXPECT_TRUE(check_capability_name("export-data"));
  EXPECT_TRUE(check_capability_name("a1b"));
  EXPECT_TRUE(check_capability_name(std::string(50, 'a')));
  for (const std::string& bad :
       std::vector<std::string>{"ab", "-abc", "abc-", "Export", "export_data", "exp data", std::string(51, 'a'), ""}) {
    auto r = check_capability_name(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, "invalid_capability_name") << bad;
  }
}

TEST(Entitlements, CapabilityNamesAreUniquePerTenantAndRetireNeedsDeprecation) {
  Ledger l;
  l.must(DefineCapability{"default", "export-data", "", ""});
  EXPECT_EQ(l.code(DefineCapability{"default", "export-data", "again", ""}), "capability_exists");
  EXPECT_EQ(l.code(DefineCapability{"analytics", "export-data", "", ""}), "accepted");  // another product space
  EXPECT_EQ(l.code(RetireCapability{"default", "cap-export-data", ""}), "retire_requires_deprecation");
  EXPECT_EQ(l.code(DeprecateCapability{"default", "cap-export-data", "old"}), "accepted");
  EXPECT_EQ(l.code(DeprecateCapability{"default", "cap-export-data", "old"}), "capability_not_active");
  EXPECT_EQ(l.code(RetireCapability{"default", "cap-export-data", "gone"}), "accepted");
  EXPECT_EQ(l.code(RetireCapability{"default", "cap-export-data", "gone"}), "capability_retired");
  EXPECT_EQ(l.code(DeprecateCapability{"default", "cap-nope", ""}), "unknown_capability");
}

TEST(Entitlements, VersionsAreSequentialGapFreeAndImmutable) {
  Ledger l;
  seed(l);
  l.must(CreateVersion{"default", "pol-export-data", allow({"enterprise"}), "narrow"});
  EXPECT_EQ(l.code(CreateVersion{"default", "pol-export-data", allow({"gold"}), "bad plan"}), "unknown_plan");
  EXPECT_EQ(l.code(CreateVersion{"default", "pol-export-data", allow({"pro"}), ""}), "missing_field");  // changelog
  EXPECT_EQ(l.code(CreateVersion{"default", "pol-nope", allow({"pro"}), "x"}), "unknown_policy");
  l.must(CreateVersion{"default", "pol-export-data", allow({"free", "pro"}), "wide"});
  const Policy* p = l.model.policy("default", "pol-export-data");
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->versions.size(), 3u);
  for (std::size_t i = 0; i < p->versions.size(); ++i) {
    EXPECT_EQ(p->versions[i].version, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(p->versions[i].id, "pol-export-data-v" + std::to_string(i + 1));
    EXPECT_EQ(p->versions[i].created_by, "platform-admin");
    EXPECT_EQ(p->status_of(p->versions[i]), "draft");
  }
  EXPECT_EQ(p->versions[0].rules, allow({"pro", "enterprise"}));  // untouched by later versions
  // One policy per capability.
  EXPECT_EQ(l.code(CreatePolicy{"default", "cap-export-data", "again", "", allow({"pro"}), "", ""}), "policy_exists");
}

TEST(Entitlements, StatusTransitionsDraftActiveSupersededArchived) {
  Ledger l;
  seed(l);
  l.must(CreateVersion{"default", "pol-export-data", allow({"enterprise"}), "v2"});
  const auto status = [&](int v) {
    const Policy* p = l.model.policy("default", "pol-export-data");
    return p->status_of(p->versions[static_cast<std::size_t>(v - 1)]);
  };
  EXPECT_EQ(l.code(ActivateVersion{"default", "pol-export-data", "pol-export-data-v1", "production", ""}),
            "missing_field");  // a changelog is required
  EXPECT_EQ(l.code(ActivateVersion{"default", "pol-export-data", "pol-export-data-v1", "prod", "x"}),
            "invalid_environment");
  l.must(ActivateVersion{"default", "pol-export-data", "pol-export-data-v1", "production", "go"});
  EXPECT_EQ(status(1), "active");
  EXPECT_EQ(status(2), "draft");
  EXPECT_EQ(l.code(ArchiveVersion{"default", "pol-export-data", "pol-export-data-v1", ""}), "version_active");
  l.must(ActivateVersion{"default", "pol-export-data", "pol-export-data-v2", "production", "narrow"});
  EXPECT_EQ(status(1), "superseded");
  EXPECT_EQ(status(2), "active");
  // The activation event names what it superseded: atomic, one event.
  const auto& last = std::get<events::PolicyVersionActivated>(l.history.back().event);
  EXPECT_EQ(last.superseded_version_id, "pol-export-data-v1");
  EXPECT_EQ(last.activated_by, "platform-admin");
  l.must(ArchiveVersion{"default", "pol-export-data", "pol-export-data-v1", "obsolete"});
  EXPECT_EQ(status(1), "archived");
  EXPECT_EQ(l.code(ActivateVersion{"default", "pol-export-data", "pol-export-data-v1", "dev", "x"}),
            "version_archived");
  // Re-activating the active version changes nothing.
  auto again = l.run(ActivateVersion{"default", "pol-export-data", "pol-export-data-v2", "production", "again"});
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->events.empty());
}

TEST(Entitlements, ProgressionDevStagingProductionWhenTheSpaceRequiresIt) {
  Ledger l;
  seed(l);
  const std::string v1 = "pol-export-data-v1";
  l.must(ConfigureSpace{"default", true});
  EXPECT_EQ(l.code(ActivateVersion{"default", "pol-export-data", v1, "production", "skip"}), "progression_required");
  EXPECT_EQ(l.code(ActivateVersion{"default", "pol-export-data", v1, "staging", "skip"}), "progression_required");
  l.must(ActivateVersion{"default", "pol-export-data", v1, "dev", "1"});
  l.must(ActivateVersion{"default", "pol-export-data", v1, "staging", "2"});
  l.must(ActivateVersion{"default", "pol-export-data", v1, "production", "3"});
  // Off again: any order.
  l.must(ConfigureSpace{"default", false});
  l.must(CreateVersion{"default", "pol-export-data", allow({"pro"}), "v2"});
  EXPECT_EQ(l.code(ActivateVersion{"default", "pol-export-data", "pol-export-data-v2", "production", "hotfix"}),
            "accepted");
  // Setting what is already set changes nothing.
  auto same = l.run(ConfigureSpace{"default", false});
  ASSERT_TRUE(same.has_value());
  EXPECT_TRUE(same->events.empty());
}

TEST(Entitlements, CheckIsDefaultDenyWithAReasonForEveryAnswer) {
  Ledger l;
  seed(l);
  l.must(DefinePlan{"default", "pro-trial", "", ""});
  auto check = [&](const std::string& env, const std::string& plan, const std::string& cap = "export-data") {
    return l.model.check({"default", env, plan, cap});
  };
  EXPECT_EQ(check("production", "pro").reason, "no_active_policy");
  EXPECT_FALSE(check("production", "pro").allowed);
  EXPECT_EQ(check("production", "pro", "bulk-export").reason, "unknown_capability");
  l.must(CreateVersion{"default", "pol-export-data", allow({"pro", "pro-trial"}, {"pro-trial"}), "trial denied"});
  l.must(ActivateVersion{"default", "pol-export-data", "pol-export-data-v2", "production", "go"});
  EXPECT_TRUE(check("production", "pro").allowed);
  EXPECT_EQ(check("production", "pro").reason, "plan_allowed");
  EXPECT_EQ(check("production", "pro").version, 2);
  EXPECT_EQ(check("production", "pro-trial").reason, "deny_override");
  EXPECT_FALSE(check("production", "pro-trial").allowed);
  EXPECT_EQ(check("production", "free").reason, "plan_not_allowed");
  EXPECT_EQ(check("staging", "pro").reason, "no_active_policy");
  // Deprecated: still evaluated. Retired: not.
  l.must(DeprecateCapability{"default", "cap-export-data", ""});
  EXPECT_TRUE(check("production", "pro").allowed);
  l.must(RetireCapability{"default", "cap-export-data", ""});
  EXPECT_EQ(check("production", "pro").reason, "unknown_capability");
}

TEST(Entitlements, ArchivedPlansAreNotAssignableButStillEvaluated) {
  Ledger l;
  seed(l);
  l.must(ActivateVersion{"default", "pol-export-data", "pol-export-data-v1", "production", "go"});
  EXPECT_FALSE(l.model.plan_archived("pro"));
  l.must(ArchivePlan{"default", "pro", "sunset"});
  EXPECT_TRUE(l.model.plan_archived("pro"));
  EXPECT_FALSE(l.model.plan_archived("unknown-plan"));
  EXPECT_TRUE(l.model.check({"default", "production", "pro", "export-data"}).allowed);
  EXPECT_EQ(l.code(UpdatePlan{"default", "pro", std::string("Pro!"), std::nullopt}), "plan_archived");
  EXPECT_EQ(l.code(DefinePlan{"default", "pro", "", ""}), "plan_exists");
}

TEST(Entitlements, AsOfCutAnswersFromHistory) {
  Ledger l;
  seed(l);
  l.must(CreateVersion{"default", "pol-export-data", allow({"free"}), "free only"});
  l.must(ActivateVersion{"default", "pol-export-data", "pol-export-data-v1", "production", "go"});
  const std::int64_t after_v1 = l.position;
  l.must(ActivateVersion{"default", "pol-export-data", "pol-export-data-v2", "production", "switch"});
  EXPECT_EQ(l.model.check({"default", "production", "free", "export-data"}).reason, "plan_allowed");
  EXPECT_EQ(l.model.check({"default", "production", "free", "export-data"}, Cut{after_v1, std::nullopt}).reason,
            "plan_not_allowed");
  EXPECT_EQ(l.model.check({"default", "production", "free", "export-data"}, Cut{after_v1 - 1, std::nullopt}).reason,
            "no_active_policy");
  auto active = l.model.active("default", "production", Cut{after_v1, std::nullopt});
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].version_id, "pol-export-data-v1");
}

// As of a cut, a version archived after it reads as it was then, and
// archived from the archiving on (the archive is kept with its position).
TEST(Entitlements, StatusesAsOfACutKnowWhenAVersionWasArchived) {
  Ledger l;
  seed(l);
  l.must(ActivateVersion{"default", "pol-export-data", "pol-export-data-v1", "production", "go"});
  l.must(CreateVersion{"default", "pol-export-data", allow({"free"}), "free only"});
  l.must(ActivateVersion{"default", "pol-export-data", "pol-export-data-v2", "production", "switch"});
  const std::int64_t superseded = l.position;
  l.must(ArchiveVersion{"default", "pol-export-data", "pol-export-data-v1", "not coming back"});
  const Policy* p = l.model.policy("default", "pol-export-data");
  ASSERT_NE(p, nullptr);
  const Version* v1 = p->version("pol-export-data-v1");
  ASSERT_NE(v1, nullptr);
  EXPECT_EQ(status_at(*p, *v1, Cut{}), "archived");
  EXPECT_EQ(status_at(*p, *v1, Cut{l.position, std::nullopt}), "archived");
  EXPECT_EQ(status_at(*p, *v1, Cut{superseded, std::nullopt}), "superseded");
  EXPECT_EQ(status_at(*p, *v1, Cut{superseded - 1, std::nullopt}), "active");
  EXPECT_EQ(status_at(*p, *v1, Cut{0, v1->archived_at}), "archived");
  EXPECT_EQ(status_at(*p, *v1, Cut{0, events::Instant{v1->archived_at.micros - 1}}), "superseded");
}

// shadow_required: production activations present a verified report of
// that very version and environment, young enough by the writer's clock.
TEST(Entitlements, ShadowRequiredGatesProductionActivations) {
  Ledger l;
  seed(l);
  l.must(ConfigureSpace{"default", false, 600});
  ShadowEvidence r;
  r.policy_id = "pol-export-data";
  r.version_id = "pol-export-data-v1";
  r.environment = "production";
  r.generated_at = events::Instant{1'780'000'000'000'000};
  r.checked = 40;
  r.allow_to_deny = 3;
  r.signature = "sig";
  r.verified = true;
  auto activation = [&](std::optional<ShadowEvidence> e, std::string env = "production") {
    ActivateVersion a{"default", "pol-export-data", "pol-export-data-v1", std::move(env), "go"};
    a.shadow = std::move(e);
    return a;
  };
  EXPECT_EQ(l.code(activation(std::nullopt)), "shadow_report_required");
  ShadowEvidence unverified = r;
  unverified.verified = false;
  EXPECT_EQ(l.code(activation(unverified)), "shadow_report_required");
  ShadowEvidence other = r;
  other.version_id = "pol-export-data-v2";
  EXPECT_EQ(l.code(activation(other)), "shadow_report_required");
  ShadowEvidence old = r;
  old.generated_at = events::Instant{r.generated_at.micros - 601'000'000};
  EXPECT_EQ(l.code(activation(old)), "shadow_report_required");
  EXPECT_EQ(l.code(activation(std::nullopt, "staging")), "accepted");  // production only
  auto d = l.run(activation(r));
  ASSERT_TRUE(d.has_value()) << d.error().code;
  const auto& e = std::get<events::PolicyVersionActivated>(d->events.at(0));
  const auto figures = nlohmann::json::parse(e.shadow);
  EXPECT_EQ(figures["allow_to_deny"], 3);
  EXPECT_EQ(figures["checked"], 40);
  EXPECT_EQ(figures["signature"], "sig");
  // Off again; and the age is bounded.
  l.must(ConfigureSpace{"default", false, 0});
  EXPECT_EQ(l.code(ConfigureSpace{"default", false, -1}), "invalid_field");
}

TEST(Entitlements, ViewResolvesAnOrganizationsPlanAsOfAPosition) {
  projections::EntitlementsView view;
  Ledger l;
  seed(l);
  l.must(ActivateVersion{"default", "pol-export-data", "pol-export-data-v1", "production", "go"});
  for (const auto& e : l.history) view.apply(e);
  events::Envelope org{{}, events::OrganizationCreated{"acme", "Acme", "pro", "acme.default"}};
  org.meta.global_position = events::GlobalPosition{l.position + 1};
  view.apply(org);
  events::Envelope change{{}, events::OrganizationPlanChanged{"acme", "pro", "free"}};
  change.meta.global_position = events::GlobalPosition{l.position + 2};
  view.apply(change);
  projections::EntitlementCheckRequest in{"default", "production", "acme", "", "export-data"};
  EXPECT_EQ(view.check(in, Cut{}).result.reason, "plan_not_allowed");
  EXPECT_EQ(view.check(in, Cut{l.position + 1, std::nullopt}).result.reason, "plan_allowed");
  EXPECT_TRUE(view.check(in, Cut{l.position, std::nullopt}).unknown_organization);
}

TEST(Entitlements, EveryEventRoundTripsThroughTheCodec) {
  Ledger l;
  seed(l);
  l.must(UpdatePlan{"default", "pro", std::string("Pro"), std::string("teams")});
  l.must(ActivateVersion{"default", "pol-export-data", "pol-export-data-v1", "dev", "go"});
  l.must(CreateVersion{"default", "pol-export-data", allow({"pro"}), "v2"});
  l.must(ArchiveVersion{"default", "pol-export-data", "pol-export-data-v2", "unused"});
  l.must(ArchivePlan{"default", "free", ""});
  l.must(ConfigureSpace{"default", true});
  for (const auto& e : l.history) {
    auto back = codec::decode_payload(events::type_name(e.event), 1, codec::encode_payload(e.event));
    ASSERT_TRUE(back.has_value()) << back.error();
    EXPECT_TRUE(*back == e.event) << events::type_name(e.event);
  }
}

// The property: whatever sequence of activations (some of them refused:
// archived versions, unknown versions, bad environments), the model's active
// version per (policy, environment) is the version of the LAST accepted
// PolicyVersionActivated of that pair in the recorded history; versions stay
// gap-free; at most one active version per pair.
RC_GTEST_PROP(Entitlements, ActiveVersionEqualsBruteForceOverHistory, ()) {
  Ledger l;
  for (const char* p : {"free", "pro"}) RC_ASSERT(l.run(DefinePlan{"default", p, "", ""}).has_value());
  const std::vector<std::string> caps = {"aaa", "bbb"};
  for (const auto& c : caps) {
    RC_ASSERT(l.run(DefineCapability{"default", c, "", ""}).has_value());
    RC_ASSERT(l.run(CreatePolicy{"default", "cap-" + c, c, "", allow({"pro"}), "", ""}).has_value());
  }
  const std::vector<std::string> envs = {"dev", "staging", "production", "qa"};
  const auto steps = *rc::gen::inRange(0, 60);
  for (int i = 0; i < steps; ++i) {
    const std::string policy = "pol-" + caps[static_cast<std::size_t>(*rc::gen::inRange(0, 2))];
    switch (*rc::gen::inRange(0, 4)) {
      case 0:
        (void)l.run(CreateVersion{"default", policy, allow({"free"}), "more"});
        break;
      case 1: {
        const auto v = *rc::gen::inRange(1, 6);
        (void)l.run(ArchiveVersion{"default", policy, policy + "-v" + std::to_string(v), ""});
        break;
      }
      default: {
        const auto v = *rc::gen::inRange(1, 6);
        const auto env = envs[static_cast<std::size_t>(*rc::gen::inRange(0, 4))];
        (void)l.run(ActivateVersion{"default", policy, policy + "-v" + std::to_string(v), env, "switch"});
      }
    }
  }
  std::map<std::pair<std::string, std::string>, std::string> brute;
  std::map<std::string, std::int64_t> last_version;
  for (const auto& e : l.history) {
    if (const auto* a = std::get_if<events::PolicyVersionActivated>(&e.event)) {
      brute[{a->policy_id, a->environment}] = a->version_id;
    }
    if (const auto* v = std::get_if<events::PolicyVersionCreated>(&e.event)) {
      RC_ASSERT(v->version == last_version[v->policy_id] + 1);  // gap-free
      last_version[v->policy_id] = v->version;
    }
  }
  RC_ASSERT(active_versions(l.model, "default") == brute);
  for (const auto& c : caps) {
    const Policy* p = l.model.policy("default", "pol-" + c);
    for (const auto& env : envs) {
      int active_here = 0;
      for (const auto& [e, idx] : p->active) active_here += e == env;
      RC_ASSERT(active_here <= 1);
      // The check answers with the brute-force version.
      auto r = l.model.check({"default", env, "pro", c});
      auto it = brute.find({p->id, env});
      if (it == brute.end()) {
        RC_ASSERT(r.reason == std::string("no_active_policy"));
      } else {
        RC_ASSERT(r.version_id == it->second);
      }
    }
  }
}

}  // namespace
}  // namespace ledger

// Layered configuration (seed 004): the precedence helper with the seed's own
// examples, the model's resolved view against a brute-force overlay of
// history (property test), precise invalidation of the resolved cache, and
// the command decoder's schema validation.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <rapidcheck.h>
#include <nlohmann/json.hpp>

#include "commands/decode.h"
#include "domain/config/config_model.h"
#include "domain/config/precedence.h"
#include "domain/config/schema.h"
#include "projections/config/resolved_cache.h"

namespace {

using Json = nlohmann::json;
namespace cfg = ledger::domain::config;
using cfg::layered_merge;
using cfg::resolve_value;

// ------------------------------------------------------------ the helper

TEST(ConfigPrecedence, LayeredMergeOverlaysLeftToRightSkippingNoneLaterWins) {
  // The seed: "Overlay dicts from left->right, skipping None. Later layers win."
  EXPECT_EQ(layered_merge({Json{{"a", 1}, {"b", 1}}, nullptr, Json{{"b", 2}}, Json::object(), Json{{"c", 3}}}),
            Json({{"a", 1}, {"b", 2}, {"c", 3}}));
  EXPECT_EQ(layered_merge({}), Json::object());
  EXPECT_EQ(layered_merge({nullptr, nullptr}), Json::object());
}

TEST(ConfigPrecedence, LayeredMergeIsShallowNestedObjectsAreReplacedWhole) {
  // The seed: "shallow merge; nested objects are replaced by later layers".
  const Json lower = {{"backoff", {{"initial_seconds", 1}, {"factor", 2}, {"max_seconds", 8}}}, {"retry_attempts", 3}};
  const Json higher = {{"backoff", {{"factor", 3}}}};
  const Json merged = layered_merge({lower, higher});
  EXPECT_EQ(merged["backoff"], Json({{"factor", 3}}));  // never {initial 1, factor 3, max 8}
  EXPECT_EQ(merged["retry_attempts"], 3);
}

TEST(ConfigPrecedence, LayeredMergeKeepsAnExplicitNullValueOfALaterLayer) {
  // Only None LAYERS are skipped; a key set to None inside a layer is set.
  EXPECT_EQ(layered_merge({Json{{"a", 1}}, Json{{"a", nullptr}}}), Json({{"a", nullptr}}));
}

TEST(ConfigPrecedence, TheSeedsUsageExampleListsHighestFirstSoItMustBeCalledReversed) {
  // The seed's example `layered_merge([service_instance, agent_tenant,
  // tenant_risk, service_type, global_public, env_defaults])` combined with
  // "later layers win" would let env defaults win, against its own
  // resolution order (service instance highest). The ledger keeps the
  // resolution order and calls the helper lowest first.
  const Json service_instance = {{"timeout_seconds", 5}}, env_defaults = {{"timeout_seconds", 30}};
  EXPECT_EQ(layered_merge({service_instance, env_defaults})["timeout_seconds"], 30);  // the literal example
  EXPECT_EQ(layered_merge({env_defaults, service_instance})["timeout_seconds"], 5);   // as the ledger calls it
}

TEST(ConfigPrecedence, ResolveValueReturnsTheFirstNonNullElseTheDefault) {
  // timeout = resolve_value(tenant_override, service_type_default, global_band, settings_default, default=30)
  EXPECT_EQ(resolve_value({nullptr, 10, 20, 30}, 30), 10);
  EXPECT_EQ(resolve_value({nullptr, nullptr, nullptr, nullptr}, 30), 30);
  EXPECT_EQ(resolve_value({0, 10}, 30), 0);            // 0 is not None
  EXPECT_EQ(resolve_value({false, true}, 30), false);  // nor is False
  EXPECT_TRUE(resolve_value({nullptr}).is_null());
}

// ------------------------------------------------------------ the model

ledger::events::EventMeta meta(std::int64_t position, const std::string& actor = "u1") {
  ledger::events::EventMeta m;
  m.global_position = ledger::events::GlobalPosition{position};
  m.actor = {"user", actor, {}};
  return m;
}

struct Writer {
  cfg::ConfigModel model;
  std::int64_t position = 0;
  void set(cfg::LayerRef ref, Json value, bool is_public = false) {
    const auto* s = model.find(ref);
    cfg::SetConfigLayer c{ref, value.dump(), "t", is_public, false, ""};
    auto events = cfg::decide(s, c);
    ASSERT_TRUE(events.has_value());
    for (const auto& e : *events) model.apply(meta(++position), e);
  }
};

TEST(ConfigModel, ResolvesInTheSeedsOrderWithTheSourceOfEveryKey) {
  Writer w;
  w.set({cfg::Layer::kGlobal, "platform", "g"}, 1, /*is_public=*/true);
  w.set({cfg::Layer::kGlobal, "platform", "hidden"}, 1);
  w.set({cfg::Layer::kServiceType, "platform", "gke"}, {{"g", 2}, {"st", 2}});
  w.set({cfg::Layer::kTenantRisk, "t1", ""}, {{"st", 3}, {"risk", 3}});
  w.set({cfg::Layer::kAgent, "t1", "a"}, {{"risk", 4}, {"agent", 4}});
  w.set({cfg::Layer::kService, "t1", "s"}, {{"agent", 5}});
  auto r = w.model.resolve({"t1", "a", "gke", "s", ""}, Json{{"g", 0}, {"env", 0}});
  EXPECT_EQ(r.config, Json({{"g", 2}, {"st", 3}, {"risk", 4}, {"agent", 5}, {"env", 0}}));
  EXPECT_EQ(r.sources["agent"].layer, cfg::Layer::kService);
  EXPECT_EQ(r.sources["risk"].layer, cfg::Layer::kAgent);
  EXPECT_EQ(r.sources["st"].layer, cfg::Layer::kTenantRisk);
  EXPECT_EQ(r.sources["g"].layer, cfg::Layer::kServiceType);
  EXPECT_EQ(r.sources["env"].layer, cfg::Layer::kProcess);
  EXPECT_EQ(r.sources["env"].precedence, 5);
  EXPECT_FALSE(r.config.contains("hidden"));
  // Without the service type, the public global key shows from the global layer.
  r = w.model.resolve({"t1", "", "", "", ""}, Json::object());
  EXPECT_EQ(r.sources["g"].layer, cfg::Layer::kGlobal);
  EXPECT_EQ(r.sources["g"].precedence, 4);
}

TEST(ConfigModel, AnIdenticalDocumentChangesNothing) {
  Writer w;
  w.set({cfg::Layer::kTenantRisk, "t1", ""}, {{"a", 1}});
  cfg::SetConfigLayer again{{cfg::Layer::kTenantRisk, "t1", ""}, Json{{"a", 1}}.dump(), "t", false, false, ""};
  auto e = cfg::decide(w.model.find(again.ref), again);
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->empty());
}

TEST(ConfigModel, LastUpdatedByAndAtPerKeyFollowTheWriteThatChangedIt) {
  cfg::ConfigModel m;
  const cfg::LayerRef ref{cfg::Layer::kTenantRisk, "t1", ""};
  auto write = [&](Json v, std::int64_t pos, const std::string& who) {
    cfg::SetConfigLayer c{ref, v.dump(), "t", false, false, ""};
    auto events = cfg::decide(m.find(ref), c);
    ASSERT_TRUE(events.has_value());
    for (const auto& e : *events) m.apply(meta(pos, who), e);
  };
  write({{"a", 1}, {"b", 1}}, 1, "alice");
  write({{"a", 1}, {"b", 2}}, 2, "bob");
  const auto* s = m.find(ref);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->updated.at("a").actor_id, "alice");
  EXPECT_EQ(s->updated.at("b").actor_id, "bob");
  ASSERT_EQ(s->history.size(), 2u);
  EXPECT_EQ(s->history[1].before, Json({{"a", 1}, {"b", 1}}));
  EXPECT_EQ(s->history[1].after, Json({{"a", 1}, {"b", 2}}));
}

// The resolved view equals a brute-force overlay of history: for each layer
// its last written document (scanning every write), overlaid lowest first
// with the seed's layered_merge.
TEST(ConfigModel, ResolvedViewEqualsABruteForceOverlayOfHistory) {
  EXPECT_TRUE(rc::check([](std::vector<std::tuple<int, int, int, int, int, bool>> writes) {
    const std::vector<std::string> tenants = {"t1", "t2"}, subjects = {"x", "y"}, keys = {"k1", "k2", "k3"};
    const cfg::Layer layers[] = {cfg::Layer::kService, cfg::Layer::kAgent, cfg::Layer::kTenantRisk,
                                 cfg::Layer::kServiceType, cfg::Layer::kGlobal};
    struct Write {
      cfg::LayerRef ref;
      Json doc;
      bool is_public;
    };
    std::vector<Write> history;
    cfg::ConfigModel model;
    std::int64_t position = 0;
    for (auto [layer_i, tenant_i, subject_i, key_i, value, pub] : writes) {
      const cfg::Layer l = layers[std::abs(layer_i) % 5];
      cfg::LayerRef ref{l, cfg::platform_owned(l) ? "platform" : tenants[std::abs(tenant_i) % 2],
                        l == cfg::Layer::kTenantRisk ? "" : subjects[std::abs(subject_i) % 2]};
      Json doc;
      if (l == cfg::Layer::kGlobal) {
        ref.subject = keys[std::abs(key_i) % 3];
        doc = value % 7;
      } else {
        doc = Json::object();
        for (int k = 0; k < 3; ++k) {
          if ((std::abs(key_i) >> k) & 1) doc[keys[k]] = Json{{"v", value % 5}, {"layer", cfg::layer_name(l)}};
        }
      }
      const bool is_public = l == cfg::Layer::kGlobal && pub;
      cfg::SetConfigLayer c{ref, doc.dump(), "prop", is_public, false, ""};
      auto events = cfg::decide(model.find(ref), c);
      RC_ASSERT(events.has_value());
      for (const auto& e : *events) model.apply(meta(++position), e);
      history.push_back({ref, doc, is_public});
    }
    const Json process = {{"k1", "env"}, {"k4", "env"}};
    for (const auto& tenant : tenants) {
      for (const auto& subject : subjects) {
        const cfg::ResolveQuery q{tenant, subject, subject, subject, ""};
        auto last = [&](cfg::LayerRef ref) -> const Write* {
          const Write* found = nullptr;
          for (const auto& w : history) {
            if (w.ref == ref) found = &w;
          }
          return found;
        };
        Json globals = Json::object();
        std::map<std::string, const Write*> global_last;
        for (const auto& w : history) {
          if (w.ref.layer == cfg::Layer::kGlobal) global_last[w.ref.subject] = &w;
        }
        for (const auto& [k, w] : global_last) {
          if (w->is_public) globals[k] = w->doc;
        }
        auto doc_of = [&](cfg::LayerRef ref) {
          const Write* w = last(ref);
          return w ? w->doc : Json(nullptr);
        };
        const Json expected =
            layered_merge({process, globals, doc_of({cfg::Layer::kServiceType, "platform", subject}),
                           doc_of({cfg::Layer::kTenantRisk, tenant, ""}), doc_of({cfg::Layer::kAgent, tenant, subject}),
                           doc_of({cfg::Layer::kService, tenant, subject})});
        const auto got = model.resolve(q, process);
        RC_ASSERT(got.config == expected);
        for (const auto& [k, v] : got.config.items()) {
          const auto& src = got.sources.at(k);
          if (v.is_object() && v.contains("layer")) RC_ASSERT(v["layer"] == cfg::layer_name(src.layer));
        }
      }
    }
  }));
}

// ------------------------------------------------------------ the cache

TEST(ResolvedCache, AWriteInvalidatesExactlyTheViewsThatReadItsLayer) {
  Writer w;
  w.set({cfg::Layer::kTenantRisk, "t1", ""}, {{"a", 1}});
  w.set({cfg::Layer::kTenantRisk, "t2", ""}, {{"a", 2}});
  w.set({cfg::Layer::kAgent, "t1", "x"}, {{"b", 1}});
  ledger::projections::config::ResolvedCache cache;
  const cfg::ResolveQuery t1x{"t1", "x", "", "", ""}, t1y{"t1", "y", "", "", ""}, t2{"t2", "", "", "", ""};
  for (const auto& q : std::vector<cfg::ResolveQuery>{t1x, t1y, t2})
    EXPECT_FALSE(cache.resolve(w.model, q, Json::object(), 1).hit);
  for (const auto& q : std::vector<cfg::ResolveQuery>{t1x, t1y, t2})
    EXPECT_TRUE(cache.resolve(w.model, q, Json::object(), 1).hit);

  w.set({cfg::Layer::kAgent, "t1", "x"}, {{"b", 2}});  // agent_config_t1_x
  EXPECT_FALSE(cache.resolve(w.model, t1x, Json::object(), 1).hit);
  EXPECT_TRUE(cache.resolve(w.model, t1y, Json::object(), 1).hit);
  EXPECT_TRUE(cache.resolve(w.model, t2, Json::object(), 1).hit);
  EXPECT_EQ(cache.invalidations("agent_config_t1_x"), 1);

  w.set({cfg::Layer::kTenantRisk, "t1", ""}, {{"a", 3}});  // risk_config_t1
  EXPECT_FALSE(cache.resolve(w.model, t1x, Json::object(), 1).hit);
  EXPECT_FALSE(cache.resolve(w.model, t1y, Json::object(), 1).hit);
  auto still = cache.resolve(w.model, t2, Json::object(), 1);
  EXPECT_TRUE(still.hit);
  EXPECT_EQ(still.resolved->config["a"], 2);
  EXPECT_EQ(cache.invalidations("risk_config_t1"), 2);
  EXPECT_EQ(cache.invalidations("risk_config_t2"), 0);

  w.set({cfg::Layer::kGlobal, "platform", "new_key"}, 1, true);  // a new global key: every view lists them
  EXPECT_FALSE(cache.resolve(w.model, t2, Json::object(), 1).hit);
  EXPECT_EQ(cache.resolve(w.model, t2, Json::object(), 1).resolved->config["new_key"], 1);
  EXPECT_NE(cache.metrics_text().find("ledger_config_cache_invalidations_total{key=\"risk_config_t1\"} 2"),
            std::string::npos);
}

// ------------------------------------------------------------ validation

TEST(ConfigValidation, TheSeedsExampleIsValidAndABrokenVariantNamesItsPath) {
  Json n = Json::parse(R"({"webhook": {"endpoints": [{"url": "https://approval.example.com/hook",
    "headers": {"X-Env": "prod"}, "auth": {"type": "bearer", "token": "***"}, "secret": "hmac-secret",
    "timeout_seconds": 30, "retry_attempts": 3, "backoff": {"initial_seconds": 1, "factor": 2, "max_seconds": 8}}]},
    "email": {"approval_recipients": ["oncall@example.com"], "default_recipients": ["sre@example.com"],
    "from_email": "no-reply@example.com"}, "approver_groups": {"risk_levels": {"low": ["sre@"], "high": ["secops@"]},
    "action_overrides": {"increase_memory": ["platform@"]}},
    "escalation": {"poll_interval_seconds": 60, "escalation_window_minutes": 60, "max_hops": 2}})");
  EXPECT_FALSE(cfg::validate_document({{"notification_config", n}}).has_value());
  // The single-endpoint form with basic and api_key auth.
  Json single = {
      {"webhook",
       {{"url", "https://h.example.com"}, {"auth", {{"type", "basic"}, {"username", "u"}, {"password", "p"}}}}}};
  EXPECT_FALSE(cfg::validate_document({{"notification_config", single}}).has_value());
  single["webhook"]["auth"] = {{"type", "api_key"}, {"api_key", "k"}, {"header_name", "X-API-Key"}};
  EXPECT_FALSE(cfg::validate_document({{"notification_config", single}}).has_value());
  single["webhook"]["auth"] = {{"type", "basic"}, {"username", "u"}};
  auto v = cfg::validate_document({{"notification_config", single}});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->path, "/notification_config/webhook/auth");

  auto body = Json{{"tenant_id", "t1"}, {"reason", "r"}, {"value", {{"notification_config", single}}}};
  auto decoded = ledger::commands::decode_command("config.tenant_risk.set", body);
  ASSERT_FALSE(decoded.has_value());
  EXPECT_EQ(decoded.error().code, "config_schema_violation");
  EXPECT_EQ(decoded.error().kind, ledger::domain::ErrorKind::kFailedPrecondition);
}

// A string the schema gives a pattern is refused by its length before the
// pattern runs: std::regex recurses once per character, and a from_email of
// 100,000 characters ended the process.
TEST(ConfigValidation, AnOverlongPatternedStringIsRefusedBeforeItsPatternRuns) {
  auto from_email = [](const std::string& address) {
    return Json{{"notification_config", {{"email", {{"from_email", address}}}}}};
  };
  EXPECT_FALSE(cfg::validate_document(from_email("no-reply@example.com")).has_value());
  // At the limit the pattern decides; one past it, the length.
  const std::string at_limit = std::string(2048 - 12, 'a') + "@example.com";
  EXPECT_FALSE(cfg::validate_document(from_email(at_limit)).has_value());
  for (const std::string& overlong : {at_limit + "m", std::string(100000, 'a'), std::string(100000, 'a') + "@b"}) {
    auto v = cfg::validate_document(from_email(overlong));
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->path, "/notification_config/email/from_email");
    EXPECT_NE(v->message.find("2048"), std::string::npos) << v->message;
  }
  auto url = cfg::validate_document(
      {{"notification_config", {{"webhook", {{"url", "https://" + std::string(100000, 'h')}}}}}});
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->path, "/notification_config/webhook/url");
}

// Which members are bounded is read from the schema: every member the schema
// gives a `pattern` is refused past the limit wherever it stands, even in a
// part of the document the schema leaves open, and the path escapes `~` and
// `/` as RFC 6901 says.
TEST(ConfigValidation, EveryMemberTheSchemaGivesAPatternIsBoundedWhereverItStands) {
  std::set<std::string> patterned;
  std::function<void(const Json&)> walk = [&](const Json& node) {
    if (!node.is_structured()) return;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (node.is_object() && it->is_object() && it->contains("pattern")) patterned.insert(it.key());
      walk(*it);
    }
  };
  walk(Json::parse(cfg::config_schema_text()));
  ASSERT_GE(patterned.size(), 3U);
  for (const auto& name : patterned) {
    const Json open_part = {{"service_overrides", {{"gke", {{"a/b~c", {{name, std::string(100000, 'x')}}}}}}}};
    auto v = cfg::validate_document(open_part);
    ASSERT_TRUE(v.has_value()) << name;
    EXPECT_EQ(v->path, "/service_overrides/gke/a~1b~0c/" + name);
    EXPECT_NE(v->message.find("2048"), std::string::npos) << v->message;
    // The same member at the limit is left to the schema, which leaves this
    // part open.
    const Json at_limit = {{"service_overrides", {{"gke", {{"a/b~c", {{name, std::string(2048, 'x')}}}}}}}};
    EXPECT_FALSE(cfg::validate_document(at_limit).has_value()) << name;
  }
}

TEST(ConfigValidation, ThePatternedSetIsWhatTheSchemaNamesAndAPatternNoNameBoundsIsRefused) {
  // The schema in service: the members its own walk finds.
  const auto in_service = cfg::patterned_members(cfg::config_schema_text());
  EXPECT_EQ(std::set<std::string>(in_service.begin(), in_service.end()),
            (std::set<std::string>{"from_email", "url", "webhook_url"}));

  // A pattern on a named property, also inside array items' properties, is
  // bounded by that name; a property that is itself named "pattern" is a
  // member, not a keyword.
  const auto named = cfg::patterned_members(R"({"properties": {
      "a": {"type": "string", "pattern": "^x"},
      "pattern": {"type": "object", "properties": {"b": {"pattern": "y$"}}},
      "list": {"type": "array", "items": {"properties": {"c": {"pattern": "z"}}}}}})");
  EXPECT_EQ(std::set<std::string>(named.begin(), named.end()), (std::set<std::string>{"a", "b", "c"}));

  // Anywhere else no member name would bound the strings the pattern runs on.
  const std::vector<std::pair<std::string, std::string>> unbounded = {
      {R"({"properties": {"spaces": {"type": "array", "items": {"type": "string", "pattern": "^s"}}}})",
       "/properties/spaces/items"},
      {R"({"properties": {"h": {"type": "object", "additionalProperties": {"pattern": "^s"}}}})",
       "/properties/h/additionalProperties"},
      {R"({"patternProperties": {"^x-": {"pattern": "^s"}}})", "/patternProperties/^x-"},
      {R"({"definitions": {"email": {"pattern": "@"}}, "properties": {"e": {"$ref": "#/definitions/email"}}})",
       "/definitions/email"},
      {R"({"properties": {"t": {"anyOf": [{"type": "integer"}, {"pattern": "^s"}]}}})", "/properties/t/anyOf/1"},
  };
  for (const auto& [schema, where] : unbounded) {
    try {
      (void)cfg::patterned_members(schema);
      ADD_FAILURE() << "accepted " << schema;
    } catch (const std::logic_error& e) {
      EXPECT_NE(std::string(e.what()).find("the pattern at " + where + " "), std::string::npos) << e.what();
    }
  }
}

TEST(ConfigValidation, DecodingRefusesIdsAndFieldsItDoesNotKnow) {
  using ledger::commands::decode_command;
  EXPECT_EQ(decode_command("config.agent.set",
                           {{"tenant_id", "t 1"}, {"agent_type", "a"}, {"reason", "r"}, {"value", Json::object()}})
                .error()
                .code,
            "invalid_field");
  EXPECT_EQ(decode_command("config.tenant_risk.set", {{"tenant_id", "t1"}, {"reason", "r"}, {"value", 3}}).error().code,
            "invalid_field");
  EXPECT_EQ(decode_command("config.tenant_risk.set",
                           {{"tenant_id", "t1"}, {"reason", "r"}, {"value", Json::object()}, {"is_public", true}})
                .error()
                .code,
            "unknown_field");
  auto ok = decode_command("config.global.set", {{"key", "k"}, {"reason", "r"}, {"value", 5}, {"is_public", true}});
  ASSERT_TRUE(ok.has_value());
  const auto& c = std::get<cfg::SetConfigLayer>(ok->command);
  EXPECT_EQ(c.ref.tenant, "platform");
  EXPECT_TRUE(c.is_public);
}

}  // namespace

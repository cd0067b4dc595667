// Per-application policy chains (seed 002): the type registry, the rules of
// the commands, the model built from events, and chain evaluation.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>

#include "domain/app_policy/chain.h"
#include "domain/app_policy/commands.h"

namespace ledger::domain::app_policy {
namespace {

using Json = nlohmann::json;

// A stand-in for the CEL adapter: "true" and "false" evaluate to
// themselves, "boom" errs at evaluation, anything with "syntax" does not
// compile, "engine-down" finds the engine failing. The real engine is tested
// in adapters/cel.
class FakeExpressions final : public ExpressionEngine {
 public:
  class Program final : public CompiledExpression {
   public:
    explicit Program(std::string text) : text_(std::move(text)) {}
    Result<bool> evaluate(const EvaluationInput&) const override {
      if (text_ == "boom") return fail(ErrorKind::kFailedPrecondition, "cel_evaluation_failed", "no such overload");
      return text_ == "true";
    }

   private:
    std::string text_;
  };
  ExpressionCheck check(std::string_view e) const override {
    ExpressionCheck c;
    if (e.find("syntax") != std::string_view::npos) c.errors.push_back({"Syntax error", 3});
    return c;
  }
  Result<std::shared_ptr<const CompiledExpression>> compile(std::string_view e) const override {
    if (e == "engine-down") return fail(ErrorKind::kUnavailable, "cel_unavailable", "the CEL engine failed");
    if (auto c = check(e); !c.valid()) {
      Error err{ErrorKind::kInvalidArgument, "invalid_expression", c.errors[0].message, {}};
      err.with("position", c.errors[0].position);
      return std::unexpected(err);
    }
    return std::make_shared<Program>(std::string(e));
  }
};

const FakeExpressions kCel;
const PolicyDeps kDeps{.expressions = &kCel, .replicas = 1};

Result<std::shared_ptr<const Policy>> build(const std::string& type, const Json& config) {
  return PolicyTypes::builtin().construct(type, config, kDeps);
}

TEST(AppPolicyTypes, RegistryListsTheSeedsTypesWithSchemas) {
  std::vector<std::string> names;
  for (const auto& t : PolicyTypes::builtin().list()) {
    names.push_back(t.type);
    EXPECT_EQ(t.config_schema["type"], "object") << t.type;
    EXPECT_FALSE(t.description.empty());
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"rate_limit", "token_limit", "model_allowlist", "request_size", "custom_cel"}));
  EXPECT_FALSE(PolicyTypes::builtin().list().back().is_built_in);  // custom_cel, as the seed shows
}

TEST(AppPolicyTypes, ConfigIsValidatedByConstructingThePolicy) {
  EXPECT_TRUE(build("rate_limit", {{"requests_per_minute", 1000}, {"burst", 50}}));
  struct Bad {
    std::string type;
    Json config;
    std::string field;
  };
  for (const auto& b : std::vector<Bad>{
           {"rate_limit", {{"requests_per_minute", 0}}, "/requests_per_minute"},
           {"rate_limit", {{"burst", 5}}, "/requests_per_minute"},
           {"rate_limit", {{"requests_per_minute", 10}, {"burst", -1}}, "/burst"},
           {"rate_limit", {{"requests_per_minute", "10"}}, "/requests_per_minute"},
           {"rate_limit", {{"requests_per_minute", 10}, {"rpm", 5}}, "/rpm"},
           {"rate_limit", {{"requests_per_minute", 1.5}}, "/requests_per_minute"},
           {"token_limit", Json::object(), "/max_tokens"},
           {"token_limit", {{"max_tokens_per_window", 10}}, "/window_seconds"},
           {"model_allowlist", {{"models", Json::array()}}, "/models"},
           {"model_allowlist", {{"models", {"gpt-4", 3}}}, "/models/1"},
           {"request_size", {{"max_bytes", 0}}, "/max_bytes"},
           {"custom_cel", {{"pre_check_expression", "true"}}, "/name"},
       }) {
    auto r = build(b.type, b.config);
    ASSERT_FALSE(r) << b.type << " " << b.config.dump();
    EXPECT_EQ(r.error().code, "invalid_policy_config");
    EXPECT_EQ(r.error().kind, ErrorKind::kFailedPrecondition);
    ASSERT_NE(r.error().find("field"), nullptr);
    EXPECT_EQ(r.error().evidence_text("field"), b.field) << b.config.dump();
  }
  auto unknown = build("content_filter", Json::object());
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, "unknown_policy_type");
  auto cel = build("custom_cel", {{"name", "n"}, {"pre_check_expression", "a syntax error"}});
  ASSERT_FALSE(cel);
  EXPECT_EQ(cel.error().code, "invalid_expression");
  auto no_engine =
      PolicyTypes::builtin().construct("custom_cel", {{"name", "n"}, {"pre_check_expression", "true"}}, {});
  ASSERT_FALSE(no_engine);
  EXPECT_EQ(no_engine.error().code, "cel_unavailable");
  EXPECT_EQ(no_engine.error().kind, ErrorKind::kUnavailable);
  // An engine that fails while compiling is not an invalid expression: the
  // caller's config was fine, and a retry may succeed (503, not 422).
  for (const char* field : {"pre_check_expression", "post_check_expression"}) {
    Json config{{"name", "n"}, {"pre_check_expression", "true"}};
    config[field] = "engine-down";
    auto failed = build("custom_cel", config);
    ASSERT_FALSE(failed) << field;
    EXPECT_EQ(failed.error().code, "cel_unavailable") << field;
    EXPECT_EQ(failed.error().kind, ErrorKind::kUnavailable) << field;
  }
}

TEST(AppPolicyTypes, ModelPatterns) {
  EXPECT_TRUE(model_matches("gpt-4", "gpt-4"));
  EXPECT_FALSE(model_matches("gpt-4", "gpt-4-32k"));
  EXPECT_TRUE(model_matches("gpt-4*", "gpt-4-32k"));
  EXPECT_TRUE(model_matches("claude-?-*", "claude-3-opus"));
  EXPECT_FALSE(model_matches("claude-?-*", "claude-30-opus"));
  EXPECT_TRUE(model_matches("*", ""));
  EXPECT_FALSE(model_matches("", "x"));
  EXPECT_TRUE(model_matches("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(model_matches("a*b*c", "aXXbYY"));
}

// ---------------------------------------------------------------- commands

struct Fixture {
  AdmissionModel m;
  std::int64_t position = 0;

  Fixture() {
    auto org = decide(m, CreateOrganization{"org-acme", "pro", "Acme", ""});
    EXPECT_TRUE(org);
    commit(*org);
  }
  void commit(const Decided& d) {
    for (const auto& e : d.events) m.apply(d.stream_id, e, {++position, {}, "admin"});
  }
  Result<Decided> run(const auto& c) {
    Result<Decided> d;
    if constexpr (requires { decide(m, c, kDeps); })
      d = decide(m, c, kDeps);
    else
      d = decide(m, c);
    if (d) commit(*d);
    return d;
  }
  std::vector<std::string> chain(const std::string& app) const {
    std::vector<std::string> out;
    for (const auto* p : m.apps().chain(*m.apps().application("org-acme", app))) out.push_back(p->policy_id);
    return out;
  }
};

AttachPolicy attach(std::string id, std::string type, const Json& config, std::optional<std::int64_t> index = {}) {
  return AttachPolicy{"app-123", "org-acme", std::move(id), std::move(type), config.dump(), true, index, "r"};
}

TEST(AppPolicyCommands, ZeroPoliciesByDefaultAndExplicitOrder) {
  Fixture f;
  ASSERT_TRUE(f.run(RegisterApplication{"app-123", "org-acme", "Production API"}));
  EXPECT_TRUE(f.chain("app-123").empty());
  ASSERT_TRUE(f.run(attach("p1", "rate_limit", {{"requests_per_minute", 1000}, {"burst", 50}})));
  ASSERT_TRUE(f.run(attach("p2", "token_limit", {{"max_tokens", 8192}})));
  ASSERT_TRUE(f.run(attach("p0", "request_size", {{"max_bytes", 1024}}, 0)));
  EXPECT_EQ(f.chain("app-123"), (std::vector<std::string>{"p0", "p1", "p2"}));
  ASSERT_TRUE(f.run(UpdatePolicy{"p0", std::nullopt, std::nullopt, 2, "last"}));
  EXPECT_EQ(f.chain("app-123"), (std::vector<std::string>{"p1", "p2", "p0"}));
  EXPECT_EQ(f.m.apps().policy("p0")->version, 2);
  ASSERT_TRUE(f.run(DetachPolicy{"p1", "gone"}));
  EXPECT_EQ(f.chain("app-123"), (std::vector<std::string>{"p2", "p0"}));
  EXPECT_EQ(f.m.apps().policy("p1"), nullptr);
  EXPECT_EQ(f.m.apps().organization_of_policy("p1"), "org-acme");  // history keeps whose it was
}

TEST(AppPolicyCommands, RulesRefuseWithStableCodesAndWriteNothing) {
  Fixture f;
  auto unknown_org = f.run(RegisterApplication{"app-1", "org-nobody", "x"});
  ASSERT_FALSE(unknown_org);
  EXPECT_EQ(unknown_org.error().code, "unknown_organization");
  auto no_org = f.run(RegisterApplication{"app-1", "", "x"});
  ASSERT_FALSE(no_org);
  EXPECT_EQ(no_org.error().code, "missing_field");
  auto bad_id = f.run(RegisterApplication{"app/1", "org-acme", "x"});
  ASSERT_FALSE(bad_id);
  EXPECT_EQ(bad_id.error().code, "invalid_id");
  ASSERT_TRUE(f.run(RegisterApplication{"app-123", "org-acme", "Production API"}));
  auto taken = f.run(RegisterApplication{"app-123", "org-acme", "Other"});
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, "already_exists");
  auto same = f.run(RegisterApplication{"app-123", "org-acme", "Production API"});
  ASSERT_TRUE(same);
  EXPECT_TRUE(same->events.empty());  // already so: no event

  const auto before = f.position;
  auto bad_config = f.run(attach("p1", "rate_limit", {{"requests_per_minute", 0}}));
  ASSERT_FALSE(bad_config);
  EXPECT_EQ(bad_config.error().code, "invalid_policy_config");
  auto bad_index = f.run(attach("p1", "rate_limit", {{"requests_per_minute", 1}}, 1));
  ASSERT_FALSE(bad_index);
  EXPECT_EQ(bad_index.error().code, "invalid_index");
  auto unknown_type = f.run(attach("p1", "content_filter", Json::object()));
  ASSERT_FALSE(unknown_type);
  EXPECT_EQ(unknown_type.error().code, "unknown_policy_type");
  EXPECT_EQ(f.position, before);
  EXPECT_TRUE(f.chain("app-123").empty());

  ASSERT_TRUE(f.run(attach("p1", "rate_limit", {{"requests_per_minute", 1}})));
  auto reused = f.run(attach("p1", "rate_limit", {{"requests_per_minute", 1}}));
  ASSERT_FALSE(reused);
  EXPECT_EQ(reused.error().code, "already_exists");
  auto unchanged = f.run(UpdatePolicy{"p1", Json{{"requests_per_minute", 1}}.dump(), true, std::nullopt, ""});
  ASSERT_TRUE(unchanged);
  EXPECT_TRUE(unchanged->events.empty());
  auto bad_update = f.run(UpdatePolicy{"p1", Json{{"requests_per_minute", -3}}.dump(), std::nullopt, std::nullopt, ""});
  ASSERT_FALSE(bad_update);
  EXPECT_EQ(bad_update.error().code, "invalid_policy_config");
  auto gone = f.run(DetachPolicy{"p-none", ""});
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, "unknown_policy");
  ASSERT_TRUE(f.run(RetireApplication{"app-123", "org-acme", "sunset"}));
  auto retired = f.run(attach("p2", "request_size", {{"max_bytes", 1}}));
  ASSERT_FALSE(retired);
  EXPECT_EQ(retired.error().code, "application_retired");
}

TEST(AppPolicyCommands, UpdateRecordsBeforeAndAfter) {
  Fixture f;
  ASSERT_TRUE(f.run(RegisterApplication{"app-123", "org-acme", "Production API"}));
  ASSERT_TRUE(f.run(attach("p1", "rate_limit", {{"requests_per_minute", 1000}})));
  auto d = f.run(UpdatePolicy{"p1", Json{{"requests_per_minute", 100}}.dump(), false, std::nullopt, "tighter"});
  ASSERT_TRUE(d);
  ASSERT_EQ(d->events.size(), 1u);
  const auto& e = std::get<events::PolicyUpdated>(d->events[0]);
  EXPECT_EQ(Json::parse(e.before_config.text)["requests_per_minute"], 1000);
  EXPECT_EQ(Json::parse(e.config.text)["requests_per_minute"], 100);
  EXPECT_TRUE(e.before_enabled);
  EXPECT_FALSE(e.enabled);
  EXPECT_EQ(e.version, 2);
  EXPECT_EQ(e.reason, "tighter");
  EXPECT_EQ(d->stream_id, "application:org-acme/app-123");
}

// A random sequence of attach / move / detach: the model's chain equals a
// plain list operated on the same way (the brute force), and rebuilding the
// model from the events equals the live one.
RC_GTEST_PROP(AppPolicyCommands, ChainOrderEqualsBruteForceAndHistory, ()) {
  Fixture f;
  RC_ASSERT(f.run(RegisterApplication{"app-123", "org-acme", "A"}).has_value());
  std::vector<std::string> expected;
  std::vector<events::Event> history;
  const auto steps = *rc::gen::inRange(1, 40);
  int next = 0;
  for (int s = 0; s < steps; ++s) {
    const int op = *rc::gen::inRange(0, 3);
    const auto size = static_cast<std::int64_t>(expected.size());
    Result<Decided> d;
    if (op == 0 || expected.empty()) {
      const auto index = *rc::gen::inRange<std::int64_t>(0, size + 1);
      const std::string id = "p" + std::to_string(next++);
      d = f.run(attach(id, "request_size", {{"max_bytes", 1 + s}}, index));
      if (expected.size() < kMaxChainLength) {
        RC_ASSERT(d.has_value());
        expected.insert(expected.begin() + index, id);
      } else {
        RC_ASSERT(!d.has_value());
      }
    } else if (op == 1) {
      const auto from = *rc::gen::inRange<std::int64_t>(0, size);
      const auto to = *rc::gen::inRange<std::int64_t>(0, size);
      const std::string id = expected[static_cast<std::size_t>(from)];
      d = f.run(UpdatePolicy{id, std::nullopt, std::nullopt, to, ""});
      RC_ASSERT(d.has_value());
      expected.erase(expected.begin() + from);
      expected.insert(expected.begin() + to, id);
    } else {
      const auto at = *rc::gen::inRange<std::int64_t>(0, size);
      d = f.run(DetachPolicy{expected[static_cast<std::size_t>(at)], ""});
      RC_ASSERT(d.has_value());
      expected.erase(expected.begin() + at);
    }
    if (d) history.insert(history.end(), d->events.begin(), d->events.end());
    RC_ASSERT(f.chain("app-123") == expected);
  }
  AppPolicyModel rebuilt;
  rebuilt.apply(events::ApplicationRegistered{"app-123", "org-acme", "A"});
  for (const auto& e : history) rebuilt.apply(e);
  std::vector<std::string> again;
  for (const auto* p : rebuilt.chain(*rebuilt.application("org-acme", "app-123"))) again.push_back(p->policy_id);
  RC_ASSERT(again == expected);
}

// --------------------------------------------------------------- evaluation

ChainRequest at_ms(std::int64_t ms) {
  ChainRequest r;
  r.input.time_unix_ms = ms;
  r.input.model = "gpt-4";
  return r;
}

TEST(AppPolicyChain, EmptyChainAllows) {
  Fixture f;
  ASSERT_TRUE(f.run(RegisterApplication{"app-123", "org-acme", "A"}));
  ChainRuntime rt(kDeps);
  auto r = rt.evaluate(f.m.apps(), *f.m.apps().application("org-acme", "app-123"), at_ms(0));
  EXPECT_TRUE(r.allow);
  EXPECT_EQ(r.reason, "empty_chain");
  EXPECT_TRUE(r.policies.empty());
}

TEST(AppPolicyChain, RateLimitIsATokenBucketOfBurstRefilledPerMinute) {
  Fixture f;
  ASSERT_TRUE(f.run(RegisterApplication{"app-123", "org-acme", "A"}));
  ASSERT_TRUE(f.run(attach("p1", "rate_limit", {{"requests_per_minute", 60}, {"burst", 3}})));
  ChainRuntime rt(kDeps);
  const auto& app = *f.m.apps().application("org-acme", "app-123");
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(rt.evaluate(f.m.apps(), app, at_ms(1000)).allow) << i;
  auto denied = rt.evaluate(f.m.apps(), app, at_ms(1000));
  EXPECT_FALSE(denied.allow);
  EXPECT_EQ(denied.reason, "rate_limited");
  EXPECT_EQ(denied.denied_by, "p1");
  EXPECT_FALSE(rt.evaluate(f.m.apps(), app, at_ms(1999)).allow);  // 0.999 of a token
  EXPECT_TRUE(rt.evaluate(f.m.apps(), app, at_ms(2000)).allow);   // one second: one request
  EXPECT_FALSE(rt.evaluate(f.m.apps(), app, at_ms(2000)).allow);
}

TEST(AppPolicyChain, ReplicasEachEnforceTheirShare) {
  Fixture f;
  ASSERT_TRUE(f.run(RegisterApplication{"app-123", "org-acme", "A"}));
  ASSERT_TRUE(f.run(attach("p1", "rate_limit", {{"requests_per_minute", 60}, {"burst", 4}})));
  const auto& app = *f.m.apps().application("org-acme", "app-123");
  ChainRuntime a({.expressions = &kCel, .replicas = 2}), b({.expressions = &kCel, .replicas = 2});
  int allowed = 0;
  for (int i = 0; i < 10; ++i) {
    allowed += a.evaluate(f.m.apps(), app, at_ms(0)).allow;
    allowed += b.evaluate(f.m.apps(), app, at_ms(0)).allow;
  }
  EXPECT_EQ(allowed, 4);  // the burst, split between the two
}

TEST(AppPolicyChain, FirstDenyDecidesAndLaterPoliciesAreNotEvaluated) {
  Fixture f;
  ASSERT_TRUE(f.run(RegisterApplication{"app-123", "org-acme", "A"}));
  ASSERT_TRUE(f.run(attach("size", "request_size", {{"max_bytes", 100}})));
  ASSERT_TRUE(f.run(attach("models", "model_allowlist", {{"models", {"gpt-4*"}}})));
  ASSERT_TRUE(f.run(attach("rate", "rate_limit", {{"requests_per_minute", 1}, {"burst", 1}})));
  ChainRuntime rt(kDeps);
  const auto& app = *f.m.apps().application("org-acme", "app-123");
  auto req = at_ms(0);
  req.input.model = "claude-3";
  auto r = rt.evaluate(f.m.apps(), app, req);
  EXPECT_FALSE(r.allow);
  EXPECT_EQ(r.reason, "model_not_allowed");
  ASSERT_EQ(r.policies.size(), 3u);
  EXPECT_EQ(r.policies[0].verdict, "allow");
  EXPECT_EQ(r.policies[1].verdict, "deny");
  EXPECT_EQ(r.policies[2].verdict, "not_evaluated");
  // The rate limit spent nothing on the denied request.
  req.input.model = "gpt-4o";
  EXPECT_TRUE(rt.evaluate(f.m.apps(), app, req).allow);
  EXPECT_FALSE(rt.evaluate(f.m.apps(), app, req).allow);
}

TEST(AppPolicyChain, AReplayTakesRecordedVerdictsOfStatefulPoliciesOnlyAndFoldsAgain) {
  Fixture f;
  ASSERT_TRUE(f.run(RegisterApplication{"app-123", "org-acme", "A"}));
  ASSERT_TRUE(f.run(attach("rate", "rate_limit", {{"requests_per_minute", 1}, {"burst", 1}})));
  ASSERT_TRUE(f.run(attach("models", "model_allowlist", {{"models", {"gpt-4*"}}})));
  const auto& app = *f.m.apps().application("org-acme", "app-123");
  auto req = at_ms(0);
  req.input.model = "gpt-4o";
  // A fresh runtime would allow (a full bucket); the record says the
  // bucket was empty then: the replay denies, as the answer did.
  ChainRuntime::RecordedVerdicts recorded{{"rate", {"rate", "rate_limit", 1, "deny", "rate_limited", ""}}};
  ChainRuntime replay(kDeps);
  auto r = replay.evaluate(f.m.apps(), app, req, &recorded);
  EXPECT_FALSE(r.allow);
  EXPECT_EQ(r.denied_by, "rate");
  EXPECT_EQ(r.policies[1].verdict, "not_evaluated");
  // A stateless policy is never taken from the record: a recorded "allow"
  // of a refused model is derived again as deny.
  recorded = {{"rate", {"rate", "rate_limit", 1, "allow", "within_limit", ""}},
              {"models", {"models", "model_allowlist", 1, "allow", "model_allowed", ""}}};
  req.input.model = "claude-3";
  r = ChainRuntime(kDeps).evaluate(f.m.apps(), app, req, &recorded);
  EXPECT_FALSE(r.allow);
  EXPECT_EQ(r.reason, "model_not_allowed");
  // A record of another version is ignored: the policy is evaluated.
  recorded = {{"rate", {"rate", "rate_limit", 7, "deny", "rate_limited", ""}}};
  req.input.model = "gpt-4o";
  EXPECT_TRUE(ChainRuntime(kDeps).evaluate(f.m.apps(), app, req, &recorded).allow);
}

TEST(AppPolicyChain, TheCacheForgetsDetachedPoliciesAndStaysBounded) {
  Fixture f;
  ASSERT_TRUE(f.run(RegisterApplication{"app-123", "org-acme", "A"}));
  ChainRuntime rt(kDeps);
  const auto& app = *f.m.apps().application("org-acme", "app-123");
  std::size_t most = 0;
  for (int i = 0; i < 300; ++i) {  // attach, evaluate, detach: one live policy at a time
    const std::string id = "p" + std::to_string(i);
    ASSERT_TRUE(f.run(attach(id, "request_size", {{"max_bytes", 100}})));
    EXPECT_TRUE(rt.evaluate(f.m.apps(), app, at_ms(0)).allow);
    ASSERT_TRUE(f.run(DetachPolicy{id, "r"}));
    most = std::max(most, rt.cached());
  }
  EXPECT_LE(most, 2u * 1 + 64 + 1);
  EXPECT_GE(most, 60u);  // pruned lazily, not on every call
}

TEST(AppPolicyChain, DisabledPoliciesDoNotRun) {
  Fixture f;
  ASSERT_TRUE(f.run(RegisterApplication{"app-123", "org-acme", "A"}));
  ASSERT_TRUE(f.run(attach("size", "request_size", {{"max_bytes", 1}})));
  ChainRuntime rt(kDeps);
  auto req = at_ms(0);
  req.input.size_bytes = 10;
  EXPECT_FALSE(rt.evaluate(f.m.apps(), *f.m.apps().application("org-acme", "app-123"), req).allow);
  ASSERT_TRUE(f.run(UpdatePolicy{"size", std::nullopt, false, std::nullopt, "off"}));
  auto r = rt.evaluate(f.m.apps(), *f.m.apps().application("org-acme", "app-123"), req);
  EXPECT_TRUE(r.allow);
  EXPECT_TRUE(r.policies.empty());
}

TEST(AppPolicyChain, TokenLimitJudgesEstimateBeforeAndUsageAfter) {
  Fixture f;
  ASSERT_TRUE(f.run(RegisterApplication{"app-123", "org-acme", "A"}));
  ASSERT_TRUE(f.run(
      attach("tok", "token_limit", {{"max_tokens", 1000}, {"max_tokens_per_window", 1500}, {"window_seconds", 60}})));
  ChainRuntime rt(kDeps);
  const auto& app = *f.m.apps().application("org-acme", "app-123");
  auto pre = at_ms(0);
  pre.input.estimated_tokens = 1200;
  EXPECT_EQ(rt.evaluate(f.m.apps(), app, pre).reason, "token_limit_exceeded");
  pre.input.estimated_tokens = 900;
  EXPECT_TRUE(rt.evaluate(f.m.apps(), app, pre).allow);
  auto post = at_ms(10);
  post.phase = ChainRequest::Phase::kPost;
  post.input.actual_tokens = 950;
  EXPECT_TRUE(rt.evaluate(f.m.apps(), app, post).allow);
  pre.input.estimated_tokens = 600;  // 950 used + 600 > 1500 in this window
  EXPECT_EQ(rt.evaluate(f.m.apps(), app, pre).reason, "token_window_exhausted");
  auto next_window = at_ms(60'000);
  next_window.input.estimated_tokens = 600;
  EXPECT_TRUE(rt.evaluate(f.m.apps(), app, next_window).allow);
  post.input.actual_tokens = 1100;  // reported usage over the per-request limit
  EXPECT_EQ(rt.evaluate(f.m.apps(), app, post).reason, "token_limit_exceeded");
}

TEST(AppPolicyChain, CelPoliciesAndFailuresFailClosed) {
  Fixture f;
  ASSERT_TRUE(f.run(RegisterApplication{"app-123", "org-acme", "A"}));
  ASSERT_TRUE(f.run(attach("cel", "custom_cel",
                           {{"name", "n"}, {"pre_check_expression", "true"}, {"post_check_expression", "boom"}})));
  ChainRuntime rt(kDeps);
  const auto& app = *f.m.apps().application("org-acme", "app-123");
  EXPECT_TRUE(rt.evaluate(f.m.apps(), app, at_ms(0)).allow);
  auto post = at_ms(0);
  post.phase = ChainRequest::Phase::kPost;
  auto r = rt.evaluate(f.m.apps(), app, post);
  EXPECT_FALSE(r.allow);
  EXPECT_EQ(r.reason, "cel_evaluation_failed");
  // A runtime without an engine cannot construct the stored policy: it is
  // reported failed and denies, never skipped.
  ChainRuntime blind({});
  auto failed = blind.evaluate(f.m.apps(), app, at_ms(0));
  EXPECT_FALSE(failed.allow);
  EXPECT_EQ(failed.reason, "policy_failed");
  ASSERT_EQ(failed.policies.size(), 1u);
  EXPECT_EQ(failed.policies[0].verdict, "failed");
  EXPECT_EQ(failed.policies[0].reason, "cel_unavailable");
}

// An engine that fails its first `failures` compiles, then compiles as
// FakeExpressions does: an engine down for a while.
class RecoveringExpressions final : public ExpressionEngine {
 public:
  explicit RecoveringExpressions(int failures) : failures_(failures) {}
  ExpressionCheck check(std::string_view e) const override { return kCel.check(e); }
  Result<std::shared_ptr<const CompiledExpression>> compile(std::string_view e) const override {
    if (failures_.fetch_sub(1) > 0) return fail(ErrorKind::kUnavailable, "cel_unavailable", "the CEL engine failed");
    return kCel.compile(e);
  }

 private:
  mutable std::atomic<int> failures_;
};

TEST(AppPolicyChain, AnEngineFailureFailsClosedForASecondThenThePolicyIsBuiltAgain) {
  Fixture f;
  ASSERT_TRUE(f.run(RegisterApplication{"app-123", "org-acme", "A"}));
  ASSERT_TRUE(f.run(attach("cel", "custom_cel", {{"name", "n"}, {"pre_check_expression", "true"}})));
  const RecoveringExpressions engine(1);  // fails once, then compiles
  std::int64_t now_ms = 5000;
  ChainRuntime rt(PolicyDeps{.expressions = &engine, .replicas = 1}, [&] { return now_ms; });
  const auto& app = *f.m.apps().application("org-acme", "app-123");
  auto down = rt.evaluate(f.m.apps(), app, at_ms(0));
  EXPECT_FALSE(down.allow);
  ASSERT_EQ(down.policies.size(), 1u);
  EXPECT_EQ(down.policies[0].verdict, "failed");
  EXPECT_EQ(down.policies[0].reason, "cel_unavailable");
  // Within the second the failure stands: the engine, back already, is not
  // asked again.
  now_ms += ChainRuntime::kRebuildUnavailableAfterMs - 1;
  EXPECT_EQ(rt.evaluate(f.m.apps(), app, at_ms(0)).policies.at(0).reason, "cel_unavailable");
  // Then the same policy version is built again and allows, and stays.
  now_ms += 1;
  EXPECT_TRUE(rt.evaluate(f.m.apps(), app, at_ms(0)).allow);
  EXPECT_EQ(rt.cached(), 1u);
  now_ms += 10 * ChainRuntime::kRebuildUnavailableAfterMs;
  EXPECT_TRUE(rt.evaluate(f.m.apps(), app, at_ms(0)).allow);
}

TEST(AppPolicyChain, RetiredApplicationDenies) {
  Fixture f;
  ASSERT_TRUE(f.run(RegisterApplication{"app-123", "org-acme", "A"}));
  ASSERT_TRUE(f.run(RetireApplication{"app-123", "org-acme", ""}));
  ChainRuntime rt(kDeps);
  auto r = rt.evaluate(f.m.apps(), *f.m.apps().application("org-acme", "app-123"), at_ms(0));
  EXPECT_FALSE(r.allow);
  EXPECT_EQ(r.reason, "application_retired");
}

TEST(AppPolicyChain, NewVersionIsRebuiltFromItsConfig) {
  Fixture f;
  ASSERT_TRUE(f.run(RegisterApplication{"app-123", "org-acme", "A"}));
  ASSERT_TRUE(f.run(attach("size", "request_size", {{"max_bytes", 10}})));
  ChainRuntime rt(kDeps);
  auto req = at_ms(0);
  req.input.size_bytes = 50;
  EXPECT_FALSE(rt.evaluate(f.m.apps(), *f.m.apps().application("org-acme", "app-123"), req).allow);
  ASSERT_TRUE(f.run(UpdatePolicy{"size", Json{{"max_bytes", 100}}.dump(), std::nullopt, std::nullopt, ""}));
  auto r = rt.evaluate(f.m.apps(), *f.m.apps().application("org-acme", "app-123"), req);
  EXPECT_TRUE(r.allow);
  ASSERT_EQ(r.policies.size(), 1u);
  EXPECT_EQ(r.policies[0].version, 2);
  EXPECT_EQ(rt.cached(), 1u);
}

}  // namespace
}  // namespace ledger::domain::app_policy

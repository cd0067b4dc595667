#include "domain/app_policy/policy_types.h"
#include "domain/text.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace ledger::domain::app_policy {
namespace {

using Json = nlohmann::json;

Error bad_config(std::string_view type, std::string field, std::string message) {
  Error e{ErrorKind::kFailedPrecondition, "invalid_policy_config", std::move(message), {}};
  e.with("policy_type", std::string(type)).with("field", std::move(field));
  return e;
}

// Reads a config object strictly: every field read is known, anything else
// is refused by finish(), so a typo never silently drops a limit.
class ConfigReader {
 public:
  ConfigReader(std::string_view type, const Json& config) : type_(type), config_(config) {}

  std::optional<Error> error;

  std::optional<std::int64_t> integer(const char* name, bool required, std::int64_t minimum) {
    const Json* j = get(name, required);
    if (!j) return std::nullopt;
    if (!j->is_number_integer() || (j->is_number_unsigned() && j->get<std::uint64_t>() > std::uint64_t(INT64_MAX))) {
      fail(name, std::string(name) + " must be an integer");
      return std::nullopt;
    }
    const auto v = j->get<std::int64_t>();
    if (v < minimum) {
      fail(name, std::string(name) + " must be at least " + std::to_string(minimum));
      return std::nullopt;
    }
    return v;
  }
  std::optional<std::string> string(const char* name, bool required, std::size_t max_length) {
    const Json* j = get(name, required);
    if (!j) return std::nullopt;
    if (!j->is_string()) {
      fail(name, std::string(name) + " must be a string");
      return std::nullopt;
    }
    auto s = j->get<std::string>();
    if (required && s.empty()) {
      fail(name, std::string(name) + " must not be empty");
      return std::nullopt;
    }
    if (code_points(s) > max_length) {
      fail(name, std::string(name) + " is longer than " + std::to_string(max_length) + " characters");
      return std::nullopt;
    }
    return s;
  }
  std::optional<std::vector<std::string>> strings(const char* name, std::size_t max_items) {
    const Json* j = get(name, true);
    if (!j) return std::nullopt;
    if (!j->is_array() || j->empty() || j->size() > max_items) {
      fail(name, std::string(name) + " must be an array of 1 to " + std::to_string(max_items) + " strings");
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (std::size_t i = 0; i < j->size(); ++i) {
      const auto& x = (*j)[i];
      if (!x.is_string() || x.get_ref<const std::string&>().empty() ||
          code_points(x.get_ref<const std::string&>()) > 256) {
        fail(std::string(name) + "/" + std::to_string(i), "each entry must be a non-empty string of at most 256 bytes");
        return std::nullopt;
      }
      out.push_back(x.get<std::string>());
    }
    return out;
  }
  // Refuses fields nobody read. Returns the first error, if any.
  std::optional<Error> finish() {
    if (error) return error;
    for (const auto& [k, _] : config_.items()) {
      if (!read_.contains(k)) fail(k, "unknown field '" + k + "'");
      if (error) break;
    }
    return error;
  }
  void fail(const std::string& field, std::string message) {
    if (!error) error = bad_config(type_, "/" + field, std::move(message));
  }

 private:
  const Json* get(const char* name, bool required) {
    read_.insert(name);
    if (error) return nullptr;
    auto it = config_.find(name);
    if (it == config_.end() || it->is_null()) {
      if (required) fail(name, std::string(name) + " is required");
      return nullptr;
    }
    return &*it;
  }

  std::string_view type_;
  const Json& config_;
  std::set<std::string> read_;
};

// ------------------------------------------------------------ rate_limit
//
// A token bucket per (policy, version): it holds at most `burst` requests
// (at least one) and refills at `requests_per_minute`. With several query
// replicas each keeps its own bucket with its share (rate and size divided
// by the replica count, rounded up), so together they admit at most the
// configured rate plus one bucket per replica.
class RateLimit final : public Policy {
 public:
  RateLimit(std::int64_t rpm, std::int64_t burst, std::int64_t replicas)
      : per_ms_(static_cast<double>(rpm) / static_cast<double>(std::max<std::int64_t>(1, replicas)) / 60000.0),
        capacity_(std::ceil(static_cast<double>(std::max<std::int64_t>(1, burst)) /
                            static_cast<double>(std::max<std::int64_t>(1, replicas)))) {}
  bool stateful() const override { return true; }
  Verdict evaluate(const ChainRequest& r, PolicyCounters& c) const override {
    if (r.phase == ChainRequest::Phase::kPost) return {true, "not_applicable", "rate limits count requests before"};
    const std::int64_t now = r.input.time_unix_ms;
    if (c.tokens < 0) {
      c.tokens = capacity_;
      c.refilled_ms = now;
    }
    if (now > c.refilled_ms) {
      c.tokens = std::min(capacity_, c.tokens + static_cast<double>(now - c.refilled_ms) * per_ms_);
      c.refilled_ms = now;
    }
    if (c.tokens < 1.0) return {false, "rate_limited", "over the application's request rate"};
    c.tokens -= 1.0;
    return {true, "within_limit", ""};
  }

 private:
  double per_ms_;
  double capacity_;
};

// ------------------------------------------------------------ token_limit
//
// `max_tokens` bounds one request (its estimate before, what it used after);
// `max_tokens_per_window` bounds what the app reports using within fixed
// windows of `window_seconds` (the post-check adds the actual usage; the
// pre-check refuses an estimate that would not fit what is left).
class TokenLimit final : public Policy {
 public:
  TokenLimit(std::optional<std::int64_t> per_request, std::optional<std::int64_t> per_window, std::int64_t window_s)
      : per_request_(per_request), per_window_(per_window), window_ms_(window_s * 1000) {}
  bool stateful() const override { return per_window_.has_value(); }
  Verdict evaluate(const ChainRequest& r, PolicyCounters& c) const override {
    const bool post = r.phase == ChainRequest::Phase::kPost;
    const std::int64_t tokens = post ? r.input.actual_tokens.value_or(0) : r.input.estimated_tokens;
    if (per_window_) {
      const std::int64_t start = window_ms_ > 0 ? r.input.time_unix_ms - r.input.time_unix_ms % window_ms_ : 0;
      if (c.window_start_ms != start) {
        c.window_start_ms = start;
        c.window_used = 0;
      }
    }
    if (post && per_window_) c.window_used += std::max<std::int64_t>(0, tokens);
    if (per_request_ && tokens > *per_request_) {
      return {false, "token_limit_exceeded",
              std::to_string(tokens) + " tokens over the limit of " + std::to_string(*per_request_)};
    }
    if (per_window_ && !post && c.window_used + tokens > *per_window_) {
      return {false, "token_window_exhausted",
              std::to_string(c.window_used) + " of " + std::to_string(*per_window_) + " tokens used in this window"};
    }
    return {true, "within_limit", ""};
  }

 private:
  std::optional<std::int64_t> per_request_;
  std::optional<std::int64_t> per_window_;
  std::int64_t window_ms_;
};

// --------------------------------------------------------- model_allowlist
class ModelAllowlist final : public Policy {
 public:
  explicit ModelAllowlist(std::vector<std::string> models) : models_(std::move(models)) {}
  Verdict evaluate(const ChainRequest& r, PolicyCounters&) const override {
    for (const auto& m : models_) {
      if (model_matches(m, r.input.model)) return {true, "model_allowed", ""};
    }
    return {false, "model_not_allowed", "model '" + r.input.model + "' is not on the application's allowlist"};
  }

 private:
  std::vector<std::string> models_;
};

// ------------------------------------------------------------ request_size
class RequestSize final : public Policy {
 public:
  explicit RequestSize(std::int64_t max_bytes) : max_bytes_(max_bytes) {}
  Verdict evaluate(const ChainRequest& r, PolicyCounters&) const override {
    if (r.input.size_bytes > max_bytes_) {
      return {false, "request_too_large",
              std::to_string(r.input.size_bytes) + " bytes over the limit of " + std::to_string(max_bytes_)};
    }
    return {true, "within_limit", ""};
  }

 private:
  std::int64_t max_bytes_;
};

// -------------------------------------------------------------- custom_cel
//
// Fails closed: an expression that errs, exceeds its cost limit or is not a
// boolean denies, with the engine's code as the reason.
class CustomCel final : public Policy {
 public:
  CustomCel(std::shared_ptr<const CompiledExpression> pre, std::shared_ptr<const CompiledExpression> post)
      : pre_(std::move(pre)), post_(std::move(post)) {}
  Verdict evaluate(const ChainRequest& r, PolicyCounters&) const override {
    const auto& program = r.phase == ChainRequest::Phase::kPre ? pre_ : post_;
    if (!program) return {true, "not_applicable", "no post-check expression"};
    auto v = program->evaluate(r.input);
    if (!v) return {false, v.error().code, v.error().message};
    if (!*v) return {false, "expression_false", "the expression evaluated to false"};
    return {true, "expression_true", ""};
  }

 private:
  std::shared_ptr<const CompiledExpression> pre_;
  std::shared_ptr<const CompiledExpression> post_;
};

Result<std::shared_ptr<const CompiledExpression>> compile_field(const PolicyDeps& deps, const std::string& text,
                                                                const char* field) {
  if (!deps.expressions) {
    return fail(ErrorKind::kUnavailable, "cel_unavailable", "no CEL engine is available to check the expression");
  }
  auto program = deps.expressions->compile(text);
  // Only an expression that does not check is the config's fault; an
  // engine that failed (kUnavailable, 503) is passed on as it is.
  if (!program && program.error().kind == ErrorKind::kInvalidArgument) {
    Error e = program.error();
    e.kind = ErrorKind::kFailedPrecondition;
    e.code = "invalid_expression";
    e.with("field", std::string("/") + field);
    return std::unexpected(std::move(e));
  }
  return program;
}

Json object_schema(Json properties, std::vector<std::string> required) {
  return Json{{"type", "object"},
              {"properties", std::move(properties)},
              {"required", std::move(required)},
              {"additionalProperties", false}};
}

PolicyTypes make_builtin() {
  PolicyTypes t;
  t.register_type({"rate_limit", "Rate Limit",
                   "Limit requests per minute per application (token bucket of `burst` requests, refilled at "
                   "`requests_per_minute`)",
                   object_schema({{"requests_per_minute", {{"type", "integer"}, {"minimum", 1}}},
                                  {"burst", {{"type", "integer"}, {"minimum", 0}}}},
                                 {"requests_per_minute"}),
                   true},
                  [](const Json& config, const PolicyDeps& deps) -> Result<std::shared_ptr<const Policy>> {
                    ConfigReader r("rate_limit", config);
                    auto rpm = r.integer("requests_per_minute", true, 1);
                    auto burst = r.integer("burst", false, 0);
                    if (auto e = r.finish()) return std::unexpected(*e);
                    return std::make_shared<RateLimit>(*rpm, burst.value_or(0), deps.replicas);
                  });
  t.register_type(
      {"token_limit", "Token Limit",
       "Limit tokens per request (`max_tokens`: the estimate before, the reported usage after) and/or per window "
       "(`max_tokens_per_window` over `window_seconds`)",
       Json{{"type", "object"},
            {"properties",
             {{"max_tokens", {{"type", "integer"}, {"minimum", 1}}},
              {"max_tokens_per_window", {{"type", "integer"}, {"minimum", 1}}},
              {"window_seconds", {{"type", "integer"}, {"minimum", 1}}}}},
            {"anyOf", Json::array({Json{{"required", {"max_tokens"}}},
                                   Json{{"required", {"max_tokens_per_window", "window_seconds"}}}})},
            {"additionalProperties", false}},
       true},
      [](const Json& config, const PolicyDeps&) -> Result<std::shared_ptr<const Policy>> {
        ConfigReader r("token_limit", config);
        auto per_request = r.integer("max_tokens", false, 1);
        auto per_window = r.integer("max_tokens_per_window", false, 1);
        auto window = r.integer("window_seconds", false, 1);
        if (!r.error && per_window && !window)
          r.fail("window_seconds", "window_seconds is required with max_tokens_per_window");
        if (!r.error && window && !per_window)
          r.fail("max_tokens_per_window", "max_tokens_per_window is required with window_seconds");
        if (!r.error && !per_request && !per_window)
          r.fail("max_tokens", "max_tokens or max_tokens_per_window is required");
        if (auto e = r.finish()) return std::unexpected(*e);
        return std::make_shared<TokenLimit>(per_request, per_window, window.value_or(0));
      });
  t.register_type(
      {"model_allowlist", "Model Allowlist", "Allow only the listed models (names or glob patterns with * and ?)",
       object_schema({{"models",
                       {{"type", "array"},
                        {"minItems", 1},
                        {"maxItems", 256},
                        {"items", {{"type", "string"}, {"minLength", 1}, {"maxLength", 256}}}}}},
                     {"models"}),
       true},
      [](const Json& config, const PolicyDeps&) -> Result<std::shared_ptr<const Policy>> {
        ConfigReader r("model_allowlist", config);
        auto models = r.strings("models", 256);
        if (auto e = r.finish()) return std::unexpected(*e);
        return std::make_shared<ModelAllowlist>(std::move(*models));
      });
  t.register_type({"request_size", "Request Size", "Limit the size of a request body in bytes",
                   object_schema({{"max_bytes", {{"type", "integer"}, {"minimum", 1}}}}, {"max_bytes"}), true},
                  [](const Json& config, const PolicyDeps&) -> Result<std::shared_ptr<const Policy>> {
                    ConfigReader r("request_size", config);
                    auto max_bytes = r.integer("max_bytes", true, 1);
                    if (auto e = r.finish()) return std::unexpected(*e);
                    return std::make_shared<RequestSize>(*max_bytes);
                  });
  t.register_type({"custom_cel", "Custom CEL Policy", "Define custom policy logic using CEL expressions",
                   object_schema({{"name", {{"type", "string"}, {"minLength", 1}, {"maxLength", 256}}},
                                  {"description", {{"type", "string"}, {"maxLength", 2048}}},
                                  {"pre_check_expression", {{"type", "string"}, {"minLength", 1}, {"maxLength", 4096}}},
                                  {"post_check_expression", {{"type", "string"}, {"maxLength", 4096}}}},
                                 {"name", "pre_check_expression"}),
                   false},
                  [](const Json& config, const PolicyDeps& deps) -> Result<std::shared_ptr<const Policy>> {
                    ConfigReader r("custom_cel", config);
                    r.string("name", true, 256);
                    r.string("description", false, 2048);
                    auto pre = r.string("pre_check_expression", true, 4096);
                    auto post = r.string("post_check_expression", false, 4096);
                    if (auto e = r.finish()) return std::unexpected(*e);
                    auto pre_program = compile_field(deps, *pre, "pre_check_expression");
                    if (!pre_program) return std::unexpected(pre_program.error());
                    std::shared_ptr<const CompiledExpression> post_program;
                    if (post && !post->empty()) {
                      auto p = compile_field(deps, *post, "post_check_expression");
                      if (!p) return std::unexpected(p.error());
                      post_program = *p;
                    }
                    return std::make_shared<CustomCel>(*pre_program, post_program);
                  });
  return t;
}

}  // namespace

const PolicyTypes& PolicyTypes::builtin() {
  static const PolicyTypes types = make_builtin();
  return types;
}

void PolicyTypes::register_type(PolicyTypeInfo info, PolicyFactory factory) {
  factories_[info.type] = std::move(factory);
  infos_.push_back(std::move(info));
}

Result<std::shared_ptr<const Policy>> PolicyTypes::construct(std::string_view type, const nlohmann::json& config,
                                                             const PolicyDeps& deps) const {
  auto it = factories_.find(std::string(type));
  if (it == factories_.end()) {
    Error e{ErrorKind::kInvalidArgument, "unknown_policy_type", "no policy type '" + std::string(type) + "'", {}};
    e.with("policy_type", std::string(type));
    return std::unexpected(std::move(e));
  }
  if (!config.is_object()) return std::unexpected(bad_config(type, "", "config must be a JSON object"));
  try {
    return it->second(config, deps);
  } catch (const std::exception& ex) {
    return std::unexpected(bad_config(type, "", std::string("config does not construct: ") + ex.what()));
  }
}

bool model_matches(std::string_view pattern, std::string_view model) {
  // Iterative glob with backtracking to the last '*': linear in practice, no recursion.
  std::size_t p = 0, m = 0, star = std::string_view::npos, mark = 0;
  while (m < model.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == model[m])) {
      ++p;
      ++m;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = m;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      m = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace ledger::domain::app_policy

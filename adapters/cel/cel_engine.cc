#include "adapters/cel/cel_engine.h"

#include <pthread.h>

#include <csignal>
#include <string>
#include <utility>

#include "adapters/cel/ledger_cel.h"
#include "domain/text.h"

namespace ledger::adapters::cel {

namespace {

// SIGINT/SIGTERM as the main thread had them before block_before_go ran.
sigset_t shutdown_signals_before_go;

sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// Runs before the Go runtime's own (default-priority) constructor, so the
// runtime's threads start, and stay, with SIGINT and SIGTERM blocked
// (cel_engine.h, "Signals").
__attribute__((constructor(101))) void block_before_go() {
  const sigset_t set = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &set, &shutdown_signals_before_go);
}

using domain::ErrorKind;
using domain::app_policy::CompiledExpression;
using domain::app_policy::EvaluationInput;
using domain::app_policy::ExpressionCheck;
using domain::app_policy::ExpressionIssue;

// Takes ownership of a malloc'd string from the C ABI.
std::string take_string(char* s) {
  if (s == nullptr) return {};
  std::string out(s);
  ledger_cel_string_free(s);
  return out;
}

// Takes ownership of an issue array from the C ABI.
std::vector<ExpressionIssue> take_issues(ledger_cel_issue* issues, std::size_t count) {
  std::vector<ExpressionIssue> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    out.push_back({issues[i].message ? std::string(issues[i].message) : std::string(), issues[i].position});
  }
  ledger_cel_issues_free(issues, count);
  return out;
}

ExpressionIssue too_long(std::size_t n) {
  return {
      "expression is " + std::to_string(n) + " characters long, the limit is " + std::to_string(kMaxExpressionLength),
      static_cast<std::int64_t>(kMaxExpressionLength)};
}

class CelProgram final : public CompiledExpression {
 public:
  explicit CelProgram(std::uint64_t handle) : handle_(handle) {}
  ~CelProgram() override { ledger_cel_program_free(handle_); }
  CelProgram(const CelProgram&) = delete;
  CelProgram& operator=(const CelProgram&) = delete;

  domain::Result<bool> evaluate(const EvaluationInput& in) const override {
    ledger_cel_input c{};
    c.app_id = in.app_id.data();
    c.app_id_len = in.app_id.size();
    c.org_id = in.org_id.data();
    c.org_id_len = in.org_id.size();
    c.actor_id = in.actor_id.data();
    c.actor_id_len = in.actor_id.size();
    c.actor_type = in.actor_type.data();
    c.actor_type_len = in.actor_type.size();
    c.model = in.model.data();
    c.model_len = in.model.size();
    c.time_unix_ms = in.time_unix_ms;
    c.size_bytes = in.size_bytes;
    c.estimated_tokens = in.estimated_tokens;
    c.actual_tokens = in.actual_tokens.value_or(0);
    int result = 0;
    char* message = nullptr;
    const int status = ledger_cel_evaluate(handle_, &c, &result, &message);
    std::string text = take_string(message);
    switch (status) {
      case LEDGER_CEL_OK:
        return result != 0;
      case LEDGER_CEL_COST_EXCEEDED:
        return domain::fail(ErrorKind::kFailedPrecondition, "cel_cost_exceeded",
                            "the expression went over its evaluation cost limit");
      case LEDGER_CEL_EVAL_FAILED: {
        auto e = domain::fail(ErrorKind::kFailedPrecondition, "cel_evaluation_failed",
                              "the expression could not be evaluated: " + text);
        return e;
      }
      default:
        return domain::fail(ErrorKind::kInternal, "cel_unavailable", "the CEL engine failed: " + text);
    }
  }

 private:
  std::uint64_t handle_;
};

}  // namespace

void restore_shutdown_signals() {
  sigset_t unblock;
  sigemptyset(&unblock);
  for (int sig : {SIGINT, SIGTERM}) {
    if (sigismember(&shutdown_signals_before_go, sig) == 0) sigaddset(&unblock, sig);
  }
  pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
}

domain::Result<std::unique_ptr<CelEngine>> CelEngine::create(CelEngineOptions options) {
  char* error = nullptr;
  const std::uint64_t handle = ledger_cel_engine_new(options.cost_limit, &error);
  std::string text = take_string(error);
  if (handle == 0) {
    return domain::fail(ErrorKind::kInternal, "cel_unavailable", "cannot build the CEL environment: " + text);
  }
  return std::unique_ptr<CelEngine>(new CelEngine(handle, options.cost_limit));
}

CelEngine::~CelEngine() { ledger_cel_engine_free(handle_); }

ExpressionCheck CelEngine::check(std::string_view expression) const {
  ExpressionCheck out;
  if (const auto n = domain::code_points(expression); n > kMaxExpressionLength) {
    out.errors.push_back(too_long(n));
    return out;
  }
  ledger_cel_issue* issues = nullptr;
  std::size_t count = 0;
  const int status = ledger_cel_check(handle_, expression.data(), expression.size(), &issues, &count);
  out.errors = take_issues(issues, count);
  if (status != LEDGER_CEL_OK && out.errors.empty()) out.errors.push_back({"the CEL engine failed", -1});
  return out;
}

domain::Result<std::shared_ptr<const CompiledExpression>> CelEngine::compile(std::string_view expression) const {
  std::vector<ExpressionIssue> errors;
  std::uint64_t program = 0;
  int status = LEDGER_CEL_INVALID;
  if (const auto n = domain::code_points(expression); n > kMaxExpressionLength) {
    errors.push_back(too_long(n));
  } else {
    ledger_cel_issue* issues = nullptr;
    std::size_t count = 0;
    status = ledger_cel_compile(handle_, expression.data(), expression.size(), &program, &issues, &count);
    errors = take_issues(issues, count);
  }
  if (status == LEDGER_CEL_OK) return std::make_shared<const CelProgram>(program);
  if (status != LEDGER_CEL_INVALID) {
    return domain::fail(ErrorKind::kUnavailable, "cel_unavailable", "the CEL engine failed");
  }
  domain::Error e{ErrorKind::kInvalidArgument,
                  "invalid_expression",
                  errors.empty() ? "the expression is not valid CEL" : errors.front().message,
                  {}};
  e.with("position", errors.empty() ? -1 : errors.front().position);
  return std::unexpected(std::move(e));
}

}  // namespace ledger::adapters::cel

// The port for custom policy expressions (seed 002's `custom_cel`): check,
// compile and evaluate CEL. Implemented in adapters/cel/ over a real CEL
// implementation (never a hand-written interpreter); unit tests of the chain
// may use a fake.
//
//   auto check = engine.check("estimated_tokens < 5000");       // {valid, errors}
//   auto program = engine.compile("request.model != 'gpt-4-32k'");
//   auto verdict = (*program)->evaluate(input);                   // Result<bool>
//
// Declared variables (every expression is type-checked against exactly these):
//   request           an object with type-checked fields: time (timestamp), model (string),
//                     size_bytes (int), estimated_tokens (int), actual_tokens (int, post-check)
//   estimated_tokens  int        actual_tokens  int (0 before the post-check)
//   model             string     app_id, org_id string
//   actor             an object: id (string), type (string)
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/error.h"

namespace ledger::domain::app_policy {

struct ExpressionIssue {
  std::string message;
  std::int64_t position = -1;  // character offset in the expression, -1 when unknown
};

struct ExpressionCheck {
  std::vector<ExpressionIssue> errors;
  bool valid() const { return errors.empty(); }
};

// The values of the declared variables for one evaluation.
struct EvaluationInput {
  std::string app_id;
  std::string org_id;
  std::string actor_id;
  std::string actor_type;
  std::string model;
  std::int64_t time_unix_ms = 0;
  std::int64_t size_bytes = 0;
  std::int64_t estimated_tokens = 0;
  std::optional<std::int64_t> actual_tokens;  // set for the post-check
};

class CompiledExpression {
 public:
  virtual ~CompiledExpression() = default;
  // The expression's boolean value. Errors (never exceptions):
  // kFailedPrecondition `cel_evaluation_failed` (a runtime error or a
  // non-boolean result) and `cel_cost_exceeded` (over the engine's cost limit).
  virtual Result<bool> evaluate(const EvaluationInput& input) const = 0;
};

class ExpressionEngine {
 public:
  virtual ~ExpressionEngine() = default;
  // Parses and type-checks against the declared variables.
  virtual ExpressionCheck check(std::string_view expression) const = 0;
  // A program ready to evaluate, safe to share between threads; an
  // expression that does not check is kInvalidArgument `invalid_expression`
  // with the first issue's message and `position` evidence; an engine that
  // fails is kUnavailable `cel_unavailable` (the expression may be fine).
  virtual Result<std::shared_ptr<const CompiledExpression>> compile(std::string_view expression) const = 0;
};

}  // namespace ledger::domain::app_policy

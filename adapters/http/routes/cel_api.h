// POST /v1/app-policies/validate-cel on ledger-command (seed 002,
// workflow 2 step 4; issue 14 part 4): compiles and type-checks a custom_cel
// expression against the declared request variables
// (domain/app_policy/expression.h) and says whether it is valid. Writes
// nothing.
//
//   POST /v1/app-policies/validate-cel   {"expression": "estimated_tokens < 5000"}
//   200 {"valid": true, "errors": []}
//   200 {"valid": false, "errors": [{"message": "...", "position": 17}]}
//
// `position` is a character (Unicode code point) offset into the
// expression, -1 when the engine gives none. Refused: 405 for another
// method; 401 without a valid token; 429 over the caller's budget (the
// request gate); 403 `forbidden` when the principal's roles do not allow the
// route family the service wires (the admins': platform_admin, tenant_admin),
// recorded as an AccessRefused event like every refusal; 400
// `malformed_json` (not JSON, or not an object), `invalid_utf8`, `too_deep`,
// `duplicate_key` (commands/decode.h's parse_json_document),
// `missing_field` (no `expression`), `invalid_field` (`expression` is not a
// string), `unknown_field` (any other field, as the command decoders), all
// with evidence `field`; 413 `body_too_large` (over 1 MiB)
// and `expression_too_long` (over adapters/cel's kMaxExpressionLength
// characters, evidence `limit`).
#pragma once

#include <optional>
#include <string_view>

#include "adapters/http/http_types.h"
#include "adapters/identity/identity.h"
#include "adapters/kafka/access_refusals.h"
#include "commands/access/authorization.h"
#include "commands/access/request_gate.h"
#include "domain/app_policy/expression.h"

namespace ledger::routes {

inline constexpr std::string_view kValidateCelPath = "/v1/app-policies/validate-cel";

struct CelApiOptions {
  // Whose roles may call the route and whose rate budget it draws on.
  commands::RouteFamily family;
  commands::RequestGate* gate = nullptr;                 // nullptr: no token-lifetime or rate checks
  adapters::kafka::RefusalRecorder* refusals = nullptr;  // nullptr: refusals are not recorded
};

class CelApi {
 public:
  // `engine`, `auth` and the options' pointers must outlive this object.
  CelApi(const domain::app_policy::ExpressionEngine& engine, const identity::TokenAuthenticator& auth,
         CelApiOptions options)
      : engine_(engine), auth_(auth), options_(options) {}

  // The answer when `req` is this API's route, else nullopt (the service's
  // other routes go on). Thread-safe.
  std::optional<adapters::http::HttpResponse> handle(const adapters::http::HttpRequest& req) const;

 private:
  const domain::app_policy::ExpressionEngine& engine_;
  const identity::TokenAuthenticator& auth_;
  CelApiOptions options_;
};

}  // namespace ledger::routes

#include "adapters/http/routes/cel_api.h"

#include <nlohmann/json.hpp>

#include <string>

#include "adapters/cel/cel_engine.h"
#include "adapters/http/routes/http_json.h"
#include "adapters/http/routes/path_aliases.h"
#include "adapters/http/routes/query_params.h"
#include "commands/decode.h"
#include "commands/edge_values.h"
#include "domain/text.h"

namespace ledger::routes {

using adapters::http::HttpRequest;
using adapters::http::HttpResponse;
using domain::Error;
using domain::ErrorKind;

namespace {

Error field_error(std::string code, std::string message, std::string field = "expression") {
  Error e{ErrorKind::kInvalidArgument, std::move(code), std::move(message), {}};
  e.with("field", std::move(field));
  return e;
}

}  // namespace

std::optional<HttpResponse> CelApi::handle(const HttpRequest& req) const {
  if (req.path != kValidateCelPath) {
    auto canonical = canonical_path(req.path);  // the seed's path (path_aliases.h)
    if (!canonical || *canonical != kValidateCelPath) return std::nullopt;
  }
  auto corr_header = commands::header_id("x-correlation-id", req.header("x-correlation-id"));
  if (!corr_header) return error_response(corr_header.error());
  const std::string& correlation_id = *corr_header;
  // As on every command route: a query parameter is refused, never ignored.
  if (!req.query.empty()) return error_response(unknown_param(req.query.front().first), correlation_id);
  if (req.method != "POST") {
    return method_not_allowed("POST", {}, correlation_id);
  }
  const std::string* auth_header = req.header("authorization");
  auto principal = auth_.authenticate(auth_header ? *auth_header : std::string_view());
  if (!principal) return error_response(principal.error(), correlation_id);
  if (options_.gate) {
    if (auto ok = options_.gate->admit(*principal, options_.family); !ok) {
      return error_response(ok.error(), correlation_id);
    }
  }
  if (auto allowed = commands::authorize(*principal, options_.family); !allowed) {
    if (options_.refusals) {
      options_.refusals->record(adapters::kafka::refusal_of(*principal, principal->tenant, options_.family, "POST",
                                                            std::string(kValidateCelPath), "role_not_allowed"),
                                correlation_id);
    }
    return error_response(allowed.error(), correlation_id);
  }

  auto doc = commands::parse_json_document(req.body);
  if (!doc) return error_response(doc.error(), correlation_id);
  const auto it = doc->find("expression");
  if (it == doc->end() || it->is_null()) {
    return error_response(field_error("missing_field", "field 'expression' is required"), correlation_id);
  }
  if (!it->is_string()) {
    return error_response(field_error("invalid_field", "field 'expression' must be a string"), correlation_id);
  }
  // Any other field is refused as the command decoders refuse it, so a
  // misspelt field is never silently ignored. It comes after the checks of
  // `expression`, so a body that misspells that one still says missing_field.
  if (auto ok = commands::only_fields(*doc, {"expression"}); !ok) return error_response(ok.error(), correlation_id);
  const auto& expression = it->get_ref<const std::string&>();
  if (const auto n = domain::code_points(expression); n > adapters::cel::kMaxExpressionLength) {
    Error e{ErrorKind::kPayloadTooLarge,
            "expression_too_long",
            "the expression is " + std::to_string(n) + " characters long, the limit is " +
                std::to_string(adapters::cel::kMaxExpressionLength),
            {}};
    e.with("field", "expression").with("limit", adapters::cel::kMaxExpressionLength);
    return error_response(e, correlation_id);
  }

  const auto check = engine_.check(expression);
  nlohmann::json errors = nlohmann::json::array();
  for (const auto& issue : check.errors) errors.push_back({{"message", issue.message}, {"position", issue.position}});
  nlohmann::json body = {{"valid", check.valid()}, {"errors", std::move(errors)}};
  return json_response(200, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace ledger::routes

#include "adapters/http/routes/http_json.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "domain/error_json.h"

namespace ledger::routes {

int http_status(domain::ErrorKind k) {
  switch (k) {
    case domain::ErrorKind::kInvalidArgument:
      return 400;
    case domain::ErrorKind::kUnauthenticated:
      return 401;
    case domain::ErrorKind::kPermissionDenied:
      return 403;
    case domain::ErrorKind::kNotFound:
      return 404;
    case domain::ErrorKind::kAborted:
      return 409;
    case domain::ErrorKind::kFailedPrecondition:
      return 422;
    case domain::ErrorKind::kPayloadTooLarge:
      return 413;
    case domain::ErrorKind::kResourceExhausted:
      return 429;
    case domain::ErrorKind::kUnavailable:
      return 503;
    case domain::ErrorKind::kInternal:
      return 500;
  }
  return 500;
}

adapters::http::HttpResponse error_response(const domain::Error& e, const std::string& correlation_id) {
  nlohmann::json body = {{"code", e.code}, {"message", e.message}};
  const bool internal = e.kind == domain::ErrorKind::kInternal || e.kind == domain::ErrorKind::kUnavailable;
  if (!e.evidence.empty()) {
    nlohmann::json ev = domain::evidence_json(e);
    if (internal) {
      spdlog::warn("request failed: code={} evidence={}", e.code,
                   ev.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    } else
      body["evidence"] = std::move(ev);
  }
  if (!correlation_id.empty()) body["correlation_id"] = correlation_id;
  // Never throws: text the edges did not refuse is replaced, not a 500.
  auto r = adapters::http::HttpResponse::json(http_status(e.kind),
                                              body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  // RFC 6750: the scheme a caller must use.
  if (e.kind == domain::ErrorKind::kUnauthenticated)
    r.headers.emplace_back("www-authenticate", R"(Bearer realm="policy-ledger")");
  // One Retry-After: the error's own retry_after_seconds, else 1 s for a
  // dependency that is away.
  std::string retry_after = e.kind == domain::ErrorKind::kUnavailable ? "1" : "";
  if (e.kind == domain::ErrorKind::kUnavailable || e.kind == domain::ErrorKind::kResourceExhausted) {
    if (e.find("retry_after_seconds")) retry_after = e.evidence_text("retry_after_seconds");
  }
  if (!retry_after.empty()) r.headers.emplace_back("retry-after", retry_after);
  return r;
}

adapters::http::HttpResponse json_response(int status, std::string body) {
  return adapters::http::HttpResponse::json(status, std::move(body));
}

adapters::http::HttpResponse method_not_allowed(const std::string& allow, std::string message,
                                                const std::string& correlation_id) {
  if (message.empty()) message = "use " + allow;
  auto r = error_response({domain::ErrorKind::kInvalidArgument, "method_not_allowed", std::move(message), {}},
                          correlation_id);
  r.status = 405;
  r.headers.emplace_back("allow", allow);
  return r;
}

}  // namespace ledger::routes

#include "adapters/http/routes/request_actor.h"

#include <cctype>
#include <string>

#include "adapters/http/correlation.h"
#include "adapters/http/log_context.h"
#include "adapters/http/routes/http_json.h"
#include "commands/edge_values.h"

namespace ledger::routes {
namespace {
thread_local std::string current_actor;
}  // namespace

void begin_request(const adapters::http::HttpRequest& req) {
  current_actor.clear();
  auto corr = commands::header_id("x-correlation-id", req.header("x-correlation-id"));
  adapters::http::set_log_correlation_id(corr ? std::string_view(*corr) : std::string_view());
}

domain::Result<commands::Principal> authenticate_request(const identity::TokenAuthenticator& auth,
                                                         const adapters::http::HttpRequest& req) {
  const std::string* header = req.header("authorization");
  auto principal = auth.authenticate(header ? std::string_view(*header) : std::string_view());
  if (principal) current_actor = principal->tenant + "/" + principal->actor.type + ":" + principal->actor.id;
  return principal;
}

adapters::http::HttpResponse finish(const adapters::http::HttpRequest& req, adapters::http::HttpResponse r) {
  adapters::http::set_log_correlation_id({});
  if (r.actor.empty()) r.actor = current_actor;
  return echo_correlation_id(req, std::move(r));
}

adapters::http::HttpResponse echo_correlation_id(const adapters::http::HttpRequest& req,
                                                 adapters::http::HttpResponse r) {
  adapters::http::echo_correlation_id(r, req.header("x-correlation-id"));
  return r;
}

std::optional<adapters::http::HttpResponse> refuse_media_type(const adapters::http::HttpRequest& req) {
  const std::string* type = req.header("content-type");
  if (req.body.empty() || type == nullptr) return std::nullopt;
  std::string media = type->substr(0, type->find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.pop_back();
  std::size_t start = 0;
  while (start < media.size() && (media[start] == ' ' || media[start] == '\t')) ++start;
  media = media.substr(start);
  for (char& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (media == "application/json") return std::nullopt;
  auto r = error_response(
      {domain::ErrorKind::kInvalidArgument, "unsupported_media_type", "send the body as application/json", {}});
  r.status = 415;
  r.headers.emplace_back("accept", "application/json");
  return r;
}

}  // namespace ledger::routes

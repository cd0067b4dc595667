#include "adapters/http/routes/request_actor.h"

#include <string>

namespace ledger::routes {
namespace {
thread_local std::string current_actor;
}  // namespace

void begin_request() { current_actor.clear(); }

domain::Result<commands::Principal> authenticate_request(const identity::TokenAuthenticator& auth,
                                                         const adapters::http::HttpRequest& req) {
  const std::string* header = req.header("authorization");
  auto principal = auth.authenticate(header ? std::string_view(*header) : std::string_view());
  if (principal) current_actor = principal->tenant + "/" + principal->actor.type + ":" + principal->actor.id;
  return principal;
}

adapters::http::HttpResponse with_actor(adapters::http::HttpResponse r) {
  if (r.actor.empty()) r.actor = current_actor;
  return r;
}

}  // namespace ledger::routes

// Who a request was answered for, for the access log (issue 17 part 4).
//
//   begin_request();                                  // the top-level handler, first
//   auto who = authenticate_request(auth_, req);      // wherever a route authenticates
//   ...
//   return with_actor(std::move(response));           // the top-level handler, last
//
// The principal a route authenticated is kept per thread until the handler
// that began the request stamps its response (HttpResponse::actor, never
// sent on the wire). A handler runs one request at a time on its thread.
#pragma once

#include "adapters/http/http_types.h"
#include "adapters/identity/identity.h"
#include "domain/error.h"

namespace ledger::routes {

void begin_request();
domain::Result<commands::Principal> authenticate_request(const identity::TokenAuthenticator& auth,
                                                         const adapters::http::HttpRequest& req);
// `r` with actor "<tenant>/<actor type>:<actor id>" of the last principal
// authenticated on this thread since begin_request(), if any.
adapters::http::HttpResponse with_actor(adapters::http::HttpResponse r);

}  // namespace ledger::routes

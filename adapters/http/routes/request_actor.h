// What every request of both services gets at the edge (issue 17 parts 3
// and 4): who it was answered for, for the access log; its
// X-Correlation-Id echoed; a body that is not JSON refused.
//
//   if (auto refused = refuse_media_type(req)) return finish(req, std::move(*refused));
//   begin_request(req);                               // the top-level handler, first
//   auto who = authenticate_request(auth_, req);      // wherever a route authenticates
//   ...
//   return finish(req, std::move(response));         // the top-level handler, last
//
// The principal a route authenticated is kept per thread until the handler
// that began the request stamps its response (HttpResponse::actor, never
// sent on the wire). A handler runs one request at a time on its thread.
// From begin_request to finish, the request's X-Correlation-Id (when valid)
// is on every log line the thread writes (adapters/http/log_context.h).
#pragma once

#include <optional>

#include "adapters/http/http_types.h"
#include "adapters/identity/identity.h"
#include "domain/error.h"

namespace ledger::routes {

void begin_request(const adapters::http::HttpRequest& req);
domain::Result<commands::Principal> authenticate_request(const identity::TokenAuthenticator& auth,
                                                         const adapters::http::HttpRequest& req);
// `r` with actor "<tenant>/<actor type>:<actor id>" of the last principal
// authenticated on this thread since begin_request(), if any, and the
// request's X-Correlation-Id (when valid, commands/edge_values.h) as a
// header of its own.
adapters::http::HttpResponse finish(const adapters::http::HttpRequest& req, adapters::http::HttpResponse r);
// `r` with the request's X-Correlation-Id (when valid) as a header, and
// nothing else: the control routes (/healthz, /readyz, /metrics,
// /openapi.json), which authenticate nobody and log no access line.
adapters::http::HttpResponse echo_correlation_id(const adapters::http::HttpRequest& req,
                                                 adapters::http::HttpResponse r);

// 415 `unsupported_media_type` for a request with a body whose Content-Type
// is given and is not application/json (parameters such as charset aside);
// nullopt otherwise. A body without a Content-Type is read as JSON.
std::optional<adapters::http::HttpResponse> refuse_media_type(const adapters::http::HttpRequest& req);

}  // namespace ledger::routes

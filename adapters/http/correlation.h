// The X-Correlation-Id echo: every answer, a route's or the server's own
// (a refused transfer coding, a body over the limit, an undecodable
// target), carries the request's correlation id back when the request gave
// one usable value (commands/edge_values.h header_id: 1 to 128 printable
// bytes). A value that is refused is not repeated.
//
//   echo_correlation_id(response, req.header("x-correlation-id"));
#pragma once

#include <string>

#include "adapters/http/http_types.h"

namespace ledger::adapters::http {

// Adds `x-correlation-id: *value` to `r` unless `r` has one already, `value`
// is null (absent, or given more than once) or empty, or header_id refuses it.
void echo_correlation_id(HttpResponse& r, const std::string* value);

}  // namespace ledger::adapters::http

// The query service's HTTP routes over the read models.
//
//   GET /v1/policy-values/{key}?user_id=&project_id=&org_id=&plan=
//       &as_of=<RFC 3339>&as_of_position=<n>&min_position=<n>&wait_ms=<n>
//   -> 200 {key, value, value_type, source: {level, id}, is_default,
//           effective_at, set_at_position, as_of, snapshot_version}
//
// `min_position` (read-your-writes): if the read model has not reached it,
// the call waits up to `wait_ms` (default 2000, at most 10000), then answers
// 503 `snapshot_not_ready` with Retry-After and the snapshot it has.
// `as_of` defaults to now (the query, not the projector, reads the clock);
// `as_of_position` answers from the rows written up to that position.
// Every answer carries the `snapshot_version` it was computed from.
#pragma once

#include <functional>
#include <string>

#include "adapters/http/http_types.h"
#include "adapters/postgres/read_model_store.h"
#include "commands/identity.h"
#include "commands/ports.h"

namespace ledger::services {

class QueryApi {
 public:
  QueryApi(adapters::postgres::PgPolicyQueries& queries, const commands::TokenAuthenticator& auth,
           commands::Clock& clock)
      : queries_(queries), auth_(auth), clock_(clock) {}

  adapters::http::HttpResponse handle(const adapters::http::HttpRequest& req);

 private:
  adapters::http::HttpResponse policy_value(const adapters::http::HttpRequest& req, const std::string& key);

  adapters::postgres::PgPolicyQueries& queries_;
  const commands::TokenAuthenticator& auth_;
  commands::Clock& clock_;
};

}  // namespace ledger::services

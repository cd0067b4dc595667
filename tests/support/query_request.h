// An HttpRequest as the HTTP server hands it to a query API: the query
// string "a=1&b=2" split into pairs, and the bearer token when given, so
// integration tests can call QueryApi::handle in process. Header-only.
#pragma once

#include <string>
#include <string_view>

#include "adapters/http/http_types.h"

namespace ledger::testing {

inline adapters::http::HttpRequest query_request(std::string method, std::string path, std::string_view query,
                                                 std::string body = {}, const std::string& token = {}) {
  adapters::http::HttpRequest req;
  req.method = std::move(method);
  req.path = std::move(path);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    const auto eq = part.find('=');
    req.query.emplace_back(std::string(part.substr(0, eq)),
                           eq == std::string_view::npos ? std::string() : std::string(part.substr(eq + 1)));
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  }
  if (!token.empty()) req.headers.emplace_back("authorization", "Bearer " + token);
  req.body = std::move(body);
  return req;
}

}  // namespace ledger::testing

#include "adapters/http/http_types.h"

#include <string>

#include "adapters/http/log_context.h"

namespace ledger::adapters::http {
namespace {

const std::string* find_value(const std::vector<std::pair<std::string, std::string>>& pairs, std::string_view key) {
  for (const auto& [k, v] : pairs) {
    if (k == key) return &v;
  }
  return nullptr;
}

}  // namespace

const std::string* HttpRequest::header(std::string_view lower_name) const { return find_value(headers, lower_name); }

std::optional<std::string> HttpRequest::query_param(std::string_view name) const {
  if (const std::string* v = find_value(query, name)) return *v;
  return std::nullopt;
}

HttpResponse HttpResponse::json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

const std::string* HttpResponse::header(std::string_view lower_name) const { return find_value(headers, lower_name); }

}  // namespace ledger::adapters::http

// ------------------------------------------------------------ log_context.h

namespace ledger::adapters::http {
namespace {
thread_local std::string log_correlation;
}  // namespace

void set_log_correlation_id(std::string_view id) { log_correlation.assign(id); }
std::string_view log_correlation_id() { return log_correlation; }

}  // namespace ledger::adapters::http

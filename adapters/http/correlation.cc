#include "adapters/http/correlation.h"

#include "commands/edge_values.h"

namespace ledger::adapters::http {

void echo_correlation_id(HttpResponse& r, const std::string* value) {
  if (value == nullptr || r.header("x-correlation-id") != nullptr) return;
  if (auto corr = commands::header_id("x-correlation-id", value); corr && !corr->empty()) {
    r.headers.emplace_back("x-correlation-id", *corr);
  }
}

}  // namespace ledger::adapters::http

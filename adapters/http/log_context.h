// The request a thread is handling, as its log lines name it (issue 17
// part 3: the correlation id on every log line of a request). The route
// edge sets it when a request begins and clears it when it is answered
// (adapters/http/routes/request_actor.h); the services' log format writes
// it as a "correlation_id" field of each line (services/common/settings.cc).
// Per thread; a value is a validated header (commands/edge_values.h), so it
// needs no escaping beyond what a JSON string needs.
#pragma once

#include <string_view>

namespace ledger::adapters::http {

void set_log_correlation_id(std::string_view id);
// "" when this thread is handling no request (or one without an id).
std::string_view log_correlation_id();

}  // namespace ledger::adapters::http

// JSON answers of the HTTP edge: accepted outcomes and errors.
//
// An error answers `{"code", "message", "evidence"?}` with the status its kind
// maps to. Evidence is included for rule violations and conflicts (operators
// and callers need the failing rule or scope); for internal and dependency
// errors it is logged, never returned, so no database detail leaks.
#pragma once

#include "adapters/http/http_types.h"
#include "domain/error.h"

namespace ledger::routes {

// The HTTP status of an error kind (the table in domain/error.h's comments):
// the domain names what went wrong, only the HTTP edge knows status codes.
int http_status(domain::ErrorKind k);

adapters::http::HttpResponse error_response(const domain::Error& e, const std::string& correlation_id = {});
adapters::http::HttpResponse json_response(int status, std::string body);
// 405 `method_not_allowed` with `Allow: <allow>` (RFC 9110 15.5.6); the
// message says "use <allow>" unless given.
adapters::http::HttpResponse method_not_allowed(const std::string& allow, std::string message = {},
                                                const std::string& correlation_id = {});

}  // namespace ledger::routes

// The services' published contract (issue 17 part 2): each service's OpenAPI
// 3.1 document, as GET /openapi.json answers it.
//
//   HttpResponse r = openapi_response(ApiDocument::kQuery);   // 200 application/json
//
// The documents are checked in under adapters/http/openapi/ and compiled in.
// The command service's document names each command body as
// `#/components/schemas/command.<type>`; those components are the checked-in
// JSON Schemas of commands/schemas/ (the same schemas the AsyncAPI document
// of adapters/kafka/ names for Kafka records), composed in once, on first use:
// `$id` and `$schema` dropped, and every `$ref` rewritten to point inside
// the document (`common.json#/definitions/x` becomes
// `#/components/schemas/command.common/definitions/x`).
#pragma once

#include <string>

#include "adapters/http/http_types.h"

namespace ledger::routes {

enum class ApiDocument { kCommand, kQuery };

// The composed document as JSON text. Throws std::runtime_error when a
// compiled-in document does not parse (a build from a broken checkout).
const std::string& openapi_document(ApiDocument which);

// 200 with openapi_document(which); 405 (`Allow: GET`) for another method.
adapters::http::HttpResponse openapi_response(ApiDocument which, const adapters::http::HttpRequest& req);

}  // namespace ledger::routes

// Internal to adapters/http: a whole (not streamed) answer as the bytes the
// server writes, built straight into two strings rather than through Beast's
// message and serializer (whose field list and buffer sequences were ~5% of
// ledger-query's CPU per decision). The bytes are those Beast's serializer
// writes for the same answer (tests/unit/http_response_wire_test.cc holds
// them to it).
#pragma once

#include <string>
#include <string_view>

#include "adapters/http/http_types.h"

namespace ledger::adapters::http::detail {

// ASCII lower case; other bytes unchanged.
std::string lower(std::string_view s);
// Whether `s` holds a CR or an LF: no header field name or value may.
bool has_crlf(std::string_view s);

// The Server field of every answer, whole or streamed.
inline constexpr std::string_view kServerName = "policy-ledger";

// Whether a handler's field can be written at all: a name, and no CR or LF
// in the name or the value.
bool valid_field(std::string_view name, std::string_view value);
// Whether a field name (any case) is one the server sets itself and a
// handler's copy is dropped: Connection, Content-Length, Transfer-Encoding.
bool framing_field(std::string_view name);

struct WireResponse {
  std::string head;  // status line and header fields, through the empty line
  std::string body;  // empty for HEAD, whose Content-Length is what GET sends
};

// The answer to a request of HTTP `version` (10 for 1.0, 11 for 1.1), for
// a status of 200..999 (the caller answers 500 otherwise). The fields, in
// order: Server; Content-Type when set (and without CR or LF); the handler's
// fields as given, except those with an empty name, a CR or LF anywhere, or
// the names Connection, Content-Length and Transfer-Encoding (framing is the
// server's); Connection: close when the connection closes after it (HTTP/1.1),
// or Connection: keep-alive when it stays open (HTTP/1.0); Content-Length.
// Values go without the spaces and tabs around them; a field name or value
// over 64 KiB throws std::length_error (as Beast's fields do). `close` is
// in/out: true when the request asked for it, set when the handler's
// fields hold "connection: close". 204 and 304 carry no body.
WireResponse to_wire(HttpResponse in, unsigned version, bool head, bool& close);

}  // namespace ledger::adapters::http::detail

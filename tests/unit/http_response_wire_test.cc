// A whole answer is written without Beast's message and serializer
// (adapters/http/response_wire.h): whatever a handler returns, the bytes
// must be those Beast's serializer writes for the same answer, built as the
// server built it before.
// As adapters/ compiles Beast (adapters/CMakeLists.txt): the same layout of
// Beast's types in every object of the binary.
#define BOOST_BEAST_USE_STD_STRING_VIEW

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>
#include <sstream>
#include <string>
#include <utility>

#include "adapters/http/response_wire.h"

namespace ledger::adapters::http {
namespace {

namespace bhttp = boost::beast::http;

// The answer as Beast wrote it: a message, keep_alive, prepare_payload.
std::string beast_bytes(HttpResponse in, unsigned version, bool head, bool& close) {
  bhttp::response<bhttp::string_body> res{bhttp::status::ok, version};
  res.result(static_cast<unsigned>(in.status));
  res.set(bhttp::field::server, "policy-ledger");
  if (!in.content_type.empty() && !detail::has_crlf(in.content_type)) {
    res.set(bhttp::field::content_type, in.content_type);
  }
  for (const auto& [name, value] : in.headers) {
    if (name.empty() || detail::has_crlf(name) || detail::has_crlf(value)) continue;
    const std::string key = detail::lower(name);
    if (key == "connection") {
      if (boost::beast::iequals(value, "close")) close = true;
      continue;
    }
    if (key == "content-length" || key == "transfer-encoding") continue;
    res.insert(name, value);
  }
  res.keep_alive(!close);
  if (in.status == 204 || in.status == 304) in.body.clear();
  res.body() = std::move(in.body);
  res.prepare_payload();
  if (head) res.body().clear();
  std::ostringstream os;
  os << res;
  return os.str();
}

std::string field_text() {
  return *rc::gen::oneOf(rc::gen::container<std::string>(rc::gen::inRange<char>(0x20, 0x7f)),
                         rc::gen::arbitrary<std::string>(),
                         rc::gen::element<std::string>("", "close", "Close", "keep-alive", "a\rb", "x\n", " padded ",
                                                       "\tx\t ", "\xc3\xa9", "application/json"));
}

std::string field_name() {
  return *rc::gen::oneOf(
      rc::gen::element<std::string>("Connection", "connection", "CONNECTION", "Content-Length", "content-length",
                                    "Transfer-Encoding", "transfer-encoding", "x-correlation-id", "X-Snapshot-Version",
                                    "Server", "Content-Type", "Cache-Control", "", "bad\r\nname", "Retry-After"),
      rc::gen::container<std::string>(rc::gen::inRange<char>(0x21, 0x7f)));
}

RC_GTEST_PROP(HttpResponseWire, TheBytesAreWhatBeastsSerializerWrote, ()) {
  HttpResponse in;
  in.status =
      *rc::gen::oneOf(rc::gen::element(200, 201, 202, 204, 304, 400, 401, 403, 404, 409, 413, 422, 429, 500, 503),
                      rc::gen::inRange(200, 1000));
  in.content_type = *rc::gen::arbitrary<bool>()
                        ? *rc::gen::element<std::string>("application/json", "", "a\r\nb", "text/plain; charset=utf-8")
                        : field_text();
  const auto count = *rc::gen::inRange<std::size_t>(0, 8);
  for (std::size_t i = 0; i < count; ++i) in.headers.emplace_back(field_name(), field_text());
  in.body = *rc::gen::oneOf(rc::gen::arbitrary<std::string>(), rc::gen::just(std::string()),
                            rc::gen::just(std::string(R"({"decision":"allow"})")));
  in.actor = *rc::gen::element<std::string>("", "org-acme/service:billing");
  const unsigned version = *rc::gen::element(10u, 11u);
  const bool head = *rc::gen::arbitrary<bool>();
  const bool asked_close = *rc::gen::arbitrary<bool>();

  bool close_beast = asked_close;
  const std::string expected = beast_bytes(in, version, head, close_beast);
  bool close_wire = asked_close;
  const detail::WireResponse wire = detail::to_wire(in, version, head, close_wire);
  RC_ASSERT(wire.head + wire.body == expected);
  RC_ASSERT(close_wire == close_beast);
  RC_ASSERT(wire.head.ends_with("\r\n\r\n"));
  RC_ASSERT(wire.head.find("\r\n\r\n") == wire.head.size() - 4);  // no field ends the head early
}

TEST(HttpResponseWire, AnswersAsTheClientExpects) {
  HttpResponse in = HttpResponse::json(200, R"({"decision":"allow"})");
  in.headers = {{"x-correlation-id", "c-1"}, {"Content-Length", "999"}, {"connection", "Close"}};
  bool close = false;
  const auto wire = detail::to_wire(in, 11, false, close);
  EXPECT_TRUE(close);
  EXPECT_EQ(wire.head,
            "HTTP/1.1 200 OK\r\nServer: policy-ledger\r\nContent-Type: application/json\r\n"
            "x-correlation-id: c-1\r\nConnection: close\r\nContent-Length: 20\r\n\r\n");
  EXPECT_EQ(wire.body, R"({"decision":"allow"})");

  bool keep = false;
  const auto head = detail::to_wire(HttpResponse::json(404, "{}"), 10, true, keep);
  EXPECT_FALSE(keep);
  EXPECT_EQ(head.head,
            "HTTP/1.0 404 Not Found\r\nServer: policy-ledger\r\nContent-Type: application/json\r\n"
            "Connection: keep-alive\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(head.body, "");
}

}  // namespace
}  // namespace ledger::adapters::http

// The HTTP server's refusals of hostile framing and targets (issue 10, item
// 12): a Transfer-Encoding other than exactly `chunked` and a path or query
// that is not UTF-8 text once percent-decoded are 400, and the handler never
// sees them. Real loopback sockets; ports chosen by the OS.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <string>
#include <vector>

#include "adapters/http/server.h"

namespace ledger::adapters::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

struct CountingServer {
  CountingServer()
      : server({}, [this](const HttpRequest& req) {
          calls.fetch_add(1);
          return HttpResponse::json(200, R"({"body_size":)" + std::to_string(req.body.size()) + "}");
        }) {
    auto started = server.start();
    EXPECT_TRUE(started.has_value());
  }
  std::atomic<int> calls{0};
  HttpServer server;
};

// Sends `request` on a fresh connection and reads until the server closes.
std::string exchange(std::uint16_t port, const std::string& request) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  net::write(socket, net::buffer(request));
  std::string data;
  boost::system::error_code ec;
  net::read(socket, net::dynamic_buffer(data), ec);
  return data;
}

std::string chunked_post(const std::string& te_lines) {
  return "POST /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + te_lines + "\r\n2\r\n{}\r\n0\r\n\r\n";
}

TEST(HttpEdges, TransferEncodingOtherThanExactlyChunkedIs400BeforeTheHandler) {
  CountingServer s;
  for (const std::string& te :
       std::vector<std::string>{"Transfer-Encoding: gzip, chunked\r\n", "Transfer-Encoding: identity, chunked\r\n",
                                "Transfer-Encoding: chunked, chunked\r\n", "Transfer-Encoding: xchunked\r\n",
                                "Transfer-Encoding: identity\r\n", "Transfer-Encoding: chunked;q=1\r\n"}) {
    const std::string data = exchange(s.server.port(), chunked_post(te));
    EXPECT_EQ(data.rfind("HTTP/1.1 400", 0), 0u) << te << data;
    EXPECT_NE(data.find("invalid_transfer_encoding"), std::string::npos) << te << data;
  }
  // Two fields: Beast's parser refuses them itself.
  const std::string twice =
      exchange(s.server.port(), chunked_post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"));
  EXPECT_EQ(twice.rfind("HTTP/1.1 400", 0), 0u) << twice;
  EXPECT_EQ(s.calls.load(), 0);
}

TEST(HttpEdges, ExactlyChunkedInAnyCaseStillWorks) {
  CountingServer s;
  for (const std::string& te :
       std::vector<std::string>{"Transfer-Encoding: chunked\r\n", "Transfer-Encoding: CHUNKED \r\n"}) {
    const std::string data = exchange(s.server.port(), chunked_post(te));
    EXPECT_EQ(data.rfind("HTTP/1.1 200", 0), 0u) << te << data;
    EXPECT_NE(data.find(R"({"body_size":2})"), std::string::npos) << data;
  }
  EXPECT_EQ(s.calls.load(), 2);
}

TEST(HttpEdges, UndecodablePathsAndQueriesAre400BeforeTheHandler) {
  CountingServer s;
  for (const std::string& target : std::vector<std::string>{"/v1/views/projects/%ff", "/a%c0%af", "/a%ed%a0%80",
                                                            "/nul%00", "/tab%09", "/a%e2%82"}) {
    const std::string data =
        exchange(s.server.port(), "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(data.rfind("HTTP/1.1 400", 0), 0u) << target << data;
    EXPECT_NE(data.find("invalid_path_encoding"), std::string::npos) << target << data;
  }
  for (const std::string& target : std::vector<std::string>{"/q?a=%ff", "/q?%fe=1", "/q?a=x%00y"}) {
    const std::string data =
        exchange(s.server.port(), "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(data.rfind("HTTP/1.1 400", 0), 0u) << target << data;
    EXPECT_NE(data.find("invalid_query_encoding"), std::string::npos) << target << data;
  }
  EXPECT_EQ(s.calls.load(), 0);
  // The refusal echoes a usable X-Correlation-Id, and only a usable one.
  const std::string echoed = exchange(
      s.server.port(), "GET /nul%00 HTTP/1.1\r\nHost: x\r\nX-Correlation-Id: edge-1\r\nConnection: close\r\n\r\n");
  EXPECT_NE(echoed.find("edge-1"), std::string::npos) << echoed;
  const std::string too_long(200, 'u');  // over kMaxEdgeIdBytes
  const std::string unusable =
      exchange(s.server.port(),
               "GET /nul%00 HTTP/1.1\r\nHost: x\r\nX-Correlation-Id: " + too_long + "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(unusable.rfind("HTTP/1.1 400", 0), 0u) << unusable;
  EXPECT_EQ(unusable.find(too_long), std::string::npos) << unusable;
  // UTF-8 text, percent-encoded or not, still reaches the handler.
  const std::string ok =
      exchange(s.server.port(), "GET /caf%C3%A9?name=J%C3%BCrgen+M HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  EXPECT_EQ(s.calls.load(), 1);
}

}  // namespace
// The answers the server gives from a header alone — a body over the limit
// (declared or streamed) and a refused transfer coding — echo a usable
// X-Correlation-Id like every route's; two values or an unusable one are not
// echoed.
TEST(HttpEdges, HeaderOnlyRefusalsEchoTheCorrelationId) {
  CountingServer s;
  const std::string big(1024 * 1024 + 1, 'x');
  const std::string declared = exchange(s.server.port(),
                                        "POST /c HTTP/1.1\r\nHost: x\r\nX-Correlation-Id: edge-413\r\n"
                                        "Content-Length: " +
                                            std::to_string(big.size()) + "\r\nConnection: close\r\n\r\n" + big);
  EXPECT_EQ(declared.rfind("HTTP/1.1 413", 0), 0u) << declared.substr(0, 300);
  EXPECT_NE(declared.find("x-correlation-id: edge-413"), std::string::npos) << declared.substr(0, 300);
  std::string chunks;
  for (int i = 0; i < 17; ++i) chunks += "10000\r\n" + std::string(0x10000, 'y') + "\r\n";
  const std::string streamed = exchange(s.server.port(),
                                        "POST /c HTTP/1.1\r\nHost: x\r\nX-Correlation-Id: edge-chunk\r\n"
                                        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
                                            chunks + "0\r\n\r\n");
  EXPECT_EQ(streamed.rfind("HTTP/1.1 413", 0), 0u) << streamed.substr(0, 300);
  EXPECT_NE(streamed.find("x-correlation-id: edge-chunk"), std::string::npos) << streamed.substr(0, 300);
  const std::string coding =
      exchange(s.server.port(), chunked_post("X-Correlation-Id: edge-te\r\nTransfer-Encoding: gzip, chunked\r\n"));
  EXPECT_EQ(coding.rfind("HTTP/1.1 400", 0), 0u) << coding;
  EXPECT_NE(coding.find("x-correlation-id: edge-te"), std::string::npos) << coding;
  const std::string twice = exchange(s.server.port(), chunked_post("X-Correlation-Id: a-1\r\nX-Correlation-Id: a-2\r\n"
                                                                   "Transfer-Encoding: gzip\r\n"));
  EXPECT_EQ(twice.rfind("HTTP/1.1 400", 0), 0u) << twice;
  EXPECT_EQ(twice.find("a-1"), std::string::npos) << twice;
  const std::string control = exchange(s.server.port(), chunked_post("X-Correlation-Id: a\x01z\r\n"
                                                                     "Transfer-Encoding: gzip\r\n"));
  EXPECT_EQ(control.find("a\x01z"), std::string::npos) << control;
  EXPECT_EQ(s.calls.load(), 0);
}

}  // namespace ledger::adapters::http

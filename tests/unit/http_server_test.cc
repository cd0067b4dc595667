// HttpServer and HttpClient over real loopback sockets (ports chosen by the
// OS), plus the pure target helpers. Raw Boost.Asio sockets stand in for
// misbehaving peers.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "adapters/http/client.h"
#include "adapters/http/server.h"
#include "adapters/http/target.h"

namespace ledger::adapters::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;

// Echoes what the server parsed, so tests can check it from the client side.
HttpResponse echo(const HttpRequest& req) {
  json query = json::array();
  for (const auto& [k, v] : req.query) query.push_back({k, v});
  const std::string* test_header = req.header("x-test");
  json out = {
      {"method", req.method},
      {"target", req.target},
      {"path", req.path},
      {"query", query},
      {"x_test", test_header ? json(*test_header) : json(nullptr)},
      {"body_size", req.body.size()},
      {"remote", req.remote_address},
  };
  return HttpResponse::json(200, out.dump());
}

// A started server counting handler calls; fails the test if it cannot start.
struct EchoServer {
  explicit EchoServer(HttpServer::Options options = {})
      : server(std::move(options), [this](const HttpRequest& req) {
          calls.fetch_add(1);
          return echo(req);
        }) {
    auto started = server.start();
    EXPECT_TRUE(started.has_value()) << (started ? "" : started.error().code);
  }
  std::atomic<int> calls{0};
  HttpServer server;
};

// Reads from a raw socket until the peer closes its sending side.
std::string read_to_eof(tcp::socket& socket) {
  std::string data;
  boost::system::error_code ec;
  net::read(socket, net::dynamic_buffer(data), ec);
  EXPECT_EQ(ec, net::error::eof) << ec.message();
  return data;
}

TEST(HttpTarget, SplitsAndDecodesPathAndQuery) {
  const ParsedTarget t = parse_target("/scopes/a%20b%2Fc?name=J%C3%BCrgen+M&&flag&x=%26%3D#frag");
  EXPECT_EQ(t.path, "/scopes/a b/c");
  ASSERT_EQ(t.query.size(), 3u);
  EXPECT_EQ(t.query[0], (std::pair<std::string, std::string>{"name", "J\xC3\xBCrgen M"}));
  EXPECT_EQ(t.query[1], (std::pair<std::string, std::string>{"flag", ""}));
  EXPECT_EQ(t.query[2], (std::pair<std::string, std::string>{"x", "&="}));
}

TEST(HttpTarget, KeepsInvalidPercentSequencesAndPlusInPath) {
  EXPECT_EQ(percent_decode("a%zzb%4", false), "a%zzb%4");
  EXPECT_EQ(percent_decode("%", false), "%");
  EXPECT_EQ(parse_target("/a+b").path, "/a+b");
  EXPECT_EQ(percent_decode("a+b", true), "a b");
}

TEST(HttpTarget, UrlEncodeRoundTrips) {
  const std::string raw = "a b/c?d=e&f+g~h.i_j-k\xC3\xBC";
  EXPECT_EQ(url_encode("a b/c"), "a%20b%2Fc");
  EXPECT_EQ(url_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(percent_decode(url_encode(raw), true), raw);
}

TEST(HttpServer, EchoesMethodPathQueryAndHeader) {
  EchoServer s;
  ASSERT_NE(s.server.port(), 0);
  HttpClient client("127.0.0.1", s.server.port());

  auto res = client.request("POST", "/v1/echo?a=1&b=two", R"({"k":1})", {{"X-Test", "hello"}});
  ASSERT_TRUE(res.has_value()) << res.error().code;
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->content_type, "application/json");
  ASSERT_NE(res->header("server"), nullptr);
  EXPECT_EQ(*res->header("server"), "policy-ledger");
  ASSERT_NE(res->header("content-length"), nullptr);
  EXPECT_EQ(*res->header("content-length"), std::to_string(res->body.size()));

  const json body = json::parse(res->body);
  EXPECT_EQ(body["method"], "POST");
  EXPECT_EQ(body["target"], "/v1/echo?a=1&b=two");
  EXPECT_EQ(body["path"], "/v1/echo");
  EXPECT_EQ(body["query"], json::parse(R"([["a","1"],["b","two"]])"));
  EXPECT_EQ(body["x_test"], "hello");
  EXPECT_EQ(body["body_size"], 7);
  EXPECT_EQ(body["remote"], "127.0.0.1");
  EXPECT_EQ(s.calls.load(), 1);
}

TEST(HttpServer, PercentDecodesPathAndQuery) {
  EchoServer s;
  HttpClient client("127.0.0.1", s.server.port());
  const std::string target = "/v1/scopes/" + url_encode("team a/b") + "?name=J%C3%BCrgen+M&q=" + url_encode("x&y=z");
  auto res = client.request("GET", target);
  ASSERT_TRUE(res.has_value()) << res.error().code;
  const json body = json::parse(res->body);
  EXPECT_EQ(body["target"], target);
  EXPECT_EQ(body["path"], "/v1/scopes/team a/b");
  EXPECT_EQ(body["query"], json::parse(R"([["name","J\u00fcrgen M"],["q","x&y=z"]])"));
}

TEST(HttpClient, KeepAliveServesTwoHundredRequests) {
  EchoServer s;
  HttpClient client("127.0.0.1", s.server.port());
  for (int i = 0; i < 200; ++i) {
    auto res = client.request("GET", "/n?i=" + std::to_string(i));
    ASSERT_TRUE(res.has_value()) << i << ": " << res.error().code;
    ASSERT_EQ(res->status, 200);
    ASSERT_EQ(json::parse(res->body)["query"][0][1], std::to_string(i));
    ASSERT_EQ(res->header("connection"), nullptr);  // no "close"
  }
  EXPECT_EQ(s.calls.load(), 200);
}

TEST(HttpClient, ReusesOneConnectionForAllRequests) {
  // A hand-written peer that accepts exactly one connection and answers 200
  // requests on it: a client opening a second connection would not be served.
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  const std::uint16_t port = acceptor.local_endpoint().port();
  std::promise<int> served;
  std::thread peer([&] {
    tcp::socket socket(ioc);
    acceptor.accept(socket);
    acceptor.close();  // a second connection is refused
    net::streambuf buf;
    int n = 0;
    boost::system::error_code ec;
    for (; n < 200; ++n) {
      const std::size_t header = net::read_until(socket, buf, "\r\n\r\n", ec);
      if (ec) break;
      buf.consume(header);  // GET requests: no body
      const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
      net::write(socket, net::buffer(reply), ec);
      if (ec) break;
    }
    served.set_value(n);
  });

  HttpClient client("127.0.0.1", port);
  int ok = 0;
  for (int i = 0; i < 200; ++i) {
    auto res = client.request("GET", "/ping");
    if (res && res->status == 200 && res->body == "ok") ++ok;
  }
  peer.join();
  EXPECT_EQ(ok, 200);
  EXPECT_EQ(served.get_future().get(), 200);
}

TEST(HttpServer, AnswersPipelinedRequestsOnOneRawConnection) {
  EchoServer s;
  net::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), s.server.port()));
  const std::string one = "GET /one HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string two = "GET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  net::write(socket, net::buffer(one + two));
  const std::string data = read_to_eof(socket);
  const auto first = data.find("\"path\":\"/one\"");
  const auto second = data.find("\"path\":\"/two\"");
  EXPECT_NE(first, std::string::npos) << data;
  EXPECT_NE(second, std::string::npos) << data;
  EXPECT_LT(first, second);
  EXPECT_EQ(s.calls.load(), 2);
}

TEST(HttpServer, RejectsBodyOverLimitWith413WithoutCallingHandler) {
  EchoServer s;
  HttpClient client("127.0.0.1", s.server.port());

  const std::string too_big((1u << 20) + 1, 'x');
  auto res = client.request("POST", "/upload", too_big);
  ASSERT_TRUE(res.has_value()) << res.error().code;
  EXPECT_EQ(res->status, 413);
  const json body = json::parse(res->body);
  EXPECT_EQ(body["code"], "body_too_large");
  EXPECT_EQ(body["message"], "request body exceeds 1 MiB");
  ASSERT_NE(res->header("connection"), nullptr);
  EXPECT_EQ(*res->header("connection"), "close");
  EXPECT_EQ(s.calls.load(), 0);

  // Exactly the limit is fine, on a fresh connection.
  auto at_limit = client.request("POST", "/upload", std::string(1u << 20, 'x'));
  ASSERT_TRUE(at_limit.has_value()) << at_limit.error().code;
  EXPECT_EQ(at_limit->status, 200);
  EXPECT_EQ(json::parse(at_limit->body)["body_size"], 1u << 20);
  EXPECT_EQ(s.calls.load(), 1);
}

TEST(HttpServer, RejectsChunkedBodyOverLimit) {
  EchoServer s({.body_limit = 1000});
  net::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), s.server.port()));
  const std::string chunk(600, 'x');
  const std::string request = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n" + chunk +
                              "\r\n258\r\n" + chunk + "\r\n0\r\n\r\n";
  net::write(socket, net::buffer(request));
  const std::string data = read_to_eof(socket);
  EXPECT_EQ(data.rfind("HTTP/1.1 413", 0), 0u) << data;
  EXPECT_NE(data.find("request body exceeds 1000 bytes"), std::string::npos) << data;
  EXPECT_EQ(s.calls.load(), 0);
}

TEST(HttpServer, AnswersGarbageWith400AndCloses) {
  EchoServer s;
  net::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), s.server.port()));
  const std::string garbage = "\x01\x02\x03 not http at all \xff\r\n\r\n";
  net::write(socket, net::buffer(garbage));
  const std::string data = read_to_eof(socket);
  EXPECT_EQ(data.rfind("HTTP/1.1 400", 0), 0u) << data;
  EXPECT_NE(data.find("malformed_request"), std::string::npos) << data;
  EXPECT_NE(data.find("Server: policy-ledger"), std::string::npos) << data;
  EXPECT_EQ(s.calls.load(), 0);
}

TEST(HttpServer, HandlerExceptionBecomes500) {
  HttpServer server({}, [](const HttpRequest& req) -> HttpResponse {
    if (req.path == "/boom") throw std::runtime_error("kaboom");
    return HttpResponse::json(200, "{}");
  });
  ASSERT_TRUE(server.start().has_value());
  HttpClient client("127.0.0.1", server.port());
  auto res = client.request("GET", "/boom");
  ASSERT_TRUE(res.has_value()) << res.error().code;
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(json::parse(res->body), json::parse(R"({"code":"internal","message":"internal error"})"));
  // The connection survives.
  auto ok = client.request("GET", "/fine");
  ASSERT_TRUE(ok.has_value()) << ok.error().code;
  EXPECT_EQ(ok->status, 200);
}

TEST(HttpServer, PassesHandlerStatusAndHeaders) {
  HttpServer server({}, [](const HttpRequest&) {
    HttpResponse r;
    r.status = 201;
    r.content_type = "text/plain";
    r.body = "made";
    r.headers = {{"Location", "/v1/things/1"}};
    return r;
  });
  ASSERT_TRUE(server.start().has_value());
  HttpClient client("127.0.0.1", server.port());
  auto res = client.request("PUT", "/v1/things/1", "x");
  ASSERT_TRUE(res.has_value()) << res.error().code;
  EXPECT_EQ(res->status, 201);
  EXPECT_EQ(res->content_type, "text/plain");
  EXPECT_EQ(res->body, "made");
  ASSERT_NE(res->header("location"), nullptr);
  EXPECT_EQ(*res->header("location"), "/v1/things/1");
}

TEST(HttpServer, ServesConcurrentClients) {
  EchoServer s;
  constexpr int kThreads = 8;
  constexpr int kRequests = 200;
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      HttpClient client("127.0.0.1", s.server.port());
      for (int i = 0; i < kRequests; ++i) {
        const std::string id = std::to_string(t) + "-" + std::to_string(i);
        auto res = client.request("POST", "/c?id=" + id, "{}");
        if (res && res->status == 200 && json::parse(res->body)["query"][0][1] == id) answered.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(answered.load(), kThreads * kRequests);
  EXPECT_EQ(s.calls.load(), kThreads * kRequests);
}

TEST(HttpServer, StopWithConnectedClientsReturnsPromptly) {
  auto s = std::make_unique<EchoServer>();  // idle_timeout 30 s
  const std::uint16_t port = s->server.port();
  std::vector<HttpClient> clients;
  for (int i = 0; i < 16; ++i) {
    clients.emplace_back("127.0.0.1", port);
    auto res = clients.back().request("GET", "/warm");
    ASSERT_TRUE(res.has_value()) << res.error().code;
  }
  // One more peer stalled in the middle of a request header.
  net::io_context ioc;
  tcp::socket stalled(ioc);
  stalled.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  net::write(stalled, net::buffer(std::string("GET /half HTTP/1.1\r\nHost: x\r\n")));

  const auto started = std::chrono::steady_clock::now();
  s->server.stop();
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  EXPECT_EQ(s->server.port(), 0);
  s->server.stop();  // idempotent

  // Every connection was closed, and nothing listens any more.
  std::string rest;
  boost::system::error_code ec;
  net::read(stalled, net::dynamic_buffer(rest), ec);
  EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
  for (auto& client : clients) {
    auto res = client.request("GET", "/after");
    ASSERT_FALSE(res.has_value());
    EXPECT_EQ(res.error().kind, domain::ErrorKind::kUnavailable);
    EXPECT_EQ(res.error().code, "http_unavailable");
  }
  EXPECT_EQ(s->calls.load(), 16);
}

TEST(HttpClient, ReconnectsWhenServerClosedKeptAliveConnection) {
  EchoServer s;
  HttpClient client("127.0.0.1", s.server.port());
  ASSERT_TRUE(client.request("GET", "/first").has_value());
  // stop() closes the kept-alive connection under the client; start() again
  // on the same port.
  const std::uint16_t port = s.server.port();
  s.server.stop();
  HttpServer again({.port = port}, echo);
  ASSERT_TRUE(again.start().has_value());
  auto res = client.request("GET", "/second");
  ASSERT_TRUE(res.has_value()) << res.error().code;
  EXPECT_EQ(json::parse(res->body)["path"], "/second");
}

TEST(HttpServer, RestartsAfterStop) {
  EchoServer s;
  s.server.stop();
  ASSERT_TRUE(s.server.start().has_value());
  HttpClient client("127.0.0.1", s.server.port());
  auto res = client.request("GET", "/again");
  ASSERT_TRUE(res.has_value()) << res.error().code;
  EXPECT_EQ(res->status, 200);
}

TEST(HttpServer, StartFailsWithListenFailedWhenPortIsTaken) {
  EchoServer first;
  HttpServer second({.port = first.server.port()}, echo);
  auto started = second.start();
  ASSERT_FALSE(started.has_value());
  EXPECT_EQ(started.error().kind, domain::ErrorKind::kUnavailable);
  EXPECT_EQ(started.error().code, "listen_failed");
  EXPECT_EQ(second.port(), 0);

  EchoServer running;
  auto again = running.server.start();
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, "already_started");
}

TEST(HttpClient, UnavailableWhenNothingListens) {
  // A bound socket that never listens: connecting to it is refused, and the
  // port cannot be taken by anyone else meanwhile.
  net::io_context ioc;
  tcp::acceptor bound(ioc);
  bound.open(tcp::v4());
  bound.bind(tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  HttpClient client("127.0.0.1", bound.local_endpoint().port());
  auto res = client.request("GET", "/");
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().kind, domain::ErrorKind::kUnavailable);
  EXPECT_EQ(res.error().code, "http_unavailable");
}

TEST(HttpClient, TimesOutWithoutRetryingASlowRequest) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> calls{0};
  HttpServer server({}, [&](const HttpRequest&) {
    calls.fetch_add(1);
    released.wait();
    return HttpResponse::json(200, "{}");
  });
  ASSERT_TRUE(server.start().has_value());
  HttpClient client("127.0.0.1", server.port(), std::chrono::milliseconds(200));
  auto res = client.request("GET", "/slow");
  release.set_value();
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().kind, domain::ErrorKind::kUnavailable);
  EXPECT_EQ(res.error().code, "http_unavailable");
  server.stop();
  EXPECT_EQ(calls.load(), 1);
}

}  // namespace
}  // namespace ledger::adapters::http

// HttpClient against a raw TCP server that splits its answers the way real
// servers and proxies do (nginx, Envoy, Python's http.server, any streamed
// answer): the header in one write and the body in one or more later writes,
// chunked framing cut at awkward places, one byte per write, large bodies in
// 64 KiB writes, bodies that end at EOF, and Server-Sent Events in separate
// small writes for HttpClient::stream. Real loopback sockets; ports chosen by
// the OS.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "adapters/http/client.h"

namespace ledger::adapters::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// One accepted connection, as the test's answer function sees it.
class Conn {
 public:
  explicit Conn(tcp::socket& socket) : socket_(socket) {}

  // One write of its own, then a pause so that the client sees it alone.
  void send(std::string_view data, std::chrono::microseconds pause = 20ms) {
    if (!ok_) return;
    boost::system::error_code ec;
    net::write(socket_, net::buffer(data.data(), data.size()), ec);
    if (ec) ok_ = false;
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
  }
  // `data` in writes of `piece` bytes each.
  void send_in_pieces(std::string_view data, std::size_t piece, std::chrono::microseconds pause) {
    for (std::size_t at = 0; at < data.size() && ok_; at += piece) send(data.substr(at, piece), pause);
  }
  // Close the connection after this answer (a body that ends at EOF).
  void close_after() { close_ = true; }

  bool ok() const { return ok_; }
  bool closing() const { return close_; }

 private:
  tcp::socket& socket_;
  bool ok_ = true;
  bool close_ = false;
};

// Serves every connection on its own thread; reads requests (no bodies: the
// tests send GET/HEAD) and hands each to `answer`, keeping the connection
// open between answers unless the answer asked to close it.
class SplitServer {
 public:
  using Answer = std::function<void(Conn&, const std::string& request)>;

  explicit SplitServer(Answer answer) : answer_(std::move(answer)), acceptor_(ioc_) {
    tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~SplitServer() {
    stopping_ = true;
    {
      // Wake the blocked accept.
      net::io_context ioc;
      tcp::socket wake(ioc);
      boost::system::error_code ec;
      wake.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
    }
    accept_thread_.join();
    {
      std::lock_guard lock(mu_);
      for (auto& s : sockets_) ::shutdown(s->native_handle(), SHUT_RDWR);
    }
    for (auto& t : threads_) t.join();
  }

  std::uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }
  std::vector<std::string> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void accept_loop() {
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      if (stopping_ || ec) return;
      connections_.fetch_add(1);
      socket->set_option(tcp::no_delay(true), ec);  // every write its own segment
      std::lock_guard lock(mu_);
      sockets_.push_back(socket);
      threads_.emplace_back([this, socket] { serve(*socket); });
    }
  }

  void serve(tcp::socket& socket) {
    std::string in;
    for (;;) {
      boost::system::error_code ec;
      const std::size_t n = net::read_until(socket, net::dynamic_buffer(in), "\r\n\r\n", ec);
      if (ec) return;
      const std::string request = in.substr(0, n);
      in.erase(0, n);
      {
        std::lock_guard lock(mu_);
        requests_.push_back(request);
      }
      Conn conn(socket);
      answer_(conn, request);
      if (!conn.ok() || conn.closing()) {
        socket.shutdown(tcp::socket::shutdown_both, ec);
        socket.close(ec);
        return;
      }
    }
  }

  Answer answer_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::vector<std::thread> threads_;
  std::vector<std::string> requests_;
  std::thread accept_thread_;
};

std::string pattern(std::size_t n) {
  std::string out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<char>('a' + (i * 7 + i / 26) % 26));
  return out;
}

std::string head(int status, std::string_view reason, std::string_view framing) {
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
         "\r\nContent-Type: text/plain\r\nX-Split: yes\r\n" + std::string(framing) + "\r\n";
}

std::string length_head(std::size_t length, int status = 200, std::string_view reason = "OK") {
  return head(status, reason, "Content-Length: " + std::to_string(length) + "\r\n");
}

std::string chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + std::string(data) + "\r\n";
}

std::string why(const domain::Result<HttpResponse>& r) {
  if (r) return {};
  std::string out = r.error().code + ": " + r.error().message;
  for (const auto& [k, v] : r.error().evidence_texts()) out += " " + k + "=" + v;
  return out;
}

// --- request() ---------------------------------------------------------

// The reported case: a Python http.server handler that writes the header
// and then a ~3 KB body.
TEST(HttpClientSplit, ContentLengthBodyInASecondWrite) {
  const std::string body = pattern(3000);
  SplitServer server([&](Conn& c, const std::string&) {
    c.send(length_head(body.size()));
    c.send(body);
  });
  HttpClient client("127.0.0.1", server.port(), 5s);
  auto r = client.request("GET", "/split");
  ASSERT_TRUE(r) << why(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->content_type, "text/plain");
  ASSERT_NE(r->header("x-split"), nullptr);
  EXPECT_EQ(r->body, body);
}

TEST(HttpClientSplit, ContentLengthBodyInSeveralWritesWithAnErrorStatus) {
  const std::string body = R"({"code":"not_found","message":"no such scope"})";
  SplitServer server([&](Conn& c, const std::string&) {
    c.send(length_head(body.size(), 404, "Not Found"));
    c.send_in_pieces(body, 10, 10ms);
  });
  HttpClient client("127.0.0.1", server.port(), 5s);
  auto r = client.request("GET", "/missing");
  ASSERT_TRUE(r) << why(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, body);
}

TEST(HttpClientSplit, HeaderItselfSplitAndBodyOneBytePerWrite) {
  const std::string body = pattern(300);
  const std::string header = length_head(body.size());
  SplitServer server([&](Conn& c, const std::string&) {
    c.send_in_pieces(header, 7, 2ms);
    c.send_in_pieces(body, 1, 1ms);
  });
  HttpClient client("127.0.0.1", server.port(), 5s);
  auto r = client.request("GET", "/trickle");
  ASSERT_TRUE(r) << why(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, body);
}

TEST(HttpClientSplit, ChunkedCutAtAwkwardPlaces) {
  SplitServer server([&](Conn& c, const std::string&) {
    c.send(head(200, "OK", "Transfer-Encoding: chunked\r\n"));
    c.send("5\r\nhel");
    c.send("lo\r");
    c.send("\n6");
    c.send("\r\n world\r\n");
    c.send("0\r\n");
    c.send("\r\n");
  });
  HttpClient client("127.0.0.1", server.port(), 5s);
  auto r = client.request("GET", "/chunked");
  ASSERT_TRUE(r) << why(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello world");
}

TEST(HttpClientSplit, ChunkedWholeAnswerOneBytePerWrite) {
  const std::string body = pattern(120);
  std::string wire = head(200, "OK", "Transfer-Encoding: chunked\r\n");
  for (std::size_t at = 0; at < body.size(); at += 25) wire += chunk(body.substr(at, 25));
  wire += "0\r\n\r\n";
  SplitServer server([&](Conn& c, const std::string&) { c.send_in_pieces(wire, 1, 1ms); });
  HttpClient client("127.0.0.1", server.port(), 5s);
  auto r = client.request("GET", "/chunked-trickle");
  ASSERT_TRUE(r) << why(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, body);
}

TEST(HttpClientSplit, LargeBodiesIn64KiBWrites) {
  // 3 MB with a Content-Length, 3 MB chunked (one chunk per write), and
  // 9 MB: over Beast's default 8 MB response limit; the client sets none.
  const std::string body3 = pattern(3 * 1024 * 1024);
  const std::string body9 = pattern(9 * 1024 * 1024);
  SplitServer server([&](Conn& c, const std::string& request) {
    if (request.rfind("GET /three ", 0) == 0) {
      c.send(length_head(body3.size()));
      c.send_in_pieces(body3, 64 * 1024, 200us);
    } else if (request.rfind("GET /chunked ", 0) == 0) {
      c.send(head(200, "OK", "Transfer-Encoding: chunked\r\n"));
      for (std::size_t at = 0; at < body3.size(); at += 64 * 1024) c.send(chunk(body3.substr(at, 64 * 1024)), 200us);
      c.send("0\r\n\r\n");
    } else {
      c.send(length_head(body9.size()));
      c.send_in_pieces(body9, 64 * 1024, 100us);
    }
  });
  HttpClient client("127.0.0.1", server.port(), 10s);
  for (const char* target : {"/three", "/chunked"}) {
    auto r = client.request("GET", target);
    ASSERT_TRUE(r) << target << " " << why(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body.size(), body3.size()) << target;
    EXPECT_TRUE(r->body == body3) << target;
  }
  auto r = client.request("GET", "/nine");
  ASSERT_TRUE(r) << why(r);
  EXPECT_EQ(r->body.size(), body9.size());
  EXPECT_TRUE(r->body == body9);
  EXPECT_EQ(server.connections(), 1);  // all on the kept-alive connection
}

TEST(HttpClientSplit, BodyEndingAtEofInSeveralWrites) {
  const std::string body = pattern(200 * 1024);
  SplitServer server([&](Conn& c, const std::string&) {
    c.send(head(200, "OK", "Connection: close\r\n"));
    c.send_in_pieces(body, 16 * 1024, 2ms);
    c.close_after();
  });
  HttpClient client("127.0.0.1", server.port(), 5s);
  for (int i = 0; i < 2; ++i) {  // the second on a new connection
    auto r = client.request("GET", "/to-eof");
    ASSERT_TRUE(r) << why(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->body == body);
  }
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpClientSplit, KeptAliveConnectionServesSplitAnswersInTurn) {
  std::atomic<int> n{0};
  SplitServer server([&](Conn& c, const std::string&) {
    const std::string body = "answer " + std::to_string(n.fetch_add(1)) + " " + pattern(2000);
    c.send(length_head(body.size()));
    c.send_in_pieces(body, 700, 5ms);
  });
  HttpClient client("127.0.0.1", server.port(), 5s);
  for (int i = 0; i < 3; ++i) {
    auto r = client.request("GET", "/again");
    ASSERT_TRUE(r) << why(r);
    EXPECT_EQ(r->body, "answer " + std::to_string(i) + " " + pattern(2000));
  }
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpClientSplit, HeadAnswerWithContentLengthHasNoBodyToWaitFor) {
  SplitServer server([&](Conn& c, const std::string& request) {
    if (request.rfind("HEAD ", 0) == 0) {
      c.send(length_head(3000));
      return;
    }
    c.send(length_head(2));
    c.send("ok");
  });
  HttpClient client("127.0.0.1", server.port(), 2s);
  auto h = client.request("HEAD", "/thing");
  ASSERT_TRUE(h) << why(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->body, "");
  auto g = client.request("GET", "/thing");
  ASSERT_TRUE(g) << why(g);
  EXPECT_EQ(g->body, "ok");
  EXPECT_EQ(server.connections(), 1);
}

// The timeout still bounds receiving the answer: a server that sends the
// header and then stalls is unavailable, stage "read", and not retried.
TEST(HttpClientSplit, StalledBodyStillTimesOut) {
  SplitServer server([&](Conn& c, const std::string&) {
    c.send(length_head(100));
    c.send("partial", 1500ms);
  });
  HttpClient client("127.0.0.1", server.port(), 300ms);
  const auto start = std::chrono::steady_clock::now();
  auto r = client.request("GET", "/stall");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "http_unavailable");
  EXPECT_EQ(r.error().evidence_text("stage"), "read");
  EXPECT_GE(took, 250ms);  // the timeout, not an early parse error
  EXPECT_LT(took, 1400ms);
  EXPECT_EQ(server.requests().size(), 1u);
}

// --- stream() ----------------------------------------------------------

// Each event is written on its own, and the server sends the next one only
// once the client has handed the previous one to on_data: an event held back
// until more bytes arrive would stall the exchange (and fail it).
class Handshake {
 public:
  void saw(std::string_view data) {
    std::lock_guard lock(mu_);
    seen_.append(data);
    cv_.notify_all();
  }
  bool wait_for(const std::string& want) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 3s, [&] { return seen_ == want; });
  }
  std::string seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string seen_;
};

std::string event(int i) { return "id: " + std::to_string(i) + "\ndata: {\"n\":" + std::to_string(i) + "}\n\n"; }

enum class Framing { kChunked, kToEof };

void stream_events_one_by_one(Framing framing) {
  constexpr int kEvents = 8;
  Handshake hs;
  std::atomic<bool> all_seen_in_turn{true};
  SplitServer server([&](Conn& c, const std::string&) {
    c.send(head(200, "OK",
                framing == Framing::kChunked ? "Content-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                                             : "Content-Type: text/event-stream\r\nConnection: close\r\n"));
    std::string sent;
    for (int i = 0; i < kEvents; ++i) {
      c.send(framing == Framing::kChunked ? chunk(event(i)) : event(i), 0ms);
      sent += event(i);
      if (!hs.wait_for(sent)) all_seen_in_turn = false;
    }
    if (framing == Framing::kChunked) c.send("0\r\n\r\n", 0ms);
    c.close_after();
  });
  HttpClient client("127.0.0.1", server.port(), 5s);
  int calls = 0;
  auto r = client.stream("GET", "/v1/changes", {}, [&](std::string_view d) {
    ++calls;
    hs.saw(d);
    return true;
  });
  ASSERT_TRUE(r) << why(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
  std::string want;
  for (int i = 0; i < kEvents; ++i) want += event(i);
  EXPECT_EQ(hs.seen(), want);
  EXPECT_TRUE(all_seen_in_turn.load());
  EXPECT_GE(calls, kEvents);
}

TEST(HttpClientSplit, StreamDeliversEachChunkedEventAsItArrives) { stream_events_one_by_one(Framing::kChunked); }

TEST(HttpClientSplit, StreamDeliversEachEventOfABodyEndingAtEof) { stream_events_one_by_one(Framing::kToEof); }

TEST(HttpClientSplit, StreamChunkedOneBytePerWrite) {
  std::string events;
  for (int i = 0; i < 3; ++i) events += event(i);
  std::string wire = head(200, "OK", "Content-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n");
  for (int i = 0; i < 3; ++i) wire += chunk(event(i));
  wire += "0\r\n\r\n";
  SplitServer server([&](Conn& c, const std::string&) { c.send_in_pieces(wire, 1, 1ms); });
  HttpClient client("127.0.0.1", server.port(), 5s);
  std::string got;
  auto r = client.stream("GET", "/v1/changes", {}, [&](std::string_view d) {
    got.append(d);
    return true;
  });
  ASSERT_TRUE(r) << why(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(got, events);
}

TEST(HttpClientSplit, StreamStopsWhenOnDataSaysSo) {
  SplitServer server([&](Conn& c, const std::string&) {
    c.send(head(200, "OK", "Content-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"));
    for (int i = 0; i < 50 && c.ok(); ++i) c.send(chunk(event(i)), 10ms);
    c.close_after();
  });
  HttpClient client("127.0.0.1", server.port(), 5s);
  std::string got;
  auto r = client.stream("GET", "/v1/changes", {}, [&](std::string_view d) {
    got.append(d);
    return got.size() < event(0).size() + event(1).size();
  });
  ASSERT_TRUE(r) << why(r);
  EXPECT_EQ(got.rfind(event(0) + event(1), 0), 0u) << got;
}

TEST(HttpClientSplit, StreamRefusalComesBackWholeFromSplitWrites) {
  const std::string body = R"({"code":"unauthenticated","message":"a bearer token is required"})" + pattern(3000);
  SplitServer server([&](Conn& c, const std::string& request) {
    if (request.rfind("GET /chunked ", 0) == 0) {
      c.send(head(401, "Unauthorized", "Transfer-Encoding: chunked\r\n"));
      for (std::size_t at = 0; at < body.size(); at += 1000) c.send(chunk(body.substr(at, 1000)), 5ms);
      c.send("0\r\n\r\n");
      return;
    }
    c.send(length_head(body.size(), 401, "Unauthorized"));
    c.send_in_pieces(body, 1000, 5ms);
  });
  HttpClient client("127.0.0.1", server.port(), 5s);
  for (const char* target : {"/length", "/chunked"}) {
    bool called = false;
    auto r = client.stream("GET", target, {}, [&](std::string_view) { return called = true; });
    ASSERT_TRUE(r) << target << " " << why(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(r->body, body) << target;
    EXPECT_FALSE(called);
  }
}

TEST(HttpClientSplit, StreamHeartbeatsKeepItAliveAndSilenceTimesOut) {
  SplitServer server([&](Conn& c, const std::string&) {
    c.send(head(200, "OK", "Content-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"));
    for (int i = 0; i < 5; ++i) c.send(chunk(": heartbeat\n\n"), 150ms);  // 750 ms in all, under 300 ms apart
    c.send(chunk(event(1)), 1500ms);                                      // then silence
  });
  HttpClient client("127.0.0.1", server.port(), 300ms);
  std::string got;
  auto r = client.stream("GET", "/v1/changes", {}, [&](std::string_view d) {
    got.append(d);
    return true;
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "http_unavailable");
  EXPECT_EQ(r.error().evidence_text("stage"), "read");
  std::string want;
  for (int i = 0; i < 5; ++i) want += ": heartbeat\n\n";
  EXPECT_EQ(got, want + event(1));
}

}  // namespace
}  // namespace ledger::adapters::http

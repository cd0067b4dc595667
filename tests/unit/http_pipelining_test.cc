// Pipelined requests (HTTP/1.1, RFC 9112 §9.3): a client may send requests
// without waiting for answers, and gets the answers in the order of its
// requests. The server holds the answers of requests whose successor is
// already read and writes them together; it never holds one while it waits
// for the client (for bytes of the next request, to send 100 Continue, or
// for a handler that answers later). Real loopback sockets; every read has a
// deadline, so a held answer fails a test rather than hanging it.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "adapters/http/server.h"

namespace ledger::adapters::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// Paths: /fast/N answered on the io thread, /pool/N by the request pool,
// /later/N on the io thread but answered when the test says so, /stream a
// streamed answer of three chunks (/stream-now: the same, begun on the io
// thread). Answers name the request: "N:<body size>".
class PipelineServer {
 public:
  PipelineServer()
      : server(options(), AsyncHttpHandler(
                              [this](const HttpRequest& req, const HttpResponder& respond) { handle(req, respond); })) {
    EXPECT_TRUE(server.start().has_value());
  }

  // Answers the parked /later request.
  void answer_later() {
    std::lock_guard lock(mu_);
    ASSERT_TRUE(later_.has_value());
    later_->send(HttpResponse::json(200, "\"" + later_name_ + "\""));
    later_.reset();
  }
  bool later_parked() {
    std::lock_guard lock(mu_);
    return later_.has_value();
  }

  HttpServer server;

 private:
  static HttpServer::Options options() {
    HttpServer::Options o{.threads = 2};
    o.answers_at_once = [](const HttpRequest& req) {
      return req.path.starts_with("/fast/") || req.path.starts_with("/later/") || req.path == "/stream-now";
    };
    return o;
  }
  static std::string name(const HttpRequest& req) {
    return req.path.substr(req.path.rfind('/') + 1) + ":" + std::to_string(req.body.size());
  }
  void handle(const HttpRequest& req, const HttpResponder& respond) {
    if (req.path.starts_with("/later/")) {
      std::lock_guard lock(mu_);
      later_ = respond;
      later_name_ = name(req);
      return;
    }
    if (req.path == "/stream" || req.path == "/stream-now") {
      HttpResponse head;
      head.content_type = "text/plain";
      auto stream = respond.stream(head);
      ASSERT_NE(stream, nullptr);
      for (const char* chunk : {"a", "b", "c"}) EXPECT_TRUE(stream->write(chunk));
      stream->close();
      return;
    }
    respond.send(HttpResponse::json(200, "\"" + name(req) + "\""));
  }

  std::mutex mu_;
  std::optional<HttpResponder> later_;
  std::string later_name_;
};

struct Request {
  std::string path;  // /fast/N or /pool/N
  std::string body;
  bool expect_continue = false;
};

std::string wire(const Request& r, bool close = false) {
  std::string out = (r.body.empty() ? "GET " : "POST ") + r.path + " HTTP/1.1\r\nHost: x\r\n";
  if (!r.body.empty()) out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  if (r.expect_continue) out += "Expect: 100-continue\r\n";
  if (close) out += "Connection: close\r\n";
  return out + "\r\n" + r.body;
}

// A client connection whose reads give up after `deadline`. It reads
// answers itself (Beast stays inside adapters/): a status line and fields,
// then a Content-Length or chunked body.
class Conn {
 public:
  explicit Conn(std::uint16_t port, std::chrono::seconds deadline = 5s) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    timeval tv{.tv_sec = deadline.count(), .tv_usec = 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void send(const std::string& bytes) { net::write(socket_, net::buffer(bytes)); }
  // The next answer's status and body; status 0 when none came in time or
  // the connection ended.
  std::pair<int, std::string> answer() {
    auto head = line_until("\r\n\r\n");
    if (!head) return {0, "no answer"};
    const int status = std::stoi(head->substr(9, 3));
    std::string lower = *head;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower.find("transfer-encoding: chunked") != std::string::npos) {
      std::string body;
      for (;;) {
        auto size_line = line_until("\r\n");
        if (!size_line) return {0, "chunk cut short"};
        const std::size_t size = std::stoul(*size_line, nullptr, 16);
        auto chunk = take(size + 2);
        if (!chunk) return {0, "chunk cut short"};
        if (size == 0) return {status, body};
        body += chunk->substr(0, size);
      }
    }
    const auto at = lower.find("content-length: ");
    const std::size_t length = at == std::string::npos ? 0 : std::stoul(lower.substr(at + 16));
    auto body = take(length);
    if (!body) return {0, "body cut short"};
    return {status, *body};
  }
  // The next interim answer's status (a head alone).
  int interim() {
    auto head = line_until("\r\n\r\n");
    return head ? std::stoi(head->substr(9, 3)) : 0;
  }

 private:
  bool fill() {
    char chunk[4096];
    boost::system::error_code ec;
    const std::size_t n = socket_.read_some(net::buffer(chunk), ec);
    if (ec) return false;
    data_.append(chunk, n);
    return true;
  }
  // Everything through the next `end`, taken from what was read.
  std::optional<std::string> line_until(std::string_view end) {
    std::size_t at;
    while ((at = data_.find(end)) == std::string::npos) {
      if (!fill()) return std::nullopt;
    }
    std::string out = data_.substr(0, at + end.size());
    data_.erase(0, at + end.size());
    return out;
  }
  std::optional<std::string> take(std::size_t n) {
    while (data_.size() < n) {
      if (!fill()) return std::nullopt;
    }
    std::string out = data_.substr(0, n);
    data_.erase(0, n);
    return out;
  }

  net::io_context ioc_;
  tcp::socket socket_;
  std::string data_;
};

std::string expected(const Request& r) {
  return "\"" + r.path.substr(r.path.rfind('/') + 1) + ":" + std::to_string(r.body.size()) + "\"";
}

// Any sequence of requests, answered on the io thread or by the pool, sent
// in any cut of their bytes into writes: one answer per request, in order,
// each the answer to its own request.
RC_GTEST_PROP(HttpPipelining, AnswersComeInTheOrderOfTheRequestsWhateverTheCuts, ()) {
  static PipelineServer s;  // one server for every case
  const int count = *rc::gen::inRange(1, 120);
  std::vector<Request> requests;
  std::string bytes;
  for (int i = 0; i < count; ++i) {
    Request r;
    r.path = (*rc::gen::arbitrary<bool>() ? "/fast/" : "/pool/") + std::to_string(i);
    const std::size_t size = *rc::gen::oneOf(rc::gen::just<std::size_t>(0), rc::gen::inRange<std::size_t>(1, 64),
                                             rc::gen::inRange<std::size_t>(1000, 9000));
    r.body.assign(size, 'b');
    bytes += wire(r, i + 1 == count);
    requests.push_back(std::move(r));
  }
  const auto cuts = *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, bytes.size()));
  Conn c(s.server.port());
  std::thread writer([&] {
    std::size_t at = 0;
    std::vector<std::size_t> sorted = cuts;
    std::sort(sorted.begin(), sorted.end());
    sorted.push_back(bytes.size());
    for (std::size_t cut : sorted) {
      if (cut <= at) continue;
      c.send(bytes.substr(at, cut - at));
      at = cut;
      std::this_thread::sleep_for(100us);
    }
  });
  std::vector<std::string> got;
  for (int i = 0; i < count; ++i) {
    auto [status, body] = c.answer();
    if (status != 200) break;
    got.push_back(body);
  }
  writer.join();
  RC_ASSERT(got.size() == requests.size());
  for (std::size_t i = 0; i < got.size(); ++i) RC_ASSERT(got[i] == expected(requests[i]));
  RC_ASSERT(c.answer().first == 0);  // closed after the last
}

// The answer to the first request goes out though the second has only begun
// to arrive — its header cut short, or its body — and the client waits for
// that answer before it sends the rest.
TEST(HttpPipelining, AnAnswerIsNotHeldWhileTheNextRequestIsIncomplete) {
  PipelineServer s;
  const Request first{.path = "/fast/1", .body = ""};
  const Request second{.path = "/pool/2", .body = std::string(300, 'x')};
  const std::string next = wire(second);
  const std::size_t header_end = next.find("\r\n\r\n") + 4;
  for (std::size_t cut : {std::size_t{10}, header_end - 2, header_end, header_end + 100}) {
    Conn c(s.server.port());
    c.send(wire(first) + next.substr(0, cut));
    auto [status, body] = c.answer();
    EXPECT_EQ(status, 200) << "cut at " << cut << ": " << body;
    EXPECT_EQ(body, expected(first));
    c.send(next.substr(cut));
    auto [status2, body2] = c.answer();
    EXPECT_EQ(status2, 200) << "cut at " << cut << ": " << body2;
    EXPECT_EQ(body2, expected(second));
  }
}

// Expect: 100-continue on a pipelined request: the first request's answer,
// then the interim 100, then the second's answer — whether the client waits
// for the 100 before it sends the body, or sent the body already.
TEST(HttpPipelining, AnInterimContinueFollowsTheAnswersBeforeIt) {
  PipelineServer s;
  const Request first{.path = "/fast/1", .body = "{}"};
  Request second{.path = "/fast/2", .body = "0123456789"};
  second.expect_continue = true;
  const std::string next = wire(second);
  for (const bool body_first : {false, true}) {
    Conn c(s.server.port());
    c.send(wire(first) + (body_first ? next : next.substr(0, next.size() - second.body.size())));
    auto [status, body] = c.answer();
    EXPECT_EQ(status, 200) << body;
    EXPECT_EQ(body, expected(first));
    EXPECT_EQ(c.interim(), 100);
    if (!body_first) c.send(second.body);
    auto [status2, body2] = c.answer();
    EXPECT_EQ(status2, 200) << body2;
    EXPECT_EQ(body2, expected(second));
  }
}

// A request that is answered later (a handler on the io thread that parks
// it, or the request pool): the answers before it go out meanwhile, and the
// ones after it follow its own.
TEST(HttpPipelining, AnswersBeforeARequestAnsweredLaterAreNotHeldForIt) {
  PipelineServer s;
  Conn c(s.server.port());
  c.send(wire({"/fast/1", ""}) + wire({"/pool/2", "{}"}) + wire({"/later/3", "abc"}) + wire({"/fast/4", ""}) +
         wire({"/stream", ""}));
  EXPECT_EQ(c.answer().second, "\"1:0\"");
  EXPECT_EQ(c.answer().second, "\"2:2\"");
  for (int i = 0; i < 500 && !s.later_parked(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(s.later_parked());
  s.answer_later();
  EXPECT_EQ(c.answer().second, "\"3:3\"");
  EXPECT_EQ(c.answer().second, "\"4:0\"");
  auto [status, streamed] = c.answer();  // chunked, then the connection ends
  EXPECT_EQ(status, 200);
  EXPECT_EQ(streamed, "abc");
}

// A stream begun on the io thread while an earlier answer is held: the held
// answer goes out first.
TEST(HttpPipelining, AStreamBegunAtOnceFollowsTheAnswersHeldBeforeIt) {
  PipelineServer s;
  Conn c(s.server.port());
  c.send(wire({"/fast/1", ""}) + wire({"/stream-now", ""}));
  EXPECT_EQ(c.answer().second, "\"1:0\"");
  auto [status, streamed] = c.answer();
  EXPECT_EQ(status, 200);
  EXPECT_EQ(streamed, "abc");
}

}  // namespace
}  // namespace ledger::adapters::http

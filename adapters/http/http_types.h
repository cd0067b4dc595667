// Plain HTTP request/response values exchanged between the HTTP edge
// (HttpServer, HttpClient) and the code that handles requests.
//
//   HttpHandler handler = [](const HttpRequest& req) {
//     if (req.path == "/health") return HttpResponse::json(200, R"({"ok":true})");
//     auto limit = req.query_param("limit");           // percent-decoded
//     const std::string* auth = req.header("authorization");  // lower-case names
//     ...
//   };
//
// No Boost here: Beast types stay inside adapters/http/*.cc. These are value
// types with no synchronisation; a request is owned by the server for the
// duration of one handler call.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ledger::adapters::http {

struct HttpRequest {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // raw request target, e.g. "/v1/scopes/a%20b?x=1"
  std::string path;    // percent-decoded path without the query, e.g. "/v1/scopes/a b"
  // Percent-decoded query pairs in order of appearance; '+' decodes to a
  // space. A key without '=' has an empty value.
  std::vector<std::pair<std::string, std::string>> query;
  // Header fields in order of appearance; names lower-cased, values as sent.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address;  // peer IP address, without the port

  // First header with that (lower-case) name, or nullptr.
  const std::string* header(std::string_view lower_name) const;
  // First query value with that name, or nullopt.
  std::optional<std::string> query_param(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";  // empty: no Content-Type header
  std::string body;
  // Extra header fields. The server adds Content-Length and Server itself;
  // a "connection: close" here closes the connection after the response.
  // For responses received by HttpClient: every field, names lower-cased.
  std::vector<std::pair<std::string, std::string>> headers;
  // Who the request was answered for ("<tenant>/<type>:<id>"), for the
  // server's access log; never sent (routes/request_actor.h).
  std::string actor;

  static HttpResponse json(int status, std::string body);

  // First header with that (lower-case) name, or nullptr.
  const std::string* header(std::string_view lower_name) const;
};

// Called synchronously on one of the server's request-pool threads (or its
// control threads, for HttpServer::Options::control_paths); may block (e.g.
// on a database), which occupies that thread. Exceptions are caught by the
// server and answered with 500.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// A streamed answer (HttpResponder::stream), such as Server-Sent Events:
// the head went out with `Transfer-Encoding: chunked` and no Content-Length;
// each write() is one chunk, sent in order; close() ends the answer and the
// connection. The stream closes by itself when the client goes away (a
// write fails or stalls past the server's idle timeout), when more than
// kMaxQueuedBytes wait unsent (a consumer too slow), or when the server
// stops. Thread-safe.
class HttpStream {
 public:
  static constexpr std::size_t kMaxQueuedBytes = 4 << 20;
  virtual ~HttpStream() = default;
  // Queues `data` (empty data is ignored); false once the stream is closed.
  virtual bool write(std::string data) = 0;
  // Ends the answer; idempotent.
  virtual void close() = 0;
  virtual bool open() const = 0;
};

// The way to answer one request later, from any thread (an AsyncHttpHandler
// gets one). Copyable; every copy answers the same request.
//
//   respond.send(HttpResponse::json(200, "{}"));   // exactly once; later sends are ignored
//   respond.resume([respond] { respond.send(slow_work()); });  // run on the request pool
//
// A request whose responders are all destroyed unanswered is answered 500
// {"code":"internal"}. After the server stopped, send() and resume() do
// nothing. Thread-safe.
class HttpResponder {
 public:
  // What the server implements; not for handlers.
  class Target {
   public:
    virtual ~Target() = default;
    virtual void send(HttpResponse response) = 0;
    virtual void resume(std::function<void()> work) = 0;
    virtual std::shared_ptr<HttpStream> stream(HttpResponse head) = 0;
  };

  explicit HttpResponder(std::shared_ptr<Target> target) : target_(std::move(target)) {}

  void send(HttpResponse response) const { target_->send(std::move(response)); }
  // Runs `work` on the server's request pool (e.g. to finish a request that
  // waited for something without holding a thread). Exceptions thrown by it
  // are logged and the request, if still unanswered, is answered 500.
  void resume(std::function<void()> work) const { target_->resume(std::move(work)); }
  // Answers with a stream instead of a whole response: `head`'s status and
  // headers now (its body is ignored), then what the stream is given. nullptr
  // when the request was already answered or the server stopped.
  std::shared_ptr<HttpStream> stream(HttpResponse head) const { return target_->stream(std::move(head)); }

 private:
  std::shared_ptr<Target> target_;
};

// Called on a request-pool thread like HttpHandler, but answers through
// `respond`, now or later (it may keep `respond` and return at once: the
// request then holds no thread while it waits). An exception thrown before
// answering is answered 500.
using AsyncHttpHandler = std::function<void(HttpRequest, HttpResponder)>;

}  // namespace ledger::adapters::http

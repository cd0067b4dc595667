// HttpServer: the HTTP/1.1 edge of a service. Accepts connections, parses
// requests (keep-alive, bounded bodies) and hands each one to an HttpHandler.
//
//   HttpServer server({.port = 0}, [](const HttpRequest& req) {
//     return HttpResponse::json(200, R"({"path":")" + req.path + "\"}");
//   });
//   if (auto started = server.start(); !started) return started.error();
//   std::uint16_t port = server.port();  // the port the OS picked
//   ...
//   server.stop();  // or let the destructor do it
//
// Lifecycle: constructed stopped -> start() (bind, listen, spawn
// `io_threads` io threads, `threads` request-pool threads and
// `control_threads` control threads) -> stop() (close the listener and every
// connection, join the threads). start() may be called again after stop().
// stop() is idempotent and runs from the destructor.
//
// Threads: io threads read and write connections, each connection on one
// io thread for its whole life. A request whose path is one of
// `control_paths` (by default /healthz and /readyz) runs on the control
// threads, a request `answers_at_once` accepts on its connection's io thread
// (handlers that never block), every other request on the request pool, so
// health checks never queue behind requests.
//
// Behaviour on the wire:
//   - a (synchronous) HttpHandler runs on a request-pool thread; while it
//     blocks, that thread serves nothing else, so size `threads` for the
//     expected number of concurrently blocking handlers. An
//     AsyncHttpHandler answers through an HttpResponder, possibly later and
//     from another thread, and holds no thread while it waits;
//   - a body over `body_limit` -> 413 {"code":"body_too_large"} and close,
//     without calling the handler; unparsable HTTP -> 400
//     {"code":"malformed_request"} and close; a Transfer-Encoding other than
//     one field of exactly `chunked` (any case) -> 400
//     {"code":"invalid_transfer_encoding"} and close, before the body is
//     read; a path that is not UTF-8 without control characters once
//     percent-decoded (`/x/%ff`, `/x/%00`) -> 400
//     {"code":"invalid_path_encoding"}, a query key or value that is not
//     UTF-8 or holds NUL -> 400 {"code":"invalid_query_encoding"}, both
//     without calling the handler; a throwing handler -> 500
//     {"code":"internal"} (logged without body or credentials);
//   - every response carries Content-Length and "Server: policy-ledger";
//     `Expect: 100-continue` is honoured;
//   - a connection idle (or stalled mid-request) for `idle_timeout` is closed.
//
// Thread-safety: start(), stop() and port() may be called from any thread,
// but stop() (and the destructor) must not be called from inside a handler
// (it joins the threads). A request in flight when stop() is called may be
// dropped without a response; stop() waits for running handlers to return,
// and HttpResponders kept past stop() answer nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/http/http_types.h"
#include "domain/error.h"

namespace ledger::adapters::http {

// One answered request, as the server's observer sees it (access log,
// metrics). method and path are "" when the request could not be parsed.
struct Exchange {
  std::string_view method;
  std::string_view path;            // percent-decoded, no query
  std::string_view correlation_id;  // the request's X-Correlation-Id as sent, unvalidated; "" if none
  std::string_view actor;           // HttpResponse::actor of the answer
  int status = 0;
  std::chrono::nanoseconds elapsed{0};  // from the request's header to its answer
};

class HttpServer {
 public:
  struct Options {
    std::string address = "127.0.0.1";
    std::uint16_t port = 0;   // 0 = OS picks
    int threads = 8;          // the request pool
    int io_threads = 2;       // network I/O; each its own io_context, connections dealt in turn
    int control_threads = 1;  // control_paths only
    std::vector<std::string> control_paths = {"/healthz", "/readyz"};
    // PEM files; both set: every connection is HTTPS (TLS 1.2 or later).
    // Without them the server speaks plain HTTP and start() refuses a
    // non-loopback address (kFailedPrecondition `plain_http_not_loopback`).
    // An unloadable pair -> kInvalidArgument `tls_config_invalid`.
    std::string tls_cert_file = {};
    std::string tls_key_file = {};
    std::size_t body_limit = 1 << 20;
    std::chrono::seconds idle_timeout{30};
    // Called once for every answer, refusals of the server itself included,
    // on an io thread just before the answer is written: keep it cheap. An
    // exception from it is logged and ignored.
    std::function<void(const Exchange&)> on_answer = {};
    // Requests it says yes to (control paths never) are handled on the io
    // thread that read them, without the hop to the request pool and back:
    // for handlers that never block, such as answers from memory. It is
    // asked on an io thread before the handler: keep it cheap. Empty: every
    // request goes to the pool.
    std::function<bool(const HttpRequest&)> answers_at_once = {};
  };

  HttpServer(Options options, HttpHandler handler);
  HttpServer(Options options, AsyncHttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the io threads. A bind/listen failure (port in
  // use, bad address) -> kUnavailable `listen_failed`; calling start() on a
  // running server -> kFailedPrecondition `already_started`.
  domain::Result<void> start();

  // The bound port (useful with port 0); 0 when not started.
  std::uint16_t port() const;

  // Closes the listener and all connections and joins the io threads.
  void stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ledger::adapters::http

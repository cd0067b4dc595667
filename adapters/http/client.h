// HttpClient: a small synchronous HTTP/1.1 client with one kept-alive
// connection, for tests, benchmarks and command-line tools (not for service
// code that talks to other services in production paths).
//
//   HttpClient client("127.0.0.1", server.port());
//   auto res = client.request("POST", "/v1/scopes/" + url_encode(id), R"({"x":1})",
//                             {{"authorization", "Bearer ..."}});
//   if (!res) return res.error();          // kUnavailable `http_unavailable`
//   if (res->status == 200) use(res->body);
//
// Lifecycle: connects lazily on the first request and keeps the connection
// open while the server allows it (HTTP/1.1 keep-alive). If a kept-alive
// connection turns out to be closed by the server (the failure happens before
// any byte of the response arrived), it reconnects and sends the request once
// more; any other failure is returned, never retried.
//
// `timeout` bounds each phase separately: connecting, sending the request,
// and receiving the response. Name resolution is synchronous and unbounded
// (use numeric addresses or localhost).
//
// Errors: refused connection, timeout, reset or an unparsable response ->
// kUnavailable `http_unavailable` (evidence: stage, error). HTTP error
// statuses are not errors: they come back as HttpResponse.
//
// HTTPS: with an HttpClientTls the client speaks TLS (1.2 or later), trusts
// only the CA certificates of `ca_file` and checks that the server's
// certificate names `server_name`; a failed handshake or verification ->
// kUnavailable `http_unavailable` (stage "handshake").
//
// Thread-safety: none. Use one client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/http/http_types.h"
#include "adapters/http/target.h"  // url_encode
#include "domain/error.h"

namespace ledger::adapters::http {

struct HttpClientTls {
  std::string ca_file;                    // PEM: the CA(s) to trust
  std::string server_name = "localhost";  // SNI and the name the certificate must carry
};

class HttpClient {
 public:
  HttpClient(std::string host, std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  HttpClient(std::string host, std::uint16_t port, std::chrono::milliseconds timeout, HttpClientTls tls);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;

  // Sends one request and waits for the whole response. `headers` are set on
  // the request (replacing the defaults Host, User-Agent, Content-Type:
  // application/json when a body is given); Content-Length is computed.
  // The response body has no size limit (however it is framed or split
  // into writes: http_client_split_test.cc).
  domain::Result<HttpResponse> request(std::string_view method, std::string_view target, std::string_view body = {},
                                       const std::vector<std::pair<std::string, std::string>>& headers = {});

  // A request whose answer is streamed (Server-Sent Events): on a
  // connection of its own, the 2xx body goes to `on_data` piece by piece as
  // it arrives, until the server ends it or `on_data` returns false; the
  // answer comes back without its body. A non-2xx answer comes back whole
  // (body included) and `on_data` is not called. `timeout` bounds each
  // read: a stream must send something (a heartbeat) at least that often.
  domain::Result<HttpResponse> stream(std::string_view method, std::string_view target,
                                      const std::vector<std::pair<std::string, std::string>>& headers,
                                      const std::function<bool(std::string_view)>& on_data);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ledger::adapters::http

#include "adapters/http/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <exception>
#include <expected>
#include <limits>
#include <optional>

#include "adapters/http/response_wire.h"
#include "adapters/http/tls_stream.h"

namespace ledger::adapters::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

using BeastRequest = bhttp::request<bhttp::string_body>;
using detail::lower;

std::string to_string(beast::string_view s) { return std::string(s.data(), s.size()); }

// No limit on a response body (the client documents none), spelled as the
// largest number rather than boost::none: Boost 1.74's basic_parser compares
// a Content-Length with the optional limit (`len_ > body_limit_`), and an
// empty optional orders below every number, so any non-empty Content-Length
// "exceeds" it (boostorg/beast#2070). The error is only
// masked when body bytes arrive in the same read as the header (the eager
// parse goes on and overwrites it); an answer whose body comes in a later
// write failed with "body limit exceeded". Chunked and read-to-EOF bodies
// subtract from the number, which the maximum never runs out of.
template <typename Parser>
void no_body_limit(Parser& parser) {
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
}

// The outcome of one attempt; `retryable` when the kept-alive connection
// turned out to be dead before any byte of a response arrived.
struct Attempt {
  domain::Result<HttpResponse> result;
  bool retryable = false;
};

}  // namespace

class HttpClient::Impl {
 public:
  Impl(std::string host, std::uint16_t port, std::chrono::milliseconds timeout, std::optional<HttpClientTls> tls)
      : host_(std::move(host)), port_(port), timeout_(timeout), authority_(host_ + ":" + std::to_string(port_)) {
    if (tls) {
      tls_server_name_ = tls->server_name;
      tls_.emplace(net::ssl::context::tls_client);
      tls_->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                        net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1);
      boost::system::error_code ec;
      (void)tls_->load_verify_file(tls->ca_file, ec);  // Asio's ec overloads: the error is in ec
      if (ec) tls_error_ = "cannot load CA file " + tls->ca_file + ": " + ec.message();
      tls_->set_verify_mode(net::ssl::verify_peer);
    }
  }

  domain::Result<HttpResponse> request(std::string_view method, std::string_view target, std::string_view body,
                                       const std::vector<std::pair<std::string, std::string>>& headers) {
    BeastRequest req;
    try {
      req = build(method, target, body, headers);
    } catch (const std::exception&) {
      return domain::fail(domain::ErrorKind::kInvalidArgument, "http_bad_request", "invalid HTTP request");
    }
    const bool head = req.method() == bhttp::verb::head;
    const bool reused = stream_.has_value();
    Attempt attempt = send(req, head, reused);
    if (!attempt.result && attempt.retryable) attempt = send(req, head, false);
    return std::move(attempt.result);
  }

  domain::Result<HttpResponse> stream(std::string_view method, std::string_view target,
                                      const std::vector<std::pair<std::string, std::string>>& headers,
                                      const std::function<bool(std::string_view)>& on_data) {
    BeastRequest req;
    try {
      req = build(method, target, {}, headers);
    } catch (const std::exception&) {
      return domain::fail(domain::ErrorKind::kInvalidArgument, "http_bad_request", "invalid HTTP request");
    }
    disconnect();  // a stream gets a connection of its own
    if (!tls_error_.empty()) {
      domain::Error error{domain::ErrorKind::kUnavailable, "http_unavailable", "HTTPS client misconfigured", {}};
      error.with("stage", "tls").with("error", tls_error_);
      return domain::fail(std::move(error));
    }
    auto opened = open();
    if (!opened) return std::unexpected(std::move(opened.error()));
    detail::MaybeTlsStream& conn = **opened;
    conn.expires_after(timeout_);
    beast::error_code ec = run([&](auto handler) { bhttp::async_write(conn, req, std::move(handler)); });
    if (ec) {
      disconnect();
      return domain::fail(unavailable("write", ec));
    }
    bhttp::response_parser<bhttp::buffer_body> parser;
    no_body_limit(parser);
    conn.expires_after(timeout_);
    ec = run([&](auto handler) { bhttp::async_read_header(conn, buffer_, parser, std::move(handler)); });
    if (ec) {
      disconnect();
      return domain::fail(unavailable("read", ec));
    }
    HttpResponse out;
    out.status = static_cast<int>(parser.get().result_int());
    out.content_type = to_string(parser.get()[bhttp::field::content_type]);
    for (const auto& field : parser.get()) {
      out.headers.emplace_back(lower(to_string(field.name_string())), to_string(field.value()));
    }
    const bool streamed = out.status >= 200 && out.status < 300;
    char chunk[8192];
    while (!parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof chunk;
      // Each read waits at most `timeout` for more (a stream's heartbeats keep it alive).
      conn.expires_after(timeout_);
      ec = run([&](auto handler) { bhttp::async_read_some(conn, buffer_, parser, std::move(handler)); });
      if (ec && ec != bhttp::error::need_buffer) {
        disconnect();
        if (streamed && (ec == bhttp::error::end_of_stream || ec == net::error::eof)) return out;
        return domain::fail(unavailable("read", ec));
      }
      const std::string_view got(chunk, sizeof chunk - parser.get().body().size);
      if (!streamed) {
        out.body.append(got);
      } else if (!got.empty() && !on_data(got)) {
        break;
      }
    }
    disconnect();
    return out;
  }

 private:
  BeastRequest build(std::string_view method, std::string_view target, std::string_view body,
                     const std::vector<std::pair<std::string, std::string>>& headers) const {
    BeastRequest req;
    req.version(11);
    req.method_string(method);
    req.target(target);
    req.set(bhttp::field::host, authority_);
    req.set(bhttp::field::user_agent, "policy-ledger-client");
    if (!body.empty()) req.set(bhttp::field::content_type, "application/json");
    for (const auto& [name, value] : headers) req.set(name, value);
    req.body().assign(body.data(), body.size());
    req.prepare_payload();
    return req;
  }

  // Runs one asynchronous operation to completion on this thread; the
  // stream's timeout bounds it.
  template <typename Initiate>
  beast::error_code run(Initiate&& initiate) {
    beast::error_code result = net::error::would_block;
    ioc_.restart();
    initiate([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.run();
    return result;
  }

  domain::Error unavailable(std::string_view stage, const beast::error_code& ec) const {
    domain::Error error{
        domain::ErrorKind::kUnavailable, "http_unavailable", "HTTP server " + authority_ + " unavailable", {}};
    error.with("address", authority_).with("stage", std::string(stage)).with("error", ec.message());
    return error;
  }

  void disconnect() {
    if (stream_) {
      beast::error_code ignored;
      (void)stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);  // best effort
      stream_->close();
    }
    stream_.reset();
    buffer_.clear();
  }

  // A new connection in stream_: connected and, over TLS, handshaken. Else
  // the error, and no stream_.
  domain::Result<detail::MaybeTlsStream*> open() {
    auto conn = connect();
    if (!conn) return domain::fail(unavailable("connect", conn.error()));
    if ((*conn)->is_tls()) {
      if (auto ec = handshake(**conn)) {
        disconnect();
        return domain::fail(unavailable("handshake", ec));
      }
    }
    return *conn;
  }

  std::expected<detail::MaybeTlsStream*, beast::error_code> connect() {
    beast::error_code ec;
    if (!endpoints_) {
      tcp::resolver resolver(ioc_);
      auto results = resolver.resolve(host_, std::to_string(port_), tcp::resolver::numeric_service, ec);
      if (ec) return std::unexpected(ec);
      endpoints_ = std::move(results);
    }
    const tcp::resolver::results_type& endpoints = *endpoints_;
    const auto executor = detail::MaybeTlsStream::executor_type(ioc_.get_executor());
    detail::MaybeTlsStream& conn = tls_ ? stream_.emplace(executor, *tls_) : stream_.emplace(executor);
    conn.expires_after(timeout_);
    ec = run([&](auto handler) { conn.tcp().async_connect(endpoints, std::move(handler)); });
    if (ec) {
      disconnect();
      return std::unexpected(ec);
    }
    (void)conn.socket().set_option(tcp::no_delay(true), ec);  // without it, the connection still works
    return &conn;
  }

  // TLS: SNI, the peer's name, the handshake.
  beast::error_code handshake(detail::MaybeTlsStream& conn) {
    auto& tls = conn.tls();
    if (!SSL_set_tlsext_host_name(tls.native_handle(), tls_server_name_.c_str())) {
      return beast::error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category());
    }
    tls.set_verify_callback(net::ssl::host_name_verification(tls_server_name_));
    conn.expires_after(timeout_);
    return run([&](auto handler) { tls.async_handshake(net::ssl::stream_base::client, std::move(handler)); });
  }

  Attempt send(BeastRequest& req, bool head, bool reused) {
    if (!tls_error_.empty()) {
      domain::Error error{domain::ErrorKind::kUnavailable, "http_unavailable", "HTTPS client misconfigured", {}};
      error.with("stage", "tls").with("error", tls_error_);
      return {domain::fail(std::move(error)), false};
    }
    // The kept-alive connection, else a new one.
    detail::MaybeTlsStream* conn = stream_ ? &*stream_ : nullptr;
    if (conn == nullptr) {
      auto opened = open();
      if (!opened) return {std::unexpected(std::move(opened.error())), false};
      conn = *opened;
    }

    conn->expires_after(timeout_);
    beast::error_code ec = run([&](auto handler) { bhttp::async_write(*conn, req, std::move(handler)); });
    if (ec) {
      disconnect();
      // A dead kept-alive connection usually shows up here as a reset or a
      // broken pipe; the server has not seen the request.
      return {domain::fail(unavailable("write", ec)), reused && ec != beast::error::timeout};
    }

    bhttp::response_parser<bhttp::string_body> parser;
    no_body_limit(parser);
    if (head) parser.skip(true);
    conn->expires_after(timeout_);
    ec = run([&](auto handler) { bhttp::async_read(*conn, buffer_, parser, std::move(handler)); });
    if (ec) {
      const bool nothing_arrived = !parser.got_some() && buffer_.size() == 0;
      disconnect();
      // A timeout is not retried: the server may still be working on it.
      return {domain::fail(unavailable("read", ec)), reused && nothing_arrived && ec != beast::error::timeout};
    }

    auto res = parser.release();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    out.content_type = to_string(res[bhttp::field::content_type]);
    for (const auto& field : res) {
      out.headers.emplace_back(lower(to_string(field.name_string())), to_string(field.value()));
    }
    out.body = std::move(res.body());
    if (res.need_eof()) disconnect();
    return {std::move(out), false};
  }

  const std::string host_;
  const std::uint16_t port_;
  const std::chrono::milliseconds timeout_;
  const std::string authority_;
  net::io_context ioc_{1};
  std::optional<tcp::resolver::results_type> endpoints_;
  std::optional<net::ssl::context> tls_;
  std::string tls_server_name_;
  std::string tls_error_;  // the CA file could not be loaded
  std::optional<detail::MaybeTlsStream> stream_;
  beast::flat_buffer buffer_;
};

HttpClient::HttpClient(std::string host, std::uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(std::move(host), port, timeout, std::nullopt)) {}

HttpClient::HttpClient(std::string host, std::uint16_t port, std::chrono::milliseconds timeout, HttpClientTls tls)
    : impl_(std::make_unique<Impl>(std::move(host), port, timeout, std::move(tls))) {}

HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

domain::Result<HttpResponse> HttpClient::stream(std::string_view method, std::string_view target,
                                                const std::vector<std::pair<std::string, std::string>>& headers,
                                                const std::function<bool(std::string_view)>& on_data) {
  return impl_->stream(method, target, headers, on_data);
}

domain::Result<HttpResponse> HttpClient::request(std::string_view method, std::string_view target,
                                                 std::string_view body,
                                                 const std::vector<std::pair<std::string, std::string>>& headers) {
  return impl_->request(method, target, body, headers);
}

}  // namespace ledger::adapters::http

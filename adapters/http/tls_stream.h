// Internal to adapters/http (Beast inside): a TCP stream that is, or is not,
// wrapped in TLS, with the async_read_some / async_write_some / executor
// interface Beast's HTTP operations need, so one Session (server) or one
// connection (client) serves both. Completion handlers only (no other
// completion tokens). Not thread-safe (like the streams it wraps).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <utility>
#include <variant>

namespace ledger::adapters::http::detail {

class MaybeTlsStream {
 public:
  using executor_type = boost::beast::tcp_stream::executor_type;
  using Plain = boost::beast::tcp_stream;
  using Tls = boost::beast::ssl_stream<boost::beast::tcp_stream>;

  // Plain TCP.
  explicit MaybeTlsStream(boost::asio::ip::tcp::socket socket)
      : stream_(std::in_place_type<Plain>, std::move(socket)) {}
  // TLS over `socket` with `context` (which must outlive the stream).
  MaybeTlsStream(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& context)
      : stream_(std::in_place_type<Tls>, std::move(socket), context) {}
  // Unconnected, on `executor` (clients connect tcp() first).
  explicit MaybeTlsStream(const executor_type& executor) : stream_(std::in_place_type<Plain>, executor) {}
  MaybeTlsStream(const executor_type& executor, boost::asio::ssl::context& context)
      : stream_(std::in_place_type<Tls>, boost::beast::tcp_stream(executor), context) {}

  bool is_tls() const { return std::holds_alternative<Tls>(stream_); }
  // Only when is_tls().
  Tls& tls() { return std::get<Tls>(stream_); }
  boost::beast::tcp_stream& tcp() {
    if (Tls* tls = std::get_if<Tls>(&stream_)) return boost::beast::get_lowest_layer(*tls);
    return std::get<Plain>(stream_);
  }

  executor_type get_executor() { return tcp().get_executor(); }
  template <class Duration>
  void expires_after(Duration d) {
    tcp().expires_after(d);
  }
  void expires_never() { tcp().expires_never(); }
  boost::asio::ip::tcp::socket& socket() { return tcp().socket(); }
  void close() { tcp().close(); }

  template <class MutableBuffers, class Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    if (Tls* tls = std::get_if<Tls>(&stream_)) return tls->async_read_some(buffers, std::forward<Handler>(handler));
    std::get<Plain>(stream_).async_read_some(buffers, std::forward<Handler>(handler));
  }
  template <class ConstBuffers, class Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    if (Tls* tls = std::get_if<Tls>(&stream_)) return tls->async_write_some(buffers, std::forward<Handler>(handler));
    std::get<Plain>(stream_).async_write_some(buffers, std::forward<Handler>(handler));
  }

 private:
  // Exactly one of the two.
  std::variant<Plain, Tls> stream_;
};

}  // namespace ledger::adapters::http::detail

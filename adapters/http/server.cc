#include "adapters/http/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "adapters/http/correlation.h"
#include "adapters/http/response_wire.h"
#include "adapters/http/target.h"
#include "adapters/http/tls_stream.h"
#include "commands/decode.h"
#include "commands/edge_values.h"

namespace ledger::adapters::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using detail::framing_field;
using detail::has_crlf;
using detail::kServerName;
using detail::lower;
using detail::to_wire;
using detail::valid_field;
using detail::WireResponse;

// After an error response we stop sending and read (and discard) what the
// client is still sending, so that closing does not reset the connection and
// destroy the response before the client has read it. Bounded both ways.
constexpr std::size_t kMaxDrainBytes = 64u << 20;
constexpr std::chrono::seconds kMaxDrainTime{5};
constexpr std::size_t kDrainChunk = 64u << 10;
constexpr std::chrono::milliseconds kAcceptBackoff{50};
// What one read asks of the socket at least. Beast asks for the buffer's
// spare room, and no less than 512 bytes; a decision request with its
// headers is larger than that, and would take two reads.
constexpr std::size_t kReadReserve = 4u << 10;
// Pipelined requests: answers wait for one write while the next request's
// header is already read, up to this many answers or bytes (a client that
// sends a stream of requests and reads nothing holds no more than this).
constexpr std::size_t kMaxHeldAnswers = 64;
constexpr std::size_t kMaxHeldBytes = 256u << 10;

using BeastRequest = bhttp::request<bhttp::string_body>;

std::string describe_size(std::size_t n) {
  constexpr std::size_t kKiB = 1024;
  constexpr std::size_t kMiB = kKiB * 1024;
  if (n >= kMiB && n % kMiB == 0) return std::to_string(n / kMiB) + " MiB";
  if (n >= kKiB && n % kKiB == 0) return std::to_string(n / kKiB) + " KiB";
  return std::to_string(n) + " bytes";
}

std::string to_string(beast::string_view s) { return std::string(s.data(), s.size()); }

HttpResponse error_response(int status, std::string_view code, std::string_view message) {
  // Codes and messages are fixed ASCII built here: no escaping needed.
  return HttpResponse::json(
      status, std::string(R"({"code":")") + std::string(code) + R"(","message":")" + std::string(message) + R"("})");
}

HttpResponse internal_error() { return error_response(500, "internal", "internal error"); }

// An answer the server gives from a request's header alone (a refused
// transfer coding, a body over the limit) echoes its X-Correlation-Id when
// the header holds exactly one usable value, as every route's answer does.
HttpResponse with_correlation_id(HttpResponse r, const BeastRequest& req) {
  if (req.count("x-correlation-id") != 1) return r;
  const std::string value(req["x-correlation-id"]);
  echo_correlation_id(r, &value);
  return r;
}

// Request smuggling starts where two parsers disagree on where a body ends:
// the only transfer coding accepted is a single `chunked` (any case, no
// list, no second field); anything else is refused before the body is read.
bool acceptable_transfer_encoding(const BeastRequest& req) {
  std::size_t fields = 0;
  for (const auto& field : req) {
    if (field.name() != bhttp::field::transfer_encoding) continue;
    if (++fields > 1) return false;
    std::string_view v(field.value().data(), field.value().size());
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    if (!beast::iequals(v, "chunked")) return false;
  }
  return true;
}

// Decoded path and query text reaches handlers, answers, logs and events:
// it must be UTF-8; the path also without control characters (NUL included).
std::optional<HttpResponse> undecodable_target(const HttpRequest& req) {
  if (!commands::printable_text(req.path)) {
    return error_response(400, "invalid_path_encoding", "the request path is not UTF-8 text once percent-decoded");
  }
  for (const auto& [key, value] : req.query) {
    if (!commands::valid_utf8(key) || !commands::valid_utf8(value) || key.find('\0') != std::string::npos ||
        value.find('\0') != std::string::npos) {
      return error_response(400, "invalid_query_encoding", "a query parameter is not UTF-8 text once percent-decoded");
    }
  }
  return std::nullopt;
}

class Session;
class Reply;

// Every unanswered request of a running server (its Reply). stop() turns
// them off, so that a responder kept past stop() touches no connection, no
// pool and no io_context. `mu` guards the sets and every responder's
// session pointer, and is held only while they change. `gate` is held shared
// while an answer is handed to its connection (on the connection's io thread
// the write, a system call, starts right there) and exclusively by stop()
// while it sets `stopped`: answers go out side by side, never across a
// stop. `stopped` is written under both, read under either.
class StreamWriter;
struct Hub {
  std::shared_mutex gate;
  std::mutex mu;
  bool stopped = false;
  std::unordered_set<Reply*> live;
  std::unordered_set<StreamWriter*> streams;  // streamed answers, released at stop
  net::thread_pool* requests = nullptr;       // valid until stopped
};

// State shared by the server and all its connections of one start();
// immutable once started (the hub aside).
struct Shared {
  AsyncHttpHandler handler;
  std::size_t body_limit;
  std::chrono::seconds idle_timeout;
  std::string body_limit_text;
  std::vector<std::string> control_paths;
  std::function<bool(const HttpRequest&)> answers_at_once;  // handled on the io thread
  net::thread_pool* requests = nullptr;                     // handlers
  net::thread_pool* control = nullptr;                      // handlers of control_paths
  std::shared_ptr<Hub> hub;
  net::ssl::context* tls = nullptr;  // set: every connection is TLS
  std::function<void(const Exchange&)> on_answer;
};

detail::MaybeTlsStream make_stream(tcp::socket socket, const Shared& shared) {
  if (shared.tls) return detail::MaybeTlsStream(std::move(socket), *shared.tls);
  return detail::MaybeTlsStream(std::move(socket));
}

HttpRequest to_request(BeastRequest&& req, const std::string& remote) {
  HttpRequest out;
  out.method = to_string(req.method_string());
  out.target = to_string(req.target());
  ParsedTarget parsed = parse_target(out.target);
  out.path = std::move(parsed.path);
  out.query = std::move(parsed.query);
  for (const auto& field : req) {
    out.headers.emplace_back(lower(to_string(field.name_string())), to_string(field.value()));
  }
  out.body = std::move(req.body());
  out.remote_address = remote;
  return out;
}

// One accepted connection. Lives as long as an asynchronous operation holds
// it (shared_from_this); every step runs on the connection's io thread (the
// only thread of its io_context), so the members need no locking.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<const Shared> shared, std::string remote)
      : stream_(make_stream(std::move(socket), *shared)), shared_(std::move(shared)), remote_(std::move(remote)) {
    buffer_.reserve(kReadReserve);
  }

  void run() {
    net::dispatch(
        stream_.get_executor(),
        beast::bind_front_handler(stream_.is_tls() ? &Session::handshake : &Session::read_header, shared_from_this()));
  }

  // Answers the request being handled (on the connection's io thread).
  void respond(HttpResponse response) {
    net::dispatch(stream_.get_executor(), [self = shared_from_this(), response = std::move(response)]() mutable {
      self->send(std::move(response), self->version_, self->head_, self->close_);
    });
  }

  // A streamed answer (HttpStream): the head, then chunks as they are
  // queued, then the last chunk and the connection's end. Nothing is read
  // from the connection meanwhile.
  void start_stream(HttpResponse head, std::weak_ptr<StreamWriter> writer) {
    net::dispatch(stream_.get_executor(), [self = shared_from_this(), head = std::move(head), writer]() mutable {
      self->begin_stream(std::move(head), std::move(writer));
    });
  }
  void stream_write(std::string data) {
    net::dispatch(stream_.get_executor(), [self = shared_from_this(), data = std::move(data)]() mutable {
      self->pending_.push_back(std::move(data));
      if (!self->stream_busy_) self->pump_stream();
    });
  }
  void stream_end() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->stream_ending_ = true;
      if (!self->stream_busy_) self->pump_stream();
    });
  }

 private:
  // TLS: the handshake before the first request, bounded like a read.
  void handshake() {
    stream_.expires_after(shared_->idle_timeout);
    stream_.tls().async_handshake(net::ssl::stream_base::server,
                                  beast::bind_front_handler(&Session::on_handshake, shared_from_this()));
  }

  void on_handshake(beast::error_code ec) {
    if (ec) {
      // E.g. a plain-HTTP request to the TLS port: nothing to answer.
      spdlog::debug("http: TLS handshake with {} failed: {}", remote_, ec.message());
      return close();
    }
    read_header();
  }

  // The parser of the request being read: read_header() makes it, on_read()
  // drops it; in between every step of the reading has one.
  bhttp::request_parser<bhttp::string_body>& parser() {
    return *parser_;  // NOLINT(bugprone-unchecked-optional-access): only while reading, see above
  }

  void read_header() {
    parser_.emplace();
    parser_->body_limit(static_cast<std::uint64_t>(shared_->body_limit));
    stream_.expires_after(shared_->idle_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    started_ = std::chrono::steady_clock::now();
    method_.clear();
    path_.clear();
    correlation_id_.clear();
    if (ec) return on_read_error(ec);
    const BeastRequest& req = parser().get();
    if (!acceptable_transfer_encoding(req)) {
      spdlog::debug("http: refused transfer coding from {}", remote_);
      return send(
          with_correlation_id(
              error_response(400, "invalid_transfer_encoding", "Transfer-Encoding must be exactly chunked"), req),
          req.version(), false, true);
    }
    // The rest of this request must come from the socket, or an interim
    // 100 Continue goes out: the answers held go out first (a client may
    // wait for them before it sends more).
    if (!held_.empty() && (!body_buffered() || expects_continue(req))) return flush(&Session::after_header);
    after_header();
  }

  bool expects_continue(const BeastRequest& req) {
    return req.version() >= 11 && beast::iequals(req[bhttp::field::expect], "100-continue") && !parser().is_done();
  }

  void after_header() {
    const BeastRequest& req = parser().get();
    if (expects_continue(req)) {
      continue_.emplace(bhttp::status::continue_, req.version());
      stream_.expires_after(shared_->idle_timeout);
      bhttp::async_write(stream_, *continue_, beast::bind_front_handler(&Session::on_continue, shared_from_this()));
      return;
    }
    read_body();
  }

  void on_continue(beast::error_code ec, std::size_t) {
    if (ec) return close();
    read_body();
  }

  void read_body() {
    if (parser().is_done()) return on_read({}, 0);
    stream_.expires_after(shared_->idle_timeout);
    bhttp::async_read(stream_, buffer_, parser(), beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read_error(beast::error_code ec) {
    if (ec == net::error::operation_aborted) return;
    if (ec == bhttp::error::body_limit) {
      auto refused = error_response(413, "body_too_large", "request body exceeds " + shared_->body_limit_text);
      // The header was read whole: its correlation id is known.
      if (parser_) refused = with_correlation_id(std::move(refused), parser_->get());
      return send(std::move(refused), 11, false, true);
    }
    const bool parse_error = ec.category() == beast::error_code(bhttp::error::bad_method).category() &&
                             ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
    if (parse_error) {
      spdlog::debug("http: malformed request from {}: {}", remote_, ec.message());
      return send(error_response(400, "malformed_request", "request is not valid HTTP/1.1"), 11, false, true);
    }
    // The client went away, the connection idled out, or the socket failed:
    // nobody to answer.
    close();
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    BeastRequest req = parser().release();
    parser_.reset();
    version_ = req.version();
    close_ = !req.keep_alive();
    head_ = req.method() == bhttp::verb::head;
    HttpRequest request = to_request(std::move(req), remote_);
    method_ = request.method;
    path_ = request.path;
    if (const std::string* corr = request.header("x-correlation-id")) correlation_id_ = corr->substr(0, 256);
    if (auto refused = undecodable_target(request)) {
      // The answer echoes a usable X-Correlation-Id, as every route's does.
      echo_correlation_id(*refused, request.header("x-correlation-id"));
      return send(std::move(*refused), version_, head_, close_);
    }
    dispatch_request(std::move(request));
  }

  // Hands the request to the control threads or the request pool; nothing
  // is read from this connection until it is answered.
  void dispatch_request(HttpRequest request);

  void send(HttpResponse response, unsigned version, bool head, bool close) {
    observe(response.status, response.actor);
    if (response.status < 200 || response.status > 999) {
      spdlog::error("http handler returned invalid status {}", response.status);
      response = internal_error();
    }
    WireResponse wire;
    try {
      wire = to_wire(std::move(response), version, head, close);
    } catch (const std::exception& e) {
      spdlog::error("http: could not build response: {}", e.what());
      close = true;
      wire = to_wire(internal_error(), version, head, close);
    }
    held_bytes_ += wire.head.size() + wire.body.size();
    held_.push_back(std::move(wire));
    ++answers_;
    close_after_ = close;
    // An earlier flush still writing: this answer follows it.
    if (writing_) {
      after_flush_ = &Session::next_request;
      return;
    }
    next_request();
  }

  // After an answer, held with any before it.
  void next_request() {
    if (close_after_) return flush(&Session::linger);
    // Pipelining: the next request's header is already here (on_header
    // checks its body), so the answers wait to go out with its answer, in
    // one write.
    if (held_.size() < kMaxHeldAnswers && held_bytes_ < kMaxHeldBytes && header_buffered()) return read_header();
    flush(&Session::read_header);
  }

  // Writes the answers held, in order, in one write; then `next`.
  void flush(void (Session::*next)()) {
    after_flush_ = next;
    writing_ = true;
    in_flight_ = held_.size();
    gather_.clear();
    for (const auto& wire : held_) {
      gather_.push_back(net::buffer(wire.head));
      if (!wire.body.empty()) gather_.push_back(net::buffer(wire.body));
    }
    stream_.expires_after(shared_->idle_timeout);
    net::async_write(stream_, gather_, beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  // A request being handled elsewhere (the pool, or a handler on this
  // thread that answers later): the answers held before it go out now.
  void flush_while_handled() {
    if (!held_.empty() && !writing_) flush(&Session::wait_for_answer);
  }
  void wait_for_answer() {}

  // Whether the buffer holds a request's whole header (what Beast's parser
  // needs before it looks at a body).
  bool header_buffered() const {
    const auto data = buffer_.data();
    const std::string_view text(static_cast<const char*>(data.data()), data.size());
    return text.find("\r\n\r\n") != std::string_view::npos;
  }
  // After the header: whether the rest of the request is in the buffer
  // (no body, or a Content-Length body read whole). A chunked body is
  // taken to need the socket.
  bool body_buffered() {
    if (parser().is_done()) return true;
    const auto length = parser().content_length_remaining();
    return length && buffer_.size() >= *length;
  }

  void begin_stream(HttpResponse head, std::weak_ptr<StreamWriter> writer);
  void begin_deferred_stream() { begin_stream(std::move(deferred_head_), std::move(deferred_writer_)); }
  void pump_stream();
  void stream_failed();

  void observe(int status, std::string_view actor) noexcept {
    if (!shared_->on_answer) return;
    try {
      shared_->on_answer(Exchange{.method = method_,
                                  .path = path_,
                                  .correlation_id = correlation_id_,
                                  .actor = actor,
                                  .status = status,
                                  .elapsed = std::chrono::steady_clock::now() - started_});
    } catch (const std::exception& e) {
      spdlog::warn("http: answer observer threw: {}", e.what());
    } catch (...) {
      // Swallowed: observing must not fail the answer (and this is noexcept).
      spdlog::warn("http: answer observer threw a non-exception");
    }
  }

  void on_write(beast::error_code ec, std::size_t) {
    for (; in_flight_ > 0; --in_flight_) {
      held_bytes_ -= held_.front().head.size() + held_.front().body.size();
      held_.pop_front();
    }
    writing_ = false;
    if (ec) return close();
    (this->*after_flush_)();
  }

  void linger() {
    beast::error_code ec;
    (void)stream_.socket().shutdown(tcp::socket::shutdown_send, ec);  // Asio's ec overloads: the error is in ec
    if (ec) return close();
    buffer_.consume(buffer_.size());
    drained_ = 0;
    // One deadline for the whole drain, not one per read.
    stream_.expires_after(std::min<std::chrono::steady_clock::duration>(shared_->idle_timeout, kMaxDrainTime));
    drain();
  }

  void drain() {
    stream_.async_read_some(buffer_.prepare(kDrainChunk),
                            beast::bind_front_handler(&Session::on_drain, shared_from_this()));
  }

  void on_drain(beast::error_code ec, std::size_t n) {
    drained_ += n;
    if (ec || drained_ > kMaxDrainBytes) return close();
    drain();
  }

  void close() {
    beast::error_code ignored;
    (void)stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);  // best effort
    stream_.close();
  }

  detail::MaybeTlsStream stream_;
  std::shared_ptr<const Shared> shared_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::empty_body>> continue_;
  // Answers not written yet (pipelined requests: see send()) and their
  // size; while a write is on, the first in_flight_ of them are in it (a
  // deque: answers added meanwhile move none of them), in gather_'s buffers.
  std::deque<WireResponse> held_;
  std::size_t held_bytes_ = 0;
  std::size_t in_flight_ = 0;
  std::vector<net::const_buffer> gather_;
  bool writing_ = false;
  void (Session::*after_flush_)() = &Session::wait_for_answer;  // when the write is done
  bool close_after_ = false;                                    // the last answer closes the connection
  std::uint64_t answers_ = 0;  // answers given: whether a handler answered before it returned
  // A streamed answer that waits for a write of held answers to end.
  HttpResponse deferred_head_;
  std::weak_ptr<StreamWriter> deferred_writer_;
  std::size_t drained_ = 0;
  // The request being handled.
  unsigned version_ = 11;
  bool head_ = false;
  bool close_ = false;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::string method_;
  std::string path_;
  std::string correlation_id_;
  // A streamed answer, once begun (the writer holds this session).
  std::weak_ptr<StreamWriter> stream_writer_;
  std::shared_ptr<bhttp::response<bhttp::empty_body>> stream_head_;
  std::shared_ptr<bhttp::response_serializer<bhttp::empty_body>> stream_serializer_;
  std::deque<std::string> pending_;
  bool stream_busy_ = true;  // until the head is written
  bool stream_ending_ = false;
};

// What an HttpResponder::stream() answer hands out: queues chunks onto its
// connection's io thread while the connection and the server live. It keeps
// its connection (nothing else does while no write is pending) until it is
// dropped or the server stops (detach()).
class StreamWriter final : public HttpStream {
 public:
  // Called with hub->mu held.
  StreamWriter(std::shared_ptr<Hub> hub, std::shared_ptr<Session> session)
      : hub_(std::move(hub)), session_(std::move(session)) {}
  ~StreamWriter() override {
    close();
    std::lock_guard lock(hub_->mu);
    hub_->streams.erase(this);
  }
  // Called by stop() with the hub locked: the connection, to be released
  // after the lock.
  std::shared_ptr<Session> detach() {
    open_ = false;
    return std::move(session_);
  }

  bool write(std::string data) override {
    if (!open_.load()) return false;
    if (data.empty()) return true;
    if (queued_.fetch_add(data.size()) + data.size() > kMaxQueuedBytes) {
      spdlog::info("http: a streamed answer fell {} bytes behind; closing it", queued_.load());
      close();
      return false;
    }
    std::lock_guard lock(hub_->mu);  // the server's stop() sets `stopped` under it
    if (hub_->stopped || !session_) {
      open_ = false;
      return false;
    }
    session_->stream_write(std::move(data));
    return true;
  }
  void close() override {
    if (!open_.exchange(false)) return;
    std::lock_guard lock(hub_->mu);
    if (session_ && !hub_->stopped) session_->stream_end();
  }
  bool open() const override { return open_.load(); }

  // From the connection's io thread.
  void wrote(std::size_t bytes) { queued_.fetch_sub(bytes); }
  void failed() { open_ = false; }

 private:
  std::shared_ptr<Hub> hub_;
  std::shared_ptr<Session> session_;  // guarded by hub_->mu
  std::atomic<bool> open_{true};
  std::atomic<std::size_t> queued_{0};
};

void Session::begin_stream(HttpResponse head, std::weak_ptr<StreamWriter> writer) {
  if (writing_ || !held_.empty()) {
    // Answers to earlier pipelined requests go out first: still being
    // written, or held (a handler on the io thread that streams at once).
    deferred_head_ = std::move(head);
    deferred_writer_ = std::move(writer);
    if (writing_) {
      after_flush_ = &Session::begin_deferred_stream;
    } else {
      flush(&Session::begin_deferred_stream);
    }
    return;
  }
  stream_writer_ = std::move(writer);
  if (head.status < 200 || head.status > 999) head.status = 500;
  observe(head.status, head.actor);
  auto res = std::make_shared<bhttp::response<bhttp::empty_body>>(static_cast<bhttp::status>(head.status), version_);
  res->set(bhttp::field::server, kServerName);
  if (!head.content_type.empty() && !has_crlf(head.content_type))
    res->set(bhttp::field::content_type, head.content_type);
  for (auto& [name, value] : head.headers) {
    if (valid_field(name, value) && !framing_field(name)) res->insert(name, value);
  }
  res->keep_alive(false);
  res->chunked(true);
  stream_head_ = res;
  stream_serializer_ = std::make_shared<bhttp::response_serializer<bhttp::empty_body>>(*res);
  stream_.expires_after(shared_->idle_timeout);
  bhttp::async_write_header(stream_, *stream_serializer_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->stream_failed();
                              self->stream_busy_ = false;
                              self->pump_stream();
                            });
}

void Session::pump_stream() {
  if (pending_.empty()) {
    if (!stream_ending_) {
      // Nothing to write: the connection waits without a deadline.
      stream_.expires_never();
      return;
    }
    stream_busy_ = true;
    stream_.expires_after(shared_->idle_timeout);
    net::async_write(stream_, bhttp::make_chunk_last(), [self = shared_from_this()](beast::error_code, std::size_t) {
      if (auto w = self->stream_writer_.lock()) w->failed();  // ended: nothing more goes out
      self->linger();
    });
    return;
  }
  auto data = std::make_shared<std::string>(std::move(pending_.front()));
  pending_.pop_front();
  stream_busy_ = true;
  // A client that stops reading stalls the write: closed after idle_timeout.
  stream_.expires_after(shared_->idle_timeout);
  net::async_write(stream_, bhttp::make_chunk(net::buffer(*data)),
                   [self = shared_from_this(), data](beast::error_code ec, std::size_t) {
                     if (ec) return self->stream_failed();
                     if (auto w = self->stream_writer_.lock()) w->wrote(data->size());
                     self->stream_busy_ = false;
                     self->pump_stream();
                   });
}

void Session::stream_failed() {
  if (auto w = stream_writer_.lock()) w->failed();
  pending_.clear();
  close();
}

// The answer to one request: what an HttpResponder reaches. Holds its
// connection until answered (or until the server stops).
class Reply final : public HttpResponder::Target, public std::enable_shared_from_this<Reply> {
 public:
  Reply(std::shared_ptr<Hub> hub, std::shared_ptr<Session> session)
      : hub_(std::move(hub)), session_(std::move(session)) {
    std::lock_guard lock(hub_->mu);
    hub_->live.insert(this);
  }

  ~Reply() override {
    if (!answered_) send(internal_error());
    std::lock_guard lock(hub_->mu);
    hub_->live.erase(this);
  }

  void send(HttpResponse response) override {
    std::shared_lock gate(hub_->gate);
    std::shared_ptr<Session> session;
    {
      std::lock_guard lock(hub_->mu);
      if (answered_ || hub_->stopped || !session_) return;
      answered_ = true;
      session = std::move(session_);
    }
    session->respond(std::move(response));
  }

  void resume(std::function<void()> work) override {
    std::lock_guard lock(hub_->mu);
    if (hub_->stopped) return;
    net::post(*hub_->requests, [self = weak_from_this(), work = std::move(work)] {
      try {
        work();
      } catch (const std::exception& e) {
        spdlog::error("http: resumed work threw: {}", e.what());
        if (auto reply = self.lock()) reply->send(internal_error());
      } catch (...) {
        spdlog::error("http: resumed work threw a non-exception");
        if (auto reply = self.lock()) reply->send(internal_error());
      }
    });
  }

  std::shared_ptr<HttpStream> stream(HttpResponse head) override {
    std::lock_guard lock(hub_->mu);
    if (answered_ || hub_->stopped || !session_) return nullptr;
    answered_ = true;
    std::shared_ptr<Session> session = std::move(session_);
    auto writer = std::make_shared<StreamWriter>(hub_, session);
    hub_->streams.insert(writer.get());
    session->start_stream(std::move(head), writer);
    return writer;
  }

  // Called by stop() with the hub locked: the connection, to be released
  // after the lock.
  std::shared_ptr<Session> detach() { return std::move(session_); }

 private:
  std::shared_ptr<Hub> hub_;
  std::shared_ptr<Session> session_;  // guarded by hub_->mu
  bool answered_ = false;             // guarded by hub_->mu
};

void run_handler(const Shared& shared, HttpRequest request, const std::shared_ptr<Reply>& reply) {
  // Method and path only in logs: bodies, queries and headers may carry secrets.
  const std::string method = request.method;
  const std::string path = request.path;
  try {
    shared.handler(std::move(request), HttpResponder(reply));
  } catch (const std::exception& e) {
    spdlog::error("http handler threw on {} {}: {}", method, path, e.what());
    reply->send(internal_error());
  } catch (...) {
    spdlog::error("http handler threw a non-exception on {} {}", method, path);
    reply->send(internal_error());
  }
}

// Options::answers_at_once, asked on the io thread: a predicate that throws
// sends the request to the pool, as if it had said no.
bool at_once(const Shared& shared, const HttpRequest& request) noexcept {
  if (!shared.answers_at_once) return false;
  try {
    return shared.answers_at_once(request);
  } catch (...) {
    return false;
  }
}

void Session::dispatch_request(HttpRequest request) {
  const bool control = std::find(shared_->control_paths.begin(), shared_->control_paths.end(), request.path) !=
                       shared_->control_paths.end();
  auto reply = std::make_shared<Reply>(shared_->hub, shared_from_this());
  if (!control && at_once(*shared_, request)) {
    // On this connection's io thread: an answer given before this returns is
    // held or written (send()) before it returns.
    const std::uint64_t before = answers_;
    run_handler(*shared_, std::move(request), reply);
    if (answers_ == before) flush_while_handled();
    return;
  }
  net::post(control ? *shared_->control : *shared_->requests,
            [shared = shared_, request = std::move(request), reply = std::move(reply)]() mutable {
              run_handler(*shared, std::move(request), reply);
            });
  flush_while_handled();
}

AsyncHttpHandler from_sync(HttpHandler handler) {
  return [handler = std::move(handler)](const HttpRequest& request, const HttpResponder& respond) {
    respond.send(handler(request));
  };
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(Options options, AsyncHttpHandler handler) : options_(std::move(options)), handler_(std::move(handler)) {}

  ~Impl() { stop(); }

  domain::Result<void> start() {
    std::lock_guard lock(mu_);
    if (!iocs_.empty()) {
      return domain::fail(domain::ErrorKind::kFailedPrecondition, "already_started", "server already started");
    }
    if (auto loaded = load_tls(); !loaded) return loaded;
    const int threads = std::max(1, options_.threads);
    // One io_context per io thread, each run by that thread alone (the
    // concurrency hint 1 tells Asio so), and every connection on one of
    // them: a connection's steps never hop between io threads, and an
    // event is handled by the thread that waited for it. One io_context
    // shared by two threads handed events between them (a futex wake per
    // handoff): at 5,000 decisions/s, 108 µs of CPU per decision with the
    // shared one against 86 µs with a single thread (bench/README.md).
    // Each is kept running while it has no connection (run() returns once
    // an io_context has no work).
    const int io_threads = std::max(1, options_.io_threads);
    for (int i = 0; i < io_threads; ++i) {
      iocs_.push_back(std::make_unique<net::io_context>(1));
      keep_running_.push_back(net::make_work_guard(*iocs_.back()));
    }

    std::string_view stage;
    tcp::endpoint bound;
    if (const beast::error_code ec = open_listener(stage, bound)) {
      spdlog::error("http server could not listen on {}:{} ({}): {}", options_.address, options_.port, stage,
                    ec.message());
      // Every I/O object goes before the io_context it was made from.
      accept_timer_.reset();
      acceptor_.reset();
      keep_running_.clear();
      iocs_.clear();
      domain::Error error{
          domain::ErrorKind::kUnavailable, "listen_failed", "could not listen for HTTP connections", {}};
      error.with("address", options_.address)
          .with("port", options_.port)
          .with("stage", std::string(stage))
          .with("error", ec.message());
      return domain::fail(std::move(error));
    }
    if (!tls_ && !bound.address().is_loopback()) {
      // Plain HTTP carries bearer tokens in clear: loopback only.
      beast::error_code ignored;
      (void)acceptor_->close(ignored);
      accept_timer_.reset();
      acceptor_.reset();
      keep_running_.clear();
      iocs_.clear();
      domain::Error error{domain::ErrorKind::kFailedPrecondition,
                          "plain_http_not_loopback",
                          "plain HTTP is served on a loopback address only; give a TLS certificate and key",
                          {}};
      error.with("address", options_.address);
      return domain::fail(std::move(error));
    }
    port_.store(bound.port());

    requests_ = std::make_unique<net::thread_pool>(static_cast<std::size_t>(threads));
    control_ = std::make_unique<net::thread_pool>(static_cast<std::size_t>(std::max(1, options_.control_threads)));
    auto shared = std::make_shared<Shared>();
    shared->handler = handler_;
    shared->body_limit = options_.body_limit;
    shared->idle_timeout = options_.idle_timeout;
    shared->body_limit_text = describe_size(options_.body_limit);
    shared->control_paths = options_.control_paths;
    shared->requests = requests_.get();
    shared->control = control_.get();
    shared->hub = std::make_shared<Hub>();
    shared->hub->requests = requests_.get();
    shared->tls = tls_.get();
    shared->on_answer = options_.on_answer;
    shared->answers_at_once = options_.answers_at_once;
    shared_ = std::move(shared);

    accept();
    threads_.reserve(iocs_.size());
    for (const auto& context : iocs_) {
      threads_.emplace_back([ioc = context.get()] {
        for (;;) {
          try {
            ioc->run();
            return;
          } catch (const std::exception& e) {
            // Only the connection whose step threw is lost; keep serving.
            spdlog::error("http io thread caught: {}", e.what());
          }
        }
      });
    }
    spdlog::info("http{} server listening on {}:{} with {} request threads", tls_ ? "s" : "",
                 bound.address().to_string(), bound.port(), threads);
    return {};
  }

  std::uint16_t port() const { return port_.load(); }

  void stop() {
    std::lock_guard lock(mu_);
    if (iocs_.empty()) return;
    // Stop the loops first so no handler runs concurrently with the teardown
    // below; handlers already running finish, then their threads exit.
    for (const auto& context : iocs_) context->stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    keep_running_.clear();
    // Responders kept by handlers (or past them) answer nothing from now on;
    // their connections are released below, while the io_context lives.
    std::vector<std::shared_ptr<Session>> held;
    {
      std::unique_lock gate(shared_->hub->gate);  // every answer being handed over is out
      std::lock_guard hub_lock(shared_->hub->mu);
      shared_->hub->stopped = true;
      for (Reply* reply : shared_->hub->live) {
        if (auto session = reply->detach()) held.push_back(std::move(session));
      }
      for (StreamWriter* stream : shared_->hub->streams) {
        if (auto session = stream->detach()) held.push_back(std::move(session));
      }
    }
    for (auto* pool : {requests_.get(), control_.get()}) {
      pool->stop();
      pool->join();
    }
    requests_.reset();
    control_.reset();
    held.clear();
    shared_.reset();
    beast::error_code ignored;
    (void)acceptor_->close(ignored);
    accept_timer_.reset();
    acceptor_.reset();
    // Destroying the io_contexts destroys every pending operation, and with
    // them the last references to the sessions, which closes their sockets.
    iocs_.clear();
    port_.store(0);
  }

 private:
  // The TLS context of Options::tls_cert_file / tls_key_file (none without).
  domain::Result<void> load_tls() {
    tls_.reset();
    if (options_.tls_cert_file.empty() && options_.tls_key_file.empty()) return {};
    try {
      auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
      ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                       net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1 |
                       net::ssl::context::single_dh_use);
      ctx->use_certificate_chain_file(options_.tls_cert_file);
      ctx->use_private_key_file(options_.tls_key_file, net::ssl::context::pem);
      tls_ = std::move(ctx);
      return {};
    } catch (const std::exception& e) {
      domain::Error error{
          domain::ErrorKind::kInvalidArgument, "tls_config_invalid", "cannot load the TLS certificate and key", {}};
      error.with("cert_file", options_.tls_cert_file).with("key_file", options_.tls_key_file).with("error", e.what());
      return domain::fail(std::move(error));
    }
  }

  // Resolves, opens, binds and listens; on failure names the failing stage.
  beast::error_code open_listener(std::string_view& stage, tcp::endpoint& bound) {
    beast::error_code ec;
    stage = "resolve";
    tcp::resolver resolver(*iocs_.front());
    const auto endpoints = resolver.resolve(options_.address, std::to_string(options_.port),
                                            tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec) return ec;
    if (endpoints.empty()) return net::error::host_not_found;
    const tcp::endpoint endpoint = endpoints.begin()->endpoint();

    // The listener is on the first io thread (its only thread: no strand).
    acceptor_ = std::make_unique<tcp::acceptor>(iocs_.front()->get_executor());
    accept_timer_ = std::make_unique<net::steady_timer>(iocs_.front()->get_executor());
    // Asio's ec overloads also return ec (a deprecated duplicate): read ec.
    stage = "open";
    (void)acceptor_->open(endpoint.protocol(), ec);
    if (ec) return ec;
    stage = "set_option";
    (void)acceptor_->set_option(net::socket_base::reuse_address(true), ec);
    if (ec) return ec;
    stage = "bind";
    (void)acceptor_->bind(endpoint, ec);
    if (ec) return ec;
    stage = "listen";
    (void)acceptor_->listen(net::socket_base::max_listen_connections, ec);
    if (ec) return ec;
    stage = "local_endpoint";
    bound = acceptor_->local_endpoint(ec);
    return ec;
  }

  void accept() {
    // The connections are dealt to the io threads in turn. Each io_context
    // has one thread, so a connection's steps never run at once: its
    // executor is the io_context's own, no strand needed.
    auto& context = *iocs_[next_io_ % iocs_.size()];
    ++next_io_;
    acceptor_->async_accept(context.get_executor(), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (ec) {
        // E.g. out of file descriptors: back off instead of spinning.
        spdlog::warn("http accept failed: {}", ec.message());
        accept_timer_->expires_after(kAcceptBackoff);
        accept_timer_->async_wait([this](beast::error_code wait_ec) {
          if (!wait_ec) accept();
        });
        return;
      }
      beast::error_code ignored;
      (void)socket.set_option(tcp::no_delay(true), ignored);  // without it, the connection still works
      const auto remote = socket.remote_endpoint(ignored);
      std::string address = ignored ? std::string{} : remote.address().to_string();
      std::make_shared<Session>(std::move(socket), shared_, std::move(address))->run();
      accept();
    });
  }

  const Options options_;
  const AsyncHttpHandler handler_;
  std::shared_ptr<const Shared> shared_;  // of the running start()
  std::mutex mu_;
  std::vector<std::unique_ptr<net::io_context>> iocs_;                                  // one per io thread
  std::vector<net::executor_work_guard<net::io_context::executor_type>> keep_running_;  // one per io_context
  std::size_t next_io_ = 0;  // the io_context of the next connection (accept's)
  std::unique_ptr<net::thread_pool> requests_;
  std::unique_ptr<net::thread_pool> control_;
  std::unique_ptr<net::ssl::context> tls_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::unique_ptr<net::steady_timer> accept_timer_;
  std::vector<std::thread> threads_;
  std::atomic<std::uint16_t> port_{0};
};

HttpServer::HttpServer(Options options, HttpHandler handler)
    : impl_(std::make_unique<Impl>(std::move(options), from_sync(std::move(handler)))) {}

HttpServer::HttpServer(Options options, AsyncHttpHandler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() = default;

domain::Result<void> HttpServer::start() { return impl_->start(); }

std::uint16_t HttpServer::port() const { return impl_->port(); }

void HttpServer::stop() { impl_->stop(); }

}  // namespace ledger::adapters::http

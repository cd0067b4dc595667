#include "adapters/http/routes/change_feed.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <map>

#include <nlohmann/json.hpp>

#include "adapters/http/routes/http_json.h"
#include "adapters/http/routes/query_params.h"
#include "commands/edge_values.h"
#include "events/codec/json_codec.h"

namespace ledger::routes {

using adapters::http::HttpRequest;
using adapters::http::HttpResponse;

namespace {

constexpr std::size_t kMaxTypes = 64;

// The platform's events an organization's principal sees: the catalog and
// the values that apply to it.
bool platform_policy_event(const std::string& type) { return type == "PolicyKeyDefined" || type == "PolicyValueSet"; }

domain::Result<std::optional<events::GlobalPosition>> last_event_id(const HttpRequest& req) {
  const std::string* v = req.header("last-event-id");
  if (!v || v->empty()) return std::optional<events::GlobalPosition>();
  std::int64_t n = -1;
  const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || end != v->data() + v->size() || n < 0) {
    domain::Error e{domain::ErrorKind::kInvalidArgument,
                    "invalid_header",
                    "Last-Event-ID must be the position of an event this route sent",
                    {}};
    e.with("header", "last-event-id");
    return std::unexpected(std::move(e));
  }
  return std::optional<events::GlobalPosition>(events::GlobalPosition{n});
}

}  // namespace

struct ChangeFeed::Subscriber {
  std::shared_ptr<adapters::http::HttpStream> stream;
  std::string org;                              // "" = every organization (a platform principal)
  std::set<std::string> types;                  // empty = every type
  events::GlobalPosition position;              // the last position passed
  std::optional<events::GlobalPosition> until;  // end once passed
  std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
};

ChangeFeed::ChangeFeed(Source source, Options options) : source_(std::move(source)), options_(options) {}

ChangeFeed::~ChangeFeed() { stop(); }

void ChangeFeed::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void ChangeFeed::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  for (auto& s : subscribers_) s->stream->close();
  subscribers_.clear();
}

std::size_t ChangeFeed::subscribers() const {
  std::lock_guard lock(mu_);
  return subscribers_.size();
}

std::string ChangeFeed::frame(const events::RecordedEvent& e) {
  const std::string id = "id: " + std::to_string(e.meta.global_position.value) + "\n";
  try {
    // Compact JSON holds no line break, so the event is one `data:` line;
    // text that is not UTF-8 (a row edited behind the ledger's back) is
    // replaced, never a reason to stop.
    const std::string data = codec::to_json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const bool word = !e.event_type.empty() && e.event_type.size() <= 64 &&
                      std::all_of(e.event_type.begin(), e.event_type.end(), [](char c) {
                        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                      });
    return id + "event: " + (word ? e.event_type : std::string("undecodable")) + "\ndata: " + data + "\n\n";
  } catch (const std::exception& ex) {
    // A payload that is not JSON: the position is still sent (a consumer
    // sees the gap is not one, and ledger-audit verify finds the edit).
    spdlog::error("change feed: event at position {} cannot be encoded: {}", e.meta.global_position.value, ex.what());
    const nlohmann::json data = {{"global_position", e.meta.global_position}, {"error", "undecodable_event"}};
    return id + "event: undecodable\ndata: " + data.dump() + "\n\n";
  }
}

bool ChangeFeed::visible(const Subscriber& s, const events::RecordedEvent& e) const {
  if (!s.types.empty() && !s.types.contains(e.event_type)) return false;
  if (s.org.empty()) return true;
  return e.meta.tenant == s.org || (e.meta.tenant == "platform" && platform_policy_event(e.event_type));
}

std::optional<HttpResponse> ChangeFeed::subscribe(const HttpRequest& req, const commands::Principal& who,
                                                  const adapters::http::HttpResponder& respond) {
  if (req.method != "GET") return method_not_allowed("GET");
  constexpr std::string_view kOwn[] = {"from_position", "organization_id", "types", "until_position"};
  for (const auto& [name, value] : req.query) {
    if (std::find(std::begin(kOwn), std::end(kOwn), name) == std::end(kOwn)) return error_response(unknown_param(name));
  }
  auto sub = std::make_shared<Subscriber>();
  sub->org = req.query_param("organization_id").value_or("");
  if (is_tenant(who)) {
    if (!sub->org.empty() && sub->org != who.tenant)
      return error_response(organization_forbidden(who, sub->org, "changes"));
    sub->org = who.tenant;
  } else if (!sub->org.empty()) {
    if (auto ok = commands::header_id("organization_id", &sub->org); !ok) {
      return error_response(bad_param("organization_id", "organization_id is not an id"));
    }
  }
  if (auto types = req.query_param("types")) {
    std::size_t start = 0;
    while (start <= types->size()) {
      const std::size_t comma = std::min(types->find(',', start), types->size());
      std::string t = types->substr(start, comma - start);
      const bool word = !t.empty() && t.size() <= 64 && std::all_of(t.begin(), t.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
      });
      if (!word || sub->types.size() >= kMaxTypes) {
        return error_response(bad_param("types", "types is a comma-separated list of at most 64 event types"));
      }
      sub->types.insert(std::move(t));
      start = comma + 1;
    }
  }
  auto from = int_param(req, "from_position");
  if (!from) return error_response(from.error());
  auto until = position_param(req, "until_position");
  if (!until) return error_response(until.error());
  sub->until = *until;
  auto resume = last_event_id(req);
  if (!resume) return error_response(resume.error());
  auto head = source_.head();
  if (!head) return error_response(head.error());
  if (const auto& resumed = *resume) {
    sub->position = *resumed;
  } else if (const auto& first = *from) {
    sub->position = events::GlobalPosition{std::max<std::int64_t>(*first - 1, 0)};
  } else {
    sub->position = *head;
  }
  if (sub->position > *head) {
    domain::Error e{domain::ErrorKind::kInvalidArgument,
                    "position_beyond_head",
                    "the stream would start beyond the last event of the ledger",
                    {}};
    e.with("head_position", head->value);
    return error_response(e);
  }
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      return error_response({domain::ErrorKind::kUnavailable, "shutting_down", "the service is shutting down", {}});
    }
    if (subscribers_.size() >= options_.max_subscribers) {
      return error_response({domain::ErrorKind::kUnavailable,
                             "too_many_streams",
                             "the change feed serves no more streams now",
                             {{"retry_after_seconds", 5}}});
    }
  }
  HttpResponse head_response;
  head_response.status = 200;
  head_response.content_type = "text/event-stream";
  head_response.headers = {{"cache-control", "no-store"}, {"x-accel-buffering", "no"}};
  if (auto corr = commands::header_id("x-correlation-id", req.header("x-correlation-id")); corr && !corr->empty()) {
    head_response.headers.emplace_back("x-correlation-id", *corr);
  }
  head_response.actor = who.tenant + "/" + who.actor.type + ":" + who.actor.id;
  sub->stream = respond.stream(std::move(head_response));
  if (!sub->stream) return std::nullopt;  // the server stopped: nobody to answer
  sub->stream->write(": policy-ledger changes after " + std::to_string(sub->position.value) + "\nretry: 2000\n\n");
  {
    std::lock_guard lock(mu_);
    subscribers_.push_back(std::move(sub));
  }
  cv_.notify_all();
  return std::nullopt;
}

void ChangeFeed::run() {
  for (;;) {
    try {
      if (!step()) return;
    } catch (const std::exception& e) {
      // Never the end of the service: log, pause, go on.
      spdlog::error("change feed: {}", e.what());
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
    }
  }
}

bool ChangeFeed::step() {
  std::vector<std::shared_ptr<Subscriber>> subs;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stopping_ || !subscribers_.empty(); });
    if (stopping_) return false;
    std::erase_if(subscribers_, [](const auto& s) { return !s->stream->open(); });
    subs = subscribers_;
  }
  bool behind = false;
  bool failed = false;
  // Subscribers at the same position share one read.
  std::map<events::GlobalPosition, std::vector<events::RecordedEvent>> reads;
  const auto now = std::chrono::steady_clock::now();
  for (const auto& s : subs) {
    auto it = reads.find(s->position);
    if (it == reads.end()) {
      auto page = source_.read_after(s->position, options_.page);
      if (!page) {
        spdlog::warn("change feed: reading the event store failed: {}", page.error().message);
        failed = true;
        break;
      }
      it = reads.emplace(s->position, std::move(*page)).first;
    }
    const auto& events = it->second;
    if (events.size() == options_.page) behind = true;
    const std::optional<events::GlobalPosition>& until = s->until;
    for (const auto& e : events) {
      if (until && e.meta.global_position > *until) break;
      s->position = e.meta.global_position;
      if (!visible(*s, e)) continue;
      if (!s->stream->write(frame(e))) break;
      s->last_write = now;
    }
    if (until && s->position >= *until) {
      s->stream->close();
      continue;
    }
    if (now - s->last_write >= options_.heartbeat) {
      s->stream->write(": heartbeat\n\n");
      s->last_write = now;
    }
  }
  if (behind) return true;
  // Caught up: wait for the next commit (or the next heartbeat), or a
  // moment after a failed read; a new subscriber or stop() wakes the loop
  // within that time.
  const auto wait = std::min(options_.heartbeat, std::chrono::milliseconds(1000));
  if (failed) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping_; });
  } else {
    source_.wait_for_commit(wait);
  }
  return true;
}

}  // namespace ledger::routes

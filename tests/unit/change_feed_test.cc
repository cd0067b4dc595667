// The change feed (adapters/http/routes/change_feed.h) over an in-memory
// history and a recording stream, no server: what each caller sees, where a
// stream starts and ends, and that a tampered event never stops the feed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "adapters/http/routes/change_feed.h"

namespace ledger::routes {
namespace {

using adapters::http::HttpRequest;
using adapters::http::HttpResponder;
using adapters::http::HttpResponse;
using adapters::http::HttpStream;
using Json = nlohmann::json;
using namespace std::chrono_literals;

class RecordingStream final : public HttpStream {
 public:
  bool write(std::string data) override {
    std::lock_guard lock(mu_);
    if (!open_) return false;
    text_ += data;
    return true;
  }
  void close() override {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  bool open() const override {
    std::lock_guard lock(mu_);
    return open_;
  }
  std::string text() const {
    std::lock_guard lock(mu_);
    return text_;
  }

 private:
  mutable std::mutex mu_;
  bool open_ = true;
  std::string text_;
};

class RecordingTarget final : public HttpResponder::Target {
 public:
  void send(HttpResponse) override { ++sent; }
  void resume(std::function<void()> work) override { work(); }
  std::shared_ptr<HttpStream> stream(HttpResponse h) override {
    head = std::move(h);
    return recorded;
  }
  int sent = 0;
  HttpResponse head;
  std::shared_ptr<RecordingStream> recorded = std::make_shared<RecordingStream>();
};

events::RecordedEvent event(std::int64_t position, std::string tenant, std::string type, std::string payload = "{}") {
  events::RecordedEvent e;
  e.meta.global_position = events::GlobalPosition{position};
  e.meta.tenant = std::move(tenant);
  e.meta.stream_id = "s-" + std::to_string(position);
  e.meta.stream_version = events::StreamVersion{1};
  e.event_type = std::move(type);
  e.schema_version = 1;
  e.payload = std::move(payload);
  return e;
}

struct History {
  std::vector<events::RecordedEvent> events;
  ChangeFeed::Source source() {
    return {.read_after = [this](events::GlobalPosition after,
                                 std::size_t limit) -> domain::Result<std::vector<events::RecordedEvent>> {
              std::vector<events::RecordedEvent> out;
              for (const auto& e : events) {
                if (e.meta.global_position > after && out.size() < limit) out.push_back(e);
              }
              return out;
            },
            .head = [this]() -> domain::Result<events::GlobalPosition> { return events.back().meta.global_position; },
            .wait_for_commit = [](std::chrono::milliseconds t) { std::this_thread::sleep_for(t / 20); }};
  }
};

commands::Principal principal(std::string tenant, std::string role) {
  commands::Principal p;
  p.tenant = std::move(tenant);
  p.actor = {.type = "user", .id = "u", .roles = {std::move(role)}};
  return p;
}

HttpRequest get(std::vector<std::pair<std::string, std::string>> query,
                std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpRequest r;
  r.method = "GET";
  r.path = std::string(ChangeFeed::kPath);
  r.query = std::move(query);
  r.headers = std::move(headers);
  return r;
}

// The ids a finished stream carried, and their event types.
std::vector<std::pair<std::int64_t, std::string>> ids(const std::string& text) {
  std::vector<std::pair<std::int64_t, std::string>> out;
  std::size_t at = 0;
  while ((at = text.find("id: ", at)) != std::string::npos) {
    const auto end = text.find('\n', at);
    const auto type_at = text.find("event: ", end);
    out.emplace_back(std::stoll(text.substr(at + 4, end - at - 4)),
                     text.substr(type_at + 7, text.find('\n', type_at) - type_at - 7));
    at = end;
  }
  return out;
}

// Runs one subscription to its end (until_position) and returns what it sent.
std::string drain(ChangeFeed& feed, const HttpRequest& req, const commands::Principal& who) {
  auto target = std::make_shared<RecordingTarget>();
  auto refused = feed.subscribe(req, who, HttpResponder(target));
  EXPECT_FALSE(refused.has_value()) << (refused ? refused->body : "");
  for (int i = 0; i < 500 && target->recorded->open(); ++i) std::this_thread::sleep_for(5ms);
  EXPECT_FALSE(target->recorded->open()) << "the stream did not end at until_position";
  EXPECT_EQ(target->head.content_type, "text/event-stream");
  return target->recorded->text();
}

TEST(ChangeFeed, EachCallerSeesItsOwnEventsAndThePlatformsPolicyEventsInOrder) {
  History h;
  h.events = {event(1, "platform", "PolicyKeyDefined"),
              event(2, "org-a", "OrganizationCreated"),
              event(3, "org-b", "OrganizationCreated"),
              event(4, "platform", "PolicyValueSet"),
              event(5, "platform", "RegistryEntryRegistered"),
              event(6, "org-a", "PolicyValueSet"),
              event(7, "org-b", "PolicyValueSet")};
  ChangeFeed feed(h.source(), {.heartbeat = 50ms, .max_subscribers = 2, .page = 2});  // pages of 2: reads in rounds
  feed.start();
  const auto all =
      ids(drain(feed, get({{"from_position", "1"}, {"until_position", "7"}}), principal("platform", "platform_admin")));
  ASSERT_EQ(all.size(), 7u);
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].first, static_cast<std::int64_t>(i + 1));
  const auto tenant =
      ids(drain(feed, get({{"from_position", "1"}, {"until_position", "7"}}), principal("org-a", "service")));
  EXPECT_EQ(tenant,
            (std::vector<std::pair<std::int64_t, std::string>>{
                {1, "PolicyKeyDefined"}, {2, "OrganizationCreated"}, {4, "PolicyValueSet"}, {6, "PolicyValueSet"}}));
  const auto org_view = ids(drain(feed,
                                  get({{"organization_id", "org-b"},
                                       {"types", "PolicyValueSet,OrganizationCreated"},
                                       {"from_position", "3"},
                                       {"until_position", "7"}}),
                                  principal("platform", "platform_admin")));
  EXPECT_EQ(org_view, (std::vector<std::pair<std::int64_t, std::string>>{
                          {3, "OrganizationCreated"}, {4, "PolicyValueSet"}, {7, "PolicyValueSet"}}));
  // Last-Event-ID resumes right after the event it names.
  const auto resumed = ids(drain(feed, get({{"from_position", "1"}, {"until_position", "7"}}, {{"last-event-id", "5"}}),
                                 principal("platform", "platform_admin")));
  ASSERT_EQ(resumed.size(), 2u);
  EXPECT_EQ(resumed.front().first, 6);
  feed.stop();
}

TEST(ChangeFeed, ATamperedEventIsSentAsUndecodableAndTheFeedGoesOn) {
  History h;
  h.events = {event(1, "platform", "PolicyValueSet", "{not json"), event(2, "platform", "Policy\nValueSet"),
              event(3, "platform", "PolicyValueSet", "{\"s\":\"\xff\xfe\"}"), event(4, "platform", "PolicyValueSet")};
  ChangeFeed feed(h.source(), {.heartbeat = 50ms});
  feed.start();
  const std::string text =
      drain(feed, get({{"from_position", "1"}, {"until_position", "4"}}), principal("platform", "platform_admin"));
  EXPECT_EQ(ids(text), (std::vector<std::pair<std::int64_t, std::string>>{
                           {1, "undecodable"}, {2, "undecodable"}, {3, "undecodable"}, {4, "PolicyValueSet"}}));
  // Every data line is one JSON object.
  std::size_t at = 0;
  int lines = 0;
  while ((at = text.find("data: ", at)) != std::string::npos) {
    const auto end = text.find('\n', at);
    EXPECT_FALSE(Json::parse(text.substr(at + 6, end - at - 6), nullptr, false).is_discarded()) << text;
    ++lines;
    at = end;
  }
  EXPECT_EQ(lines, 4);
  feed.stop();
}

TEST(ChangeFeed, BadRequestsAreRefusedWithAStableCodeAndStreamsAreBounded) {
  History h;
  h.events = {event(1, "org-a", "OrganizationCreated"), event(2, "org-a", "PolicyValueSet")};
  ChangeFeed feed(h.source(), {.heartbeat = 50ms, .max_subscribers = 1});
  feed.start();
  const auto admin = principal("platform", "platform_admin");
  const std::vector<std::tuple<HttpRequest, commands::Principal, int, std::string>> refused = {
      {get({{"organization_id", "org-b"}}), principal("org-a", "service"), 403, "forbidden"},
      {get({{"types", "a;b"}}), admin, 400, "invalid_parameter"},
      {get({{"types", ""}}), admin, 400, "invalid_parameter"},
      {get({{"from_position", "-1"}}), admin, 400, "invalid_parameter"},
      {get({{"from_position", "4"}}), admin, 400, "position_beyond_head"},  // 3 is the next event: fine
      {get({{"after", "1"}}), admin, 400, "unknown_parameter"},
      {get({}, {{"last-event-id", "1x"}}), admin, 400, "invalid_header"},
      {get({}, {{"last-event-id", "-4"}}), admin, 400, "invalid_header"},
  };
  for (const auto& [req, who, status, code] : refused) {
    auto target = std::make_shared<RecordingTarget>();
    auto r = feed.subscribe(req, who, HttpResponder(target));
    ASSERT_TRUE(r.has_value()) << code << " "
                               << (req.query.empty() ? "" : req.query[0].first + "=" + req.query[0].second);
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_EQ(Json::parse(r->body).value("code", ""), code) << r->body;
  }
  // One stream at a time here: the second is refused until the first ends.
  auto first = std::make_shared<RecordingTarget>();
  ASSERT_FALSE(feed.subscribe(get({}), admin, HttpResponder(first)).has_value());
  auto second = std::make_shared<RecordingTarget>();
  auto busy = feed.subscribe(get({}), admin, HttpResponder(second));
  ASSERT_TRUE(busy.has_value());
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(Json::parse(busy->body).value("code", ""), "too_many_streams");
  // A stream with nothing to send gets heartbeats.
  for (int i = 0; i < 200 && first->recorded->text().find(": heartbeat") == std::string::npos; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_NE(first->recorded->text().find(": heartbeat"), std::string::npos) << first->recorded->text();
  first->recorded->close();
  for (int i = 0; i < 200 && feed.subscribers() > 0; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(feed.subscribers(), 0u);
  EXPECT_FALSE(feed.subscribe(get({}), admin, HttpResponder(std::make_shared<RecordingTarget>())).has_value());
  feed.stop();
  EXPECT_EQ(feed.subscribers(), 0u);
}

}  // namespace
}  // namespace ledger::routes

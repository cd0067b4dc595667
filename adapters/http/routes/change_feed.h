// GET /v1/changes: the ledger's committed events as Server-Sent Events
// (issue 17 part 6), so a service can keep its own cache of policy values
// exactly in step without Kafka credentials.
//
//   GET /v1/changes?from_position=&org_id=&types=&until_position=
//   Last-Event-ID: <position>            (a reconnecting client: resume after it)
//
//   : policy-ledger changes after 41
//   retry: 2000
//
//   id: 42
//   event: PolicyValueSet
//   data: {"global_position":42,"event_type":"PolicyValueSet",...,"payload":{...}}   (as `ledger-audit export` writes
//   it)
//
//   : heartbeat                          (every `heartbeat` without an event)
//
// Where it starts: after `Last-Event-ID`, else at `from_position` (that
// event included), else at the head (only what comes next). `types` (comma
// separated event types) narrows it; `until_position` ends the answer once
// the feed has passed that position (an export of a range). What a caller
// sees (invariant 7): an organization's principal its own organization's
// events and the platform's policy-key and policy-value events (the values
// that apply to it); a platform principal every event, or one
// organization's view of them with `org_id`. Events are read from the event
// store in global order, so a stream is gap-free and in order; ids are
// positions, so a client that reconnects with Last-Event-ID misses nothing
// and sees nothing twice.
//
// Bounds: at most `max_subscribers` streams at once (503
// `too_many_streams` with Retry-After beyond); a client that reads too
// slowly is cut off (adapters/http HttpStream) and resumes with its
// Last-Event-ID. One thread serves every stream; callers that are at the
// same position share one read.
//
// Thread-safe. stop() (or the destructor) ends every stream.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "adapters/http/http_types.h"
#include "commands/command.h"
#include "domain/error.h"
#include "events/event.h"

namespace ledger::routes {

class ChangeFeed {
 public:
  struct Source {
    // Up to `limit` committed events after `after`, in global order.
    std::function<domain::Result<std::vector<events::RecordedEvent>>(events::GlobalPosition after, std::size_t limit)>
        read_after;
    // The last committed position.
    std::function<domain::Result<events::GlobalPosition>()> head;
    // Blocks until a commit is announced or `timeout` passes.
    std::function<void(std::chrono::milliseconds timeout)> wait_for_commit;
  };
  struct Options {
    std::chrono::milliseconds heartbeat{15'000};
    std::size_t max_subscribers = 256;
    std::size_t page = 500;
  };

  static constexpr std::string_view kPath = "/v1/changes";

  ChangeFeed(Source source, Options options);
  ~ChangeFeed();
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  // Starts the thread that serves the streams.
  void start();
  void stop();

  // Answers one GET for an authenticated, authorized caller: an error
  // response (returned) or a stream (nullopt: `respond` got it).
  std::optional<adapters::http::HttpResponse> subscribe(const adapters::http::HttpRequest& req,
                                                        const commands::Principal& who,
                                                        const adapters::http::HttpResponder& respond);

  std::size_t subscribers() const;

  // One event as its SSE frame (exposed for tests).
  static std::string frame(const events::RecordedEvent& e);

 private:
  struct Subscriber;
  void run();
  // One round: every subscriber served from where it is; false once stopping.
  bool step();
  bool visible(const Subscriber& s, const events::RecordedEvent& e) const;

  Source source_;
  Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Subscriber>> subscribers_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ledger::routes

#include "adapters/http/routes/memory_reads.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <thread>

#include "adapters/http/routes/http_json.h"

namespace ledger::routes {

using adapters::http::HttpResponse;

namespace {

HttpResponse not_ready(events::GlobalPosition position, events::GlobalPosition needed, const std::string& message) {
  auto r = error_response({domain::ErrorKind::kUnavailable, "snapshot_not_ready", message, {}});
  auto body = nlohmann::json::parse(r.body);
  body["snapshot_version"] = position;
  body["min_position"] = needed;
  r.body = body.dump();
  return r;
}

}  // namespace

std::expected<std::shared_ptr<const projections::QuerySnapshot>, HttpResponse> memory_snapshot(
    const projections::AdmissionStore& store, const Consistency& c,
    const std::function<domain::Result<events::GlobalPosition>()>& head) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(c.wait_ms);
  if (!store.ready() && c.min_position > events::GlobalPosition{}) {
    // A reader that asked for a position waits for it (up to wait_ms), a
    // model still catching up after a start included; one that did not ask
    // is told at once. (A position beyond the head is refused below, once
    // the store is ready: the wait is bounded either way.)
    while (!store.ready() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (!store.ready()) {
    // Never an answer from a model that has not caught up with the ledger.
    return std::unexpected(not_ready(store.position(), c.min_position,
                                     "the in-memory read model is still catching up with the ledger; retry"));
  }
  if (c.min_position > store.position()) {
    Consistency wait = c;
    wait.as_of_position.reset();
    wait.wait_ms = std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (auto answer =
            await_snapshot(wait, head, [&]() -> domain::Result<events::GlobalPosition> { return store.position(); })) {
      return std::unexpected(std::move(*answer));
    }
  }
  return store.snapshot();
}

void mark_read_model(HttpResponse& r, const char* source) {
  for (const auto& [name, value] : r.headers) {
    if (name == kReadModelHeader) return;
  }
  r.headers.emplace_back(kReadModelHeader, source);
}

}  // namespace ledger::routes

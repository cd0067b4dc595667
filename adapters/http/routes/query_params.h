// What every query route shares: parameter parsing, read-your-writes waiting
// and opaque page cursors.
//
//   auto min_position = int_param(req, "min_position");        // 400 invalid_parameter if bad
//   if (auto not_ready = wait_for_snapshot(checkpoint_fn, needed, wait_ms)) return *not_ready;  // 503
//   std::string cursor = base64url("reservations.v1:" + last_id);
//
// Stateless free functions; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "adapters/http/http_types.h"
#include "commands/command.h"
#include "commands/ports.h"
#include "domain/error.h"
#include "events/values.h"

namespace ledger::routes {

// 400 `invalid_parameter`, with the parameter's name as evidence.
domain::Error bad_param(const std::string& name, std::string message);
// 400 `unknown_parameter` naming a query parameter the route does not take
// (every route refuses them: a misspelt filter must never widen an answer).
domain::Error unknown_param(const std::string& name);

// The consistency parameters every read route accepts.
inline constexpr std::string_view kConsistencyParameters[] = {"min_position", "wait_ms", "as_of", "as_of_position"};

// The largest `limit` any paged route takes (one maximum everywhere).
inline constexpr std::int64_t kMaxPageSize = 1000;

// The first query parameter that is neither a consistency parameter nor one
// of `own`, as a 400 `invalid_parameter`: a misspelt filter must not
// silently widen an answer.
std::optional<domain::Error> unknown_parameter(const adapters::http::HttpRequest& req,
                                               std::span<const std::string_view> own);

// True for a principal of an organization (not the platform).
bool is_tenant(const commands::Principal& who);
// 403 `forbidden` for a tenant principal asking about another organization,
// logged for operators (invariant 7); `route` names the route in the log.
domain::Error organization_forbidden(const commands::Principal& who, const std::string& organization_id,
                                     std::string_view route);

// A non-negative 64-bit integer parameter (at most `max`), if present.
domain::Result<std::optional<std::int64_t>> int_param(const adapters::http::HttpRequest& req, const std::string& name,
                                                      std::int64_t max = INT64_MAX);
// A global position parameter (min_position, as_of_position, ...): int_param
// typed as the position it names, if present.
domain::Result<std::optional<events::GlobalPosition>> position_param(const adapters::http::HttpRequest& req,
                                                                     const std::string& name);

// An RFC 3339 instant parameter, if present.
domain::Result<std::optional<events::Instant>> instant_param(const adapters::http::HttpRequest& req,
                                                             const std::string& name);

// Waits (bounded, polling) until `checkpoint()` reaches `needed`; nullopt
// when it did (or needed <= 0), else the answer to give: 503
// `snapshot_not_ready` (with Retry-After and the snapshot_version it has and
// the min_position asked for), or the read failure.
std::optional<adapters::http::HttpResponse> wait_for_snapshot(
    const std::function<domain::Result<events::GlobalPosition>()>& checkpoint, events::GlobalPosition needed,
    std::int64_t wait_ms);

// min_position / as_of / as_of_position / wait_ms of one request; as_of
// defaults to the clock's now, wait_ms to 2000 (at most 10000).
struct Consistency {
  events::Instant as_of;
  std::optional<events::GlobalPosition> as_of_position;
  events::GlobalPosition min_position;
  std::int64_t wait_ms = 2000;
};
domain::Result<Consistency> parse_consistency(const adapters::http::HttpRequest& req, commands::Clock& clock);

// 400 `position_beyond_head` (evidence: the parameter and head_position) when
// as_of_position or min_position lies beyond `head()`: a position the ledger
// has not written is never waited for. nullopt: both are within the head
// (or absent); the read failure if head() fails.
std::optional<adapters::http::HttpResponse> beyond_head(
    events::GlobalPosition min_position, std::optional<events::GlobalPosition> as_of_position,
    const std::function<domain::Result<events::GlobalPosition>()>& head);

// Unless `checkpoint()` already reached what the request needs, refuses a
// position beyond `head()` (beyond_head), then waits (bounded) until
// `checkpoint()` reaches it (wait_for_snapshot). nullopt: go ahead.
std::optional<adapters::http::HttpResponse> await_snapshot(
    const Consistency& c, const std::function<domain::Result<events::GlobalPosition>()>& head,
    const std::function<domain::Result<events::GlobalPosition>()>& checkpoint);

// URL-safe base64 without padding (opaque cursors), and back; nullopt for a
// character outside the alphabet.
std::string base64url(std::string_view in);
std::optional<std::string> unbase64url(std::string_view in);

}  // namespace ledger::routes

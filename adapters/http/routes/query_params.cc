#include "adapters/http/routes/query_params.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <charconv>
#include <chrono>
#include <cstring>
#include <thread>

#include "adapters/http/routes/http_json.h"
#include "events/codec/rfc3339.h"

namespace ledger::routes {

using adapters::http::HttpRequest;
using adapters::http::HttpResponse;

domain::Error bad_param(const std::string& name, std::string message) {
  domain::Error e{domain::ErrorKind::kInvalidArgument, "invalid_parameter", std::move(message), {}};
  e.with("parameter", name);
  return e;
}

domain::Error unknown_param(const std::string& name) {
  domain::Error e{
      domain::ErrorKind::kInvalidArgument, "unknown_parameter", "unknown query parameter '" + name + "'", {}};
  e.with("parameter", name);
  return e;
}

bool is_tenant(const commands::Principal& who) { return who.tenant != "platform"; }

domain::Error organization_forbidden(const commands::Principal& who, const std::string& organization_id,
                                     std::string_view route) {
  spdlog::warn("{} refused: principal {}:{} of tenant {} asked about organization {}", route, who.actor.type,
               who.actor.id, who.tenant, organization_id);
  domain::Error e{
      domain::ErrorKind::kPermissionDenied, "forbidden", "this principal may only ask about its own organization", {}};
  e.with("organization_id", organization_id);
  return e;
}

std::optional<domain::Error> unknown_parameter(const adapters::http::HttpRequest& req,
                                               std::span<const std::string_view> own) {
  for (const auto& [name, value] : req.query) {
    if (std::find(std::begin(kConsistencyParameters), std::end(kConsistencyParameters), name) !=
            std::end(kConsistencyParameters) ||
        std::find(own.begin(), own.end(), name) != own.end()) {
      continue;
    }
    return unknown_param(name);
  }
  return std::nullopt;
}

domain::Result<std::optional<std::int64_t>> int_param(const HttpRequest& req, const std::string& name,
                                                      std::int64_t max) {
  auto v = req.query_param(name);
  if (!v) return std::optional<std::int64_t>{};
  std::int64_t out = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || ptr != v->data() + v->size() || out < 0 || out > max) {
    return std::unexpected(bad_param(name, name + " must be a non-negative integer"));
  }
  return std::optional<std::int64_t>{out};
}

domain::Result<std::optional<events::GlobalPosition>> position_param(const HttpRequest& req, const std::string& name) {
  auto n = int_param(req, name);
  if (!n) return std::unexpected(n.error());
  std::optional<events::GlobalPosition> out;
  if (const auto& value = *n) out = events::GlobalPosition{*value};
  return out;
}

domain::Result<std::optional<events::Instant>> instant_param(const HttpRequest& req, const std::string& name) {
  auto v = req.query_param(name);
  if (!v) return std::optional<events::Instant>{};
  auto t = codec::parse_instant(*v);
  if (!t) return std::unexpected(bad_param(name, name + " must be an RFC 3339 instant, e.g. 2026-06-01T00:00:00Z"));
  return t;
}

domain::Result<Consistency> parse_consistency(const HttpRequest& req, commands::Clock& clock) {
  Consistency c;
  auto as_of = instant_param(req, "as_of");
  if (!as_of) return std::unexpected(as_of.error());
  c.as_of = as_of->value_or(clock.now());
  auto as_of_position = position_param(req, "as_of_position");
  if (!as_of_position) return std::unexpected(as_of_position.error());
  c.as_of_position = *as_of_position;
  auto min_position = position_param(req, "min_position");
  if (!min_position) return std::unexpected(min_position.error());
  c.min_position = min_position->value_or(events::GlobalPosition{});
  auto wait_ms = int_param(req, "wait_ms", 10'000);
  if (!wait_ms) return std::unexpected(wait_ms.error());
  c.wait_ms = wait_ms->value_or(2000);
  return c;
}

std::optional<HttpResponse> beyond_head(events::GlobalPosition min_position,
                                        std::optional<events::GlobalPosition> as_of_position,
                                        const std::function<domain::Result<events::GlobalPosition>()>& head) {
  if (min_position <= events::GlobalPosition{} && !as_of_position) return std::nullopt;
  auto h = head();
  if (!h) return error_response(h.error());
  const bool as_of = as_of_position && *as_of_position > *h;
  if (!as_of && min_position <= *h) return std::nullopt;
  const std::string name = as_of ? "as_of_position" : "min_position";
  domain::Error e{domain::ErrorKind::kInvalidArgument,
                  "position_beyond_head",
                  name + " lies beyond the last event of the ledger",
                  {}};
  e.with(name, (as_of ? *as_of_position : min_position).value).with("head_position", h->value);
  return error_response(e);
}

std::optional<HttpResponse> await_snapshot(const Consistency& c,
                                           const std::function<domain::Result<events::GlobalPosition>()>& head,
                                           const std::function<domain::Result<events::GlobalPosition>()>& checkpoint) {
  const events::GlobalPosition needed = std::max(c.min_position, c.as_of_position.value_or(events::GlobalPosition{}));
  if (needed <= events::GlobalPosition{}) return std::nullopt;
  // Reached: both positions lie at or below the checkpoint, so below the head.
  if (auto cp = checkpoint(); cp && *cp >= needed) return std::nullopt;
  if (auto refused = beyond_head(c.min_position, c.as_of_position, head)) return refused;
  return wait_for_snapshot(checkpoint, needed, c.wait_ms);
}

std::optional<HttpResponse> wait_for_snapshot(const std::function<domain::Result<events::GlobalPosition>()>& checkpoint,
                                              events::GlobalPosition needed, std::int64_t wait_ms) {
  if (needed <= events::GlobalPosition{}) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (;;) {
    auto cp = checkpoint();
    if (!cp) return error_response(cp.error());
    if (*cp >= needed) return std::nullopt;
    if (std::chrono::steady_clock::now() >= deadline) {
      domain::Error e{domain::ErrorKind::kUnavailable,
                      "snapshot_not_ready",
                      "the read model has not reached min_position yet; retry",
                      {}};
      auto r = error_response(e);
      auto body = nlohmann::json::parse(r.body);
      body["snapshot_version"] = *cp;
      body["min_position"] = needed;
      r.body = body.dump();
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

namespace {
constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}  // namespace

std::string base64url(std::string_view in) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kBase64Url[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kBase64Url[(acc << (6 - bits)) & 0x3f]);
  return out;
}

std::optional<std::string> unbase64url(std::string_view in) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const char* at = std::strchr(kBase64Url, c);
    if (c == '\0' || at == nullptr) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(at - kBase64Url);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace ledger::routes

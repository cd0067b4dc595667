#include "adapters/http/routes/decision_log_api.h"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <charconv>
#include <cstring>
#include <random>

#include "adapters/http/routes/admission_json.h"
#include "adapters/http/routes/http_json.h"
#include "adapters/http/routes/query_params.h"
#include "events/codec/rfc3339.h"

namespace ledger::routes {

using adapters::http::HttpRequest;
using adapters::http::HttpResponse;
using Json = nlohmann::json;

namespace {

constexpr std::string_view kCursorPrefix = "decisions.v1:";

// A process-unique prefix (random) and a counter: unique ids without a
// lock, written where they are kept.
class DecisionId {
 public:
  DecisionId() {
    static const std::string prefix = [] {
      std::random_device rd;
      std::mt19937_64 g((std::uint64_t(rd()) << 32) ^ rd());
      char buf[40];
      std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(g()),
                    static_cast<unsigned long long>(g()));
      return std::string(buf);
    }();
    static std::atomic<std::uint64_t> counter{0};
    std::memcpy(text_.data(), prefix.data(), prefix.size());
    text_[prefix.size()] = '-';
    const char* end = std::to_chars(text_.data() + prefix.size() + 1, text_.data() + text_.size(),
                                    counter.fetch_add(1, std::memory_order_relaxed) + 1)
                          .ptr;
    size_ = static_cast<std::size_t>(end - text_.data());
  }
  std::string_view view() const { return {text_.data(), size_}; }

 private:
  std::array<char, 56> text_{};  // 32 hexadecimal digits, '-', at most 20 decimal ones
  std::size_t size_ = 0;
};

// A record's id, time and asking principal.
commands::DecisionRecord stamped(const commands::Principal& who, events::Instant now) {
  commands::DecisionRecord r;
  r.decision_id = DecisionId().view();
  r.recorded_at = codec::format_instant(now);
  r.actor_tenant = who.tenant;
  r.actor_type = who.actor.type;
  r.actor_id = who.actor.id;
  return r;
}

// Encoded on the answering thread with its input and output
// (DecisionRecord::encoded): no JSON tree crosses threads, none is copied.
commands::DecisionRecord encoded(commands::DecisionRecord r, const Json& input, std::string_view output_text) {
  r.encoded = commands::encoded_decision_record(r, dump_lenient(input), output_text);
  return r;
}

HttpResponse status_route(const DecisionLogPorts& ports) {
  Json body = {{"enabled", ports.buffer != nullptr}};
  if (ports.buffer) {
    body["capacity"] = ports.buffer->capacity();
    body["queued"] = ports.buffer->size();
    body["accepted"] = ports.buffer->accepted();
    body["dropped"] = ports.buffer->dropped();
    body["published"] = ports.published ? ports.published() : 0;
  }
  if (ports.table) {
    auto n = ports.table->count();
    if (!n) return error_response(n.error());
    body["logged"] = *n;
  }
  return json_response(200, body.dump());
}

}  // namespace

commands::DecisionRecord decision_record_of(const commands::Principal& who, const domain::DecisionInput& in,
                                            std::string_view input_text, std::string_view decision,
                                            std::string_view reason_code, std::string_view output_text,
                                            std::int64_t snapshot_version, events::Instant as_of, events::Instant now) {
  const DecisionId id;
  const std::string recorded_at = codec::format_instant(now);
  const std::string as_of_text = codec::format_instant(as_of);
  commands::DecisionRecord r;
  r.organization_id = in.hierarchy.organization_id;
  r.encoded = commands::encoded_decision_record({.kind = commands::kAdmissionDecision,
                                                 .decision_id = id.view(),
                                                 .recorded_at = recorded_at,
                                                 .as_of = as_of_text,
                                                 .organization_id = in.hierarchy.organization_id,
                                                 .project_id = in.hierarchy.project_id,
                                                 .actor_tenant = who.tenant,
                                                 .actor_type = who.actor.type,
                                                 .actor_id = who.actor.id,
                                                 .correlation_id = in.correlation_id,
                                                 .decision = decision,
                                                 .reason_code = reason_code,
                                                 .snapshot_version = snapshot_version},
                                                input_text, output_text);
  return r;
}

commands::DecisionRecord check_record_of(const commands::Principal& who, const std::string& organization_id,
                                         const std::string& correlation_id, const Json& input, const Json& output,
                                         std::int64_t snapshot_version, events::Instant now) {
  commands::DecisionRecord r = stamped(who, now);
  r.kind = commands::kEntitlementCheck;
  r.as_of = r.recorded_at;
  r.organization_id = organization_id;
  r.correlation_id = correlation_id.empty() ? r.decision_id : correlation_id;
  r.decision = output.value("allowed", false) ? "allow" : "deny";
  r.reason_code = output.value("reason", "");
  r.snapshot_version = snapshot_version;
  return encoded(std::move(r), input, dump_lenient(output));
}

HttpResponse decision_log_route(const HttpRequest& req, const commands::Principal& who, const DecisionLogPorts& ports) {
  if (req.method != "GET") return method_not_allowed("GET");
  if (req.path == kDecisionLogStatusPath) {
    if (!req.query.empty()) return error_response(unknown_param(req.query.front().first));
    return status_route(ports);
  }
  constexpr std::string_view kOwn[] = {
      "correlation_id", "organization_id", "project_id", "decision", "kind", "from", "to", "cursor", "limit"};
  for (const auto& [name, value] : req.query) {
    if (std::find(std::begin(kOwn), std::end(kOwn), name) == std::end(kOwn)) {
      return error_response(unknown_param(name));
    }
  }
  if (!ports.table) {
    return error_response(
        {domain::ErrorKind::kUnavailable, "decision_log_unavailable", "the decision log is not served here", {}});
  }
  adapters::postgres::DecisionLogFilter f;
  f.organization_id = req.query_param("organization_id");
  f.project_id = req.query_param("project_id");
  f.correlation_id = req.query_param("correlation_id");
  f.decision = req.query_param("decision");
  f.kind = req.query_param("kind");
  if (f.kind && *f.kind != commands::kAdmissionDecision && *f.kind != commands::kEntitlementCheck) {
    return error_response(bad_param("kind", "kind must be admission or entitlement_check"));
  }
  if (f.decision && *f.decision != "allow" && *f.decision != "warn" && *f.decision != "deny") {
    return error_response(bad_param("decision", "decision must be allow, warn or deny"));
  }
  for (auto [name, out] : {std::pair{"from", &f.from}, std::pair{"to", &f.to}}) {
    auto t = instant_param(req, name);
    if (!t) return error_response(t.error());
    if (const auto& instant = *t) *out = codec::format_instant(*instant);
  }
  auto limit = int_param(req, "limit", kMaxPageSize);
  if (!limit || limit->value_or(1) < 1)
    return error_response(bad_param("limit", "limit must be an integer from 1 to 1000"));
  f.limit = static_cast<std::size_t>(limit->value_or(100));
  if (auto cursor = req.query_param("cursor")) {
    auto text = unbase64url(*cursor);
    std::int64_t seq = -1;
    if (text && text->rfind(kCursorPrefix, 0) == 0) {
      try {
        std::size_t used = 0;
        const std::string digits = text->substr(kCursorPrefix.size());
        seq = std::stoll(digits, &used);
        if (used != digits.size()) seq = -1;
      } catch (...) {
        seq = -1;
      }
    }
    if (seq < 0 || !text || base64url(*text) != *cursor) {
      return error_response({domain::ErrorKind::kInvalidArgument,
                             "invalid_cursor",
                             "cursor is malformed; pass back a next_cursor unchanged",
                             {}});
    }
    f.after_seq = seq;
  }
  if (is_tenant(who)) {
    if (f.organization_id && *f.organization_id != who.tenant) {
      return error_response(organization_forbidden(who, *f.organization_id, "decision log"));
    }
    f.organization_id = who.tenant;
  }
  auto page = ports.table->page(f);
  if (!page) return error_response(page.error());
  HttpResponse r;
  r.status = 200;
  r.content_type = "application/x-ndjson";
  for (const auto& row : page->items) r.body += dump_lenient(commands::decision_record_json(row.record)) + "\n";
  r.headers.emplace_back("x-has-more", page->has_more ? "true" : "false");
  if (page->has_more) {
    r.headers.emplace_back("x-next-cursor",
                           base64url(std::string(kCursorPrefix) + std::to_string(page->items.back().seq)));
  }
  return r;
}

}  // namespace ledger::routes

#include "adapters/audit/audit_tools.h"

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <istream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "adapters/http/routes/admission_json.h"
#include "adapters/postgres/admin.h"
#include "adapters/postgres/event_store.h"
#include "adapters/postgres/read_model_store.h"
#include "domain/policy_key.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"

namespace ledger::audit {

using routes::quota_scope_json;
using routes::reservation_fields;

using Json = nlohmann::json;
using adapters::postgres::PgEventReader;

namespace {

domain::Error error(domain::ErrorKind kind, std::string code, std::string message) {
  return domain::Error{kind, std::move(code), std::move(message), {}};
}

domain::Error beyond_head(std::int64_t position, std::int64_t head) {
  domain::Error e = error(
      domain::ErrorKind::kInvalidArgument, "position_beyond_head",
      "position " + std::to_string(position) + " is beyond the head of the ledger (" + std::to_string(head) + ")");
  e.with("position", position).with("head_position", head);
  return e;
}

bool plain_identifier(const std::string& s) {
  if (s.empty() || s.size() > 63 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

std::string value_text(const events::PolicyValue& v) { return codec::encode_value(v).dump(); }

std::string scope_text(const events::PolicyScope& s) {
  std::string out = codec::scope_level_name(s.level);
  if (s.level != events::ScopeLevel::kGlobal) out += ":" + s.id;
  return out;
}

Json scope_json(const events::PolicyScope& s) { return {{"level", codec::scope_level_name(s.level)}, {"id", s.id}}; }

// Reads the store in global order, positions after..up_to, in batches, and
// hands each event to `visit` (which may stop the read with an error).
// Missing positions are not this loop's business (verify's).
domain::Result<void> read_in_order(PgEventReader& reader, std::int64_t after, std::int64_t up_to,
                                   const std::function<domain::Result<void>(events::RecordedEvent&)>& visit,
                                   const AuditProgress& progress, std::size_t batch_size = 5000) {
  if (progress) progress(after, up_to);
  while (after < up_to) {
    auto batch = reader.read_after(events::GlobalPosition{after}, batch_size);
    if (!batch) return std::unexpected(batch.error());
    if (batch->empty()) break;
    for (auto& r : *batch) {
      if (r.meta.global_position.value > up_to) return {};
      after = r.meta.global_position.value;
      if (auto ok = visit(r); !ok) return ok;
    }
    if (progress) progress(after, up_to);
  }
  return {};
}

}  // namespace

// ---------------------------------------------------------------- verify

void ChainVerifier::fail(ChainBreak b) {
  if (!report_.broken) report_.broken = std::move(b);
}

bool ChainVerifier::add(const events::RecordedEvent& r, std::int64_t line) {
  if (report_.broken) return false;
  const std::int64_t pos = r.meta.global_position.value;
  const std::string at = line > 0 ? "line " + std::to_string(line) + ": " : "";
  auto broken = [&](std::int64_t position, const char* code, const std::string& message) {
    fail(ChainBreak{position, line, code, at + message});
    return false;
  };

  if (report_.events == 0 && allow_partial_ && pos > 1) {
    // A partial export: trust where it starts, check everything after.
    report_.partial = true;
    report_.head_position = pos - 1;
    report_.head_hash = r.prev_hash;
  }
  const std::int64_t expected = report_.head_position + 1;
  if (pos > expected) {
    const std::string after =
        report_.head_position == 0 ? std::string("at the start") : "after " + std::to_string(report_.head_position);
    return broken(
        expected, "missing_position",
        "position " + std::to_string(expected) + " missing (found " + std::to_string(pos) + " " + after + ")");
  }
  if (pos < expected) {
    return broken(pos, "unexpected_position",
                  "position " + std::to_string(pos) + " out of order or repeated (after " +
                      std::to_string(report_.head_position) + ")");
  }
  const std::string p = "position " + std::to_string(pos) + ": ";
  if (r.prev_hash != report_.head_hash) {
    const std::string prev =
        pos == 1 ? std::string("genesis is ") : "position " + std::to_string(pos - 1) + " hashes to ";
    return broken(pos, "prev_hash_mismatch",
                  p + "prev_hash mismatch (stored " + r.prev_hash + ", " + prev + report_.head_hash + ")");
  }
  std::string recomputed;
  try {
    recomputed = codec::compute_hash(r);
  } catch (const std::exception& e) {
    return broken(pos, "hash_mismatch", p + "cannot recompute the hash: " + e.what());
  }
  if (recomputed != r.hash) {
    return broken(pos, "hash_mismatch", p + "hash mismatch (stored " + r.hash + ", recomputed " + recomputed + ")");
  }
  auto [it, fresh] = stream_versions_.try_emplace(r.meta.stream_id, 0);
  const bool trust_version = fresh && report_.partial;
  const std::int64_t want = it->second + 1;
  if (!trust_version && r.meta.stream_version.value != want) {
    return broken(pos, "stream_version_gap",
                  p + "stream " + r.meta.stream_id + " version " + std::to_string(r.meta.stream_version.value) +
                      (fresh ? " is its first event" : " follows version " + std::to_string(it->second)) +
                      " (expected " + std::to_string(want) + ")");
  }
  it->second = r.meta.stream_version.value;
  if (r.event_type == events::ChainHeadSigned::kType && !check_anchor(r, line)) return false;
  if (report_.events == 0) report_.first_position = pos;
  ++report_.events;
  report_.head_position = pos;
  report_.head_hash = r.hash;
  report_.streams = stream_versions_.size();
  recent_hashes_.emplace_hint(recent_hashes_.end(), pos, r.hash);
  if (recent_hashes_.size() > 4096) recent_hashes_.erase(recent_hashes_.begin());
  return true;
}

bool ChainVerifier::check_anchor(const events::RecordedEvent& r, std::int64_t line) {
  ++report_.anchors.anchors;
  if (!report_.anchors.checked) return true;  // counted only: no key to check it with
  const std::int64_t pos = r.meta.global_position.value;
  const std::string at =
      (line > 0 ? "line " + std::to_string(line) + ": " : "") + "position " + std::to_string(pos) + ": ";
  auto broken = [&](std::int64_t position, const char* code, const std::string& message) {
    fail(ChainBreak{position, line, code, at + message});
    return false;
  };
  auto env = codec::decode(r);
  const auto* a = env ? std::get_if<events::ChainHeadSigned>(&env->event) : nullptr;
  if (a == nullptr) return broken(pos, "anchor_signature_invalid", "an unreadable ChainHeadSigned");
  const auto key = std::find_if(policy_.public_keys.begin(), policy_.public_keys.end(),
                                [&](const codec::ChainVerifyingKey& k) { return k.key_id() == a->key_id; });
  if (key == policy_.public_keys.end()) {
    return broken(pos, "anchor_unknown_key",
                  "the chain head is signed by key " + a->key_id + ", which is not among the public keys given");
  }
  if (a->algorithm != codec::kChainSignatureAlgorithm ||
      !key->verify(codec::chain_head_statement(a->position, a->head_hash), a->signature)) {
    return broken(pos, "anchor_signature_invalid",
                  "the signature of the chain head at position " + std::to_string(a->position) + " (key " + a->key_id +
                      ") is not valid: the anchor was forged or edited");
  }
  const auto known = recent_hashes_.find(a->position);
  if (a->position >= pos || known == recent_hashes_.end()) {
    if (report_.partial && a->position < report_.first_position) return true;  // signs what the export leaves out
    return broken(pos, "anchor_unchecked",
                  "the anchor signs position " + std::to_string(a->position) + ", which cannot be checked from here");
  }
  if (known->second != a->head_hash) {
    return broken(a->position, "signed_head_mismatch",
                  "the writer signed the chain head at position " + std::to_string(a->position) + " as " +
                      a->head_hash + " (key " + a->key_id + "), the chain now hashes to " + known->second +
                      ": history at or before position " + std::to_string(a->position) + " was rewritten");
  }
  ++report_.anchors.verified;
  report_.anchors.last_signed_position = a->position;
  return true;
}

void ChainVerifier::finish() {
  if (report_.broken || !report_.anchors.checked) return;
  const std::int64_t tail = report_.head_position - report_.anchors.last_signed_position;
  if (tail > policy_.max_unsigned_events) {
    fail(ChainBreak{report_.anchors.last_signed_position + 1, 0, "unsigned_tail",
                    std::to_string(tail) + " events after " +
                        (report_.anchors.last_signed_position == 0
                             ? std::string("the start of history carry no signed head")
                             : "the last signed head (position " +
                                   std::to_string(report_.anchors.last_signed_position) + ") carry no signature") +
                        " (more than " + std::to_string(policy_.max_unsigned_events) +
                        "): anchors were removed, or the writer does not sign"});
  }
}

domain::Result<VerifyReport> verify_store(const std::string& pg_url, const VerifyOptions& options,
                                          const AuditProgress& progress) {
  PgEventReader reader(pg_url);
  auto head = reader.head_position();
  if (!head) return std::unexpected(head.error());
  std::int64_t limit = head->value;
  if (options.up_to) {
    if (*options.up_to < 1) {
      return std::unexpected(
          error(domain::ErrorKind::kInvalidArgument, "invalid_position", "position must be at least 1"));
    }
    if (*options.up_to > head->value) return std::unexpected(beyond_head(*options.up_to, head->value));
    limit = *options.up_to;
  }
  ChainVerifier verifier(false, options.anchors);
  std::int64_t after = 0;
  if (progress) progress(0, limit);
  while (after < limit && verifier.report().intact()) {
    auto batch = reader.read_after(events::GlobalPosition{after}, std::max<std::size_t>(options.batch_size, 1));
    if (!batch) return std::unexpected(batch.error());
    bool any = false;
    for (const auto& r : *batch) {
      if (r.meta.global_position.value > limit) break;
      any = true;
      after = r.meta.global_position.value;
      if (!verifier.add(r)) break;
    }
    if (!any && verifier.report().intact()) {
      // Nothing left at or below the limit: the positions up to it are gone.
      const std::int64_t next = verifier.next_position();
      verifier.fail(ChainBreak{next, 0, "missing_position",
                               "position " + std::to_string(next) + " missing (history ends at " +
                                   std::to_string(verifier.report().head_position) + ", expected " +
                                   std::to_string(limit) + ")"});
    }
    if (progress) progress(after, limit);
  }
  verifier.finish();
  return verifier.report();
}

domain::Result<VerifyReport> verify_export(std::istream& in, bool allow_partial, std::int64_t total_bytes,
                                           const AuditProgress& progress, const AnchorPolicy& anchors) {
  ChainVerifier verifier(allow_partial, anchors);
  std::string line;
  std::int64_t number = 0;
  std::int64_t bytes = 0;
  while (verifier.report().intact() && std::getline(in, line)) {
    ++number;
    const bool ended_with_newline = !in.eof();
    bytes += static_cast<std::int64_t>(line.size()) + (ended_with_newline ? 1 : 0);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string expect = " (expected position " + std::to_string(verifier.next_position()) + ")";
    auto corrupted = [&](const char* code, const std::string& why) {
      verifier.fail(
          ChainBreak{verifier.next_position(), number, code, "line " + std::to_string(number) + ": " + why + expect});
    };
    if (line.empty()) {
      corrupted("corrupted_line", "corrupted: empty line");
      break;
    }
    Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      if (!ended_with_newline) {
        corrupted("truncated_line", "truncated: the file ends in the middle of an event");
      } else {
        corrupted("corrupted_line", "corrupted: not valid JSON");
      }
      break;
    }
    auto r = codec::recorded_from_json(j);
    if (!r) {
      corrupted("corrupted_line", "corrupted: not an event envelope: " + r.error());
      break;
    }
    verifier.add(*r, number);
    if (progress && number % 2000 == 0) progress(bytes, total_bytes);
  }
  if (in.bad())
    return std::unexpected(error(domain::ErrorKind::kUnavailable, "read_failed", "reading the file failed"));
  if (progress) progress(bytes, total_bytes);
  verifier.finish();
  return verifier.report();
}

domain::Result<std::vector<codec::ChainVerifyingKey>> read_public_keys(const std::vector<std::string>& paths) {
  std::vector<codec::ChainVerifyingKey> out;
  for (const auto& path : paths) {
    std::ifstream in(path);
    if (!in) {
      return std::unexpected(error(domain::ErrorKind::kInvalidArgument, "file_not_found", "cannot read " + path));
    }
    std::stringstream pem;
    pem << in.rdbuf();
    auto key = codec::ChainVerifyingKey::from_pem(pem.str());
    if (!key) {
      return std::unexpected(
          error(domain::ErrorKind::kInvalidArgument, "invalid_public_key", path + ": " + key.error()));
    }
    out.push_back(std::move(*key));
  }
  return out;
}

domain::Result<VerifyReport> verify_export_file(const std::string& path, bool allow_partial,
                                                const AuditProgress& progress, const AnchorPolicy& anchors) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return std::unexpected(error(domain::ErrorKind::kNotFound, "file_not_found", "no such file: " + path));
  }
  if (std::filesystem::is_directory(path, ec)) {
    return std::unexpected(error(domain::ErrorKind::kInvalidArgument, "not_a_file", path + " is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected(error(domain::ErrorKind::kUnavailable, "unreadable_file", "cannot read " + path));
  const auto size = std::filesystem::file_size(path, ec);
  return verify_export(in, allow_partial, ec ? 0 : static_cast<std::int64_t>(size), progress, anchors);
}

Json verify_report_json(const VerifyReport& r) {
  Json j = {{"ok", r.intact()},
            {"events", r.events},
            {"first_position", r.first_position},
            {"head_position", r.head_position},
            {"head_hash", r.head_hash},
            {"streams", r.streams},
            {"partial", r.partial},
            {"anchors",
             {{"checked", r.anchors.checked},
              {"anchors", r.anchors.anchors},
              {"verified", r.anchors.verified},
              {"last_signed_position", r.anchors.last_signed_position}}},
            {"broken", nullptr}};
  if (r.broken) {
    j["broken"] = {{"position", r.broken->position}, {"code", r.broken->code}, {"message", r.broken->message}};
    if (r.broken->line > 0) j["broken"]["line"] = r.broken->line;
  }
  return j;
}

// ---------------------------------------------------------------- export

domain::Result<std::pair<std::int64_t, std::int64_t>> resolve_range(const std::string& pg_url,
                                                                    const ExportRange& range) {
  if (range.from && *range.from < 1) {
    return std::unexpected(error(domain::ErrorKind::kInvalidArgument, "invalid_position", "--from must be at least 1"));
  }
  if (range.to && *range.to < 1) {
    return std::unexpected(error(domain::ErrorKind::kInvalidArgument, "invalid_position", "--to must be at least 1"));
  }
  if (range.from && range.to && *range.from > *range.to) {
    return std::unexpected(
        error(domain::ErrorKind::kInvalidArgument, "invalid_range",
              "--from " + std::to_string(*range.from) + " is after --to " + std::to_string(*range.to)));
  }
  PgEventReader reader(pg_url);
  auto head = reader.head_position();
  if (!head) return std::unexpected(head.error());
  if (range.to && *range.to > head->value) return std::unexpected(beyond_head(*range.to, head->value));
  if (range.from && *range.from > head->value) return std::unexpected(beyond_head(*range.from, head->value));
  return std::pair{range.from.value_or(1), range.to.value_or(head->value)};
}

domain::Result<ExportReport> export_events(const std::string& pg_url, const ExportRange& range, std::ostream& out,
                                           const AuditProgress& progress) {
  auto bounds = resolve_range(pg_url, range);
  if (!bounds) return std::unexpected(bounds.error());
  const auto [from, to] = *bounds;
  PgEventReader reader(pg_url);
  ExportReport report;
  std::int64_t after = from - 1;
  if (progress) progress(0, to - from + 1);
  while (after < to) {
    auto batch = reader.read_after(events::GlobalPosition{after}, 5000);
    if (!batch) return std::unexpected(batch.error());
    if (batch->empty()) break;
    for (const auto& r : *batch) {
      if (r.meta.global_position.value > to) {
        after = to;
        break;
      }
      out << codec::to_json_text(r) << '\n';
      if (report.events == 0) report.first_position = r.meta.global_position.value;
      ++report.events;
      report.last_position = r.meta.global_position.value;
      report.last_hash = r.hash;
      after = r.meta.global_position.value;
    }
    if (!out)
      return std::unexpected(error(domain::ErrorKind::kUnavailable, "write_failed", "writing the export failed"));
    if (progress) progress(after - from + 1, to - from + 1);
  }
  out.flush();
  if (!out) return std::unexpected(error(domain::ErrorKind::kUnavailable, "write_failed", "writing the export failed"));
  return report;
}

domain::Result<ExportReport> export_events_to_file(const std::string& pg_url, const ExportRange& range,
                                                   const std::string& path, const AuditProgress& progress) {
  // Check the range before creating anything.
  if (auto bounds = resolve_range(pg_url, range); !bounds) return std::unexpected(bounds.error());
  const std::string tmp = path + ".partial-" + std::to_string(::getpid());
  domain::Result<ExportReport> result;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      return std::unexpected(error(domain::ErrorKind::kInvalidArgument, "unwritable_file", "cannot write " + path));
    }
    result = export_events(pg_url, range, out, progress);
    out.close();
    if (result && !out) {
      result = std::unexpected(error(domain::ErrorKind::kUnavailable, "write_failed", "writing " + path + " failed"));
    }
  }
  std::error_code ec;
  if (!result) {
    std::filesystem::remove(tmp, ec);
    return result;
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return std::unexpected(
        error(domain::ErrorKind::kUnavailable, "write_failed", "cannot move the export into " + path));
  }
  return result;
}

// ---------------------------------------------------------------- history

domain::Result<events::PolicyScope> parse_scope(std::string_view text) {
  const auto colon = text.find(':');
  std::string_view level = text.substr(0, colon);
  std::string id = colon == std::string_view::npos ? std::string() : std::string(text.substr(colon + 1));
  if (level == "org") level = "organization";
  auto parsed = codec::parse_scope_level(level);
  auto bad = [&] {
    return std::unexpected(
        error(domain::ErrorKind::kInvalidArgument, "invalid_scope",
              "scope '" + std::string(text) + "' is not one of user:ID, project:ID, organization:ID, plan:ID, global"));
  };
  if (!parsed) return bad();
  if (*parsed == events::ScopeLevel::kGlobal) {
    if (!id.empty()) return bad();
  } else if (id.empty()) {
    return bad();
  }
  return events::PolicyScope{*parsed, std::move(id)};
}

domain::Result<std::vector<events::RecordedEvent>> stream_history(const std::string& pg_url,
                                                                  const std::string& stream_id) {
  PgEventReader reader(pg_url);
  auto events = reader.read_stream(stream_id);
  if (!events) return std::unexpected(events.error());
  if (events->empty()) {
    domain::Error e = error(domain::ErrorKind::kNotFound, "unknown_stream", "stream '" + stream_id + "' has no events");
    e.with("stream_id", stream_id);
    return std::unexpected(std::move(e));
  }
  return events;
}

namespace {

bool is_value_set_at(const events::RecordedEvent& r, const events::PolicyScope& scope) {
  auto env = codec::decode(r);
  if (!env) return false;
  const auto* set = std::get_if<events::PolicyValueSet>(&env->event);
  return set && set->scope == scope;
}

}  // namespace

domain::Result<std::vector<events::RecordedEvent>> scope_history(const std::string& pg_url,
                                                                 const events::PolicyScope& scope,
                                                                 const std::optional<std::string>& key,
                                                                 const AuditProgress& progress) {
  std::vector<events::RecordedEvent> out;
  if (key) {
    auto stream = stream_history(pg_url, domain::policy_stream_id(*key));
    if (!stream) return std::unexpected(stream.error());
    for (auto& r : *stream) {
      if (is_value_set_at(r, scope)) out.push_back(std::move(r));
    }
    return out;
  }
  PgEventReader reader(pg_url);
  auto head = reader.head_position();
  if (!head) return std::unexpected(head.error());
  auto read = read_in_order(
      reader, 0, head->value,
      [&](events::RecordedEvent& r) -> domain::Result<void> {
        if (r.event_type.starts_with("PolicyValueSet") && is_value_set_at(r, scope)) out.push_back(std::move(r));
        return {};
      },
      progress);
  if (!read) return std::unexpected(read.error());
  return out;
}

namespace {

std::string actor_text(const events::Actor& a) {
  std::string out = a.type + ":" + a.id;
  if (!a.roles.empty()) {
    out += " [";
    for (std::size_t i = 0; i < a.roles.size(); ++i) out += (i ? "," : "") + a.roles[i];
    out += "]";
  }
  return out;
}

}  // namespace

std::string history_line(const events::RecordedEvent& r) {
  std::string out = "#" + std::to_string(r.meta.global_position.value) + "  " +
                    codec::format_instant(r.meta.recorded_at) + "  " + actor_text(r.meta.actor) + "  " + r.event_type;
  out += " v" + std::to_string(r.schema_version);
  auto env = codec::decode(r);
  if (!env) return out + "  (undecodable: " + env.error() + ") payload " + r.payload;
  std::visit(
      [&](const auto& ev) {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, events::PolicyValueSet>) {
          out += "  " + ev.key + " @ " + scope_text(ev.scope) + ": " + value_text(ev.before) +
                 (ev.before_source == events::BeforeSource::kDefault ? " (default)" : "") + " → " +
                 value_text(ev.after) + "  effective " + codec::format_instant(ev.effective_at) + "  reason " +
                 Json(ev.reason).dump();
        } else if constexpr (std::is_same_v<T, events::PolicyKeyDefined>) {
          out += "  " + ev.key + ": " + codec::value_type_name(ev.value_type) + ", default " +
                 value_text(ev.default_value);
          if (ev.min) out += ", min " + std::to_string(*ev.min);
          if (ev.max) out += ", max " + std::to_string(*ev.max);
          if (!ev.allowed.empty()) out += ", one of " + Json(ev.allowed).dump();
          if (!ev.description.empty()) out += "  " + Json(ev.description).dump();
        } else {
          out += "  " + r.payload;
        }
      },
      env->event);
  return out;
}

Json history_json(const events::RecordedEvent& r) {
  const auto& m = r.meta;
  Json j = {{"position", m.global_position},
            {"stream_id", m.stream_id},
            {"stream_version", m.stream_version},
            {"event_id", m.event_id},
            {"event_type", r.event_type},
            {"schema_version", r.schema_version},
            {"recorded_at", codec::format_instant(m.recorded_at)},
            {"occurred_at", codec::format_instant(m.occurred_at)},
            {"actor", {{"type", m.actor.type}, {"id", m.actor.id}, {"roles", m.actor.roles}}},
            {"tenant", m.tenant},
            {"command_id", m.command_id},
            {"correlation_id", m.correlation_id},
            {"causation_id", m.causation_id},
            {"hash", r.hash}};
  auto env = codec::decode(r);
  if (!env) {
    j["payload"] = Json::parse(r.payload, nullptr, false);
    j["decode_error"] = env.error();
    return j;
  }
  std::visit(
      [&](const auto& ev) {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, events::PolicyValueSet>) {
          j["key"] = ev.key;
          j["scope"] = scope_json(ev.scope);
          j["before"] = codec::encode_value(ev.before);
          j["before_source"] = codec::before_source_name(ev.before_source);
          j["after"] = codec::encode_value(ev.after);
          j["effective_at"] = codec::format_instant(ev.effective_at);
          j["reason"] = ev.reason;
        } else if constexpr (std::is_same_v<T, events::PolicyKeyDefined>) {
          j["key"] = ev.key;
          j["definition"] = codec::encode_payload(env->event);
        } else {
          j["payload"] = codec::encode_payload(env->event);
        }
      },
      env->event);
  return j;
}

// ---------------------------------------------------------------- as-of

domain::Result<AsOfAnswer> as_of_from_history(std::span<const events::RecordedEvent> stream, const AsOfQuery& q,
                                              std::int64_t position, events::Instant at) {
  std::optional<events::PolicyKeyDefined> definition;
  std::optional<std::int64_t> defined_at;
  std::vector<domain::ValueCandidate> candidates;
  for (const auto& r : stream) {
    auto env = codec::decode(r);
    if (!env) {
      domain::Error e = error(
          domain::ErrorKind::kInternal, "undecodable_event",
          "event at position " + std::to_string(r.meta.global_position.value) + " cannot be decoded: " + env.error());
      return std::unexpected(std::move(e));
    }
    std::visit(
        [&](const auto& ev) {
          using T = std::decay_t<decltype(ev)>;
          if constexpr (std::is_same_v<T, events::PolicyKeyDefined>) {
            if (!defined_at || r.meta.global_position.value < *defined_at) defined_at = r.meta.global_position.value;
            if (r.meta.global_position.value <= position && !definition) definition = ev;
          } else if constexpr (std::is_same_v<T, events::PolicyValueSet>) {
            if (r.meta.global_position.value <= position) {
              candidates.push_back({ev.scope, ev.after, ev.effective_at, r.meta.global_position.value, r.meta.tenant});
            }
          }
        },
        env->event);
  }
  if (!definition) {
    domain::Error e =
        error(domain::ErrorKind::kNotFound, "unknown_policy_key",
              defined_at ? "policy key '" + q.key + "' was not defined yet at position " + std::to_string(position) +
                               " (defined at position " + std::to_string(*defined_at) + ")"
                         : "policy key '" + q.key + "' is not in the ledger");
    e.with("key", q.key);
    return std::unexpected(std::move(e));
  }
  AsOfAnswer a;
  a.key = q.key;
  a.value_type = definition->value_type;
  a.position = position;
  a.as_of = at;
  a.values_considered = static_cast<std::int64_t>(candidates.size());
  a.resolution = domain::resolve(*definition, q.chain, candidates, at);
  return a;
}

namespace {

// recorded_at of the event at `position` (or the next one present).
domain::Result<events::RecordedEvent> event_at(PgEventReader& reader, std::int64_t position) {
  auto r = reader.read_after(events::GlobalPosition{position - 1}, 1);
  if (!r) return std::unexpected(r.error());
  if (r->empty() || r->front().meta.global_position.value != position) {
    domain::Error e = error(domain::ErrorKind::kFailedPrecondition, "position_missing",
                            "position " + std::to_string(position) + " is missing from the store (run verify)");
    return std::unexpected(std::move(e));
  }
  return std::move(r->front());
}

}  // namespace

domain::Result<AsOfPoint> resolve_as_of_point(const std::string& pg_url, std::optional<std::int64_t> position,
                                              std::optional<events::Instant> instant) {
  if (!position && !instant) {
    return std::unexpected(
        error(domain::ErrorKind::kInvalidArgument, "missing_point", "give a position, an instant, or both"));
  }
  if (position && *position < 1) {
    return std::unexpected(
        error(domain::ErrorKind::kInvalidArgument, "invalid_position", "position must be at least 1"));
  }
  PgEventReader reader(pg_url);
  auto head = reader.head_position();
  if (!head) return std::unexpected(head.error());
  if (position && *position > head->value) return std::unexpected(beyond_head(*position, head->value));

  AsOfPoint point;
  if (position) {
    point.position = *position;
    if (instant) {
      point.at = *instant;
    } else {
      auto e = event_at(reader, *position);
      if (!e) return std::unexpected(e.error());
      point.at = e->meta.recorded_at;
    }
    return point;
  }
  // The last position committed at or before the instant: commit times
  // grow with positions (one writer stamps each batch), so bisect.
  point.at = *instant;
  std::int64_t lo = 0, hi = head->value;  // invariant: recorded_at(lo) <= at (lo = 0: before history)
  while (lo < hi) {
    const std::int64_t mid = lo + (hi - lo + 1) / 2;
    auto r = reader.read_after(events::GlobalPosition{mid - 1}, 1);
    if (!r) return std::unexpected(r.error());
    if (!r->empty() && r->front().meta.recorded_at <= point.at)
      lo = mid;
    else
      hi = mid - 1;
  }
  if (lo == 0) {
    domain::Error e = error(domain::ErrorKind::kNotFound, "before_history",
                            "nothing was recorded at or before " + codec::format_instant(point.at));
    if (head->value > 0) {
      if (auto first = event_at(reader, 1)) {
        e.message += " (the first event was recorded at " + codec::format_instant(first->meta.recorded_at) + ")";
      }
    }
    return std::unexpected(std::move(e));
  }
  point.position = lo;
  return point;
}

domain::Result<AsOfAnswer> as_of(const std::string& pg_url, const AsOfQuery& q) {
  auto point = resolve_as_of_point(pg_url, q.position, q.instant);
  if (!point) return std::unexpected(point.error());
  PgEventReader reader(pg_url);
  auto stream = reader.read_stream(domain::policy_stream_id(q.key));
  if (!stream) return std::unexpected(stream.error());
  return as_of_from_history(*stream, q, point->position, point->at);
}

Json as_of_json(const AsOfAnswer& a) {
  const auto& res = a.resolution;
  return {{"key", a.key},
          {"value", codec::encode_value(res.value)},
          {"value_type", codec::value_type_name(a.value_type)},
          {"source", scope_json(res.source)},
          {"is_default", res.is_default},
          {"effective_at", res.effective_at ? Json(codec::format_instant(*res.effective_at)) : Json(nullptr)},
          {"set_at_position", res.position ? Json(*res.position) : Json(nullptr)},
          {"position", a.position},
          {"as_of", codec::format_instant(a.as_of)},
          {"values_considered", a.values_considered}};
}

// ------------------------------------------------- as-of: admission core

namespace {

template <class T>
Json nullable(const std::optional<T>& v) {
  return v ? Json(*v) : Json(nullptr);
}

const std::set<std::string>& admission_types() {
  static const std::set<std::string> types(domain::admission_event_types().begin(),
                                           domain::admission_event_types().end());
  return types;
}

// Adds to a not_found error about `stream_id` at `position` when the thing
// came into being later ("... (created at position 42)") or never.
domain::Error explain_absence(const std::string& pg_url, domain::Error e, const std::string& stream_id,
                              std::int64_t position) {
  PgEventReader reader(pg_url);
  auto stream = reader.read_stream(stream_id);
  if (!stream) return e;  // the absence itself stands; the detail is a courtesy
  if (stream->empty()) {
    e.message += " (it is not in the ledger at all)";
  } else {
    const std::int64_t created = stream->front().meta.global_position.value;
    e.message += " (created later, at position " + std::to_string(created) + ")";
    e.with("created_at_position", created);
  }
  e.with("position", position);
  return e;
}

// The stream of the first reservation `id` (of any organization) drafted
// after `position`, else its name from before ids were scoped per
// organization. Reads the rest of history: only on the error path.
std::string later_reservation_stream(const std::string& pg_url, const std::string& id, std::int64_t position) {
  std::string legacy = "reservation:" + id;
  const std::string suffix = "/" + id;
  PgEventReader reader(pg_url);
  for (std::int64_t after = position;;) {
    auto page = reader.read_after(events::GlobalPosition{after}, 1000);
    if (!page || page->empty()) return legacy;
    for (const auto& r : *page) {
      const std::string& s = r.meta.stream_id;
      if (s == legacy || (s.starts_with("reservation:") && s.ends_with(suffix))) return s;
      after = r.meta.global_position.value;
    }
  }
}

}  // namespace

domain::Result<void> AdmissionFold::add(const events::RecordedEvent& r) {
  position_ = std::max(position_, r.meta.global_position.value);
  if (!admission_types().contains(r.event_type)) return {};
  auto env = codec::decode(r);
  if (!env) {
    return std::unexpected(error(
        domain::ErrorKind::kInternal, "undecodable_event",
        "event at position " + std::to_string(r.meta.global_position.value) + " cannot be decoded: " + env.error()));
  }
  model_.apply(r.meta.stream_id, env->event);
  ++admission_events_;
  auto [it, fresh] = streams_.try_emplace(r.meta.stream_id, r.meta.global_position.value, r.meta.global_position.value);
  if (!fresh) it->second.second = r.meta.global_position.value;
  return {};
}

std::optional<std::pair<std::int64_t, std::int64_t>> AdmissionFold::stream_positions(
    const std::string& stream_id) const {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return std::nullopt;
  return it->second;
}

domain::Result<AdmissionFold> fold_admission(const std::string& pg_url, std::int64_t up_to,
                                             const AuditProgress& progress) {
  PgEventReader reader(pg_url);
  AdmissionFold fold;
  auto read = read_in_order(reader, 0, up_to, [&](events::RecordedEvent& r) { return fold.add(r); }, progress);
  if (!read) return std::unexpected(read.error());
  return fold;
}

domain::Result<CeilingAsOfAnswer> ceiling_as_of_from(const AdmissionFold& fold, const CeilingAsOfQuery& q,
                                                     std::int64_t position, events::Instant at) {
  const bool global = q.scope.level == events::QuotaLevel::kGlobal;
  if (global != q.scope.id.empty()) {
    return std::unexpected(error(domain::ErrorKind::kInvalidArgument, "invalid_scope",
                                 global ? "the global scope has no id" : "a scope id is required below global"));
  }
  if (q.target.dimension.empty()) {
    return std::unexpected(error(domain::ErrorKind::kInvalidArgument, "missing_dimension", "a dimension is required"));
  }
  if (!domain::valid_window(q.target.window)) {
    return std::unexpected(
        error(domain::ErrorKind::kInvalidArgument, "invalid_window",
              "window '" + q.target.window + "' is not one of minute, hour, day, month, request (or none)"));
  }
  const auto& m = fold.model();
  CeilingAsOfAnswer a;
  a.scope = q.scope;
  a.target = q.target;
  a.position = position;
  a.as_of = at;
  a.admission_events = fold.admission_events();
  a.chain = m.chain(q.scope);
  if (a.chain.empty()) {
    domain::Error e =
        error(domain::ErrorKind::kNotFound, "unknown_scope",
              "scope " + domain::scope_text(q.scope) + " did not exist at position " + std::to_string(position));
    e.with("scope", domain::scope_text(q.scope));
    return std::unexpected(std::move(e));
  }
  a.rules = m.rules_on(a.chain, q.target.dimension);
  a.delegations = m.delegations_on(a.chain, q.target.dimension);
  a.evaluation = domain::evaluate_ceiling(a.chain, a.rules, a.delegations, q.target, /*for_write=*/false);
  if (const auto* d = m.registry("quota_dimension", q.target.dimension)) a.dimension = *d;
  a.unit = a.evaluation.effective.unit;
  if (a.unit.empty() && a.dimension && a.dimension->attributes.contains("unit")) {
    a.unit = a.dimension->attributes.at("unit");
  }
  return a;
}

domain::Result<CeilingAsOfAnswer> ceiling_as_of(const std::string& pg_url, const CeilingAsOfQuery& q,
                                                const AuditProgress& progress) {
  auto point = resolve_as_of_point(pg_url, q.position, q.instant);
  if (!point) return std::unexpected(point.error());
  auto fold = fold_admission(pg_url, point->position, progress);
  if (!fold) return std::unexpected(fold.error());
  auto a = ceiling_as_of_from(*fold, q, point->position, point->at);
  if (!a && a.error().code == "unknown_scope") {
    return std::unexpected(explain_absence(pg_url, a.error(), domain::scope_text(q.scope), point->position));
  }
  return a;
}

Json ceiling_as_of_json(const CeilingAsOfAnswer& a) {
  const auto& e = a.evaluation.effective;
  Json matched = Json::array();
  for (const auto& r : e.matched_rules) {
    matched.push_back(
        {{"rule_id", r.rule_id}, {"scope", quota_scope_json(r.scope)}, {"version", r.version}, {"kind", r.kind}});
  }
  Json chain = Json::array();
  for (const auto& n : a.chain) {
    Json j = quota_scope_json(n.scope);
    j["version"] = n.version;
    chain.push_back(std::move(j));
  }
  Json rules = Json::array();
  for (const auto& r : a.rules) {
    rules.push_back({{"rule_id", r.rule_id},
                     {"scope", quota_scope_json(r.scope)},
                     {"version", r.rule_version},
                     {"window", r.target.window},
                     {"region", r.target.region},
                     {"sku_or_model", r.target.sku_or_model},
                     {"quantity", r.quantity},
                     {"unit", r.unit}});
  }
  Json delegations = Json::array();
  for (const auto& d : a.delegations) {
    delegations.push_back({{"delegation_id", d.delegation_id},
                           {"scope", quota_scope_json(d.scope)},
                           {"version", d.version},
                           {"max_quantity", nullable(d.max_quantity)}});
  }
  const auto& allowed = a.evaluation.allowed;
  return {{"scope", quota_scope_json(a.scope)},
          {"dimension", a.target.dimension},
          {"window", a.target.window},
          {"region", a.target.region},
          {"sku_or_model", a.target.sku_or_model},
          {"quantity", nullable(e.quantity)},
          {"unit", a.unit},
          {"inherited_from", e.inherited_from ? quota_scope_json(*e.inherited_from) : Json(nullptr)},
          {"binding_rule_id", e.binding_rule_id.empty() ? Json(nullptr) : Json(e.binding_rule_id)},
          {"matched_rules", std::move(matched)},
          {"allowed",
           {{"quantity", nullable(allowed.quantity)},
            {"inherited_from", allowed.inherited_from ? quota_scope_json(*allowed.inherited_from) : Json(nullptr)}}},
          {"chain", std::move(chain)},
          {"rules", std::move(rules)},
          {"delegations", std::move(delegations)},
          {"dimension_registry_version", a.dimension ? Json(a.dimension->version) : Json(nullptr)},
          {"position", a.position},
          {"as_of", codec::format_instant(a.as_of)},
          {"admission_events", a.admission_events}};
}

domain::Result<ReservationAsOfAnswer> reservation_as_of_from(const AdmissionFold& fold, const std::string& id,
                                                             std::int64_t position, events::Instant at,
                                                             const std::string& organization_id) {
  std::string org = organization_id;
  if (org.empty()) {
    // Ids are unique per organization: without one named, the id must be
    // one organization's only.
    const auto orgs = fold.model().organizations_with_reservation(id);
    if (orgs.size() > 1) {
      std::string names;
      for (const auto& o : orgs) names += (names.empty() ? "" : ",") + o;
      domain::Error e =
          error(domain::ErrorKind::kInvalidArgument, "ambiguous_reservation",
                "organizations " + names + " each have a reservation '" + id + "': name one with --organization");
      e.with("reservation_id", id).with("organizations", names);
      return std::unexpected(std::move(e));
    }
    if (orgs.size() == 1) org = orgs.front();
  }
  const auto* r = fold.model().reservation(org, id);
  if (!r) {
    domain::Error e = error(domain::ErrorKind::kNotFound, "unknown_reservation",
                            "reservation '" + id + "' did not exist at position " + std::to_string(position));
    e.with("reservation_id", id);
    return std::unexpected(std::move(e));
  }
  ReservationAsOfAnswer a;
  a.position = position;
  a.as_of = at;
  a.drafted = r->drafted;
  a.view = fold.model().view_of(*r);
  a.state = domain::reservation_state_at(a.view, at);
  a.version = r->version;
  if (auto p = fold.stream_positions(r->stream_id)) {
    a.drafted_position = p->first;
    a.last_position = p->second;
  }
  return a;
}

domain::Result<ReservationAsOfAnswer> reservation_as_of(const std::string& pg_url, const ReservationAsOfQuery& q,
                                                        const AuditProgress& progress) {
  if (q.reservation_id.empty()) {
    return std::unexpected(
        error(domain::ErrorKind::kInvalidArgument, "missing_reservation", "a reservation id is required"));
  }
  auto point = resolve_as_of_point(pg_url, q.position, q.instant);
  if (!point) return std::unexpected(point.error());
  auto fold = fold_admission(pg_url, point->position, progress);
  if (!fold) return std::unexpected(fold.error());
  auto a = reservation_as_of_from(*fold, q.reservation_id, point->position, point->at, q.organization_id);
  if (!a && a.error().code == "unknown_reservation") {
    // Drafted later: on its organization's stream, or (before ids were
    // scoped per organization) on "reservation:<id>".
    const std::string stream = q.organization_id.empty()
                                   ? later_reservation_stream(pg_url, q.reservation_id, point->position)
                                   : domain::reservation_stream_id(q.organization_id, q.reservation_id);
    return std::unexpected(explain_absence(pg_url, a.error(), stream, point->position));
  }
  return a;
}

Json reservation_as_of_json(const ReservationAsOfAnswer& a) {
  const auto& v = a.view;
  Json chain = Json::array();
  for (const auto& s : v.owner_chain) chain.push_back(quota_scope_json(s));
  Json j = reservation_fields(v, a.drafted.kind, a.drafted.unit, a.as_of);
  j["organization_id"] = a.drafted.organization_id;
  j["owner_chain"] = std::move(chain);
  j["attributes"] = a.drafted.attributes;
  j["version"] = a.version;
  j["drafted_position"] = a.drafted_position;
  j["last_position"] = a.last_position;
  j["position"] = a.position;
  j["as_of"] = codec::format_instant(a.as_of);
  return j;
}

// ---------------------------------------------------------------- digest

namespace {

domain::Result<std::string> read_whole_file(const std::string& path, const char* what) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return std::unexpected(
        error(domain::ErrorKind::kNotFound, "file_not_found", std::string(what) + " not found: " + path));
  }
  if (std::filesystem::is_directory(path, ec)) {
    return std::unexpected(error(domain::ErrorKind::kInvalidArgument, "not_a_file", path + " is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return std::unexpected(error(domain::ErrorKind::kUnavailable, "unreadable_file", "cannot read " + path));
  }
  return text;
}

}  // namespace

domain::Result<std::string> read_key_file(const std::string& path) {
  auto key = read_whole_file(path, "key file");
  if (!key) return key;
  if (!key->empty() && key->back() == '\n') key->pop_back();
  if (!key->empty() && key->back() == '\r') key->pop_back();
  if (key->empty()) {
    return std::unexpected(error(domain::ErrorKind::kInvalidArgument, "empty_key", "key file " + path + " is empty"));
  }
  return key;
}

domain::Result<codec::ChainDigest> read_digest_file(const std::string& path) {
  auto text = read_whole_file(path, "digest file");
  if (!text) return std::unexpected(text.error());
  Json j = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return std::unexpected(error(domain::ErrorKind::kInvalidArgument, "corrupted_digest",
                                 "digest file " + path + " is not valid JSON (truncated or corrupted)"));
  }
  auto d = codec::digest_from_json(j);
  if (!d) {
    return std::unexpected(
        error(domain::ErrorKind::kInvalidArgument, "corrupted_digest", "digest file " + path + ": " + d.error()));
  }
  return *d;
}

domain::Result<codec::ChainDigest> sign_digest(const std::string& pg_url, std::string_view key, std::int64_t position,
                                               const AuditProgress& progress) {
  if (key.empty()) return std::unexpected(error(domain::ErrorKind::kInvalidArgument, "empty_key", "the key is empty"));
  auto chain = verify_store(pg_url, {.up_to = position}, progress);
  if (!chain) return std::unexpected(chain.error());
  if (const auto& broken = chain->broken) {
    domain::Error e = error(domain::ErrorKind::kFailedPrecondition, "chain_broken",
                            "the chain is broken at or before position " + std::to_string(position) + ": " +
                                broken->message + "; nothing signed");
    e.with("broken_position", broken->position);
    return std::unexpected(std::move(e));
  }
  return codec::sign_chain_head(key, position, chain->head_hash);
}

domain::Result<DigestCheck> check_digest(const std::string& pg_url, std::string_view key,
                                         const codec::ChainDigest& digest, const AuditProgress& progress) {
  DigestCheck c;
  c.digest = digest;
  c.signature_valid = codec::digest_signature_valid(key, digest);
  if (!c.signature_valid) {
    c.problems.emplace_back("the signature does not match: a different key, or the digest file was edited");
  }
  PgEventReader reader(pg_url);
  auto head = reader.head_position();
  if (!head) return std::unexpected(head.error());
  c.head_position = head->value;
  const std::int64_t up_to = std::min(digest.position, head->value);
  if (digest.position > head->value) {
    c.problems.push_back("position " + std::to_string(digest.position) + " is beyond the head (" +
                         std::to_string(head->value) + "): history after position " + std::to_string(head->value) +
                         " is gone");
  }
  if (up_to > 0) {
    auto chain = verify_store(pg_url, {.up_to = up_to}, progress);
    if (!chain) return std::unexpected(chain.error());
    c.chain = std::move(*chain);
    if (c.chain.broken) c.problems.push_back("the chain is broken: " + c.chain.broken->message);
  }
  if (digest.position <= head->value) {
    if (c.chain.intact() && c.chain.head_position == digest.position) {
      c.stored_hash = c.chain.head_hash;
    } else {
      auto r = reader.read_after(events::GlobalPosition{digest.position - 1}, 1);
      if (!r) return std::unexpected(r.error());
      if (!r->empty() && r->front().meta.global_position.value == digest.position) c.stored_hash = r->front().hash;
    }
    if (!c.stored_hash) {
      c.problems.push_back("position " + std::to_string(digest.position) + " is missing from the store");
    } else if (*c.stored_hash != digest.hash) {
      c.problems.push_back("position " + std::to_string(digest.position) + ": the stored hash is now " +
                           *c.stored_hash + ", the digest says " + digest.hash +
                           " (history up to this position changed)");
    }
  }
  return c;
}

Json digest_check_json(const DigestCheck& c) {
  return {{"ok", c.ok()},
          {"digest", codec::digest_to_json(c.digest)},
          {"signature_valid", c.signature_valid},
          {"head_position", c.head_position},
          {"stored_hash", c.stored_hash ? Json(*c.stored_hash) : Json(nullptr)},
          {"chain", verify_report_json(c.chain)},
          {"problems", c.problems}};
}

// ---------------------------------------------------------------- replay

domain::Result<std::vector<std::string>> read_model_tables(const std::string& pg_url, const std::string& schema) {
  if (!plain_identifier(schema)) {
    return std::unexpected(error(domain::ErrorKind::kInvalidArgument, "invalid_schema",
                                 "schema '" + schema + "' must be a plain lowercase identifier"));
  }
  // pg_tables rather than information_schema.tables: the latter hides tables
  // the role has no privilege on, and a hidden table would silently escape
  // the comparison (here it fails the diff loudly instead). The name is a
  // checked plain identifier, so it can stand in the literal.
  auto names = adapters::postgres::query_scalar(
      pg_url,
      "SELECT coalesce(json_agg(tablename ORDER BY tablename), '[]')::text FROM pg_catalog.pg_tables "
      "WHERE schemaname = '" +
          schema + "'");
  if (!names) return std::unexpected(names.error());
  std::vector<std::string> out;
  for (const auto& n : Json::parse(*names)) out.push_back(n.get<std::string>());
  return out;
}

namespace {

// The checkpoint rows of the named projections that differ, in diff_tables'
// row format ({"side": schema, "projection", "position"}).
// Schemas are checked plain identifiers and names known read models, so
// both can stand in the SQL text.
domain::Result<std::vector<std::string>> diff_checkpoints(const std::string& pg_url, const std::string& a,
                                                          const std::string& b, const std::vector<std::string>& names) {
  std::string in;
  for (const auto& n : names) in += (in.empty() ? "'" : ", '") + n + "'";
  auto select = [&](const std::string& from, const std::string& except) {
    return "(SELECT '" + from + "' AS side, t.* FROM (SELECT projection, position FROM " + from +
           ".checkpoints WHERE projection IN (" + in + ") EXCEPT ALL SELECT projection, position FROM " + except +
           ".checkpoints WHERE projection IN (" + in + ")) t)";
  };
  auto rows = adapters::postgres::query_scalar(
      pg_url, "SELECT coalesce(json_agg(d), '[]')::text FROM (" + select(a, b) + " UNION ALL " + select(b, a) + ") d");
  if (!rows) return std::unexpected(rows.error());
  std::vector<std::string> out;
  for (const auto& row : Json::parse(*rows)) out.push_back(row.dump());
  return out;
}

}  // namespace

domain::Result<ReplayReport> compare_read_models(const std::string& pg_url, const std::string& live,
                                                 const std::string& other, std::size_t diff_limit,
                                                 const std::vector<std::string>& read_model_names) {
  if (auto ok = check_read_model_names(read_model_names); !ok) return std::unexpected(ok.error());
  if (!plain_identifier(live) || !plain_identifier(other)) {
    return std::unexpected(error(domain::ErrorKind::kInvalidArgument, "invalid_schema",
                                 "schema names must be plain lowercase identifiers"));
  }
  auto live_tables = read_model_tables(pg_url, live);
  if (!live_tables) return std::unexpected(live_tables.error());
  if (live_tables->empty()) {
    return std::unexpected(
        error(domain::ErrorKind::kNotFound, "unknown_schema", "schema '" + live + "' has no read-model tables"));
  }
  auto other_tables = read_model_tables(pg_url, other);
  if (!other_tables) return std::unexpected(other_tables.error());
  const std::set<std::string> in_live(live_tables->begin(), live_tables->end());
  const std::set<std::string> in_other(other_tables->begin(), other_tables->end());

  ReplayReport report;
  std::set<std::string> all = in_live;
  all.insert(in_other.begin(), in_other.end());
  if (!read_model_names.empty()) {
    // Only the named read models' tables; their checkpoints row by row.
    all.clear();
    for (const auto& m : read_models()) {
      if (std::find(read_model_names.begin(), read_model_names.end(), m.projection) == read_model_names.end()) continue;
      for (auto t : m.tables) all.emplace(t);
    }
    auto rows = diff_checkpoints(pg_url, live, other, read_model_names);
    if (!rows) return std::unexpected(rows.error());
    report.tables.emplace_back("checkpoints");
    if (!rows->empty()) {
      report.differing_rows += rows->size();
      report.differences.push_back({"checkpoints", "", std::move(*rows), false});
    }
  }
  for (const auto& table : all) {
    report.tables.push_back(table);
    if (!in_other.contains(table)) {
      report.differences.push_back({table, "missing in " + other, {}, false});
      continue;
    }
    if (!in_live.contains(table)) {
      report.differences.push_back({table, "missing in " + live, {}, false});
      continue;
    }
    auto rows = adapters::postgres::diff_tables(pg_url, live, other, table, std::max<std::size_t>(diff_limit, 1));
    if (!rows) {
      domain::Error e = rows.error();
      e.message = "comparing " + table + ": " + e.message;
      e.with("table", table);
      return std::unexpected(std::move(e));
    }
    if (!rows->empty()) {
      report.differing_rows += rows->size();
      const bool truncated = rows->size() >= std::max<std::size_t>(diff_limit, 1);
      report.differences.push_back({table, "", std::move(*rows), truncated});
    }
  }
  return report;
}

domain::Result<ReplayReport> replay(const ReplayOptions& options, const AuditProgress& progress) {
  using namespace std::chrono_literals;
  if (!plain_identifier(options.scratch_schema)) {
    return std::unexpected(error(
        domain::ErrorKind::kInvalidArgument, "invalid_schema",
        "scratch schema '" + options.scratch_schema + "' must be a plain lowercase identifier ([a-z_][a-z0-9_]*)"));
  }
  if (!plain_identifier(options.live_schema)) {
    return std::unexpected(error(domain::ErrorKind::kInvalidArgument, "invalid_schema",
                                 "live schema '" + options.live_schema + "' must be a plain lowercase identifier"));
  }
  if (options.scratch_schema == options.live_schema) {
    return std::unexpected(
        error(domain::ErrorKind::kInvalidArgument, "scratch_is_live",
              "refusing to replay into the live schema '" + options.live_schema + "': choose another --schema"));
  }
  if (auto ok = check_read_model_names(options.read_models); !ok) return std::unexpected(ok.error());
  // The live schema must exist before anything is rebuilt.
  auto live_tables = read_model_tables(options.pg_url, options.live_schema);
  if (!live_tables) return std::unexpected(live_tables.error());
  if (live_tables->empty()) {
    return std::unexpected(error(domain::ErrorKind::kNotFound, "unknown_schema",
                                 "schema '" + options.live_schema + "' has no read-model tables"));
  }

  std::int64_t head = 0;
  if (progress) {
    PgEventReader reader(options.pg_url);
    if (auto h = reader.head_position()) head = h->value;
  }
  const auto started = std::chrono::steady_clock::now();
  std::atomic<bool> done{false};
  std::thread watcher;
  if (progress) {
    // The rebuild has no progress hook: watch the scratch checkpoints.
    watcher = std::thread([&] {
      const std::string sql = "SELECT coalesce(min(position), 0) FROM " + options.scratch_schema + ".checkpoints";
      while (!done) {
        // Fails while the schema is being recreated: then just wait.
        if (auto at = adapters::postgres::query_scalar(options.pg_url, sql); at && !at->empty()) {
          progress(std::stoll(*at), head);
        }
        for (int i = 0; i < 5 && !done; ++i) std::this_thread::sleep_for(50ms);
      }
    });
  }
  // Field by field: ProjectorOptions grows (designated initialisers would
  // warn about every field left out).
  ProjectorOptions rebuild_options;
  rebuild_options.pg_url = options.pg_url;
  rebuild_options.brokers = options.brokers;
  rebuild_options.kafka_security = options.kafka_security;
  rebuild_options.topic = options.topic;
  rebuild_options.schema = options.scratch_schema;
  rebuild_options.group_id = "ledger-audit-replay";
  rebuild_options.batch_size = options.batch_size;
  rebuild_options.read_models = options.read_models;
  std::vector<projections::ChainAlarm> alarms;
  auto rebuilt = rebuild(rebuild_options, options.source, &alarms);
  done = true;
  if (watcher.joinable()) watcher.join();
  if (!rebuilt) {
    domain::Error e = rebuilt.error();
    e.message = "rebuild failed: " + e.message;
    return std::unexpected(std::move(e));
  }
  if (progress) progress(rebuilt->value, std::max(head, rebuilt->value));

  auto report = compare_read_models(options.pg_url, options.live_schema, options.scratch_schema, options.diff_limit,
                                    options.read_models);
  if (!report) return report;
  report->replayed_to = rebuilt->value;
  report->chain_alarms = std::move(alarms);
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (report->identical() && !options.keep_scratch) {
    report->scratch_dropped =
        adapters::postgres::execute(options.pg_url, "DROP SCHEMA IF EXISTS " + options.scratch_schema + " CASCADE")
            .has_value();
  }
  return report;
}

Json replay_report_json(const ReplayReport& r) {
  Json diffs = Json::array();
  for (const auto& d : r.differences) {
    Json rows = Json::array();
    for (const auto& row : d.rows) rows.push_back(Json::parse(row, nullptr, false));
    diffs.push_back({{"table", d.table}, {"problem", d.problem}, {"rows", rows}, {"truncated", d.truncated}});
  }
  Json alarms = Json::array();
  for (const auto& a : r.chain_alarms) {
    alarms.push_back({{"reason", a.reason},
                      {"offset", a.offset},
                      {"position", a.position},
                      {"replaced_from_store", a.replaced},
                      {"detail", a.detail}});
  }
  return {{"identical", r.identical()},
          {"chain_alarms", alarms},
          {"replayed_to", r.replayed_to},
          {"tables", r.tables},
          {"differing_rows", r.differing_rows},
          {"differences", diffs},
          {"seconds", r.seconds},
          {"scratch_dropped", r.scratch_dropped}};
}

}  // namespace ledger::audit

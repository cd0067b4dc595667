#include "events/codec/json_codec.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>

#include "events/codec/admission_codec.h"
#include "events/codec/bytes8.h"
#include "events/codec/config_codec.h"
#include "events/codec/digest.h"
#include "events/codec/entitlement_codec.h"
#include "events/codec/rfc3339.h"

namespace ledger::codec {
namespace {

using events::PolicyKeyDefined;
using events::PolicyValueSet;

// Strict field readers: a payload that lacks a field or has the wrong JSON
// type is rejected with the field's name, never defaulted silently.
struct Reader {
  const Json& obj;
  std::string error;

  const Json* field(const char* name) {
    if (!error.empty()) return nullptr;
    auto it = obj.find(name);
    if (it == obj.end()) {
      error = std::string("missing field '") + name + "'";
      return nullptr;
    }
    return &*it;
  }
  std::string str(const char* name) {
    const Json* f = field(name);
    if (f && !f->is_string()) error = std::string("field '") + name + "' must be a string";
    return error.empty() ? f->get<std::string>() : std::string();
  }
  std::int64_t int64(const char* name) {
    const Json* f = field(name);
    if (f && !f->is_number_integer()) error = std::string("field '") + name + "' must be an integer";
    return error.empty() ? f->get<std::int64_t>() : 0;
  }
  bool boolean(const char* name) {
    const Json* f = field(name);
    if (f && !f->is_boolean()) error = std::string("field '") + name + "' must be a boolean";
    return error.empty() ? f->get<bool>() : false;
  }
  std::optional<std::int64_t> opt_int64(const char* name) {
    auto it = obj.find(name);
    if (it == obj.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_integer()) {
      error = std::string("field '") + name + "' must be an integer or null";
      return std::nullopt;
    }
    return it->get<std::int64_t>();
  }
  events::PolicyValue value(const char* name) {
    const Json* f = field(name);
    if (!f) return {};
    auto v = decode_value(*f);
    if (!v) {
      error = std::string("field '") + name + "' must be a bool, integer or string";
      return {};
    }
    return *v;
  }
  events::Instant instant(const char* name) {
    std::string s = str(name);
    if (!error.empty()) return {};
    auto t = parse_instant(s);
    if (!t) error = std::string("field '") + name + "' is not an RFC 3339 instant";
    return t.value_or(events::Instant{});
  }
};

Json encode(const PolicyKeyDefined& e) {
  Json j = {{"key", e.key},
            {"value_type", value_type_name(e.value_type)},
            {"default_value", encode_value(e.default_value)},
            {"min", e.min ? Json(*e.min) : Json(nullptr)},
            {"max", e.max ? Json(*e.max) : Json(nullptr)},
            {"allowed", e.allowed},
            {"description", e.description},
            {"write_audience", write_audience_name(e.write_audience)}};
  return j;
}

Json encode(const PolicyValueSet& e) {
  return {{"key", e.key},
          {"scope", {{"level", scope_level_name(e.scope.level)}, {"id", e.scope.id}}},
          {"before", encode_value(e.before)},
          {"before_source", before_source_name(e.before_source)},
          {"after", encode_value(e.after)},
          {"effective_at", format_instant(e.effective_at)},
          {"reason", e.reason}};
}

std::expected<events::Event, std::string> decode_key_defined_v1(const Json& j) {
  Reader r{j, {}};
  PolicyKeyDefined e;
  e.key = r.str("key");
  auto type = parse_value_type(r.str("value_type"));
  if (r.error.empty() && !type) r.error = "field 'value_type' is not int, string or bool";
  e.value_type = type.value_or(events::ValueType::kInt);
  e.default_value = r.value("default_value");
  e.min = r.opt_int64("min");
  e.max = r.opt_int64("max");
  if (const Json* a = r.field("allowed")) {
    if (!a->is_array()) {
      r.error = "field 'allowed' must be an array";
    } else {
      for (const auto& x : *a) {
        if (!x.is_string()) {
          r.error = "field 'allowed' must hold strings";
          break;
        }
        e.allowed.push_back(x.get<std::string>());
      }
    }
  }
  e.description = r.str("description");
  if (!r.error.empty()) return std::unexpected(r.error);
  e.write_audience = implied_write_audience(e.key);  // v1 named none: upcast
  return e;
}

std::expected<events::Event, std::string> decode_key_defined_v2(const Json& j) {
  Json v1 = j;
  v1.erase("write_audience");
  auto e = decode_key_defined_v1(v1);
  if (!e) return e;
  auto it = j.find("write_audience");
  if (it == j.end() || !it->is_string()) return std::unexpected("field 'write_audience' must be a string");
  auto audience = parse_write_audience(it->get<std::string>());
  if (!audience) return std::unexpected("field 'write_audience' is not platform or tenant");
  std::get<PolicyKeyDefined>(*e).write_audience = *audience;
  return e;
}

// The fields v1 and v2 share; `before_source` / `before_was_default` is
// read by the caller.
PolicyValueSet decode_value_set_common(Reader& r) {
  PolicyValueSet e;
  e.key = r.str("key");
  if (const Json* s = r.field("scope")) {
    if (!s->is_object()) {
      r.error = "field 'scope' must be an object";
    } else {
      Reader sr{*s, {}};
      auto level = parse_scope_level(sr.str("level"));
      e.scope.id = sr.str("id");
      if (sr.error.empty() && !level) sr.error = "unknown scope level";
      e.scope.level = level.value_or(events::ScopeLevel::kGlobal);
      if (!sr.error.empty()) r.error = "scope: " + sr.error;
    }
  }
  e.before = r.value("before");
  e.after = r.value("after");
  e.effective_at = r.instant("effective_at");
  e.reason = r.str("reason");
  return e;
}

// v1 -> v2 upcaster: `before_was_default: bool` becomes `before_source`.
// v1 rows stay as they were recorded; this runs on every read.
std::expected<events::Event, std::string> decode_value_set_v1(const Json& j) {
  Reader r{j, {}};
  PolicyValueSet e = decode_value_set_common(r);
  const bool was_default = r.boolean("before_was_default");
  if (!r.error.empty()) return std::unexpected(r.error);
  e.before_source = was_default ? events::BeforeSource::kDefault : events::BeforeSource::kScope;
  return e;
}

std::expected<events::Event, std::string> decode_value_set_v2(const Json& j) {
  Reader r{j, {}};
  PolicyValueSet e = decode_value_set_common(r);
  const std::string source = r.str("before_source");
  if (!r.error.empty()) return std::unexpected(r.error);
  auto parsed = parse_before_source(source);
  if (!parsed) return std::unexpected("field 'before_source' is not default or scope");
  e.before_source = *parsed;
  return e;
}

Json meta_json(const events::RecordedEvent& r) {
  const auto& m = r.meta;
  Json actor = {{"type", m.actor.type}, {"id", m.actor.id}, {"roles", m.actor.roles}};
  return {{"global_position", m.global_position},
          {"stream_id", m.stream_id},
          {"stream_version", m.stream_version},
          {"event_id", m.event_id},
          {"event_type", r.event_type},
          {"schema_version", r.schema_version},
          {"occurred_at", format_instant(m.occurred_at)},
          {"recorded_at", format_instant(m.recorded_at)},
          {"actor", std::move(actor)},
          {"tenant", m.tenant},
          {"correlation_id", m.correlation_id},
          {"causation_id", m.causation_id},
          {"command_id", m.command_id},
          {"prev_hash", r.prev_hash}};
}

}  // namespace

const char* value_type_name(events::ValueType t) {
  switch (t) {
    case events::ValueType::kInt:
      return "int";
    case events::ValueType::kString:
      return "string";
    case events::ValueType::kBool:
      return "bool";
  }
  return "int";
}

std::optional<events::ValueType> parse_value_type(std::string_view name) {
  if (name == "int") return events::ValueType::kInt;
  if (name == "string") return events::ValueType::kString;
  if (name == "bool") return events::ValueType::kBool;
  return std::nullopt;
}

const char* scope_level_name(events::ScopeLevel l) {
  switch (l) {
    case events::ScopeLevel::kUser:
      return "user";
    case events::ScopeLevel::kProject:
      return "project";
    case events::ScopeLevel::kOrganization:
      return "organization";
    case events::ScopeLevel::kPlan:
      return "plan";
    case events::ScopeLevel::kGlobal:
      return "global";
  }
  return "global";
}

std::optional<events::ScopeLevel> parse_scope_level(std::string_view name) {
  if (name == "user") return events::ScopeLevel::kUser;
  if (name == "project") return events::ScopeLevel::kProject;
  if (name == "organization") return events::ScopeLevel::kOrganization;
  if (name == "plan") return events::ScopeLevel::kPlan;
  if (name == "global") return events::ScopeLevel::kGlobal;
  return std::nullopt;
}

const char* before_source_name(events::BeforeSource s) {
  switch (s) {
    case events::BeforeSource::kDefault:
      return "default";
    case events::BeforeSource::kScope:
      return "scope";
  }
  return "default";
}

std::optional<events::BeforeSource> parse_before_source(std::string_view name) {
  if (name == "default") return events::BeforeSource::kDefault;
  if (name == "scope") return events::BeforeSource::kScope;
  return std::nullopt;
}

const char* write_audience_name(events::WriteAudience a) {
  switch (a) {
    case events::WriteAudience::kPlatform:
      return "platform";
    case events::WriteAudience::kTenant:
      return "tenant";
  }
  return "platform";
}

std::optional<events::WriteAudience> parse_write_audience(std::string_view name) {
  if (name == "platform") return events::WriteAudience::kPlatform;
  if (name == "tenant") return events::WriteAudience::kTenant;
  return std::nullopt;
}

events::WriteAudience implied_write_audience(std::string_view key) {
  for (std::string_view prefix : kPlatformKeyPrefixes) {
    if (key.starts_with(prefix)) return events::WriteAudience::kPlatform;
  }
  return events::WriteAudience::kTenant;
}

Json encode_value(const events::PolicyValue& v) {
  return std::visit([](const auto& x) { return Json(x); }, v.v);
}

std::optional<events::PolicyValue> decode_value(const Json& j) {
  if (j.is_boolean()) return events::PolicyValue{j.get<bool>()};
  if (j.is_number_integer()) {
    if (j.is_number_unsigned() && j.get<std::uint64_t>() > std::uint64_t(INT64_MAX)) return std::nullopt;
    return events::PolicyValue{j.get<std::int64_t>()};
  }
  if (j.is_string()) return events::PolicyValue{j.get<std::string>()};
  return std::nullopt;
}

Json encode_payload(const events::Event& e) {
  if (auto j = encode_admission(e)) return std::move(*j);
  if (auto j = encode_entitlement(e)) return std::move(*j);
  if (auto j = encode_config(e)) return std::move(*j);
  if (const auto* k = std::get_if<PolicyKeyDefined>(&e)) return encode(*k);
  return encode(std::get<PolicyValueSet>(e));
}

std::expected<events::Event, std::string> decode_payload(std::string_view type, int version, const Json& payload) {
  if (!payload.is_object()) return std::unexpected("payload must be a JSON object");
  if (type == PolicyKeyDefined::kType && version == 1) return decode_key_defined_v1(payload);
  if (type == PolicyKeyDefined::kType && version == 2) return decode_key_defined_v2(payload);
  if (type == PolicyValueSet::kType && version == 1) return decode_value_set_v1(payload);
  if (type == PolicyValueSet::kType && version == 2) return decode_value_set_v2(payload);
  if (auto admission = decode_admission(type, version, payload)) return std::move(*admission);
  if (auto entitlement = decode_entitlement(type, version, payload)) return std::move(*entitlement);
  if (auto config = decode_config(type, version, payload)) return std::move(*config);
  return std::unexpected("unknown event type or schema version: " + std::string(type) + " v" + std::to_string(version));
}

namespace {

// A number as PostgreSQL's jsonb gives it back. jsonb keeps a number as an
// exact decimal and writes it without an exponent, so a double written as
// "1.5e+16" comes back as 15000000000000000, which parses as an integer, and
// "-0.0" comes back as 0.0. The canonical form writes those doubles the way
// they come back, so a hash taken before the store equals the one taken
// after it. nlohmann writes every other double in a form that parses back
// to the same double (the shortest round-trip digits).
void normalize_number(Json& j) {
  if (!j.is_number_float()) return;
  const double d = j.get<double>();
  if (d == 0.0) {
    j = 0.0;  // -0.0 too
    return;
  }
  // Integral doubles print in exponent form from 1e15 up (nlohmann's
  // format); below that they keep their ".0" and stay doubles.
  if (!std::isfinite(d) || std::trunc(d) != d || std::fabs(d) < 1e15) return;
  constexpr double kTwo63 = 9223372036854775808.0;
  constexpr double kTwo64 = 18446744073709551616.0;
  if (d >= -kTwo63 && d < kTwo63)
    j = static_cast<std::int64_t>(d);
  else if (d > 0 && d < kTwo64)
    j = static_cast<std::uint64_t>(d);
}

void normalize_numbers(Json& j) {
  if (j.is_object() || j.is_array()) {
    for (auto& item : j) normalize_numbers(item);
  } else {
    normalize_number(j);
  }
}

}  // namespace

std::string canonical_payload(const Json& payload) {
  Json copy = payload;
  normalize_numbers(copy);
  return copy.dump();
}

std::string canonical_form(const events::RecordedEvent& r) {
  Json j = meta_json(r);
  j["payload"] = Json::parse(r.payload);
  return j.dump();
}

namespace {

// SHA-256 fetched once: OpenSSL 3 looks an implicitly fetched algorithm
// (EVP_sha256()) up again on every digest, a lock and a search that cost
// as much as hashing a short token. Kept for the life of the process.
const EVP_MD* sha256_md() {
  static EVP_MD* const fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return fetched != nullptr ? fetched : EVP_sha256();
}

}  // namespace

namespace {

// Whether every byte of `s` is written into a JSON string as it is:
// printable ASCII but the quote and the backslash.
bool all_verbatim(std::string_view s) {
  using namespace bytes8;
  return all_words(s, 'a', [](std::uint64_t w) {
    return (any_below(w, 0x20) | any_high(w) | any_equal(w, '\x7f') | any_equal(w, '"') | any_equal(w, '\\')) == 0;
  });
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  // Verbatim bytes copied at once; anything else through nlohmann's own
  // escaping.
  if (!all_verbatim(s)) {
    out += Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
    return;
  }
  // Written in place: resize() would fill the new bytes first. The size is
  // ours, not the operation's second argument: GCC 12's library hands it
  // the grown capacity when the string grows.
  const std::size_t at = out.size();
  const std::size_t size = at + s.size() + 2;
  out.resize_and_overwrite(size, [&s, at, size](char* p, std::size_t) {
    p[at] = '"';
    if (!s.empty()) std::memcpy(p + at + 1, s.data(), s.size());
    p[size - 1] = '"';
    return size;
  });
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md.data(), &len, sha256_md(), nullptr);
  return to_hex(md.data(), len);
}

std::string compute_hash(const events::RecordedEvent& r) { return sha256_hex(canonical_form(r)); }

events::RecordedEvent record(events::EventMeta meta, const events::Event& event, std::string prev_hash) {
  events::RecordedEvent r;
  r.meta = std::move(meta);
  r.event_type = events::type_name(event);
  r.schema_version = events::schema_version(event);
  r.payload = canonical_payload(encode_payload(event));
  r.prev_hash = std::move(prev_hash);
  r.hash = compute_hash(r);
  return r;
}

std::expected<events::Envelope, std::string> decode(const events::RecordedEvent& r) {
  Json payload = Json::parse(r.payload, nullptr, /*allow_exceptions=*/false);
  if (payload.is_discarded()) return std::unexpected("payload is not valid JSON");
  auto ev = decode_payload(r.event_type, r.schema_version, payload);
  if (!ev) return std::unexpected(ev.error());
  return events::Envelope{r.meta, std::move(*ev)};
}

Json to_json(const events::RecordedEvent& r) {
  Json j = meta_json(r);
  j["payload"] = Json::parse(r.payload);
  j["hash"] = r.hash;
  return j;
}

std::string to_json_text(const events::RecordedEvent& r) { return to_json(r).dump(); }

std::expected<events::RecordedEvent, std::string> recorded_from_json(const Json& j) {
  if (!j.is_object()) return std::unexpected("envelope must be a JSON object");
  Reader rd{j, {}};
  events::RecordedEvent r;
  r.meta.global_position = events::GlobalPosition{rd.int64("global_position")};
  r.meta.stream_id = rd.str("stream_id");
  r.meta.stream_version = events::StreamVersion{rd.int64("stream_version")};
  r.meta.event_id = rd.str("event_id");
  r.event_type = rd.str("event_type");
  r.schema_version = static_cast<int>(rd.int64("schema_version"));
  r.meta.occurred_at = rd.instant("occurred_at");
  r.meta.recorded_at = rd.instant("recorded_at");
  if (const Json* a = rd.field("actor")) {
    Reader ar{*a, {}};
    if (!a->is_object()) {
      rd.error = "field 'actor' must be an object";
    } else {
      r.meta.actor.type = ar.str("type");
      r.meta.actor.id = ar.str("id");
      const Json* roles = ar.field("roles");
      if (roles && roles->is_array()) {
        for (const auto& x : *roles) {
          if (x.is_string())
            r.meta.actor.roles.push_back(x.get<std::string>());
          else
            ar.error = "actor roles must be strings";
        }
      } else if (ar.error.empty()) {
        ar.error = "actor roles must be an array";
      }
      if (!ar.error.empty()) rd.error = "actor: " + ar.error;
    }
  }
  r.meta.tenant = rd.str("tenant");
  r.meta.correlation_id = rd.str("correlation_id");
  r.meta.causation_id = rd.str("causation_id");
  r.meta.command_id = rd.str("command_id");
  if (const Json* p = rd.field("payload")) {
    if (p->is_object())
      r.payload = canonical_payload(*p);
    else
      rd.error = "field 'payload' must be an object";
  }
  r.prev_hash = rd.str("prev_hash");
  r.hash = rd.str("hash");
  if (!rd.error.empty()) return std::unexpected(rd.error);
  return r;
}

std::expected<events::RecordedEvent, std::string> recorded_from_text(std::string_view text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::unexpected("not valid JSON");
  return recorded_from_json(j);
}

}  // namespace ledger::codec

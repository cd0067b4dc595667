// The JSON Schemas of the events (events/schemas/, draft 7) as tests check
// them, with Debian's header-only valijson: one schema per event type and
// version for the payload (<Type>.v<N>.json), one for the envelope
// (envelope.json), shared shapes in common.json. Used by the unit test
// (tests/unit/event_schemas_test.cc) and the live check on PostgreSQL
// (tests/integration/event_schemas_live_test.cc). Header-only.
//
//   testing::EventSchemas schemas;   // reads and compiles every file once
//   if (auto bad = schemas.payload_violation("PolicyValueSet", 2, payload)) FAIL() << *bad;
//   if (auto bad = schemas.event_violation(codec::to_json(recorded))) FAIL() << *bad;  // envelope + payload
//
// A per-type schema refers to a shared shape as "common.json#/definitions/x".
// valijson resolves a reference to another document only through a fetch
// callback, and it reads `id` (draft 4), not draft 7's `$id`, so there is no
// base URI: it asks for "common.json" as written, and the callback here
// answers with that file of the same directory. valijson aborts the process
// on a reference it cannot resolve (it is built without exceptions), so every
// `$ref` is checked here first and a schema with a dangling one is reported
// in load_errors() instead of compiled.
//
// Not thread-safe: one valijson::Validator caches the compiled patterns.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "domain/config/schema.h"
#include "events/event.h"

namespace ledger::testing {

inline std::filesystem::path event_schema_dir() {
  return std::filesystem::path(LEDGER_SOURCE_DIR) / "events" / "schemas";
}

// An event type and one of its schema versions.
struct EventVersion {
  std::string type;
  int version = 0;
  std::string file() const { return type + ".v" + std::to_string(version) + ".json"; }
  friend auto operator<=>(const EventVersion&, const EventVersion&) = default;
};

// Every (type, version) the codec decodes: each type of events::Event at every
// version from 1 to its current one (older versions are upcast on read, see
// events/codec/json_codec.h). The unit test checks this against the codec.
inline std::set<EventVersion> codec_event_versions() {
  std::set<EventVersion> out;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    auto add = [&](const char* type, int current) {
      for (int v = 1; v <= current; ++v) out.insert({type, v});
    };
    (add(std::variant_alternative_t<I, events::Event>::kType,
         std::variant_alternative_t<I, events::Event>::kSchemaVersion),
     ...);
  }(std::make_index_sequence<std::variant_size_v<events::Event>>{});
  return out;
}

class EventSchemas {
 public:
  static constexpr const char* kCommon = "common.json";
  static constexpr const char* kEnvelope = "envelope.json";

  explicit EventSchemas(std::filesystem::path dir = event_schema_dir()) : dir_(std::move(dir)) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
      if (entry.path().extension() != ".json") continue;
      const std::string name = entry.path().filename().string();
      std::ifstream in(entry.path());
      nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
      if (doc.is_discarded() || !doc.is_object()) {
        errors_.push_back(name + ": not a JSON object");
        continue;
      }
      docs_.emplace(name, std::move(doc));
    }
    if (ec) errors_.push_back(dir_.string() + ": " + ec.message());
    static const std::regex kEventFile(R"(^([A-Z][A-Za-z0-9]*)\.v([1-9][0-9]*)\.json$)");
    for (const auto& [name, doc] : docs_) {
      std::smatch m;
      if (name == kCommon) continue;  // definitions only, compiled where referenced
      if (name != kEnvelope && !std::regex_match(name, m, kEventFile)) {
        errors_.push_back(name + ": neither <Type>.v<N>.json, " + kCommon + " nor " + kEnvelope);
        continue;
      }
      if (name != kEnvelope) versions_.insert({m[1].str(), std::stoi(m[2].str())});
      if (auto bad = dangling_ref(name, doc)) {
        errors_.push_back(name + ": " + *bad);
        continue;
      }
      auto schema = std::make_unique<valijson::Schema>();
      valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
      valijson::adapters::NlohmannJsonAdapter adapter(doc);
      parser.populateSchema(
          adapter, *schema,
          [this](const std::string& uri) -> const nlohmann::json* {
            auto it = docs_.find(uri);
            return it == docs_.end() ? nullptr : new nlohmann::json(it->second);
          },
          [](const nlohmann::json* d) { delete d; });
      compiled_.emplace(name, std::move(schema));
    }
  }

  // What could not be loaded: unreadable files, unexpected names, references
  // to a missing document or pointer. Empty when every file compiled.
  const std::vector<std::string>& load_errors() const { return errors_; }
  // The (type, version) named by every <Type>.v<N>.json.
  const std::set<EventVersion>& versions() const { return versions_; }
  // A file's document as written; nullptr when there is no such file.
  const nlohmann::json* document(const std::string& file) const {
    auto it = docs_.find(file);
    return it == docs_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& [name, _] : docs_) out.push_back(name);
    return out;
  }

  // nullopt when `payload` is valid for (type, version); else every failure
  // as "<JSON pointer>: <reason>", or that there is no such schema.
  std::optional<std::string> payload_violation(std::string_view type, int version, const nlohmann::json& payload) {
    return violation(EventVersion{std::string(type), version}.file(), payload);
  }
  // The envelope alone (codec::to_json of a recorded event: what the relay
  // publishes on ledger.events); its payload is only required to be an object.
  std::optional<std::string> envelope_violation(const nlohmann::json& envelope) {
    return violation(kEnvelope, envelope);
  }
  // The envelope and its payload by the envelope's event_type and schema_version.
  std::optional<std::string> event_violation(const nlohmann::json& envelope) {
    if (auto bad = envelope_violation(envelope)) return "envelope: " + *bad;
    const auto type = envelope["event_type"].get<std::string>();
    const int version = envelope["schema_version"].get<int>();
    if (auto bad = payload_violation(type, version, envelope["payload"])) {
      return "payload of " + type + " v" + std::to_string(version) + ": " + *bad;
    }
    return std::nullopt;
  }

 private:
  std::optional<std::string> violation(const std::string& file, const nlohmann::json& doc) {
    auto it = compiled_.find(file);
    if (it == compiled_.end()) return "no compiled schema " + file;
    valijson::ValidationResults results;
    valijson::adapters::NlohmannJsonAdapter target(doc);
    if (validator_.validate(*it->second, target, &results)) return std::nullopt;
    std::string out;
    valijson::ValidationResults::Error err;
    while (results.popError(err)) {
      out += (out.empty() ? "" : "; ") + domain::config::context_pointer(err.context) + ": " + err.description;
    }
    return out.empty() ? "invalid" : out;
  }

  // The first `$ref` in `doc` (or in a document it refers to) whose document
  // or JSON pointer does not exist; only sibling files of this directory are
  // allowed as documents.
  std::optional<std::string> dangling_ref(const std::string& name, const nlohmann::json& doc) const {
    std::optional<std::string> bad;
    std::set<std::string> seen{name};
    std::vector<std::pair<std::string, const nlohmann::json*>> todo{{name, &doc}};
    while (!todo.empty() && !bad) {
      auto [in, node] = todo.back();
      todo.pop_back();
      if (node->is_object()) {
        auto ref = node->find("$ref");
        if (ref != node->end()) {
          const std::string r = ref->is_string() ? ref->get<std::string>() : std::string();
          const auto hash = r.find('#');
          const std::string target = hash == 0 ? in : r.substr(0, hash);
          const std::string ptr = hash == std::string::npos ? "" : r.substr(hash + 1);
          auto it = docs_.find(target);
          if (!ref->is_string() || it == docs_.end()) {
            bad = in + " refers to a missing document: " + ref->dump();
          } else if (!ptr.empty() && !has_pointer(it->second, ptr)) {
            bad = in + " refers to a missing definition: " + r;
          } else if (seen.insert(target).second) {
            todo.emplace_back(target, &it->second);
          }
        }
      }
      if (node->is_structured()) {
        for (const auto& child : *node) todo.emplace_back(in, &child);
      }
    }
    return bad;
  }
  static bool has_pointer(const nlohmann::json& doc, const std::string& ptr) {
    try {
      return doc.contains(nlohmann::json::json_pointer(ptr));
    } catch (const nlohmann::json::exception&) {
      return false;  // not a JSON pointer
    }
  }

  std::filesystem::path dir_;
  std::map<std::string, nlohmann::json> docs_;
  std::map<std::string, std::unique_ptr<valijson::Schema>> compiled_;
  std::set<EventVersion> versions_;
  std::vector<std::string> errors_;
  valijson::Validator validator_;
};

}  // namespace ledger::testing

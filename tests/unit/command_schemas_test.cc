// The published contracts of the command side, held to the code that
// implements them:
//   commands/schemas/<type>.json          a JSON Schema (draft-07) per command body, against the decoder
//   commands/schemas/common.json          the shapes they share
//   commands/schemas/command-result.json  a ledger.command-results value, against accepted_json/rejected_json
//   adapters/kafka/asyncapi.json          the Kafka topics: keys, headers, payload references
// The decoder is the judge: every sample body, and every mutant of it (a
// field removed, replaced by a value of each JSON type and length, an
// unknown field added, at any depth), gets the same verdict from the
// decoder and from the schema, so neither can drift from the other unnoticed.
#include <gtest/gtest.h>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "adapters/http/routes/command_api.h"
#include "adapters/http/routes/http_json.h"
#include "commands/command_record.h"
#include "commands/decode.h"

namespace ledger::commands {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

const fs::path kSource = LEDGER_SOURCE_DIR;
const fs::path kSchemaDir = kSource / "commands" / "schemas";
const fs::path kAsyncApi = kSource / "adapters" / "kafka" / "asyncapi.json";
constexpr std::string_view kSchemaBase = "https://policy-ledger.dev/schemas/commands/";

Json parse_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Json(Json::value_t::discarded);
  std::stringstream text;
  text << in.rdbuf();
  return Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
}

// A JSON file, or a discarded value (and a test failure) when it is missing or malformed.
Json read_json(const fs::path& file) {
  Json doc = parse_file(file);
  if (doc.is_discarded()) ADD_FAILURE() << file << " is missing or not valid JSON";
  return doc;
}

using Refs = std::vector<std::pair<std::string, std::string>>;  // (where, "$ref" value)

void collect_refs(const Json& j, const std::string& at, Refs& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "$ref" && it->is_string()) out.emplace_back(at, it->get<std::string>());
      collect_refs(*it, at + "/" + it.key(), out);
    }
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) collect_refs(j[i], at + "/" + std::to_string(i), out);
  }
}

Refs refs_of(const Json& doc) {
  Refs out;
  collect_refs(doc, "", out);
  return out;
}

// Why `ref` (a file relative to `dir`, an empty one meaning `self`, and a
// JSON pointer) does not resolve; "" when it does.
std::string unresolved(const std::string& ref, const fs::path& dir, const Json& self) {
  const auto hash = ref.find('#');
  const std::string file = ref.substr(0, hash);
  const std::string pointer = hash == std::string::npos ? "" : ref.substr(hash + 1);
  Json target = self;
  if (!file.empty()) {
    if (file.find("://") != std::string::npos) return "not a relative file reference";
    const fs::path path = (dir / file).lexically_normal();
    if (!fs::is_regular_file(path)) return "no file " + path.string();
    target = parse_file(path);
    if (target.is_discarded()) return path.string() + " is not valid JSON";
  }
  if (pointer.empty()) return "";
  try {
    if (!target.contains(Json::json_pointer(pointer))) {
      return "no " + pointer + " in " + (file.empty() ? "itself" : file);
    }
  } catch (const Json::exception& e) {
    return "malformed pointer " + pointer + ": " + e.what();
  }
  return "";
}

// A schema compiled by valijson (draft 7, set up as domain/config/schema.cc
// does); its references to other files of commands/schemas/ are read from
// disk. valijson ends the process on a reference it cannot follow, so
// compile() checks every reference first.
class CompiledSchema {
 public:
  explicit CompiledSchema(const Json& doc) {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(doc);
    parser.populateSchema(
        adapter, schema_,
        [](const std::string& uri) -> const Json* {
          // https://policy-ledger.dev/schemas/commands/common.json -> commands/schemas/common.json
          auto* doc = new Json(parse_file(kSchemaDir / uri.substr(uri.rfind('/') + 1)));
          if (doc->is_discarded()) *doc = Json::object();
          return doc;
        },
        [](const Json* doc) { delete doc; });
  }

  // nullopt when `doc` is valid; else the deepest error.
  std::optional<std::string> violation(const Json& doc) {
    valijson::ValidationResults results;
    valijson::adapters::NlohmannJsonAdapter target(doc);
    if (validator_.validate(schema_, target, &results)) return std::nullopt;
    std::string why = "invalid";
    std::size_t depth = 0;
    valijson::ValidationResults::Error e;
    while (results.popError(e)) {
      if (e.context.size() >= depth) {
        depth = e.context.size();
        why.clear();
        for (const auto& c : e.context) why += c;
        why += ": " + e.description;
      }
    }
    return why;
  }
  bool accepts(const Json& doc) { return !violation(doc).has_value(); }

 private:
  valijson::Schema schema_;
  valijson::Validator validator_;
};

std::unique_ptr<CompiledSchema> compile(const Json& doc, const std::string& name) {
  if (doc.is_discarded()) return nullptr;
  for (const auto& [at, ref] : refs_of(doc)) {
    if (auto why = unresolved(ref, kSchemaDir, doc); !why.empty()) {
      ADD_FAILURE() << name << at << ": $ref " << ref << " does not resolve: " << why;
      return nullptr;
    }
  }
  return std::make_unique<CompiledSchema>(doc);
}

// The schema of a file of commands/schemas/, compiled once.
CompiledSchema& schema_file(const std::string& file) {
  static std::map<std::string, std::unique_ptr<CompiledSchema>> cache;
  auto& slot = cache[file];
  if (!slot) slot = compile(read_json(kSchemaDir / file), file);
  if (!slot) throw std::runtime_error("no usable schema " + file);
  return *slot;
}
CompiledSchema& command_schema(const std::string& type) { return schema_file(type + ".json"); }

std::vector<std::string> command_types() { return {std::begin(kCommandTypes), std::end(kCommandTypes)}; }

// ---------------------------------------------------------------------------
// The decoder's verdict: the body as the value of a ledger.commands record
// (its `type` selects the command, as on Kafka; the key stands in for a
// missing command_id), read exactly as the command service reads one.

struct Verdict {
  bool accepted = false;
  std::string code;  // the refusal's
  std::string type;  // the command type the record asked for
};

Verdict decode_record(const Json& body) {
  const std::string value = body.dump();
  const RecordView view{"ledger.commands.schema-test", 0, 7, "sample-key", value, {}};
  RecordRead read = read_command_record(view);
  return {!read.refused.has_value(), read.refused ? read.refused->code : "", read.type};
}

// ---------------------------------------------------------------------------
// Sample bodies: at least one valid body per command type, with most of its
// optional fields, so that removing or replacing each of them is tried.

struct Sample {
  const char* type;
  const char* body;  // carries `type`: it selects the command on Kafka
};

const Sample kSamples[] = {
    {"policy_key.define", R"json({"type": "policy_key.define", "command_id": "cmd-key-1", "expected_version": 0,
      "key": "allocation.refund_window_days", "value_type": "int", "default": 30, "min": 0, "max": 365})json"},
    {"policy_key.define", R"json({"type": "policy_key.define", "key": "allocation.isolation_model",
      "value_type": "string", "default": "user-revoke", "enum": ["user-revoke", "project"],
      "description": "How users are isolated", "write_audience": "tenant"})json"},
    {"policy_value.set", R"json({"type": "policy_value.set", "command_id": "cmd-val-1", "expected_version": 3,
      "key": "allocation.refund_window_days", "scope": {"org_id": "org-acme"}, "value": 45,
      "effective_at": "2026-06-01T00:00:00Z", "reason": "Customer success request", "old_value": 30})json"},
    {"policy_value.set", R"json({"type": "policy_value.set", "key": "maas.enabled",
      "scope": {"user_id": "u-1", "org_id": "org-acme"}, "value": true, "reason": "beta"})json"},
    {"policy_value.set", R"json({"type": "policy_value.set", "key": "plan.tier_label", "scope": {"plan": "pro"},
      "value": "Pro", "reason": "rename"})json"},
    {"policy_value.set", R"json({"type": "policy_value.set", "key": "maas.enabled",
      "scope": {"level": "project", "id": "p-1"}, "value": false, "reason": "the ledger's scope shape"})json"},
    {"registry.register", R"json({"type": "registry.register", "kind": "quota_dimension", "entry_id": "gpu_hours",
      "description": "GPU hours", "attributes": {"product": "compute", "unit": "hours"}})json"},
    {"organization.create", R"json({"type": "organization.create", "command_id": "cmd-org-1",
      "organization_id": "org-acme", "plan_id": "pro", "name": "Acme",
      "default_department_id": "org-acme.default"})json"},
    {"organization.change_plan", R"json({"type": "organization.change_plan", "organization_id": "org-acme",
      "plan_id": "enterprise"})json"},
    {"department.create", R"json({"type": "department.create", "department_id": "research",
      "organization_id": "org-acme", "parent_department_id": "org-acme.default", "name": "Research"})json"},
    {"department.move", R"json({"type": "department.move", "department_id": "research",
      "parent_department_id": "engineering"})json"},
    {"project.create", R"json({"type": "project.create", "project_id": "app-123", "organization_id": "org-acme",
      "department_id": "research", "name": "Checkout"})json"},
    {"project.move", R"json({"type": "project.move", "project_id": "app-123", "department_id": "engineering"})json"},
    {"principal.create", R"json({"type": "principal.create", "principal_id": "svc-1",
      "principal_type": "service_account", "project_id": "app-123", "name": "Billing",
      "expires_at": "2027-01-01T00:00:00Z"})json"},
    {"ceiling.set", R"json({"type": "ceiling.set", "command_id": "cmd-ceil-1",
      "scope": {"level": "organization", "id": "org-acme"}, "dimension": "gpu_hours", "window": "month",
      "region": "eu-west1", "sku_or_model": "a100", "quantity": 100, "unit": "hours", "reason": "Q3 budget"})json"},
    {"ceiling.set", R"json({"type": "ceiling.set", "scope": {"level": "global"}, "dimension": "gpu_hours",
      "quantity": 0, "reason": "none by default"})json"},
    {"ceiling.clear", R"json({"type": "ceiling.clear", "scope": {"level": "project", "id": "app-123"},
      "dimension": "gpu_hours", "window": "day", "region": "", "reason": "lifted"})json"},
    {"ceiling.delegate", R"json({"type": "ceiling.delegate", "scope": {"level": "organization", "id": "org-acme"},
      "dimension": "gpu_hours", "max_quantity": 50, "reason": "departments decide"})json"},
    {"ceiling.revoke_delegation", R"json({"type": "ceiling.revoke_delegation",
      "scope": {"level": "department", "id": "research"}, "dimension": "gpu_hours",
      "reason": "back to central"})json"},
    {"reservation.draft", R"json({"type": "reservation.draft", "reservation_id": "r1",
      "owner": {"level": "project", "id": "app-123"}, "kind": "gpu_nodes", "dimension": "gpu_hours",
      "region": "eu", "sku_or_model": "a100", "quantity": 8, "unit": "hours",
      "window_start": "2026-07-01T00:00:00Z", "window_end": "2026-07-02T00:00:00.5+02:00",
      "attributes": {"team": "ml"}, "reason": "training run"})json"},
    {"reservation.activate", R"json({"type": "reservation.activate", "reservation_id": "r1",
      "organization_id": "org-acme", "reason": "approved"})json"},
    {"reservation.suspend", R"json({"type": "reservation.suspend", "reservation_id": "r1",
      "organization_id": "org-acme", "reason": "paused"})json"},
    {"reservation.resume", R"json({"type": "reservation.resume", "reservation_id": "r1", "reason": "resumed"})json"},
    {"reservation.retire", R"json({"type": "reservation.retire", "reservation_id": "r1",
      "organization_id": "org-acme"})json"},
    {"reservation.expire", R"json({"type": "reservation.expire", "reservation_id": "r1",
      "organization_id": "org-acme", "reason": "window over"})json"},
    {"reservation.consume", R"json({"type": "reservation.consume", "reservation_id": "r1",
      "organization_id": "org-acme", "quantity": 2, "reason": "job 7"})json"},
    {"reservation.release", R"json({"type": "reservation.release", "reservation_id": "r1",
      "organization_id": "org-acme", "quantity": 1, "reason": "job 7 ended early"})json"},
    {"access.record_refusal", R"json({"type": "access.record_refusal", "actor_type": "user", "actor_id": "u-1",
      "actor_roles": ["viewer"], "principal_tenant": "org-acme", "target_tenant": "org-other",
      "route_family": "policy_values", "method": "GET", "target": "/v1/policy-values",
      "reason": "tenant_mismatch"})json"},
    {"token.revoke", R"json({"type": "token.revoke", "tenant": "org-acme", "principal_id": "acme-billing",
      "reason": "leaked"})json"},
    {"token.revoke", R"json({"type": "token.revoke", "tenant": "org-acme", "token_id": "jti-1",
      "reason": "leaked"})json"},
    {"application.register", R"json({"type": "application.register", "application_id": "app-123",
      "organization_id": "org-acme", "name": "Checkout"})json"},
    {"application.rename", R"json({"type": "application.rename", "application_id": "app-123",
      "name": "Checkout v2"})json"},
    {"application.retire", R"json({"type": "application.retire", "application_id": "app-123",
      "organization_id": "org-acme", "reason": "replaced"})json"},
    {"app_policy.attach", R"json({"type": "app_policy.attach", "application_id": "app-123",
      "organization_id": "org-acme", "policy_type": "rate_limit", "config": {"limit": 10, "window": "minute"},
      "enabled": true, "index": 0, "reason": "protect the API"})json"},
    {"app_policy.update", R"json({"type": "app_policy.update", "policy_id": "pol-1", "config": {"limit": 20},
      "enabled": false, "index": 1, "reason": "more room"})json"},
    {"app_policy.detach", R"json({"type": "app_policy.detach", "policy_id": "pol-1", "reason": "not needed"})json"},
    {"capability.define", R"json({"type": "capability.define", "tenant": "default", "name": "advanced-export",
      "description": "Exports in every format", "id": "cap-export"})json"},
    {"capability.deprecate", R"json({"type": "capability.deprecate", "tenant": "default",
      "capability_id": "cap-export", "reason": "superseded"})json"},
    {"capability.retire", R"json({"type": "capability.retire", "capability_id": "cap-export",
      "reason": "gone"})json"},
    {"plan.define", R"json({"type": "plan.define", "tenant": "default", "name": "pro", "displayName": "Pro",
      "description": "The pro plan"})json"},
    {"plan.update", R"json({"type": "plan.update", "plan_id": "pro", "displayName": "Pro+",
      "description": ""})json"},
    {"plan.archive", R"json({"type": "plan.archive", "tenant": "default", "plan_id": "pro",
      "reason": "retired"})json"},
    {"policy.create", R"json({"type": "policy.create", "tenant": "default", "capabilityId": "cap-export",
      "name": "Export for paying plans", "description": "Paying plans export",
      "rules": {"type": "plan-allowlist", "allowedPlans": ["pro", "enterprise"], "denyOverrides": ["trial"]},
      "changelog": "first", "id": "pol-export"})json"},
    {"policy.create_version", R"json({"type": "policy.create_version", "policy_id": "pol-export",
      "rules": {"type": "plan-allowlist", "allowedPlans": ["pro"]}, "changelog": "narrower"})json"},
    {"policy.activate", R"json({"type": "policy.activate", "tenant": "default", "policy_id": "pol-export",
      "version_id": "2", "environment": "production", "changelog": "go live",
      "shadow_report": {"signature": "sig", "policy_id": "pol-export", "version_id": "2",
        "environment": "production", "generated_at": "2026-06-01T12:00:00Z", "from": "2026-06-01T11:00:00Z",
        "to": "2026-06-01T12:00:00Z", "snapshot_version": 42, "considered": 10, "checked": 10,
        "allow_to_deny": 1, "deny_to_allow": 0, "changes": []}})json"},
    {"policy.archive_version", R"json({"type": "policy.archive_version", "policy_id": "pol-export",
      "version_id": "1", "reason": "old"})json"},
    {"entitlements.configure", R"json({"type": "entitlements.configure", "tenant": "default",
      "require_progression": true, "shadow_max_age_seconds": 3600})json"},
    {"config.global.set", R"json({"type": "config.global.set", "command_id": "cmd-cfg-1", "key": "feature_flags",
      "value": {"new_ui": true}, "reason": "launch", "is_public": true, "requires_restart": false})json"},
    {"config.service_type.set", R"json({"type": "config.service_type.set", "service_type": "cloud_run",
      "value": {"timeouts": {"request_seconds": 30}}, "reason": "slower backends"})json"},
    {"config.tenant_risk.set", R"json({"type": "config.tenant_risk.set", "tenant_id": "org-acme",
      "value": {"custom_threshold": 3}, "reason": "risk review"})json"},
    {"config.agent.set", R"json({"type": "config.agent.set", "tenant_id": "org-acme",
      "agent_type": "cost-optimizer", "value": {"mode": "dry-run"}, "reason": "trial"})json"},
    {"config.project.set", R"json({"type": "config.project.set", "tenant_id": "org-acme", "project_id": "app-123",
      "value": {"labels": ["a"]}, "reason": "labels"})json"},
    {"config.service.set", R"json({"type": "config.service.set", "tenant_id": "org-acme",
      "service_id": "checkout-api", "value": {"replicas": 3}, "reason": "scale"})json"},
    {"config.reload", R"json({"type": "config.reload", "reload_env": true, "dry_run": false,
      "invalidate": {"all": false, "tenant_ids": ["org-acme"]},
      "reinit": {"configuration_service": true, "dynamic_config_service": false}})json"},
    {"config.secrets.shred", R"json({"type": "config.secrets.shred", "tenant_id": "org-acme",
      "reason": "offboarded"})json"},
};

Json sample_body(const Sample& s) { return Json::parse(s.body); }

// What every field is replaced by in turn: each JSON type, the 64-bit
// bounds, and strings on both sides of every length limit the decoders use.
const std::vector<Json>& replacements() {
  static const std::vector<Json> values = [] {
    std::vector<Json> out = {nullptr,
                             true,
                             false,
                             0,
                             -1,
                             INT64_MAX,
                             INT64_MIN,
                             1.5,
                             "",
                             "x",
                             Json::array(),
                             Json::array({"x"}),
                             Json::object(),
                             Json{{"x", 1}}};
    for (std::size_t n : {16, 17, 32, 33, 64, 65, 128, 129, 255, 256, 257, 1024, 1025, 2048, 2049}) {
      out.emplace_back(std::string(n, 'a'));
      // The same lengths in characters of two, three and four bytes: a
      // schema's maxLength counts characters, and so must the decoders.
      // Up to 257 characters of all three widths, up to 1,025 of two bytes:
      // at most about 2,050 bytes, the longest string before, since the
      // schemas' `pattern` runs in libstdc++'s std::regex, which recurses
      // once per byte (a stack overflow under ASan at 6,000).
      if (n > 1025) continue;
      std::string wide;
      for (std::size_t i = 0; i < n; ++i) {
        wide += n > 257 || i % 3 == 0 ? "\u00e9" : i % 3 == 1 ? "\u4e2d" : "\U0001F600";
      }
      out.emplace_back(std::move(wide));
    }
    return out;
  }();
  return values;
}

struct Mutant {
  std::string what;
  Json body;
};

// Every mutant of `root` at and below `at`: each object member removed or
// replaced, each array element replaced, an unknown member added to each
// object. The top-level `type` is left alone (it selects the decoder).
void mutants_at(const Json& root, const std::string& at, std::vector<Mutant>& out) {
  const Json& here = root.at(Json::json_pointer(at));
  std::vector<std::string> children;
  if (here.is_object()) {
    Json added = root;
    added[Json::json_pointer(at + "/x_unknown_field")] = "x";
    out.push_back({"add " + at + "/x_unknown_field", std::move(added)});
    for (auto it = here.begin(); it != here.end(); ++it) {
      if (at.empty() && it.key() == "type") continue;
      Json removed = root;
      removed[Json::json_pointer(at)].erase(it.key());
      out.push_back({"remove " + at + "/" + it.key(), std::move(removed)});
      children.push_back(at + "/" + it.key());
    }
  } else if (here.is_array()) {
    for (std::size_t i = 0; i < here.size(); ++i) children.push_back(at + "/" + std::to_string(i));
  }
  for (const auto& path : children) {
    for (const auto& v : replacements()) {
      Json replaced = root;
      replaced[Json::json_pointer(path)] = v;
      out.push_back({"set " + path + " = " + v.dump().substr(0, 24), std::move(replaced)});
    }
    mutants_at(root, path, out);
  }
}

std::vector<Mutant> mutants_of(const Json& body) {
  std::vector<Mutant> out;
  mutants_at(body, "", out);
  return out;
}

// ---------------------------------------------------------------------------
// Files and their structure

TEST(CommandSchemas, EveryCommandTypeHasASchemaAndEverySchemaIsAKnownType) {
  std::set<std::string> files;
  for (const auto& entry : fs::directory_iterator(kSchemaDir)) files.insert(entry.path().filename().string());
  const std::set<std::string> shared = {"common.json", "command-result.json"};
  for (const auto& type : command_types()) EXPECT_TRUE(files.contains(type + ".json")) << "no schema for " << type;
  for (const auto& file : shared) EXPECT_TRUE(files.contains(file)) << file;
  for (const auto& file : files) {
    if (shared.contains(file)) continue;
    ASSERT_TRUE(file.ends_with(".json")) << file;
    const std::string type = file.substr(0, file.size() - 5);
    EXPECT_NE(std::find(std::begin(kCommandTypes), std::end(kCommandTypes), type), std::end(kCommandTypes))
        << file << " is the schema of no command type (kCommandTypes)";
  }
}

// Nothing that OpenAPI 3.1 (JSON Schema 2020-12) would read otherwise: no
// `dependencies`, no array-form `items`.
void expect_openapi_safe(const Json& j, const std::string& at) {
  if (j.is_object()) {
    EXPECT_FALSE(j.contains("dependencies")) << at;
    if (auto it = j.find("items"); it != j.end()) {
      EXPECT_FALSE(it->is_array()) << at << "/items is a tuple";
    }
    for (auto it = j.begin(); it != j.end(); ++it) expect_openapi_safe(*it, at + "/" + it.key());
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) expect_openapi_safe(j[i], at + "/" + std::to_string(i));
  }
}

// Each command schema stands alone but for references into common.json
// (rewritten mechanically when they are put into the OpenAPI document), and
// every shared definition is used.
TEST(CommandSchemas, EachSchemaIsSelfContainedButForCommonDefinitions) {
  const std::regex common_ref("^common\\.json#/definitions/[A-Za-z0-9_]+$");
  std::set<std::string> used;
  for (const auto& type : command_types()) {
    SCOPED_TRACE(type);
    const Json doc = read_json(kSchemaDir / (type + ".json"));
    ASSERT_FALSE(doc.is_discarded());
    EXPECT_EQ(doc.value("$schema", ""), "http://json-schema.org/draft-07/schema#");
    EXPECT_EQ(doc.value("$id", ""), std::string(kSchemaBase) + type + ".json");
    EXPECT_FALSE(doc.value("title", "").empty());
    const std::string description = doc.value("description", "");
    EXPECT_FALSE(description.empty());
    EXPECT_EQ(description.find('\n'), std::string::npos) << "a one-line description";
    EXPECT_EQ(doc.value("type", ""), "object");
    EXPECT_EQ(doc.value("additionalProperties", true), false) << "every decoder refuses unknown fields";
    EXPECT_FALSE(doc.contains("definitions")) << "shared shapes belong in common.json";
    ASSERT_TRUE(doc.contains("properties"));
    EXPECT_EQ(doc["properties"]["type"].value("const", ""), type);
    expect_openapi_safe(doc, type);
    for (const auto& [at, ref] : refs_of(doc)) {
      EXPECT_TRUE(std::regex_match(ref, common_ref)) << at << ": " << ref;
      EXPECT_EQ(unresolved(ref, kSchemaDir, doc), "") << at << ": " << ref;
      used.insert(ref.substr(ref.rfind('/') + 1));
    }
  }
  const Json common = read_json(kSchemaDir / "common.json");
  ASSERT_FALSE(common.is_discarded());
  EXPECT_EQ(common.value("$id", ""), std::string(kSchemaBase) + "common.json");
  expect_openapi_safe(common, "common.json");
  for (const std::string file : {"common.json", "command-result.json"}) {
    const Json doc = read_json(kSchemaDir / file);
    expect_openapi_safe(doc, file);
    for (const auto& [at, ref] : refs_of(doc)) {
      EXPECT_EQ(unresolved(ref, kSchemaDir, doc), "") << file << at << ": " << ref;
      used.insert(ref.substr(ref.rfind('/') + 1));
    }
  }
  // The error shape is the HTTP answers' (TheCommonErrorIsTheHttpErrorBody), for the OpenAPI document.
  used.insert("error");
  ASSERT_TRUE(common.contains("definitions"));
  for (const auto& [name, definition] : common["definitions"].items()) {
    EXPECT_TRUE(used.contains(name)) << "common.json#/definitions/" << name << " is used nowhere";
  }
}

// ---------------------------------------------------------------------------
// The command schemas against the decoder

TEST(CommandSchemas, EveryCommandTypeHasASample) {
  std::set<std::string> sampled;
  for (const auto& s : kSamples) sampled.insert(s.type);
  for (const auto& type : command_types()) EXPECT_TRUE(sampled.contains(type)) << "no sample body for " << type;
}

TEST(CommandSchemas, TheDecoderAndTheSchemaAcceptEverySample) {
  for (const auto& s : kSamples) {
    SCOPED_TRACE(s.body);
    const Json body = sample_body(s);
    ASSERT_EQ(body.value("type", ""), s.type);
    const Verdict kafka = decode_record(body);
    EXPECT_TRUE(kafka.accepted) << kafka.code;
    EXPECT_EQ(kafka.type, s.type);
    // Over HTTP the path names the type: the body decodes with or without `type`.
    Json untyped = body;
    untyped.erase("type");
    EXPECT_TRUE(decode_command(s.type, body).has_value());
    EXPECT_TRUE(decode_command(s.type, untyped).has_value());
    auto& schema = command_schema(s.type);
    EXPECT_EQ(schema.violation(body), std::nullopt);
    EXPECT_EQ(schema.violation(untyped), std::nullopt) << "`type` is optional in a body";
  }
}

TEST(CommandSchemas, RemovingARequiredFieldIsRefusedByBoth) {
  for (const auto& s : kSamples) {
    SCOPED_TRACE(s.body);
    const Json body = sample_body(s);
    const Json doc = read_json(kSchemaDir / (std::string(s.type) + ".json"));
    ASSERT_TRUE(doc.contains("required"));
    for (const auto& field : doc["required"]) {
      const std::string name = field.get<std::string>();
      ASSERT_TRUE(body.contains(name)) << "the sample lacks the required " << name;
      Json without = body;
      without.erase(name);
      EXPECT_FALSE(decode_record(without).accepted) << "the decoder takes a body without " << name;
      EXPECT_FALSE(command_schema(s.type).accepts(without)) << "the schema takes a body without " << name;
    }
  }
}

TEST(CommandSchemas, AnUnknownFieldIsRefusedByBoth) {
  for (const auto& s : kSamples) {
    SCOPED_TRACE(s.body);
    Json body = sample_body(s);
    body["x_unknown_field"] = "x";
    const Verdict v = decode_record(body);
    EXPECT_FALSE(v.accepted);
    EXPECT_EQ(v.code, "unknown_field");
    EXPECT_FALSE(command_schema(s.type).accepts(body));
  }
}

TEST(CommandSchemas, EveryFieldHasAWrongJsonTypeThatBothRefuse) {
  for (const auto& s : kSamples) {
    const Json body = sample_body(s);
    for (const auto& [name, value] : body.items()) {
      if (name == "type") continue;
      SCOPED_TRACE(std::string(s.type) + " /" + name);
      bool refused_by_both = false;
      for (const auto& v : replacements()) {
        if (v.type() == value.type()) continue;
        Json wrong = body;
        wrong[name] = v;
        refused_by_both = refused_by_both || (!decode_record(wrong).accepted && !command_schema(s.type).accepts(wrong));
      }
      EXPECT_TRUE(refused_by_both);
    }
  }
}

// The heart of it: for every mutant of every sample the decoder and the
// schema say the same.
TEST(CommandSchemas, TheSchemaAgreesWithTheDecoderOnEveryMutant) {
  std::size_t checked = 0, refused = 0;
  for (const auto& s : kSamples) {
    auto& schema = command_schema(s.type);
    for (const auto& m : mutants_of(sample_body(s))) {
      const Verdict decoded = decode_record(m.body);
      const auto violation = schema.violation(m.body);
      ++checked;
      if (!decoded.accepted) ++refused;
      EXPECT_EQ(decoded.accepted, !violation.has_value())
          << s.type << ": " << m.what << "\n  decoder: " << (decoded.accepted ? "accepts" : "refuses " + decoded.code)
          << "\n  schema:  " << violation.value_or("accepts");
    }
  }
  // Both verdicts occur plenty: the comparison is not vacuous.
  EXPECT_GT(checked, 5000u);
  EXPECT_GT(refused, checked / 4);
  EXPECT_LT(refused, checked * 3 / 4);
}

// Rules between fields, and shapes the generic mutants do not reach: the
// decoder's verdict is stated, and the schema agrees.
TEST(CommandSchemas, CrossFieldRulesAgree) {
  struct Case {
    const char* type;
    const char* body;
    bool accepted;
  };
  const Case cases[] = {
      // policy scopes: user_id or project_id (not both), org_id beside them, plan alone, {} or null: global
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r", "scope": {}})json", true},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r", "scope": null})json", true},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "scope": {"project_id": "p", "org_id": "o"}})json",
       true},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "scope": {"user_id": "u", "project_id": "p"}})json",
       false},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "scope": {"plan": "pro", "org_id": "o"}})json",
       false},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "scope": {"plan": "pro", "user_id": "u"}})json",
       false},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "scope": {"plan": "pro", "project_id": "p"}})json",
       false},
      // the ledger's {level, id}: no id at the global level, one everywhere else, no seed keys beside it
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r", "scope": {"level": "global"}})json", true},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "scope": {"level": "global", "id": "g"}})json",
       false},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "scope": {"level": "principal", "id": "u"}})json",
       true},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r", "scope": {"level": "plan"}})json", false},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "scope": {"level": "department", "id": "d"}})json",
       false},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "scope": {"level": "project", "id": "p", "org_id": "o"}})json",
       false},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r", "scope": {"id": "p"}})json", false},
      // instants: offsets, fractions, a space or a lower-case t and z; the ranges of each field
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "effective_at": "2026-06-01T00:00:00.123456789+05:30"})json",
       true},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "effective_at": "2026-06-01 23:59:60z"})json",
       true},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "effective_at": "2026-06-01t00:00:00-00:00"})json",
       true},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "effective_at": "2026-13-01T00:00:00Z"})json",
       false},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "effective_at": "2026-06-01T24:00:00Z"})json",
       false},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "effective_at": "2026-06-01T00:00:00.1234567890Z"})json",
       false},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "effective_at": "2026-06-01T00:00:00"})json",
       false},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "effective_at": "2026-06-01T00:00:00+2:00"})json",
       false},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r",
        "effective_at": "2026-06-01T00:00:00.Z"})json",
       false},
      // command ids: text without control characters (NUL is refused before, as nul_character)
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r", "command_id": "caf\u00e9-1"})json", true},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r", "command_id": "a\u0001b"})json", false},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r", "command_id": "a\u007fb"})json", false},
      {"policy_value.set", R"json({"key": "a.b", "value": 1, "reason": "r", "command_id": "a\nb"})json", false},
      {"policy_key.define", R"json({"key": "a.b", "value_type": "bool", "default": false,
        "write_audience": null})json",
       true},
      {"policy_key.define", R"json({"key": "a.b", "value_type": "bool", "default": false,
        "write_audience": ""})json",
       false},
      {"policy_key.define", R"json({"key": "a.b", "value_type": "bool", "default": false,
        "description": ""})json",
       false},
      {"policy_key.define", R"json({"key": "a.b", "value_type": "bool", "default": false, "enum": [""]})json", true},
      // admission scopes: the global scope has no id (or an empty one), every other level needs one
      {"ceiling.set", R"json({"scope": {"level": "global", "id": ""}, "dimension": "d", "quantity": 1,
        "reason": "r"})json",
       true},
      {"ceiling.set", R"json({"scope": {"level": "global", "id": "x"}, "dimension": "d", "quantity": 1,
        "reason": "r"})json",
       false},
      {"ceiling.set", R"json({"scope": {"level": "principal", "id": "p"}, "dimension": "d", "quantity": 1,
        "reason": "r"})json",
       true},
      {"ceiling.set", R"json({"scope": {"level": "plan"}, "dimension": "d", "quantity": 1, "reason": "r"})json", false},
      {"ceiling.set", R"json({"scope": {"level": "plan", "id": ""}, "dimension": "d", "quantity": 1,
        "reason": "r"})json",
       false},
      {"principal.create", R"json({"principal_id": "p", "principal_type": "user", "project_id": "x",
        "expires_at": ""})json",
       true},
      // token.revoke: the decoder takes both ids (the ledger then refuses)
      {"token.revoke", R"json({"tenant": "t", "principal_id": "p", "token_id": "j", "reason": "r"})json", true},
      // entitlement rules
      {"policy.create_version", R"json({"policy_id": "p", "changelog": "c",
        "rules": {"type": "plan-allowlist", "allowedPlans": []}})json",
       true},
      {"policy.create_version", R"json({"policy_id": "p", "changelog": "c",
        "rules": {"type": "plan-allowlist", "allowedPlans": ["a"], "denyOverrides": null}})json",
       true},
      {"policy.create_version", R"json({"policy_id": "p", "changelog": "c",
        "rules": {"type": "plan-allowlist", "allowedPlans": ["a b"]}})json",
       false},
      // configuration
      {"config.global.set", R"json({"key": "k", "value": 5, "reason": "r"})json", true},
      {"config.global.set", R"json({"key": "k", "value": 1, "reason": "r", "tenant_id": "t"})json", false},
      {"config.service_type.set", R"json({"service_type": "s", "value": {}, "reason": "r", "is_public": true})json",
       false},
      {"config.tenant_risk.set", R"json({"tenant_id": "org acme", "value": {}, "reason": "r"})json", false},
      {"config.reload", R"json({})json", true},
      {"config.reload", R"json({"reload_env": null})json", false},
      {"config.reload", R"json({"invalidate": {"tenant_ids": ["bad id"]}})json", false},
      {"config.reload", R"json({"reinit": {"other_service": true}})json", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.type) + " " + c.body);
    Json body = Json::parse(c.body);
    body["type"] = c.type;
    const Verdict v = decode_record(body);
    EXPECT_EQ(v.accepted, c.accepted) << v.code;
    EXPECT_EQ(command_schema(c.type).accepts(body), c.accepted);
  }
}

// Collections: at most 32 attributes (names of up to 64 bytes), 32 roles,
// 256 plans, 1,000 tenant ids.
TEST(CommandSchemas, CollectionLimitsAgree) {
  struct Limit {
    const char* type;
    const char* body;
    const char* field;
    std::size_t limit;
    Json item;  // an array's element, or the value of an object's members "0", "1", ...
    bool object;
  };
  const Limit limits[] = {
      {"registry.register", R"json({"kind": "product", "entry_id": "e"})json", "/attributes", 32, "v", true},
      {"access.record_refusal", R"json({"actor_type": "user", "actor_id": "u", "principal_tenant": "a",
        "target_tenant": "b", "route_family": "f", "method": "GET", "target": "/",
        "reason": "role_not_allowed"})json",
       "/actor_roles", 32, "viewer", false},
      {"policy.create_version", R"json({"policy_id": "p", "changelog": "c",
        "rules": {"type": "plan-allowlist"}})json",
       "/rules/allowedPlans", 256, "pro", false},
      {"config.reload", R"json({"invalidate": {}})json", "/invalidate/tenant_ids", 1000, "org-acme", false},
  };
  for (const auto& l : limits) {
    SCOPED_TRACE(std::string(l.type) + " " + l.field);
    for (std::size_t n : {l.limit, l.limit + 1}) {
      Json body = Json::parse(l.body);
      body["type"] = l.type;
      Json many = l.object ? Json::object() : Json::array();
      for (std::size_t i = 0; i < n; ++i) {
        if (l.object)
          many[std::to_string(i)] = l.item;
        else
          many.push_back(l.item);
      }
      body[Json::json_pointer(l.field)] = std::move(many);
      EXPECT_EQ(decode_record(body).accepted, n == l.limit) << n;
      EXPECT_EQ(command_schema(l.type).accepts(body), n == l.limit) << n;
    }
  }
  for (std::size_t n : {64, 65}) {
    const Json body = {{"type", "registry.register"},
                       {"kind", "product"},
                       {"entry_id", "e"},
                       {"attributes", {{std::string(n, 'k'), "v"}}}};
    EXPECT_EQ(decode_record(body).accepted, n == 64) << n;
    EXPECT_EQ(command_schema("registry.register").accepts(body), n == 64) << n;
  }
}

// How a Kafka record names its command: the `type` field of its body (no
// header), policy_value.set when there is none. Each schema pins `type`.
TEST(CommandSchemas, TheBodysTypeFieldSelectsTheCommandOnKafka) {
  for (const auto& s : kSamples) {
    SCOPED_TRACE(s.body);
    Json body = sample_body(s);
    auto& schema = command_schema(s.type);

    Json untyped = body;
    untyped.erase("type");
    EXPECT_EQ(decode_record(untyped).type, "policy_value.set");

    Json other = body;
    other["type"] = std::string(s.type) == "policy_value.set" ? "ceiling.set" : "policy_value.set";
    EXPECT_EQ(decode_record(other).type, other["type"].get<std::string>());
    EXPECT_FALSE(schema.accepts(other)) << "the schema takes a body of another type";

    for (const Json& bad : {Json("no.such_type"), Json(42), Json(nullptr)}) {
      body["type"] = bad;
      const Verdict v = decode_record(body);
      EXPECT_FALSE(v.accepted);
      EXPECT_EQ(v.code, "unknown_command_type");
      EXPECT_FALSE(schema.accepts(body)) << bad.dump();
    }
  }
}

// ---------------------------------------------------------------------------
// Results on ledger.command-results, and the HTTP error shape

TEST(CommandSchemas, TheResultSchemaAcceptsWhatTheEncoderWrites) {
  auto& schema = schema_file("command-result.json");
  Accepted applied;
  applied.command_id = "cmd-1";
  applied.event_ids = {"0192d3c4-0000-7000-8000-000000000001", "0192d3c4-0000-7000-8000-000000000002"};
  applied.position = events::GlobalPosition{42};
  applied.stream_version = events::StreamVersion{3};
  applied.decided_at_position = events::GlobalPosition{41};
  Accepted repeated;  // a duplicate that changed nothing, decided before positions were recorded
  repeated.command_id = "cmd-2";
  repeated.position = events::GlobalPosition{42};
  repeated.duplicate = true;
  for (const auto& a : {applied, repeated}) {
    const Json j = Json::parse(routes::accepted_json(a));
    EXPECT_EQ(schema.violation(j), std::nullopt) << j.dump();
  }
  EXPECT_TRUE(Json::parse(routes::accepted_json(repeated))["evidence"]["snapshot_version"].is_null());

  domain::Error rule{
      domain::ErrorKind::kFailedPrecondition, "parent_ceiling_exceeded", "over the parent's ceiling", {}};
  rule.with("failing_parent_scope", "organization:org-acme").with("rule_id", "r-1");
  domain::Error internal{domain::ErrorKind::kInternal, "internal", "the record could not be handled", {}};
  internal.with("detail", "never answered");
  domain::Error unreadable{domain::ErrorKind::kInvalidArgument, "malformed_json", "not valid JSON", {}};
  unreadable.with("record", "ledger.commands.billing-feed:0:17");
  const std::pair<std::string, domain::Error> rejected[] = {{"cmd-3", rule}, {"cmd-4", internal}, {"", unreadable}};
  for (const auto& [id, e] : rejected) {
    const Json j = Json::parse(routes::rejected_json(id, e));
    EXPECT_EQ(schema.violation(j), std::nullopt) << j.dump();
  }
  EXPECT_FALSE(Json::parse(routes::rejected_json("cmd-4", internal)).contains("evidence"));
}

TEST(CommandSchemas, TheResultSchemaRefusesWhatTheEncoderNeverWrites) {
  auto& schema = schema_file("command-result.json");
  Accepted a;
  a.command_id = "cmd-1";
  a.event_ids = {"e-1"};
  a.position = events::GlobalPosition{7};
  const Json accepted = Json::parse(routes::accepted_json(a));
  const Json rejected = Json::parse(
      routes::rejected_json("cmd-1", {domain::ErrorKind::kNotFound, "unknown_policy_key", "no such key", {}}));
  ASSERT_TRUE(schema.accepts(accepted));
  ASSERT_TRUE(schema.accepts(rejected));
  const std::vector<std::tuple<const Json*, std::string, Json>> broken = {
      {&accepted, "/status", "maybe"},
      {&accepted, "/position", "7"},
      {&accepted, "/event_ids", Json::array({1})},
      {&accepted, "/evidence/snapshot_kind", "guess"},
      {&accepted, "/code", "x"},
      {&rejected, "/status", "accepted"},
      {&rejected, "/code", "Not-Snake"},
      {&rejected, "/evidence", Json{{"n", Json::object()}}},
      {&rejected, "/position", 1},
      {&rejected, "/message", nullptr},
  };
  for (const auto& [base, pointer, value] : broken) {
    Json j = *base;
    j[Json::json_pointer(pointer)] = value;
    EXPECT_FALSE(schema.accepts(j)) << j.dump();
  }
  for (const char* field : {"status", "command_id", "event_ids", "position", "evidence"}) {
    Json j = accepted;
    j.erase(field);
    EXPECT_FALSE(schema.accepts(j)) << "accepted without " << field;
  }
  for (const char* field : {"status", "command_id", "code", "message"}) {
    Json j = rejected;
    j.erase(field);
    EXPECT_FALSE(schema.accepts(j)) << "rejected without " << field;
  }
}

// Every HTTP error answer is {code, message, evidence?, correlation_id?}.
TEST(CommandSchemas, TheCommonErrorIsTheHttpErrorBody) {
  auto schema = compile(Json{{"$schema", "http://json-schema.org/draft-07/schema#"},
                             {"$id", std::string(kSchemaBase) + "error.json"},
                             {"allOf", Json::array({Json{{"$ref", "common.json#/definitions/error"}}})}},
                        "error");
  ASSERT_TRUE(schema);
  domain::Error rule{domain::ErrorKind::kFailedPrecondition, "value_out_of_bounds", "above max", {}};
  rule.with("field", "value");
  domain::Error internal{domain::ErrorKind::kInternal, "internal", "failed", {}};
  internal.with("detail", "logged only");
  for (const auto& [e, correlation_id] : {std::pair{rule, std::string("corr-1")}, std::pair{internal, std::string()}}) {
    const Json body = Json::parse(routes::error_response(e, correlation_id).body);
    EXPECT_EQ(schema->violation(body), std::nullopt) << body.dump();
  }
  EXPECT_FALSE(schema->accepts(Json{{"code", "x"}}));
  EXPECT_FALSE(schema->accepts(Json{{"code", "x"}, {"message", "m"}, {"status", 400}}));
  EXPECT_FALSE(schema->accepts(Json{{"code", "x"}, {"message", "m"}, {"evidence", Json{{"n", 1.5}}}}));
  EXPECT_FALSE(schema->accepts(Json{{"code", "x"}, {"message", "m"}, {"evidence", Json{{"n", nullptr}}}}));
  EXPECT_TRUE(schema->accepts(Json{{"code", "x"}, {"message", "m"}, {"evidence", Json{{"n", 1}, {"b", true}}}}));
}

// ---------------------------------------------------------------------------
// AsyncAPI

TEST(CommandSchemas, AsyncApiNamesTheFourTopicFamilies) {
  const Json doc = read_json(kAsyncApi);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc.value("asyncapi", ""), "3.0.0");
  std::set<std::string> addresses;
  for (const auto& [name, channel] : doc.at("channels").items()) addresses.insert(channel.value("address", ""));
  EXPECT_EQ(addresses, (std::set<std::string>{"ledger.commands.{producer}", "ledger.command-results", "ledger.events",
                                              "ledger.commands-dlq"}));
  EXPECT_TRUE(doc["channels"]["commands"]["parameters"].contains("producer"));
  std::set<std::string> actions;
  for (const auto& [name, op] : doc.at("operations").items()) actions.insert(op.value("action", ""));
  EXPECT_EQ(actions, (std::set<std::string>{"send", "receive"}));
}

TEST(CommandSchemas, EveryAsyncApiReferenceResolves) {
  const Json doc = read_json(kAsyncApi);
  ASSERT_FALSE(doc.is_discarded());
  const Refs refs = refs_of(doc);
  EXPECT_GT(refs.size(), 100u);
  std::set<std::string> files;
  for (const auto& [at, ref] : refs) {
    EXPECT_EQ(unresolved(ref, kAsyncApi.parent_path(), doc), "") << at << ": " << ref;
    if (!ref.starts_with("#")) files.insert(ref.substr(0, ref.find('#')));
  }
  // Every command, the result, the envelope, and each event type and version of tests/golden/.
  for (const auto& type : command_types()) {
    EXPECT_TRUE(files.contains("../../commands/schemas/" + type + ".json")) << type;
  }
  EXPECT_TRUE(files.contains("../../commands/schemas/command-result.json"));
  EXPECT_TRUE(files.contains("../../events/schemas/envelope.json"));
  std::size_t events = 0;
  const std::regex golden("[A-Za-z]+\\.v[0-9]+\\.json");
  for (const auto& entry : fs::directory_iterator(kSource / "tests" / "golden")) {
    const std::string name = entry.path().filename().string();
    if (!std::regex_match(name, golden)) continue;
    ++events;
    EXPECT_TRUE(files.contains("../../events/schemas/" + name)) << name;
  }
  EXPECT_GT(events, 40u);
}

// Payloads are draft-07 schemas; record keys and headers are named as the
// code writes them.
TEST(CommandSchemas, AsyncApiMessagesCarryTheRecordsKeysAndHeaders) {
  const Json doc = read_json(kAsyncApi);
  ASSERT_FALSE(doc.is_discarded());
  const Json& messages = doc.at("components").at("messages");
  const Json& traits = doc.at("components").at("messageTraits");
  for (const auto& [name, message] : messages.items()) {
    EXPECT_EQ(message.at("payload").value("schemaFormat", ""), "application/schema+json;version=draft-07") << name;
    // A key in its Kafka binding, its own or a trait's.
    bool keyed = message.contains("bindings") && message["bindings"]["kafka"].contains("key");
    for (const auto& t : message.value("traits", Json::array())) {
      const std::string ref = t.value("$ref", "");
      const Json& trait = traits.at(ref.substr(ref.rfind('/') + 1));
      keyed = keyed || (trait.contains("bindings") && trait["bindings"]["kafka"].contains("key"));
    }
    EXPECT_TRUE(keyed) << name << " names no record key";
  }
  const Json& schemas = doc.at("components").at("schemas");
  const auto has = [&](const char* schema, std::string_view header) {
    return schemas.at(schema).at("properties").contains(std::string(header));
  };
  EXPECT_TRUE(has("commandHeaders", kCorrelationHeader));
  EXPECT_TRUE(has("commandHeaders", "authorization"));
  for (const char* h : {"content-type", "command_id", "correlation_id"}) EXPECT_TRUE(has("resultHeaders", h)) << h;
  for (const char* h : {"event_id", "global_position", "event_type", "content-type", "schema-version"}) {
    EXPECT_TRUE(has("eventHeaders", h)) << h;
  }
  for (const auto h : {routes::kDeadLetterReasonHeader, routes::kDeadLetterSourceHeader}) {
    EXPECT_TRUE(has("deadLetterHeaders", h)) << h;
    EXPECT_TRUE(has("deadLetterRedactedHeaders", h)) << h;
  }
  EXPECT_TRUE(has("deadLetterRedactedHeaders", routes::kDeadLetterRedactedHeader));
}

}  // namespace
}  // namespace ledger::commands

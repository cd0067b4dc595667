// ledger-admin: operator tasks.
//   ledger-admin migrate          event store + read-model schema + per-service
//                                 roles and grants (superuser URL); with
//                                 --pg-secrets-file, each service role's
//                                 password from that file
//   ledger-admin topics           create the Kafka topics
//   ledger-admin load-catalog     define every policy key of a catalog file
//                                 through the command API (never SQL)
//   ledger-admin diff A B         compare two read-model schemas row by row
//   ledger-admin mint-token       sign a JWT with a key from a key file
//   ledger-admin hash-token       print a token file entry (token_sha256,
//                                 expires_at) for a static token read from stdin
//   ledger-admin add-producer     a Kafka command producer: its topic, its
//                                 Write ACL and its ledger principal
//   ledger-admin prune-decision-log --before T
//                                 delete the decision log's records answered
//                                 before T (superuser URL), in batches;
//                                 --dry-run counts them
//
// Exit codes, as ledger-audit: 0 done, 1 a finding (`diff`: rows differ),
// 2 bad input or a step that failed (the error is printed). With --json,
// standard output is one JSON object: {"ok": true, ...the result} or
// {"ok": false, "error": {code, message, evidence?}}.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "adapters/http/client.h"
#include "adapters/identity/identity.h"
#include "adapters/identity/jwt.h"
#include "adapters/identity/kafka_producers.h"
#include "adapters/postgres/admin.h"
#include "adapters/postgres/decision_log_store.h"
#include "adapters/postgres/read_model_store.h"
#include "adapters/projector/projector.h"
#include "domain/error_json.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"
#include "services/common/process.h"

namespace {

constexpr int kOk = 0;
constexpr int kFinding = 1;
constexpr int kBadInput = 2;

// What a subcommand answers: a human line, or with --json one object.
class Report {
 public:
  explicit Report(const bool& json) : json_(json) {}

  // The subcommand did its job: `human` on stdout (if any), or the result.
  int done(nlohmann::json result, const std::string& human, int code = kOk) const {
    if (json_) {
      result["ok"] = code == kOk;
      std::cout << result.dump() << '\n';
    } else if (!human.empty()) {
      std::cout << human << '\n';
    }
    return code;
  }
  // It could not: logged, and with --json the error object on stdout.
  int fail(const std::string& code, const std::string& message,
           const ledger::domain::Error& evidence = {}) const {  // only its evidence
    spdlog::error("{}", message);
    for (const auto& [k, v] : evidence.evidence) spdlog::error("  {}: {}", k, ledger::domain::evidence_text(v));
    if (json_) {
      nlohmann::json err = {{"code", code}, {"message", message}};
      if (!evidence.evidence.empty()) err["evidence"] = ledger::domain::evidence_json(evidence);
      std::cout << nlohmann::json{{"ok", false}, {"error", err}}.dump() << '\n';
    }
    return kBadInput;
  }
  int fail(const ledger::domain::Error& e, const std::string& context) const {
    return fail(e.code, context + ": " + e.message, e);
  }

 private:
  const bool& json_;
};

}  // namespace

// NOLINTNEXTLINE(bugprone-exception-escape): what escapes is a bug; std::terminate reports it (as in every main)
int main(int argc, char** argv) {
  using namespace ledger;
  CLI::App app{"Policy Ledger administration"};
  services::add_version_flag(app);
  app.require_subcommand(1);
  app.fallthrough();
  services::Settings settings;
  services::add_common_flags(app, settings);
  bool json = false;
  app.add_flag("--json", json, "print one JSON object with the result (or the error) on stdout");
  const Report report(json);

  auto* migrate = app.add_subcommand("migrate", "create or update the event store and read-model schema");
  std::string secrets_file;
  migrate
      ->add_option("--pg-secrets-file", secrets_file,
                   "libpq password file (host:port:db:user:password) whose passwords the service roles get")
      ->envname("LEDGER_PG_SECRETS_FILE");
  auto* topics = app.add_subcommand("topics", "create the Kafka topics");

  auto* load = app.add_subcommand("load-catalog", "define the policy keys of a catalog through the command API");
  std::string command_url_host = "127.0.0.1";
  std::uint16_t command_port = 8081;
  std::string token;
  std::string catalog = "config/policy-keys.json";
  load->add_option("--command-host", command_url_host)->envname("LEDGER_COMMAND_HOST")->capture_default_str();
  load->add_option("--command-port", command_port)->envname("LEDGER_COMMAND_PORT")->capture_default_str();
  load->add_option("--token", token, "bearer token of a platform admin")->envname("LEDGER_ADMIN_TOKEN")->required();
  load->add_option("--catalog", catalog, "catalog file")->capture_default_str();

  auto* diff = app.add_subcommand("diff", "compare two read-model schemas row by row; exit 1 on any difference");
  std::string schema_a, schema_b;
  diff->add_option("schema_a", schema_a)->required();
  diff->add_option("schema_b", schema_b)->required();

  auto* mint = app.add_subcommand("mint-token", "print a signed bearer token (JWT) for an actor");
  std::string mint_key_file, mint_kid, mint_sub, mint_actor_type, mint_org, mint_issuer, mint_audience;
  std::vector<std::string> mint_roles;
  std::int64_t mint_ttl = 900;
  mint->add_option("--key-file", mint_key_file, "JSON with the signing key: a token file, {\"keys\": [...]} or one key")
      ->required();
  mint->add_option("--kid", mint_kid, "the key id to sign with")->required();
  mint->add_option("--sub", mint_sub, "actor id")->required();
  mint->add_option("--actor-type", mint_actor_type)
      ->required()
      ->check(CLI::IsMember({"user", "service_account", "api_key", "worker"}));
  mint->add_option("--roles", mint_roles, "comma-separated roles")->delimiter(',');
  mint->add_option("--org", mint_org, "tenant: an organization id or 'platform'")->required();
  mint->add_option("--ttl-seconds", mint_ttl, "lifetime (at most the key file's maximum for the actor type)")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, identity::kMaxConfigurableTokenLifetimeSeconds));
  mint->add_option("--issuer", mint_issuer, "default: the key file's jwt.issuer, else policy-ledger");
  mint->add_option("--audience", mint_audience, "default: the key file's jwt.audience, else policy-ledger");

  auto* hash =
      app.add_subcommand("hash-token",
                         "print a token file entry for a static token: its SHA-256 and expiry (the token is read from "
                         "the first line of stdin, so it stays out of the shell history)");
  std::string hash_expires_at, hash_tenant, hash_actor_type, hash_actor_id;
  std::vector<std::string> hash_roles;
  hash->add_option("--expires-at", hash_expires_at, "RFC 3339 time after which the token is refused")->required();
  hash->add_option("--tenant", hash_tenant, "an organization id or 'platform'")->required();
  hash->add_option("--actor-type", hash_actor_type)->required();
  hash->add_option("--actor-id", hash_actor_id)->required();
  hash->add_option("--roles", hash_roles, "comma-separated roles")->delimiter(',');
  auto* add_producer =
      app.add_subcommand("add-producer",
                         "let Kafka principal NAME publish commands on <commands-topic>.NAME as a ledger principal "
                         "(its SCRAM user first: scripts/infra.sh kafka-add-user NAME)");
  std::string producer_name, producer_tenant, producer_actor_type = "service_account", producer_id;
  std::vector<std::string> producer_roles;
  add_producer->add_option("--name", producer_name, "the producer's Kafka principal ([a-z0-9_-])")->required();
  add_producer->add_option("--tenant", producer_tenant, "tenant its commands act for: an organization id or 'platform'")
      ->required();
  add_producer->add_option("--actor-type", producer_actor_type)
      ->check(CLI::IsMember({"user", "service_account", "api_key", "worker"}))
      ->capture_default_str();
  add_producer->add_option("--id", producer_id, "actor id stamped on its events")->required();
  add_producer->add_option("--roles", producer_roles, "comma-separated roles")->delimiter(',')->required();

  auto* prune = app.add_subcommand(
      "prune-decision-log", "delete the decision log's records answered before an instant (retention), in batches");
  std::string prune_before;
  std::size_t prune_batch = 10000;
  bool prune_dry_run = false;
  prune->add_option("--before", prune_before, "RFC 3339 instant, not in the future: records answered before it go")
      ->required();
  prune->add_option("--batch", prune_batch, "rows per transaction")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}))
      ->capture_default_str();
  prune->add_flag("--dry-run", prune_dry_run, "count what would be deleted; delete nothing");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a ParseError with status 0; usage errors are bad input.
    return app.exit(e) == 0 ? kOk : kBadInput;
  }
  // With --json, standard output holds the one result object only.
  services::setup_logging("ledger-admin", settings.log_level, /*to_stderr=*/json);

  if (*migrate) {
    if (auto ok = adapters::postgres::migrate(settings.pg_admin_url, settings.read_model_schema); !ok) {
      return report.fail(ok.error(), "migration failed");
    }
    spdlog::info(
        "schema ready (read models in '{}'; roles ledger_command, ledger_relay, ledger_projector, "
        "ledger_query, ledger_auditor)",
        settings.read_model_schema);
    nlohmann::json result = {{"read_model_schema", settings.read_model_schema}, {"passwords_set", 0}};
    if (!secrets_file.empty()) {
      auto all = adapters::postgres::read_password_file(secrets_file);
      if (!all) return report.fail(all.error(), secrets_file);
      // Only the migration's service roles: never the superuser.
      std::map<std::string, std::string> passwords;
      for (const char* role :
           {"ledger_command", "ledger_relay", "ledger_projector", "ledger_query", "ledger_auditor", "ledger_app"}) {
        if (auto it = all->find(role); it != all->end()) passwords.emplace(role, it->second);
      }
      if (auto ok = adapters::postgres::set_role_passwords(settings.pg_admin_url, passwords); !ok) {
        return report.fail(ok.error(), "setting the role passwords failed");
      }
      spdlog::info("passwords set for {} service roles from {}", passwords.size(), secrets_file);
      result["passwords_set"] = passwords.size();
    }
    return report.done(result, "");
  }
  if (*topics) {
    if (auto ok = services::ensure_ledger_topics(settings); !ok) return report.fail(ok.error(), "topics failed");
    spdlog::info("topics ready");
    return report.done({{"events_topic", settings.events_topic}}, "");
  }
  if (*add_producer) {
    if (!adapters::identity::valid_producer_name(producer_name)) {
      return report.fail("invalid_producer_name", "--name must be 1-100 of [a-z0-9_-]");
    }
    nlohmann::json document = nullptr;
    if (std::ifstream in(settings.kafka_producers_file); in) {
      document = nlohmann::json::parse(in, nullptr, false);
      if (document.is_discarded()) {
        return report.fail("producers_file_malformed", settings.kafka_producers_file + " is not JSON");
      }
    }
    commands::Principal mapped;
    mapped.tenant = producer_tenant;
    mapped.actor = {.type = producer_actor_type, .id = producer_id, .roles = producer_roles};
    adapters::identity::upsert_producer(document, producer_name, mapped);
    // What the command service would refuse to load (a blank tenant or id,
    // a control character) is refused here, before any topic, ACL or file
    // is touched: the file only ever holds what it accepts.
    if (auto ok = adapters::identity::KafkaProducers::from_json(document); !ok) {
      return report.fail(ok.error(), "producer " + producer_name);
    }
    auto security = services::kafka_security(settings);
    if (!security) return report.fail(security.error(), "kafka");
    const std::string topic = adapters::identity::producer_topic(settings.commands_topic, producer_name);
    if (auto ok = adapters::kafka::ensure_topics(settings.kafka_brokers, {{topic, 3, {}}}, std::chrono::seconds(30),
                                                 *security);
        !ok) {
      return report.fail(ok.error(), "topic " + topic);
    }
    using Rule = adapters::kafka::AclRule;
    const std::string principal = "User:" + producer_name;
    if (auto ok = adapters::kafka::create_acls(settings.kafka_brokers, *security,
                                               {Rule{.resource = Rule::Resource::kTopic,
                                                     .name = topic,
                                                     .principal = principal,
                                                     .operation = Rule::Operation::kWrite},
                                                Rule{.resource = Rule::Resource::kTopic,
                                                     .name = topic,
                                                     .principal = principal,
                                                     .operation = Rule::Operation::kDescribe}},
                                               std::chrono::seconds(30));
        !ok) {
      return report.fail(ok.error(), "ACLs for " + producer_name);
    }
    const std::string tmp = settings.kafka_producers_file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << document.dump(2) << '\n';
      if (!out) return report.fail("unwritable_file", "cannot write " + tmp);
    }
    std::filesystem::rename(tmp, settings.kafka_producers_file);
    spdlog::info("producer {} may write {} and acts as {}/{} (tenant {}); recorded in {}", producer_name, topic,
                 producer_actor_type, producer_id, producer_tenant, settings.kafka_producers_file);
    return report.done({{"producer", producer_name},
                        {"topic", topic},
                        {"tenant", producer_tenant},
                        {"actor", {{"type", producer_actor_type}, {"id", producer_id}, {"roles", producer_roles}}},
                        {"producers_file", settings.kafka_producers_file}},
                       "");
  }
  if (*load) {
    std::ifstream in(catalog);
    auto doc = nlohmann::json::parse(in, nullptr, false);
    if (!in || doc.is_discarded() || !doc.contains("keys") || !doc["keys"].is_array()) {
      return report.fail("invalid_catalog", catalog + " is not a catalog file");
    }
    adapters::http::HttpClient client(command_url_host, command_port);
    int defined = 0;
    for (auto key : doc["keys"]) {
      // A stable command id per key definition makes loading idempotent; it
      // names the definition's content, so a changed definition is a new
      // command (a no-op if the ledger already holds it, else
      // policy_key_conflict), never a reuse of the old id with another body
      // (idempotency_key_reused).
      key.erase("command_id");
      key["command_id"] =
          "catalog:" + key.value("key", std::string()) + ":" + codec::sha256_hex(key.dump()).substr(0, 16);
      auto r = client.request("POST", "/v1/policy-keys", key.dump(),
                              {{"authorization", "Bearer " + token}, {"content-type", "application/json"}});
      const std::string name = key.value("key", std::string("?"));
      if (!r) return report.fail(r.error(), "defining " + name + " failed");
      if (r->status != 200) {
        const auto answer = nlohmann::json::parse(r->body, nullptr, false);
        const std::string code = answer.is_object() ? answer.value("code", "refused") : "refused";
        ledger::domain::Error evidence;
        evidence.with("key", name).with("status", r->status);
        return report.fail(code, "defining " + name + " failed: " + r->body.substr(0, 500), evidence);
      }
      ++defined;
    }
    return report.done({{"defined", defined}, {"catalog", catalog}},
                       "catalog loaded: " + std::to_string(defined) + " keys");
  }
  if (*mint) {
    std::ifstream in(mint_key_file);
    const auto file = nlohmann::json::parse(in, nullptr, false);
    if (!in || file.is_discarded()) return report.fail("invalid_key_file", mint_key_file + " is not a JSON file");
    auto key = identity::JwtKey::from_key_file(file, mint_kid);
    if (!key) return report.fail(key.error(), mint_key_file);
    // A token file's own verifier settings say what the services will accept.
    identity::JwtPolicy policy{"policy-ledger", "policy-ledger"};
    if (file.contains("jwt")) {
      auto verifier = identity::JwtVerifier::from_json(file["jwt"]);
      if (!verifier) return report.fail(verifier.error(), mint_key_file);
      policy = verifier->policy();
    }
    if (const auto max = policy.max_lifetime_seconds(mint_actor_type); max && mint_ttl > *max) {
      return report.fail("token_lifetime_too_long",
                         mint_actor_type + " tokens live at most " + std::to_string(*max) + " seconds");
    }
    auto token_id = identity::new_token_id();
    if (!token_id) return report.fail(token_id.error(), "token id");
    identity::JwtClaims claims;
    claims.issuer = !mint_issuer.empty() ? mint_issuer : policy.issuer;
    claims.audience = {!mint_audience.empty() ? mint_audience : policy.audience};
    claims.subject = mint_sub;
    claims.actor_type = mint_actor_type;
    for (auto& r : mint_roles) {
      if (!r.empty()) claims.roles.push_back(std::move(r));  // `--roles ""`: none
    }
    claims.organization = mint_org;
    claims.token_id = *token_id;
    claims.issued_at =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    claims.expires_at = claims.issued_at + mint_ttl;
    auto token = identity::mint_jwt(*key, claims);
    if (!token) return report.fail(token.error(), "minting");
    return report.done({{"token", *token}, {"token_id", claims.token_id}, {"expires_at", claims.expires_at}}, *token);
  }
  if (*prune) {
    const auto before = codec::parse_instant(prune_before);
    if (!before) {
      return report.fail("invalid_parameter", "--before must be an RFC 3339 time, e.g. 2026-06-01T00:00:00Z");
    }
    const auto now =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    if (before->micros > now) {
      // Everything, and the records still arriving: not retention.
      return report.fail("invalid_parameter", "--before is in the future");
    }
    const std::string instant = codec::format_instant(*before);
    auto rows = adapters::postgres::prune_decision_log(settings.pg_admin_url, instant, prune_batch, prune_dry_run);
    if (!rows) return report.fail(rows.error(), "pruning the decision log failed");
    const std::string verb = prune_dry_run ? "would delete " : "deleted ";
    return report.done({{prune_dry_run ? "would_delete" : "deleted", *rows}, {"before", instant}},
                       verb + std::to_string(*rows) + " decision record(s) answered before " + instant);
  }
  if (*hash) {
    const auto expires_at = codec::parse_instant(hash_expires_at);
    if (!expires_at) {
      return report.fail("invalid_parameter", "--expires-at must be an RFC 3339 time, e.g. 2027-06-01T00:00:00Z");
    }
    std::string token;
    std::getline(std::cin, token);
    if (!token.empty() && token.back() == '\r') token.pop_back();
    if (token.size() < 16 || std::count(token.begin(), token.end(), '.') == 2) {
      return report.fail("invalid_token",
                         "the token on stdin must have at least 16 characters and not look like a JWT");
    }
    auto entry = identity::static_token_entry(token, *expires_at);
    entry["tenant"] = hash_tenant;
    nlohmann::json roles = nlohmann::json::array();
    for (const auto& r : hash_roles) {
      if (!r.empty()) roles.push_back(r);
    }
    entry["actor"] = {{"type", hash_actor_type}, {"id", hash_actor_id}, {"roles", roles}};
    // Checked like the services will: the entry must load outside dev.
    if (auto ok = identity::TokenAuthenticator::from_json({{"tokens", {entry}}}, {.development = false}); !ok) {
      return report.fail(ok.error(), "token entry");
    }
    return report.done({{"entry", entry}}, entry.dump());
  }
  if (*diff) {
    int differences = 0;
    nlohmann::json rows_json = nlohmann::json::array();
    std::vector<std::string> tables = {"checkpoints"};
    for (const auto& model : projector::read_models()) {
      for (auto t : model.tables) tables.emplace_back(t);
    }
    for (const auto& table : tables) {
      auto rows = adapters::postgres::diff_tables(settings.pg_url, schema_a, schema_b, table, 100);
      if (!rows) return report.fail(rows.error(), "diff failed");
      for (const auto& row : *rows) {
        if (!json) std::printf("%s: %s\n", table.c_str(), row.c_str());
        rows_json.push_back({{"table", table}, {"row", row}});
      }
      differences += static_cast<int>(rows->size());
    }
    return report.done({{"differing_rows", differences}, {"rows", std::move(rows_json)}},
                       std::to_string(differences) + " differing rows", differences == 0 ? kOk : kFinding);
  }
  return kBadInput;
}

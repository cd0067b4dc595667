// ledger-admin: operator tasks.
//   ledger-admin migrate          event store + read-model schema + per-service
//                                 roles and grants (superuser URL)
//   ledger-admin topics           create the Kafka topics
//   ledger-admin load-catalog     define every policy key of a catalog file
//                                 through the command API (never SQL)
//   ledger-admin diff A B         compare two read-model schemas row by row
//   ledger-admin mint-token       sign a JWT with a key from a key file
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "adapters/http/client.h"
#include "adapters/postgres/read_model_store.h"
#include "commands/jwt.h"
#include "events/codec/json_codec.h"
#include "services/components/process.h"
#include "services/components/projector.h"

int main(int argc, char** argv) {
  using namespace ledger;
  CLI::App app{"Policy Ledger administration"};
  app.require_subcommand(1);
  services::Settings settings;
  services::add_common_flags(app, settings);

  auto* migrate = app.add_subcommand("migrate", "create or update the event store and read-model schema");
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
  mint->add_option("--actor-type", mint_actor_type)->required()->check(
      CLI::IsMember({"user", "service_account", "api_key", "worker"}));
  mint->add_option("--roles", mint_roles, "comma-separated roles")->delimiter(',');
  mint->add_option("--org", mint_org, "tenant: an organization id or 'platform'")->required();
  mint->add_option("--ttl-seconds", mint_ttl, "lifetime")->capture_default_str()->check(CLI::Range(1, 31 * 86400));
  mint->add_option("--issuer", mint_issuer, "default: the key file's jwt.issuer, else policy-ledger");
  mint->add_option("--audience", mint_audience, "default: the key file's jwt.audience, else policy-ledger");

  CLI11_PARSE(app, argc, argv);
  services::setup_logging("ledger-admin", settings.log_level);

  if (*migrate) {
    if (auto ok = adapters::postgres::migrate(settings.pg_admin_url, settings.read_model_schema); !ok) {
      spdlog::error("migration failed: {}", ok.error().message);
      for (const auto& [k, v] : ok.error().evidence) spdlog::error("  {}: {}", k, v);
      return 1;
    }
    spdlog::info("schema ready (read models in '{}'; roles ledger_command, ledger_relay, ledger_projector, "
                 "ledger_query, ledger_auditor)",
                 settings.read_model_schema);
    return 0;
  }
  if (*topics) {
    if (auto ok = services::ensure_ledger_topics(settings); !ok) {
      spdlog::error("topics failed: {}", ok.error().message);
      return 1;
    }
    spdlog::info("topics ready");
    return 0;
  }
  if (*load) {
    std::ifstream in(catalog);
    auto doc = nlohmann::json::parse(in, nullptr, false);
    if (!in || doc.is_discarded() || !doc.contains("keys") || !doc["keys"].is_array()) {
      spdlog::error("{} is not a catalog file", catalog);
      return 2;
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
      key["command_id"] = "catalog:" + key.value("key", std::string()) + ":" + codec::sha256_hex(key.dump()).substr(0, 16);
      auto r = client.request("POST", "/api/v1/admin/policy-keys", key.dump(),
                              {{"authorization", "Bearer " + token}, {"content-type", "application/json"}});
      if (!r || r->status != 200) {
        spdlog::error("defining {} failed: {}", key.value("key", std::string("?")), r ? r->body : r.error().message);
        return 1;
      }
      ++defined;
    }
    std::printf("catalog loaded: %d keys\n", defined);
    return 0;
  }
  if (*mint) {
    std::ifstream in(mint_key_file);
    const auto file = nlohmann::json::parse(in, nullptr, false);
    if (!in || file.is_discarded()) {
      spdlog::error("{} is not a JSON file", mint_key_file);
      return 2;
    }
    auto key = commands::JwtKey::from_key_file(file, mint_kid);
    if (!key) {
      spdlog::error("{}", key.error().message);
      return 2;
    }
    // A token file's own verifier settings say what the services will accept.
    commands::JwtPolicy policy{"policy-ledger", "policy-ledger"};
    if (file.contains("jwt")) {
      auto verifier = commands::JwtVerifier::from_json(file["jwt"]);
      if (!verifier) {
        spdlog::error("{}", verifier.error().message);
        return 2;
      }
      policy = verifier->policy();
    }
    if (mint_actor_type == "service_account" && mint_ttl > policy.service_account_token_ttl_seconds) {
      spdlog::error("service-account tokens live at most {} seconds", policy.service_account_token_ttl_seconds);
      return 2;
    }
    auto token_id = commands::new_token_id();
    if (!token_id) {
      spdlog::error("{}", token_id.error().message);
      return 1;
    }
    commands::JwtClaims claims;
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
    auto token = commands::mint_jwt(*key, claims);
    if (!token) {
      spdlog::error("{}", token.error().message);
      return 2;
    }
    std::printf("%s\n", token->c_str());
    return 0;
  }
  if (*diff) {
    int differences = 0;
    std::vector<std::string> tables = {"checkpoints"};
    for (const auto& model : services::read_models()) {
      for (auto t : model.tables) tables.emplace_back(t);
    }
    for (const auto& table : tables) {
      auto rows = adapters::postgres::diff_tables(settings.pg_url, schema_a, schema_b, table, 100);
      if (!rows) {
        spdlog::error("diff failed: {}", rows.error().message);
        return 2;
      }
      for (const auto& row : *rows) std::printf("%s: %s\n", table.c_str(), row.c_str());
      differences += static_cast<int>(rows->size());
    }
    std::printf("%d differing rows\n", differences);
    return differences == 0 ? 0 : 1;
  }
  return 0;
}

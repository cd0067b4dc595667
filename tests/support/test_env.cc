#include "tests/support/test_env.h"

#include <unistd.h>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <utility>

#include "adapters/postgres/admin.h"
#include "adapters/postgres/read_model_store.h"

namespace ledger::testing {
namespace {

std::string required_env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) {
    throw std::runtime_error(std::string(name) + " is not set: run the tests through ./ledgerctl test");
  }
  return v;
}

// The role passwords scripts/infra.sh generated (LEDGER_PG_SECRETS_FILE, a
// libpq password file); none when the variable is unset (servers without
// passwords).
std::optional<std::string> role_password(const std::string& role) {
  static const std::map<std::string, std::string> passwords = [] {
    const char* path = std::getenv("LEDGER_PG_SECRETS_FILE");
    if (!path || !*path) return std::map<std::string, std::string>{};
    auto read = adapters::postgres::read_password_file(path);
    if (!read) throw std::runtime_error(read.error().message);
    return *read;
  }();
  auto it = passwords.find(role);
  if (it == passwords.end()) return std::nullopt;
  return it->second;
}

std::string with_database(const std::string& url, const std::string& db) {
  const auto slash = url.rfind('/');
  return url.substr(0, slash + 1) + db;
}

// `url` with `user` (and its password, when the password file of the
// servers names one) in place of its own credentials.
std::string with_user(const std::string& url, const std::string& user) {
  const auto scheme = url.find("://");
  const auto at = url.find('@');
  std::string credentials = user;
  if (auto password = role_password(user)) credentials += ":" + *password;
  return url.substr(0, scheme + 3) + credentials + url.substr(at);
}

}  // namespace

std::string kafka_brokers() { return required_env("LEDGER_KAFKA_BROKERS"); }

namespace {

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : std::move(fallback);
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) throw std::runtime_error("cannot read the Kafka password file " + path);
  return line;
}

std::string secrets_file(const std::string& user) {
  return required_env("LEDGER_KAFKA_SECRETS_DIR") + "/" + user + ".password";
}

}  // namespace

adapters::kafka::KafkaSecurity kafka_security() {
  adapters::kafka::KafkaSecurity s;
  s.protocol = env_or("LEDGER_KAFKA_SECURITY_PROTOCOL", "plaintext");
  if (s.protocol == "plaintext" || s.protocol == "PLAINTEXT") return s;
  s.sasl_mechanism = env_or("LEDGER_KAFKA_SASL_MECHANISM", s.sasl_mechanism);
  s.username = env_or("LEDGER_KAFKA_USERNAME", "");
  s.password = env_or("LEDGER_KAFKA_PASSWORD", "");
  if (const std::string file = env_or("LEDGER_KAFKA_PASSWORD_FILE", ""); !file.empty()) {
    s.password = read_first_line(file);
  }
  s.ca_location = env_or("LEDGER_KAFKA_CA", "");
  return s;
}

adapters::kafka::KafkaSecurity kafka_security_as(const std::string& user) {
  auto s = kafka_security();
  s.username = user;
  s.password = read_first_line(secrets_file(user));
  return s;
}

std::vector<std::pair<std::string, std::string>> kafka_env_for(const std::string& user) {
  if (env_or("LEDGER_KAFKA_SECRETS_DIR", "").empty()) return {};  // a broker without SASL
  return {{"LEDGER_KAFKA_USERNAME", user}, {"LEDGER_KAFKA_PASSWORD_FILE", secrets_file(user)}};
}

std::string unique_name(const std::string& base) {
  // The pid alone is not unique over a run: pid_max is 32768 here and a
  // build spawns tens of thousands of processes, so a later test process can
  // get an earlier one's pid, and with it the names of topics that still
  // exist on the run's broker. A random tag per process tells them apart.
  static const std::string tag = [] {
    std::random_device rd;
    char random[9];
    std::snprintf(random, sizeof random, "%08x", static_cast<unsigned>(rd()));
    return std::to_string(::getpid()) + "x" + random;
  }();
  static std::atomic<int> counter{0};
  return base + ".t" + tag + "." + std::to_string(++counter);
}

TestDatabase::TestDatabase(std::string name_in, std::string admin_url_in)
    : name(std::move(name_in)), admin_url(std::move(admin_url_in)), app_url(url_for("ledger_app")) {}

TestDatabase::TestDatabase(TestDatabase&& other) noexcept
    : name(std::exchange(other.name, {})),
      admin_url(std::exchange(other.admin_url, {})),
      app_url(std::exchange(other.app_url, {})) {}

TestDatabase& TestDatabase::operator=(TestDatabase&& other) noexcept {
  if (this != &other) {
    drop();
    name = std::exchange(other.name, {});
    admin_url = std::exchange(other.admin_url, {});
    app_url = std::exchange(other.app_url, {});
  }
  return *this;
}

TestDatabase::~TestDatabase() { drop(); }

void TestDatabase::drop() noexcept {
  if (name.empty() || std::getenv("LEDGER_KEEP_TEST_DATABASES") != nullptr) return;
  // Connected as the superuser to the maintenance database: a database
  // cannot drop itself. A failure is only disk left behind, never a test's.
  try {
    (void)adapters::postgres::execute(with_database(admin_url, "postgres"),
                                      "DROP DATABASE IF EXISTS \"" + name + "\" WITH (FORCE)");
  } catch (...) {
  }
  name.clear();
}

std::string TestDatabase::url_for(const std::string& role) const { return with_user(admin_url, role); }

std::vector<std::pair<std::string, std::string>> TestDatabase::service_env() const {
  return {{"LEDGER_COMMAND_PG_URL", url_for("ledger_command")},
          {"LEDGER_RELAY_PG_URL", url_for("ledger_relay")},
          {"LEDGER_PROJECTOR_PG_URL", url_for("ledger_projector")},
          {"LEDGER_QUERY_PG_URL", url_for("ledger_query")}};
}

TestDatabase create_database(const std::string& label) {
  // The superuser's URL with its password (the URL infra.sh prints has none:
  // libpq would read it from PGPASSFILE).
  const std::string admin_env = required_env("LEDGER_PG_ADMIN_URL");
  const auto scheme = admin_env.find("://");
  const std::string credentials = admin_env.substr(scheme + 3, admin_env.find('@') - scheme - 3);
  const std::string admin = with_user(admin_env, credentials.substr(0, credentials.find(':')));
  std::string name = "t_" + label + "_" + std::to_string(::getpid());
  for (auto& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (auto ok = adapters::postgres::recreate_database(admin, name); !ok) {
    throw std::runtime_error("cannot create database " + name + ": " + ok.error().message);
  }
  TestDatabase db(name, with_database(admin, name));
  if (auto ok = adapters::postgres::migrate(db.admin_url, "rm"); !ok) {
    throw std::runtime_error("migration failed: " + ok.error().message);
  }
  return db;
}

std::string sql_scalar(const std::string& url, const std::string& sql) {
  auto r = adapters::postgres::query_scalar(url, sql);
  if (!r) throw std::runtime_error(r.error().message);
  return *r;
}

std::string sql_exec(const std::string& url, const std::string& sql) {
  auto r = adapters::postgres::execute(url, sql);
  return r ? std::string() : r.error().message;
}

int infra(const std::string& subcommand) {
  const std::string script = required_env("LEDGER_INFRA_SCRIPT");
  const std::string cmd = "LEDGER_PROFILE=test LEDGER_SKIP_DEPS=1 '" + script + "' " + subcommand + " >/dev/null 2>&1";
  return std::system(cmd.c_str());
}

}  // namespace ledger::testing

// TLS on both HTTP services (issue 10, item 13): with the certificate that
// scripts/http-tls.sh generates, the real ledger-command and ledger-query
// processes serve HTTPS that a client trusting the generated CA can use; a
// plain-HTTP request to the TLS port gets no answer; a certificate that does
// not name the host is refused by the client; and without a certificate a
// service refuses to serve plain HTTP on a non-loopback address.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/e2e_support.h"
#include "tests/support/process.h"
#include "tests/support/test_env.h"

namespace {

using namespace std::chrono_literals;
using ledger::adapters::http::HttpClient;
using ledger::adapters::http::HttpClientTls;
using ledger::testing::call;
using ledger::testing::ChildProcess;
using ledger::testing::tail;
using Env = std::vector<std::pair<std::string, std::string>>;

// Runs scripts/http-tls.sh into `dir` (twice: it is idempotent); its exit status.
int generate_certificates(const std::string& dir) {
  const std::string cmd = "LEDGER_TLS_DIR='" + dir + "' '" + std::string(LEDGER_SOURCE_DIR) +
                          "/scripts/http-tls.sh' >/dev/null 2>&1 && LEDGER_TLS_DIR='" + dir + "' '" +
                          std::string(LEDGER_SOURCE_DIR) + "/scripts/http-tls.sh' >/dev/null 2>&1";
  return std::system(cmd.c_str());
}

Env service_env(const ledger::testing::TestDatabase& db) {
  Env env = {{"LEDGER_PG_URL", db.app_url},
             {"LEDGER_KAFKA_BROKERS", ledger::testing::kafka_brokers()},
             {"LEDGER_KAFKA_COMMANDS", "false"},
             {"LEDGER_TOKENS_FILE", std::string(LEDGER_SOURCE_DIR) + "/config/tokens.json"},
             {"LEDGER_COMMAND_PORT", "0"},
             {"LEDGER_QUERY_PORT", "0"},
             {"LEDGER_EVENTS_TOPIC", ledger::testing::unique_name("ledger.events")},
             {"LEDGER_COMMANDS_TOPIC", ledger::testing::unique_name("ledger.commands")},
             {"LEDGER_RESULTS_TOPIC", ledger::testing::unique_name("ledger.command-results")},
             {"LEDGER_LOG_LEVEL", "info"}};
  for (auto& kv : db.service_env()) env.push_back(std::move(kv));
  return env;
}

TEST(HttpsE2E, BothServicesServeHttpsWithTheGeneratedCertificateAndRefusePlainHttpOnTheTlsPort) {
  const std::string dir = "/tmp/" + ledger::testing::unique_name("ledger-https-e2e");
  ASSERT_EQ(generate_certificates(dir), 0);
  const auto db = ledger::testing::create_database("https_e2e");
  Env env = service_env(db);
  env.emplace_back("LEDGER_TLS_CERT", dir + "/server.pem");
  env.emplace_back("LEDGER_TLS_KEY", dir + "/server.key");
  const HttpClientTls trust{.ca_file = dir + "/ca.pem", .server_name = "localhost"};

  for (const char* name : {"ledger-command", "ledger-query"}) {
    SCOPED_TRACE(name);
    ChildProcess service({std::string(LEDGER_BINARY_DIR) + "/services/" + name}, env);
    const std::uint16_t port = service.wait_for_port(30s);
    ASSERT_NE(port, 0) << tail(service);
    EXPECT_TRUE(service.wait_for_log("listening on https://", 1s)) << tail(service);

    HttpClient https("127.0.0.1", port, 10s, trust);
    ledger::testing::Reply health = call(https, "GET", "/healthz", {}, "");
    EXPECT_EQ(health.status, 200) << health.describe();
    // A real route, with a token, over the same connection.
    ledger::testing::Reply routed =
        std::string(name) == "ledger-query"
            ? call(https, "GET", "/v1/reservations", {}, "Bearer dev-acme-reader")
            : call(https, "POST", "/v1/commands/registry.register", R"({"kind":"product","entry_id":"https-product"})");
    EXPECT_EQ(routed.status, 200) << routed.describe() << tail(service);

    // Plain HTTP to the TLS port: no HTTP answer at all.
    HttpClient plain("127.0.0.1", port, 10s);
    ledger::testing::Reply refused = call(plain, "GET", "/healthz", {}, "");
    EXPECT_EQ(refused.status, 0) << refused.describe();
    EXPECT_FALSE(refused.error.empty());

    // A client that expects another name refuses the certificate.
    HttpClient misnamed("127.0.0.1", port, 10s, {.ca_file = dir + "/ca.pem", .server_name = "ledger.example"});
    ledger::testing::Reply wrong_name = call(misnamed, "GET", "/healthz", {}, "");
    EXPECT_EQ(wrong_name.status, 0) << wrong_name.describe();
    EXPECT_NE(wrong_name.error.find("handshake"), std::string::npos) << wrong_name.error;
  }
}

TEST(HttpsE2E, WithoutACertificateAServiceRefusesPlainHttpOnANonLoopbackAddress) {
  const auto db = ledger::testing::create_database("https_e2e_plain");
  for (const auto& [name, variable] : std::vector<std::pair<std::string, std::string>>{
           {"ledger-command", "LEDGER_COMMAND_ADDRESS"}, {"ledger-query", "LEDGER_QUERY_ADDRESS"}}) {
    SCOPED_TRACE(name);
    Env env = service_env(db);
    env.emplace_back(variable, "0.0.0.0");
    ChildProcess service({std::string(LEDGER_BINARY_DIR) + "/services/" + name}, env);
    EXPECT_EQ(service.wait_for_port(30s), 0) << tail(service);
    EXPECT_FALSE(service.running());
    EXPECT_NE(service.log().find("loopback"), std::string::npos) << tail(service);
  }
}

}  // namespace

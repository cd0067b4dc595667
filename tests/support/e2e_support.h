// Small helpers shared by the end-to-end tests: polling with a deadline,
// HTTP calls with the dev admin token, threads joined however a test ends,
// and log tails for failure messages. Header-only; test code only.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <ctime>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/http/client.h"
#include "services/components/settings.h"
#include "tests/support/process.h"
#include "tests/support/test_env.h"

namespace ledger::testing {

inline constexpr const char* kAdminToken = "Bearer dev-platform-admin";

// A system-clock time as RFC 3339 (whole seconds, UTC), for request bodies.
inline std::string rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&tt));
  return buf;
}

// Polls `cond` until it holds or `timeout` passes.
inline bool eventually(std::chrono::milliseconds timeout, const std::function<bool()>& cond,
                       std::chrono::milliseconds every = std::chrono::milliseconds(50)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

// The end of a child's log, for failure messages.
inline std::string tail(const ChildProcess& p, std::size_t n = 3000) {
  std::string log = p.log();
  if (log.size() > n) log = log.substr(log.size() - n);
  return p.log_path() + ":\n" + log;
}

struct Reply {
  int status = 0;  // 0: no HTTP answer
  nlohmann::json body;
  std::string error;
  std::string retry_after;  // the Retry-After header, if any
  std::string code() const { return body.is_object() && body.contains("code") ? body["code"].get<std::string>() : ""; }
  std::string describe() const {
    return error.empty() ? std::to_string(status) + " " + body.dump() : "transport error: " + error;
  }
};

// One HTTP call; `token` empty sends no Authorization header.
inline Reply call(adapters::http::HttpClient& client, const std::string& method, const std::string& target,
                  const std::string& body = {}, const std::string& token = kAdminToken,
                  std::vector<std::pair<std::string, std::string>> extra = {}) {
  if (!token.empty()) extra.emplace_back("authorization", token);
  auto r = client.request(method, target, body, extra);
  Reply out;
  if (!r) {
    out.error = r.error().code + ": " + r.error().message;
    for (const auto& [k, v] : r.error().evidence) out.error += " [" + k + "=" + v + "]";
    return out;
  }
  out.status = r->status;
  out.body = nlohmann::json::parse(r->body, nullptr, false);
  if (const auto* h = r->header("retry-after")) out.retry_after = *h;
  return out;
}

// Threads that are stopped and joined however the test ends (an ASSERT that
// returns early must not leave joinable threads behind).
struct ThreadGroup {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  void join() {
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
  }
  ~ThreadGroup() {
    stop = true;
    join();
  }
};

// `settings` logs in to Kafka as the tests' admin principal (kafka_security()).
inline void use_test_kafka_login(services::Settings& settings) {
  const auto sec = kafka_security();
  settings.kafka_brokers = kafka_brokers();
  settings.kafka_security_protocol = sec.protocol;
  settings.kafka_sasl_mechanism = sec.sasl_mechanism;
  settings.kafka_username = sec.username;
  settings.kafka_password = sec.password;
  settings.kafka_password_file.clear();
  settings.kafka_ca = sec.ca_location;
}

}  // namespace ledger::testing

// Process plumbing shared by the mains: shutdown signals, token files,
// standard topic specs and the /healthz and /readyz routes.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include "adapters/http/http_types.h"
#include "adapters/http/routes/openapi.h"
#include "adapters/http/server.h"
#include "adapters/identity/identity.h"
#include "adapters/kafka/kafka.h"
#include "adapters/metrics/metrics.h"
#include "domain/error.h"
#include "services/common/settings.h"

namespace ledger::services {

// Blocks SIGINT/SIGTERM in the calling thread (call first in main, before
// starting threads, so every thread inherits the mask), then
// wait_for_shutdown() waits for one. Any number of threads may wait: one
// takes the signal and wakes the others (ledger-all runs a service in each).
void block_shutdown_signals();
void wait_for_shutdown();

// The token file at `path`, checked for `profile` (Settings::profile):
// outside dev and test an insecure file (the development signing key or
// tokens, clear-text or never-expiring static tokens) is an error, which the
// services report before exiting non-zero; in dev and test it is accepted and
// each problem is logged as a warning.
domain::Result<identity::TokenAuthenticator> load_tokens(const std::string& path, const std::string& profile);

// The dead-letter topic of the command topics (`--dead-letter-topic`,
// default `ledger.commands-dlq`: outside the `ledger.commands.` namespace of
// the producers' topics).
std::string commands_dead_letter_topic(const Settings& s);

// The Kafka security options of `s`, the password read from
// kafka_password_file when one is named (trailing newline dropped).
// kInvalidArgument "kafka_password_unreadable" when that file cannot be read,
// "kafka_credentials_missing" for a SASL protocol without a username.
domain::Result<adapters::kafka::KafkaSecurity> kafka_security(const Settings& s);

// Creates the ledger's topics if missing: `ledger.events` with one partition
// (global order) and retention that never deletes history; results, the
// commands' dead-letter topic and the query service's producer topic
// (<commands>.ledger-query) with a few partitions. Other producers' topics
// come with `ledger-admin add-producer`. Logs in as kafka_security(s); a
// principal with Describe only passes when they exist.
domain::Result<void> ensure_ledger_topics(const Settings& s);

// A service's worker thread body: runs `body` until it returns; an exception
// escaping it (which no input should cause) is logged and `body` runs again
// after a second, unless `stop` is set meanwhile. So one bad record or
// event can never end the process through a thread boundary.
void run_restarting(const char* what, const std::atomic<bool>& stop, const std::function<void()>& body);

// The fields of an answer's access-log line (settings.h access_log): JSON
// object members, keys sorted — actor and correlation_id when present,
// latency_ms, method, path, route (metrics::route_label), status. Never a
// query string, header or body, which may carry secrets; every string
// escaped and invalid UTF-8 replaced, so the line stays JSON.
std::string access_log_members(const adapters::http::Exchange& e);

// What an HTTP service tells about itself (issue 17 part 4): its metrics
// registry (served at GET /metrics by with_health), request counts and
// latencies by method, route and status, and one access-log line per
// answer (a JSON object with method, route, path, status, latency_ms and
// correlation_id as fields of their own; /healthz, /readyz and /metrics are
// counted, not logged).
class HttpObservability {
 public:
  explicit HttpObservability(bool access_log = true) : access_log_(access_log) {}
  adapters::metrics::Registry& registry() { return registry_; }
  // For HttpServer::Options::on_answer; lives as long as this object.
  std::function<void(const adapters::http::Exchange&)> on_answer();
  // A service's HTTP server options: where it listens, its pool and TLS
  // (both PEM files or neither), with_health's control paths and on_answer().
  adapters::http::HttpServer::Options server_options(const std::string& address, std::uint16_t port, int threads,
                                                     const std::string& tls_cert, const std::string& tls_key);

 private:
  bool access_log_;
  adapters::metrics::Registry registry_;
  adapters::metrics::RequestMetrics requests_{registry_};
};

// Wraps a route handler with /healthz (always 200 while the process serves),
// /readyz (200 when `ready` returns an empty string, else 503 with the
// reason) and, given a registry, GET /metrics (Prometheus text format,
// unauthenticated like the health routes: counts and latencies by route,
// never an id, tenant or value).
// Given a document, GET /openapi.json answers it (routes/openapi.h), also
// without a token: the contract is public, like the health routes.
adapters::http::HttpHandler with_health(adapters::http::HttpHandler inner, std::function<std::string()> ready,
                                        const adapters::metrics::Registry* metrics = nullptr,
                                        std::optional<routes::ApiDocument> openapi = std::nullopt);
// The same for a handler that answers through an HttpResponder.
adapters::http::AsyncHttpHandler with_health_async(adapters::http::AsyncHttpHandler inner,
                                                   std::function<std::string()> ready,
                                                   const adapters::metrics::Registry* metrics = nullptr,
                                                   std::optional<routes::ApiDocument> openapi = std::nullopt);
// ledger_kafka_client_errors_total{client} and
// ledger_kafka_delivery_failures_total in `metrics`, read from this
// process's Kafka clients when scraped.
void count_kafka_errors(adapters::metrics::Registry& metrics);

// The paths answered by with_health, for HttpServer::Options::control_paths.
std::vector<std::string> control_paths();

}  // namespace ledger::services

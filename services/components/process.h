// Process plumbing shared by the mains: shutdown signals, token files,
// standard topic specs and the /healthz and /readyz routes.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "adapters/http/http_types.h"
#include "adapters/kafka/kafka.h"
#include "commands/identity.h"
#include "domain/error.h"
#include "services/components/settings.h"

namespace ledger::services {

// Blocks SIGINT/SIGTERM in the calling thread (call first in main, before
// starting threads, so every thread inherits the mask), then
// wait_for_shutdown() waits for one.
void block_shutdown_signals();
void wait_for_shutdown();

domain::Result<commands::TokenAuthenticator> load_tokens(const std::string& path);

// The Kafka security options of `s`, the password read from
// kafka_password_file when one is named (trailing newline dropped).
// kInvalidArgument "kafka_password_unreadable" when that file cannot be read,
// "kafka_credentials_missing" for a SASL protocol without a username.
domain::Result<adapters::kafka::KafkaSecurity> kafka_security(const Settings& s);

// Creates the ledger's topics if missing: `ledger.events` with one partition
// (global order) and retention that never deletes history; results and the
// query service's producer topic (<commands>.ledger-query) with a few
// partitions. Other producers' topics come with `ledger-admin add-producer`. Logs in as kafka_security(s); a principal
// with Describe only passes when they exist.
domain::Result<void> ensure_ledger_topics(const Settings& s);

// Wraps a route handler with /healthz (always 200 while the process serves)
// and /readyz (200 when `ready` returns an empty string, else 503 with the
// reason).
adapters::http::HttpHandler with_health(adapters::http::HttpHandler inner, std::function<std::string()> ready);

}  // namespace ledger::services

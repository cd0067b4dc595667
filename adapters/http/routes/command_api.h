// The command side's edges: HTTP routes and the `ledger.commands` consumer.
//
// HTTP (every request needs `Authorization: Bearer <token>`):
//   POST /v1/policy-values   seed 000's body -> policy_value.set
//   POST /v1/policy-keys     a key definition -> policy_key.define
//   POST /v1/commands/{type}           any command type
// The command id comes from the body's `command_id`, else the
// `Idempotency-Key` header, else a fresh UUID (no retry safety then).
// Accepted: 200 {status:"accepted", command_id, event_ids, position,
// stream_version, duplicate}. Rejected: 4xx {code, message, evidence}.
//
// Roles (commands/access/authorization.h): after authentication and the request
// gate (commands/access/request_gate.h: token lifetime, 429 `rate_limited`), the
// command's route family must be allowed by one of the principal's roles, else 403
// `forbidden` (on Kafka: rejected on `ledger.command-results`). Tenant
// isolation is the CommandService's (commands/command_service.cc). Every
// refusal is recorded as an AccessRefused event (access_refusals.h).
//
// Kafka: JSON records on `ledger.commands` with `type` (default
// policy_value.set) and `command_id` (else the record key), the bearer token
// in the record header `authorization` and an optional `correlation-id`
// header. Every outcome goes to `ledger.command-results` keyed by
// command_id. A record that cannot be handled at all (unreadable body, key
// or header, no command id, not a valid command, or an unexpected failure:
// commands/command_record.h) is rejected there with its stable code — keyed
// by its command_id if it has a valid one, else "<topic>:<partition>:<offset>"
// — and copied unchanged to the dead-letter topic `ledger.commands-dlq` with
// the headers `dlq-reason` and `dlq-source`; then committed past like any
// other. One record never fails its neighbours. Offsets are committed only
// after the outcomes are delivered; commands that met an unavailable
// dependency are not answered and are read again (their command ids make
// that safe).
#pragma once

#include <atomic>
#include <string>
#include <string_view>

#include "adapters/http/http_types.h"
#include "adapters/identity/identity.h"
#include "adapters/kafka/access_refusals.h"
#include "adapters/kafka/kafka.h"
#include "commands/access/request_gate.h"
#include "commands/command_service.h"

namespace ledger::routes {

using adapters::kafka::CommandServiceRefusals;
using adapters::kafka::refusal_of;
using adapters::kafka::RefusalRecorder;

class CommandApi {
 public:
  CommandApi(commands::CommandService& service, const identity::TokenAuthenticator& auth)
      : service_(service), auth_(auth), refusals_(service) {}

  adapters::http::HttpResponse handle(const adapters::http::HttpRequest& req);

  // Token-lifetime and rate-limit checks (commands/access/request_gate.h) before the role
  // check; without one nothing is limited. `g` must outlive this object.
  void gate_requests_with(commands::RequestGate& g) { gate_ = &g; }

 private:
  // handle() without the access-log actor stamp.
  adapters::http::HttpResponse route(const adapters::http::HttpRequest& req);

  commands::CommandService& service_;
  const identity::TokenAuthenticator& auth_;
  CommandServiceRefusals refusals_;
  commands::RequestGate* gate_ = nullptr;
};

// JSON of an outcome, shared by HTTP answers and command-results records.
// Every accepted answer carries the mutation evidence of seed 001 (rule 5)
// beside the position it wrote: evidence {snapshot_kind: "writer_model",
// snapshot_version: the position the writer decided it against}.
std::string accepted_json(const commands::Accepted& a);
std::string rejected_json(const std::string& command_id, const domain::Error& e);

// Headers a dead-lettered record gets on top of its own: the stable code of
// why it could not be handled, and "<topic>:<partition>:<offset>" it came from.
inline constexpr std::string_view kDeadLetterReasonHeader = "dlq-reason";
inline constexpr std::string_view kDeadLetterSourceHeader = "dlq-source";
// Set ("1") on the copy of a record that may hold a configuration secret in
// clear: the copy has no key, value or headers of the record, only its size.
inline constexpr std::string_view kDeadLetterRedactedHeader = "dlq-redacted";

struct KafkaCommandOptions {
  std::string brokers;
  adapters::kafka::KafkaSecurity kafka_security{};  // this service's own principal
  std::string commands_topic;                       // the base: consumes every "<commands_topic>.<producer>"
  std::string producers_file;  // Kafka principal -> ledger principal (adapters/identity/kafka_producers.h)
  std::string results_topic;
  std::string dead_letter_topic;  // services::commands_dead_letter_topic(settings)
  std::string group_id = "ledger-command-service";
  // The same gate as the HTTP edge's (token lifetime, rate limits), so the
  // topic is no way around them; null: none.
  commands::RequestGate* gate = nullptr;
};

// Runs until `stop` is set. Consumes only while this instance is the writer,
// so a standby never answers commands it cannot apply.
// A record acts as the ledger principal mapped to the producer whose topic it
// arrived on (principal_for_record); a record with a bearer token header is
// refused (kafka_token_header_refused). A config command whose document
// holds a secret in clear is refused (422 secrets_over_kafka), and such a
// record, or an undecodable one that may hold one, is deleted from its topic
// once answered (Kafka DeleteRecords: needs Delete on the producer topics).
void run_kafka_commands(const KafkaCommandOptions& options, commands::CommandService& service,
                        const std::atomic<bool>& stop);

}  // namespace ledger::routes

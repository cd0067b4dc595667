// The decision log on the query service (issue 13 part 6).
//
//   GET /v1/decisions/log?correlation_id=&org_id=&project_id=&decision=
//       &kind=admission|entitlement_check&from=&to=&cursor=&limit=<1..1000, default 100>
//   -> 200 application/x-ndjson: one logged decision per line
//      {kind, decision_id, recorded_at, as_of, organization_id, project_id,
//       actor: {tenant, actor_type, actor_id}, correlation_id, decision,
//       reason_code, snapshot_version, input, output}
//      in arrival order; headers x-has-more and x-next-cursor (opaque; pass
//      it back as `cursor`). `from`/`to` (RFC 3339) bound recorded_at as
//      [from, to). `decision` is allow, warn or deny. A tenant principal
//      sees its own organization's only (`org_id` may be left out; another
//      organization is 403 `forbidden`, recorded as AccessRefused). Unknown
//      parameters 400 `invalid_parameter`. Route family `audit.read`.
//      Read from decision_log.decisions (PostgreSQL), which the projector
//      fills from ledger.decisions: a decision appears there shortly after
//      it was answered, not at once.
//   GET /v1/decisions/log/status
//   -> 200 {enabled, capacity, queued, accepted, dropped, published, logged}
//      the buffer's counters in this process (`dropped`: records lost
//      because the buffer was full; never silent), and how many rows the
//      table holds (`logged`).
//
// Recording (decision_record_of) runs on the decision path: it only builds
// the record; the buffer (commands/decision_log/decision_log_buffer.h)
// takes or drops it without waiting, and DecisionLogPublisher publishes.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "adapters/http/http_types.h"
#include "adapters/postgres/decision_log_store.h"
#include "commands/command.h"
#include "commands/decision_log/decision_log_buffer.h"
#include "domain/admission.h"
#include "domain/app_policy/policy_types.h"
#include "events/event.h"

namespace ledger::projections {
struct QuerySnapshot;
}  // namespace ledger::projections

namespace ledger::routes {

inline constexpr std::string_view kDecisionLogPath = "/v1/decisions/log";
inline constexpr std::string_view kDecisionLogStatusPath = "/v1/decisions/log/status";

// Where the admission routes record the decisions they answer, and what the
// log routes read. Null members: that part is off.
struct DecisionLogPorts {
  commands::DecisionLogBuffer* buffer = nullptr;  // null: --decision-log off
  adapters::postgres::PgDecisionLog* table = nullptr;
  std::function<std::uint64_t()> published;  // records published so far
};

// The record of one answered decision, already encoded (`encoded`), with
// its `organization_id` (the publisher's Kafka key); its other fields are
// left empty, as nothing after the buffer reads them (DecisionRecord::encoded).
// `input_text` is the input as its JSON tree dumps (compact, keys sorted:
// dump_lenient, or read_plain_decision_input's `logged`); `output_text` is
// the answer as written (its `decision` and `reason_code` given beside it).
// Both go into the record as they are, not dumped again.
commands::DecisionRecord decision_record_of(const commands::Principal& who, const domain::DecisionInput& in,
                                            std::string_view input_text, std::string_view decision,
                                            std::string_view reason_code, std::string_view output_text,
                                            std::int64_t snapshot_version, events::Instant as_of, events::Instant now);

// The record of one answered entitlement check (kind entitlement_check):
// `input` {check, cut}, `output` the check's answer; decision allow | deny
// from output.allowed, reason_code output.reason; as_of = recorded_at (the
// cut says what history it read).
commands::DecisionRecord check_record_of(const commands::Principal& who, const std::string& organization_id,
                                         const std::string& correlation_id, const nlohmann::json& input,
                                         const nlohmann::json& output, std::int64_t snapshot_version,
                                         events::Instant now);

adapters::http::HttpResponse decision_log_route(const adapters::http::HttpRequest& req, const commands::Principal& who,
                                                const DecisionLogPorts& ports);

// Re-derives a logged decision: `input` decided against `snapshot` (the
// ledger at the record's snapshot_version) at `as_of`, exactly as
// POST /v1/decisions answers it (defined in admission_api.cc). The output
// JSON, or the error the decision would answer now.
// An input naming an application runs its chain again with `deps` (the CEL
// engine for custom_cel), taking the verdicts of stateful policies (rate
// limits, token windows: counters of the answering process) from
// `logged_output`'s chain.
domain::Result<nlohmann::json> rederive_decision(const nlohmann::json& input, const std::string& correlation_id,
                                                 const projections::QuerySnapshot& snapshot, events::Instant as_of,
                                                 const domain::app_policy::PolicyDeps& deps = {},
                                                 const nlohmann::json* logged_output = nullptr);

}  // namespace ledger::routes

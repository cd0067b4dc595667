// The query service's routes of per-application policy chains (seed 002),
// answered from the in-memory read model (projections/admission/
// admission_store.h: the applications and chains live in
// AdmissionModel::apps()). The writes are commands (adapters/http/routes/
// command_api.cc: POST .../applications/{app_id}/policies, PATCH and DELETE
// /v1/app-policies/{policy_id}). The seed's /api/v1/admin/... paths are
// aliases (path_aliases.h).
//
//   GET  /v1/app-policies/types            the registered policy types with their config
//   GET  /v1/app-policies/available-types  JSON Schemas (the seed names both paths)
//   GET  /v1/applications/{app_id}     the application and its chain, with snapshot_version
//   GET  /v1/applications/{app_id}/policies
//                                                the chain in order, the seed's list shape; the
//                                                position it was read at in `X-Snapshot-Version`
//   POST /v1/applications/{app_id}:evaluate      runs the app's enabled policies in order
//        body {phase?: pre|post, model?, size_bytes?, estimated_tokens?, actual_tokens?,
//              organization_id?, time? (replays only)}
//        -> {allow, decision, reason, denied_by, chain: [{policy_id, policy_type, version,
//            verdict, reason, detail}], snapshot_version}
//
// Every read takes `organization_id` (a tenant's defaults to its own; a
// platform principal names it, else 400 `missing_field`), `min_position`
// and `wait_ms` (read-your-writes: waits for the store to reach it), and
// `as_of_position`: the chain the application had right after that
// position, rebuilt from the event store's history (an evaluation then runs
// against that chain with counters of its own, so a replay spends nothing).
// Another organization's application answers 404 `unknown_application`,
// like one that does not exist. Thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/http/http_types.h"
#include "adapters/http/routes/query_params.h"
#include "adapters/kafka/access_refusals.h"
#include "commands/command.h"
#include "commands/ports.h"
#include "domain/app_policy/chain.h"
#include "events/event.h"
#include "projections/admission/admission_store.h"

namespace ledger::routes {

// A chain's verdicts as :evaluate and decisions answer them:
// [{policy_id, policy_type, version, verdict, reason, detail}].
nlohmann::json chain_result_json(const domain::app_policy::ChainResult& result);

class AppPolicyApi {
 public:
  // Reads the event store's history after a position (at most `limit`
  // events), for as_of_position.
  using HistoryReader = std::function<domain::Result<std::vector<events::RecordedEvent>>(events::GlobalPosition after,
                                                                                         std::size_t limit)>;

  AppPolicyApi(const projections::AdmissionStore& store, commands::Clock& clock, domain::app_policy::PolicyDeps deps)
      : store_(store), clock_(clock), deps_(deps), runtime_(deps) {}

  static bool owns(std::string_view path);
  adapters::http::HttpResponse handle(const adapters::http::HttpRequest& req, const commands::Principal& who);

  // The event store's head (a position beyond it is refused, never waited for).
  void head_from(std::function<domain::Result<events::GlobalPosition>()> head) { head_ = std::move(head); }
  void history_from(HistoryReader reader) { history_ = std::move(reader); }
  void record_refusals_to(adapters::kafka::RefusalRecorder& r) { refusals_ = &r; }

  // The policy types as the types route answers them (also for tests).
  static std::string types_json();
  // The process's one chain runtime (its rate-limit counters), shared with
  // the decisions that name an application (AdmissionApi::run_chains_with).
  domain::app_policy::ChainRuntime& runtime() { return runtime_; }

 private:
  struct ModelAt {
    std::shared_ptr<const projections::QuerySnapshot> snapshot;
    std::shared_ptr<domain::AdmissionModel> past;  // rebuilt for as_of_position
    events::GlobalPosition position;
    const domain::AdmissionModel& model() const { return past ? *past : snapshot->admission; }
  };
  std::expected<ModelAt, adapters::http::HttpResponse> model_at(const Consistency& c) const;
  adapters::http::HttpResponse evaluate(const adapters::http::HttpRequest& req, const commands::Principal& who,
                                        const std::string& app_id);
  adapters::http::HttpResponse read_app(const adapters::http::HttpRequest& req, const commands::Principal& who,
                                        const std::string& app_id, bool policies_only);

  const projections::AdmissionStore& store_;
  commands::Clock& clock_;
  domain::app_policy::PolicyDeps deps_;
  domain::app_policy::ChainRuntime runtime_;
  std::function<domain::Result<events::GlobalPosition>()> head_;
  HistoryReader history_;
  adapters::kafka::RefusalRecorder* refusals_ = nullptr;
};

}  // namespace ledger::routes

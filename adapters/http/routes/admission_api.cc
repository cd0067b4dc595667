#include "adapters/http/routes/admission_api.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <span>
#include <string_view>
#include <tuple>
#include <vector>

#include "adapters/http/routes/admission_json.h"
#include "adapters/http/routes/app_policy_api.h"
#include "adapters/http/routes/decision_input.h"
#include "adapters/http/routes/decision_log_api.h"
#include "adapters/http/routes/http_json.h"
#include "adapters/http/routes/memory_reads.h"
#include "adapters/http/routes/product_messages.h"
#include "adapters/http/routes/query_params.h"
#include "adapters/http/routes/views_api.h"
#include "commands/access/authorization.h"
#include "commands/decode.h"
#include "commands/edge_values.h"
#include "domain/admission.h"
#include "domain/policy_resolution.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"
#include "projections/admission/snapshot_reader.h"

namespace ledger::routes {

using adapters::http::HttpRequest;
using adapters::http::HttpResponse;
using events::QuotaLevel;
using events::QuotaScope;
using Json = nlohmann::json;

namespace {

constexpr std::string_view kDecisions = AdmissionApi::kDecisionPath;
constexpr std::string_view kDecisionBatch = "/v1/decisions:batch";
constexpr std::string_view kEffective = "/v1/ceilings/effective";
constexpr std::string_view kReservations = "/v1/reservations";
constexpr std::string_view kReservationPrefix = "/v1/reservations/";
// v2: "<id>/<organization_id>" ('/' is in no id); v1 (before ids were scoped
// per organization): "<id>", still accepted.
constexpr std::string_view kReservationCursor = "reservations.v2:";
constexpr std::string_view kReservationCursorV1 = "reservations.v1:";
constexpr const char* kWarnThresholdKey = "quota.warn_threshold_percent";
constexpr std::int64_t kDefaultWarnThreshold = 80;

domain::Error forbidden(const commands::Principal& who, const std::string& organization_id) {
  return organization_forbidden(who, organization_id, "admission read");
}

// await_snapshot() against the admission read model's head.
std::optional<HttpResponse> await_admission(projections::AdmissionHistory& q, const Consistency& c,
                                            const std::function<domain::Result<events::GlobalPosition>()>& checkpoint) {
  return await_snapshot(c, [&] { return q.head_position(); }, checkpoint);
}

// The read models one request reads from, through their ports: one
// in-memory snapshot (held for the request) when it is answered from
// memory, else the stored read models.
class RequestReaders {
 public:
  RequestReaders(projections::AdmissionHistory& admission, projections::PolicyValueReader& policy)
      : stored_admission_(admission), stored_policy_(policy) {}

  // Waits (c.min_position, c.wait_ms) for the models to be readable: the
  // store's snapshot when `memory` is given, else the stored admission
  // model's checkpoint (and the policy values', `with_policy`). The answer
  // instead when they are not (503 snapshot_not_ready, 400
  // position_beyond_head).
  std::optional<HttpResponse> open(const projections::AdmissionStore* memory, const Consistency& c, bool with_policy) {
    if (memory) {
      auto snap = memory_snapshot(*memory, c, [&] { return stored_admission_.head_position(); });
      if (!snap) return std::move(snap.error());
      memory_.emplace(std::move(*snap));
      return std::nullopt;
    }
    return await_admission(stored_admission_, c, [&]() -> domain::Result<events::GlobalPosition> {
      auto a = stored_admission_.checkpoint();
      if (!a || !with_policy) return a;
      auto p = stored_policy_.checkpoint();
      if (!p) return p;
      return std::min(*a, *p);
    });
  }

  projections::AdmissionReader& admission() {
    if (memory_) return *memory_;
    return stored_admission_;
  }
  projections::PolicyValueReader& policy() {
    if (memory_) return *memory_;
    return stored_policy_;
  }
  // The snapshot when answered from memory, else nullptr.
  const projections::QuerySnapshot* memory() const { return memory_ ? &memory_->snapshot() : nullptr; }

 private:
  projections::AdmissionHistory& stored_admission_;
  projections::PolicyValueReader& stored_policy_;
  std::optional<projections::SnapshotReader> memory_;
};

// The organization a forbidden() error names.
std::string refused_organization(const domain::Error& e) { return e.evidence_text("organization_id"); }

// The query service refuses an unusable header before routing here
// (QueryApi::handle); anything else reads as no correlation id.
std::string header_correlation_id(const HttpRequest& req) {
  return commands::header_id("x-correlation-id", req.header("x-correlation-id")).value_or(std::string());
}

// ------------------------------------------------------ decision output

Json error_json(const domain::Error& e) { return {{"error", {{"code", e.code}, {"message", e.message}}}}; }

// The organization a chain belongs to ("" when it has none).
std::string organization_of(std::span<const domain::ChainNode> chain) {
  for (const auto& c : chain) {
    if (c.scope.level == QuotaLevel::kOrganization) return c.scope.id;
  }
  return "";
}

// The near-limit threshold: the policy value quota.warn_threshold_percent
// for the requester's project / organization / plan, read with the
// decision's snapshot (PgAdmissionQueries::decision_reads, same transaction):
// the catalog default when set nowhere, 80 when the key is not defined.
std::int64_t warn_threshold(const projections::DecisionPolicyValue& p, events::Instant as_of) {
  if (!p.key) return kDefaultWarnThreshold;
  const auto res = domain::resolve(*p.key, p.chain, p.candidates, as_of);
  if (const auto* v = std::get_if<std::int64_t>(&res.value.v)) return std::clamp<std::int64_t>(*v, 0, 100);
  return kDefaultWarnThreshold;
}

// Decides one input against what was read for it (tenant check, threshold,
// domain).
domain::Result<domain::DecisionOutput> decide_one(const commands::Principal& who, const domain::DecisionInput& in,
                                                  projections::DecisionRead& read, events::Instant as_of) {
  domain::DecisionSnapshot& s = read.snapshot;
  if (is_tenant(who)) {
    const std::string org = organization_of(s.chain);
    if (!org.empty() && org != who.tenant) return std::unexpected(forbidden(who, org));
  }
  if (!s.chain.empty()) {
    if (!read.policy) {
      return domain::fail(domain::ErrorKind::kInternal, "warn_threshold_missing",
                          "the near-limit threshold was not read with the decision");
    }
    s.warn_threshold_percent = warn_threshold(*read.policy, as_of);
  }
  return domain::decide_admission(in, s, as_of);
}

// A decision naming an application is answered from the in-memory models
// only (the chain is a read model of ledger-query's memory, its rate limits
// are counters there); a replay goes to POST /v1/applications/{app}:evaluate.
domain::Error application_needs_memory() {
  domain::Error e{domain::ErrorKind::kInvalidArgument,
                  "unsupported_parameter",
                  "a decision naming an application is answered from memory only: drop as_of_position, or replay "
                  "the chain with POST /v1/applications/{app_id}:evaluate?as_of_position=",
                  {}};
  e.with("field", "application");
  return e;
}

// Runs the named application's chain (seed 002) against the decision's
// snapshot and folds it into `out`: when admission allowed (or warned) and
// the chain denies, the decision becomes `deny` with reason_code
// `application_policy_denied`; when admission denied, the chain is not run
// (a rate limit spends nothing on a request refused anyway). Returns the
// chain as evidence, the answer's `application`. Another organization's or
// an unknown application is 404 `unknown_application`.
domain::Result<Json> run_application(domain::DecisionOutput& out, const ApplicationCheck& a,
                                     const domain::DecisionInput& in, const domain::AdmissionModel& model,
                                     domain::app_policy::ChainRuntime& runtime, events::Instant as_of,
                                     const domain::app_policy::ChainRuntime::RecordedVerdicts* recorded) {
  namespace ap = domain::app_policy;
  const auto* app = model.apps().application(in.hierarchy.organization_id, a.app_id);
  if (!app) {
    domain::Error e{domain::ErrorKind::kNotFound, "unknown_application", "no such application", {}};
    e.with("application_id", a.app_id);
    return std::unexpected(std::move(e));
  }
  if (out.decision == "deny") {
    return Json{{"application_id", a.app_id},
                {"decision", "not_evaluated"},
                {"reason", "admission_denied"},
                {"denied_by", nullptr},
                {"chain", Json::array()}};
  }
  ap::ChainRequest request;
  request.input.app_id = a.app_id;
  request.input.org_id = in.hierarchy.organization_id;
  request.input.actor_id = in.actor.actor_id;
  request.input.actor_type = in.actor.actor_type;
  request.input.model = a.model;
  request.input.time_unix_ms = as_of.micros / 1000;
  request.input.size_bytes = a.size_bytes;
  request.input.estimated_tokens = a.estimated_tokens;
  const ap::ChainResult result = runtime.evaluate(model.apps(), *app, request, recorded);
  if (!result.allow) {
    out.decision = "deny";
    out.reason_code = "application_policy_denied";
    out.user_message = "The application's policy chain denied this request (" + result.reason + ").";
  }
  return Json{{"application_id", a.app_id},
              {"decision", result.allow ? "allow" : "deny"},
              {"reason", result.reason},
              {"denied_by", result.denied_by.empty() ? Json(nullptr) : Json(result.denied_by)},
              {"chain", chain_result_json(result)}};
}

// Where a decision's product messages (product_messages.h) are read: the
// policy values of the snapshot the decision was answered from (in memory,
// or the stored read model at the decision's position: it keeps every past
// value), with the message keys defined there listed once per request, so
// a ledger that defines none pays one statement per request on the SQL
// path.
class MessageSource {
 public:
  MessageSource(projections::PolicyValueReader& values, events::GlobalPosition position)
      : values_(values), position_(position) {}

  domain::Result<void> apply(Json& answer, std::span<const std::string> locales, const projections::DecisionRead& read,
                             events::Instant as_of) {
    const domain::ScopeChain& chain = chain_of(read);
    return apply_product_message(
        answer, locales, chain, as_of,
        [&](const std::string& key) -> domain::Result<std::optional<MessageKey>> { return lookup(key, chain); });
  }
  // What apply() would set on an answer with this reason code.
  domain::Result<ProductMessage> message(std::string_view reason_code, std::span<const std::string> locales,
                                         const projections::DecisionRead& read, events::Instant as_of) {
    // With no message key defined (most products), no key can resolve:
    // what product_message would answer, without naming each key.
    auto keys = defined();
    if (!keys) return std::unexpected(keys.error());
    if ((*keys)->empty()) {
      ProductMessage m;
      m.accept_language.assign(locales.begin(), locales.end());
      return m;
    }
    const domain::ScopeChain& chain = chain_of(read);
    return product_message(
        reason_code, locales, chain, as_of,
        [&](const std::string& key) -> domain::Result<std::optional<MessageKey>> { return lookup(key, chain); });
  }

 private:
  // The scopes a message key resolves along: the policy read's, or none.
  static const domain::ScopeChain& chain_of(const projections::DecisionRead& read) {
    static const domain::ScopeChain kNone;
    return read.policy ? read.policy->chain : kNone;
  }
  // The message keys defined at the position, sorted, read once.
  domain::Result<const std::vector<std::string>*> defined() {
    if (!defined_) {
      auto names = values_.key_names(std::string(kMessageKeyPrefix), position_);
      if (!names) return std::unexpected(names.error());
      // binary_search needs byte order; the SQL reader's ORDER BY follows
      // the database's collation, byte order only on a `C` locale cluster.
      std::sort(names->begin(), names->end());
      defined_ = std::move(*names);
    }
    return &defined_.value();
  }
  domain::Result<std::optional<MessageKey>> lookup(const std::string& key, const domain::ScopeChain& chain) {
    auto keys = defined();
    if (!keys) return std::unexpected(keys.error());
    if (!std::binary_search((*keys)->begin(), (*keys)->end(), key)) return std::nullopt;
    auto snap = values_.policy_snapshot(key, chain, position_);
    if (!snap) return std::unexpected(snap.error());
    auto& message_key = snap->key;
    if (!message_key) return std::nullopt;
    return MessageKey{std::move(*message_key), std::move(snap->candidates)};
  }

  projections::PolicyValueReader& values_;
  events::GlobalPosition position_;
  std::optional<std::vector<std::string>> defined_;  // the message keys defined, sorted
};

std::vector<std::string> request_locales(const HttpRequest& req) {
  const std::string* h = req.header("accept-language");
  return h ? message_locales(*h) : std::vector<std::string>{};
}

// The verdicts a logged answer recorded for its application's chain.
domain::app_policy::ChainRuntime::RecordedVerdicts recorded_verdicts(const Json* logged) {
  domain::app_policy::ChainRuntime::RecordedVerdicts out;
  if (!logged || !logged->is_object()) return out;
  auto app = logged->find("application");
  if (app == logged->end() || !app->is_object() || !app->contains("chain") || !(*app)["chain"].is_array()) return out;
  // The record is data read back from a table: anything not shaped as we
  // wrote it is ignored (never thrown on), and the policy is derived again.
  auto text = [](const Json& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  for (const auto& p : (*app)["chain"]) {
    if (!p.is_object() || !p.contains("version") || !p["version"].is_number_integer()) continue;
    domain::app_policy::PolicyResult r;
    r.policy_id = text(p, "policy_id");
    r.policy_type = text(p, "policy_type");
    r.version = p["version"].get<std::int64_t>();
    r.verdict = text(p, "verdict");
    r.reason = text(p, "reason");
    r.detail = text(p, "detail");
    out.emplace(r.policy_id, std::move(r));
  }
  return out;
}

domain::Result<void> check_tenant(const commands::Principal& who, const domain::DecisionInput& in) {
  if (is_tenant(who) && in.hierarchy.organization_id != who.tenant) {
    return std::unexpected(forbidden(who, in.hierarchy.organization_id));
  }
  return {};
}

// ----------------------------------------------------------- reservations

Json reservation_json(const projections::ReservationRecord& r, events::Instant as_of) {
  const auto& v = r.view;
  Json chain = Json::array();
  for (const auto& s : v.owner_chain) chain.push_back(quota_scope_json(s));
  Json j = reservation_fields(v, r.kind, r.unit, as_of);
  j["organization_id"] = r.organization_id;
  j["owner_chain"] = std::move(chain);
  j["attributes"] = r.attributes;
  j["version"] = r.version;
  j["drafted_position"] = r.drafted_position;
  return j;
}

constexpr std::string_view kStates[] = {"draft", "active", "exhausted", "expired", "suspended", "retired"};

domain::Result<QuotaScope> scope_param(const HttpRequest& req, const std::string& level_name,
                                       const std::string& id_name) {
  auto level_text = req.query_param(level_name);
  if (!level_text) return std::unexpected(bad_param(level_name, level_name + " is required"));
  auto level = events::parse_quota_level(*level_text);
  if (!level) {
    return std::unexpected(
        bad_param(level_name, level_name + " must be global, plan, organization, department, project or principal"));
  }
  QuotaScope s{*level, req.query_param(id_name).value_or("")};
  if (s.level != QuotaLevel::kGlobal && s.id.empty())
    return std::unexpected(bad_param(id_name, id_name + " is required"));
  if (s.level == QuotaLevel::kGlobal && !s.id.empty()) {
    return std::unexpected(bad_param(id_name, "the global scope has no id"));
  }
  return s;
}

}  // namespace

void AdmissionApi::note_refusal(const HttpRequest& req, const commands::Principal& who,
                                const std::string& organization_id) const {
  if (!refusals_) return;
  const auto family = commands::query_family(req.method, req.path).value_or(commands::RouteFamily::kDecision);
  refusals_->record(refusal_of(who, organization_id, family, req.method, req.path, "tenant_mismatch"),
                    header_correlation_id(req));
}

bool AdmissionApi::owns(std::string_view path) {
  if (ViewsApi::owns(path)) return true;                                        // the customer views (views_api.h)
  if (path == kDecisionLogPath || path == kDecisionLogStatusPath) return true;  // decision_log_api.h
  return path == kDecisions || path == kDecisionBatch || path == kEffective || path == kReservations ||
         (path.starts_with(kReservationPrefix) && path.size() > kReservationPrefix.size());
}

bool AdmissionApi::from_memory(const HttpRequest& req) const {
  const std::string_view path = req.path;
  const bool one_reservation = path.starts_with(kReservationPrefix) && path.size() > kReservationPrefix.size();
  return memory_ && (path == kDecisions || path == kDecisionBatch || path == kEffective || one_reservation) &&
         !req.query_param("as_of_position");
}

HttpResponse AdmissionApi::handle(const HttpRequest& req, const commands::Principal& who) {
  HttpResponse r = route(req, who);
  mark_read_model(r, from_memory(req) ? kFromMemory : kFromPostgres);
  return r;
}

HttpResponse AdmissionApi::route(const HttpRequest& req, const commands::Principal& who) {
  const std::string_view path = req.path;
  if (ViewsApi::owns(path)) return ViewsApi(admission_, policy_, clock_, refusals_).handle(req, who);
  if (path == kDecisionLogPath || path == kDecisionLogStatusPath) {
    if (is_tenant(who)) {
      if (auto org = req.query_param("organization_id"); org && *org != who.tenant) note_refusal(req, who, *org);
    }
    return decision_log_route(req, who, log_);
  }
  if (path == kDecisions || path == kDecisionBatch) {
    if (req.method != "POST") return method_not_allowed("POST");
    return path == kDecisions ? decision(req, who) : decision_batch(req, who);
  }
  if (req.method != "GET") return method_not_allowed("GET");
  if (path == kEffective) return effective_ceilings(req, who);
  if (path == kReservations) return reservations(req, who);
  if (path.starts_with(kReservationPrefix) && path.size() > kReservationPrefix.size()) {
    return reservation(req, who, std::string(path.substr(kReservationPrefix.size())));
  }
  return error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}});
}

HttpResponse AdmissionApi::decision(const HttpRequest& req, const commands::Principal& who) {
  if (auto bad = unknown_parameter(req, {})) return error_response(*bad);
  auto c = parse_consistency(req, clock_);
  if (!c) return error_response(c.error());
  // The plain shape straight from the body's bytes; anything else through
  // the JSON tree, which gives every refusal (decision_input.h).
  std::optional<ApplicationCheck> application;
  std::string logged_input;  // what the decision log records as the input
  domain::Result<domain::DecisionInput> in;
  if (auto plain = read_plain_decision_input(req.body, header_correlation_id(req), log_.buffer != nullptr)) {
    in = std::move(plain->input);
    application = std::move(plain->application);
    logged_input = std::move(plain->logged);
  } else {
    auto doc = commands::parse_json_document(req.body);
    if (!doc) return error_response(doc.error());
    in = parse_decision_input(*doc, header_correlation_id(req), application);
    if (!in) return error_response(in.error(), header_correlation_id(req));
    if (log_.buffer) logged_input = dump_lenient(*doc);
  }
  if (application && (!from_memory(req) || !chains_))
    return error_response(application_needs_memory(), in->correlation_id);
  if (auto ok = check_tenant(who, *in); !ok) {
    note_refusal(req, who, in->hierarchy.organization_id);
    return error_response(ok.error(), in->correlation_id);
  }
  // Both read models the answer uses must have reached the position asked for.
  RequestReaders readers(admission_, policy_);
  if (auto not_ready = readers.open(from_memory(req) ? memory_ : nullptr, *c, /*with_policy=*/true)) return *not_ready;
  // One snapshot: the admission model and the near-limit threshold.
  auto read = readers.admission().decision_reads(std::span(&*in, 1), c->as_of_position, std::string(kWarnThresholdKey));
  if (!read) return error_response(read.error(), in->correlation_id);
  auto out = decide_one(who, *in, read->front(), c->as_of);
  if (!out && out.error().kind == domain::ErrorKind::kPermissionDenied)
    note_refusal(req, who, refused_organization(out.error()));
  if (!out) return error_response(out.error(), in->correlation_id);
  MessageSource messages(readers.policy(), events::GlobalPosition{out->snapshot_version});
  // The chain, when the input names an application, folds into the
  // decision; the answer is written directly, without a tree.
  std::string application_text;
  if (application) {
    auto evidence = run_application(*out, *application, *in, readers.memory()->admission, *chains_, c->as_of, nullptr);
    if (!evidence) return error_response(evidence.error(), in->correlation_id);
    application_text = dump_lenient(*evidence);
  }
  auto m = messages.message(out->reason_code, request_locales(req), read->front(), c->as_of);
  if (!m) return error_response(m.error(), in->correlation_id);
  std::string body = decision_text(*out, c->as_of, *m, application_text);
  const std::string& decision = out->decision;
  const std::string& reason_code = out->reason_code;
  if (log_.buffer) {  // never waits: a full buffer drops and counts (decision_log_api.h)
    log_.buffer->push_made([&] {
      return decision_record_of(who, *in, logged_input, decision, reason_code, body, out->snapshot_version, c->as_of,
                                clock_.now());
    });
  }
  if (count_decision_) count_decision_(decision);
  return json_response(200, std::move(body));
}

HttpResponse AdmissionApi::decision_batch(const HttpRequest& req, const commands::Principal& who) {
  if (auto bad = unknown_parameter(req, {})) return error_response(*bad);
  auto c = parse_consistency(req, clock_);
  if (!c) return error_response(c.error());
  const std::string fallback = header_correlation_id(req);
  const bool with_log = log_.buffer != nullptr;

  // Each input as read, or why it was refused. A batch of plain inputs is
  // read straight from the body's bytes; any other through the JSON tree,
  // which gives every refusal (decision_input.h).
  struct Item {
    domain::Result<domain::DecisionInput> input;
    std::optional<ApplicationCheck> application;
    std::string logged;  // what the decision log records as the input
  };
  std::vector<Item> items;
  if (auto plain = read_plain_decision_batch(req.body, fallback, with_log, kMaxBatch)) {
    items.reserve(plain->size());
    for (auto& p : *plain) items.emplace_back(std::move(p.input), std::move(p.application), std::move(p.logged));
  } else {
    auto doc = commands::parse_json_document(req.body);
    if (!doc) return error_response(doc.error());
    if (doc->size() != 1 || !doc->contains("decisions") || !(*doc)["decisions"].is_array()) {
      return error_response(
          invalid_input("decisions", "the body must be {\"decisions\": [policy_decision_input, ...]}"));
    }
    const Json& tree = (*doc)["decisions"];
    if (tree.size() > kMaxBatch) {
      return error_response(
          invalid_input("decisions", "at most " + std::to_string(kMaxBatch) + " decisions per batch"));
    }
    items.reserve(tree.size());
    for (const auto& t : tree) {
      Item item;
      item.input = parse_decision_input(t, fallback, item.application);
      if (item.input && with_log) item.logged = dump_lenient(t);
      items.push_back(std::move(item));
    }
  }
  RequestReaders readers(admission_, policy_);  // every input from one snapshot
  if (auto not_ready = readers.open(from_memory(req) ? memory_ : nullptr, *c, /*with_policy=*/true)) return *not_ready;
  const projections::QuerySnapshot* memory = readers.memory();

  // The valid inputs are read from ONE snapshot; each answer is written as
  // text into its slot.
  std::vector<std::string> results(items.size());
  std::vector<domain::DecisionInput> inputs;
  std::vector<std::size_t> index_of;  // input k answers results[index_of[k]]
  inputs.reserve(items.size());
  index_of.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto& item = items[i];
    if (!item.input) {
      results[i] = dump_lenient(error_json(item.input.error()));
      continue;
    }
    if (item.application && (!memory || !chains_)) {
      results[i] = dump_lenient(error_json(application_needs_memory()));
      continue;
    }
    if (auto ok = check_tenant(who, *item.input); !ok) {
      note_refusal(req, who, item.input->hierarchy.organization_id);
      results[i] = dump_lenient(error_json(ok.error()));
      continue;
    }
    inputs.push_back(std::move(*item.input));
    index_of.push_back(i);
  }
  std::int64_t snapshot_version = 0;
  if (!inputs.empty()) {
    auto reads = readers.admission().decision_reads(inputs, c->as_of_position, std::string(kWarnThresholdKey));
    if (!reads) return error_response(reads.error());
    snapshot_version = reads->front().snapshot.snapshot_version;
    MessageSource messages(readers.policy(), events::GlobalPosition{snapshot_version});
    const auto locales = request_locales(req);
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      Item& item = items[index_of[k]];
      std::string& result = results[index_of[k]];
      auto out = decide_one(who, inputs[k], (*reads)[k], c->as_of);
      if (!out && out.error().kind == domain::ErrorKind::kPermissionDenied) {
        note_refusal(req, who, refused_organization(out.error()));
      }
      if (!out) {
        if (out.error().kind == domain::ErrorKind::kUnavailable || out.error().kind == domain::ErrorKind::kInternal) {
          return error_response(out.error());  // a dependency failed: no partial answer
        }
        result = dump_lenient(error_json(out.error()));
        continue;
      }
      std::string application_text;
      if (item.application) {
        auto evidence =
            run_application(*out, *item.application, inputs[k], memory->admission, *chains_, c->as_of, nullptr);
        if (!evidence) {
          result = dump_lenient(error_json(evidence.error()));
          continue;
        }
        application_text = dump_lenient(*evidence);
      }
      auto m = messages.message(out->reason_code, locales, (*reads)[k], c->as_of);
      if (!m) return error_response(m.error());  // a dependency failed: no partial answer
      result = decision_text(*out, c->as_of, *m, application_text);
      const std::string& decision = out->decision;
      const std::string& reason_code = out->reason_code;
      if (log_.buffer) {
        log_.buffer->push_made([&] {
          return decision_record_of(who, inputs[k], item.logged, decision, reason_code, result, out->snapshot_version,
                                    c->as_of, clock_.now());
        });
      }
      if (count_decision_) count_decision_(decision);
    }
  } else {
    auto cp = readers.admission().checkpoint();
    if (!cp) return error_response(cp.error());
    const auto& as_of_position = c->as_of_position;
    snapshot_version = (as_of_position ? std::min(*as_of_position, *cp) : *cp).value;
  }
  // {"as_of":...,"results":[...],"snapshot_version":N}: the members in the
  // order a JSON tree (std::map) would write them.
  std::size_t size = 64;
  for (const auto& r : results) size += r.size() + 1;
  std::string body;
  body.reserve(size);
  body += R"({"as_of":)";
  codec::append_json_string(body, codec::format_instant(c->as_of));
  body += R"(,"results":[)";
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (i > 0) body += ',';
    body += results[i];
  }
  body += R"(],"snapshot_version":)";
  body += std::to_string(snapshot_version);
  body += '}';
  return json_response(200, std::move(body));
}

HttpResponse AdmissionApi::effective_ceilings(const HttpRequest& req, const commands::Principal& who) {
  constexpr std::string_view kOwn[] = {"scope_level", "scope_id", "dimension", "window", "region", "sku_or_model"};
  if (auto bad = unknown_parameter(req, kOwn)) return error_response(*bad);
  auto c = parse_consistency(req, clock_);
  if (!c) return error_response(c.error());
  auto scope = scope_param(req, "scope_level", "scope_id");
  if (!scope) return error_response(scope.error());
  const auto dimension = req.query_param("dimension");
  const auto window = req.query_param("window");
  if (window && !domain::valid_window(*window)) {
    return error_response(bad_param("window", "window must be empty, minute, hour, day, month or request"));
  }
  if (is_tenant(who) && (scope->level == QuotaLevel::kGlobal || scope->level == QuotaLevel::kPlan)) {
    note_refusal(req, who, "platform");
    return error_response(forbidden(who, events::quota_level_name(scope->level)));
  }
  RequestReaders readers(admission_, policy_);
  if (auto not_ready = readers.open(from_memory(req) ? memory_ : nullptr, *c, /*with_policy=*/false)) return *not_ready;
  auto snap = readers.admission().effective_ceilings(*scope, dimension, c->as_of_position);
  if (!snap) return error_response(snap.error());
  if (snap->chain.empty()) {
    domain::Error e{domain::ErrorKind::kNotFound, "unknown_scope", "no such scope", {}};
    e.with("scope", domain::scope_text(*scope));
    return error_response(e);
  }
  if (is_tenant(who) && organization_of(snap->chain) != who.tenant) {
    note_refusal(req, who, organization_of(snap->chain));
    return error_response(forbidden(who, organization_of(snap->chain)));
  }

  // The (dimension, window) pairs to answer.
  std::set<std::pair<std::string, std::string>> targets;
  for (const auto& r : snap->rules) {
    if (window && r.target.window != *window) continue;
    targets.emplace(r.target.dimension, r.target.window);
  }
  if (dimension && targets.empty()) targets.emplace(*dimension, window.value_or(""));

  Json ceilings = Json::array();
  for (const auto& [dim, win] : targets) {
    std::vector<domain::CeilingRule> rules;
    std::vector<domain::Delegation> delegations;
    for (const auto& r : snap->rules) {
      if (r.target.dimension == dim) rules.push_back(r);
    }
    for (const auto& d : snap->delegations) {
      if (d.dimension == dim) delegations.push_back(d);
    }
    const events::CeilingTarget target{dim, win, req.query_param("region").value_or(""),
                                       req.query_param("sku_or_model").value_or("")};
    const auto eval = domain::evaluate_ceiling(snap->chain, rules, delegations, target, /*for_write=*/false);
    Json matched = Json::array();
    for (const auto& m : eval.effective.matched_rules) {
      matched.push_back(
          {{"rule_id", m.rule_id}, {"scope", quota_scope_json(m.scope)}, {"version", m.version}, {"kind", m.kind}});
    }
    const auto& e = eval.effective;
    ceilings.push_back({{"dimension", dim},
                        {"window", win},
                        {"region", target.region},
                        {"sku_or_model", target.sku_or_model},
                        {"quantity", nullable(e.quantity)},
                        {"unit", e.unit},
                        {"inherited_from", e.inherited_from ? quota_scope_json(*e.inherited_from) : Json()},
                        {"binding_rule_id", e.binding_rule_id.empty() ? Json() : Json(e.binding_rule_id)},
                        {"matched_rules", std::move(matched)},
                        {"allowed",
                         {{"quantity", nullable(eval.allowed.quantity)},
                          {"inherited_from",
                           eval.allowed.inherited_from ? quota_scope_json(*eval.allowed.inherited_from) : Json()}}}});
  }
  Json chain = Json::array();
  for (const auto& n : snap->chain) {
    Json j = quota_scope_json(n.scope);
    j["version"] = n.version;
    chain.push_back(std::move(j));
  }
  return json_response(200, dump_lenient({{"scope", quota_scope_json(*scope)},
                                          {"chain", std::move(chain)},
                                          {"ceilings", std::move(ceilings)},
                                          {"snapshot_version", snap->snapshot_version},
                                          {"as_of", codec::format_instant(c->as_of)}}));
}

HttpResponse AdmissionApi::reservation(const HttpRequest& req, const commands::Principal& who, const std::string& id) {
  constexpr std::string_view kOwn[] = {"organization_id"};
  if (auto bad = unknown_parameter(req, kOwn)) return error_response(*bad);
  auto c = parse_consistency(req, clock_);
  if (!c) return error_response(c.error());
  // Ids are unique per organization: a tenant reads its own organization's
  // (naming another answers like an unknown id); a platform principal names
  // the organization.
  auto organization = req.query_param("organization_id");
  const bool tenant = is_tenant(who);
  if (!tenant && (!organization || organization->empty())) {
    return error_response(bad_param("organization_id",
                                    "organization_id is required: reservation ids are unique "
                                    "within an organization"));
  }
  const bool foreign = tenant && organization && *organization != who.tenant;
  auto unknown = [&] {
    domain::Error e{domain::ErrorKind::kNotFound, "unknown_reservation", "no such reservation", {}};
    e.with("reservation_id", id);
    return error_response(e);
  };
  if (foreign) {
    note_refusal(req, who, *organization);
    return unknown();
  }
  const std::string org = tenant ? who.tenant : *organization;
  RequestReaders readers(admission_, policy_);
  if (auto not_ready = readers.open(from_memory(req) ? memory_ : nullptr, *c, /*with_policy=*/false)) return *not_ready;
  auto found = readers.admission().reservation(org, id, c->as_of_position);
  if (!found) return error_response(found.error());
  const auto& record = found->reservation;
  if (!record) return unknown();
  Json body = reservation_json(*record, c->as_of);
  body["as_of"] = codec::format_instant(c->as_of);
  body["snapshot_version"] = found->snapshot_version;
  return json_response(200, dump_lenient(body));
}

HttpResponse AdmissionApi::reservations(const HttpRequest& req, const commands::Principal& who) {
  constexpr std::string_view kOwn[] = {"organization_id", "scope_level", "scope_id", "owner_level",
                                       "owner_id",        "state",       "cursor",   "limit"};
  if (auto bad = unknown_parameter(req, kOwn)) return error_response(*bad);
  auto c = parse_consistency(req, clock_);
  if (!c) return error_response(c.error());
  projections::ReservationFilter f;
  f.organization_id = req.query_param("organization_id");
  // The owner is a scope: `scope_level` and `scope_id` as on every route;
  // `owner_level` and `owner_id`, the names it had first, still work.
  const bool by_scope = req.query_param("scope_level") || req.query_param("scope_id");
  const bool by_owner = req.query_param("owner_level") || req.query_param("owner_id");
  if (by_scope && by_owner) {
    return error_response(bad_param("owner_level",
                                    "name the owner by scope_level and scope_id or by owner_level "
                                    "and owner_id, not both"));
  }
  if (by_scope || by_owner) {
    auto owner = by_scope ? scope_param(req, "scope_level", "scope_id") : scope_param(req, "owner_level", "owner_id");
    if (!owner) return error_response(owner.error());
    f.owner = *owner;
  }
  if (auto state = req.query_param("state")) {
    if (std::find(std::begin(kStates), std::end(kStates), *state) == std::end(kStates)) {
      return error_response(
          bad_param("state", "state must be draft, active, exhausted, expired, suspended or retired"));
    }
    f.state = *state;
  }
  f.as_of = c->as_of;
  auto limit = int_param(req, "limit", kMaxPageSize);
  if (!limit || limit->value_or(1) < 1)
    return error_response(bad_param("limit", "limit must be an integer from 1 to 1000"));
  f.limit = static_cast<std::size_t>(limit->value_or(100));
  bool v1_cursor = false;
  if (auto cursor = req.query_param("cursor")) {
    auto text = unbase64url(*cursor);
    const bool v2 = text && text->rfind(kReservationCursor, 0) == 0;
    const bool v1 = text && text->rfind(kReservationCursorV1, 0) == 0;
    const std::size_t slash = v2 ? text->find('/', kReservationCursor.size()) : std::string::npos;
    if (cursor->empty() || !text || !(v1 || (v2 && slash != std::string::npos)) || base64url(*text) != *cursor) {
      return error_response({domain::ErrorKind::kInvalidArgument,
                             "invalid_cursor",
                             "cursor is malformed; pass back a next_cursor unchanged",
                             {}});
    }
    if (v2) {
      f.after_id = text->substr(kReservationCursor.size(), slash - kReservationCursor.size());
      f.after_organization_id = text->substr(slash + 1);
    } else {
      f.after_id = text->substr(kReservationCursorV1.size());
      v1_cursor = true;
    }
  }
  if (is_tenant(who)) {
    if (f.organization_id && *f.organization_id != who.tenant) {
      note_refusal(req, who, *f.organization_id);
      return error_response(forbidden(who, *f.organization_id));
    }
    f.organization_id = who.tenant;
  }
  // A v1 cursor names an id alone (unique then): within one organization
  // the page starts after that id's row.
  if (v1_cursor && f.organization_id) f.after_organization_id = *f.organization_id;
  if (auto not_ready = await_admission(admission_, *c, [&] { return admission_.checkpoint(); })) return *not_ready;
  auto page = admission_.reservations(f, c->as_of_position);
  if (!page) return error_response(page.error());
  Json items = Json::array();
  for (const auto& r : page->items) items.push_back(reservation_json(r, c->as_of));
  Json next = page->has_more ? Json(base64url(std::string(kReservationCursor) + page->items.back().view.reservation_id +
                                              "/" + page->items.back().organization_id))
                             : Json();
  return json_response(200, dump_lenient({{"items", std::move(items)},
                                          {"next_cursor", std::move(next)},
                                          {"has_more", page->has_more},
                                          {"snapshot_version", page->snapshot_version},
                                          {"as_of", codec::format_instant(c->as_of)}}));
}

domain::Result<Json> rederive_decision(const Json& input, const std::string& correlation_id,
                                       const projections::QuerySnapshot& snapshot, events::Instant as_of,
                                       const domain::app_policy::PolicyDeps& deps, const Json* logged_output) {
  std::optional<ApplicationCheck> application;
  auto in = parse_decision_input(input, correlation_id, application);
  if (!in) return std::unexpected(in.error());
  projections::SnapshotReader reader(snapshot);
  const std::string warn_key = kWarnThresholdKey;
  auto read = reader.decision_read(*in, &warn_key);
  commands::Principal platform;  // the auditor re-derives; the tenant check was the edge's
  platform.tenant = "platform";
  auto out = decide_one(platform, *in, read, as_of);
  if (!out) return std::unexpected(out.error());
  Json evidence;
  if (application) {
    // Counters (rate limits, token windows) lived in the answering
    // process: their recorded verdicts are taken, everything else derived.
    domain::app_policy::ChainRuntime replay(deps);
    const auto recorded = recorded_verdicts(logged_output);
    auto ran = run_application(*out, *application, *in, snapshot.admission, replay, as_of, &recorded);
    if (!ran) return std::unexpected(ran.error());
    evidence = std::move(*ran);
  }
  Json answer = decision_json(*out, as_of);
  if (application) answer["application"] = std::move(evidence);
  // A record from before product messages answered exactly the ledger's
  // text, with no user_message_source: derived as it was answered.
  if (logged_output && logged_output->is_object() && !logged_output->contains("user_message_source")) return answer;
  // The locales the request asked for are part of what it asked: the log keeps them.
  MessageSource messages(reader, snapshot.position);
  const auto locales = logged_output ? logged_message_locales(*logged_output) : std::vector<std::string>{};
  if (auto m = messages.apply(answer, locales, read, as_of); !m) return std::unexpected(m.error());
  return answer;
}

}  // namespace ledger::routes

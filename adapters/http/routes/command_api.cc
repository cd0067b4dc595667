#include "adapters/http/routes/command_api.h"
#include "adapters/http/routes/query_params.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <thread>

#include "adapters/http/routes/config_commands.h"
#include "adapters/http/routes/entitlement_commands.h"
#include "adapters/http/routes/http_json.h"
#include "adapters/http/routes/path_aliases.h"
#include "adapters/http/routes/request_actor.h"
#include "adapters/identity/kafka_producers.h"
#include "adapters/kafka/kafka.h"
#include "adapters/system/uuid.h"
#include "commands/access/authorization.h"
#include "commands/command_record.h"
#include "commands/decode.h"
#include "commands/edge_values.h"
#include "commands/idempotency.h"
#include "domain/config/secrets.h"
#include "domain/error_json.h"

namespace ledger::routes {

using adapters::identity::producer_topics_pattern;
using adapters::identity::ProducersFile;

using adapters::http::HttpRequest;
using adapters::http::HttpResponse;

namespace {

nlohmann::json accepted_evidence(const commands::Accepted& a) {
  // A record kept from before decided-at positions were recorded: unknown, said so.
  return {{"snapshot_kind", commands::kWriterSnapshotKind},
          {"snapshot_version", a.decided_at_position ? nlohmann::json(*a.decided_at_position) : nlohmann::json()}};
}

}  // namespace

std::string accepted_json(const commands::Accepted& a) {
  return nlohmann::json{{"status", "accepted"},
                        {"command_id", a.command_id},
                        {"event_ids", a.event_ids},
                        {"position", a.position},
                        {"stream_version", a.stream_version},
                        {"duplicate", a.duplicate},
                        // Accepted, and it changed nothing (e.g. an identical definition): no event.
                        {"no_change", a.event_ids.empty()},
                        {"evidence", accepted_evidence(a)}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string rejected_json(const std::string& command_id, const domain::Error& e) {
  nlohmann::json j = {{"status", "rejected"}, {"command_id", command_id}, {"code", e.code}, {"message", e.message}};
  if (e.kind != domain::ErrorKind::kInternal && e.kind != domain::ErrorKind::kUnavailable && !e.evidence.empty()) {
    j["evidence"] = domain::evidence_json(e);
  }
  // Never throws: odd bytes in an error (which the edges refuse anyway)
  // are replaced, not allowed to end the answer.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

// Decodes, authenticates and builds the request; the principal comes from
// the token only. `from_path`: fields the route's path names (an app id, a
// policy id), set in the body before decoding; a body naming another value
// for one of them is refused.
domain::Result<commands::CommandRequest> build_request(
    std::string_view type, std::string_view body, const commands::Principal& principal,
    const std::string& idempotency_key, const std::string& correlation_id,
    const std::vector<std::pair<std::string, std::string>>& from_path = {}) {
  auto doc = commands::parse_json_document(body.empty() && !from_path.empty() ? std::string_view("{}") : body);
  if (!doc) return std::unexpected(doc.error());
  for (const auto& [field, value] : from_path) {
    if (!doc->is_object()) break;  // the decoder refuses it
    auto it = doc->find(field);
    if (it != doc->end() && (!it->is_string() || it->get<std::string>() != value)) {
      domain::Error e{
          domain::ErrorKind::kInvalidArgument, "invalid_field", "field '" + field + "' must match the path", {}};
      e.with("field", field);
      return std::unexpected(std::move(e));
    }
    (*doc)[field] = value;
  }
  auto decoded = commands::decode_command(type, *doc);
  if (!decoded) return std::unexpected(decoded.error());
  commands::CommandRequest req;
  req.command = std::move(decoded->command);
  req.expected_version = decoded->expected_version;
  req.meta.principal = principal;
  req.meta.request_hash = decoded->request_hash;
  req.meta.command_id = !decoded->command_id.empty() ? decoded->command_id
                        : !idempotency_key.empty()   ? idempotency_key
                                                     : adapters::system::new_uuid();
  req.meta.correlation_id = correlation_id.empty() ? req.meta.command_id : correlation_id;
  return req;
}

// The seed-002 routes of application policy chains, as command types (the
// seed's /api/v1/admin/... paths are aliases: path_aliases.h):
//   POST   /v1/applications                         application.register
//   POST   /v1/applications/{app_id}/policies       app_policy.attach
//   PATCH  /v1/app-policies/{policy_id}             app_policy.update
//   DELETE /v1/app-policies/{policy_id}             app_policy.detach
// `type` is empty for a known path with another method.
struct AppPolicyRoute {
  std::string type;
  std::vector<std::pair<std::string, std::string>> from_path;
  std::string allowed_methods;
};
std::optional<AppPolicyRoute> app_policy_route(std::string_view path, std::string_view method) {
  constexpr std::string_view kApps = "/v1/applications";
  constexpr std::string_view kPolicies = "/v1/app-policies/";
  if (path == kApps) return AppPolicyRoute{method == "POST" ? "application.register" : "", {}, "POST"};
  if (path.starts_with(kApps) && path.size() > kApps.size() + 1 && path[kApps.size()] == '/' &&
      path.ends_with("/policies")) {
    const auto app =
        path.substr(kApps.size() + 1, path.size() - kApps.size() - 1 - std::string_view("/policies").size());
    if (app.empty() || app.find('/') != std::string_view::npos) return std::nullopt;
    return AppPolicyRoute{method == "POST" ? "app_policy.attach" : "", {{"application_id", std::string(app)}}, "POST"};
  }
  if (path.starts_with(kPolicies) && path.size() > kPolicies.size()) {
    const auto id = path.substr(kPolicies.size());
    if (id.find('/') != std::string_view::npos || id == "validate-cel" || id == "types" || id == "available-types") {
      return std::nullopt;
    }
    const std::string type = method == "PATCH" ? "app_policy.update" : method == "DELETE" ? "app_policy.detach" : "";
    return AppPolicyRoute{type, {{"policy_id", std::string(id)}}, "PATCH, DELETE"};
  }
  return std::nullopt;
}

}  // namespace

HttpResponse CommandApi::handle(const HttpRequest& req) {
  if (auto canonical = canonical_request(req)) return handle(*canonical);  // a seed's path or name (path_aliases.h)
  if (auto refused = refuse_media_type(req)) return finish(req, std::move(*refused));
  begin_request(req);
  return finish(req, route(req));
}

HttpResponse CommandApi::route(const HttpRequest& req) {
  // Header values reach events, answers and logs: checked before anything
  // else looks at them (commands/edge_values.h).
  auto corr_header = commands::header_id("x-correlation-id", req.header("x-correlation-id"));
  if (!corr_header) return error_response(corr_header.error());
  const std::string& correlation_id = *corr_header;
  auto idempotency_key = commands::header_id("idempotency-key", req.header("idempotency-key"));
  if (!idempotency_key) return error_response(idempotency_key.error(), correlation_id);

  // A command is its body: a query parameter is refused, never ignored
  // (seed 003's routes take `tenant`, as the seed does).
  const bool takes_tenant = req.path.starts_with("/v1/capabilities") || req.path.starts_with("/v1/plans") ||
                            req.path.starts_with("/v1/policies");
  auto query_refused = [&]() -> std::optional<HttpResponse> {
    for (const auto& [name, value] : req.query) {
      if (takes_tenant && name == "tenant") continue;
      return error_response(unknown_param(name), correlation_id);
    }
    return std::nullopt;
  };
  // Seed 004's PUT routes: the HTTP form of the config.*.set commands.
  if (is_config_write_path(req.path)) {
    if (auto refused = query_refused()) return *refused;
    return config_put(req, [this](const HttpRequest& r) { return handle(r); });
  }
  std::string type;
  std::vector<std::pair<std::string, std::string>> from_path;
  std::string allowed_methods = "POST";
  auto entitlement = entitlement_route(req);  // seed 003's REST routes (entitlement_commands.h)
  if (entitlement && !*entitlement) return error_response(entitlement->error(), correlation_id);
  if (entitlement)
    type = (*entitlement)->type;
  else if (req.path == "/v1/policy-values")
    type = "policy_value.set";  // seed 000's routes
  else if (req.path == "/v1/policy-keys")
    type = "policy_key.define";
  else if (req.path.starts_with("/v1/commands/"))
    type = req.path.substr(13);
  else if (auto app = app_policy_route(req.path, req.method)) {
    type = app->type;
    from_path = std::move(app->from_path);
    allowed_methods = app->allowed_methods;
  } else {
    return error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}}, correlation_id);
  }
  if (auto refused = query_refused()) return *refused;
  if (type.empty()) return method_not_allowed(allowed_methods);
  if (req.method != "POST" && from_path.empty()) return method_not_allowed("POST");

  auto principal = authenticate_request(auth_, req);
  if (!principal) return error_response(principal.error(), correlation_id);

  // The gate comes before decoding: a caller over its budget costs no parse.
  // The budget depends on the type alone (a scope refinement of the family
  // never changes it); an unknown type is refused by the decoder below.
  if (const auto type_family = commands::command_type_family(type); gate_ && type_family) {
    if (auto ok = gate_->admit(*principal, *type_family); !ok) return error_response(ok.error(), correlation_id);
  }
  auto request = build_request(type, entitlement ? std::string_view((*entitlement)->body) : std::string_view(req.body),
                               *principal, *idempotency_key, correlation_id, from_path);
  if (!request) return error_response(request.error(), correlation_id);
  const auto family = commands::command_family(request->command);
  if (auto allowed = commands::authorize(*principal, family); !allowed) {
    refusals_.record(refusal_of(*principal, commands::declared_tenant(request->command, *principal), family, "POST",
                                type, "role_not_allowed"),
                     request->meta.correlation_id);
    return error_response(allowed.error(), request->meta.correlation_id);
  }
  const std::string command_id = request->meta.command_id;
  const std::string corr = request->meta.correlation_id;
  // The id the attached policy gets (only app_policy.attach names one).
  const std::string policy_id = std::holds_alternative<domain::app_policy::AttachPolicy>(request->command)
                                    ? commands::attached_policy_id(request->meta)
                                    : std::string();
  auto outcome = service_.submit_async(std::move(*request)).get();
  if (!outcome) {
    spdlog::info("command rejected: command_id={} code={}", command_id, outcome.error().code);
    return error_response(outcome.error(), corr);
  }
  if (!policy_id.empty()) {
    // The seed answers the created policy; its id is derived from the
    // command (commands/idempotency.h attached_policy_id).
    auto body = nlohmann::json::parse(accepted_json(*outcome));
    body["id"] = policy_id;
    return json_response(200, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  if (entitlement) {
    const auto now =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch());
    // The commit time the writer recorded (the events' recorded_at), not this edge's clock.
    return json_response(200,
                         (*entitlement)->answer(*outcome, outcome->recorded_at.value_or(events::Instant{now.count()})));
  }
  return json_response(200, accepted_json(*outcome));
}

namespace {

// What became of one `ledger.commands` record: submitted (its outcome
// arrives with the group commit), or answered now. A record that cannot be
// handled at all (unreadable, or failed unexpectedly) is also copied to the
// dead-letter topic with the reason.
struct RecordOutcome {
  std::string result_key;      // the key of its answer on ledger.command-results
  std::string command_id;      // "" when the record has no valid one
  std::string correlation_id;  // validated, or ""
  std::optional<std::future<domain::Result<commands::Accepted>>> pending;
  std::optional<domain::Error> refused;
  std::string dead_letter_reason;  // non-empty: copy the record to the dead-letter topic
  // The record holds, or may hold, a configuration secret in clear: once
  // answered it is deleted from its topic, and a dead-letter copy never
  // carries its bytes (issue 16 part 4).
  bool purge = false;
};

domain::Error secrets_over_kafka() {
  return domain::Error{domain::ErrorKind::kFailedPrecondition,
                       "secrets_over_kafka",
                       "a configuration secret cannot travel in clear on a Kafka topic: send this document over "
                       "HTTPS (the record was deleted from its topic)",
                       {}};
}

// A dead-letter copy of a record that could not be decoded: its bytes are
// screened, since a broken config command may still hold a secret in clear.
bool may_carry_secret(const adapters::kafka::KafkaMessage& msg) {
  if (domain::config::may_carry_secret(msg.key) || domain::config::may_carry_secret(msg.value)) return true;
  for (const auto& [name, value] : msg.headers) {
    if (domain::config::may_carry_secret(name) || domain::config::may_carry_secret(value)) return true;
  }
  return false;
}

domain::Error record_failed() {
  return domain::Error{domain::ErrorKind::kInternal, "internal", "the record could not be handled", {}};
}

// Handles one record up to its submission. Never throws: whatever goes
// wrong is this record's outcome, never its neighbours' or the consumer's.
RecordOutcome handle_command_record(const adapters::kafka::KafkaMessage& msg, const KafkaCommandOptions& options,
                                    commands::CommandService& service, ProducersFile& producers,
                                    CommandServiceRefusals& refusals) noexcept {
  RecordOutcome out;
  try {
    out.result_key = commands::record_result_key(msg.topic, msg.partition, msg.offset);
    auto read = commands::read_command_record({msg.topic, msg.partition, msg.offset, msg.key, msg.value, msg.headers});
    out.result_key = read.result_key;
    out.command_id = read.command_id;
    out.correlation_id = read.correlation_id.empty() ? read.command_id : read.correlation_id;
    if (read.refused) {
      out.refused = std::move(*read.refused);
      out.dead_letter_reason = out.refused->code;
      out.purge = may_carry_secret(msg);
      return out;
    }
    // NOLINTNEXTLINE(bugprone-unchecked-optional-access): set unless refused (command_record.h)
    commands::DecodedCommand& command = *read.command;
    // Refused before anything else (who sent it, its budget, its role): the
    // secret is already in clear on the topic, and goes from there now.
    if (const auto* set = std::get_if<domain::config::SetConfigLayer>(&command.command)) {
      const auto doc = nlohmann::json::parse(set->value, nullptr, false);
      if (!doc.is_discarded() && domain::config::carries_secret_text(doc, set->ref)) {
        out.refused = secrets_over_kafka();
        out.purge = true;
        return out;
      }
    }
    // The topic is the identity: the producer's authenticated Kafka principal,
    // mapped to a ledger principal (a token header is refused, never read).
    auto principal = producers.principal_for_record(msg, options.commands_topic);
    if (!principal) {
      out.refused = principal.error();
      return out;
    }
    commands::CommandRequest request;
    request.command = std::move(command.command);
    request.expected_version = command.expected_version;
    request.meta.principal = *principal;
    request.meta.command_id = read.command_id;
    request.meta.correlation_id = read.correlation_id.empty() ? read.command_id : read.correlation_id;
    const auto family = commands::command_family(request.command);
    if (options.gate) {
      // A refusal the recorder reports draws on the refused principal's budget.
      if (auto ok = options.gate->admit(*principal, request.command); !ok) {
        out.refused = ok.error();
        return out;
      }
    }
    if (auto allowed = commands::authorize(*principal, family); !allowed) {
      refusals.record(refusal_of(*principal, commands::declared_tenant(request.command, *principal), family, "KAFKA",
                                 read.type, "role_not_allowed"),
                      request.meta.correlation_id);
      out.refused = allowed.error();
      return out;
    }
    out.pending = service.submit_async(std::move(request));
  } catch (const std::exception& e) {
    spdlog::error("kafka commands: record {}:{}:{} could not be handled: {}", msg.topic, msg.partition, msg.offset,
                  e.what());
    out.pending.reset();
    out.refused = record_failed();
    out.dead_letter_reason = out.refused->code;
    out.purge = may_carry_secret(msg);
  } catch (...) {
    spdlog::error("kafka commands: record {}:{}:{} could not be handled", msg.topic, msg.partition, msg.offset);
    out.pending.reset();
    out.refused = record_failed();
    out.dead_letter_reason = out.refused->code;
    out.purge = true;
  }
  return out;
}

// The record as it came, plus why it is here and where it came from. A
// record that may hold a secret is not copied: only why, where from and
// its size (kDeadLetterRedactedHeader), with no key, value or headers.
struct DeadLetter {
  std::string key;
  std::string value;
  adapters::kafka::KafkaHeaders headers;
};
DeadLetter dead_letter_of(const adapters::kafka::KafkaMessage& msg, const RecordOutcome& o) {
  DeadLetter d;
  if (!o.purge) {
    d.key = msg.key;
    d.value = msg.value;
    d.headers = msg.headers;
  } else {
    d.value = nlohmann::json{{"redacted",
                              "the record may hold a configuration secret in clear; its bytes were not "
                              "copied and it was deleted from its topic"},
                             {"bytes", msg.key.size() + msg.value.size()}}
                  .dump();
    d.headers.emplace_back(std::string(kDeadLetterRedactedHeader), "1");
  }
  d.headers.emplace_back(std::string(kDeadLetterReasonHeader), o.dead_letter_reason);
  d.headers.emplace_back(std::string(kDeadLetterSourceHeader),
                         commands::record_result_key(msg.topic, msg.partition, msg.offset));
  return d;
}

// Where the records to purge end: for each partition, the offset past the
// last such record of the batch.
void add_purges(std::map<std::pair<std::string, std::int32_t>, std::int64_t>& purges,
                const std::vector<adapters::kafka::KafkaMessage>& batch, const std::vector<RecordOutcome>& outcomes) {
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (!outcomes[i].purge) continue;
    auto& end = purges[{batch[i].topic, batch[i].partition}];
    end = std::max(end, batch[i].offset + 1);
  }
}

// Deletes the records to purge (everything below each end: those were all
// answered and their offsets committed). What fails stays for the next
// batch; the records are logged by coordinates only.
void purge_records(const KafkaCommandOptions& options,
                   std::map<std::pair<std::string, std::int32_t>, std::int64_t>& purges) {
  if (purges.empty()) return;
  std::vector<adapters::kafka::PartitionOffset> before;
  for (const auto& [tp, end] : purges) before.push_back({tp.first, tp.second, end});
  auto ok =
      adapters::kafka::delete_records_before(options.brokers, options.kafka_security, before, std::chrono::seconds(10));
  if (!ok) {
    for (const auto& p : before) {
      spdlog::error(
          "kafka commands: records of {}:{} below offset {} may hold a secret in clear and could not be "
          "deleted yet ({}: {}); retrying after the next batch",
          p.topic, p.partition, p.offset, ok.error().code, ok.error().message);
    }
    return;
  }
  for (const auto& p : before) {
    spdlog::warn("kafka commands: deleted the records of {}:{} below offset {} (a secret in clear)", p.topic,
                 p.partition, p.offset);
  }
  purges.clear();
}

}  // namespace

void run_kafka_commands(const KafkaCommandOptions& options, commands::CommandService& service,
                        const std::atomic<bool>& stop) {
  using namespace std::chrono_literals;
  namespace kafka = adapters::kafka;
  std::unique_ptr<kafka::KafkaConsumer> consumer;
  std::unique_ptr<kafka::KafkaProducer> producer;
  CommandServiceRefusals refusals(service);
  ProducersFile producers(options.producers_file);
  // Every producer's topic, including those added while we run (librdkafka
  // re-evaluates the pattern on each metadata refresh).
  const std::string pattern = producer_topics_pattern(options.commands_topic);
  // Records holding a secret in clear, answered and committed, not yet deleted.
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> purges;

  while (!stop) {
    // Nothing that happens to one batch may end the consumer thread (and with
    // it the process): an unexpected failure drops the clients and re-reads
    // from the last committed offset, which outcomes make safe.
    try {
      if (!service.is_writer()) {
        if (consumer) {
          spdlog::info("kafka commands: not the writer any more, leaving the consumer group");
          consumer->close();
          consumer.reset();
        }
        std::this_thread::sleep_for(200ms);
        continue;
      }
      if (!producer) {
        auto p = kafka::KafkaProducer::create(
            {.brokers = options.brokers, .security = options.kafka_security, .client_id = "ledger-command-results"});
        if (!p) {
          spdlog::warn("kafka commands: producer unavailable: {}", p.error().message);
          std::this_thread::sleep_for(1s);
          continue;
        }
        producer = std::move(*p);
      }
      if (!consumer) {
        auto c = kafka::KafkaConsumer::create({.brokers = options.brokers,
                                               .security = options.kafka_security,
                                               .group_id = options.group_id,
                                               .topics = {pattern}});
        if (!c) {
          spdlog::warn("kafka commands: consumer unavailable: {}", c.error().message);
          std::this_thread::sleep_for(1s);
          continue;
        }
        consumer = std::move(*c);
      }
      auto batch = consumer->poll(500, 200ms);
      if (!batch) {
        spdlog::warn("kafka commands: poll failed: {}", batch.error().message);
        consumer.reset();
        std::this_thread::sleep_for(1s);
        continue;
      }
      if (batch->empty()) continue;

      // Submit the whole batch first so it shares group commits, then answer.
      std::vector<RecordOutcome> outcomes;
      outcomes.reserve(batch->size());
      for (const auto& msg : *batch)
        outcomes.push_back(handle_command_record(msg, options, service, producers, refusals));

      bool retry_later = false;
      for (std::size_t i = 0; i < outcomes.size(); ++i) {
        auto& o = outcomes[i];
        const auto& msg = (*batch)[i];
        std::string result;
        try {
          if (o.pending) {
            auto r = o.pending->get();
            if (!r && r.error().kind == domain::ErrorKind::kUnavailable) {
              retry_later = true;  // not decided: read it again later, answer nothing now
              continue;
            }
            result = r ? accepted_json(*r) : rejected_json(o.command_id, r.error());
          } else {
            domain::Error e = o.refused ? *o.refused : record_failed();
            if (o.command_id.empty()) e.with("record", o.result_key);
            result = rejected_json(o.command_id, e);
          }
        } catch (const std::exception& e) {
          spdlog::error("kafka commands: record {}:{}:{} could not be answered: {}", msg.topic, msg.partition,
                        msg.offset, e.what());
          o.dead_letter_reason = "internal";
          result = rejected_json(o.command_id, record_failed());
        }
        // Headers any client reads without parsing the value: the answer's
        // command and correlation ids (validated ids only; "" when the
        // record had none) and its content type.
        if (auto ok = producer->produce(options.results_topic, o.result_key, result,
                                        {{"content-type", "application/json"},
                                         {"command_id", o.command_id},
                                         {"correlation_id", o.correlation_id}});
            !ok) {
          retry_later = true;
        }
        if (!o.dead_letter_reason.empty()) {
          spdlog::warn("kafka commands: record {}:{}:{} dead-lettered to {}: {}", msg.topic, msg.partition, msg.offset,
                       options.dead_letter_topic, o.dead_letter_reason);
          auto dead = dead_letter_of(msg, o);
          if (auto ok = producer->produce(options.dead_letter_topic, dead.key, dead.value, dead.headers); !ok) {
            retry_later = true;
          }
        }
      }
      auto flushed = producer->flush(10s);
      if (retry_later || !flushed) {
        // Re-read from the last committed offset: outcomes are idempotent.
        spdlog::warn("kafka commands: dependency unavailable, re-reading the batch later");
        consumer.reset();
        if (!flushed) producer.reset();
        std::this_thread::sleep_for(500ms);
        continue;
      }
      if (auto ok = consumer->commit(*batch); !ok) {
        spdlog::warn("kafka commands: offset commit failed: {}", ok.error().message);
      } else {
        add_purges(purges, *batch, outcomes);
      }
      purge_records(options, purges);
    } catch (const std::exception& e) {
      spdlog::error("kafka commands: batch failed unexpectedly, re-reading it: {}", e.what());
      consumer.reset();
      producer.reset();
      std::this_thread::sleep_for(1s);
    } catch (...) {
      spdlog::error("kafka commands: batch failed unexpectedly, re-reading it");
      consumer.reset();
      producer.reset();
      std::this_thread::sleep_for(1s);
    }
  }
  if (consumer) consumer->close();
}

}  // namespace ledger::routes

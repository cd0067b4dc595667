#include "services/components/command_api.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <thread>

#include "adapters/kafka/kafka.h"
#include "adapters/system/uuid.h"
#include "commands/authorization.h"
#include "commands/decode.h"
#include "services/components/http_json.h"

namespace ledger::services {

using adapters::http::HttpRequest;
using adapters::http::HttpResponse;

std::string accepted_json(const commands::Accepted& a) {
  return nlohmann::json{{"status", "accepted"},
                        {"command_id", a.command_id},
                        {"event_ids", a.event_ids},
                        {"position", a.position},
                        {"stream_version", a.stream_version},
                        {"duplicate", a.duplicate}}
      .dump();
}

std::string rejected_json(const std::string& command_id, const domain::Error& e) {
  nlohmann::json j = {{"status", "rejected"}, {"command_id", command_id}, {"code", e.code}, {"message", e.message}};
  if (e.kind != domain::ErrorKind::kInternal && e.kind != domain::ErrorKind::kUnavailable && !e.evidence.empty()) {
    nlohmann::json ev = nlohmann::json::object();
    for (const auto& [k, v] : e.evidence) ev[k] = v;
    j["evidence"] = std::move(ev);
  }
  return j.dump();
}

namespace {

// Decodes, authenticates and builds the request; the principal comes from
// the token only.
domain::Result<commands::CommandRequest> build_request(std::string_view type, std::string_view body,
                                                       const commands::Principal& principal,
                                                       const std::string* idempotency_key,
                                                       const std::string& correlation_id) {
  auto doc = commands::parse_json_document(body);
  if (!doc) return std::unexpected(doc.error());
  auto decoded = commands::decode_command(type, *doc);
  if (!decoded) return std::unexpected(decoded.error());
  commands::CommandRequest req;
  req.command = std::move(decoded->command);
  req.expected_version = decoded->expected_version;
  req.meta.principal = principal;
  req.meta.request_hash = decoded->request_hash;
  req.meta.command_id = !decoded->command_id.empty() ? decoded->command_id
                        : (idempotency_key && !idempotency_key->empty() && idempotency_key->size() <= 128)
                            ? *idempotency_key
                            : adapters::system::new_uuid();
  req.meta.correlation_id = correlation_id.empty() ? req.meta.command_id : correlation_id;
  return req;
}

}  // namespace

HttpResponse CommandApi::handle(const HttpRequest& req) {
  const std::string* corr_header = req.header("x-correlation-id");
  const std::string correlation_id = corr_header && corr_header->size() <= 128 ? *corr_header : std::string();

  std::string type;
  if (req.path == "/api/v1/admin/policy-values") type = "policy_value.set";
  else if (req.path == "/api/v1/admin/policy-keys") type = "policy_key.define";
  else if (req.path.rfind("/v1/commands/", 0) == 0) type = req.path.substr(13);
  else return error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}}, correlation_id);
  if (req.method != "POST") {
    auto r = error_response({domain::ErrorKind::kInvalidArgument, "method_not_allowed", "use POST", {}});
    r.status = 405;
    r.headers.emplace_back("allow", "POST");
    return r;
  }

  const std::string* auth_header = req.header("authorization");
  auto principal = auth_.authenticate(auth_header ? *auth_header : std::string_view());
  if (!principal) return error_response(principal.error(), correlation_id);

  // The gate comes before decoding: a caller over its budget costs no parse.
  // The budget depends on the type alone (a scope refinement of the family
  // never changes it); an unknown type is refused by the decoder below.
  if (const auto type_family = commands::command_type_family(type); gate_ && type_family) {
    if (auto ok = gate_->admit(*principal, *type_family); !ok) return error_response(ok.error(), correlation_id);
  }
  auto request = build_request(type, req.body, *principal, req.header("idempotency-key"), correlation_id);
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
  auto outcome = service_.submit_async(std::move(*request)).get();
  if (!outcome) {
    spdlog::info("command rejected: command_id={} code={}", command_id, outcome.error().code);
    return error_response(outcome.error(), corr);
  }
  return json_response(200, accepted_json(*outcome));
}

void run_kafka_commands(const KafkaCommandOptions& options, commands::CommandService& service,
                        const commands::TokenAuthenticator& auth, const std::atomic<bool>& stop) {
  using namespace std::chrono_literals;
  namespace kafka = adapters::kafka;
  std::unique_ptr<kafka::KafkaConsumer> consumer;
  std::unique_ptr<kafka::KafkaProducer> producer;
  CommandServiceRefusals refusals(service);

  while (!stop) {
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
      auto p = kafka::KafkaProducer::create({.brokers = options.brokers, .client_id = "ledger-command-results"});
      if (!p) {
        spdlog::warn("kafka commands: producer unavailable: {}", p.error().message);
        std::this_thread::sleep_for(1s);
        continue;
      }
      producer = std::move(*p);
    }
    if (!consumer) {
      auto c = kafka::KafkaConsumer::create(
          {.brokers = options.brokers, .group_id = options.group_id, .topics = {options.commands_topic}});
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
    struct InFlight {
      std::string command_id;
      std::optional<std::future<domain::Result<commands::Accepted>>> outcome;
      std::optional<domain::Error> refused;  // decided without the store
    };
    std::vector<InFlight> flights;
    flights.reserve(batch->size());
    for (const auto& msg : *batch) {
      InFlight f;
      auto doc = commands::parse_json_document(msg.value);
      std::string type = "policy_value.set";
      if (doc && doc->contains("type")) {
        if ((*doc)["type"].is_string()) type = (*doc)["type"].get<std::string>();
        else type.clear();
      }
      if (doc && doc->contains("command_id") && (*doc)["command_id"].is_string()) {
        f.command_id = (*doc)["command_id"].get<std::string>();
      }
      if (f.command_id.empty()) f.command_id = msg.key;
      const std::string* token = msg.header("authorization");
      auto principal = auth.authenticate(token ? *token : std::string_view());
      if (!doc) {
        f.refused = doc.error();
      } else if (f.command_id.empty()) {
        f.refused = domain::Error{domain::ErrorKind::kInvalidArgument, "missing_field",
                                  "commands on Kafka need a command_id", {}};
      } else if (!principal) {
        f.refused = principal.error();
      } else {
        const std::string* corr = msg.header("correlation-id");
        auto request = build_request(type, msg.value, *principal, nullptr, corr ? *corr : std::string());
        std::optional<domain::Error> gated;
        if (request && options.gate) {
          if (auto ok = options.gate->admit(*principal, commands::command_family(request->command)); !ok) {
            gated = ok.error();
          }
        }
        if (!request) {
          f.refused = request.error();
        } else if (gated) {
          f.refused = std::move(gated);
        } else if (auto allowed = commands::authorize(*principal, commands::command_family(request->command));
                   !allowed) {
          refusals.record(refusal_of(*principal, commands::declared_tenant(request->command, *principal),
                                     commands::command_family(request->command), "KAFKA", type, "role_not_allowed"),
                          request->meta.correlation_id);
          f.refused = allowed.error();
        } else {
          f.outcome = service.submit_async(std::move(*request));
        }
      }
      flights.push_back(std::move(f));
    }
    bool retry_later = false;
    for (auto& f : flights) {
      std::string result;
      if (f.refused) {
        result = rejected_json(f.command_id, *f.refused);
      } else {
        auto o = f.outcome->get();
        if (!o && o.error().kind == domain::ErrorKind::kUnavailable) {
          retry_later = true;  // not decided: read it again later, answer nothing now
          continue;
        }
        result = o ? accepted_json(*o) : rejected_json(f.command_id, o.error());
      }
      if (auto ok = producer->produce(options.results_topic, f.command_id, result); !ok) retry_later = true;
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
    }
  }
  if (consumer) consumer->close();
}

}  // namespace ledger::services

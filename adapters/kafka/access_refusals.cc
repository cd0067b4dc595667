#include "adapters/kafka/access_refusals.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <chrono>

#include "adapters/kafka/kafka.h"
#include "adapters/system/uuid.h"
#include "domain/access/access_refusal.h"

namespace ledger::adapters::kafka {

events::AccessRefused refusal_of(const commands::Principal& who, std::string target_tenant,
                                 commands::RouteFamily family, std::string method, std::string target,
                                 std::string reason) {
  events::AccessRefused r;
  r.actor_type = who.actor.type;
  r.actor_id = who.actor.id;
  r.actor_roles = who.actor.roles;
  r.principal_tenant = who.tenant;
  if (target_tenant.empty()) {
    r.target_tenant = who.tenant;
  } else {
    r.target_tenant = std::move(target_tenant);
  }
  r.route_family = std::string(commands::family_name(family));
  r.method = std::move(method);
  r.target = std::move(target);
  r.reason = std::move(reason);
  // Bounded like every event field (domain/access/access_refusal.h): a long
  // request target, tenant or principal field is recorded cut, not lost.
  return domain::bounded(std::move(r));
}

commands::Principal refusal_recorder_principal() {
  // The refusal recorder (commands/access/authorization.h): the only principal
  // that may file a refusal under another tenant than its own.
  return commands::Principal{events::Actor{"worker", "ledger-command", {"refusal_recorder"}},
                             std::string(commands::kRefusalRecorderTenant)};
}

namespace {

// No token, no query string: only who, where and what kind of route.
void log_refusal(const events::AccessRefused& r) {
  spdlog::warn("access refused: principal {}:{} of tenant {} -> tenant {} route_family={} {} {} reason={}",
               r.actor_type, r.actor_id, r.principal_tenant, r.target_tenant, r.route_family, r.method, r.target,
               r.reason);
}

}  // namespace

void CommandServiceRefusals::record(events::AccessRefused refusal, const std::string& correlation_id) {
  log_refusal(refusal);
  std::lock_guard lock(mu_);
  while (!in_flight_.empty() && in_flight_.front().wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    in_flight_.pop_front();
  }
  if (in_flight_.size() >= max_in_flight_) {
    ++dropped_;
    spdlog::warn("access refusal not recorded: {} already waiting for the writer", in_flight_.size());
    return;
  }
  commands::CommandRequest req;
  req.meta.command_id = "access-refused:" + adapters::system::new_uuid();
  req.meta.correlation_id = correlation_id.empty() ? req.meta.command_id : correlation_id;
  req.meta.principal = refusal_recorder_principal();
  req.command = domain::RecordAccessRefusal{std::move(refusal)};
  in_flight_.push_back(service_.submit_async(std::move(req)));
}

KafkaRefusals::KafkaRefusals(Options options) : options_(std::move(options)) {
  thread_ = std::thread([this] {
    // Recording never ends the process: a failure is logged and the queue
    // served again.
    for (;;) {
      try {
        run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("access refusals: unexpected failure, restarting: {}", e.what());
      } catch (...) {
        spdlog::error("access refusals: unexpected failure, restarting");
      }
    }
  });
}

KafkaRefusals::~KafkaRefusals() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void KafkaRefusals::record(events::AccessRefused refusal, const std::string& correlation_id) {
  log_refusal(refusal);
  const std::string command_id = "access-refused:" + adapters::system::new_uuid();
  nlohmann::json body = {{"type", "access.record_refusal"},
                         {"command_id", command_id},
                         {"actor_type", refusal.actor_type},
                         {"actor_id", refusal.actor_id},
                         {"actor_roles", refusal.actor_roles},
                         {"principal_tenant", refusal.principal_tenant},
                         {"target_tenant", refusal.target_tenant},
                         {"route_family", refusal.route_family},
                         {"method", refusal.method},
                         {"target", refusal.target},
                         {"reason", refusal.reason}};
  (void)correlation_id;  // the command id correlates; headers carry it too
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= options_.max_queued) {
      ++dropped_;
      spdlog::warn("access refusal not published: {} already queued", queue_.size());
      return;
    }
    queue_.emplace_back(command_id, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  cv_.notify_one();
}

void KafkaRefusals::run() {
  using namespace std::chrono_literals;
  std::unique_ptr<adapters::kafka::KafkaProducer> producer;
  for (;;) {
    std::deque<std::pair<std::string, std::string>> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      batch.swap(queue_);
    }
    if (!producer) {
      auto p = adapters::kafka::KafkaProducer::create({.brokers = options_.brokers,
                                                       .security = options_.kafka_security,
                                                       .client_id = "ledger-query-refusals",
                                                       .enqueue_timeout_ms = 100});
      if (!p) {
        dropped_ += batch.size();
        spdlog::warn("access refusals not published: kafka producer unavailable: {}", p.error().message);
        std::this_thread::sleep_for(500ms);
        continue;
      }
      producer = std::move(*p);
    }
    bool failed = false;
    for (const auto& [id, body] : batch) {
      if (auto ok = producer->produce(options_.commands_topic, id, body); !ok) {
        ++dropped_;
        failed = true;
      }
    }
    if (auto ok = producer->flush(5s); !ok) failed = true;
    if (failed) {
      spdlog::warn("access refusals: some could not be published to {}", options_.commands_topic);
      producer.reset();
    }
  }
}

}  // namespace ledger::adapters::kafka

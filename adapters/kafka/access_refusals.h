// Where the HTTP and Kafka edges report the requests they refused
// (invariant 7: every refusal is itself an audit event, AccessRefused).
//
//   refusals.record(refusal_of(who, "org-acme", RouteFamily::kAuditRead, "GET", "/v1/audit",
//                              "tenant_mismatch"), correlation_id);
//
// record() never blocks and never fails the answer it accompanies: a
// refusal that cannot be queued (the bound is reached, Kafka is away) is
// dropped, counted and logged without any token or query string. Two
// implementations:
//   CommandServiceRefusals  in ledger-command: an `access.record_refusal`
//                           command into its own CommandService, at most
//                           `max_in_flight` unanswered at a time.
//   KafkaRefusals           in ledger-query, which never writes to the
//                           database: the same command on its own producer
//                           topic `ledger.commands.ledger-query` as Kafka
//                           principal ledger-query (mapped to the platform
//                           service account ledger-query, role
//                           refusal_recorder), keyed by its command id,
//                           from a bounded queue drained by one thread.
// Both are thread-safe. The principal that submits the record is the
// recorder (the command service itself, or the query service's producer); the
// event's actor is the refused principal (commands/command_service.cc).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <future>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "adapters/kafka/kafka.h"
#include "commands/access/authorization.h"
#include "commands/command_service.h"
#include "events/access_events.h"

namespace ledger::adapters::kafka {

class RefusalRecorder {
 public:
  virtual ~RefusalRecorder() = default;
  virtual void record(events::AccessRefused refusal, const std::string& correlation_id) = 0;
};

// The event of one refusal; `target` must already be free of query strings
// and secrets (a path, or a command type).
events::AccessRefused refusal_of(const commands::Principal& who, std::string target_tenant,
                                 commands::RouteFamily family, std::string method, std::string target,
                                 std::string reason);

// The principal the command service records its own refusals under.
commands::Principal refusal_recorder_principal();

class CommandServiceRefusals final : public RefusalRecorder {
 public:
  explicit CommandServiceRefusals(commands::CommandService& service, std::size_t max_in_flight = 1024)
      : service_(service), max_in_flight_(max_in_flight) {}
  void record(events::AccessRefused refusal, const std::string& correlation_id) override;
  std::size_t dropped() const { return dropped_.load(); }

 private:
  commands::CommandService& service_;
  const std::size_t max_in_flight_;
  std::mutex mu_;
  std::deque<std::future<domain::Result<commands::Accepted>>> in_flight_;
  std::atomic<std::size_t> dropped_{0};
};

class KafkaRefusals final : public RefusalRecorder {
 public:
  struct Options {
    std::string brokers;
    adapters::kafka::KafkaSecurity kafka_security{};  // the query service's own principal
    std::string
        commands_topic;  // its own producer topic, <commands>.ledger-query (no token: the topic is the identity)
    std::size_t max_queued = 1024;
  };
  explicit KafkaRefusals(Options options);
  ~KafkaRefusals() override;
  KafkaRefusals(const KafkaRefusals&) = delete;
  KafkaRefusals& operator=(const KafkaRefusals&) = delete;

  void record(events::AccessRefused refusal, const std::string& correlation_id) override;
  std::size_t dropped() const { return dropped_.load(); }

 private:
  void run();

  Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, std::string>> queue_;  // (command id, JSON body)
  bool stopping_ = false;
  std::atomic<std::size_t> dropped_{0};
  std::thread thread_;
};

}  // namespace ledger::adapters::kafka

// KafkaConsumer on RdKafka::KafkaConsumer (consumer group, classic protocol).
// Assignment is handled by librdkafka (no rebalance callback), commits go
// through the C API so that they can be bounded by a timeout.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "adapters/kafka/kafka.h"
#include "adapters/kafka/kafka_support.h"

namespace ledger::adapters::kafka {
namespace {

using Clock = std::chrono::steady_clock;
using detail::to_timeout_ms;

// "range" (eager), not "cooperative-sticky": with librdkafka 2.0.2 a
// cooperative member's close() revokes its partitions but sends no
// LeaveGroup, so its successor waits session.timeout.ms (10 s, measured
// against Kafka 4.1.1) before it gets them; with range it joins in ~20 ms.
// Both use the classic group protocol (librdkafka 2.0 predates KIP-848).
constexpr const char* kAssignmentStrategy = "range";

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* p) const noexcept {
    if (p != nullptr) rd_kafka_topic_partition_list_destroy(p);
  }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* p) const noexcept {
    if (p != nullptr) rd_kafka_queue_destroy(p);
  }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* p) const noexcept {
    if (p != nullptr) rd_kafka_event_destroy(p);
  }
};

bool is_permanent(RdKafka::ErrorCode err) {
  switch (err) {
    case RdKafka::ERR__FATAL:
    case RdKafka::ERR__AUTHENTICATION:
    case RdKafka::ERR_SASL_AUTHENTICATION_FAILED:
    case RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED:
    case RdKafka::ERR_GROUP_AUTHORIZATION_FAILED:
    case RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED:
      return true;
    default:
      return false;
  }
}

}  // namespace

struct KafkaConsumer::Impl {
  // Declaration order matters: the event logger must outlive the handle.
  KafkaConsumer::Options options;
  std::unique_ptr<RdKafka::EventCb> events;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;

  ~Impl() { close(); }

  void close() noexcept {
    if (!consumer) return;
    try {
      if (const auto err = consumer->close(); err != RdKafka::ERR_NO_ERROR) {
        spdlog::warn("kafka consumer {}: close: {}", options.group_id, detail::error_name(err));
      }
    } catch (...) {  // NOLINT(bugprone-empty-catch): only the log line can throw; closing goes on regardless
    }
    consumer.reset();
  }

  domain::Error fatal_error(std::string_view operation, RdKafka::ErrorCode err, const std::string& errstr) const {
    std::string why = errstr;
    if (err == RdKafka::ERR__FATAL) {
      std::string fatal;
      if (const auto cause = consumer->fatal_error(fatal); cause != RdKafka::ERR_NO_ERROR) {
        why = detail::error_name(cause) + ": " + fatal;
      }
    }
    auto e = detail::from_rdkafka(err, operation, why);
    e.with("group", options.group_id);
    return e;
  }
};

KafkaConsumer::KafkaConsumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaConsumer::~KafkaConsumer() = default;

domain::Result<std::unique_ptr<KafkaConsumer>> KafkaConsumer::create(Options options) {
  return detail::guarded<std::unique_ptr<KafkaConsumer>>(
      "consumer_create", [&]() -> domain::Result<std::unique_ptr<KafkaConsumer>> {
        if (options.brokers.empty() || options.group_id.empty() || options.topics.empty()) {
          return domain::fail(domain::ErrorKind::kInvalidArgument, "kafka_config_invalid",
                              "a Kafka consumer needs brokers, a group id and topics");
        }
        auto impl = std::make_unique<Impl>();
        impl->options = std::move(options);
        const auto& o = impl->options;
        impl->events = detail::make_event_logger("consumer " + o.group_id);

        std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
        const std::pair<std::string, std::string> settings[] = {
            {"bootstrap.servers", o.brokers},
            {"group.id", o.group_id},
            {"client.id", o.client_id},
            {"enable.auto.commit", "false"},
            {"enable.auto.offset.store", "false"},
            {"auto.offset.reset", "earliest"},
            {"enable.partition.eof", "false"},
            {"partition.assignment.strategy", kAssignmentStrategy},
            {"session.timeout.ms", std::to_string(o.session_timeout_ms)},
            {"heartbeat.interval.ms", std::to_string(std::max(100, o.session_timeout_ms / 10))},
            // Notices new topics and partitions quickly (default 5 min).
            {"topic.metadata.refresh.interval.ms", "5000"},
            {"log.connection.close", "false"},
            {"fetch.min.bytes", std::to_string(o.fetch_min_bytes)},
            {"fetch.wait.max.ms", std::to_string(o.fetch_wait_max_ms)},
        };
        for (const auto& [name, value] : settings) {
          if (auto ok = detail::set_config(*conf, name, value); !ok) return std::unexpected(std::move(ok.error()));
        }
        for (const auto& [name, value] : detail::security_config(o.security)) {
          if (auto ok = detail::set_config(*conf, name, value); !ok) return std::unexpected(std::move(ok.error()));
        }
        std::string errstr;
        if (conf->set("event_cb", impl->events.get(), errstr) != RdKafka::Conf::CONF_OK) {
          return std::unexpected(detail::internal_error("consumer_create", errstr));
        }
        impl->consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), errstr));
        if (!impl->consumer) {
          domain::Error e{
              domain::ErrorKind::kInvalidArgument, "kafka_config_invalid", "could not create the Kafka consumer", {}};
          e.with("detail", errstr);
          return std::unexpected(std::move(e));
        }
        if (const auto err = impl->consumer->subscribe(impl->options.topics); err != RdKafka::ERR_NO_ERROR) {
          auto e = detail::from_rdkafka(err, "subscribe");
          impl->close();
          return std::unexpected(std::move(e));
        }
        return std::unique_ptr<KafkaConsumer>(new KafkaConsumer(std::move(impl)));
      });
}

domain::Result<std::vector<KafkaMessage>> KafkaConsumer::poll(std::size_t max_messages,
                                                              std::chrono::milliseconds timeout) {
  return detail::guarded<std::vector<KafkaMessage>>(
      "consumer_poll", [&]() -> domain::Result<std::vector<KafkaMessage>> {
        if (!impl_->consumer) {
          return domain::fail(domain::ErrorKind::kFailedPrecondition, "kafka_closed", "the consumer is closed");
        }
        std::vector<KafkaMessage> out;
        const auto deadline = Clock::now() + timeout;
        while (out.size() < max_messages) {
          // Wait for the first record only; afterwards take what is buffered.
          const int wait =
              out.empty()
                  ? to_timeout_ms(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()))
                  : 0;
          std::unique_ptr<RdKafka::Message> message(impl_->consumer->consume(wait));
          if (!message) break;
          const auto err = message->err();
          if (err == RdKafka::ERR_NO_ERROR) {
            out.push_back(detail::to_kafka_message(*message));
            continue;
          }
          if (err == RdKafka::ERR__TIMED_OUT) break;
          if (err == RdKafka::ERR__PARTITION_EOF) continue;
          if (is_permanent(err)) return std::unexpected(impl_->fatal_error("consumer_poll", err, message->errstr()));
          // Topic not there yet, leader moves, broker down, poll interval
          // exceeded (rejoins on the next call): librdkafka recovers.
          spdlog::warn("kafka consumer {}: {} on {} [{}]: {}", impl_->options.group_id, detail::error_name(err),
                       message->topic_name(), message->partition(), message->errstr());
        }
        return out;
      });
}

domain::Result<void> KafkaConsumer::commit(const std::vector<KafkaMessage>& processed,
                                           std::chrono::milliseconds timeout) {
  return detail::guarded<void>("commit", [&]() -> domain::Result<void> {
    if (!impl_->consumer) {
      return domain::fail(domain::ErrorKind::kFailedPrecondition, "kafka_closed", "the consumer is closed");
    }
    std::map<std::pair<std::string_view, std::int32_t>, std::int64_t> next_offsets;
    for (const auto& m : processed) {
      auto [it, inserted] = next_offsets.try_emplace({m.topic, m.partition}, m.offset + 1);
      if (!inserted) it->second = std::max(it->second, m.offset + 1);
    }
    if (next_offsets.empty()) return {};

    std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter> offsets(
        rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size())));
    for (const auto& [tp, offset] : next_offsets) {
      const std::string topic(tp.first);
      rd_kafka_topic_partition_list_add(offsets.get(), topic.c_str(), tp.second)->offset = offset;
    }

    // rd_kafka_commit(sync) has no timeout; the queue variant lets us give up.
    // If we do, librdkafka still owns the request and drops its late reply.
    rd_kafka_t* rk = impl_->consumer->c_ptr();
    std::unique_ptr<rd_kafka_queue_t, QueueDeleter> queue(rd_kafka_queue_new(rk));
    if (const auto err = rd_kafka_commit_queue(rk, offsets.get(), queue.get(), nullptr, nullptr)) {
      return std::unexpected(impl_->fatal_error("commit", static_cast<RdKafka::ErrorCode>(err), ""));
    }
    std::unique_ptr<rd_kafka_event_t, EventDeleter> event(rd_kafka_queue_poll(queue.get(), to_timeout_ms(timeout)));
    if (!event) {
      auto e = detail::unavailable("commit", "no commit result in time");
      e.with("group", impl_->options.group_id);
      return std::unexpected(std::move(e));
    }
    if (const auto err = rd_kafka_event_error(event.get())) {
      return std::unexpected(
          impl_->fatal_error("commit", static_cast<RdKafka::ErrorCode>(err), rd_kafka_event_error_string(event.get())));
    }
    if (const rd_kafka_topic_partition_list_t* result = rd_kafka_event_topic_partition_list(event.get())) {
      for (int i = 0; i < result->cnt; ++i) {
        if (const auto err = result->elems[i].err) {
          auto e = impl_->fatal_error("commit", static_cast<RdKafka::ErrorCode>(err), "");
          e.with("topic", result->elems[i].topic).with("partition", result->elems[i].partition);
          return std::unexpected(std::move(e));
        }
      }
    }
    return {};
  });
}

void KafkaConsumer::close() { impl_->close(); }

}  // namespace ledger::adapters::kafka

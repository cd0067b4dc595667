// KafkaPartitionReader on librdkafka's simple (legacy) consumer: start() on
// one partition at an explicit offset, no group coordinator involved.

#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "adapters/kafka/kafka.h"
#include "adapters/kafka/kafka_support.h"

namespace ledger::adapters::kafka {
namespace {

using Clock = std::chrono::steady_clock;
using detail::to_timeout_ms;

constexpr std::chrono::milliseconds kRetryPause{50};

}  // namespace

struct KafkaPartitionReader::Impl {
  // Declaration order matters: logger, then handle, then topic; destroyed in
  // reverse after stop().
  KafkaPartitionReader::Options options;
  std::unique_ptr<RdKafka::EventCb> events;
  std::unique_ptr<RdKafka::Consumer> consumer;
  std::unique_ptr<RdKafka::Topic> topic;
  bool started = false;

  ~Impl() {
    if (started) consumer->stop(topic.get(), options.partition);
    topic.reset();
    consumer.reset();
  }
};

KafkaPartitionReader::KafkaPartitionReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaPartitionReader::~KafkaPartitionReader() = default;

domain::Result<std::unique_ptr<KafkaPartitionReader>> KafkaPartitionReader::create(Options options) {
  return detail::guarded<std::unique_ptr<KafkaPartitionReader>>(
      "reader_create", [&]() -> domain::Result<std::unique_ptr<KafkaPartitionReader>> {
        if (options.brokers.empty() || options.topic.empty() || options.partition < 0 || options.start_offset < 0) {
          return domain::fail(domain::ErrorKind::kInvalidArgument, "kafka_config_invalid",
                              "a partition reader needs brokers, a topic, a partition and an offset >= 0");
        }
        auto impl = std::make_unique<Impl>();
        impl->options = std::move(options);
        const auto& o = impl->options;
        impl->events = detail::make_event_logger("reader " + o.topic + "[" + std::to_string(o.partition) + "]");

        std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
        const std::pair<std::string, std::string> settings[] = {
            {"bootstrap.servers", o.brokers},
            {"client.id", o.client_id},
            {"enable.partition.eof", "false"},
            // An offset below the log start (retention) restarts at the earliest.
            {"auto.offset.reset", "earliest"},
            {"log.connection.close", "false"},
        };
        for (const auto& [name, value] : settings) {
          if (auto ok = detail::set_config(*conf, name, value); !ok) return std::unexpected(std::move(ok.error()));
        }
        for (const auto& [name, value] : detail::security_config(o.security)) {
          if (auto ok = detail::set_config(*conf, name, value); !ok) return std::unexpected(std::move(ok.error()));
        }
        std::string errstr;
        if (conf->set("event_cb", impl->events.get(), errstr) != RdKafka::Conf::CONF_OK) {
          return std::unexpected(detail::internal_error("reader_create", errstr));
        }
        impl->consumer.reset(RdKafka::Consumer::create(conf.get(), errstr));
        if (!impl->consumer) {
          domain::Error e{
              domain::ErrorKind::kInvalidArgument, "kafka_config_invalid", "could not create the Kafka reader", {}};
          e.with("detail", errstr);
          return std::unexpected(std::move(e));
        }
        impl->topic.reset(RdKafka::Topic::create(impl->consumer.get(), o.topic, nullptr, errstr));
        if (!impl->topic) {
          auto e = detail::from_rdkafka(RdKafka::ERR__INVALID_ARG, "reader_create", errstr);
          e.with("topic", o.topic);
          return std::unexpected(std::move(e));
        }
        if (const auto err = impl->consumer->start(impl->topic.get(), o.partition, o.start_offset);
            err != RdKafka::ERR_NO_ERROR) {
          auto e = detail::from_rdkafka(err, "reader_create");
          e.with("topic", o.topic).with("partition", o.partition);
          return std::unexpected(std::move(e));
        }
        impl->started = true;
        return std::unique_ptr<KafkaPartitionReader>(new KafkaPartitionReader(std::move(impl)));
      });
}

domain::Result<std::vector<KafkaMessage>> KafkaPartitionReader::poll(std::size_t max_messages,
                                                                     std::chrono::milliseconds timeout) {
  return detail::guarded<std::vector<KafkaMessage>>("reader_poll", [&]() -> domain::Result<std::vector<KafkaMessage>> {
    auto& impl = *impl_;
    std::vector<KafkaMessage> out;
    const auto deadline = Clock::now() + timeout;
    while (out.size() < max_messages) {
      const int wait =
          out.empty() ? to_timeout_ms(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()))
                      : 0;
      std::unique_ptr<RdKafka::Message> message(impl.consumer->consume(impl.topic.get(), impl.options.partition, wait));
      // The simple consumer does not serve error/log events by itself.
      impl.consumer->poll(0);
      if (!message) break;
      const auto err = message->err();
      if (err == RdKafka::ERR_NO_ERROR) {
        out.push_back(detail::to_kafka_message(*message));
        continue;
      }
      if (err == RdKafka::ERR__TIMED_OUT) break;
      if (err == RdKafka::ERR__PARTITION_EOF) continue;
      if (err == RdKafka::ERR__FATAL || err == RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED ||
          err == RdKafka::ERR__AUTHENTICATION || err == RdKafka::ERR_SASL_AUTHENTICATION_FAILED) {
        auto e = detail::from_rdkafka(err, "reader_poll", message->errstr());
        e.with("topic", impl.options.topic).with("partition", impl.options.partition);
        return std::unexpected(std::move(e));
      }
      spdlog::warn("kafka reader {} [{}]: {}: {}", impl.options.topic, impl.options.partition, detail::error_name(err),
                   message->errstr());
    }
    return out;
  });
}

domain::Result<std::int64_t> KafkaPartitionReader::high_watermark(std::chrono::milliseconds timeout) {
  return detail::guarded<std::int64_t>("high_watermark", [&]() -> domain::Result<std::int64_t> {
    auto& impl = *impl_;
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      std::int64_t low = 0;
      std::int64_t high = 0;
      const auto err = impl.consumer->query_watermark_offsets(impl.options.topic, impl.options.partition, &low, &high,
                                                              std::max(1, to_timeout_ms(remaining)));
      if (err == RdKafka::ERR_NO_ERROR) return high;
      auto e = detail::from_rdkafka(err, "high_watermark");
      e.with("topic", impl.options.topic).with("partition", impl.options.partition);
      // Right after a topic is created its leader may not serve offsets yet.
      if (e.kind != domain::ErrorKind::kUnavailable || Clock::now() + kRetryPause >= deadline) {
        return std::unexpected(std::move(e));
      }
      impl.consumer->poll(static_cast<int>(kRetryPause.count()));  // paces the retry, serves events
    }
  });
}

}  // namespace ledger::adapters::kafka

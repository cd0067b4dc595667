// KafkaProducer on RdKafka::Producer. Delivery reports are served by the
// threads calling produce() (poll(0)) and flush(); failures are counted and
// reported by the next flush().

#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "adapters/kafka/kafka.h"
#include "adapters/kafka/kafka_support.h"

namespace ledger::adapters::kafka {
namespace {

using Clock = std::chrono::steady_clock;
using detail::to_timeout_ms;

// How long flush() keeps serving delivery reports after a purge; purged
// records are reported without a broker round trip, so this is rarely used.
constexpr std::chrono::milliseconds kPurgeDrain{1000};

class DeliveryReports final : public RdKafka::DeliveryReportCb {
 public:
  // Runs on the thread calling poll()/flush(); must not throw into librdkafka.
  void dr_cb(RdKafka::Message& message) override {
    if (message.err() == RdKafka::ERR_NO_ERROR) return;
    detail::count_delivery_failure();
    int expected = 0;
    first_error_.compare_exchange_strong(expected, static_cast<int>(message.err()));
    if (failures_.fetch_add(1) == 0) {
      try {
        // Only the first failure per flush period: an outage fails thousands.
        spdlog::warn("kafka producer: delivery to {} [{}] failed: {} ({})", message.topic_name(), message.partition(),
                     detail::error_name(message.err()), message.errstr());
      } catch (...) {  // NOLINT(bugprone-empty-catch): logging is best effort; nothing may throw into librdkafka
      }
    }
  }

  // Failures since the last call, and the first error code among them.
  std::pair<std::uint64_t, int> take() {
    const auto failed = failures_.exchange(0);
    const int first = first_error_.exchange(0);
    return {failed, first};
  }

 private:
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<int> first_error_{0};
};

}  // namespace

struct KafkaProducer::Impl {
  // Declaration order matters: the callbacks must outlive the handle.
  KafkaProducer::Options options;
  std::unique_ptr<RdKafka::EventCb> events;
  DeliveryReports reports;
  std::unique_ptr<RdKafka::Producer> producer;

  ~Impl() {
    if (producer) {
      // Documented contract: the destructor does not wait for deliveries.
      producer->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
      producer->poll(0);
      producer.reset();
    }
  }

  domain::Result<void> fatal_state(std::string_view operation) const {
    std::string errstr;
    if (const auto err = producer->fatal_error(errstr); err != RdKafka::ERR_NO_ERROR) {
      // A principal without Write on any topic may not even get an
      // idempotent producer id: the broker refused it, not a broken client.
      const bool refused =
          err == RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED || err == RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED;
      return std::unexpected(detail::from_rdkafka(refused ? err : RdKafka::ERR__FATAL, operation,
                                                  detail::error_name(err) + ": " + errstr));
    }
    return {};
  }
};

KafkaProducer::KafkaProducer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaProducer::~KafkaProducer() = default;

domain::Result<std::unique_ptr<KafkaProducer>> KafkaProducer::create(Options options) {
  return detail::guarded<std::unique_ptr<KafkaProducer>>(
      "producer_create", [&]() -> domain::Result<std::unique_ptr<KafkaProducer>> {
        if (options.brokers.empty()) {
          return domain::fail(domain::ErrorKind::kInvalidArgument, "kafka_config_invalid", "no Kafka brokers given");
        }
        auto impl = std::make_unique<Impl>();
        impl->options = std::move(options);
        const auto& o = impl->options;
        impl->events = detail::make_event_logger("producer");

        std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
        const std::pair<std::string, std::string> settings[] = {
            {"bootstrap.servers", o.brokers},
            {"client.id", o.client_id},
            {"enable.idempotence", o.idempotent ? "true" : "false"},
            {"acks", "all"},
            {"max.in.flight.requests.per.connection", "5"},
            {"linger.ms", std::to_string(o.linger_ms)},
            {"message.timeout.ms", std::to_string(o.message_timeout_ms)},
            {"log.connection.close", "false"},
        };
        for (const auto& [name, value] : settings) {
          if (auto ok = detail::set_config(*conf, name, value); !ok) return std::unexpected(std::move(ok.error()));
        }
        for (const auto& [name, value] : detail::security_config(o.security)) {
          if (auto ok = detail::set_config(*conf, name, value); !ok) return std::unexpected(std::move(ok.error()));
        }
        // lz4 is built into librdkafka, but a trimmed build may lack it.
        if (!detail::set_config(*conf, "compression.type", "lz4")) {
          spdlog::warn("kafka producer: lz4 unavailable, sending uncompressed");
          (void)detail::set_config(*conf, "compression.type", "none");
        }
        std::string errstr;
        if (conf->set("event_cb", impl->events.get(), errstr) != RdKafka::Conf::CONF_OK ||
            conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&impl->reports), errstr) !=
                RdKafka::Conf::CONF_OK) {
          return std::unexpected(detail::internal_error("producer_create", errstr));
        }
        impl->producer.reset(RdKafka::Producer::create(conf.get(), errstr));
        if (!impl->producer) {
          domain::Error e{
              domain::ErrorKind::kInvalidArgument, "kafka_config_invalid", "could not create the Kafka producer", {}};
          e.with("detail", errstr);
          return std::unexpected(std::move(e));
        }
        return std::unique_ptr<KafkaProducer>(new KafkaProducer(std::move(impl)));
      });
}

domain::Result<void> KafkaProducer::produce(const std::string& topic, std::string_view key, std::string_view value,
                                            const KafkaHeaders& headers) {
  return detail::guarded<void>("produce", [&]() -> domain::Result<void> {
    auto& producer = *impl_->producer;
    std::unique_ptr<RdKafka::Headers> hdrs;
    if (!headers.empty()) {
      hdrs.reset(RdKafka::Headers::create());
      for (const auto& [name, val] : headers) hdrs->add(name, val.data(), val.size());
    }
    const auto deadline = Clock::now() + std::chrono::milliseconds(impl_->options.enqueue_timeout_ms);
    for (;;) {
      // RK_MSG_COPY: librdkafka copies key and value; headers are handed over
      // on success only.
      const auto err = producer.produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                                        const_cast<char*>(value.data()), value.size(),
                                        key.empty() ? nullptr : key.data(), key.size(), 0, hdrs.get(), nullptr);
      if (err == RdKafka::ERR_NO_ERROR) {
        (void)hdrs.release();
        producer.poll(0);  // serve delivery reports as we go
        return {};
      }
      if (err != RdKafka::ERR__QUEUE_FULL) {
        auto e = detail::from_rdkafka(err, "produce");
        e.with("topic", topic);
        return std::unexpected(std::move(e));
      }
      const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (remaining.count() <= 0) {
        auto e = detail::unavailable("produce", "local producer queue full");
        e.with("topic", topic);
        return std::unexpected(std::move(e));
      }
      producer.poll(std::min(100, to_timeout_ms(remaining)));
    }
  });
}

domain::Result<void> KafkaProducer::flush(std::chrono::milliseconds timeout) {
  return detail::guarded<void>("flush", [&]() -> domain::Result<void> {
    auto& producer = *impl_->producer;
    if (producer.flush(to_timeout_ms(timeout)) == RdKafka::ERR__TIMED_OUT) {
      const int outstanding = producer.outq_len();
      // Drop what is still queued or in flight so an outage does not pile up
      // copies of records the caller is going to re-send anyway.
      producer.purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
      producer.flush(to_timeout_ms(std::min(timeout, kPurgeDrain)));
      const auto [failed, first] = impl_->reports.take();
      if (auto fatal = impl_->fatal_state("flush"); !fatal) return fatal;
      auto e = detail::unavailable("flush", "timed out waiting for delivery; undelivered records purged");
      e.with("outstanding", outstanding).with("failed", failed);
      if (first != 0) e.with("first_error", detail::error_name(first));
      spdlog::warn("kafka producer: flush timed out after {} ms, {} outstanding requests purged", timeout.count(),
                   outstanding);
      return std::unexpected(std::move(e));
    }
    const auto [failed, first] = impl_->reports.take();
    if (failed == 0) return {};
    if (auto fatal = impl_->fatal_state("flush"); !fatal) return fatal;
    if (first == RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED || first == RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED ||
        first == RdKafka::ERR__AUTHENTICATION || first == RdKafka::ERR_SASL_AUTHENTICATION_FAILED) {
      // The broker refused this principal: re-sending will not help.
      auto e = detail::from_rdkafka(first, "flush");
      e.with("failed", failed);
      return std::unexpected(std::move(e));
    }
    // Whatever the cause, the caller's reaction is the same: re-send from its
    // durable position. The first librdkafka error stays visible as evidence.
    auto e = detail::unavailable("flush", "delivery failed for " + std::to_string(failed) + " records");
    e.with("first_error", detail::error_name(first));
    e.with("failed", failed);
    return std::unexpected(std::move(e));
  });
}

}  // namespace ledger::adapters::kafka

#include "adapters/kafka/kafka_support.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <limits>

namespace ledger::adapters::kafka {

const std::string* KafkaMessage::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return &value;
  }
  return nullptr;
}

namespace detail {
namespace {

domain::Error make_error(domain::ErrorKind kind, std::string code, std::string message, std::string_view operation,
                         int rdkafka_error, std::string detail) {
  domain::Error e{kind, std::move(code), std::move(message), {}};
  e.with("operation", std::string(operation));
  if (rdkafka_error != 0) e.with("rdkafka_error", error_name(rdkafka_error));
  if (!detail.empty()) e.with("detail", std::move(detail));
  return e;
}

std::atomic<std::uint64_t> producer_errors{0};
std::atomic<std::uint64_t> consumer_errors{0};
std::atomic<std::uint64_t> delivery_failures{0};

class EventLogger final : public RdKafka::EventCb {
 public:
  explicit EventLogger(std::string role) : role_(std::move(role)) {}

  // Called from librdkafka's threads (logs) and from poll/consume/flush
  // (errors). Must not throw back into C code.
  void event_cb(RdKafka::Event& event) override {
    try {
      switch (event.type()) {
        case RdKafka::Event::EVENT_ERROR:
          (role_.starts_with("producer") ? producer_errors : consumer_errors).fetch_add(1, std::memory_order_relaxed);
          if (event.fatal()) {
            spdlog::error("kafka {}: fatal error {}: {}", role_, error_name(event.err()), event.str());
          } else {
            spdlog::warn("kafka {}: {}: {}", role_, error_name(event.err()), event.str());
          }
          break;
        case RdKafka::Event::EVENT_LOG:
          spdlog::log(level_of(event.severity()), "kafka {}: [{}] {}", role_, event.fac(), event.str());
          break;
        case RdKafka::Event::EVENT_THROTTLE:
          spdlog::debug("kafka {}: throttled {} ms by broker {}", role_, event.throttle_time(), event.broker_name());
          break;
        default:
          break;
      }
    } catch (...) {  // NOLINT(bugprone-empty-catch): logging is best effort; nothing may throw into librdkafka
    }
  }

 private:
  static spdlog::level::level_enum level_of(RdKafka::Event::Severity severity) {
    switch (severity) {
      case RdKafka::Event::EVENT_SEVERITY_EMERG:
      case RdKafka::Event::EVENT_SEVERITY_ALERT:
      case RdKafka::Event::EVENT_SEVERITY_CRITICAL:
        return spdlog::level::critical;
      case RdKafka::Event::EVENT_SEVERITY_ERROR:
        return spdlog::level::err;
      case RdKafka::Event::EVENT_SEVERITY_WARNING:
        return spdlog::level::warn;
      case RdKafka::Event::EVENT_SEVERITY_NOTICE:
      case RdKafka::Event::EVENT_SEVERITY_INFO:
        return spdlog::level::info;
      case RdKafka::Event::EVENT_SEVERITY_DEBUG:
        return spdlog::level::debug;
    }
    return spdlog::level::info;
  }

  std::string role_;
};

}  // namespace

std::string error_name(int rdkafka_error) {
  const char* name = rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(rdkafka_error));
  return name != nullptr ? name : std::to_string(rdkafka_error);
}

domain::Error unavailable(std::string_view operation, std::string detail) {
  return make_error(domain::ErrorKind::kUnavailable, kUnavailableCode, "Kafka is unavailable", operation, 0,
                    std::move(detail));
}

domain::Error internal_error(std::string_view operation, std::string detail) {
  return make_error(domain::ErrorKind::kInternal, "kafka_internal", "internal error in the Kafka adapter", operation, 0,
                    std::move(detail));
}

domain::Error from_rdkafka(int rdkafka_error, std::string_view operation, std::string detail) {
  using domain::ErrorKind;
  if (detail.empty()) detail = RdKafka::err2str(static_cast<RdKafka::ErrorCode>(rdkafka_error));
  switch (rdkafka_error) {
    case RdKafka::ERR__FATAL:
      return make_error(ErrorKind::kInternal, "kafka_fatal", "Kafka client failed fatally; recreate it", operation,
                        rdkafka_error, std::move(detail));
    case RdKafka::ERR__AUTHENTICATION:
    case RdKafka::ERR_SASL_AUTHENTICATION_FAILED:
    case RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED:
    case RdKafka::ERR_GROUP_AUTHORIZATION_FAILED:
    case RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RdKafka::ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return make_error(ErrorKind::kPermissionDenied, "kafka_not_authorized", "Kafka denied access", operation,
                        rdkafka_error, std::move(detail));
    case RdKafka::ERR_MSG_SIZE_TOO_LARGE:
    case RdKafka::ERR_RECORD_LIST_TOO_LARGE:
      return make_error(ErrorKind::kPayloadTooLarge, "kafka_message_too_large", "message too large for Kafka",
                        operation, rdkafka_error, std::move(detail));
    case RdKafka::ERR__UNKNOWN_TOPIC:
    case RdKafka::ERR__UNKNOWN_PARTITION:
    case RdKafka::ERR_UNKNOWN_TOPIC_OR_PART:
      return make_error(ErrorKind::kNotFound, "kafka_unknown_topic", "Kafka topic or partition does not exist",
                        operation, rdkafka_error, std::move(detail));
    case RdKafka::ERR__INVALID_ARG:
    case RdKafka::ERR__INVALID_TYPE:
    case RdKafka::ERR__NOT_IMPLEMENTED:
    case RdKafka::ERR_TOPIC_EXCEPTION:
    case RdKafka::ERR_INVALID_CONFIG:
    case RdKafka::ERR_INVALID_PARTITIONS:
    case RdKafka::ERR_INVALID_REPLICATION_FACTOR:
    case RdKafka::ERR_POLICY_VIOLATION:
      return make_error(ErrorKind::kInvalidArgument, "kafka_invalid_request", "Kafka rejected the request", operation,
                        rdkafka_error, std::move(detail));
    case RdKafka::ERR_REBALANCE_IN_PROGRESS:
    case RdKafka::ERR_ILLEGAL_GENERATION:
    case RdKafka::ERR_UNKNOWN_MEMBER_ID:
    case RdKafka::ERR_FENCED_INSTANCE_ID:
    case RdKafka::ERR__ASSIGNMENT_LOST:
      return make_error(ErrorKind::kAborted, "kafka_commit_rejected",
                        "the consumer group rebalanced; the records will be redelivered", operation, rdkafka_error,
                        std::move(detail));
    default:
      // Timeouts, transport errors, leader/coordinator moves and anything
      // unrecognised: retrying later is safe because nothing was confirmed.
      return make_error(ErrorKind::kUnavailable, kUnavailableCode, "Kafka is unavailable", operation, rdkafka_error,
                        std::move(detail));
  }
}

domain::Result<void> set_config(RdKafka::Conf& conf, const std::string& name, const std::string& value) {
  std::string errstr;
  if (conf.set(name, value, errstr) != RdKafka::Conf::CONF_OK) {
    domain::Error e{domain::ErrorKind::kInvalidArgument, "kafka_config_invalid", "invalid Kafka configuration", {}};
    e.with("property", name).with("detail", errstr);
    return std::unexpected(std::move(e));
  }
  return {};
}

std::vector<std::pair<std::string, std::string>> security_config(const KafkaSecurity& security) {
  std::string protocol = security.protocol.empty() ? "plaintext" : security.protocol;
  std::transform(protocol.begin(), protocol.end(), protocol.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::vector<std::pair<std::string, std::string>> out{{"security.protocol", protocol}};
  if (protocol.starts_with("sasl_")) {
    out.emplace_back("sasl.mechanisms", security.sasl_mechanism);
    out.emplace_back("sasl.username", security.username);
    out.emplace_back("sasl.password", security.password);
  }
  if (protocol.ends_with("ssl") && !security.ca_location.empty()) {
    out.emplace_back("ssl.ca.location", security.ca_location);
  }
  return out;
}

void count_delivery_failure() { delivery_failures.fetch_add(1, std::memory_order_relaxed); }

std::unique_ptr<RdKafka::EventCb> make_event_logger(std::string role) {
  return std::make_unique<EventLogger>(std::move(role));
}

KafkaMessage to_kafka_message(RdKafka::Message& message) {
  KafkaMessage out;
  out.topic = message.topic_name();
  out.partition = message.partition();
  out.offset = message.offset();
  if (message.key_pointer() != nullptr) {
    out.key.assign(static_cast<const char*>(message.key_pointer()), message.key_len());
  }
  if (message.payload() != nullptr) {
    out.value.assign(static_cast<const char*>(message.payload()), message.len());
  }
  // The C accessor reads header values in place; the C++ one copies each twice.
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(message.c_ptr(), &headers) == RD_KAFKA_RESP_ERR_NO_ERROR && headers != nullptr) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    out.headers.reserve(rd_kafka_header_cnt(headers));
    for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
      out.headers.emplace_back(name,
                               value != nullptr ? std::string(static_cast<const char*>(value), size) : std::string());
    }
  }
  return out;
}

int to_timeout_ms(std::chrono::milliseconds timeout) {
  const auto ms = timeout.count();
  if (ms <= 0) return 0;
  return static_cast<int>(std::min<std::chrono::milliseconds::rep>(ms, std::numeric_limits<int>::max()));
}

}  // namespace detail

KafkaErrorCounts kafka_error_counts() {
  return {detail::producer_errors.load(std::memory_order_relaxed),
          detail::consumer_errors.load(std::memory_order_relaxed),
          detail::delivery_failures.load(std::memory_order_relaxed)};
}

}  // namespace ledger::adapters::kafka

// Internal to adapters/kafka: error translation, configuration and logging
// shared by the producer, consumer, partition reader and topic provisioning.
// Not part of the adapter's API; only the .cc files in this folder include it.
//
// librdkafka types are forward-declared here and completed in the .cc files,
// so this header stays free of vendor includes like kafka.h.
// Thread-safety: the free functions are stateless; an event logger may be
// called from librdkafka's internal threads concurrently (it only logs).
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/kafka/kafka.h"
#include "domain/error.h"

namespace RdKafka {
class Conf;
class EventCb;
class Message;
}  // namespace RdKafka

namespace ledger::adapters::kafka::detail {

inline constexpr const char* kUnavailableCode = "kafka_unavailable";

// kUnavailable "kafka_unavailable" with the operation as evidence.
domain::Error unavailable(std::string_view operation, std::string detail);

// Translates a librdkafka error code (RdKafka::ErrorCode / rd_kafka_resp_err_t
// as int) into an Error; `detail` (librdkafka's error string) becomes evidence.
domain::Error from_rdkafka(int rdkafka_error, std::string_view operation, std::string detail = {});

// Name of a librdkafka error code, e.g. "_TIMED_OUT", for logs and evidence.
std::string error_name(int rdkafka_error);

// conf.set(name, value) or kInvalidArgument "kafka_config_invalid".
domain::Result<void> set_config(RdKafka::Conf& conf, const std::string& name, const std::string& value);

// The librdkafka properties for `security` (security.protocol and, as the
// protocol needs them, sasl.* and ssl.ca.location), in the order to set them.
std::vector<std::pair<std::string, std::string>> security_config(const KafkaSecurity& security);

// Routes librdkafka's logs and error events to spdlog, tagged with `role`
// ("producer", "consumer:<group>", ...). Must outlive the handle using it.
std::unique_ptr<RdKafka::EventCb> make_event_logger(std::string role);
// Counts one record a producer could not deliver (kafka_error_counts()).
void count_delivery_failure();

// Copies a consumed record (key, value, headers) out of librdkafka's buffers.
KafkaMessage to_kafka_message(RdKafka::Message& message);

// Clamps a duration to librdkafka's int milliseconds (>= 0).
int to_timeout_ms(std::chrono::milliseconds timeout);

domain::Error internal_error(std::string_view operation, std::string detail);

// Runs f() and turns any exception into kInternal "kafka_internal", so that
// none crosses the adapter boundary.
template <typename T, typename F>
domain::Result<T> guarded(std::string_view operation, F&& f) noexcept {
  try {
    return std::forward<F>(f)();
  } catch (const std::exception& e) {
    return std::unexpected(internal_error(operation, e.what()));
  } catch (...) {
    return std::unexpected(internal_error(operation, "unknown exception"));
  }
}

}  // namespace ledger::adapters::kafka::detail

// Kafka adapter: topic provisioning, an idempotent producer, a consumer-group
// consumer with explicit commits, and a group-less partition reader.
//
//   auto producer = KafkaProducer::create({.brokers = brokers});
//   (*producer)->produce("policy-events", stream_id, json, {{"event-type", type}});
//   if (auto ok = (*producer)->flush(5s); !ok) { /* re-send from the durable position */ }
//
//   auto consumer = KafkaConsumer::create({.brokers = b, .group_id = "projector", .topics = {t}});
//   auto batch = (*consumer)->poll(500, 1s);     // apply, store rows + offsets, then
//   (*consumer)->commit(*batch);
//
// Built on librdkafka 2.0.2; no librdkafka type appears in this header (pimpl),
// every vendor handle is owned by an RAII holder in the .cc files.
//
// Errors are values (domain::Result). Broker unreachable or timed out:
// ErrorKind::kUnavailable with code "kafka_unavailable" (retry later). A
// producer or consumer in librdkafka's fatal state reports kInternal with code
// "kafka_fatal": destroy it and create a new one. Invalid configuration:
// kInvalidArgument "kafka_config_invalid". No exception leaves this API.
// librdkafka's own errors and logs go to spdlog; payloads are never logged.
//
// Delivery guarantees: at-least-once. The producer is idempotent (no
// duplicates from its own retries within one session), but a caller that
// re-sends after a failed flush, or a consumer that restarts after processing
// and before committing, sees duplicates: consumers must tolerate them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/error.h"

namespace ledger::adapters::kafka {

using KafkaHeaders = std::vector<std::pair<std::string, std::string>>;

// One record as read from a partition. A null key or value reads as "";
// headers keep their order and may repeat.
struct KafkaMessage {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::string key;
  std::string value;
  KafkaHeaders headers;

  // First header with this name, or nullptr. The pointer lives as long as
  // this message is unchanged.
  const std::string* header(std::string_view name) const;
};

// How a client authenticates to the broker and verifies it (librdkafka's
// security.protocol, sasl.mechanisms, sasl.username, sasl.password,
// ssl.ca.location). Default: plaintext, for a broker without security (tests
// against a closed port, librdkafka's mock cluster). The broker the project
// starts wants SASL_SSL with SCRAM-SHA-512 (README "Kafka security").
struct KafkaSecurity {
  std::string protocol = "plaintext";  // plaintext | ssl | sasl_plaintext | sasl_ssl
  std::string sasl_mechanism = "SCRAM-SHA-512";
  std::string username;     // SASL only
  std::string password;     // SASL only; never logged
  std::string ca_location;  // PEM file with the CA that signed the broker's certificate ("": system CAs)
};

struct TopicSpec {
  std::string name;
  int partitions = 1;
  // Topic-level configs, e.g. {"retention.ms", "-1"}, {"cleanup.policy", "compact"}.
  std::vector<std::pair<std::string, std::string>> config;
};

// Creates the topics that do not exist yet (replication factor: the broker
// default), then waits until every topic's metadata is visible with a leader
// for each partition. Existing topics are left as they are (a differing
// partition count is logged, not changed), so calling it twice is fine.
// CreateTopics is sent only for topics missing from the metadata, so a
// principal with Describe on existing topics (and no Create right) succeeds;
// a missing topic it may not create fails with kPermissionDenied
// "kafka_not_authorized".
// Blocks up to `timeout`; kUnavailable when the broker does not answer in time.
domain::Result<void> ensure_topics(const std::string& brokers, const std::vector<TopicSpec>& topics,
                                   std::chrono::milliseconds timeout, const KafkaSecurity& security = {});

// One "allow" rule of Kafka's authorizer: `principal` ("User:<name>") may do
// `operation` on the topic or consumer group `name` (the name itself, or
// every name starting with it when `prefixed`).
struct AclRule {
  enum class Resource { kTopic, kGroup };
  enum class Operation { kRead, kWrite, kDescribe };
  Resource resource = Resource::kTopic;
  std::string name;
  bool prefixed = false;
  std::string principal;
  Operation operation = Operation::kRead;
};

// Adds the rules (CreateAcls; a rule that already exists is no error).
// Needs a principal allowed to Alter the cluster (the admin). kPermissionDenied
// "kafka_not_authorized" otherwise; kUnavailable when the broker does not answer
// within `timeout`.
domain::Result<void> create_acls(const std::string& brokers, const KafkaSecurity& security,
                                 const std::vector<AclRule>& rules, std::chrono::milliseconds timeout);

// Errors the Kafka clients of this process met since it started (metrics):
// errors librdkafka reported to producers and to consumers (readers
// included), and records a producer could not deliver. Thread-safe.
struct KafkaErrorCounts {
  std::uint64_t producer_errors = 0;
  std::uint64_t consumer_errors = 0;
  std::uint64_t delivery_failures = 0;
};
KafkaErrorCounts kafka_error_counts();

// Deletes every record below `offset` in each named partition (Kafka's
// DeleteRecords: the partition's log start moves up to it, so no consumer,
// replica or later read can see those records again). Needs Delete on the
// topics. kPermissionDenied "kafka_not_authorized" when refused;
// kUnavailable when the brokers do not answer within `timeout`.
struct PartitionOffset {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;  // exclusive
};
domain::Result<void> delete_records_before(const std::string& brokers, const KafkaSecurity& security,
                                           const std::vector<PartitionOffset>& before,
                                           std::chrono::milliseconds timeout);

// Asynchronous, idempotent producer (enable.idempotence, acks=all, lz4).
//
// Lifecycle: create() -> produce()* -> flush() -> ... -> destructor. create()
// does not contact the broker. The destructor does NOT wait: whatever has not
// been confirmed by a successful flush() is dropped, so flush first.
// Thread-safety: produce() and flush() may be called from any threads
// concurrently. A failure counted by flush() is one that happened since the
// previous flush() returned, whichever thread enqueued the message.
class KafkaProducer {
 public:
  struct Options {
    std::string brokers;  // "host:port,host:port"
    KafkaSecurity security{};
    std::string client_id = "policy-ledger";
    bool idempotent = true;  // enable.idempotence; acks=all either way
    int linger_ms = 5;
    int message_timeout_ms = 30000;  // delivery gives up after this (per message)
    int enqueue_timeout_ms = 5000;   // produce() waits this long on a full local queue
  };

  static domain::Result<std::unique_ptr<KafkaProducer>> create(Options options);

  ~KafkaProducer();
  KafkaProducer(const KafkaProducer&) = delete;
  KafkaProducer& operator=(const KafkaProducer&) = delete;

  // Enqueues one record (key, value and headers are copied; the partition is
  // chosen by hashing the key; an empty key is sent as a null key, which
  // spreads records over partitions). Returns once enqueued, not once delivered.
  // On a full local queue it serves delivery reports and retries until
  // enqueue_timeout_ms, then fails with kUnavailable. Oversized records fail
  // with kPayloadTooLarge "kafka_message_too_large"; a topic the broker says
  // does not exist with kNotFound "kafka_unknown_topic".
  domain::Result<void> produce(const std::string& topic, std::string_view key, std::string_view value,
                               const KafkaHeaders& headers = {});

  // Waits until everything enqueued so far has been delivered or has failed.
  // Returns kUnavailable ("kafka_unavailable") if the wait timed out or if any
  // delivery failed since the previous flush; the caller then re-sends from
  // its durable position. When the first failure was the broker refusing this
  // principal (no Write ACL on the topic, or none on any topic so that it
  // gets no idempotent producer id), kPermissionDenied "kafka_not_authorized"
  // instead: re-sending will not help. On timeout the undelivered records are purged (their
  // fate at the broker is unknown: re-sending may duplicate them), so memory
  // stays bounded during an outage and the next flush starts clean.
  domain::Result<void> flush(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  explicit KafkaProducer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Consumer-group member (enable.auto.commit=false, auto.offset.reset=earliest,
// range assignment, classic group protocol). Offsets are committed only by
// commit(); without a commit a group starts at the earliest record.
//
// Lifecycle: create() subscribes; the group is joined during poll(); close()
// (or the destructor) leaves the group so its partitions move at once.
// Thread-safety: none; use one instance from one thread at a time.
class KafkaConsumer {
 public:
  struct Options {
    std::string brokers;
    KafkaSecurity security{};
    std::string group_id;
    std::vector<std::string> topics;
    std::string client_id = "policy-ledger";
    int session_timeout_ms = 10000;
    // A fetch is answered once this many bytes are there or after
    // fetch_wait_max_ms (fetch.min.bytes, fetch.wait.max.ms): a consumer
    // that may lag a little asks the broker less often under a steady
    // trickle. The defaults answer as soon as one record is there.
    int fetch_min_bytes = 1;
    int fetch_wait_max_ms = 500;
  };

  static domain::Result<std::unique_ptr<KafkaConsumer>> create(Options options);

  ~KafkaConsumer();
  KafkaConsumer(const KafkaConsumer&) = delete;
  KafkaConsumer& operator=(const KafkaConsumer&) = delete;

  // Up to max_messages records, in offset order per partition. Waits up to
  // `timeout` for the first record, then takes only what is already buffered.
  // Empty on timeout. Transient errors (broker down, rebalances, topic not yet
  // visible) are logged and not returned; fatal consumer errors are kInternal
  // "kafka_fatal", authorization failures kPermissionDenied
  // "kafka_not_authorized". After close(): kFailedPrecondition "kafka_closed".
  domain::Result<std::vector<KafkaMessage>> poll(std::size_t max_messages, std::chrono::milliseconds timeout);

  // Synchronously commits, for each (topic, partition) in `processed`, the
  // highest offset seen + 1. Empty input is a no-op. kAborted
  // "kafka_commit_rejected" when the group rebalanced and the partition is no
  // longer ours (its records will be redelivered elsewhere); kUnavailable on
  // timeout or broker errors. A commit given up on by timeout stays pending
  // inside librdkafka until it completes or expires (about session_timeout_ms
  // without a coordinator); close() waits for it.
  domain::Result<void> commit(const std::vector<KafkaMessage>& processed,
                              std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Leaves the group (its partitions move to other members at once) and
  // releases the handle. Idempotent; the destructor calls it. Fast normally;
  // with the broker unreachable and a commit pending, up to about
  // session_timeout_ms.
  void close();

 private:
  struct Impl;
  explicit KafkaConsumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads one partition from a given offset without a consumer group (rebuilds
// from offset 0, auditors, tests). Nothing is committed anywhere.
//
// Lifecycle: create() starts fetching from start_offset (an offset below the
// log start, e.g. after retention, begins at the earliest record).
// Thread-safety: none; one instance from one thread at a time.
class KafkaPartitionReader {
 public:
  struct Options {
    std::string brokers;
    KafkaSecurity security{};
    std::string topic;
    std::int32_t partition = 0;
    std::int64_t start_offset = 0;
    std::string client_id = "policy-ledger";
  };

  static domain::Result<std::unique_ptr<KafkaPartitionReader>> create(Options options);

  ~KafkaPartitionReader();
  KafkaPartitionReader(const KafkaPartitionReader&) = delete;
  KafkaPartitionReader& operator=(const KafkaPartitionReader&) = delete;

  // Same contract as KafkaConsumer::poll, for this one partition.
  domain::Result<std::vector<KafkaMessage>> poll(std::size_t max_messages, std::chrono::milliseconds timeout);

  // The partition's end offset (offset of the next record to be written), asked
  // from the broker. Retries transient errors (e.g. a leader still loading a
  // just-created partition) until `timeout`, then kUnavailable.
  domain::Result<std::int64_t> high_watermark(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  explicit KafkaPartitionReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ledger::adapters::kafka

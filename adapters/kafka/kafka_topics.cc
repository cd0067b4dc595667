// ensure_topics: librdkafka's C admin API (CreateTopics) on a short-lived
// client, then metadata polling until every topic has a leader everywhere.
// create_acls: CreateAcls on the same kind of client.
// delete_records_before: DeleteRecords on the same kind of client.

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "adapters/kafka/kafka.h"
#include "adapters/kafka/kafka_support.h"

namespace ledger::adapters::kafka {
namespace {

using Clock = std::chrono::steady_clock;
using detail::to_timeout_ms;

template <typename T, void (*Destroy)(T*)>
struct Deleter {
  void operator()(T* p) const noexcept {
    if (p != nullptr) Destroy(p);
  }
};
template <typename T, void (*Destroy)(T*)>
using Holder = std::unique_ptr<T, Deleter<T, Destroy>>;

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* p) const noexcept {
    if (p != nullptr) rd_kafka_metadata_destroy(p);
  }
};

using HandleHolder = Holder<rd_kafka_t, rd_kafka_destroy>;
using ConfHolder = Holder<rd_kafka_conf_t, rd_kafka_conf_destroy>;
using QueueHolder = Holder<rd_kafka_queue_t, rd_kafka_queue_destroy>;
using NewTopicHolder = Holder<rd_kafka_NewTopic_t, rd_kafka_NewTopic_destroy>;
using AdminOptionsHolder = Holder<rd_kafka_AdminOptions_t, rd_kafka_AdminOptions_destroy>;
using EventHolder = Holder<rd_kafka_event_t, rd_kafka_event_destroy>;
using AclBindingHolder = Holder<rd_kafka_AclBinding_t, rd_kafka_AclBinding_destroy>;
using PartitionListHolder = Holder<rd_kafka_topic_partition_list_t, rd_kafka_topic_partition_list_destroy>;
using DeleteRecordsHolder = Holder<rd_kafka_DeleteRecords_t, rd_kafka_DeleteRecords_destroy>;
using MetadataHolder = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

constexpr const char* kOperation = "ensure_topics";

// Admin options with both timeouts (the request's and the brokers'
// operation's) set to `timeout_ms`: for the operations that take both
// (CreateTopics, DeleteRecords; CreateAcls takes the request's only).
domain::Result<AdminOptionsHolder> admin_options(rd_kafka_t* rk, rd_kafka_admin_op_t op, int timeout_ms,
                                                 const char* operation) {
  char errstr[512];
  AdminOptionsHolder options(rd_kafka_AdminOptions_new(rk, op));
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, errstr, sizeof errstr) ||
      rd_kafka_AdminOptions_set_operation_timeout(options.get(), timeout_ms, errstr, sizeof errstr)) {
    return std::unexpected(detail::internal_error(operation, errstr));
  }
  return options;
}

// The result event of the admin request sent on `queue`. The request times
// out by itself after timeout_ms; the margin only covers the result's trip
// through the queue.
domain::Result<EventHolder> admin_result(rd_kafka_queue_t* queue, int timeout_ms, const char* operation) {
  EventHolder event(rd_kafka_queue_poll(queue, timeout_ms + 1000));
  if (!event) return std::unexpected(detail::unavailable(operation, "no admin result in time"));
  if (auto err = rd_kafka_event_error(event.get())) {
    return std::unexpected(detail::from_rdkafka(err, operation, rd_kafka_event_error_string(event.get())));
  }
  return event;
}

void log_cb(const rd_kafka_t*, int level, const char* facility, const char* message) {
  try {
    const auto lvl = level <= 2   ? spdlog::level::critical
                     : level == 3 ? spdlog::level::err
                     : level == 4 ? spdlog::level::warn
                     : level <= 6 ? spdlog::level::info
                                  : spdlog::level::debug;
    spdlog::log(lvl, "kafka admin: [{}] {}", facility, message);
  } catch (...) {  // NOLINT(bugprone-empty-catch): logging is best effort; nothing may throw into librdkafka
  }
}

void error_cb(rd_kafka_t*, int err, const char* reason, void*) {
  try {
    spdlog::warn("kafka admin: {}: {}", detail::error_name(err), reason);
  } catch (...) {  // NOLINT(bugprone-empty-catch): logging is best effort; nothing may throw into librdkafka
  }
}

domain::Result<HandleHolder> make_admin_client(const std::string& brokers, const KafkaSecurity& security) {
  ConfHolder conf(rd_kafka_conf_new());
  char errstr[512];
  std::vector<std::pair<std::string, std::string>> settings = {
      {"bootstrap.servers", brokers},
      {"client.id", "policy-ledger-admin"},
      {"log.connection.close", "false"},
  };
  for (auto& kv : detail::security_config(security)) settings.push_back(std::move(kv));
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      domain::Error e{domain::ErrorKind::kInvalidArgument, "kafka_config_invalid", "invalid Kafka configuration", {}};
      e.with("property", name).with("detail", errstr);
      return std::unexpected(std::move(e));
    }
  }
  rd_kafka_conf_set_log_cb(conf.get(), log_cb);
  rd_kafka_conf_set_error_cb(conf.get(), error_cb);
  // rd_kafka_new takes ownership of conf only on success.
  HandleHolder rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr));
  if (!rk) return std::unexpected(detail::internal_error(kOperation, errstr));
  (void)conf.release();  // rk owns it now
  return rk;
}

// Issues CreateTopics for all specs; "already exists" counts as success.
domain::Result<void> create_topics(rd_kafka_t* rk, const std::vector<TopicSpec>& specs, Clock::time_point deadline) {
  char errstr[512];
  std::vector<NewTopicHolder> owned;
  std::vector<rd_kafka_NewTopic_t*> raw;
  for (const auto& spec : specs) {
    NewTopicHolder nt(rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions, -1, errstr, sizeof errstr));
    if (!nt) return std::unexpected(detail::from_rdkafka(RD_KAFKA_RESP_ERR__INVALID_ARG, kOperation, errstr));
    for (const auto& [name, value] : spec.config) {
      if (auto err = rd_kafka_NewTopic_set_config(nt.get(), name.c_str(), value.c_str())) {
        return std::unexpected(detail::from_rdkafka(err, kOperation, "config " + name));
      }
    }
    raw.push_back(nt.get());
    owned.push_back(std::move(nt));
  }

  const int timeout_ms =
      std::max(1, to_timeout_ms(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now())));
  auto options = admin_options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms, kOperation);
  if (!options) return std::unexpected(std::move(options.error()));
  QueueHolder queue(rd_kafka_queue_new(rk));
  rd_kafka_CreateTopics(rk, raw.data(), raw.size(), options->get(), queue.get());
  auto event = admin_result(queue.get(), timeout_ms, kOperation);
  if (!event) return std::unexpected(std::move(event.error()));
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event->get());
  if (result == nullptr) return std::unexpected(detail::internal_error(kOperation, "unexpected admin event"));
  size_t count = 0;
  const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(result, &count);
  for (size_t i = 0; i < count; ++i) {
    const auto err = rd_kafka_topic_result_error(topics[i]);
    const char* name = rd_kafka_topic_result_name(topics[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::info("kafka admin: created topic {}", name);
    } else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      const char* why = rd_kafka_topic_result_error_string(topics[i]);
      auto e = detail::from_rdkafka(err, kOperation, why != nullptr ? why : "");
      e.with("topic", name);
      return std::unexpected(std::move(e));
    }
  }
  return {};
}

// True once every spec's topic is in the metadata without error and every
// partition has a leader. With `missing`, it becomes (once the broker
// answered) the specs whose topic the metadata does not list at all: not
// created yet, or not describable by this principal.
domain::Result<bool> topics_visible(rd_kafka_t* rk, const std::vector<TopicSpec>& specs, int timeout_ms,
                                    std::set<std::string>& warned,
                                    std::optional<std::vector<TopicSpec>>* missing = nullptr) {
  const rd_kafka_metadata_t* raw = nullptr;
  const auto err = rd_kafka_metadata(rk, 1, nullptr, &raw, std::max(1, timeout_ms));
  MetadataHolder md(raw);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT) return false;
    return std::unexpected(detail::from_rdkafka(err, kOperation, "metadata"));
  }
  std::map<std::string_view, const rd_kafka_metadata_topic_t*> by_name;
  for (int i = 0; i < md->topic_cnt; ++i) by_name.emplace(md->topics[i].topic, &md->topics[i]);
  if (missing != nullptr) {
    missing->emplace();
    for (const auto& spec : specs) {
      if (!by_name.contains(spec.name)) (*missing)->push_back(spec);
    }
  }
  for (const auto& spec : specs) {
    auto it = by_name.find(spec.name);
    if (it == by_name.end()) return false;
    const rd_kafka_metadata_topic_t* t = it->second;
    if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR || t->partition_cnt <= 0) return false;
    for (int p = 0; p < t->partition_cnt; ++p) {
      if (t->partitions[p].leader < 0 || t->partitions[p].err != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
    }
    if (t->partition_cnt != spec.partitions && warned.insert(spec.name).second) {
      spdlog::warn("kafka admin: topic {} exists with {} partitions, {} requested; left unchanged", spec.name,
                   t->partition_cnt, spec.partitions);
    }
  }
  return true;
}

}  // namespace

domain::Result<void> ensure_topics(const std::string& brokers, const std::vector<TopicSpec>& topics,
                                   std::chrono::milliseconds timeout, const KafkaSecurity& security) {
  return detail::guarded<void>(kOperation, [&]() -> domain::Result<void> {
    if (topics.empty()) return {};
    for (const auto& spec : topics) {
      if (spec.name.empty() || spec.partitions < 1) {
        return domain::fail(domain::ErrorKind::kInvalidArgument, "kafka_invalid_request",
                            "a topic needs a name and at least one partition");
      }
    }
    const auto deadline = Clock::now() + timeout;
    auto rk = make_admin_client(brokers, security);
    if (!rk) return std::unexpected(std::move(rk.error()));

    // Only what the metadata does not list yet is created: a service that may
    // Describe its topics but not Create them passes when they exist. The
    // first metadata request also surfaces a refused login at once.
    std::set<std::string> warned;
    std::optional<std::vector<TopicSpec>> missing;
    const auto first_wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto visible = topics_visible(rk->get(), topics, to_timeout_ms(first_wait), warned, &missing);
    if (!visible) return std::unexpected(std::move(visible.error()));
    if (*visible) return {};
    // No answer (broker down or slow): ask to create them all, which waits
    // for the broker within the deadline; listed but without a leader yet:
    // nothing to create, only to wait.
    const std::vector<TopicSpec>& to_create = missing ? *missing : topics;
    if (!to_create.empty()) {
      if (auto created = create_topics(rk->get(), to_create, deadline); !created) return created;
    }

    // CreateTopics returns once the controller has the topics; brokers may
    // still be loading them into their metadata caches.
    for (;;) {
      const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (remaining.count() <= 0) {
        return std::unexpected(detail::unavailable(kOperation, "topic metadata not visible in time"));
      }
      auto visible = topics_visible(rk->get(), topics, to_timeout_ms(remaining), warned);
      if (!visible) return std::unexpected(std::move(visible.error()));
      if (*visible) return {};
      // Serves error/log callbacks and paces the next metadata request.
      rd_kafka_poll(rk->get(), std::min(50, to_timeout_ms(remaining)));
    }
  });
}

domain::Result<void> create_acls(const std::string& brokers, const KafkaSecurity& security,
                                 const std::vector<AclRule>& rules, std::chrono::milliseconds timeout) {
  constexpr const char* kAclOperation = "create_acls";
  return detail::guarded<void>(kAclOperation, [&]() -> domain::Result<void> {
    if (rules.empty()) return {};
    auto rk = make_admin_client(brokers, security);
    if (!rk) return std::unexpected(std::move(rk.error()));
    char errstr[512];
    std::vector<AclBindingHolder> owned;
    std::vector<rd_kafka_AclBinding_t*> raw;
    for (const auto& rule : rules) {
      const auto operation = rule.operation == AclRule::Operation::kRead    ? RD_KAFKA_ACL_OPERATION_READ
                             : rule.operation == AclRule::Operation::kWrite ? RD_KAFKA_ACL_OPERATION_WRITE
                                                                            : RD_KAFKA_ACL_OPERATION_DESCRIBE;
      AclBindingHolder binding(rd_kafka_AclBinding_new(
          rule.resource == AclRule::Resource::kTopic ? RD_KAFKA_RESOURCE_TOPIC : RD_KAFKA_RESOURCE_GROUP,
          rule.name.c_str(), rule.prefixed ? RD_KAFKA_RESOURCE_PATTERN_PREFIXED : RD_KAFKA_RESOURCE_PATTERN_LITERAL,
          rule.principal.c_str(), "*", operation, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, errstr, sizeof errstr));
      if (!binding) return std::unexpected(detail::from_rdkafka(RD_KAFKA_RESP_ERR__INVALID_ARG, kAclOperation, errstr));
      raw.push_back(binding.get());
      owned.push_back(std::move(binding));
    }
    const int timeout_ms = std::max(1, to_timeout_ms(timeout));
    AdminOptionsHolder options(rd_kafka_AdminOptions_new(rk->get(), RD_KAFKA_ADMIN_OP_CREATEACLS));
    if (rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, errstr, sizeof errstr)) {
      return std::unexpected(detail::internal_error(kAclOperation, errstr));
    }
    QueueHolder queue(rd_kafka_queue_new(rk->get()));
    rd_kafka_CreateAcls(rk->get(), raw.data(), raw.size(), options.get(), queue.get());
    auto event = admin_result(queue.get(), timeout_ms, kAclOperation);
    if (!event) return std::unexpected(std::move(event.error()));
    const rd_kafka_CreateAcls_result_t* result = rd_kafka_event_CreateAcls_result(event->get());
    if (result == nullptr) return std::unexpected(detail::internal_error(kAclOperation, "unexpected admin event"));
    size_t count = 0;
    const rd_kafka_acl_result_t** acls = rd_kafka_CreateAcls_result_acls(result, &count);
    for (size_t i = 0; i < count; ++i) {
      if (const rd_kafka_error_t* error = rd_kafka_acl_result_error(acls[i])) {
        return std::unexpected(
            detail::from_rdkafka(rd_kafka_error_code(error), kAclOperation, rd_kafka_error_string(error)));
      }
    }
    return {};
  });
}

domain::Result<void> delete_records_before(const std::string& brokers, const KafkaSecurity& security,
                                           const std::vector<PartitionOffset>& before,
                                           std::chrono::milliseconds timeout) {
  constexpr const char* kDeleteOperation = "delete_records";
  return detail::guarded<void>(kDeleteOperation, [&]() -> domain::Result<void> {
    if (before.empty()) return {};
    auto rk = make_admin_client(brokers, security);
    if (!rk) return std::unexpected(std::move(rk.error()));
    PartitionListHolder offsets(rd_kafka_topic_partition_list_new(static_cast<int>(before.size())));
    for (const auto& p : before) {
      rd_kafka_topic_partition_list_add(offsets.get(), p.topic.c_str(), p.partition)->offset = p.offset;
    }
    DeleteRecordsHolder request(rd_kafka_DeleteRecords_new(offsets.get()));
    const int timeout_ms = std::max(1, to_timeout_ms(timeout));
    auto options = admin_options(rk->get(), RD_KAFKA_ADMIN_OP_DELETERECORDS, timeout_ms, kDeleteOperation);
    if (!options) return std::unexpected(std::move(options.error()));
    QueueHolder queue(rd_kafka_queue_new(rk->get()));
    rd_kafka_DeleteRecords_t* raw = request.get();
    rd_kafka_DeleteRecords(rk->get(), &raw, 1, options->get(), queue.get());
    auto event = admin_result(queue.get(), timeout_ms, kDeleteOperation);
    if (!event) return std::unexpected(std::move(event.error()));
    const rd_kafka_DeleteRecords_result_t* result = rd_kafka_event_DeleteRecords_result(event->get());
    if (result == nullptr) return std::unexpected(detail::internal_error(kDeleteOperation, "unexpected admin event"));
    const rd_kafka_topic_partition_list_t* done = rd_kafka_DeleteRecords_result_offsets(result);
    for (int i = 0; done != nullptr && i < done->cnt; ++i) {
      if (done->elems[i].err) {
        return std::unexpected(
            detail::from_rdkafka(done->elems[i].err, kDeleteOperation,
                                 std::string(done->elems[i].topic) + "/" + std::to_string(done->elems[i].partition)));
      }
    }
    return {};
  });
}

}  // namespace ledger::adapters::kafka

// Who sent a command over Kafka (README "Commands over Kafka"). A Kafka
// record does not carry its producer's principal, so the topic is the
// identity: each command producer P may write only its own topic
// `<commands topic>.<P>` (a literal Write ACL for User:P, made by
// `ledger-admin add-producer`), and the command service maps the topic's
// producer name to the ledger principal recorded for it in the producers file
// (config/kafka-producers.json):
//
//   {"producers": [{"kafka_principal": "ledger-query", "tenant": "platform",
//                   "actor": {"type": "service_account", "id": "ledger-query",
//                             "roles": ["refusal_recorder"]}}]}
//
// A bearer token in a record header is never honoured: a record that carries
// an `authorization` header is refused (kUnauthenticated
// "kafka_token_header_refused"), so nobody keeps copying tokens into a topic
// others can read.
//
// Thread-safety: KafkaProducers is immutable after construction.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "adapters/kafka/kafka.h"
#include "commands/command.h"
#include "domain/error.h"

namespace ledger::adapters::identity {

// Producer names: lower-case letters, digits, '_' and '-' (1..100 chars), so
// that `^<base>\.[a-z0-9_-]+$` matches exactly the producer topics.
bool valid_producer_name(std::string_view name);

// The librdkafka subscription pattern of every producer topic under `base`,
// e.g. "^ledger\.commands\.[a-z0-9_-]+$" for "ledger.commands".
std::string producer_topics_pattern(std::string_view base);

// The topic producer `name` writes: "<base>.<name>".
std::string producer_topic(std::string_view base, std::string_view name);

class KafkaProducers {
 public:
  // kInvalidArgument "kafka_producers_malformed" for a malformed document,
  // among them an entry whose tenant, actor type or actor id is missing,
  // empty, blank or holds a control character, or whose actor type is not
  // one a principal may have (commands::is_principal_actor_type). The message names the entry
  // and the field ("producers[1] (billing-feed): actor.id must be a non-blank
  // string"), the evidence too (`entry`: its index, `field`).
  static domain::Result<KafkaProducers> from_json(const nlohmann::json& document);
  // The file, or kInvalidArgument "kafka_producers_unreadable".
  static domain::Result<KafkaProducers> load(const std::string& path);

  // The ledger principal of Kafka principal `name`; kUnauthenticated
  // "kafka_producer_unknown" when none is recorded.
  domain::Result<commands::Principal> principal_of(std::string_view name) const;
  std::size_t size() const { return by_name_.size(); }

 private:
  std::map<std::string, commands::Principal, std::less<>> by_name_;
};

// The principal a command record on `base`'s producer topics acts as: the
// mapped principal of the producer whose topic it arrived on. Refused with
// kUnauthenticated: a record with an `authorization` header
// ("kafka_token_header_refused"), a topic that is not a producer topic under
// `base` ("kafka_topic_unknown"), an unknown producer ("kafka_producer_unknown").
domain::Result<commands::Principal> principal_for_record(const adapters::kafka::KafkaMessage& msg,
                                                         std::string_view base, const KafkaProducers& producers);

// The producers file as the command service reads it: loaded on first use
// and re-read whenever its modification time changes, so `ledger-admin
// add-producer` takes effect without a restart. A file that cannot be read
// or is refused by from_json() keeps the last good contents (none at first:
// every producer is unknown); the refusal is logged once per modification
// time, and the same file is read again at most every kRetryRefused (a
// writer that is not done yet may leave the time as it was), not on every
// record of a busy topic.
// Thread-safety: none; the Kafka command loop owns it.
class ProducersFile {
 public:
  static constexpr std::chrono::milliseconds kRetryRefused{1000};
  explicit ProducersFile(std::string path) : path_(std::move(path)) {}
  // principal_for_record() against the file's current contents.
  domain::Result<commands::Principal> principal_for_record(const adapters::kafka::KafkaMessage& msg,
                                                           std::string_view base);

 private:
  void refresh();
  std::string path_;
  std::optional<std::filesystem::file_time_type> loaded_at_;
  std::optional<std::filesystem::file_time_type> refused_at_;  // the modification time last refused
  std::chrono::steady_clock::time_point retry_at_;             // when that file may be read again
  KafkaProducers producers_;
};

// Upserts producer `name` -> `principal` in the document (for ledger-admin
// add-producer); creates {"producers": []} when `document` is null.
void upsert_producer(nlohmann::json& document, const std::string& name, const commands::Principal& principal);

}  // namespace ledger::adapters::identity

// The topic -> principal mapping of commands over Kafka
// (adapters/identity/kafka_producers.h). Pure logic, no servers; it lives
// with the integration tests because it is part of the services library.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "adapters/identity/kafka_producers.h"
#include "tests/support/test_env.h"

namespace {

using ledger::adapters::identity::KafkaProducers;
using ledger::adapters::identity::principal_for_record;
using ledger::adapters::identity::ProducersFile;
using ledger::adapters::kafka::KafkaMessage;

KafkaMessage record(std::string topic, ledger::adapters::kafka::KafkaHeaders headers = {}) {
  KafkaMessage m;
  m.topic = std::move(topic);
  m.key = "c1";
  m.value = "{}";
  m.headers = std::move(headers);
  return m;
}

KafkaProducers producers() {
  auto p = KafkaProducers::from_json(nlohmann::json::parse(R"({"producers": [
      {"kafka_principal": "billing-feed", "tenant": "org-acme",
       "actor": {"type": "service_account", "id": "acme-billing", "roles": ["service"]}}]})"));
  EXPECT_TRUE(p.has_value());
  return *p;
}

TEST(KafkaProducers, TopicPatternMatchesOnlyProducerTopics) {
  EXPECT_EQ(ledger::adapters::identity::producer_topics_pattern("ledger.commands"),
            R"(^ledger\.commands\.[a-z0-9_-]+$)");
  EXPECT_EQ(ledger::adapters::identity::producer_topic("ledger.commands", "billing-feed"),
            "ledger.commands.billing-feed");
  EXPECT_TRUE(ledger::adapters::identity::valid_producer_name("billing-feed_2"));
  for (const char* bad : {"", "Billing", "a.b", "a b", "a/b", "ledger.commands-dlq"}) {
    EXPECT_FALSE(ledger::adapters::identity::valid_producer_name(bad)) << bad;
  }
}

TEST(KafkaProducers, TheTopicNamesThePrincipal) {
  const KafkaMessage m = record("ledger.commands.billing-feed");
  auto p = principal_for_record(m, "ledger.commands", producers());
  ASSERT_TRUE(p.has_value()) << p.error().code;
  EXPECT_EQ(p->tenant, "org-acme");
  EXPECT_EQ(p->actor.type, "service_account");
  EXPECT_EQ(p->actor.id, "acme-billing");
  EXPECT_EQ(p->actor.roles, std::vector<std::string>{"service"});
}

TEST(KafkaProducers, TokenHeadersUnknownProducersAndForeignTopicsAreRefused) {
  const KafkaMessage with_token = record("ledger.commands.billing-feed", {{"authorization", "Bearer x"}});
  EXPECT_EQ(principal_for_record(with_token, "ledger.commands", producers()).error().code,
            "kafka_token_header_refused");
  const KafkaMessage unknown = record("ledger.commands.someone-else");
  EXPECT_EQ(principal_for_record(unknown, "ledger.commands", producers()).error().code, "kafka_producer_unknown");
  for (const char* topic :
       {"ledger.commands", "ledger.commands-dlq", "ledger.events", "ledger.commandsX.billing-feed"}) {
    const KafkaMessage foreign = record(topic);
    EXPECT_EQ(principal_for_record(foreign, "ledger.commands", producers()).error().code, "kafka_topic_unknown")
        << topic;
  }
}

TEST(KafkaProducers, MalformedFilesAreRefused) {
  for (const char* doc : {R"({})", R"({"producers": [{"kafka_principal": "A B", "tenant": "t",
                             "actor": {"type": "user", "id": "x"}}]})",
                          R"({"producers": [{"kafka_principal": "a", "actor": {"type": "user", "id": "x"}}]})"}) {
    auto p = KafkaProducers::from_json(nlohmann::json::parse(doc));
    ASSERT_FALSE(p.has_value()) << doc;
    EXPECT_EQ(p.error().code, "kafka_producers_malformed");
  }
}

nlohmann::json producer_entry(const std::string& name, const std::string& actor_id) {
  return {{"kafka_principal", name},
          {"tenant", "org-acme"},
          {"actor", {{"type", "service_account"}, {"id", actor_id}, {"roles", nlohmann::json::array({"service"})}}}};
}

TEST(KafkaProducers, AnEntryWithoutATenantActorTypeOrActorIdIsRefusedByName) {
  struct Field {
    const char* name;    // as the refusal names it
    const char* object;  // the member's object: "" for the entry itself
    const char* member;
  };
  for (const Field f :
       {Field{"tenant", "", "tenant"}, Field{"actor.type", "actor", "type"}, Field{"actor.id", "actor", "id"}}) {
    for (const nlohmann::json& value : {nlohmann::json(nullptr), nlohmann::json(""), nlohmann::json("  "),
                                        nlohmann::json("\t"), nlohmann::json("a\nb"), nlohmann::json(7)}) {
      auto second = producer_entry("second", "acme-second");
      auto& holder = *f.object == '\0' ? second : second[f.object];
      if (value.is_null()) {
        holder.erase(f.member);
      } else {
        holder[f.member] = value;
      }
      const nlohmann::json doc = {
          {"producers", nlohmann::json::array({producer_entry("first", "acme-first"), second})}};
      auto p = KafkaProducers::from_json(doc);
      ASSERT_FALSE(p.has_value()) << doc.dump();
      EXPECT_EQ(p.error().code, "kafka_producers_malformed");
      EXPECT_EQ(p.error().evidence_text("entry"), "1") << doc.dump();
      EXPECT_EQ(p.error().evidence_text("field"), f.name) << doc.dump();
      EXPECT_NE(p.error().message.find(std::string("producers[1] (second): ") + f.name), std::string::npos)
          << p.error().message;
    }
  }
}

// The mapped actor's type is one a principal may have; another one is
// refused by name, as a missing one is.
TEST(KafkaProducers, AnActorTypeOtherThanThePrincipalTypesIsRefusedByName) {
  for (const char* type : {"user", "service_account", "api_key", "worker"}) {
    auto entry = producer_entry("first", "acme-first");
    entry["actor"]["type"] = type;
    auto p = KafkaProducers::from_json({{"producers", nlohmann::json::array({entry})}});
    ASSERT_TRUE(p.has_value()) << type << ": " << p.error().message;
    auto principal = p->principal_of("first");
    ASSERT_TRUE(principal.has_value());
    EXPECT_EQ(principal->actor.type, type);
  }
  for (const char* type : {"robot", "Service_Account", "system", "api-key"}) {
    auto entry = producer_entry("first", "acme-first");
    entry["actor"]["type"] = type;
    auto p = KafkaProducers::from_json({{"producers", nlohmann::json::array({entry})}});
    ASSERT_FALSE(p.has_value()) << type;
    EXPECT_EQ(p.error().code, "kafka_producers_malformed");
    EXPECT_EQ(p.error().evidence_text("field"), "actor.type") << type;
  }
}

// The command service's view of the file: a reload that is refused keeps the
// mapping it had, and the next good file is taken.
TEST(KafkaProducers, ARefusedReloadKeepsThePreviousMapping) {
  const auto path =
      std::filesystem::temp_directory_path() / (ledger::testing::unique_name("kafka-producers") + ".json");
  // Each write moves the modification time on by a second, whatever the file
  // system's resolution, so every write is a change for ProducersFile.
  std::optional<std::filesystem::file_time_type> mtime;
  auto write = [&](const std::string& actor_id) {
    std::ofstream(path)
        << nlohmann::json{{"producers", nlohmann::json::array({producer_entry("billing-feed", actor_id)})}}.dump();
    mtime = mtime.value_or(std::filesystem::last_write_time(path)) + std::chrono::seconds(1);
    std::filesystem::last_write_time(path, *mtime);
  };
  auto actor_now = [&](ProducersFile& file) {
    auto p = file.principal_for_record(record("ledger.commands.billing-feed"), "ledger.commands");
    return p ? p->actor.id : p.error().code;
  };
  ProducersFile file(path.string());
  write("acme-billing");
  EXPECT_EQ(actor_now(file), "acme-billing");
  for (const char* blank : {"", " "}) {
    write(blank);
    EXPECT_EQ(actor_now(file), "acme-billing") << "actor id '" << blank << "'";
  }
  write("acme-billing-2");
  EXPECT_EQ(actor_now(file), "acme-billing-2");
  std::filesystem::remove(path);
}

// A refused file is not read again on every record: the same modification
// time is read again only after ProducersFile::kRetryRefused (a writer that
// was not done yet), and a new modification time at once.
TEST(KafkaProducers, ARefusedFileIsReadAgainAfterAPauseOrWhenItChanges) {
  const auto path =
      std::filesystem::temp_directory_path() / (ledger::testing::unique_name("kafka-producers") + ".json");
  auto write = [&](const std::string& actor_id, std::filesystem::file_time_type at) {
    std::ofstream(path)
        << nlohmann::json{{"producers", nlohmann::json::array({producer_entry("billing-feed", actor_id)})}}.dump();
    std::filesystem::last_write_time(path, at);
  };
  auto actor_now = [&](ProducersFile& file) {
    auto p = file.principal_for_record(record("ledger.commands.billing-feed"), "ledger.commands");
    return p ? p->actor.id : p.error().code;
  };
  const auto t0 = std::filesystem::file_time_type::clock::now() - std::chrono::hours(1);
  ProducersFile file(path.string());
  write("acme-billing", t0);
  EXPECT_EQ(actor_now(file), "acme-billing");
  write(" ", t0 + std::chrono::seconds(1));  // refused
  const auto refused = std::chrono::steady_clock::now();
  EXPECT_EQ(actor_now(file), "acme-billing");
  // Mended under the same modification time: not read yet.
  write("acme-billing-2", t0 + std::chrono::seconds(1));
  const std::string early = actor_now(file);
  if (std::chrono::steady_clock::now() - refused < ProducersFile::kRetryRefused) {
    EXPECT_EQ(early, "acme-billing");
  }
  std::this_thread::sleep_until(refused + ProducersFile::kRetryRefused + std::chrono::milliseconds(50));
  EXPECT_EQ(actor_now(file), "acme-billing-2");
  // A refusal followed by a new modification time is read at once.
  write(" ", t0 + std::chrono::seconds(2));
  EXPECT_EQ(actor_now(file), "acme-billing-2");
  write("acme-billing-3", t0 + std::chrono::seconds(3));
  EXPECT_EQ(actor_now(file), "acme-billing-3");
  std::filesystem::remove(path);
}

}  // namespace

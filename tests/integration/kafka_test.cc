// Integration tests for adapters/kafka against the real broker named by
// LEDGER_KAFKA_BROKERS (started by `LEDGER_PROFILE=test scripts/infra.sh up`).
// Every test uses its own topics and groups (test name + pid + counter), so
// the tests can run in any order against a long-lived broker. The tests that
// need an unreachable broker bind a loopback port chosen by the OS and never
// listen on it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "adapters/kafka/kafka.h"
#include "tests/support/test_env.h"

namespace {

using namespace std::chrono_literals;
using ledger::adapters::kafka::ensure_topics;
using ledger::adapters::kafka::KafkaConsumer;
using ledger::adapters::kafka::KafkaHeaders;
using ledger::adapters::kafka::KafkaMessage;
using ledger::adapters::kafka::KafkaPartitionReader;
using ledger::adapters::kafka::KafkaProducer;
using ledger::adapters::kafka::TopicSpec;
using ledger::domain::ErrorKind;
using Clock = std::chrono::steady_clock;

constexpr const char* kNoBrokers =
    "LEDGER_KAFKA_BROKERS is not set. Start the test broker with `LEDGER_PROFILE=test scripts/infra.sh up` "
    "and export its address with `eval \"$(LEDGER_PROFILE=test scripts/infra.sh env)\"`.";

std::string kafka_brokers() {
  const char* brokers = std::getenv("LEDGER_KAFKA_BROKERS");
  return brokers != nullptr ? brokers : "";
}

// The tests' login to that broker (the admin principal infra.sh exports).
ledger::adapters::kafka::KafkaSecurity security() { return ledger::testing::kafka_security(); }

// "ledger-test-<kind>-<Suite>-<Test>-<pid>-<n>": unique per run and per call.
std::string unique_name(const std::string& kind) {
  static std::atomic<int> counter{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return "ledger-test-" + kind + "-" + info->test_suite_name() + "-" + info->name() + "-" + std::to_string(::getpid()) +
         "-" + std::to_string(counter++);
}

std::string describe(const ledger::domain::Error& e) {
  std::string out = e.code + ": " + e.message;
  for (const auto& [k, v] : e.evidence_texts()) out += " [" + k + "=" + v + "]";
  return out;
}

long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// A loopback port that refuses connections: bound (so nobody else gets it
// while the test runs) but never listening.
class RefusingPort {
 public:
  RefusingPort() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~RefusingPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_;
  int port_ = 0;
};

// Polls until `want` records arrived or the deadline passed.
template <typename Source>
std::vector<KafkaMessage> read_at_least(Source& source, std::size_t want, std::chrono::milliseconds deadline) {
  std::vector<KafkaMessage> got;
  const auto until = Clock::now() + deadline;
  while (got.size() < want && Clock::now() < until) {
    auto batch = source.poll(want - got.size(), 500ms);
    EXPECT_TRUE(batch.has_value()) << describe(batch.error());
    if (!batch) break;
    for (auto& m : *batch) got.push_back(std::move(m));
  }
  return got;
}

TEST(KafkaTopics, EnsureTopicsCreatesMissingTopicsAndAcceptsExistingOnes) {
  const std::string brokers = kafka_brokers();
  ASSERT_FALSE(brokers.empty()) << kNoBrokers;
  const std::vector<TopicSpec> specs = {
      {unique_name("topic"), 3, {{"retention.ms", "-1"}}},
      {unique_name("topic"), 1, {}},
  };

  auto first = ensure_topics(brokers, specs, 30s, security());
  ASSERT_TRUE(first.has_value()) << describe(first.error());
  auto second = ensure_topics(brokers, specs, 30s, security());
  ASSERT_TRUE(second.has_value()) << describe(second.error());

  // The last partition of the 3-partition topic exists and is empty.
  auto reader = KafkaPartitionReader::create(
      {.brokers = brokers, .security = security(), .topic = specs[0].name, .partition = 2});
  ASSERT_TRUE(reader.has_value()) << describe(reader.error());
  auto high = (*reader)->high_watermark(10s);
  ASSERT_TRUE(high.has_value()) << describe(high.error());
  EXPECT_EQ(*high, 0);
}

TEST(KafkaTopics, EnsureTopicsReportsUnavailableWhenBrokerUnreachable) {
  RefusingPort port;
  ASSERT_NE(port.port(), 0);
  const auto start = Clock::now();
  auto result = ensure_topics(port.address(), {{unique_name("topic"), 1, {}}}, 1500ms);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().kind, ErrorKind::kUnavailable) << describe(result.error());
  EXPECT_EQ(result.error().code, "kafka_unavailable");
  EXPECT_LT(ms_since(start), 5000);
}

TEST(KafkaProducer, ThousandKeyedMessagesReadBackInOrderWithHeaders) {
  const std::string brokers = kafka_brokers();
  ASSERT_FALSE(brokers.empty()) << kNoBrokers;
  const std::string topic = unique_name("topic");
  ASSERT_TRUE(ensure_topics(brokers, {{topic, 1, {}}}, 30s, security()).has_value());

  auto producer = KafkaProducer::create({.brokers = brokers, .security = security()});
  ASSERT_TRUE(producer.has_value()) << describe(producer.error());
  constexpr int kCount = 1000;
  for (int i = 0; i < kCount; ++i) {
    const KafkaHeaders headers = {{"seq", std::to_string(i)}, {"event-type", "policy_set"}, {"empty", ""}};
    auto sent = (*producer)->produce(topic, "key-" + std::to_string(i % 7), "value-" + std::to_string(i), headers);
    ASSERT_TRUE(sent.has_value()) << describe(sent.error());
  }
  auto flushed = (*producer)->flush(30s);
  ASSERT_TRUE(flushed.has_value()) << describe(flushed.error());

  auto reader = KafkaPartitionReader::create(
      {.brokers = brokers, .security = security(), .topic = topic, .partition = 0, .start_offset = 0});
  ASSERT_TRUE(reader.has_value()) << describe(reader.error());
  const auto got = read_at_least(**reader, kCount, 30s);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    const KafkaMessage& m = got[i];
    ASSERT_EQ(m.offset, i);
    EXPECT_EQ(m.topic, topic);
    EXPECT_EQ(m.partition, 0);
    EXPECT_EQ(m.key, "key-" + std::to_string(i % 7));
    EXPECT_EQ(m.value, "value-" + std::to_string(i));
    const KafkaHeaders expected = {{"seq", std::to_string(i)}, {"event-type", "policy_set"}, {"empty", ""}};
    EXPECT_EQ(m.headers, expected);
    ASSERT_NE(m.header("seq"), nullptr);
    EXPECT_EQ(*m.header("seq"), std::to_string(i));
    EXPECT_EQ(m.header("missing"), nullptr);
  }

  auto high = (*reader)->high_watermark(10s);
  ASSERT_TRUE(high.has_value()) << describe(high.error());
  EXPECT_EQ(*high, kCount);

  // Nothing more to read: an empty batch, not an error.
  auto more = (*reader)->poll(10, 200ms);
  ASSERT_TRUE(more.has_value()) << describe(more.error());
  EXPECT_TRUE(more->empty());

  // A reader can start in the middle.
  auto tail = KafkaPartitionReader::create(
      {.brokers = brokers, .security = security(), .topic = topic, .partition = 0, .start_offset = 995});
  ASSERT_TRUE(tail.has_value()) << describe(tail.error());
  const auto last = read_at_least(**tail, 5, 30s);
  ASSERT_EQ(last.size(), 5u);
  EXPECT_EQ(last.front().offset, 995);
  EXPECT_EQ(last.back().value, "value-999");
}

TEST(KafkaConsumer, NewConsumerInSameGroupResumesAfterCommittedOffsets) {
  const std::string brokers = kafka_brokers();
  ASSERT_FALSE(brokers.empty()) << kNoBrokers;
  const std::string topic = unique_name("topic");
  const std::string group = unique_name("group");
  ASSERT_TRUE(ensure_topics(brokers, {{topic, 2, {}}}, 30s, security()).has_value());

  constexpr int kCount = 100;
  {
    auto producer = KafkaProducer::create({.brokers = brokers, .security = security()});
    ASSERT_TRUE(producer.has_value()) << describe(producer.error());
    for (int i = 0; i < kCount; ++i) {
      ASSERT_TRUE((*producer)->produce(topic, "stream-" + std::to_string(i), "event-" + std::to_string(i)));
    }
    auto flushed = (*producer)->flush(30s);
    ASSERT_TRUE(flushed.has_value()) << describe(flushed.error());
  }

  // First member: read everything, commit the first half of each partition.
  std::map<std::int32_t, std::int64_t> committed;  // partition -> next offset
  std::size_t committed_count = 0;
  {
    auto consumer =
        KafkaConsumer::create({.brokers = brokers, .security = security(), .group_id = group, .topics = {topic}});
    ASSERT_TRUE(consumer.has_value()) << describe(consumer.error());
    const auto start = Clock::now();
    const auto got = read_at_least(**consumer, kCount, 60s);
    std::cout << "[ info     ] first consumer read " << got.size() << " records in " << ms_since(start)
              << " ms (includes joining the group)\n";
    ASSERT_EQ(got.size(), static_cast<std::size_t>(kCount));

    std::map<std::int32_t, std::vector<KafkaMessage>> by_partition;
    for (const auto& m : got) by_partition[m.partition].push_back(m);
    ASSERT_EQ(by_partition.size(), 2u) << "keys should spread over both partitions";
    std::vector<KafkaMessage> processed;
    for (auto& [partition, records] : by_partition) {
      for (std::size_t i = 0; i < records.size(); ++i) {
        ASSERT_EQ(records[i].offset, static_cast<std::int64_t>(i)) << "partition " << partition;
      }
      const std::size_t half = records.size() / 2;
      processed.insert(processed.end(), records.begin(), records.begin() + static_cast<std::ptrdiff_t>(half));
      committed[partition] = static_cast<std::int64_t>(half);
      committed_count += half;
    }
    auto ok = (*consumer)->commit(processed);
    ASSERT_TRUE(ok.has_value()) << describe(ok.error());
    (*consumer)->close();
    auto after_close = (*consumer)->poll(1, 0ms);
    ASSERT_FALSE(after_close.has_value());
    EXPECT_EQ(after_close.error().code, "kafka_closed");
  }

  // Second member of the same group: starts right after the commits.
  auto consumer =
      KafkaConsumer::create({.brokers = brokers, .security = security(), .group_id = group, .topics = {topic}});
  ASSERT_TRUE(consumer.has_value()) << describe(consumer.error());
  const auto start = Clock::now();
  const auto rest = read_at_least(**consumer, kCount - committed_count, 60s);
  std::cout << "[ info     ] second consumer read " << rest.size() << " records in " << ms_since(start)
            << " ms (includes joining the group)\n";
  ASSERT_EQ(rest.size(), kCount - committed_count);
  std::map<std::int32_t, std::int64_t> first_seen;
  for (const auto& m : rest) {
    EXPECT_GE(m.offset, committed[m.partition]) << "partition " << m.partition;
    first_seen.try_emplace(m.partition, m.offset);
  }
  EXPECT_EQ(first_seen, committed);
  auto none = (*consumer)->poll(10, 300ms);
  ASSERT_TRUE(none.has_value()) << describe(none.error());
  EXPECT_TRUE(none->empty());
}

TEST(KafkaConsumer, PollOnEmptyTopicReturnsEmptyWithinTimeout) {
  const std::string brokers = kafka_brokers();
  ASSERT_FALSE(brokers.empty()) << kNoBrokers;
  const std::string topic = unique_name("topic");
  ASSERT_TRUE(ensure_topics(brokers, {{topic, 1, {}}}, 30s, security()).has_value());

  auto consumer = KafkaConsumer::create(
      {.brokers = brokers, .security = security(), .group_id = unique_name("group"), .topics = {topic}});
  ASSERT_TRUE(consumer.has_value()) << describe(consumer.error());
  for (const auto timeout : {1500ms, 0ms}) {
    const auto start = Clock::now();
    auto batch = (*consumer)->poll(10, timeout);
    const auto elapsed = ms_since(start);
    ASSERT_TRUE(batch.has_value()) << describe(batch.error());
    EXPECT_TRUE(batch->empty());
    EXPECT_LT(elapsed, timeout.count() + 1000) << "poll overran its timeout";
  }
  // Nothing processed, nothing to commit.
  EXPECT_TRUE((*consumer)->commit({}).has_value());
}

TEST(KafkaConsumer, PollCommitAndCloseReturnInTimeWhenBrokerUnreachable) {
  RefusingPort port;
  ASSERT_NE(port.port(), 0);
  constexpr int kSessionTimeoutMs = 6000;
  auto consumer = KafkaConsumer::create({.brokers = port.address(),
                                         .group_id = unique_name("group"),
                                         .topics = {"unreachable"},
                                         .session_timeout_ms = kSessionTimeoutMs});
  ASSERT_TRUE(consumer.has_value()) << describe(consumer.error());

  auto start = Clock::now();
  auto batch = (*consumer)->poll(10, 500ms);
  ASSERT_TRUE(batch.has_value()) << describe(batch.error());
  EXPECT_TRUE(batch->empty());
  EXPECT_LT(ms_since(start), 1500);

  KafkaMessage processed;
  processed.topic = "unreachable";
  processed.offset = 1;
  start = Clock::now();
  auto committed = (*consumer)->commit({processed}, 500ms);
  EXPECT_LT(ms_since(start), 1500);
  ASSERT_FALSE(committed.has_value());
  EXPECT_EQ(committed.error().kind, ErrorKind::kUnavailable) << describe(committed.error());
  EXPECT_EQ(committed.error().code, "kafka_unavailable");

  // librdkafka keeps the abandoned commit until it expires (session timeout),
  // and close() waits for it: bounded, not a hang.
  start = Clock::now();
  (*consumer)->close();
  EXPECT_LT(ms_since(start), kSessionTimeoutMs + 3000);
}

TEST(KafkaProducer, FlushReportsUnavailableWhenBrokerUnreachable) {
  RefusingPort port;
  ASSERT_NE(port.port(), 0);

  // The wait times out: the records are purged and the flush says so.
  {
    auto producer = KafkaProducer::create({.brokers = port.address()});
    ASSERT_TRUE(producer.has_value()) << describe(producer.error());
    for (int i = 0; i < 10; ++i) {
      auto sent = (*producer)->produce("unreachable", "key", "value", {{"h", "v"}});
      ASSERT_TRUE(sent.has_value()) << describe(sent.error());
    }
    const auto start = Clock::now();
    auto flushed = (*producer)->flush(1000ms);
    EXPECT_LT(ms_since(start), 4000);
    ASSERT_FALSE(flushed.has_value());
    EXPECT_EQ(flushed.error().kind, ErrorKind::kUnavailable) << describe(flushed.error());
    EXPECT_EQ(flushed.error().code, "kafka_unavailable");

    // The purge emptied the queue: the next flush has nothing to wait for.
    auto again = (*producer)->flush(1000ms);
    EXPECT_TRUE(again.has_value()) << describe(again.error());
  }

  // The records expire (message timeout) before the flush gives up: the
  // delivery failures are reported, once.
  {
    auto producer = KafkaProducer::create({.brokers = port.address(), .message_timeout_ms = 500});
    ASSERT_TRUE(producer.has_value()) << describe(producer.error());
    ASSERT_TRUE((*producer)->produce("unreachable", "key", "value").has_value());
    const auto start = Clock::now();
    auto flushed = (*producer)->flush(20s);
    EXPECT_LT(ms_since(start), 10000);
    ASSERT_FALSE(flushed.has_value());
    EXPECT_EQ(flushed.error().kind, ErrorKind::kUnavailable) << describe(flushed.error());
    EXPECT_EQ(flushed.error().code, "kafka_unavailable");

    auto again = (*producer)->flush(1000ms);
    EXPECT_TRUE(again.has_value()) << describe(again.error());
  }
}

}  // namespace

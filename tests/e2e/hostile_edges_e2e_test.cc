// Hostile input at the edges the HTTP tests never reach (issue 10, items 1,
// 2, 10 and 12), through the real stack: ledger-command, ledger-relay,
// ledger-projector and ledger-query as processes over a fresh database and
// fresh topics. After every hostile input both services must still answer
// /healthz and a normal command must still be accepted.
//
//   HostileEdgesE2e.HeaderValuesThatCannotBeStoredAreRefusedAndNothingDies
//     X-Correlation-Id / Idempotency-Key with invalid UTF-8, control
//     characters or over 128 bytes (sent on raw sockets), on commands that
//     would be accepted and on a reader's command that is refused (and so
//     recorded as AccessRefused), and on query routes: 400 `invalid_header`
//     naming the header, and no process ends.
//   HostileEdgesE2e.UnhandleableKafkaRecordsAreAnsweredDeadLetteredAndCommittedPast
//     a record with an invalid UTF-8 key and no command id or token, and a
//     valid command with a bad `correlation-id` header, published in one
//     batch with a good command: each bad one is rejected on
//     ledger.command-results (keyed by its command id, else by
//     topic:partition:offset) and copied raw to the dead-letter topic with
//     its reason, the good one is accepted, and later commands are consumed.
//   HostileEdgesE2e.NulInACommandIsRefusedAndNeverFailsItsBatchNeighbours
//     a U+0000 in a string field is 400 `nul_character` over HTTP and
//     rejected on Kafka, while commands sent with it at the same time (same
//     group commits) are all accepted.
//   HostileEdgesE2e.UndecodablePathsAndOddTransferCodingsAre400
//     GET /v1/views/projects/%ff and friends answer 400
//     `invalid_path_encoding`; Transfer-Encoding other than exactly
//     `chunked` is 400 `invalid_transfer_encoding`; `chunked` still works.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "adapters/http/client.h"
#include "adapters/kafka/kafka.h"
#include "services/common/process.h"
#include "services/common/settings.h"
#include "tests/support/e2e_stack.h"
#include "tests/support/e2e_support.h"
#include "tests/support/test_env.h"

namespace {

using namespace std::chrono_literals;
using ledger::testing::eventually;
using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using Json = nlohmann::json;
using Stack = ledger::testing::ServiceStack;
namespace kafka = ledger::adapters::kafka;

constexpr const char* kReaderToken = "Bearer dev-acme-reader";

// One raw HTTP/1.1 exchange: `request` is sent as is (any bytes), the
// answer read until the server closes (requests say `Connection: close`).
struct RawReply {
  int status = 0;  // 0: no answer
  Json body;
  std::string raw;
};

RawReply raw_http(std::uint16_t port, const std::string& request) {
  RawReply out;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return out;
  timeval tv{};
  tv.tv_sec = 30;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return out;
  }
  std::size_t sent = 0;
  while (sent < request.size()) {
    const auto n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  char buf[4096];
  for (;;) {
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.raw.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (out.raw.rfind("HTTP/1.1 ", 0) == 0 && out.raw.size() >= 12) out.status = std::stoi(out.raw.substr(9, 3));
  if (const auto at = out.raw.find("\r\n\r\n"); at != std::string::npos) {
    out.body = Json::parse(out.raw.substr(at + 4), nullptr, false);
  }
  return out;
}

// A request with Content-Length, `extra` header lines (each ending in \r\n)
// and Connection: close.
std::string http_request(const std::string& method, const std::string& target, const std::string& token,
                         const std::string& extra, const std::string& body) {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!token.empty()) r += "Authorization: " + token + "\r\n";
  r += extra;
  if (!body.empty() || method == "POST") {
    r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return r + "\r\n" + body;
}

std::string code_of(const Json& body) {
  return body.is_object() && body.contains("code") && body["code"].is_string() ? body["code"].get<std::string>() : "";
}

Json register_product(const std::string& id) { return {{"kind", "product"}, {"entry_id", id}}; }

// Both services still serve, and a normal command is still accepted.
void expect_alive(Stack& s, const std::string& after) {
  for (const std::uint16_t port : {s.command_port(), s.query_port()}) {
    RawReply health = raw_http(port, http_request("GET", "/healthz", "", "", ""));
    EXPECT_EQ(health.status, 200) << "after " << after << " port " << port << "\n" << s.describe_logs();
  }
  static int n = 0;
  Reply r = s.command("registry.register", register_product("alive-" + std::to_string(++n)));
  EXPECT_EQ(r.status, 200) << "after " << after << ": " << r.describe() << "\n" << s.describe_logs();
}

// Every record of `topic` from the start, polled until `done` holds (or a minute).
std::vector<kafka::KafkaMessage> read_topic(const std::string& topic,
                                            const std::function<bool(const std::vector<kafka::KafkaMessage>&)>& done) {
  std::vector<kafka::KafkaMessage> all;
  auto consumer = kafka::KafkaConsumer::create({.brokers = ledger::testing::kafka_brokers(),
                                                .security = ledger::testing::kafka_security(),
                                                .group_id = ledger::testing::unique_name("hostile-read"),
                                                .topics = {topic}});
  if (!consumer) return all;
  eventually(
      60s,
      [&] {
        auto batch = (*consumer)->poll(500, 200ms);
        if (batch) all.insert(all.end(), batch->begin(), batch->end());
        return done(all);
      },
      10ms);
  return all;
}

const kafka::KafkaMessage* find_key(const std::vector<kafka::KafkaMessage>& all, const std::string& key) {
  for (const auto& m : all) {
    if (m.key == key) return &m;
  }
  return nullptr;
}

std::string dead_letter_topic(const Stack& s) { return s.dead_letter_topic(); }

// A raw producer as the command producer mapped to the platform admin: its
// topic and a client logged in as it (records go out with no token).
struct AdminProducer {
  std::string topic;
  std::unique_ptr<kafka::KafkaProducer> producer;
};
AdminProducer admin_producer(Stack& s) {
  auto principal = ledger::testing::dev_token_principal(kAdminToken);
  if (!principal) return {};
  const std::string name = s.producer_for(*principal);
  if (name.empty() || name.front() == '!') return {};
  auto p = kafka::KafkaProducer::create({.brokers = ledger::testing::kafka_brokers(),
                                         .security = ledger::testing::kafka_security_as(name),
                                         .client_id = "hostile"});
  if (!p) return {};
  return {ledger::adapters::identity::producer_topic(s.commands_topic(), name), std::move(*p)};
}

// ---------------------------------------------------------------- item 1

TEST(HostileEdgesE2e, HeaderValuesThatCannotBeStoredAreRefusedAndNothingDies) {
  Stack s("hostile_headers_e2e");
  ASSERT_TRUE(s.start());
  expect_alive(s, "start");

  const std::string body = register_product("hdr-product").dump();
  struct Case {
    std::string what, header, value;
    bool parser_refuses = false;  // Beast's parser already refuses control characters: 400 malformed_request
  };
  const std::vector<Case> cases = {
      {"invalid UTF-8 correlation id", "X-Correlation-Id",
       "a\xff"
       "b"},
      {"overlong-encoded correlation id", "X-Correlation-Id", "a\xc0\xaf"},
      {"surrogate in correlation id", "X-Correlation-Id", "a\xed\xa0\x80"},
      {"correlation id over 128 bytes", "X-Correlation-Id", std::string(129, 'c')},
      {"invalid UTF-8 idempotency key", "Idempotency-Key", "k\xfe\xff"},
      {"idempotency key over 128 bytes", "Idempotency-Key", std::string(200, 'k')},
      {"control character in correlation id", "X-Correlation-Id", "a\x01z", true},
      {"control character in idempotency key", "Idempotency-Key", "k\x7f", true},
  };
  for (const auto& c : cases) {
    const std::string lower = c.header == "X-Correlation-Id" ? "x-correlation-id" : "idempotency-key";
    // An admin's command that would be accepted, and a reader's that is
    // refused (which records an AccessRefused event with the correlation id).
    for (const std::string& token : {std::string(kAdminToken), std::string(kReaderToken)}) {
      RawReply r = raw_http(s.command_port(), http_request("POST", "/v1/commands/registry.register", token,
                                                           c.header + ": " + c.value + "\r\n", body));
      EXPECT_EQ(r.status, 400) << c.what << " token " << token << ": " << r.raw;
      if (c.parser_refuses && code_of(r.body) == "malformed_request") continue;
      EXPECT_EQ(code_of(r.body), "invalid_header") << c.what << ": " << r.raw;
      EXPECT_EQ(r.body["evidence"]["header"], lower) << c.what << ": " << r.raw;
      expect_alive(s, c.what + " with " + token);
    }
  }
  // The query service: a read route and the decisions route.
  for (const auto& [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/policy-values/quota.warn_threshold_percent"},
                                                        {"POST", "/v1/decisions"},
                                                        {"GET", "/v1/views/projects/nowhere"}}) {
    const std::string query_body = method == "POST" ? "{}" : "";
    RawReply r = raw_http(s.query_port(),
                          http_request(method, target, kAdminToken, "X-Correlation-Id: q\xff\xfe\r\n", query_body));
    EXPECT_EQ(r.status, 400) << target << ": " << r.raw;
    EXPECT_EQ(code_of(r.body), "invalid_header") << target << ": " << r.raw;
    expect_alive(s, "query " + target);
  }
  // A valid correlation id still reaches the answer and the event.
  RawReply fine = raw_http(s.command_port(), http_request("POST", "/v1/commands/registry.register", kAdminToken,
                                                          "X-Correlation-Id: corr-\xc3\xa9t\xc3\xa9\r\n"
                                                          "Idempotency-Key: hdr-ok-1\r\n",
                                                          register_product("hdr-fine").dump()));
  EXPECT_EQ(fine.status, 200) << fine.raw;
  EXPECT_EQ(fine.body["command_id"], "hdr-ok-1") << fine.raw;
  EXPECT_EQ(s.sql("SELECT correlation_id FROM ledger.events WHERE command_id = 'hdr-ok-1'"), "corr-\xc3\xa9t\xc3\xa9");
}

// ---------------------------------------------------------------- item 2

TEST(HostileEdgesE2e, UnhandleableKafkaRecordsAreAnsweredDeadLetteredAndCommittedPast) {
  Stack s("hostile_kafka_e2e");
  ASSERT_TRUE(s.start());
  expect_alive(s, "start");

  auto [topic, producer] = admin_producer(s);
  ASSERT_TRUE(producer) << s.describe_logs();
  const std::string bad_key = "k\xff\xfe-no-id";
  const Json no_id = register_product("kafka-no-id");  // no command_id, no token
  Json bad_corr = register_product("kafka-bad-corr");
  bad_corr["type"] = "registry.register";
  bad_corr["command_id"] = "kafka-bad-corr";
  Json good = register_product("kafka-good");
  good["type"] = "registry.register";
  good["command_id"] = "kafka-good";
  // One flush: the three records reach the consumer together (one partition
  // each by key, but one poll as a rule); none may fail the others.
  ASSERT_TRUE(producer->produce(topic, bad_key, no_id.dump()));
  ASSERT_TRUE(producer->produce(topic, "kafka-bad-corr", bad_corr.dump(), {{"correlation-id", "c\xff\xfe"}}));
  ASSERT_TRUE(producer->produce(topic, "kafka-good", good.dump()));
  ASSERT_TRUE(producer->flush(30s));

  // Answers on ledger.command-results.
  auto results = read_topic(s.results_topic(), [](const auto& all) {
    int found = 0;
    for (const auto& m : all) {
      Json v = Json::parse(m.value, nullptr, false);
      if (m.key == "kafka-bad-corr" || m.key == "kafka-good" || code_of(v) == "invalid_key") ++found;
    }
    return found >= 3;
  });
  const auto* corr_answer = find_key(results, "kafka-bad-corr");
  ASSERT_NE(corr_answer, nullptr) << s.describe_logs();
  Json corr_json = Json::parse(corr_answer->value);
  EXPECT_EQ(corr_json["status"], "rejected");
  EXPECT_EQ(corr_json["code"], "invalid_header") << corr_json;
  EXPECT_EQ(corr_json["evidence"]["header"], "correlation-id") << corr_json;
  const auto* good_answer = find_key(results, "kafka-good");
  ASSERT_NE(good_answer, nullptr) << s.describe_logs();
  EXPECT_EQ(Json::parse(good_answer->value)["status"], "accepted") << good_answer->value;
  const kafka::KafkaMessage* key_answer = nullptr;
  for (const auto& m : results) {
    if (code_of(Json::parse(m.value, nullptr, false)) == "invalid_key") key_answer = &m;
  }
  ASSERT_NE(key_answer, nullptr) << s.describe_logs();
  // No valid command id: keyed by where the record was.
  EXPECT_EQ(key_answer->key.rfind(topic + ":", 0), 0u) << key_answer->key;
  EXPECT_EQ(Json::parse(key_answer->value)["evidence"]["record"], key_answer->key) << key_answer->value;

  // Raw copies on the dead-letter topic, with the reason.
  // (A batch re-read after an outage may copy a record twice: at least once.)
  auto dead = read_topic(dead_letter_topic(s), [&](const auto& all) { return all.size() >= 2; });
  ASSERT_GE(dead.size(), 2u) << s.describe_logs();
  std::map<std::string, const kafka::KafkaMessage*> by_reason;
  for (const auto& m : dead) {
    const std::string* reason = m.header("dlq-reason");
    ASSERT_NE(reason, nullptr);
    by_reason[*reason] = &m;
    ASSERT_NE(m.header("dlq-source"), nullptr);
    EXPECT_EQ(m.header("dlq-source")->rfind(topic + ":", 0), 0u);
  }
  ASSERT_TRUE(by_reason.contains("invalid_key"));
  ASSERT_TRUE(by_reason.contains("invalid_header"));
  EXPECT_EQ(by_reason["invalid_key"]->key, bad_key);
  EXPECT_EQ(by_reason["invalid_key"]->value, no_id.dump());
  EXPECT_EQ(*by_reason["invalid_key"]->header("dlq-source"), key_answer->key);
  EXPECT_EQ(by_reason["invalid_header"]->key, "kafka-bad-corr");
  EXPECT_EQ(by_reason["invalid_header"]->value, bad_corr.dump());
  ASSERT_NE(by_reason["invalid_header"]->header("correlation-id"), nullptr);
  EXPECT_EQ(*by_reason["invalid_header"]->header("correlation-id"), "c\xff\xfe");

  // Committed past: the consumer goes on with later records.
  Json later = register_product("kafka-later");
  later["type"] = "registry.register";
  ASSERT_TRUE(s.publish("kafka-later", later, kAdminToken));
  Json answer = s.result_of("kafka-later");
  EXPECT_EQ(answer["status"], "accepted") << answer << s.describe_logs();
  expect_alive(s, "kafka records");
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.events WHERE command_id = 'kafka-bad-corr'"), "0");
}

// ---------------------------------------------------------------- item 10

TEST(HostileEdgesE2e, NulInACommandIsRefusedAndNeverFailsItsBatchNeighbours) {
  Stack s("hostile_nul_e2e");
  ASSERT_TRUE(s.start());
  expect_alive(s, "start");

  // Over HTTP: many commands at once (the writer batches what is queued),
  // one of them with a NUL in a string field.
  constexpr int kCommands = 24;
  constexpr int kPoisoned = kCommands / 2;
  std::vector<std::future<Reply>> replies;
  for (int i = 0; i < kCommands; ++i) {
    replies.push_back(std::async(std::launch::async, [&, i] {
      Json body = register_product("nul-http-" + std::to_string(i));
      if (i == kPoisoned) body["description"] = std::string("before\0after", 12);
      ledger::adapters::http::HttpClient client("127.0.0.1", s.command_port(), 30s);
      return ledger::testing::call(client, "POST", "/v1/commands/registry.register", body.dump());
    }));
  }
  for (int i = 0; i < kCommands; ++i) {
    Reply r = replies[static_cast<std::size_t>(i)].get();
    if (i == kPoisoned) {
      EXPECT_EQ(r.status, 400) << r.describe();
      EXPECT_EQ(r.code(), "nul_character") << r.describe();
      EXPECT_EQ(r.body["evidence"]["field"], "/description") << r.describe();
    } else {
      EXPECT_EQ(r.status, 200) << "neighbour " << i << ": " << r.describe();
    }
  }

  // Over Kafka: one flush, so the consumer submits them together and they
  // share group commits; the poisoned one comes last.
  auto [topic, producer] = admin_producer(s);
  ASSERT_TRUE(producer) << s.describe_logs();
  constexpr int kRecords = 40;
  for (int i = 0; i < kRecords; ++i) {
    Json body = register_product("nul-kafka-" + std::to_string(i));
    body["type"] = "registry.register";
    body["command_id"] = "nul-kafka-" + std::to_string(i);
    if (i == kRecords - 1) body["description"] = std::string("x\0y", 3);
    // One key: one partition, so the records come in one poll, in order.
    ASSERT_TRUE(producer->produce(topic, "nul-batch", body.dump()));
  }
  ASSERT_TRUE(producer->flush(30s));
  std::map<std::string, Json> answers;
  read_topic(s.results_topic(), [&](const auto& all) {
    for (const auto& m : all) {
      Json v = Json::parse(m.value, nullptr, false);
      if (v.is_object() && v.value("command_id", "").rfind("nul-kafka-", 0) == 0) answers[v["command_id"]] = v;
    }
    return answers.size() >= static_cast<std::size_t>(kRecords);
  });
  ASSERT_EQ(answers.size(), static_cast<std::size_t>(kRecords)) << s.describe_logs();
  for (int i = 0; i < kRecords; ++i) {
    const Json& a = answers["nul-kafka-" + std::to_string(i)];
    if (i == kRecords - 1) {
      EXPECT_EQ(a["status"], "rejected") << a;
      EXPECT_EQ(a["code"], "nul_character") << a;
    } else {
      EXPECT_EQ(a["status"], "accepted") << "neighbour " << i << ": " << a;
    }
  }
  expect_alive(s, "NUL commands");
}

// ---------------------------------------------------------------- item 12

TEST(HostileEdgesE2e, UndecodablePathsAndOddTransferCodingsAre400) {
  Stack s("hostile_http_e2e");
  ASSERT_TRUE(s.start());
  expect_alive(s, "start");

  const std::vector<std::string> undecodable = {"/v1/views/projects/%ff", "/v1/views/organizations/a%c0%afb",
                                                "/v1/reservations/%ff%fe", "/v1/policy-values/k%00"};
  for (const std::string& target : undecodable) {
    RawReply r = raw_http(s.query_port(), http_request("GET", target, kAdminToken, "", ""));
    EXPECT_EQ(r.status, 400) << target << ": " << r.raw;
    EXPECT_EQ(code_of(r.body), "invalid_path_encoding") << target << ": " << r.raw;
    expect_alive(s, target);
  }
  RawReply query = raw_http(s.query_port(), http_request("GET", "/v1/audit?actor_id=%ff", kAdminToken, "", ""));
  EXPECT_EQ(query.status, 400) << query.raw;
  EXPECT_EQ(code_of(query.body), "invalid_query_encoding") << query.raw;
  RawReply command_path = raw_http(s.command_port(), http_request("POST", "/v1/commands/%ff", kAdminToken, "", "{}"));
  EXPECT_EQ(command_path.status, 400) << command_path.raw;
  EXPECT_EQ(code_of(command_path.body), "invalid_path_encoding") << command_path.raw;
  expect_alive(s, "undecodable paths");

  // A chunked body: "{}" in one chunk.
  const std::string chunked_body = "2\r\n{}\r\n0\r\n\r\n";
  auto te_request = [&](const std::string& te_lines) {
    return std::string("POST /v1/commands/registry.register HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n") +
           "Authorization: " + kAdminToken + "\r\nContent-Type: application/json\r\n" + te_lines + "\r\n" +
           chunked_body;
  };
  const std::vector<std::string> odd = {"Transfer-Encoding: gzip, chunked\r\n",
                                        "Transfer-Encoding: identity, chunked\r\n",
                                        "Transfer-Encoding: chunked, chunked\r\n",
                                        "Transfer-Encoding: chunked;ext=1\r\n",
                                        "Transfer-Encoding: xchunked\r\n",
                                        "Transfer-Encoding: identity\r\n",
                                        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"};
  for (const std::string& te : odd) {
    for (const std::uint16_t port : {s.command_port(), s.query_port()}) {
      RawReply r = raw_http(port, te_request(te));
      EXPECT_EQ(r.status, 400) << te << " on " << port << ": " << r.raw;
      // Two fields are already a parse error for Beast (malformed_request).
      if (te.find("\r\nTransfer-Encoding") != std::string::npos && code_of(r.body) == "malformed_request") continue;
      EXPECT_EQ(code_of(r.body), "invalid_transfer_encoding") << te << ": " << r.raw;
    }
    expect_alive(s, te);
  }
  // Exactly chunked still works (the body is decoded: "{}" is a body the
  // decoder refuses for its missing fields, not a framing error).
  for (const std::string& te :
       std::vector<std::string>{"Transfer-Encoding: chunked\r\n", "Transfer-Encoding: Chunked\r\n"}) {
    RawReply r = raw_http(s.command_port(), te_request(te));
    EXPECT_EQ(r.status, 400) << te << r.raw;
    EXPECT_EQ(code_of(r.body), "missing_field") << te << r.raw;
  }
}

}  // namespace

// The chain as a consumer of ledger.events checks it (codec::verify_link,
// projections::ChainGuard), and the writer's Ed25519 anchor signatures
// (codec::ChainSigningKey / ChainVerifyingKey). No servers.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "events/codec/chain.h"
#include "events/codec/json_codec.h"
#include "projections/chain_guard.h"
#include "projections/projector.h"

namespace ledger {
namespace {

events::RecordedEvent event_at(std::int64_t position, const std::string& prev_hash, std::int64_t value = 0) {
  events::EventMeta m;
  m.global_position = events::GlobalPosition{position};
  m.stream_id = "policy-key:k";
  m.stream_version = events::StreamVersion{position};
  m.event_id = "e-" + std::to_string(position);
  m.occurred_at = events::Instant{1'780'272'000'000'000 + position};
  m.recorded_at = m.occurred_at;
  m.actor = {"user", "alice", {"platform_admin"}};
  m.tenant = "platform";
  m.command_id = "c" + std::to_string(position);
  events::PolicyValueSet set;
  set.key = "k";
  set.scope = {events::ScopeLevel::kGlobal, ""};
  set.before = events::PolicyValue{std::int64_t{0}};
  set.after = events::PolicyValue{value == 0 ? position : value};
  set.effective_at = m.occurred_at;
  set.reason = "r";
  return codec::record(m, set, prev_hash);
}

// History 1..n, chained from genesis.
std::vector<events::RecordedEvent> history(std::int64_t n) {
  std::vector<events::RecordedEvent> out;
  std::string prev = events::kGenesisHash;
  for (std::int64_t p = 1; p <= n; ++p) {
    out.push_back(event_at(p, prev));
    prev = out.back().hash;
  }
  return out;
}

class MemoryHistory final : public projections::TrueHistory {
 public:
  explicit MemoryHistory(std::vector<events::RecordedEvent> events) : events_(std::move(events)) {}
  domain::Result<std::vector<events::RecordedEvent>> read_after(events::GlobalPosition after,
                                                                std::size_t limit) override {
    ++reads;
    std::vector<events::RecordedEvent> out;
    for (const auto& e : events_) {
      if (e.meta.global_position > after && out.size() < limit) out.push_back(e);
    }
    return out;
  }
  std::vector<events::RecordedEvent> events_;
  int reads = 0;
};

projections::FeedRecord rec(const events::RecordedEvent& r, std::int64_t offset) {
  return {offset, codec::to_json_text(r)};
}

std::vector<std::int64_t> positions(const projections::Guarded& g) {
  std::vector<std::int64_t> out;
  for (const auto& e : g.events) out.push_back(e.meta.global_position.value);
  return out;
}

// A forged PolicyValueSet as the issue describes it: zeroed hashes.
events::RecordedEvent forged_at(std::int64_t position) {
  auto r = event_at(position, events::kGenesisHash, 999'999);
  r.prev_hash = std::string(64, '0');
  r.hash = std::string(64, '0');
  return r;
}

TEST(ChainLink, AcceptsTheNextEventAndNamesWhatIsWrongOtherwise) {
  auto h = history(3);
  EXPECT_FALSE(codec::verify_link(events::kGenesisHash, h[0]).has_value());
  EXPECT_FALSE(codec::verify_link(h[1].hash, h[2]).has_value());
  EXPECT_EQ(codec::verify_link(h[0].hash, h[2]), codec::LinkFault::kBrokenLink);  // skips position 2
  auto edited = h[2];
  edited.meta.actor.id = "mallory";
  EXPECT_EQ(codec::verify_link(h[1].hash, edited), codec::LinkFault::kHashMismatch);
  EXPECT_EQ(codec::verify_link(h[1].hash, forged_at(3)), codec::LinkFault::kHashMismatch);
  auto junk_payload = h[2];
  junk_payload.payload = "{not json";
  EXPECT_EQ(codec::verify_link(h[1].hash, junk_payload), codec::LinkFault::kHashMismatch);
  EXPECT_STREQ(codec::link_fault_name(codec::LinkFault::kBrokenLink), "broken_link");
}

TEST(ChainGuard, AdmitsAnIntactFeedAndSkipsDuplicatesSilently) {
  auto h = history(5);
  MemoryHistory store(h);
  projections::ChainGuard guard(store);
  ASSERT_TRUE(guard.anchor(events::GlobalPosition{2}).has_value());
  EXPECT_EQ(guard.head_hash(), h[1].hash);
  std::vector<projections::FeedRecord> feed;
  for (std::size_t i = 0; i < h.size(); ++i) feed.push_back(rec(h[i], static_cast<std::int64_t>(i)));
  feed.push_back(rec(h[3], 9));  // the relay repeats after a restart
  auto g = guard.admit(feed);
  ASSERT_TRUE(g.has_value()) << g.error().message;
  EXPECT_EQ(positions(*g), (std::vector<std::int64_t>{3, 4, 5}));
  EXPECT_TRUE(g->alarms.empty());
  EXPECT_EQ(guard.position(), events::GlobalPosition{5});
}

TEST(ChainGuard, AForgedRecordAtTheNextPositionIsReplacedByTheTrueEventFromTheStore) {
  auto h = history(4);
  MemoryHistory store(h);
  projections::ChainGuard guard(store);
  ASSERT_TRUE(guard.anchor(events::GlobalPosition{2}).has_value());
  // The forgery at checkpoint + 1, then the genuine 3 and 4 as Kafka brings them.
  auto g = guard.admit(std::vector<projections::FeedRecord>{rec(forged_at(3), 7), rec(h[2], 8), rec(h[3], 9)});
  ASSERT_TRUE(g.has_value()) << g.error().message;
  EXPECT_EQ(positions(*g), (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(g->events[0], h[2]) << "the store's event, never the forged one";
  ASSERT_EQ(g->alarms.size(), 1u);
  EXPECT_EQ(g->alarms[0].reason, "hash_mismatch");
  EXPECT_EQ(g->alarms[0].offset, 7);
  EXPECT_EQ(g->alarms[0].position, events::GlobalPosition{3});
  EXPECT_TRUE(g->alarms[0].replaced);
}

TEST(ChainGuard, JunkIsSkippedWithAnAlarmAndTheGapItLeavesIsFilledFromTheStore) {
  auto h = history(4);
  MemoryHistory store(h);
  projections::ChainGuard guard(store);
  ASSERT_TRUE(guard.anchor(events::GlobalPosition{0}).has_value());
  auto g = guard.admit(std::vector<projections::FeedRecord>{
      rec(h[0], 0), {1, "not json at all"}, {2, R"({"global_position": "two"})"}, rec(h[3], 3)});
  ASSERT_TRUE(g.has_value()) << g.error().message;
  EXPECT_EQ(positions(*g), (std::vector<std::int64_t>{1, 2, 3, 4}));
  ASSERT_EQ(g->alarms.size(), 2u);
  EXPECT_EQ(g->alarms[0].reason, "junk_record");
  EXPECT_EQ(g->alarms[1].reason, "junk_record");
  EXPECT_EQ(g->alarms[1].offset, 2);
}

TEST(ChainGuard, ABrokenLinkAConflictingDuplicateAndAPositionBeyondTheStoreAreAlarms) {
  auto h = history(3);
  MemoryHistory store(h);
  projections::ChainGuard guard(store);
  ASSERT_TRUE(guard.anchor(events::GlobalPosition{1}).has_value());
  // Self-consistent but chained to something else: a broken link.
  auto relinked = event_at(2, std::string(64, 'a'), 42);
  // A different event claiming an applied position.
  auto other_one = event_at(1, events::kGenesisHash, 77);
  // A position no writer produced yet.
  auto future = event_at(9, h[2].hash);
  auto g = guard.admit(std::vector<projections::FeedRecord>{rec(relinked, 1), rec(other_one, 2), rec(future, 3)});
  ASSERT_TRUE(g.has_value()) << g.error().message;
  EXPECT_EQ(positions(*g), (std::vector<std::int64_t>{2, 3}));
  ASSERT_EQ(g->alarms.size(), 3u);
  EXPECT_EQ(g->alarms[0].reason, "broken_link");
  EXPECT_TRUE(g->alarms[0].replaced);
  EXPECT_EQ(g->alarms[1].reason, "conflicting_duplicate");
  EXPECT_EQ(g->alarms[2].reason, "unknown_position");
  EXPECT_FALSE(g->alarms[2].replaced);
  EXPECT_EQ(guard.position(), events::GlobalPosition{3});
}

TEST(ChainGuard, AStoreWhoseOwnChainIsBrokenStopsTheGuardWithNothingAdmitted) {
  auto h = history(3);
  auto damaged = h;
  damaged[1].meta.actor.id = "mallory";  // hash no longer matches
  MemoryHistory store(damaged);
  projections::ChainGuard guard(store);
  ASSERT_TRUE(guard.anchor(events::GlobalPosition{1}).has_value());
  auto g = guard.admit(std::vector<projections::FeedRecord>{rec(forged_at(2), 0)});
  ASSERT_FALSE(g.has_value());
  EXPECT_EQ(g.error().code, "store_chain_broken");
}

TEST(ChainGuard, AGapWiderThanTheFillLimitIsAPositionGap) {
  auto h = history(10);
  MemoryHistory store(h);
  projections::ChainGuard guard(store, /*max_fill=*/3);
  ASSERT_TRUE(guard.anchor(events::GlobalPosition{0}).has_value());
  auto g = guard.admit(std::vector<projections::FeedRecord>{rec(h[9], 0)});
  ASSERT_FALSE(g.has_value());
  EXPECT_EQ(g.error().code, "position_gap");
}

std::string read_file(const std::string& rel) {
  std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/" + rel);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

constexpr const char* kOtherPrivate =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIMJJ0J2ltgKLAM/8/jDB3RNoe75wNw+jWVk3MUpNwgDM\n"
    "-----END PRIVATE KEY-----\n";

TEST(ChainSignature, TheDevKeySignsAndItsPublicHalfVerifiesWithTheSameKeyId) {
  auto key = codec::ChainSigningKey::from_pem(read_file("config/dev-only-chain-anchor-key.pem"));
  ASSERT_TRUE(key.has_value()) << key.error();
  auto pub = codec::ChainVerifyingKey::from_pem(read_file("config/dev-only-chain-anchor-key.pub.pem"));
  ASSERT_TRUE(pub.has_value()) << pub.error();
  EXPECT_EQ(key->key_id(), pub->key_id());
  EXPECT_EQ(key->key_id().size(), 16u);
  const std::string head(64, 'a');
  const auto statement = codec::chain_head_statement(1000, head);
  EXPECT_EQ(statement, "policy-ledger-chain-head:v1|1000|" + head);
  const std::string sig = key->sign(statement);
  EXPECT_EQ(sig.size(), 128u);
  EXPECT_EQ(sig, key->sign(statement)) << "Ed25519 is deterministic";
  EXPECT_TRUE(pub->verify(statement, sig));
  // Another head, another position, a flipped signature, another key: no.
  EXPECT_FALSE(pub->verify(codec::chain_head_statement(1000, std::string(64, 'b')), sig));
  EXPECT_FALSE(pub->verify(codec::chain_head_statement(1001, head), sig));
  std::string flipped = sig;
  flipped[0] = flipped[0] == '0' ? '1' : '0';
  EXPECT_FALSE(pub->verify(statement, flipped));
  EXPECT_FALSE(pub->verify(statement, "zz"));
  auto other = codec::ChainSigningKey::from_pem(kOtherPrivate);
  ASSERT_TRUE(other.has_value());
  EXPECT_NE(other->key_id(), key->key_id());
  EXPECT_FALSE(pub->verify(statement, other->sign(statement)));
  // The public PEM the writer derives is the auditor's key.
  auto derived = codec::ChainVerifyingKey::from_pem(key->public_pem());
  ASSERT_TRUE(derived.has_value()) << derived.error();
  EXPECT_EQ(derived->key_id(), key->key_id());
}

TEST(ChainSignature, NonEd25519OrMalformedKeysAreRefusedWithAReason) {
  EXPECT_FALSE(codec::ChainSigningKey::from_pem("").has_value());
  EXPECT_FALSE(
      codec::ChainSigningKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").has_value());
  EXPECT_FALSE(codec::ChainVerifyingKey::from_pem("hello").has_value());
  // A public key is not a signing key.
  EXPECT_FALSE(codec::ChainSigningKey::from_pem(read_file("config/dev-only-chain-anchor-key.pub.pem")).has_value());
}

// A flood of junk on the topic: every alarm counted, the log bounded by
// time, whatever the batches.
TEST(ChainAlarms, EachIntervalLogsItsFirstFewOneByOneAndTheRestAsOneLineOfCounts) {
  std::ostringstream out;
  const auto before = spdlog::default_logger();
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("captured", std::make_shared<spdlog::sinks::ostream_sink_mt>(out)));
  auto now = std::chrono::steady_clock::time_point{};
  projections::ChainAlarmLog log(std::chrono::seconds(10), [&now] { return now; });
  std::vector<projections::ChainAlarm> alarms;
  for (std::int64_t i = 0; i < 1000; ++i) {
    alarms.push_back({i % 3 == 0 ? "hash_mismatch" : "junk_record", 100 + i, events::GlobalPosition{i}, false, "d"});
  }
  projections::ProjectorStatus status;
  auto lines = [&out] {
    const std::string text = out.str();
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  };
  // 1,000 in a batch, then a batch of 5 a second later: eight lines.
  log.raise(alarms, &status);
  EXPECT_EQ(lines(), projections::ChainAlarmLog::kLines);
  now += std::chrono::seconds(1);
  log.raise(std::span(alarms).first(5), &status);
  log.raise({}, &status);
  EXPECT_EQ(lines(), projections::ChainAlarmLog::kLines) << "the interval's lines are spent";
  // Ten seconds on, the next call (an idle one) logs the counts held back:
  // i = 8..999 of the first batch (offsets 108..1099; i % 3 == 0 for 331
  // of them) and the 5 of the second (offsets 100..104; i = 0 and 3), with
  // the lowest and highest offset.
  now += std::chrono::seconds(9);
  log.raise({}, &status);
  EXPECT_EQ(lines(), projections::ChainAlarmLog::kLines + 1);
  EXPECT_NE(out.str().find("chain alarm: 997 more within 10000 ms, not logged one by one (offsets 100..1099): "
                           "hash_mismatch=333 junk_record=664"),
            std::string::npos)
      << out.str();
  log.raise({}, &status);
  log.flush();
  EXPECT_EQ(lines(), projections::ChainAlarmLog::kLines + 1) << "nothing more was held back";
  // A new interval: its first alarms are logged one by one again.
  now += std::chrono::seconds(60);
  log.raise(std::span(alarms).first(2), &status);
  EXPECT_EQ(lines(), projections::ChainAlarmLog::kLines + 3);
  // A rebuild's end logs what it held back without waiting.
  log.raise(std::span(alarms).first(projections::ChainAlarmLog::kLines), &status);
  log.flush();
  spdlog::set_default_logger(before);
  EXPECT_EQ(lines(), projections::ChainAlarmLog::kLines + 3 + 6 + 1);
  EXPECT_NE(out.str().find("chain alarm: 2 more within 10000 ms, not logged one by one (offsets 106..107): "
                           "hash_mismatch=1 junk_record=1"),
            std::string::npos)
      << out.str();
  std::size_t one_by_one = 0;
  const std::string text = out.str();
  for (std::size_t at = 0; (at = text.find("chain alarm: reason=", at)) != std::string::npos; ++at) ++one_by_one;
  EXPECT_EQ(one_by_one, 2 * projections::ChainAlarmLog::kLines);
  EXPECT_EQ(status.alarms(), 1000U + 5U + 2U + 8U);
  EXPECT_EQ(status.counts().alarms_by_reason.at("hash_mismatch"), 334U + 2U + 1U + 3U);
}

}  // namespace
}  // namespace ledger

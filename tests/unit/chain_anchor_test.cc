// commands::ChainAnchor over the in-memory store: when the writer signs its
// chain head (by count, by time, never twice for one head), what it appends,
// and that the signature verifies with the public half.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "adapters/memory/event_store.h"
#include "adapters/system/clock.h"
#include "commands/chain_anchor.h"
#include "events/codec/json_codec.h"

namespace ledger {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

std::string dev_key_pem(const char* file) {
  std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/config/" + file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ChainAnchorTest : public ::testing::Test {
 protected:
  void append_values(int n) {
    for (int i = 0; i < n; ++i) {
      commands::StreamAppend a;
      a.stream_id = "policy-key:k";
      a.expected_version = version_;
      a.meta.command_id = "c" + std::to_string(++commands_);
      a.meta.actor = {"user", "alice", {"platform_admin"}};
      a.meta.tenant = "platform";
      events::PolicyKeyDefined d{"k" + std::to_string(commands_),
                                 events::ValueType::kInt,
                                 events::PolicyValue{std::int64_t{1}},
                                 0,
                                 10,
                                 {},
                                 ""};
      a.events.emplace_back(d);
      auto out = store_.append(std::span<const commands::StreamAppend>(&a, 1));
      ASSERT_TRUE(out.has_value());
      version_ = out->front().stream_version;
    }
  }
  std::vector<events::RecordedEvent> anchors() const {
    std::vector<events::RecordedEvent> out;
    for (const auto& r : store_.all()) {
      if (r.event_type == events::ChainHeadSigned::kType) out.push_back(r);
    }
    return out;
  }
  commands::ChainAnchor make(std::int64_t every_events, std::chrono::milliseconds every) {
    auto key = codec::ChainSigningKey::from_pem(dev_key_pem("dev-only-chain-anchor-key.pem"));
    EXPECT_TRUE(key.has_value());
    return commands::ChainAnchor(store_, store_, clock_, *key, {.every_events = every_events, .every = every});
  }

  adapters::system::ManualClock clock_{events::Instant{1'780'272'000'000'000}};
  adapters::memory::InMemoryEventStore store_{clock_};
  events::StreamVersion version_;
  int commands_ = 0;
  Steady::time_point t0_ = Steady::time_point{} + 1000h;
};

TEST_F(ChainAnchorTest, SignsTheHeadOnceEnoughEventsAreUnsignedAndTheSignatureVerifies) {
  auto anchor = make(3, 0ms);
  append_values(2);
  anchor.maybe_anchor(1, t0_);
  EXPECT_TRUE(anchors().empty()) << "2 unsigned events are below the count";
  append_values(1);
  const auto head = store_.chain_head();
  anchor.maybe_anchor(1, t0_);
  const auto signed_heads = anchors();
  ASSERT_EQ(signed_heads.size(), 1u);
  const auto& r = signed_heads[0];
  EXPECT_EQ(r.meta.global_position, events::GlobalPosition{4});
  EXPECT_EQ(r.meta.stream_id, commands::kChainAnchorStream);
  EXPECT_EQ(r.meta.tenant, "platform");
  EXPECT_EQ(r.meta.actor.id, "chain-anchor");
  auto env = codec::decode(r);
  ASSERT_TRUE(env.has_value());
  const auto& a = std::get<events::ChainHeadSigned>(env->event);
  EXPECT_EQ(a.position, head.position.value);
  EXPECT_EQ(a.head_hash, head.hash);
  EXPECT_EQ(a.algorithm, "Ed25519");
  auto pub = codec::ChainVerifyingKey::from_pem(dev_key_pem("dev-only-chain-anchor-key.pub.pem"));
  ASSERT_TRUE(pub.has_value());
  EXPECT_EQ(a.key_id, pub->key_id());
  // The writer refuses this key outside the development profiles by its id.
  EXPECT_EQ(pub->key_id(), commands::kDevelopmentAnchorKeyId);
  EXPECT_TRUE(pub->verify(codec::chain_head_statement(a.position, a.head_hash), a.signature));
  // The anchor itself needs no anchor: nothing more until 3 new events.
  anchor.maybe_anchor(1, t0_);
  append_values(2);
  anchor.maybe_anchor(1, t0_);
  EXPECT_EQ(anchors().size(), 1u);
  append_values(1);
  anchor.maybe_anchor(1, t0_);
  EXPECT_EQ(anchors().size(), 2u);
}

TEST_F(ChainAnchorTest, SignsUnsignedEventsOnceTheIntervalPassedAndNothingWhenAllIsSigned) {
  auto anchor = make(0, 60s);
  append_values(1);
  anchor.maybe_anchor(1, t0_);  // becomes the writer: the interval starts now
  EXPECT_TRUE(anchors().empty());
  anchor.maybe_anchor(1, t0_ + 59s);
  EXPECT_TRUE(anchors().empty());
  anchor.maybe_anchor(1, t0_ + 60s);
  EXPECT_EQ(anchors().size(), 1u);
  anchor.maybe_anchor(1, t0_ + 600s);  // idle: only the anchor since
  EXPECT_EQ(anchors().size(), 1u);
}

TEST_F(ChainAnchorTest, ANewWriterEpochReloadsTheLastAnchorAndDoesNotSignTheSameHeadAgain) {
  {
    auto first = make(2, 0ms);
    append_values(2);
    first.maybe_anchor(1, t0_);
    ASSERT_EQ(anchors().size(), 1u);
  }
  auto second = make(2, 0ms);  // another instance took over
  second.maybe_anchor(2, t0_);
  EXPECT_EQ(anchors().size(), 1u);
  append_values(2);
  second.maybe_anchor(2, t0_);
  const auto signed_heads = anchors();
  ASSERT_EQ(signed_heads.size(), 2u);
  EXPECT_EQ(signed_heads[1].meta.stream_version, events::StreamVersion{2});
}

}  // namespace
}  // namespace ledger

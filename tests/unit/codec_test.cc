// The codec: instants, canonical form, hash chain, golden payloads.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"

namespace ledger {
namespace {

using codec::format_instant;
using codec::parse_instant;

TEST(Rfc3339, FormatsUtcWithSixFractionalDigits) {
  EXPECT_EQ(format_instant(events::Instant{0}), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(format_instant(events::Instant{1'780'272'000'000'001}), "2026-06-01T00:00:00.000001Z");
  EXPECT_EQ(format_instant(events::Instant{-1}), "1969-12-31T23:59:59.999999Z");
}

// The instant as printf writes it: what format_instant wrote before it put
// the digits in place itself.
std::string printf_instant(std::int64_t micros) {
  using namespace std::chrono;
  std::int64_t secs = micros / 1'000'000;
  std::int64_t frac = micros % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    --secs;
  }
  const sys_days day{floor<days>(sys_seconds{seconds{secs}})};
  const year_month_day ymd{day};
  const std::int64_t sod = secs - duration_cast<seconds>(day.time_since_epoch()).count();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ", int(ymd.year()), unsigned(ymd.month()),
                unsigned(ymd.day()), static_cast<long long>(sod / 3600), static_cast<long long>(sod / 60 % 60),
                static_cast<long long>(sod % 60), static_cast<long long>(frac));
  return buf;
}

TEST(Rfc3339, FormatsEveryInstantAsPrintfWould) {
  // Years 0..9999 digit by digit, the rest through printf: both agree with it.
  for (std::int64_t t : {std::int64_t{0}, std::int64_t{-62'167'219'200'000'000}, std::int64_t{-62'167'219'200'000'001},
                         std::int64_t{253'402'300'799'999'999}, std::int64_t{253'402'300'800'000'000}}) {
    EXPECT_EQ(format_instant(events::Instant{t}), printf_instant(t)) << t;
  }
  EXPECT_TRUE(rc::check([](std::int64_t t) { RC_ASSERT(format_instant(events::Instant{t}) == printf_instant(t)); }));
  EXPECT_TRUE(rc::check([](std::uint32_t days, std::uint32_t micros_of_day) {
    // Within years 1..9999 and on a microsecond grid of whole days.
    const std::int64_t t =
        (-719'162 + std::int64_t{days % 3'652'059}) * 86'400'000'000 + std::int64_t{micros_of_day} % 86'400'000'000;
    RC_ASSERT(format_instant(events::Instant{t}) == printf_instant(t));
  }));
}

TEST(Rfc3339, ParsesZuluOffsetsAndFractions) {
  EXPECT_EQ(parse_instant("2026-06-01T00:00:00Z")->micros, 1'780'272'000'000'000);
  EXPECT_EQ(parse_instant("2026-06-01T02:00:00+02:00")->micros, 1'780'272'000'000'000);
  EXPECT_EQ(parse_instant("2026-06-01T00:00:00.5Z")->micros, 1'780'272'000'500'000);
  EXPECT_EQ(parse_instant("2026-06-01T00:00:00.123456789Z")->micros, 1'780'272'000'123'456);
}

TEST(Rfc3339, RefusesMalformedInstants) {
  for (const char* bad :
       {"", "2026-06-01", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-06-01T24:00:00Z", "2026-06-01T00:00:00",
        "2026-06-01T00:00:00Zjunk", "2026-06-01T00:00:00.Z", "2026-06-01T00:00:00+2:00", "not a time"}) {
    EXPECT_FALSE(parse_instant(bad).has_value()) << bad;
  }
}

TEST(Rfc3339, RoundTripsEveryFormattedInstant) {
  for (std::int64_t t : {0LL, 1LL, 999'999LL, 1'780'272'000'123'456LL, -86'400'000'001LL, 4'102'444'800'000'000LL}) {
    EXPECT_EQ(parse_instant(format_instant(events::Instant{t}))->micros, t);
  }
}

// nlohmann's own writing of `s`: what append_json_string promises.
std::string dumped(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string appended(std::string_view s) {
  std::string out = "[";
  codec::append_json_string(out, s);
  return out;
}

// Every byte value at every place of strings shorter than a word (read
// padded), of whole words, and of a last word read in part: verbatim bytes
// around it, so only that one decides.
TEST(JsonString, EachByteAnywhereIsWrittenAsNlohmannWritesIt) {
  for (int b = 0; b < 256; ++b) {
    for (std::size_t size = 1; size <= 19; ++size) {
      for (std::size_t at = 0; at < size; ++at) {
        std::string s(size, 'a');
        s[at] = static_cast<char>(b);
        ASSERT_EQ(appended(s), "[" + dumped(s)) << "byte " << b << " at " << at << " of " << size;
      }
    }
  }
}

RC_GTEST_PROP(JsonString, AnyTextIsWrittenAsNlohmannWritesIt, ()) {
  const auto s =
      *rc::gen::oneOf(rc::gen::arbitrary<std::string>(),
                      rc::gen::container<std::string>(rc::gen::cast<char>(rc::gen::inRange(0x1c, 0x81))),
                      rc::gen::container<std::string>(rc::gen::element<char>('a', '"', '\\', '\x7f', '\x1f')));
  RC_ASSERT(appended(s) == "[" + dumped(s));
}

events::EventMeta sample_meta(std::int64_t position) {
  events::EventMeta m;
  m.global_position = events::GlobalPosition{position};
  m.stream_id = "policy-key:billing.window_seconds";
  m.stream_version = events::StreamVersion{position};
  m.event_id = "6f1c2a4e-0d8b-4c3a-9d7e-2b1f0e9a8c7d";
  m.occurred_at = events::Instant{1'780'272'000'000'000};
  m.recorded_at = events::Instant{1'780'272'000'000'100};
  m.actor = {"user", "alice", {"platform_admin"}};
  m.tenant = "org-1";
  m.correlation_id = "corr-1";
  m.command_id = "cmd-1";
  return m;
}

events::PolicyValueSet sample_value_set() {
  return events::PolicyValueSet{"billing.window_seconds",
                                {events::ScopeLevel::kOrganization, "org-1"},
                                events::PolicyValue{std::int64_t{60}},
                                events::BeforeSource::kDefault,
                                events::PolicyValue{std::int64_t{120}},
                                events::Instant{1'780'272'000'000'000},
                                "customer request"};
}

TEST(Codec, RecordedEventDecodesToTheSameEvent) {
  auto r = codec::record(sample_meta(1), sample_value_set(), events::kGenesisHash);
  auto env = codec::decode(r);
  ASSERT_TRUE(env.has_value()) << env.error();
  EXPECT_EQ(std::get<events::PolicyValueSet>(env->event), sample_value_set());
  EXPECT_EQ(env->meta, sample_meta(1));
}

TEST(Codec, HashCoversEveryEnvelopeField) {
  auto r = codec::record(sample_meta(1), sample_value_set(), events::kGenesisHash);
  EXPECT_EQ(codec::compute_hash(r), r.hash);
  auto tampered = r;
  tampered.meta.actor.id = "mallory";
  EXPECT_NE(codec::compute_hash(tampered), r.hash);
  tampered = r;
  tampered.prev_hash[0] = '1';
  EXPECT_NE(codec::compute_hash(tampered), r.hash);
  tampered = r;
  auto payload = nlohmann::json::parse(r.payload);
  payload["reason"] = "something else";
  tampered.payload = codec::canonical_payload(payload);
  EXPECT_NE(codec::compute_hash(tampered), r.hash);
}

TEST(Codec, CanonicalFormIgnoresKeyOrderAndWhitespace) {
  auto r = codec::record(sample_meta(1), sample_value_set(), events::kGenesisHash);
  // The same envelope as a producer might write it: keys reversed, spaced out.
  auto j = codec::to_json(r);
  std::vector<std::pair<std::string, nlohmann::json>> fields;
  for (const auto& item : j.items()) fields.emplace_back(item.key(), item.value());
  std::string text = "{ ";
  for (auto f = fields.rbegin(); f != fields.rend(); ++f) {
    if (f != fields.rbegin()) text += " ,\n ";
    text += nlohmann::json(f->first).dump() + " : " + f->second.dump(2);
  }
  text += " }";
  auto back = codec::recorded_from_text(text);
  ASSERT_TRUE(back.has_value()) << back.error();
  EXPECT_EQ(*back, r);
  EXPECT_EQ(codec::compute_hash(*back), r.hash);
}

TEST(Codec, ChainLinksEachEventToThePrevious) {
  auto first = codec::record(sample_meta(1), sample_value_set(), events::kGenesisHash);
  auto second = codec::record(sample_meta(2), sample_value_set(), first.hash);
  EXPECT_EQ(second.prev_hash, first.hash);
  EXPECT_NE(second.hash, first.hash);
}

TEST(Codec, RefusesUnknownTypesVersionsAndMalformedPayloads) {
  EXPECT_FALSE(codec::decode_payload("NoSuchEvent", 1, nlohmann::json::object()).has_value());
  EXPECT_FALSE(codec::decode_payload("PolicyValueSet", 99, nlohmann::json::object()).has_value());
  auto payload = codec::encode_payload(sample_value_set());
  payload.erase("reason");
  auto e = codec::decode_payload("PolicyValueSet", 1, payload);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().find("reason"), std::string::npos);
}

// Golden files: every (type, version) ever written must still decode.
// A file at the current version round-trips byte for byte (as JSON); a file
// at an older version is upcast on read and must encode exactly as the
// golden file of the current version (they describe the same event).
struct Golden {
  const char* file;
  const char* type;
  int version;
  const char* upcasts_to;  // nullptr: the current version, round-trips
};
constexpr Golden kGoldens[] = {
    {"PolicyKeyDefined.v1.json", "PolicyKeyDefined", 1, "PolicyKeyDefined.v2.json"},
    {"PolicyKeyDefined.v2.json", "PolicyKeyDefined", 2, nullptr},
    {"PolicyValueSet.v1.json", "PolicyValueSet", 1, "PolicyValueSet.v2.json"},
    {"PolicyValueSet.v2.json", "PolicyValueSet", 2, nullptr},
    {"RegistryEntryRegistered.v1.json", "RegistryEntryRegistered", 1, nullptr},
    {"OrganizationCreated.v1.json", "OrganizationCreated", 1, nullptr},
    {"OrganizationPlanChanged.v1.json", "OrganizationPlanChanged", 1, nullptr},
    {"DepartmentCreated.v1.json", "DepartmentCreated", 1, nullptr},
    {"DepartmentMoved.v1.json", "DepartmentMoved", 1, nullptr},
    {"ProjectCreated.v1.json", "ProjectCreated", 1, nullptr},
    {"ProjectMoved.v1.json", "ProjectMoved", 1, nullptr},
    {"PrincipalCreated.v1.json", "PrincipalCreated", 1, nullptr},
    {"CeilingSet.v1.json", "CeilingSet", 1, nullptr},
    {"CeilingCleared.v1.json", "CeilingCleared", 1, nullptr},
    {"CeilingDelegated.v1.json", "CeilingDelegated", 1, nullptr},
    {"CeilingDelegationRevoked.v1.json", "CeilingDelegationRevoked", 1, nullptr},
    {"ReservationDrafted.v1.json", "ReservationDrafted", 1, nullptr},
    {"ReservationStateChanged.v1.json", "ReservationStateChanged", 1, nullptr},
    {"ReservationConsumed.v1.json", "ReservationConsumed", 1, nullptr},
    {"ReservationReleased.v1.json", "ReservationReleased", 1, nullptr},
    {"AccessRefused.v1.json", "AccessRefused", 1, nullptr},
    {"ChainHeadSigned.v1.json", "ChainHeadSigned", 1, nullptr},
    {"TokenRevoked.v1.json", "TokenRevoked", 1, nullptr},
    {"ApplicationRegistered.v1.json", "ApplicationRegistered", 1, nullptr},
    {"ApplicationRenamed.v1.json", "ApplicationRenamed", 1, nullptr},
    {"ApplicationRetired.v1.json", "ApplicationRetired", 1, nullptr},
    {"PolicyAttached.v1.json", "PolicyAttached", 1, nullptr},
    {"PolicyUpdated.v1.json", "PolicyUpdated", 1, nullptr},
    {"PolicyDetached.v1.json", "PolicyDetached", 1, nullptr},
    // plan entitlements (events/entitlement_events.h)
    {"CapabilityDefined.v1.json", "CapabilityDefined", 1, nullptr},
    {"CapabilityDeprecated.v1.json", "CapabilityDeprecated", 1, nullptr},
    {"CapabilityRetired.v1.json", "CapabilityRetired", 1, nullptr},
    {"PlanDefined.v1.json", "PlanDefined", 1, nullptr},
    {"PlanUpdated.v1.json", "PlanUpdated", 1, nullptr},
    {"PlanArchived.v1.json", "PlanArchived", 1, nullptr},
    {"EntitlementPolicyCreated.v1.json", "EntitlementPolicyCreated", 1, nullptr},
    {"PolicyVersionCreated.v1.json", "PolicyVersionCreated", 1, nullptr},
    {"PolicyVersionActivated.v1.json", "PolicyVersionActivated", 1, nullptr},
    {"PolicyVersionArchived.v1.json", "PolicyVersionArchived", 1, nullptr},
    {"ConfigLayerSet.v1.json", "ConfigLayerSet", 1, nullptr},
    {"EntitlementSettingsChanged.v1.json", "EntitlementSettingsChanged", 1, nullptr},
    {"ConfigReloaded.v1.json", "ConfigReloaded", 1, nullptr},
    {"ConfigSecretsShredded.v1.json", "ConfigSecretsShredded", 1, nullptr},
};

nlohmann::json read_golden(const std::string& file) {
  std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/tests/golden/" + file);
  EXPECT_TRUE(in.good()) << file;
  return in.good() ? nlohmann::json::parse(in) : nlohmann::json();
}

TEST(Codec, GoldenPayloadsOfEveryTypeAndVersionDecode) {
  for (const auto& g : kGoldens) {
    SCOPED_TRACE(g.file);
    const auto payload = read_golden(g.file);
    auto ev = codec::decode_payload(g.type, g.version, payload);
    ASSERT_TRUE(ev.has_value()) << ev.error();
    EXPECT_STREQ(events::type_name(*ev), g.type);
    if (g.upcasts_to == nullptr) {
      EXPECT_EQ(events::schema_version(*ev), g.version) << "a round-trip golden must be the current version";
      EXPECT_EQ(codec::encode_payload(*ev), payload);
    } else {
      EXPECT_LT(g.version, events::schema_version(*ev));
      EXPECT_EQ(codec::encode_payload(*ev), read_golden(g.upcasts_to));
      // The upcast event equals the one its current-version golden decodes to.
      auto current = codec::decode_payload(g.type, events::schema_version(*ev), read_golden(g.upcasts_to));
      ASSERT_TRUE(current.has_value()) << current.error();
      EXPECT_TRUE(*current == *ev);
    }
  }
}

// Every file in tests/golden/ is listed above (none is silently unchecked),
// and the current version of every event type has a golden file.
TEST(Codec, GoldenFilesCoverEveryFileAndEveryCurrentVersion) {
  std::set<std::string> listed;
  for (const auto& g : kGoldens) listed.insert(g.file);
  std::set<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(LEDGER_SOURCE_DIR) + "/tests/golden")) {
    if (entry.path().extension() == ".json") on_disk.insert(entry.path().filename().string());
  }
  EXPECT_EQ(on_disk, listed);

  auto expect_current_golden = [&](const char* type, int version) {
    const std::string file = std::string(type) + ".v" + std::to_string(version) + ".json";
    EXPECT_TRUE(listed.contains(file)) << "no golden file for the current version: " << file;
  };
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (expect_current_golden(std::variant_alternative_t<I, events::Event>::kType,
                           std::variant_alternative_t<I, events::Event>::kSchemaVersion),
     ...);
  }(std::make_index_sequence<std::variant_size_v<events::Event>>{});
}

}  // namespace
}  // namespace ledger

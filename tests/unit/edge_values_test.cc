// Values from outside a command body (commands/edge_values.h), one
// `ledger.commands` record read on its own (commands/command_record.h), and
// the NUL character in command bodies (commands/decode.h): issue 10, items
// 1, 2 and 10.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

#include "commands/command_record.h"
#include "commands/decode.h"
#include "commands/edge_values.h"

namespace ledger::commands {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

std::string evidence(const domain::Error& e, const std::string& key) {
  for (const auto& [k, v] : e.evidence_texts()) {
    if (k == key) return v;
  }
  return "<none>";
}

// ------------------------------------------------------------ edge values

TEST(EdgeValues, PrintableTextIsUtf8WithoutControlCharacters) {
  EXPECT_TRUE(printable_text(""));
  EXPECT_TRUE(printable_text("corr-42"));
  EXPECT_TRUE(printable_text("caf\xc3\xa9 \xf0\x9f\x98\x80"));
  for (const std::string& bad :
       {std::string("a\xff"
                    "b"),
        std::string("\xc0\xaf"), std::string("\xed\xa0\x80"), std::string("a\0b", 3), std::string("tab\there"),
        std::string("nl\n"), std::string("del\x7f"), std::string("\xe2\x82")}) {
    EXPECT_FALSE(printable_text(bad)) << nlohmann::json(bad).dump(-1, ' ', true,
                                                                  nlohmann::json::error_handler_t::replace);
  }
}

TEST(EdgeValues, HeaderIdAcceptsAbsentEmptyAndPrintableValues) {
  EXPECT_EQ(header_id("x-correlation-id", nullptr).value(), "");
  const std::string empty;
  EXPECT_EQ(header_id("x-correlation-id", &empty).value(), "");
  const std::string ok = "corr-\xc3\xa9";
  EXPECT_EQ(header_id("x-correlation-id", &ok).value(), ok);
  const std::string longest(kMaxEdgeIdBytes, 'x');
  EXPECT_EQ(header_id("idempotency-key", &longest).value(), longest);
}

TEST(EdgeValues, HeaderIdRefusesWhatCannotBeStoredNamingTheHeaderNotTheValue) {
  for (const std::string& bad :
       {std::string("a\xff"
                    "b"),
        std::string("a\x01"), std::string(kMaxEdgeIdBytes + 1, 'x'), std::string("secret\0", 7)}) {
    auto r = header_id("x-correlation-id", &bad);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, domain::ErrorKind::kInvalidArgument);
    EXPECT_EQ(r.error().code, "invalid_header");
    EXPECT_EQ(evidence(r.error(), "header"), "x-correlation-id");
    EXPECT_EQ(r.error().message.find("secret"), std::string::npos);
    for (const auto& [k, v] : r.error().evidence_texts()) EXPECT_NE(v, bad);
  }
}

TEST(EdgeValues, RecordKeyIdAndResultKey) {
  EXPECT_EQ(record_key_id("").value(), "");
  EXPECT_EQ(record_key_id("cmd-1").value(), "cmd-1");
  EXPECT_EQ(record_key_id("k\xff").error().code, "invalid_key");
  EXPECT_EQ(record_key_id(std::string(kMaxEdgeIdBytes + 1, 'k')).error().code, "invalid_key");
  EXPECT_EQ(record_result_key("ledger.commands", 2, 17), "ledger.commands:2:17");
}

// ------------------------------------------------------------ records

RecordRead read(std::string_view key, const std::string& value, const Headers& headers = {}) {
  return read_command_record({"ledger.commands", 1, 42, key, value, headers});
}

const std::string kGood = R"({"type":"registry.register","kind":"product","entry_id":"p1","command_id":"cmd-1"})";

TEST(CommandRecord, AGoodRecordIsReadWithItsIdsAndCommand) {
  auto r = read("cmd-1", kGood, {{"authorization", "Bearer x"}, {"correlation-id", "corr-1"}});
  ASSERT_FALSE(r.refused) << r.refused->code;
  EXPECT_EQ(r.command_id, "cmd-1");
  EXPECT_EQ(r.result_key, "cmd-1");
  EXPECT_EQ(r.type, "registry.register");
  EXPECT_EQ(r.correlation_id, "corr-1");
  ASSERT_TRUE(r.command);
  EXPECT_TRUE(std::holds_alternative<domain::RegisterEntry>(r.command->command));
}

TEST(CommandRecord, TheKeyStandsInForAMissingCommandIdAndTypeDefaultsToPolicyValueSet) {
  auto r = read("from-key", R"({"key":"k","value":1,"reason":"r"})");
  ASSERT_FALSE(r.refused) << r.refused->code;
  EXPECT_EQ(r.command_id, "from-key");
  EXPECT_EQ(r.command->command_id, "from-key");
  EXPECT_EQ(r.type, "policy_value.set");
  EXPECT_EQ(r.correlation_id, "");
}

TEST(CommandRecord, AnInvalidKeyWithoutCommandIdIsAnsweredUnderItsPosition) {
  auto r = read("k\xff\xfe", R"({"type":"registry.register","kind":"product","entry_id":"p1"})");
  ASSERT_TRUE(r.refused);
  EXPECT_EQ(r.refused->code, "invalid_key");
  EXPECT_EQ(r.command_id, "");
  EXPECT_EQ(r.result_key, "ledger.commands:1:42");
}

TEST(CommandRecord, AnInvalidKeyIsRefusedEvenWithACommandIdButAnsweredUnderThatId) {
  auto r = read("k\xff", kGood);
  ASSERT_TRUE(r.refused);
  EXPECT_EQ(r.refused->code, "invalid_key");
  EXPECT_EQ(r.result_key, "cmd-1");
}

TEST(CommandRecord, ABadCorrelationHeaderIsRefusedUnderTheCommandId) {
  for (const std::string& bad : {std::string("c\xff\xfe"), std::string("c\0", 2), std::string(200, 'c')}) {
    auto r = read("cmd-1", kGood, {{"correlation-id", bad}});
    ASSERT_TRUE(r.refused);
    EXPECT_EQ(r.refused->code, "invalid_header");
    EXPECT_EQ(evidence(*r.refused, "header"), "correlation-id");
    EXPECT_EQ(r.result_key, "cmd-1");
    EXPECT_FALSE(r.command);
  }
}

TEST(CommandRecord, UnreadableBodiesAreRefusedWithTheDecodersCodes) {
  EXPECT_EQ(read("cmd-1", "not json").refused->code, "malformed_json");
  EXPECT_EQ(read("cmd-1", "{\"a\":\"\xff\"}").refused->code, "invalid_utf8");
  EXPECT_EQ(read("cmd-1", R"({"type":5,"command_id":"c"})").refused->code, "unknown_command_type");
  EXPECT_EQ(read("", R"({"type":"registry.register","kind":"product","entry_id":"p1"})").refused->code,
            "missing_field");
  auto nul = read("", R"({"type":"registry.register","kind":"product","entry_id":"p\u0000","command_id":"c9"})");
  ASSERT_TRUE(nul.refused);
  EXPECT_EQ(nul.refused->code, "nul_character");
  EXPECT_EQ(nul.result_key, "c9");  // the body's id is still where it is answered
}

TEST(CommandRecord, AnUnreadableBodyIsAnsweredUnderAValidKey) {
  auto r = read("cmd-7", "{");
  ASSERT_TRUE(r.refused);
  EXPECT_EQ(r.result_key, "cmd-7");
}

// ------------------------------------------------------------ NUL in bodies

TEST(DecodeNul, ANulInAnyStringOrKeyIsRefusedNamingWhere) {
  struct Case {
    std::string body, field;
  };
  const std::vector<Case> cases = {
      {R"({"key":"a\u0000b","value":1,"reason":"r"})", "/key"},
      {R"({"key":"k","value":"x\u0000","reason":"r"})", "/value"},
      {R"({"key":"k","value":1,"reason":"r","scope":{"org_id":"o\u0000"}})", "/scope/org_id"},
      {R"({"key":"k","value":1,"reason":"r","extra":["ok","\u0000"]})", "/extra/1"},
      {R"({"key":"k","value":1,"reason":"r","b\u0000d":1})", "/"},
  };
  for (const auto& c : cases) {
    auto doc = parse_json_document(c.body);
    ASSERT_FALSE(doc.has_value()) << c.body;
    EXPECT_EQ(doc.error().kind, domain::ErrorKind::kInvalidArgument);
    EXPECT_EQ(doc.error().code, "nul_character") << c.body;
    EXPECT_EQ(evidence(doc.error(), "field"), c.field) << c.body;
  }
  EXPECT_TRUE(parse_json_document(R"({"key":"k\u0001","value":1,"reason":"r"})").has_value());
}

TEST(DecodeNul, ACommandIdWithControlCharactersIsRefused) {
  auto doc = parse_json_document(R"({"kind":"product","entry_id":"p","command_id":"a\nb"})");
  ASSERT_TRUE(doc.has_value());
  auto d = decode_command("registry.register", *doc);
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().code, "invalid_field");
  EXPECT_EQ(evidence(d.error(), "field"), "command_id");
}

}  // namespace
}  // namespace ledger::commands

// libFuzzer target: a decision body (POST /v1/decisions) read both ways
// (adapters/http/routes/decision_input.h). Arbitrary bytes as the body:
// whenever the direct reader (simdjson, no tree) answers, the tree path
// (parse_json_document + parse_decision_input) must accept the same bytes
// with the same input, application and decision-log text. Neither may
// crash, leak, throw or trip UBSan.
//
//   scripts/fuzz.sh            (builds the `fuzz` targets of the `sanitize` preset, runs each)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "adapters/http/routes/decision_input.h"
#include "tests/support/decision_input_text.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  const auto plain = ledger::routes::read_plain_decision_input(body, "cid", /*with_logged=*/true);
  const ledger::testing::TreeAnswer tree = ledger::testing::by_tree(body, "cid");
  if (!plain) return 0;
  if (!tree.accepted) std::abort();
  if (ledger::testing::describe(plain->input) != tree.input) std::abort();
  if (plain->application != tree.application) std::abort();
  if (plain->logged != tree.logged) std::abort();
  return 0;
}

// libFuzzer target: a decision body (POST /v1/decisions) read both ways
// (adapters/http/routes/decision_input.h). Arbitrary bytes as the body:
// whenever the direct reader (simdjson, no tree) answers, the tree path
// (parse_json_document + parse_decision_input) must accept the same bytes
// with the same input, application and decision-log text. The same bytes as
// a batch body ({"decisions": [...]}): read directly only when the tree
// path reads every input, each alike. Neither may crash, leak, throw or
// trip UBSan.
//
//   scripts/fuzz.sh            (builds the `fuzz` targets of the `sanitize` preset, runs each)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "adapters/http/routes/decision_input.h"
#include "tests/support/decision_input_text.h"

namespace {

void same(const ledger::routes::PlainDecisionInput& plain, const ledger::testing::TreeAnswer& tree) {
  if (!tree.accepted) std::abort();
  if (ledger::testing::describe(plain.input) != tree.input) std::abort();
  if (plain.application != tree.application) std::abort();
  if (plain.logged != tree.logged) std::abort();
}

// The bytes as a batch body, at most 4 inputs.
void batch(const std::string& body) {
  const auto plain = ledger::routes::read_plain_decision_batch(body, "cid", /*with_logged=*/true, 4);
  if (!plain) return;
  auto doc = ledger::commands::parse_json_document(body);
  if (!doc || doc->size() != 1 || !doc->contains("decisions")) std::abort();
  const auto& items = (*doc)["decisions"];
  if (!items.is_array() || items.size() != plain->size()) std::abort();
  for (std::size_t k = 0; k < plain->size(); ++k) {
    same((*plain)[k], ledger::testing::by_tree(ledger::routes::dump_lenient(items[k]), "cid"));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  batch(body);
  const auto plain = ledger::routes::read_plain_decision_input(body, "cid", /*with_logged=*/true);
  const ledger::testing::TreeAnswer tree = ledger::testing::by_tree(body, "cid");
  if (plain) same(*plain, tree);
  return 0;
}

// The README's shell examples, run as written against the real services
// (issue 17 part 1): every ```sh / ```bash block of README.md, in order, in
// one bash with `set -euo pipefail`, so a variable one example sets (T, POS)
// is there for the next, as for a reader pasting them into one terminal.
//
// Contract with README.md:
// - Every shell block runs unless the line right before its fence is
//   `<!-- not run by the README test: REASON -->` (set-up commands such as
//   `./ledgerctl up` that the test stack stands in for).
// - The examples address the services as `./ledgerctl up` starts them:
//   `http://127.0.0.1:8081` (commands), `http://127.0.0.1:8082` (queries),
//   binaries under `build/services/`, paths relative to the repository. The
//   test substitutes this test's own ports and build directory, nothing else.
// - `curl` runs with `--fail-with-body`: an example answered 4xx/5xx fails.
// - A comment line `# {...}` (a JSON object) in a block is an expected
//   answer: some JSON value the block printed must hold each of its fields
//   with the same value.
// - The stack is what `./ledgerctl up` leaves: a fresh ledger with the
//   policy-key catalog loaded (`ledger-admin load-catalog`).
// A failure names the block by its README.md line.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/e2e_stack.h"

namespace ledger::testing {
namespace {

using Json = nlohmann::json;

constexpr const char* kNotRun = "<!-- not run by the README test:";

struct Example {
  int line = 0;  // the opening fence's line in README.md (1-based)
  std::string code;
  bool run = true;
};

// Fences may be indented (a block inside a list item): the fence's
// indentation is taken off every line of the block.
std::vector<Example> shell_examples(const std::string& path) {
  std::ifstream in(path);
  std::vector<Example> out;
  std::string line, previous;
  int n = 0;
  bool inside = false, shell = false;
  std::size_t indent = 0;
  Example current;
  const auto trimmed = [](const std::string& s) {
    const auto at = s.find_first_not_of(' ');
    return at == std::string::npos ? std::string() : s.substr(at);
  };
  while (std::getline(in, line)) {
    ++n;
    const std::string text = trimmed(line);
    if (!inside && text.starts_with("```")) {
      inside = true;
      indent = line.size() - text.size();
      const std::string lang = text.substr(3);
      shell = lang == "sh" || lang == "bash" || lang == "shell";
      current = Example{n, "", !trimmed(previous).starts_with(kNotRun)};
    } else if (inside && text == "```") {
      inside = false;
      if (shell) out.push_back(current);
    } else if (inside) {
      const auto lead = line.size() - trimmed(line).size();
      current.code += line.substr(std::min(indent, lead)) + "\n";
    }
    previous = line;
  }
  return out;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every JSON value in `text` (answers printed back to back, or one a line);
// text that is not JSON is skipped.
std::vector<Json> json_values(const std::string& text) {
  std::vector<Json> out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '{' && text[i] != '[') continue;
    // operator>> reads one value and leaves the stream right after it.
    std::istringstream in(text.substr(i));
    Json j;
    try {
      in >> j;
    } catch (const Json::exception&) {
      continue;
    }
    out.push_back(std::move(j));
    const auto consumed = in.tellg();
    if (consumed < 0) break;  // the value ran to the end of the text
    i += static_cast<std::size_t>(consumed) - 1;
  }
  return out;
}

bool holds(const Json& value, const Json& expected) {
  if (!value.is_object()) return false;
  for (const auto& [k, v] : expected.items()) {
    if (!value.contains(k) || value.at(k) != v) return false;
  }
  return true;
}

// The expected answers of a block: its `# {...}` comment lines.
std::vector<Json> expected_answers(const std::string& code) {
  std::vector<Json> out;
  std::istringstream in(code);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("# {")) continue;
    Json j = Json::parse(line.substr(2), nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

std::string readme_path() { return std::string(LEDGER_SOURCE_DIR) + "/README.md"; }

TEST(ReadmeExamples, EveryShellBlockIsRunOrSaysWhyNot) {
  const auto examples = shell_examples(readme_path());
  int runnable = 0;
  for (const auto& e : examples) runnable += e.run ? 1 : 0;
  // The quick start, the application policy walk-through, CEL validation,
  // hashing a static token and minting a JWT at least.
  EXPECT_GE(runnable, 5) << "README.md has fewer runnable shell examples than expected";
  ASSERT_FALSE(examples.empty());
  EXPECT_FALSE(examples.front().run) << "README.md:" << examples.front().line
                                     << ": the two commands are set-up, not examples";
}

// Under `pipefail`, `producer | head` fails whenever the producer writes after
// head has exited (SIGPIPE, exit 141): whether it does depends on how the
// answer is split into writes, so such an example passes or fails by timing.
// A run example reads what it pipes to the end (`sed -n 1,4p`, not `head -4`).
TEST(ReadmeExamples, NoRunExamplePipesIntoHead) {
  for (const auto& e : shell_examples(readme_path())) {
    if (!e.run) continue;
    EXPECT_EQ(e.code.find("| head"), std::string::npos)
        << "README.md:" << e.line << ": `| head` fails by timing under pipefail; read the whole answer (sed -n 1,Np)";
  }
}

TEST(ReadmeExamples, JsonValuesFindsAnswersPrintedBackToBack) {
  const auto values = json_values("{\"a\":1}{\"b\":[2]}\nnot json {\"c\":{\"d\":3}}");
  ASSERT_EQ(values.size(), 3u);
  EXPECT_TRUE(holds(values[1], Json::parse(R"({"b":[2]})")));
  EXPECT_TRUE(holds(values[2], Json::parse(R"({"c":{"d":3}})")));
  EXPECT_FALSE(holds(values[0], Json::parse(R"({"a":2})")));
}

TEST(ReadmeExamplesE2e, EveryExampleRunsAgainstTheServices) {
  ServiceStack stack("readme_examples_e2e");
  const auto started = stack.start();
  ASSERT_TRUE(started) << started.message();
  const std::string bin = std::string(LEDGER_BINARY_DIR) + "/services/";
  const std::string command_url = "http://127.0.0.1:" + std::to_string(stack.command_port());
  const std::string query_url = "http://127.0.0.1:" + std::to_string(stack.query_port());

  // What `./ledgerctl up` does after starting the services.
  const auto catalog =
      run_command(bin + "ledger-admin load-catalog --token dev-platform-admin --catalog " + LEDGER_SOURCE_DIR +
                  "/config/policy-keys.json --command-port " + std::to_string(stack.command_port()) + " 2>&1");
  ASSERT_EQ(catalog.status, 0) << catalog.out;

  const auto dir = std::filesystem::temp_directory_path() / unique_name("readme-examples");
  std::filesystem::create_directories(dir);
  std::string script =
      "set -euo pipefail\n"
      "cd '" +
      std::string(LEDGER_SOURCE_DIR) +
      "'\n"
      // An answer 4xx/5xx fails the example and is shown on stderr too (a
      // block's stdout may be a pipe, e.g. into sed).
      "curl() {\n"
      "  local out rc=0\n"
      "  out=$(command curl --fail-with-body --show-error --max-time 30 \"$@\") || rc=$?\n"
      "  printf '%s' \"$out\"\n"
      "  if [ \"$rc\" != 0 ]; then printf 'curl answer: %s\\n' \"$out\" >&2; fi\n"
      "  return \"$rc\"\n"
      "}\n";
  std::vector<Example> ran;
  for (const auto& e : shell_examples(readme_path())) {
    if (!e.run) continue;
    std::string code = e.code;
    replace_all(code, "http://127.0.0.1:8081", command_url);
    replace_all(code, "http://127.0.0.1:8082", query_url);
    replace_all(code, "build/services/", bin);
    const std::string out = (dir / ("block-" + std::to_string(e.line) + ".out")).string();
    script += "echo " + std::to_string(e.line) + " >>'" + (dir / "progress").string() + "'\n";
    script += "{\n" + code + "} >'" + out + "' 2>&1\n";
    ran.push_back(e);
  }
  {
    std::ofstream(dir / "examples.sh") << script;
  }
  const auto run = run_command("bash '" + (dir / "examples.sh").string() + "' 2>&1");

  std::string progress = read_file(dir / "progress");
  std::istringstream lines(progress);
  std::string last;
  for (std::string l; std::getline(lines, l);) last = l;
  ASSERT_EQ(run.status, 0) << "README.md:" << last << ": this example failed (exit " << run.status << "):\n"
                           << read_file(dir / ("block-" + last + ".out")) << run.out
                           << "\n(script: " << (dir / "examples.sh").string() << ")\n"
                           << stack.describe_logs();

  for (const auto& e : ran) {
    const std::string printed = read_file(dir / ("block-" + std::to_string(e.line) + ".out"));
    const auto values = json_values(printed);
    for (const auto& want : expected_answers(e.code)) {
      bool found = false;
      for (const auto& v : values) found = found || holds(v, want);
      EXPECT_TRUE(found) << "README.md:" << e.line << ": no answer holds " << want.dump() << "; it printed:\n"
                         << printed << "\n(outputs in " << dir.string() << ")";
    }
  }
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);  // kept for a failure
}

}  // namespace
}  // namespace ledger::testing

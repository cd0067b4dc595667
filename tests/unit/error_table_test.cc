// The README's error table (section "Errors", the table `| status | codes |`)
// lists every error code ledger-command and ledger-query answer, in the row of
// the HTTP status it is answered with. This test keeps it so:
//
//   1. It scans the product sources (adapters/, commands/, domain/, events/,
//      projections/, services/; .cc and .h) for every error a source builds
//      and the ErrorKind it builds it with, mapped to a status as
//      routes::http_status() does (adapters/http/routes/http_json.cc):
//        ErrorKind::kX, "code"                 fail(), Error{...}, err(), refuse(), make_error()
//        ErrorKind::kX, cond ? "a" : "b"       both codes
//        ErrorKind::kX, kSomeConstant          a `kSomeConstant = "code";` of the sources
//        .kind = ErrorKind::kX, .code = "code" designated initializers
//        e.kind = ErrorKind::kX; e.code = "c"  an error re-kinded and re-coded
//        ErrorKind::kX, std::move(code)        inside a helper `name(std::string code, ...)`:
//                                              every `name("code", ...)` of the same file
//                                              and of every file that includes it
//                                              (`#include "path"`, directly or not)
//        ErrorKind::kX, error_                 a decoder's member that a helper
//                                              `fail(std::string code, ...)` sets from `code`
//                                              (calls counted in the files that include
//                                              the helper's file or, for a .cc, its header)
//        error_response(NNN, "code", ...)      the HTTP server's own answers
//      and `auto r = error_response({.., "code", ..}); r.status = NNN;`
//      answers with NNN instead (405 `method_not_allowed`, 415
//      `unsupported_media_type`). Any other way of giving an error its code
//      fails ScannerUnderstandsEveryErrorConstruction: teach the scanner the
//      new form rather than letting codes slip past.
//   2. Codes that no HTTP answer carries are left out: kInternal (500; only
//      `internal`, the answer to anything unexpected, is in the table), the
//      sources of kExcludedPaths and the codes of kExcludedCodes, each with
//      its reason.
//   3. It parses the README table (codes in backticks; backticked words inside
//      a parenthetical explanation are not entries) and fails naming every
//      code missing from the row of its status (a code built with two kinds
//      belongs in both rows), every code of the table that no source answers
//      with that status, and every exclusion that is no longer needed.
//   4. Every code of the table but the 500 row's and the Kafka-only ones
//      (kKafkaOnlyCodes) is in backticks in the description of a response of
//      the same status of some operation of command.json or query.json
//      (adapters/http/openapi/; `$ref`s into components.responses followed),
//      or in the document's info description right after its status
//      ("400 `invalid_header`").
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;

const fs::path kSource = LEDGER_SOURCE_DIR;

// The scanned directories: the product, not tests/ or bench/.
const char* const kScannedDirs[] = {"adapters", "commands", "domain", "events", "projections", "services"};

// Sources no answer of ledger-command or ledger-query comes from.
const char* const kExcludedPaths[] = {
    "adapters/audit/",             // ledger-audit's offline verification and history tools
    "adapters/memory/",            // in-memory fakes of the stores for unit tests (injected failures)
    "adapters/http/client.cc",     // the HTTP client of ledger-cli and ledger-admin
    "adapters/kafka/",             // Kafka clients: they run in the background, no request waits on Kafka
    "adapters/postgres/admin.cc",  // ledger-admin's database bootstrap (its secrets file)
    "services/ledger_admin/",      // CLIs
    "services/ledger_audit/",
    "services/ledger_cli/",
    "domain/error.h",  // the definition of Error itself
};

struct Exclusion {
  const char* code;
  int status;
  const char* reason;
};

// Codes built in sources that do serve requests, yet never answered to a
// request with this status. Keep it short and true:
// ExclusionsAreStillNeeded fails for an entry that no source produces any
// more or that the table lists anyway.
const Exclusion kExcludedCodes[] = {
    // Start-up and configuration files: the process refuses to start (or a
    // reload keeps the previous file); no request is answered with them.
    {"already_started", 422, "HttpServer::start() called twice"},
    {"plain_http_not_loopback", 422, "HttpServer start-up settings"},
    {"tls_config_invalid", 400, "HttpServer start-up settings"},
    {"listen_failed", 503, "HttpServer start-up"},
    {"insecure_token_config", 400, "token file, at start and reload"},
    {"invalid_token_config", 400, "token file, at start and reload"},
    {"kafka_producers_malformed", 400, "config/kafka-producers.json, at start and reload"},
    {"kafka_producers_unreadable", 400, "config/kafka-producers.json, at start and reload"},
    {"tokens_file_malformed", 400, "services/common/process.cc start-up"},
    {"tokens_file_unreadable", 400, "services/common/process.cc start-up"},
    {"kafka_credentials_missing", 400, "services/common/process.cc start-up"},
    {"kafka_password_unreadable", 400, "services/common/process.cc start-up"},
    {"invalid_config_kek", 400, "LEDGER_CONFIG_KEK, at start"},
    {"unknown_read_model", 400, "ledger-projector's --read-models"},
    // Process settings are read at start; POST /config/reload reports a
    // failure to re-read them inside its 207 answer's `errors`, not as its
    // status.
    {"invalid_process_settings", 400, "process settings: start-up, or an entry of a 207's errors"},
    {"process_settings_unreadable", 503, "process settings: start-up, or an entry of a 207's errors"},
    // Signing a JWT is ledger-admin mint-token's business.
    {"invalid_claims", 400, "mint_jwt() and sign_compact_jws(), used by ledger-admin mint-token only"},
    // CEL: the engine's compile error is re-kinded to 422 by its only caller
    // (compile_field in domain/app_policy/policy_types.cc); an evaluation
    // error becomes a deny verdict's reason in a 200 answer.
    {"invalid_expression", 400, "re-kinded to 422 invalid_expression by compile_field"},
    {"cel_cost_exceeded", 422, "a verdict's reason, not an error answer"},
    {"cel_evaluation_failed", 422, "a verdict's reason, not an error answer"},
    // Guards and internals that a request cannot reach.
    {"secret_shredded", 422, "only from unseal(), whose read path shows the secret as shredded instead"},
    {"invalid_decision_record", 400, "decoding stored or published decision records: thrown as a 500, or skipped"},
    {"invalid_node_filter", 400, "guard: the routes always give a parent or an organization"},
    {"not_connected", 503, "guard: the event store answers not_writer before a session without a connection runs"},
    {"checkpoint_moved", 409, "projector checkpoints; ledger-command and ledger-query only read the read models"},
};

const std::map<std::string, int> kStatusOfKind = {
    {"kInvalidArgument", 400}, {"kUnauthenticated", 401},    {"kPermissionDenied", 403}, {"kNotFound", 404},
    {"kAborted", 409},         {"kFailedPrecondition", 422}, {"kPayloadTooLarge", 413},  {"kResourceExhausted", 429},
    {"kUnavailable", 503},     {"kInternal", 500},
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The source without comments, every run of white space one blank, string
// literals (raw ones included) kept as written.
std::string normalized(const std::string& t) {
  std::string out;
  out.reserve(t.size());
  const std::size_t n = t.size();
  auto blank = [&] {
    if (!out.empty() && out.back() != ' ') out.push_back(' ');
  };
  std::size_t i = 0;
  while (i < n) {
    const char c = t[i];
    if (c == '/' && i + 1 < n && t[i + 1] == '/') {
      while (i < n && t[i] != '\n') ++i;
      blank();
      continue;
    }
    if (c == '/' && i + 1 < n && t[i + 1] == '*') {
      const std::size_t e = t.find("*/", i + 2);
      i = e == std::string::npos ? n : e + 2;
      blank();
      continue;
    }
    const bool word_before = i > 0 && (std::isalnum(static_cast<unsigned char>(t[i - 1])) || t[i - 1] == '_');
    if (c == 'R' && i + 1 < n && t[i + 1] == '"' && !word_before) {
      const std::size_t open = t.find('(', i + 2);
      if (open != std::string::npos) {
        const std::string close = ")" + t.substr(i + 2, open - i - 2) + "\"";
        const std::size_t e = t.find(close, open);
        const std::size_t end = e == std::string::npos ? n : e + close.size();
        out.append(t, i, end - i);
        i = end;
        continue;
      }
    }
    // A string or character literal; a ' after a digit is a digit separator.
    if (c == '"' || (c == '\'' && !word_before)) {
      std::size_t j = i + 1;
      while (j < n && t[j] != c) j += t[j] == '\\' ? 2 : 1;
      const std::size_t end = std::min(n, j + 1);
      out.append(t, i, end - i);
      i = end;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      blank();
      ++i;
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s.ends_with(suffix);
}

// The argument that starts at `from`, up to its top-level ',' or closing bracket.
std::string argument_at(const std::string& t, std::size_t from) {
  int depth = 0;
  std::size_t j = from;
  for (; j < t.size(); ++j) {
    const char ch = t[j];
    if (ch == '"') {
      for (++j; j < t.size() && t[j] != '"'; j += t[j] == '\\' ? 2 : 1) {
      }
    } else if (ch == '(' || ch == '[' || ch == '{') {
      ++depth;
    } else if (ch == ')' || ch == ']' || ch == '}') {
      if (depth == 0) break;
      --depth;
    } else if (ch == ',' && depth == 0) {
      break;
    } else if (ch == ';') {
      break;
    }
  }
  std::string a = t.substr(from, j - from);
  while (!a.empty() && a.front() == ' ') a.erase(a.begin());
  while (!a.empty() && a.back() == ' ') a.pop_back();
  return a;
}

// The codes an argument names: one literal, or the literals of a ternary.
std::vector<std::string> literal_codes(const std::string& arg) {
  static const std::regex one(R"re("([a-z0-9_]+)")re");
  static const std::regex literal(R"re("([a-z0-9_]+)")re");
  std::smatch m;
  if (std::regex_match(arg, m, one)) return {m[1]};
  std::vector<std::string> out;
  if (arg.find('?') == std::string::npos) return out;
  for (std::sregex_iterator it(arg.begin(), arg.end(), literal), end; it != end; ++it) out.push_back((*it)[1]);
  return out;
}

struct Produced {
  std::string code;
  int status;
  std::string file;
};

struct Scan {
  std::vector<Produced> produced;
  std::vector<std::string> not_understood;  // "file: snippet"
  std::size_t files = 0;
};

// relative path -> normalized text, of every scanned source
using Sources = std::map<std::string, std::string>;

class Scanner {
 public:
  Scanner(std::map<std::string, std::string> constants, const Sources& sources)
      : constants_(std::move(constants)), sources_(&sources) {
    static const std::regex include(R"re(#include "([^"]+)")re");
    for (const auto& [file, text] : sources) {
      for (std::sregex_iterator it(text.begin(), text.end(), include), end; it != end; ++it) {
        includers_[(*it)[1]].insert(file);
      }
    }
  }

  void scan(const std::string& file, const std::string& t, Scan& out) {
    file_ = &file;
    text_ = &t;
    out_ = &out;
    consumed_code_assignments_.clear();
    scan_kinds();
    scan_server_answers();
    // Every `.code = "..."` must have been read with its kind.
    static const std::regex code_assignment(R"re(\.code ?= ?"([a-z0-9_]+)")re");
    for (std::sregex_iterator it(t.begin(), t.end(), code_assignment), end; it != end; ++it) {
      const auto pos = static_cast<std::size_t>(it->position(0));
      if (!consumed_code_assignments_.contains(pos)) not_understood(pos, "a code assigned without its kind");
    }
  }

 private:
  void produce(const std::string& code, int status, std::size_t at) { produce_in(*file_, *text_, code, status, at); }
  void produce_in(const std::string& file, const std::string& t, const std::string& code, int status, std::size_t at) {
    out_->produced.push_back({code, answered_status(t, status, at), file});
  }

  void not_understood(std::size_t at, const std::string& what) {
    const std::size_t from = at > 60 ? at - 60 : 0;
    out_->not_understood.push_back(*file_ + ": " + what + ": ..." + text_->substr(from, 160) + "...");
  }

  // `auto r = error_response({..., "code", ...}); r.status = NNN;` answers NNN.
  static int answered_status(const std::string& t, int status, std::size_t at) {
    const std::size_t back = at > 160 ? at - 160 : 0;
    const std::string before = t.substr(back, at - back);
    static const std::regex response_var(R"re((\w+) = error_response\()re");
    std::string var;
    for (std::sregex_iterator it(before.begin(), before.end(), response_var), end; it != end; ++it) var = (*it)[1];
    if (var.empty()) return status;
    const std::size_t next_return = t.find("return ", at);
    const std::string after = t.substr(at, (next_return == std::string::npos ? t.size() : next_return) - at);
    const std::regex set_status(var + R"re(\.status = ([45][0-9][0-9]);)re");
    std::smatch m;
    if (std::regex_search(after, m, set_status)) return std::stoi(m[1]);
    return status;
  }

  void scan_kinds() {
    const std::string& t = *text_;
    static const std::string kMarker = "ErrorKind::k";
    for (std::size_t pos = t.find(kMarker); pos != std::string::npos; pos = t.find(kMarker, pos + 1)) {
      std::size_t end = pos + kMarker.size() - 1;
      while (end < t.size() && (std::isalnum(static_cast<unsigned char>(t[end])) || t[end] == '_')) ++end;
      const std::string kind = t.substr(pos + 11, end - pos - 11);
      // Back over the qualifiers (`ledger::domain::`).
      std::size_t start = pos;
      while (start >= 2 && t.compare(start - 2, 2, "::") == 0) {
        std::size_t q = start - 2;
        while (q > 0 && (std::isalnum(static_cast<unsigned char>(t[q - 1])) || t[q - 1] == '_')) --q;
        if (q == start - 2) break;
        start = q;
      }
      const std::string_view before(t.data(), start);
      // Comparisons and switch cases read a kind; they build nothing.
      if (ends_with(before, "==") || ends_with(before, "!=") || ends_with(before, "case")) continue;
      const auto status = kStatusOfKind.find(kind);
      if (status == kStatusOfKind.end()) {
        not_understood(pos, "unknown ErrorKind " + kind);
        continue;
      }
      if (ends_with(before, "=")) {
        // `.kind = ErrorKind::kX, .code = "c"` or `e.kind = ErrorKind::kX; e.code = "c";`
        static const std::regex then_code(R"re(^ ?[,;] ?(?:\w+)?(\.code ?= ?"([a-z0-9_]+)"))re");
        const std::string after = t.substr(end, 120);
        std::smatch m;
        if (std::regex_search(after, m, then_code)) {
          consumed_code_assignments_.insert(end + static_cast<std::size_t>(m.position(1)));
          produce(m[2], status->second, end);
        } else {
          not_understood(pos, "a kind assigned without a code literal right after it");
        }
        continue;
      }
      std::size_t arg = end;
      while (arg < t.size() && t[arg] == ' ') ++arg;
      if (arg >= t.size() || t[arg] != ',') {
        not_understood(pos, "a kind that is neither compared nor followed by its code");
        continue;
      }
      const std::string a = argument_at(t, arg + 1);
      if (const auto codes = literal_codes(a); !codes.empty()) {
        for (const auto& c : codes) produce(c, status->second, arg);
        continue;
      }
      static const std::regex identifier(R"re((?:std::move\()?(\w+)\)?)re");
      std::smatch m;
      if (!std::regex_match(a, m, identifier)) {
        not_understood(pos, "a code that is no literal, constant or helper parameter");
        continue;
      }
      const std::string name = m[1];
      if (auto c = constants_.find(name); c != constants_.end() && name != "code") {
        produce(c->second, status->second, arg);
        continue;
      }
      const auto helpers = helpers_passing_code_to(name, pos);
      if (helpers.empty()) {
        not_understood(pos, "a code variable the scanner cannot follow");
        continue;
      }
      for (const auto& h : helpers) {
        if (!produce_calls(h, status->second)) {
          not_understood(pos, "helper " + h + " is never called with a code literal");
        }
      }
    }
  }

  // The helpers `name(std::string code, ...)` whose `code` ends up in `var`:
  // the one the error is built in (var == "code"), or those that store it in
  // a member (`error_ = std::move(code)`).
  std::vector<std::string> helpers_passing_code_to(const std::string& var, std::size_t pos) const {
    const std::string& t = *text_;
    static const std::regex header(
        R"re((\w+) ?\((?:std::string|const std::string ?&|std::string_view|const char ?\*) code\b)re");
    std::vector<std::string> out;
    std::string nearest;
    for (std::sregex_iterator it(t.begin(), t.end(), header), end; it != end; ++it) {
      const auto at = static_cast<std::size_t>(it->position(0));
      if (var == "code") {
        if (at < pos) nearest = (*it)[1];
      } else {
        const std::string body = t.substr(at, 400);
        if (body.find(var + " = std::move(code)") != std::string::npos ||
            body.find(var + " = code;") != std::string::npos) {
          out.push_back((*it)[1]);
        }
      }
    }
    if (!nearest.empty()) out.push_back(nearest);
    return out;
  }

  // Every `helper("code", ...)` (or `helper(cond ? "a" : "b", ...)`) of the
  // file and of the files that include it, directly or through other headers.
  bool produce_calls(const std::string& helper, int status) {
    const std::regex call("\\b" + helper + " ?\\( ?");
    bool any = false;
    for (const std::string& file : reach_of(*file_)) {
      const std::string& t = sources_->at(file);
      for (std::sregex_iterator it(t.begin(), t.end(), call), end; it != end; ++it) {
        const auto from = static_cast<std::size_t>(it->position(0) + it->length(0));
        for (const auto& c : literal_codes(argument_at(t, from))) {
          produce_in(file, t, c, status, from);
          any = true;
        }
      }
    }
    return any;
  }

  // `file` and every scanned source that includes it, directly or not; for
  // a .cc, also those that include its header (a member helper such as
  // FieldReader::fail is defined in the one and called through the other).
  std::set<std::string> reach_of(const std::string& file) const {
    std::set<std::string> seen = {file};
    std::vector<std::string> todo = {file};
    if (file.ends_with(".cc")) {
      const std::string header = file.substr(0, file.size() - 3) + ".h";
      if (sources_->contains(header) && seen.insert(header).second) todo.push_back(header);
    }
    while (!todo.empty()) {
      const auto it = includers_.find(todo.back());
      todo.pop_back();
      if (it == includers_.end()) continue;
      for (const auto& includer : it->second) {
        if (seen.insert(includer).second) todo.push_back(includer);
      }
    }
    return seen;
  }

  // The HTTP server's own answers, written with their status.
  void scan_server_answers() {
    const std::string& t = *text_;
    static const std::regex server(R"re(error_response\(([45][0-9][0-9]), ?"([a-z0-9_]+)")re");
    static const std::regex raw(R"re(json\(([45][0-9][0-9]), ?R"\(\{"code":"([a-z0-9_]+)")re");
    for (const auto* re : {&server, &raw}) {
      for (std::sregex_iterator it(t.begin(), t.end(), *re), end; it != end; ++it) {
        out_->produced.push_back({(*it)[2], std::stoi((*it)[1]), *file_});
      }
    }
  }

  std::map<std::string, std::string> constants_;
  const Sources* sources_;
  std::map<std::string, std::set<std::string>> includers_;  // path -> the sources that include it
  const std::string* file_ = nullptr;
  const std::string* text_ = nullptr;
  Scan* out_ = nullptr;
  std::set<std::size_t> consumed_code_assignments_;
};

bool excluded_path(const std::string& rel) {
  return std::any_of(std::begin(kExcludedPaths), std::end(kExcludedPaths),
                     [&](const char* p) { return rel.starts_with(p); });
}

const Scan& scan() {
  static const Scan result = [] {
    Sources files;
    for (const char* dir : kScannedDirs) {
      for (const auto& e : fs::recursive_directory_iterator(kSource / dir)) {
        const auto ext = e.path().extension();
        if (!e.is_regular_file() || (ext != ".cc" && ext != ".h")) continue;
        std::string rel = fs::relative(e.path(), kSource).generic_string();
        if (excluded_path(rel)) continue;
        files.emplace(std::move(rel), normalized(read_file(e.path())));
      }
    }
    // Code constants (`kUnavailableCode = "kafka_unavailable";`) of every
    // source, excluded ones included: a header of one names codes for another.
    std::map<std::string, std::string> constants;
    static const std::regex constant(R"re(\b(k[A-Z]\w*) ?= ?"([a-z0-9_]+)";)re");
    for (const char* dir : kScannedDirs) {
      for (const auto& e : fs::recursive_directory_iterator(kSource / dir)) {
        const auto ext = e.path().extension();
        if (!e.is_regular_file() || (ext != ".cc" && ext != ".h")) continue;
        const std::string t = normalized(read_file(e.path()));
        for (std::sregex_iterator it(t.begin(), t.end(), constant), end; it != end; ++it) {
          constants[(*it)[1]] = (*it)[2];
        }
      }
    }
    Scan s;
    Scanner scanner(std::move(constants), files);
    for (const auto& [rel, text] : files) {
      scanner.scan(rel, text, s);
      ++s.files;
    }
    return s;
  }();
  return result;
}

// status -> codes of the README's error table; `problem` says what is wrong
// with the table itself.
std::map<int, std::set<std::string>> readme_table(std::string* problem) {
  std::istringstream in(read_file(kSource / "README.md"));
  std::map<int, std::set<std::string>> rows;
  std::string line;
  bool in_table = false;
  static const std::regex code(R"re(`([a-z0-9_]+)`)re");
  while (std::getline(in, line)) {
    if (!in_table) {
      in_table = line == "| status | codes |";
      continue;
    }
    if (line.rfind("|---", 0) == 0) continue;
    if (line.empty() || line[0] != '|') break;
    // `| NNN | codes |`
    auto digit = [&](std::size_t i) { return std::isdigit(static_cast<unsigned char>(line[i])) != 0; };
    const bool is_row = line.size() > 10 && line.compare(0, 2, "| ") == 0 && digit(2) && digit(3) && digit(4) &&
                        line.compare(5, 3, " | ") == 0 && line.ends_with(" |");
    if (!is_row) {
      *problem += "not a `| status | codes |` row: " + line + "\n";
      continue;
    }
    // Backticked words inside a parenthetical are explanations, not entries.
    std::string flat;
    int depth = 0;
    for (char ch : line.substr(8, line.size() - 10)) {
      if (ch == '(') {
        ++depth;
      } else if (ch == ')') {
        depth = std::max(0, depth - 1);
      } else if (depth == 0) {
        flat.push_back(ch);
      }
    }
    const int status = std::stoi(line.substr(2, 3));
    if (rows.contains(status)) *problem += "two rows for " + std::to_string(status) + "\n";
    for (std::sregex_iterator it(flat.begin(), flat.end(), code), end; it != end; ++it) {
      if (!rows[status].insert((*it)[1]).second) {
        *problem += "`" + (*it)[1].str() + "` twice in the " + std::to_string(status) + " row\n";
      }
    }
  }
  if (!in_table) *problem += "README.md has no `| status | codes |` table\n";
  return rows;
}

const Exclusion* exclusion_of(const std::string& code, int status) {
  for (const auto& e : kExcludedCodes) {
    if (code == e.code && status == e.status) return &e;
  }
  return nullptr;
}

// code -> status -> files
std::map<std::string, std::map<int, std::set<std::string>>> produced_codes() {
  std::map<std::string, std::map<int, std::set<std::string>>> out;
  for (const auto& p : scan().produced) out[p.code][p.status].insert(p.file);
  return out;
}

std::string joined(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += (out.empty() ? "" : ", ") + x;
  return out;
}

TEST(ErrorTable, ScannerUnderstandsEveryErrorConstruction) {
  const auto& s = scan();
  for (const auto& n : s.not_understood) ADD_FAILURE() << n;
  // It did read the sources: every construction form is met at least once.
  const auto produced = produced_codes();
  ASSERT_GT(s.files, 100u) << "sources not found under " << kSource;
  auto has = [&](const char* code, int status) {
    auto c = produced.find(code);
    return c != produced.end() && c->second.contains(status);
  };
  EXPECT_TRUE(has("unknown_policy_key", 404));  // Error{ErrorKind::kNotFound, "unknown_policy_key", ...}
  EXPECT_TRUE(has("method_not_allowed", 405));  // error_response({..}) then r.status = 405
  EXPECT_TRUE(has("unsupported_media_type", 415));
  EXPECT_TRUE(has("malformed_request", 400));    // the server's error_response(400, "...")
  EXPECT_TRUE(has("missing_field", 400));        // ternary, and decoders' fail("missing_field", ...)
  EXPECT_TRUE(has("invalid_rules", 400));        // decode_entitlements: error_ set by fail()
  EXPECT_TRUE(has("kafka_topic_unknown", 401));  // unauthenticated("kafka_topic_unknown", ...)
  EXPECT_TRUE(has("invalid_expression", 422));   // e.kind = ...; e.code = "invalid_expression";
  EXPECT_TRUE(has("position_gap", 500));         // designated initializers
  EXPECT_GT(produced.size(), 150u);
}

TEST(ErrorTable, EveryAnsweredCodeIsInTheReadmeRowOfItsStatus) {
  std::string problem;
  const auto table = readme_table(&problem);
  EXPECT_EQ(problem, "");
  for (const auto& [code, statuses] : produced_codes()) {
    for (const auto& [status, files] : statuses) {
      if (status == 500 || exclusion_of(code, status)) continue;
      auto row = table.find(status);
      if (row != table.end() && row->second.contains(code)) continue;
      ADD_FAILURE() << "README.md error table: `" << code << "` is missing from the " << status << " row (produced in "
                    << joined(files) << ")";
    }
  }
}

TEST(ErrorTable, EveryCodeOfTheReadmeTableIsAnsweredWithItsStatus) {
  std::string problem;
  const auto table = readme_table(&problem);
  EXPECT_EQ(problem, "");
  const auto produced = produced_codes();
  for (const auto& [status, codes] : table) {
    for (const auto& code : codes) {
      auto c = produced.find(code);
      if (c != produced.end() && c->second.contains(status)) continue;
      std::string elsewhere;
      if (c != produced.end()) {
        for (const auto& [s, files] : c->second) elsewhere += " " + std::to_string(s);
      }
      ADD_FAILURE() << "README.md error table: `" << code << "` in the " << status
                    << " row, but no source answers it with " << status
                    << (elsewhere.empty() ? std::string(" (no source produces it)")
                                          : " (produced with:" + elsewhere + ")");
    }
  }
}

TEST(ErrorTable, ExclusionsAreStillNeeded) {
  std::string problem;
  const auto table = readme_table(&problem);
  const auto produced = produced_codes();
  for (const auto& e : kExcludedCodes) {
    auto c = produced.find(e.code);
    EXPECT_TRUE(c != produced.end() && c->second.contains(e.status))
        << "kExcludedCodes: no source produces `" << e.code << "` with " << e.status << " any more; drop the entry";
    auto row = table.find(e.status);
    EXPECT_FALSE(row != table.end() && row->second.contains(e.code))
        << "kExcludedCodes: `" << e.code << "` is in the README's " << e.status
        << " row, so it is answered; drop the exclusion (" << e.reason << ")";
  }
}

// Codes of the table that only a record of Commands over Kafka is answered
// with (on ledger.command-results), never an HTTP request: no OpenAPI
// document lists them. The README says so in the parenthetical after each
// (or after its group): KafkaOnlyCodesAreMarkedSoInTheReadme.
const std::pair<int, const char*> kKafkaOnlyCodes[] = {
    {400, "invalid_key"},         {401, "kafka_producer_unknown"},
    {401, "kafka_topic_unknown"}, {401, "kafka_token_header_refused"},
    {422, "secrets_over_kafka"},
};

// Codes of the table that no HTTP request reaches: guards behind a decoder
// that never builds the input they refuse. Not claimed by any route.
const std::pair<int, const char*> kNoHttpRoute[] = {
    // TransitionReservation's action comes from the command type
    // (reservation.activate, ...), never from a body: decide()'s guard.
    {400, "invalid_action"},
};

bool kafka_only(const std::string& code, int status) {
  return std::any_of(std::begin(kKafkaOnlyCodes), std::end(kKafkaOnlyCodes),
                     [&](const auto& k) { return k.first == status && code == k.second; });
}

// The README's raw table row of `status`.
std::string readme_row(int status) {
  std::istringstream in(read_file(kSource / "README.md"));
  const std::string prefix = "| " + std::to_string(status) + " | ";
  bool in_table = false;
  for (std::string line; std::getline(in, line);) {
    if (!in_table) {
      in_table = line == "| status | codes |";
      continue;
    }
    if (line.empty() || line[0] != '|') break;
    if (line.starts_with(prefix)) return line;
  }
  return "";
}

// Backticked codes of a description.
std::set<std::string> backticked(const std::string& text) {
  static const std::regex code(R"re(`([a-z0-9_]+)`)re");
  std::set<std::string> out;
  for (std::sregex_iterator it(text.begin(), text.end(), code), end; it != end; ++it) out.insert((*it)[1]);
  return out;
}

// status -> code -> where, for one OpenAPI document: the descriptions of
// every operation's responses, and "NNN `code`" in the info description.
void documented_codes(const std::string& file, std::map<int, std::map<std::string, std::set<std::string>>>& out) {
  const auto d = nlohmann::json::parse(read_file(kSource / "adapters/http/openapi" / file));
  static const char* const kMethods[] = {"get", "put", "post", "delete", "patch", "head", "options"};
  for (const auto& [path, item] : d.at("paths").items()) {
    for (const char* m : kMethods) {
      if (!item.contains(m) || !item.at(m).contains("responses")) continue;
      for (const auto& [status, response] : item.at(m).at("responses").items()) {
        if (status.size() != 3 || !std::all_of(status.begin(), status.end(), ::isdigit)) continue;
        const nlohmann::json* r = &response;
        for (int hops = 0; r->contains("$ref") && hops < 8; ++hops) {
          const auto ref = r->at("$ref").get<std::string>();
          const nlohmann::json::json_pointer ptr(ref.substr(1));
          ASSERT_TRUE(ref.starts_with("#/") && d.contains(ptr)) << file << " " << m << " " << path << ": " << ref;
          r = &d.at(ptr);
        }
        if (!r->contains("description")) continue;
        for (const auto& c : backticked(r->at("description").get<std::string>())) {
          out[std::stoi(status)][c].insert(file + " " + m + " " + path);
        }
      }
    }
  }
  const std::string info = d.at("info").value("description", "");
  static const std::regex status_code(R"re(\b([1-5][0-9][0-9]) `([a-z0-9_]+)`)re");
  for (std::sregex_iterator it(info.begin(), info.end(), status_code), end; it != end; ++it) {
    out[std::stoi((*it)[1])][(*it)[2]].insert(file + " info");
  }
}

TEST(ErrorTable, KafkaOnlyCodesAreMarkedSoInTheReadme) {
  std::string problem;
  const auto table = readme_table(&problem);
  for (const auto& [status, code] : kKafkaOnlyCodes) {
    auto row = table.find(status);
    EXPECT_TRUE(row != table.end() && row->second.contains(code))
        << "kKafkaOnlyCodes: `" << code << "` is not in the README's " << status << " row; drop the entry";
    // The first top-level parenthetical after the code names Kafka.
    const std::string line = readme_row(status);
    const std::size_t at = line.find(std::string("`") + code + "`");
    ASSERT_NE(at, std::string::npos) << code;
    std::size_t open = std::string::npos;
    int depth = 0;
    for (std::size_t i = at; i < line.size() && open == std::string::npos; ++i) {
      if (line[i] == '(' && depth++ == 0) open = i;
      if (line[i] == ')') depth = std::max(0, depth - 1);
    }
    ASSERT_NE(open, std::string::npos) << "README.md: `" << code << "` is not explained as Kafka-only";
    std::size_t close = open;
    for (depth = 0; close < line.size(); ++close) {
      if (line[close] == '(') ++depth;
      if (line[close] == ')' && --depth == 0) break;
    }
    EXPECT_NE(line.substr(open, close - open).find("Kafka"), std::string::npos)
        << "README.md: the parenthetical after `" << code
        << "` does not say it is Kafka-only: " << line.substr(open, close - open + 1);
  }
}

TEST(ErrorTable, EveryCodeOfTheReadmeTableIsInAnOpenApiResponseOfItsStatus) {
  std::string problem;
  const auto table = readme_table(&problem);
  EXPECT_EQ(problem, "");
  std::map<int, std::map<std::string, std::set<std::string>>> documented;
  documented_codes("command.json", documented);
  documented_codes("query.json", documented);
  ASSERT_FALSE(documented[400].empty()) << "no 400 codes read from adapters/http/openapi/ under " << kSource;
  for (const auto& [status, codes] : table) {
    if (status == 500) continue;
    for (const auto& code : codes) {
      if (kafka_only(code, status)) continue;
      if (std::any_of(std::begin(kNoHttpRoute), std::end(kNoHttpRoute),
                      [&](const auto& k) { return k.first == status && code == k.second; })) {
        continue;
      }
      if (documented[status].contains(code)) continue;
      std::string elsewhere;
      for (const auto& [s, c] : documented) {
        if (c.contains(code)) (elsewhere += ' ') += std::to_string(s);
      }
      ADD_FAILURE() << "adapters/http/openapi/: `" << code << "` (README " << status << " row) is in no " << status
                    << " response of command.json or query.json"
                    << (elsewhere.empty() ? std::string() : " (documented with:" + elsewhere + ")");
    }
  }
}

}  // namespace

// ledger: the everyday command line for people (issue 17 part 5), a client
// of the two HTTP APIs and nothing else (no database, no Kafka):
//
//   ledger get KEY --org O [--project P] [--user U] [--plan PL] [--as-of T]
//   ledger set KEY VALUE (--org O | --project P | --user U | --plan PL | --global) --reason R [--effective-at T]
//   ledger keys [--prefix P]
//   ledger values KEY [--org O] [--level L]
//   ledger check --org O --project P --dimension D --delta N --unit U [--usage N] ...
//   ledger ceilings (--org O | --department D | --project P) [--dimension D]
//   ledger ceilings (--org O | --department D) --tree [--dimension D] [--page-size N]
//   ledger reservations --org O [--id R] [--state S]
//   ledger watch [--from-position N] [--org O] [--types T,...] [--until-position N]
//
// Where: LEDGER_QUERY_URL (http://127.0.0.1:8082) and LEDGER_COMMAND_URL
// (http://127.0.0.1:8081), or --query-url / --command-url; an https URL
// with --ca-file. Who: LEDGER_TOKEN or --token (the bearer token).
// `--json` prints the service's answer (listings: every page, merged)
// instead of a table; `--min-position N` makes any read wait (up to 10 s)
// for the position a write answered (read-your-writes).
//
// `ceilings --tree` draws the organization (or department) and everything
// under it — departments, nested, then their projects — each with its
// effective ceilings, from the customer views: GET /v1/views/organizations/{id}
// (the envelope and every department with its parent), then
// GET /v1/views/departments/{id} of each department (its ceilings, its child
// departments and projects with theirs), every children page followed
// (limit --page-size, default 1000, and cursor). One snapshot: the first
// answer's snapshot_version and as_of are sent as `as_of_position` and
// `as_of` with every request after it (the first alone carries
// --min-position). `--dimension` filters the ceilings on the client (the
// views answer every dimension); `--json` prints one document,
// {tree: {level, id, name, ceilings, children: [...]}, snapshot_version,
// as_of, dimension}, each node's ceilings as its view answers them (a
// project's: its department's view). `--project` has no tree (exit 2).
//
// Exit codes (as ledger-audit): 0 done (check: allow or warn), 1 the
// check's answer is deny, 2 bad input (usage, or the service refused the
// request: its code and message are printed), 3 the service could not be
// reached or failed (5xx): try again.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "adapters/http/client.h"
#include "services/common/settings.h"

namespace {

using ledger::adapters::http::HttpClient;
using ledger::adapters::http::HttpClientTls;
using ledger::adapters::http::url_encode;
using Json = nlohmann::json;

constexpr int kOk = 0;
constexpr int kDenied = 1;
constexpr int kBadInput = 2;
constexpr int kUnavailable = 3;

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  bool tls = false;
};

// http[s]://host:port, nothing more (no path, no user info).
std::optional<Endpoint> parse_url(const std::string& url) {
  Endpoint e;
  std::string rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
    e.tls = true;
  } else {
    return std::nullopt;
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || rest.find('/') != std::string::npos) return std::nullopt;
  e.host = rest.substr(0, colon);
  if (e.host.starts_with('[') && e.host.ends_with(']')) e.host = e.host.substr(1, e.host.size() - 2);
  try {
    std::size_t used = 0;
    const int port = std::stoi(rest.substr(colon + 1), &used);
    if (used != rest.size() - colon - 1 || port <= 0 || port > 65535) return std::nullopt;
    e.port = static_cast<std::uint16_t>(port);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return e;
}

struct Options {
  std::string query_url = "http://127.0.0.1:8082";
  std::string command_url = "http://127.0.0.1:8081";
  std::string token;
  std::string ca_file;
  std::string server_name = "localhost";
  bool json = false;
  std::int64_t timeout_ms = 10'000;
};

// One service: a request, its answer as JSON, or the exit code and message.
class Service {
 public:
  Service(const Options& o, std::string url, const char* name) : options_(o), url_(std::move(url)), name_(name) {}

  // GET `target` as a stream (Server-Sent Events): `on_data` gets the body
  // as it comes. The exit code: kOk when the server ended the stream,
  // kBadInput when it refused the request, kUnavailable when it could not
  // be reached or the connection broke (`broken` then true).
  int stream(const std::string& target, const std::vector<std::pair<std::string, std::string>>& extra,
             const std::function<bool(std::string_view)>& on_data, bool& broken) {
    broken = false;
    auto e = parse_url(url_);
    if (!e) {
      std::cerr << "ledger: " << name_ << " URL '" << url_ << "' is not http[s]://host:port\n";
      return kBadInput;
    }
    // Heartbeats come every 15 s: a minute without a byte is a broken stream.
    const auto timeout = std::chrono::milliseconds(std::max<std::int64_t>(options_.timeout_ms, 60'000));
    HttpClient client =
        e->tls ? HttpClient(e->host, e->port, timeout, HttpClientTls{options_.ca_file, options_.server_name})
               : HttpClient(e->host, e->port, timeout);
    std::vector<std::pair<std::string, std::string>> headers = {{"accept", "text/event-stream"}};
    if (!options_.token.empty()) headers.emplace_back("authorization", "Bearer " + options_.token);
    for (const auto& h : extra) headers.push_back(h);
    auto r = client.stream("GET", target, headers, on_data);
    if (!r) {
      std::cerr << "ledger: the " << name_ << " service's stream broke: " << r.error().message << "\n";
      broken = true;
      return kUnavailable;
    }
    if (r->status >= 200 && r->status < 300) return kOk;
    Json j = Json::parse(r->body, nullptr, false);
    std::cerr << "ledger: " << r->status << " " << (j.is_object() ? j.value("code", "error") : "error") << ": "
              << (j.is_object() ? j.value("message", "") : r->body.substr(0, 200)) << "\n";
    if (r->status >= 500) broken = true;
    return r->status >= 500 ? kUnavailable : kBadInput;
  }

  // The answer's JSON on 2xx; else prints why and sets `exit`.
  std::optional<Json> call(const std::string& method, const std::string& target, const std::string& body, int& exit) {
    if (!client_) {
      auto e = parse_url(url_);
      if (!e) {
        std::cerr << "ledger: " << name_ << " URL '" << url_ << "' is not http[s]://host:port\n";
        exit = kBadInput;
        return std::nullopt;
      }
      const auto timeout = std::chrono::milliseconds(options_.timeout_ms);
      client_ = e->tls ? std::make_unique<HttpClient>(e->host, e->port, timeout,
                                                      HttpClientTls{options_.ca_file, options_.server_name})
                       : std::make_unique<HttpClient>(e->host, e->port, timeout);
    }
    std::vector<std::pair<std::string, std::string>> headers = {{"accept", "application/json"}};
    if (!options_.token.empty()) headers.emplace_back("authorization", "Bearer " + options_.token);
    if (!body.empty()) headers.emplace_back("content-type", "application/json");
    auto r = client_->request(method, target, body, headers);
    if (!r) {
      std::cerr << "ledger: cannot reach the " << name_ << " service at " << url_ << ": " << r.error().message << "\n";
      exit = kUnavailable;
      return std::nullopt;
    }
    Json j = Json::parse(r->body, nullptr, false);
    if (r->status >= 200 && r->status < 300) {
      if (j.is_discarded()) {
        std::cerr << "ledger: the " << name_ << " service answered something that is not JSON\n";
        exit = kUnavailable;
        return std::nullopt;
      }
      return j;
    }
    const std::string code = j.is_object() ? j.value("code", "") : "";
    const std::string message = j.is_object() ? j.value("message", "") : r->body.substr(0, 200);
    std::cerr << "ledger: " << r->status << " " << (code.empty() ? "error" : code) << ": " << message << "\n";
    if (j.is_object() && j.contains("evidence") && !j["evidence"].empty())
      std::cerr << "  " << j["evidence"].dump() << "\n";
    exit = r->status >= 500 ? kUnavailable : kBadInput;
    return std::nullopt;
  }

 private:
  const Options& options_;
  std::string url_;
  const char* name_;
  std::unique_ptr<HttpClient> client_;
};

std::string text(const Json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::string scope_text(const Json& s) {
  if (!s.is_object()) return "-";
  const std::string level = s.value("level", "");
  const std::string id = s.value("id", "");
  return id.empty() ? level : level + " " + id;
}

// Columns a cell takes: its UTF-8 characters (the tree's box drawing, names).
std::size_t display_width(const std::string& cell) {
  std::size_t n = 0;
  for (const unsigned char c : cell) n += (c & 0xC0) != 0x80;
  return n;
}

// A table: a header row and rows, columns padded to their widest cell.
void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) width[i] = display_width(header[i]);
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], display_width(r[i]));
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(width[i] - display_width(cells[i]) + 2, ' ');
    }
    std::cout << out << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

// Query string from the given (name, value) pairs; empty values are left out.
std::string query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [name, value] : params) {
    if (value.empty()) continue;
    q += (q.empty() ? "?" : "&") + name + "=" + url_encode(value);
  }
  return q;
}

// Follows next_cursor until the last page; every page's `field` in one array.
std::optional<Json> all_pages(Service& s, const std::string& path,
                              const std::vector<std::pair<std::string, std::string>>& params, const std::string& field,
                              int& exit) {
  std::optional<Json> merged;
  std::string cursor;
  for (int pages = 0; pages < 100'000; ++pages) {
    auto p = params;
    p.emplace_back("cursor", cursor);
    auto page = s.call("GET", path + query(p), "", exit);
    if (!page) return std::nullopt;
    if (!merged) {
      merged = *page;
    } else {
      for (auto& item : (*page)[field]) (*merged)[field].push_back(std::move(item));
    }
    const Json next = page->value("next_cursor", Json());
    if (!next.is_string()) break;
    cursor = next.get<std::string>();
  }
  if (merged) (*merged)["next_cursor"] = nullptr;
  return merged;
}

// ------------------------------------------------------- ceilings --tree

using Params = std::vector<std::pair<std::string, std::string>>;

// The consistency parameters of a tree's reads: the first read's
// (--min-position), then, once it answered, its snapshot for every read
// after it (as_of_position and as_of), so the whole tree is one snapshot.
struct TreeSnapshot {
  Params params;
  Json version, as_of;

  bool pinned() const { return !version.is_null(); }
  // False (and says so) when the answer names no snapshot to pin.
  bool pin(const Json& answer) {
    if (pinned()) return true;
    const Json v = answer.value("snapshot_version", Json());
    const Json at = answer.value("as_of", Json());
    if (!v.is_number_integer() || !at.is_string()) {
      std::cerr << "ledger: the query service's view names no snapshot_version and as_of\n";
      return false;
    }
    version = v;
    as_of = at;
    params = {{"as_of_position", v.dump()}, {"as_of", at.get<std::string>()}, {"wait_ms", "10000"}};
    return true;
  }
};

// A customer view (GET /v1/views/...) with every page of its children list
// `list` ("departments" or "children") merged into `list`.items; every page
// at the tree's snapshot (the first page of the first view pins it).
std::optional<Json> view_all_pages(Service& s, const std::string& path, const std::string& list,
                                   const std::string& page_size, TreeSnapshot& snap, int& exit) {
  std::optional<Json> merged;
  std::string cursor;
  for (int pages = 0; pages < 100'000; ++pages) {
    Params p = snap.params;
    p.emplace_back("limit", page_size);
    p.emplace_back("cursor", cursor);
    auto page = s.call("GET", path + query(p), "", exit);
    if (!page) return std::nullopt;
    if (!page->contains(list) || !(*page)[list].is_object() || !(*page)[list].contains("items") ||
        !(*page)[list]["items"].is_array()) {
      std::cerr << "ledger: the query service's answer to " << path << " has no " << list << " list\n";
      exit = kUnavailable;
      return std::nullopt;
    }
    if (!snap.pin(*page)) {
      exit = kUnavailable;
      return std::nullopt;
    }
    if (!merged) {
      merged = *page;
    } else {
      for (auto& item : (*page)[list]["items"]) (*merged)[list]["items"].push_back(std::move(item));
    }
    const Json next = (*page)[list].value("next_cursor", Json());
    if (!next.is_string()) break;
    cursor = next.get<std::string>();
  }
  if (merged) {
    (*merged)[list]["next_cursor"] = nullptr;
    (*merged)[list]["has_more"] = false;
  }
  return merged;
}

// Builds the tree of an organization or a department from the views.
struct TreeWalk {
  Service& q;
  TreeSnapshot& snap;
  std::string page_size;
  int& exit;
  std::set<std::string> seen;  // departments drawn (a tree never repeats one)

  static Json node(const std::string& level, const Json& id, const Json& name, const Json& ceilings) {
    return {{"level", level},
            {"id", id},
            {"name", name},
            {"ceilings", ceilings.is_array() ? ceilings : Json::array()},
            {"children", Json::array()}};
  }

  // The department and, recursively, its child departments and projects.
  std::optional<Json> department(const std::string& id) {
    seen.insert(id);
    auto v = view_all_pages(q, "/v1/views/departments/" + url_encode(id), "children", page_size, snap, exit);
    if (!v) return std::nullopt;
    const Json d = v->value("department", Json::object());
    Json n = node("department", id, d.value("name", Json()), (*v)["ceilings"]);
    for (const auto& c : (*v)["children"]["items"]) {
      const std::string level = c.value("level", "");
      const std::string child = c.value("id", "");
      if (level == "department") {
        if (seen.contains(child)) continue;
        auto sub = department(child);
        if (!sub) return std::nullopt;
        n["children"].push_back(std::move(*sub));
      } else {
        n["children"].push_back(node(level, child, c.value("name", Json()), c.value("ceilings", Json())));
      }
    }
    return n;
  }

  // The organization: its envelope, and its top-level departments' trees.
  std::optional<Json> organization(const std::string& id) {
    auto v = view_all_pages(q, "/v1/views/organizations/" + url_encode(id), "departments", page_size, snap, exit);
    if (!v) return std::nullopt;
    const Json o = v->value("organization", Json::object());
    Json n = node("organization", id, o.value("name", Json()), (*v)["envelope"]);
    const Json parent = {{"level", "organization"}, {"id", id}};
    for (const auto& d : (*v)["departments"]["items"]) {
      if (d.value("parent", Json()) != parent || seen.contains(d.value("id", ""))) continue;
      auto sub = department(d.value("id", ""));
      if (!sub) return std::nullopt;
      n["children"].push_back(std::move(*sub));
    }
    return n;
  }
};

// Keeps only the ceilings of `dimension` at every node.
void keep_dimension(Json& node, const std::string& dimension) {
  Json kept = Json::array();
  for (auto& c : node["ceilings"]) {
    if (c.value("dimension", "") == dimension) kept.push_back(std::move(c));
  }
  node["ceilings"] = std::move(kept);
  for (auto& child : node["children"]) keep_dimension(child, dimension);
}

std::string or_dash(const Json& v) {
  const std::string t = text(v);
  return t.empty() ? "-" : t;
}

// The table rows of `node` and everything under it: its first ceiling on the
// line that draws it (`lead`: the tree so far and its branch), its other
// ceilings on lines that carry the tree on, then its children (`below`: the
// tree drawn left of them).
void tree_rows(const Json& node, const std::string& lead, const std::string& below,
               std::vector<std::vector<std::string>>& rows) {
  const Json& children = node["children"];
  const std::string label = lead + scope_text(node);
  const std::string more = below + (children.empty() ? "" : "│");
  bool first = true;
  for (const auto& c : node["ceilings"]) {
    rows.push_back({first ? label : more, text(c["dimension"]), or_dash(c["window"]), or_dash(c["region"]),
                    or_dash(c["sku_or_model"]), text(c["quantity"]), or_dash(c["unit"]),
                    scope_text(c["inherited_from"])});
    first = false;
  }
  if (first) rows.push_back({label, "-", "-", "-", "-", "-", "-", "-"});
  for (std::size_t i = 0; i < children.size(); ++i) {
    const bool last = i + 1 == children.size();
    tree_rows(children[i], below + (last ? "└── " : "├── "), below + (last ? "    " : "│   "), rows);
  }
}

// VALUE on the command line: a JSON number, true/false, or a quoted JSON
// string; anything else is taken as a string (`--string` forces that).
Json parse_value(const std::string& raw, bool as_string) {
  if (as_string) return raw;
  Json j = Json::parse(raw, nullptr, false);
  if (!j.is_discarded() && (j.is_number_integer() || j.is_boolean() || j.is_string())) return j;
  return raw;
}

void print_json(const Json& j) { std::cout << j.dump(2) << "\n"; }

}  // namespace

// NOLINTNEXTLINE(bugprone-exception-escape): what escapes is a bug; std::terminate reports it (as in every main)
int main(int argc, char** argv) {
  CLI::App app{"Policy Ledger for people: read and set policy values, ask admission questions"};
  ledger::services::add_version_flag(app);
  app.require_subcommand(1);
  app.fallthrough();  // the options above may also follow the subcommand
  Options o;
  app.add_option("--query-url", o.query_url, "the query service")->envname("LEDGER_QUERY_URL")->capture_default_str();
  app.add_option("--command-url", o.command_url, "the command service")
      ->envname("LEDGER_COMMAND_URL")
      ->capture_default_str();
  app.add_option("--token", o.token, "bearer token")->envname("LEDGER_TOKEN");
  app.add_option("--ca-file", o.ca_file, "CA certificates (PEM) to trust for https URLs")->envname("LEDGER_CA_FILE");
  app.add_option("--server-name", o.server_name, "the name the services' certificate must carry")
      ->capture_default_str();
  app.add_option("--timeout-ms", o.timeout_ms, "per request phase")
      ->capture_default_str()
      ->check(CLI::Range(1, 600'000));
  app.add_flag("--json", o.json, "print the service's JSON answer instead of a table");
  std::int64_t min_position = 0;
  app.add_option("--min-position", min_position,
                 "reads: wait (up to 10 s) until the read models have this position, e.g. one a write answered")
      ->check(CLI::NonNegativeNumber);

  // Scope flags, shared by the subcommands that name one.
  struct Scope {
    std::string org, department, project, user, plan;
    bool global = false;
  };
  Scope scope;
  std::string key, value, reason, as_of, effective_at, prefix, level, dimension, unit, state, reservation_id;
  bool as_string = false;

  auto* get = app.add_subcommand("get", "the value of a key for a scope, where it comes from, and its next change");
  get->add_option("key", key, "policy key")->required();
  get->add_option("--org", scope.org, "organization id");
  get->add_option("--project", scope.project, "project id");
  get->add_option("--user", scope.user, "user id");
  get->add_option("--plan", scope.plan, "plan id");
  get->add_option("--as-of", as_of, "RFC 3339 instant (default now)");

  auto* set = app.add_subcommand("set", "set a key's value at one scope (now, or at --effective-at)");
  set->add_option("key", key, "policy key")->required();
  set->add_option("value", value, "a number, true/false, or text")->required();
  auto* set_scope = set->add_option_group("scope", "where the value is set");
  set_scope->add_option("--org", scope.org, "organization id");
  set_scope->add_option("--project", scope.project, "project id (with --org: of that organization)");
  set_scope->add_option("--user", scope.user, "user id (with --org: of that organization)");
  set_scope->add_option("--plan", scope.plan, "plan id");
  set_scope->add_flag("--global", scope.global, "the global level");
  set_scope->require_option(1, 3);
  set->add_option("--reason", reason, "why (kept in the event)")->required();
  set->add_option("--effective-at", effective_at, "RFC 3339 instant the value takes effect");
  set->add_flag("--string", as_string, "VALUE is text even if it looks like a number or boolean");

  auto* keys = app.add_subcommand("keys", "the policy-key catalog");
  keys->add_option("--prefix", prefix, "only keys starting with this");

  auto* values = app.add_subcommand("values", "every scope that overrides a key, and its scheduled changes");
  values->add_option("key", key, "policy key")->required();
  values->add_option("--org", scope.org, "one organization's view (a tenant principal always sees its own)");
  values->add_option("--level", level, "only this level")
      ->check(CLI::IsMember({"user", "project", "organization", "plan", "global"}));
  values->add_option("--as-of", as_of, "RFC 3339 instant (default now)");

  auto* check = app.add_subcommand("check", "an admission decision: may this project use N more of a dimension?");
  std::string actor_type = "user", actor_id, product, resource_type, resource_id, action = "start", window;
  std::int64_t delta = 0, usage = 0;
  check->add_option("--org", scope.org, "organization id")->required();
  check->add_option("--department", scope.department, "department id");
  check->add_option("--project", scope.project, "project id")->required();
  check->add_option("--dimension", dimension, "quota dimension (registry entry)")->required();
  check->add_option("--delta", delta, "requested delta")->required()->check(CLI::NonNegativeNumber);
  check->add_option("--unit", unit, "the dimension's unit")->required();
  check->add_option("--usage", usage, "current usage in the window")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  check->add_option("--window", window, "usage window (scope_window)");
  check->add_option("--product", product, "product (registry entry)")->required();
  check->add_option("--resource-type", resource_type, "resource type (registry entry)")->required();
  check->add_option("--resource-id", resource_id, "the resource")->required();
  check->add_option("--action", action, "the action")->capture_default_str();
  check->add_option("--actor-type", actor_type, "who asks")
      ->capture_default_str()
      ->check(CLI::IsMember({"user", "service_account", "api_key", "worker"}));
  check->add_option("--actor-id", actor_id, "who asks (default: the project)");

  auto* ceilings = app.add_subcommand(
      "ceilings",
      "the effective ceilings at a scope, with where each comes from (--tree: and at every scope under it)");
  auto* ceiling_scope = ceilings->add_option_group("scope", "the scope");
  ceiling_scope->add_option("--org", scope.org, "organization id");
  ceiling_scope->add_option("--department", scope.department, "department id");
  ceiling_scope->add_option("--project", scope.project, "project id");
  ceiling_scope->require_option(1);
  ceilings->add_option("--dimension", dimension, "only this dimension");
  bool tree = false;
  ceilings->add_flag("--tree", tree,
                     "with --org or --department: an indented tree of it, its departments (nested) and their "
                     "projects, each with its effective ceilings; all read at the first answer's snapshot_version "
                     "(sent as as_of_position, with its as_of)");
  std::int64_t page_size = 1000;
  ceilings->add_option("--page-size", page_size, "--tree: children per view request (every page is followed)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));

  auto* reservations = app.add_subcommand("reservations", "an organization's capacity reservations");
  reservations->add_option("--org", scope.org, "organization id")->required();
  reservations->add_option("--id", reservation_id, "one reservation");
  reservations->add_option("--state", state, "only this state")
      ->check(CLI::IsMember({"draft", "active", "exhausted", "expired", "suspended", "retired"}));

  auto* watch = app.add_subcommand("watch", "follow the ledger's changes as they are committed (GET /v1/changes)");
  std::int64_t from_position = 0, until_position = 0;
  std::string types;
  watch->add_option("--from-position", from_position, "start at this event (default: only what comes next)")
      ->check(CLI::NonNegativeNumber);
  watch->add_option("--until-position", until_position, "stop once this position has passed")
      ->check(CLI::NonNegativeNumber);
  watch->add_option("--org", scope.org, "one organization's changes (a tenant principal always sees its own)");
  watch->add_option("--types", types, "comma-separated event types, e.g. PolicyValueSet,PolicyKeyDefined");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kBadInput;
  }

  const std::string at = min_position ? std::to_string(min_position) : "";
  const std::string wait = min_position ? "10000" : "";
  Service q(o, o.query_url, "query");
  Service c(o, o.command_url, "command");
  int exit = kOk;

  if (get->parsed()) {
    auto a = q.call("GET",
                    "/v1/policy-values/" + url_encode(key) +
                        query({{"organization_id", scope.org},
                               {"project_id", scope.project},
                               {"user_id", scope.user},
                               {"plan", scope.plan},
                               {"as_of", as_of},
                               {"min_position", at},
                               {"wait_ms", wait}}),
                    "", exit);
    if (!a) return exit;
    if (o.json) return print_json(*a), kOk;
    Json j = *a;
    std::cout << key << " = " << text(j["value"]) << "\n";
    std::cout << "  from      " << (j.value("is_default", false) ? "the catalog default" : scope_text(j["source"]))
              << "\n";
    if (!j["set_at_position"].is_null()) {
      std::cout << "  set       at position " << text(j["set_at_position"]) << ", effective " << text(j["effective_at"])
                << "\n";
    }
    Json next = j.value("next_change", Json());
    if (next.is_object()) {
      std::cout << "  next      " << text(next["value"]) << " from " << scope_text(next["source"]) << " at "
                << text(next["effective_at"]) << "\n";
    }
    std::cout << "  as of     " << text(j["as_of"]) << " (position " << text(j["snapshot_version"]) << ")\n";
    return kOk;
  }

  if (set->parsed()) {
    Json where = Json::object();
    if (!scope.org.empty()) where["org_id"] = scope.org;
    if (!scope.project.empty()) where["project_id"] = scope.project;
    if (!scope.user.empty()) where["user_id"] = scope.user;
    if (!scope.plan.empty()) where["plan"] = scope.plan;
    if (scope.global && !where.empty()) {
      std::cerr << "ledger: --global names no other scope\n";
      return kBadInput;
    }
    Json body = {{"key", key}, {"scope", where}, {"value", parse_value(value, as_string)}, {"reason", reason}};
    if (!effective_at.empty()) body["effective_at"] = effective_at;
    auto a = c.call("POST", "/v1/policy-values", body.dump(), exit);
    if (!a) return exit;
    if (o.json) return print_json(*a), kOk;
    std::cout << (a->value("duplicate", false) ? "already set" : "set") << " " << key << " = " << text(body["value"])
              << " at position " << text((*a)["position"]) << "\n";
    return kOk;
  }

  if (keys->parsed()) {
    auto a =
        all_pages(q, "/v1/policy-keys", {{"prefix", prefix}, {"min_position", at}, {"wait_ms", wait}}, "keys", exit);
    if (!a) return exit;
    if (o.json) return print_json(*a), kOk;
    std::vector<std::vector<std::string>> rows;
    for (auto k : (*a)["keys"]) {
      std::string bounds;
      if (!k["min"].is_null()) bounds = text(k["min"]) + ".." + text(k["max"]);
      if (k["allowed"].is_array() && !k["allowed"].empty()) bounds = k["allowed"].dump();
      rows.push_back({text(k["key"]), text(k["value_type"]), text(k["default_value"]), bounds,
                      text(k.value("write_audience", Json())), text(k.value("description", Json()))});
    }
    print_table({"KEY", "TYPE", "DEFAULT", "BOUNDS", "WRITERS", "DESCRIPTION"}, rows);
    return kOk;
  }

  if (values->parsed()) {
    auto a = all_pages(q, "/v1/policy-values",
                       {{"key", key},
                        {"organization_id", scope.org},
                        {"level", level},
                        {"as_of", as_of},
                        {"min_position", at},
                        {"wait_ms", wait}},
                       "overrides", exit);
    if (!a) return exit;
    if (o.json) return print_json(*a), kOk;
    std::cout << key << ": default " << text((*a)["default"]) << " (" << text((*a)["value_type"]) << ")\n";
    std::vector<std::vector<std::string>> rows;
    for (auto v : (*a)["overrides"]) {
      std::string scheduled;
      for (auto s : v["scheduled"]) {
        scheduled += (scheduled.empty() ? "" : ", ") + text(s["value"]) + " at " + text(s["effective_at"]);
      }
      rows.push_back({text(v["scope"]["level"]), text(v["scope"]["id"]), text(v["organization_id"]), text(v["value"]),
                      text(v["effective_at"]), text(v["set_at_position"]), scheduled.empty() ? "-" : scheduled});
    }
    print_table({"LEVEL", "ID", "ORGANIZATION", "VALUE", "EFFECTIVE_AT", "POSITION", "SCHEDULED"}, rows);
    return kOk;
  }

  if (check->parsed()) {
    Json hierarchy = {{"organization_id", scope.org}, {"project_id", scope.project}};
    if (!scope.department.empty()) hierarchy["department_id"] = scope.department;
    Json usage_json = {{"quantity", usage}, {"unit", unit}};
    if (!window.empty()) usage_json["scope_window"] = window;
    const Json body = {
        {"actor", {{"actor_type", actor_type}, {"actor_id", actor_id.empty() ? scope.project : actor_id}}},
        {"hierarchy", hierarchy},
        {"product",
         {{"product_id", product}, {"resource_type", resource_type}, {"resource_id", resource_id}, {"action", action}}},
        {"request", {{"dimension", dimension}, {"requested_delta", delta}, {"unit", unit}}},
        {"current_usage", usage_json}};
    auto a = q.call("POST", "/v1/decisions" + query({{"min_position", at}, {"wait_ms", wait}}), body.dump(), exit);
    if (!a) return exit;
    const std::string decision = a->value("decision", "");
    if (o.json) {
      print_json(*a);
    } else {
      Json ceiling = (*a)["effective_ceiling"];
      std::cout << decision << " " << a->value("reason_code", "") << ": " << a->value("user_message", "") << "\n";
      std::cout << "  ceiling      " << text(ceiling["quantity"]) << " " << text(ceiling["unit"]) << " from "
                << scope_text(ceiling["inherited_from_scope"]) << "\n";
      std::cout << "  available    " << text((*a)["available"]) << ", remaining " << text((*a)["limit_remaining"])
                << "\n";
      std::cout << "  snapshot     " << text((*a)["snapshot_version"]) << "\n";
    }
    return decision == "deny" ? kDenied : kOk;
  }

  if (ceilings->parsed() && tree) {
    if (!scope.project.empty()) {
      std::cerr << "ledger: --tree draws an organization or a department (--org, --department); a project has no "
                   "scopes under it\n";
      return kBadInput;
    }
    TreeSnapshot snap;
    snap.params = {{"min_position", at}, {"wait_ms", wait}};
    TreeWalk walk{q, snap, std::to_string(page_size), exit, {}};
    auto root = scope.org.empty() ? walk.department(scope.department) : walk.organization(scope.org);
    if (!root) return exit;
    if (!dimension.empty()) keep_dimension(*root, dimension);
    if (o.json) {
      return print_json({{"tree", std::move(*root)},
                         {"dimension", dimension.empty() ? Json() : Json(dimension)},
                         {"snapshot_version", snap.version},
                         {"as_of", snap.as_of}}),
             kOk;
    }
    std::vector<std::vector<std::string>> rows;
    tree_rows(*root, "", "", rows);
    print_table({"SCOPE", "DIMENSION", "WINDOW", "REGION", "SKU", "CEILING", "UNIT", "FROM"}, rows);
    std::cout << "as of " << text(snap.as_of) << " (position " << text(snap.version) << ")\n";
    return kOk;
  }

  if (ceilings->parsed()) {
    std::string level = "organization", id = scope.org;
    if (!scope.project.empty())
      level = "project", id = scope.project;
    else if (!scope.department.empty())
      level = "department", id = scope.department;
    auto a = q.call("GET",
                    "/v1/ceilings/effective" + query({{"scope_level", level},
                                                      {"scope_id", id},
                                                      {"dimension", dimension},
                                                      {"min_position", at},
                                                      {"wait_ms", wait}}),
                    "", exit);
    if (!a) return exit;
    if (o.json) return print_json(*a), kOk;
    std::string chain;
    for (const auto& n : (*a)["chain"]) chain += (chain.empty() ? "" : " > ") + scope_text(n);
    std::cout << "chain: " << chain << "\n";
    std::vector<std::vector<std::string>> rows;
    for (auto x : (*a)["ceilings"]) {
      rows.push_back({text(x["dimension"]), text(x["window"]), x.value("region", "").empty() ? "-" : text(x["region"]),
                      x.value("sku_or_model", "").empty() ? "-" : text(x["sku_or_model"]), text(x["quantity"]),
                      text(x["unit"]), scope_text(x["inherited_from"]), text(x["allowed"]["quantity"])});
    }
    print_table({"DIMENSION", "WINDOW", "REGION", "SKU", "CEILING", "UNIT", "FROM", "PARENT_ALLOWS"}, rows);
    return kOk;
  }

  if (reservations->parsed()) {
    std::optional<Json> a;
    if (!reservation_id.empty()) {
      a = q.call("GET",
                 "/v1/reservations/" + url_encode(reservation_id) +
                     query({{"organization_id", scope.org}, {"min_position", at}, {"wait_ms", wait}}),
                 "", exit);
      if (a) *a = Json{{"items", Json::array({*a})}};
    } else {
      a = all_pages(q, "/v1/reservations",
                    {{"organization_id", scope.org}, {"state", state}, {"min_position", at}, {"wait_ms", wait}},
                    "items", exit);
    }
    if (!a) return exit;
    if (o.json) return print_json(*a), kOk;
    std::vector<std::vector<std::string>> rows;
    for (auto r : (*a)["items"]) {
      rows.push_back({text(r["reservation_id"]), text(r["state"]), scope_text(r["owner"]), text(r["dimension"]),
                      text(r["quantity"]), text(r["consumed"]), text(r["unit"]),
                      text(r["window_start"]) + " .. " + text(r["window_end"])});
    }
    print_table({"ID", "STATE", "OWNER", "DIMENSION", "QUANTITY", "CONSUMED", "UNIT", "WINDOW"}, rows);
    return kOk;
  }
  if (watch->parsed()) {
    // Reconnects after a broken stream (or a service that went away) with
    // Last-Event-ID, so nothing is missed and nothing is printed twice.
    std::string last_id, pending;
    int failures = 0;
    for (;;) {
      std::vector<std::pair<std::string, std::string>> extra;
      if (!last_id.empty()) extra.emplace_back("last-event-id", last_id);
      const std::string target =
          "/v1/changes" + query({{"from_position", from_position ? std::to_string(from_position) : ""},
                                 {"until_position", until_position ? std::to_string(until_position) : ""},
                                 {"organization_id", scope.org},
                                 {"types", types}});
      pending.clear();
      bool broken = false;
      const int code = q.stream(
          target, extra,
          [&](std::string_view data) {
            failures = 0;
            pending.append(data);
            for (std::size_t end; (end = pending.find("\n\n")) != std::string::npos; pending.erase(0, end + 2)) {
              std::string id, type, payload;
              std::istringstream block(pending.substr(0, end));
              for (std::string line; std::getline(block, line);) {
                if (line.starts_with("id: "))
                  id = line.substr(4);
                else if (line.starts_with("event: "))
                  type = line.substr(7);
                else if (line.starts_with("data: "))
                  payload = line.substr(6);
              }
              if (payload.empty()) continue;  // a comment or a heartbeat
              last_id = id;
              if (o.json) {
                std::cout << payload << '\n' << std::flush;  // live: one event at a time
                continue;
              }
              const Json e = Json::parse(payload, nullptr, false);
              if (!e.is_object()) continue;
              std::cout << id << "  " << type << "  " << text(e.value("stream_id", Json())) << "  "
                        << text(e.value("recorded_at", Json())) << "  " << text(e.value("tenant", Json())) << "  "
                        << text(e.value("payload", Json())) << '\n'
                        << std::flush;
            }
            return true;
          },
          broken);
      if (!broken) return code;  // ended (until_position, the service stopping it) or refused
      if (++failures > 30) return kUnavailable;
      std::this_thread::sleep_for(std::chrono::seconds(std::min(failures, 5)));
    }
  }
  return kBadInput;
}

// ledger-audit: the auditor's tools. Every subcommand has --help.
//
//   ledger-audit verify [--file export.jsonl [--partial]] [--to N]   the hash chain, per stream too
//                       [--public-key PEM ...]                     and the writer's signed chain heads
//   ledger-audit export --out FILE [--from P] [--to P]             JSON Lines, global order
//   ledger-audit history (--stream ID | --key KEY) [--scope S]     readable, or --json lines
//   ledger-audit as-of --key KEY [scope flags] (--position N | --instant T)
//   ledger-audit as-of --ceiling --scope-level L [--scope-id ID] --dimension D
//                      [--window W] [--region R] [--sku S] (--position N | --instant T)
//   ledger-audit as-of --reservation ID [--organization ORG] (--position N | --instant T)
//   ledger-audit digest --position N --key-file F                   signed digest of the chain head
//   ledger-audit digest --check FILE --key-file F                   nothing up to it changed?
//   ledger-audit replay [--source postgres|kafka] [--schema S]      rebuild + compare every table
//   ledger-audit decisions [--org-id O] [--project-id P] [--correlation-id C] [--from T] [--to T]
//                      re-derive logged decisions at their snapshot version; exit 1 if any differ
//
// Exit status: 0 all good; 1 a finding (broken chain, changed history,
// differing read model); 2 bad input or an unavailable dependency (nothing
// checked, nothing changed). Results go to stdout (JSON with --json),
// errors and the progress bar (only on a terminal) to stderr.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "adapters/audit/audit_tools.h"
#include "adapters/audit/decision_audit.h"
#include "adapters/cel/cel_engine.h"
#include "domain/admission.h"
#include "domain/error_json.h"
#include "domain/policy_key.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"
#include "services/common/process.h"
#include "services/common/settings.h"

namespace {

using namespace ledger;
using Json = nlohmann::json;

constexpr int kOk = 0;
constexpr int kFinding = 1;
constexpr int kBadInput = 2;

bool g_json = false;

int report_error(const domain::Error& e) {
  if (g_json) {
    Json err = {{"code", e.code}, {"message", e.message}};
    if (!e.evidence.empty()) err["evidence"] = domain::evidence_json(e);
    std::cout << Json{{"ok", false}, {"error", err}}.dump() << '\n';
  }
  std::fprintf(stderr, "ledger-audit: %s (%s)\n", e.message.c_str(), e.code.c_str());
  return kBadInput;
}

int bad_input(const std::string& message) {
  return report_error(domain::Error{domain::ErrorKind::kInvalidArgument, "invalid_argument", message, {}});
}

// A one-line progress bar on stderr, drawn only when stderr is a terminal
// and at most ten times a second.
class ProgressBar {
 public:
  explicit ProgressBar(std::string label) : label_(std::move(label)), enabled_(::isatty(STDERR_FILENO) == 1) {}
  ~ProgressBar() { finish(); }

  audit::AuditProgress callback() {
    if (!enabled_) return {};
    return [this](std::int64_t done, std::int64_t total) { draw(done, total); };
  }
  void finish() {
    std::lock_guard lock(mu_);
    if (drawn_) std::fputs("\r\033[K", stderr);
    drawn_ = false;
  }

 private:
  void draw(std::int64_t done, std::int64_t total) {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (drawn_ && now - last_ < std::chrono::milliseconds(100) && done < total) return;
    last_ = now;
    drawn_ = true;
    if (total > 0) {
      const double f = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
      constexpr int kWidth = 30;
      const int filled = static_cast<int>(f * kWidth);
      std::string bar(filled, '#');
      bar.append(kWidth - filled, '-');
      std::fprintf(stderr, "\r%s [%s] %3d%%  %lld/%lld\033[K", label_.c_str(), bar.c_str(), static_cast<int>(f * 100),
                   static_cast<long long>(done), static_cast<long long>(total));
    } else {
      std::fprintf(stderr, "\r%s  %lld\033[K", label_.c_str(), static_cast<long long>(done));
    }
    std::fflush(stderr);
  }

  std::string label_;
  bool enabled_;
  std::mutex mu_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

// Each subcommand binds its own variable: CLI11 applies environment
// fallbacks to the options of every subcommand, parsed or not, so a shared
// variable would take LEDGER_PG_URL over a flag given to the one that ran.
void add_pg_flag(CLI::App& sub, std::map<std::string, std::string>& urls) {
  sub.add_option("--pg-url", urls[sub.get_name()] = services::Settings{}.pg_url,
                 "PostgreSQL URL (read access to the event store is enough)")
      ->envname("LEDGER_PG_URL")
      ->capture_default_str();
}

void add_json_flag(CLI::App& sub) { sub.add_flag("--json", g_json, "print JSON instead of text"); }

void print_json(const Json& j) { std::cout << j.dump() << '\n'; }

int print_verify(const audit::VerifyReport& r, const std::string& source) {
  if (g_json) {
    Json j = audit::verify_report_json(r);
    j["source"] = source;
    print_json(j);
  } else if (r.broken) {
    std::cout << r.broken->message << '\n';
    if (r.events > 0) {
      std::cout << "(" << r.events << " events verified before it, up to position " << r.head_position << ")\n";
    }
  } else {
    std::cout << "verified " << r.events << " events, head position " << r.head_position << ", head hash "
              << r.head_hash << '\n';
    if (r.anchors.checked) {
      std::cout << "signed chain heads: " << r.anchors.verified << " verified, the last at position "
                << r.anchors.last_signed_position << '\n';
    } else if (r.anchors.anchors > 0) {
      std::cout << r.anchors.anchors << " signed chain heads not checked (give --public-key)\n";
    }
    if (r.partial) {
      std::cout << "partial export: starts at position " << r.first_position
                << "; its prev_hash and the first version of each stream were taken on trust\n";
    }
  }
  return r.intact() ? kOk : kFinding;
}

bool any_given(const std::vector<CLI::Option*>& opts) {
  return std::any_of(opts.begin(), opts.end(), [](const CLI::Option* o) { return o->count() > 0; });
}

std::string quota_scope_text(const events::QuotaScope& s) { return domain::scope_text(s); }

std::string quantity_text(const std::optional<std::int64_t>& q, const std::string& unit) {
  if (!q) return "unlimited";
  return std::to_string(*q) + (unit.empty() ? "" : " " + unit);
}

// What the command line asked of `as-of`, after CLI11 parsed it.
struct AsOfRequest {
  bool key_given = false;
  bool ceiling = false;
  bool reservation_given = false;
  bool organization_given = false;  // --organization
  bool policy_flag_given = false;   // --user-id, --project-id, --org-id, --plan
  bool ceiling_flag_given = false;  // --scope-level, --scope-id, --dimension, --window, --region, --sku
  bool position_given = false;
  bool instant_given = false;
  std::optional<std::int64_t> position;
  std::string instant_text;
  std::string scope_level;
  std::string scope_id;
};

int print_policy_as_of(const audit::AsOfAnswer& a) {
  if (g_json) {
    print_json(audit::as_of_json(a));
    return kOk;
  }
  const auto& res = a.resolution;
  std::cout << a.key << " = " << codec::encode_value(res.value).dump() << '\n';
  std::cout << "  source:        " << codec::scope_level_name(res.source.level)
            << (res.source.id.empty() ? "" : ":" + res.source.id) << (res.is_default ? " (catalog default)" : "")
            << '\n';
  std::cout << "  effective at:  " << (res.effective_at ? codec::format_instant(*res.effective_at) : "-") << '\n';
  std::cout << "  set at:        " << (res.position ? "position " + std::to_string(*res.position) : "-") << '\n';
  std::cout << "  reflects:      position " << a.position << ", resolved as of " << codec::format_instant(a.as_of)
            << '\n';
  return kOk;
}

int print_ceiling_as_of(const audit::CeilingAsOfAnswer& a) {
  if (g_json) {
    print_json(audit::ceiling_as_of_json(a));
    return kOk;
  }
  const auto& e = a.evaluation.effective;
  std::string target = a.target.dimension;
  if (!a.target.window.empty()) target += " per " + a.target.window;
  if (!a.target.region.empty()) target += ", region " + a.target.region;
  if (!a.target.sku_or_model.empty()) target += ", sku " + a.target.sku_or_model;
  std::cout << target << " @ " << quota_scope_text(a.scope) << " = " << quantity_text(e.quantity, a.unit)
            << (e.quantity ? "" : " (no ceiling on the path)") << '\n';
  std::cout << "  inherited from: "
            << (e.inherited_from ? quota_scope_text(*e.inherited_from) + " (rule " + e.binding_rule_id + ")" : "-")
            << '\n';
  if (e.matched_rules.empty()) std::cout << "  matched rules:  -\n";
  for (std::size_t i = 0; i < e.matched_rules.size(); ++i) {
    const auto& r = e.matched_rules[i];
    std::cout << (i == 0 ? "  matched rules:  " : "                  ") << r.kind << " " << r.rule_id << " v"
              << r.version << '\n';
  }
  const auto& allowed = a.evaluation.allowed;
  std::cout << "  parent allows:  " << quantity_text(allowed.quantity, a.unit)
            << (allowed.inherited_from ? " (" + quota_scope_text(*allowed.inherited_from) + ")" : "") << '\n';
  std::string chain;
  for (const auto& n : a.chain) chain += (chain.empty() ? "" : " > ") + quota_scope_text(n.scope);
  std::cout << "  chain:          " << chain << '\n';
  if (!a.dimension) std::cout << "  note:           dimension " << a.target.dimension << " was not registered then\n";
  std::cout << "  reflects:       position " << a.position << ", as of " << codec::format_instant(a.as_of) << '\n';
  return kOk;
}

int print_reservation_as_of(const audit::ReservationAsOfAnswer& a) {
  if (g_json) {
    print_json(audit::reservation_as_of_json(a));
    return kOk;
  }
  const auto& v = a.view;
  std::cout << "reservation " << v.reservation_id << ": " << a.state;
  if (a.state != v.state) std::cout << " (recorded " << v.state << "; its window has ended)";
  std::cout << '\n';
  std::cout << "  owner:          " << quota_scope_text(v.owner) << " (organization " << a.drafted.organization_id
            << ")\n";
  std::cout << "  kind:           " << a.drafted.kind << ", " << v.dimension
            << (v.region.empty() ? "" : ", region " + v.region)
            << (v.sku_or_model.empty() ? "" : ", sku " + v.sku_or_model) << '\n';
  std::cout << "  quantity:       " << v.quantity << ' ' << a.drafted.unit << ", consumed " << v.consumed
            << ", remaining " << v.quantity - v.consumed << '\n';
  std::cout << "  window:         " << codec::format_instant(v.window_start) << " .. "
            << codec::format_instant(v.window_end) << " (end exclusive)\n";
  // What it occupies of its ceilings then (README "Capacity per reservation state").
  const bool holds = domain::holds_at(v, a.as_of);
  std::cout << "  holds:          " << (holds ? std::to_string(v.quantity) + " " + a.drafted.unit : "nothing") << '\n';
  std::cout << "  history:        drafted at position " << a.drafted_position << ", last change at position "
            << a.last_position << ", stream version " << a.version << '\n';
  std::cout << "  reflects:       position " << a.position << ", as of " << codec::format_instant(a.as_of) << '\n';
  return kOk;
}

int run_as_of(const std::string& pg_url, const AsOfRequest& r, audit::AsOfQuery& q, audit::CeilingAsOfQuery& cq,
              audit::ReservationAsOfQuery& rq) {
  const int modes = (r.key_given ? 1 : 0) + (r.ceiling ? 1 : 0) + (r.reservation_given ? 1 : 0);
  if (modes != 1) return bad_input("give one of --key K, --ceiling or --reservation ID");
  if (!r.position_given && !r.instant_given) return bad_input("give --position N, --instant T, or both");
  std::optional<events::Instant> instant;
  if (r.instant_given) {
    auto t = codec::parse_instant(r.instant_text);
    if (!t) {
      return bad_input("malformed instant '" + r.instant_text + "': expected RFC 3339, e.g. 2026-06-01T00:00:00Z");
    }
    instant = *t;
  }
  if (!r.key_given && r.policy_flag_given) {
    return bad_input("--user-id, --project-id, --org-id and --plan go with --key");
  }
  if (!r.reservation_given && r.organization_given) return bad_input("--organization goes with --reservation");
  if (!r.ceiling && r.ceiling_flag_given) {
    return bad_input("--scope-level, --scope-id, --dimension, --window, --region and --sku go with --ceiling");
  }
  ProgressBar bar("reading history");
  if (r.key_given) {
    q.position = r.position;
    q.instant = instant;
    auto a = audit::as_of(pg_url, q);
    if (!a) return report_error(a.error());
    return print_policy_as_of(*a);
  }
  if (r.ceiling) {
    if (r.scope_level.empty()) return bad_input("--ceiling needs --scope-level (and --scope-id below global)");
    auto level = events::parse_quota_level(r.scope_level);
    if (!level) {
      return bad_input("unknown scope level '" + r.scope_level +
                       "': expected global, plan, organization, department, project or principal");
    }
    if (*level != events::QuotaLevel::kGlobal && r.scope_id.empty()) return bad_input("--scope-id is required");
    if (*level == events::QuotaLevel::kGlobal && !r.scope_id.empty()) return bad_input("the global scope has no id");
    if (cq.target.dimension.empty()) return bad_input("--ceiling needs --dimension");
    cq.scope = {*level, r.scope_id};
    cq.position = r.position;
    cq.instant = instant;
    auto a = audit::ceiling_as_of(pg_url, cq, bar.callback());
    bar.finish();
    if (!a) return report_error(a.error());
    return print_ceiling_as_of(*a);
  }
  if (rq.reservation_id.empty()) return bad_input("--reservation needs an id");
  rq.position = r.position;
  rq.instant = instant;
  auto a = audit::reservation_as_of(pg_url, rq, bar.callback());
  bar.finish();
  if (!a) return report_error(a.error());
  return print_reservation_as_of(*a);
}

}  // namespace

// NOLINTNEXTLINE(bugprone-exception-escape): what escapes is a bug; std::terminate reports it (as in every main)
int main(int argc, char** argv) {
  CLI::App app{"Policy Ledger auditor: verify, export, history, as-of, digest, replay"};
  services::add_version_flag(app);
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 ok, 1 a finding (broken chain, changed history, differing read model), 2 bad input or error.");
  services::Settings settings;
  std::map<std::string, std::string> pg_urls;  // per subcommand, see add_pg_flag
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->envname("LEDGER_LOG_LEVEL")
      ->capture_default_str();

  // verify
  auto* verify = app.add_subcommand("verify",
                                    "check the hash chain, every position once with no gap, and per-stream "
                                    "versions; print the first broken position and why");
  std::string verify_file;
  bool verify_partial = false;
  std::optional<std::int64_t> verify_to;
  std::size_t batch_size = 5000;
  add_pg_flag(*verify, pg_urls);
  verify->add_option("--file", verify_file, "verify an exported JSON Lines file instead, with no database");
  verify->add_flag("--partial", verify_partial,
                   "with --file: the export may start after position 1 (trust its first link)");
  verify->add_option("--to", verify_to, "verify positions 1..N only (store)");
  verify->add_option("--batch-size", batch_size, "events per read from the store")->capture_default_str();
  std::vector<std::string> verify_public_keys;
  audit::AnchorPolicy anchor_policy;
  verify->add_option("--public-key", verify_public_keys,
                     "Ed25519 public key (PEM) of the writer's chain anchors (repeatable): every ChainHeadSigned must "
                     "carry a valid signature by one of them over a head the chain really has");
  verify
      ->add_option("--max-unsigned-events", anchor_policy.max_unsigned_events,
                   "with --public-key: at most this many events after the last signed head")
      ->capture_default_str();
  add_json_flag(*verify);

  // export
  auto* exp = app.add_subcommand("export", "write events as JSON Lines (one envelope per line), in global order");
  std::string export_out;
  std::optional<std::int64_t> export_from, export_to;
  add_pg_flag(*exp, pg_urls);
  exp->add_option("--out", export_out, "file to write ('-' for stdout)")->required();
  exp->add_option("--from", export_from, "first position (default 1)");
  exp->add_option("--to", export_to, "last position (default the head)");
  add_json_flag(*exp);

  // history
  auto* history = app.add_subcommand("history", "the events of a stream, a policy key or a scope");
  std::string history_stream, history_key, history_scope;
  add_pg_flag(*history, pg_urls);
  auto* stream_opt =
      history->add_option("--stream", history_stream, "stream id, e.g. policy-key:billing.window_seconds");
  auto* key_opt = history->add_option("--key", history_key, "policy key (its stream policy-key:KEY)");
  auto* scope_opt = history->add_option("--scope", history_scope,
                                        "only values set at this scope: user:ID, project:ID, organization:ID, "
                                        "plan:ID or global (scans the whole store without --key)");
  stream_opt->excludes(key_opt)->excludes(scope_opt);
  add_json_flag(*history);

  // as-of
  auto* asof = app.add_subcommand(
      "as-of",
      "the effective policy value (--key), quota ceiling (--ceiling) or reservation state (--reservation) at a "
      "position or instant, computed from the event store alone (no read model)");
  asof->footer(
      "With --position N alone: the events up to N, time-dependent state read at N's commit time. With --instant "
      "T alone: the events committed at or before T, state read at T. With both: events up to N, state at T.");
  audit::AsOfQuery q;
  audit::CeilingAsOfQuery cq;
  audit::ReservationAsOfQuery rq;
  std::optional<std::int64_t> asof_position;
  std::string instant_text;
  bool ceiling_mode = false;
  std::string scope_level_text, scope_id;
  add_pg_flag(*asof, pg_urls);
  auto* key_mode = asof->add_option("--key", q.key, "policy key: its effective value");
  auto* ceiling_flag = asof->add_flag("--ceiling", ceiling_mode, "the effective quota ceiling of a scope");
  auto* reservation_mode = asof->add_option("--reservation", rq.reservation_id, "reservation id: its state");
  auto* organization_opt = asof->add_option(
      "--organization", rq.organization_id,
      "with --reservation: its organization (ids are unique per organization; needed when several use the id)");
  key_mode->excludes(ceiling_flag)->excludes(reservation_mode);
  ceiling_flag->excludes(reservation_mode);
  std::vector<CLI::Option*> policy_opts = {
      asof->add_option("--user-id", q.chain.user_id, "with --key: the caller's user"),
      asof->add_option("--project-id", q.chain.project_id, "with --key: the caller's project"),
      asof->add_option("--org-id", q.chain.org_id, "with --key: the caller's organization"),
      asof->add_option("--plan", q.chain.plan, "with --key: the caller's plan")};
  std::vector<CLI::Option*> ceiling_opts = {
      asof->add_option("--scope-level", scope_level_text,
                       "with --ceiling: global, plan, organization, department, project or principal"),
      asof->add_option("--scope-id", scope_id, "with --ceiling: the scope's id (none for global)"),
      asof->add_option("--dimension", cq.target.dimension, "with --ceiling: quota dimension, e.g. gpu.count"),
      asof->add_option("--window", cq.target.window,
                       "with --ceiling: minute, hour, day, month or request (default: none)"),
      asof->add_option("--region", cq.target.region, "with --ceiling: the request's region"),
      asof->add_option("--sku", cq.target.sku_or_model, "with --ceiling: the request's SKU or model")};
  auto* pos_opt = asof->add_option("--position", asof_position, "the ledger at this global position");
  auto* instant_opt = asof->add_option("--instant", instant_text,
                                       "read state at this RFC 3339 instant (alone: the ledger as committed then)");
  add_json_flag(*asof);

  // digest
  auto* digest = app.add_subcommand("digest",
                                    "print a signed (HMAC-SHA256) digest of the chain head at a position, "
                                    "or check one against the store");
  std::optional<std::int64_t> digest_position;
  std::string key_file, check_file;
  add_pg_flag(*digest, pg_urls);
  auto* dpos = digest->add_option("--position", digest_position, "sign the chain head at this position");
  auto* dcheck = digest->add_option("--check", check_file, "digest file to check against the store");
  digest->add_option("--key-file", key_file, "file holding the HMAC key (one trailing newline ignored)")->required();
  dpos->excludes(dcheck);
  add_json_flag(*digest);

  // replay
  auto* rep = app.add_subcommand("replay",
                                 "rebuild the read models from position 0 into a scratch schema and "
                                 "compare every table with the live schema");
  std::string source_name = "postgres";
  audit::ReplayOptions ro;
  add_pg_flag(*rep, pg_urls);
  rep->add_option("--source", source_name, "postgres or kafka (ledger.events from offset 0)")
      ->check(CLI::IsMember({"postgres", "kafka"}))
      ->capture_default_str();
  rep->add_option("--schema", ro.scratch_schema, "scratch schema (emptied first; never the live one)")
      ->capture_default_str();
  rep->add_option("--read-model-schema", settings.read_model_schema, "the live read-model schema")
      ->envname("LEDGER_READ_MODEL_SCHEMA")
      ->capture_default_str();
  services::add_kafka_flags(*rep, settings);
  rep->add_option("--events-topic", settings.events_topic, "topic of committed events")
      ->envname("LEDGER_EVENTS_TOPIC")
      ->capture_default_str();
  rep->add_option("--read-model", ro.read_models, "replay only this read model (repeatable; default all)");
  rep->add_option("--limit", ro.diff_limit, "differing rows reported per table at most")->capture_default_str();
  rep->add_flag("--keep-scratch", ro.keep_scratch, "keep the scratch schema even when identical");
  add_json_flag(*rep);

  // decisions (issue 13 part 6: the decision log re-derived)
  auto* dec = app.add_subcommand("decisions",
                                 "re-derive logged decisions (decision_log.decisions) from history at "
                                 "their snapshot version and report those that differ");
  audit::DecisionAuditQuery dq;
  add_pg_flag(*dec, pg_urls);
  dec->add_option("--org-id", dq.organization_id, "only this organization's decisions");
  dec->add_option("--project-id", dq.project_id, "only this project's decisions");
  dec->add_option("--correlation-id", dq.correlation_id, "only decisions with this correlation id");
  dec->add_option("--from", dq.from, "recorded at or after this instant (RFC 3339)");
  dec->add_option("--to", dq.to, "recorded before this instant (RFC 3339)");
  add_json_flag(*dec);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a ParseError with status 0; usage errors are bad input.
    return app.exit(e) == 0 ? kOk : kBadInput;
  }

  for (const auto* sub : app.get_subcommands()) settings.pg_url = pg_urls[sub->get_name()];

  // Logs (from the adapters) go to stderr, so stdout stays the result.
  auto logger = spdlog::stderr_color_mt("ledger-audit");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));

  if (*verify) {
    auto keys = audit::read_public_keys(verify_public_keys);
    if (!keys) return report_error(keys.error());
    anchor_policy.public_keys = std::move(*keys);
    ProgressBar bar("verifying");
    if (!verify_file.empty()) {
      if (verify_to) return bad_input("--to applies to the store; a file is verified whole");
      auto r = audit::verify_export_file(verify_file, verify_partial, bar.callback(), anchor_policy);
      bar.finish();
      if (!r) return report_error(r.error());
      return print_verify(*r, verify_file);
    }
    if (verify_partial) return bad_input("--partial applies to --file only");
    auto r = audit::verify_store(
        settings.pg_url, {.up_to = verify_to, .batch_size = batch_size, .anchors = anchor_policy}, bar.callback());
    bar.finish();
    if (!r) return report_error(r.error());
    return print_verify(*r, "postgres");
  }

  if (*exp) {
    ProgressBar bar("exporting");
    audit::ExportRange range{export_from, export_to};
    domain::Result<audit::ExportReport> r;
    if (export_out == "-") {
      if (g_json) return bad_input("--json with --out - would mix the summary into the export");
      r = audit::export_events(settings.pg_url, range, std::cout, bar.callback());
    } else {
      r = audit::export_events_to_file(settings.pg_url, range, export_out, bar.callback());
    }
    bar.finish();
    if (!r) return report_error(r.error());
    if (g_json) {
      print_json({{"ok", true},
                  {"file", export_out},
                  {"events", r->events},
                  {"first_position", r->first_position},
                  {"last_position", r->last_position},
                  {"last_hash", r->last_hash}});
    } else if (export_out != "-") {
      std::cout << "exported " << r->events << " events (positions " << r->first_position << ".." << r->last_position
                << ") to " << export_out << ", last hash " << r->last_hash << '\n';
    } else {
      std::fprintf(stderr, "exported %lld events\n", static_cast<long long>(r->events));
    }
    return kOk;
  }

  if (*history) {
    if (history_stream.empty() && history_key.empty() && history_scope.empty()) {
      return bad_input("give --stream, --key or --scope");
    }
    domain::Result<std::vector<events::RecordedEvent>> r;
    ProgressBar bar("scanning");
    if (!history_scope.empty()) {
      auto scope = audit::parse_scope(history_scope);
      if (!scope) return report_error(scope.error());
      r = audit::scope_history(settings.pg_url, *scope, history_key.empty() ? std::nullopt : std::optional(history_key),
                               bar.callback());
    } else {
      const std::string stream = history_stream.empty() ? domain::policy_stream_id(history_key) : history_stream;
      r = audit::stream_history(settings.pg_url, stream);
      if (!r && r.error().code == "unknown_stream" && !history_key.empty()) {
        r.error().message = "policy key '" + history_key + "' has no events (stream " + stream + ")";
      }
    }
    bar.finish();
    if (!r) return report_error(r.error());
    for (const auto& e : *r) {
      if (g_json)
        print_json(audit::history_json(e));
      else
        std::cout << audit::history_line(e) << '\n';
    }
    if (!g_json && r->empty()) std::cout << "no events\n";
    return kOk;
  }

  if (*asof) {
    AsOfRequest r;
    r.key_given = key_mode->count() > 0;
    r.ceiling = ceiling_mode;
    r.reservation_given = reservation_mode->count() > 0;
    r.organization_given = organization_opt->count() > 0;
    r.policy_flag_given = any_given(policy_opts);
    r.ceiling_flag_given = any_given(ceiling_opts);
    r.position_given = pos_opt->count() > 0;
    r.instant_given = instant_opt->count() > 0;
    r.position = asof_position;
    r.instant_text = instant_text;
    r.scope_level = scope_level_text;
    r.scope_id = scope_id;
    return run_as_of(settings.pg_url, r, q, cq, rq);
  }

  if (*digest) {
    if (!*dpos && !*dcheck) return bad_input("give --position N to sign, or --check FILE to check");
    auto key = audit::read_key_file(key_file);
    if (!key) return report_error(key.error());
    ProgressBar bar("verifying");
    if (digest_position) {  // set when --position was given
      auto d = audit::sign_digest(settings.pg_url, *key, *digest_position, bar.callback());
      bar.finish();
      if (!d) {
        if (d.error().code == "chain_broken") {
          report_error(d.error());
          return kFinding;
        }
        return report_error(d.error());
      }
      print_json(codec::digest_to_json(*d));
      return kOk;
    }
    auto d = audit::read_digest_file(check_file);
    if (!d) return report_error(d.error());
    auto c = audit::check_digest(settings.pg_url, *key, *d, bar.callback());
    bar.finish();
    if (!c) return report_error(c.error());
    if (g_json) {
      print_json(audit::digest_check_json(*c));
    } else if (c->ok()) {
      std::cout << "digest holds: the chain up to position " << d->position << " is unchanged (hash " << d->hash
                << ", signature valid)\n";
    } else {
      std::cout << "digest does NOT hold for position " << d->position << ":\n";
      for (const auto& p : c->problems) std::cout << "  " << p << '\n';
    }
    return c->ok() ? kOk : kFinding;
  }

  if (*dec) {
    for (auto* t : {&dq.from, &dq.to}) {
      if (!*t) continue;
      auto at = codec::parse_instant(**t);
      if (!at) return bad_input("--from/--to must be RFC 3339 instants");
      *t = codec::format_instant(*at);
    }
    auto cel = adapters::cel::CelEngine::create();  // custom_cel policies of the apps decisions named
    if (!cel) return report_error(cel.error());
    ProgressBar bar("re-deriving");
    auto r = audit::audit_decisions(settings.pg_url, dq, {.expressions = cel->get()}, bar.callback());
    bar.finish();
    if (!r) return report_error(r.error());
    if (g_json) {
      print_json(audit::decision_audit_json(*r));
      return r->differences.empty() ? kOk : kFinding;
    }
    for (const auto& d : r->differences) {
      std::string fields;
      for (const auto& f : d.fields) fields += (fields.empty() ? "" : ", ") + f;
      std::cout << "DIFFERS: decision " << d.decision_id << " (correlation " << d.correlation_id << ", organization "
                << d.organization_id << ", snapshot " << d.snapshot_version << "): " << fields << '\n';
      std::cout << "  logged:  " << d.logged.dump() << '\n';
      std::cout << "  derived: " << d.derived.dump() << '\n';
    }
    std::cout << "re-derived " << r->checked << " logged decisions: "
              << (r->differences.empty() ? std::string("all agree") : std::to_string(r->differences.size()) + " differ")
              << '\n';
    return r->differences.empty() ? kOk : kFinding;
  }

  if (*rep) {
    ro.pg_url = settings.pg_url;
    ro.brokers = settings.kafka_brokers;
    if (source_name == "kafka") {
      auto security = services::kafka_security(settings);
      if (!security) return report_error(security.error());
      ro.kafka_security = *security;
    }
    ro.topic = settings.events_topic;
    ro.live_schema = settings.read_model_schema;
    ro.source = source_name == "kafka" ? projector::RebuildSource::kKafka : projector::RebuildSource::kPostgres;
    ProgressBar bar("replaying");
    auto r = audit::replay(ro, bar.callback());
    bar.finish();
    if (!r) return report_error(r.error());
    if (g_json) {
      Json j = audit::replay_report_json(*r);
      j["source"] = source_name;
      j["live_schema"] = ro.live_schema;
      j["scratch_schema"] = ro.scratch_schema;
      print_json(j);
      return r->ok() ? kOk : kFinding;
    }
    for (const auto& a : r->chain_alarms) {
      std::cout << "chain alarm: offset " << a.offset << ", position " << a.position << ": " << a.reason << " ("
                << a.detail << ")" << (a.replaced ? "; the store's true event was replayed instead" : "; skipped")
                << '\n';
    }
    std::cout << "replayed from " << source_name << " to position " << r->replayed_to << " into " << ro.scratch_schema
              << " in " << std::fixed << std::setprecision(1) << r->seconds << " s; compared " << r->tables.size()
              << " tables with " << ro.live_schema << '\n';
    for (const auto& d : r->differences) {
      if (!d.problem.empty()) std::cout << d.table << ": " << d.problem << '\n';
      for (const auto& row : d.rows) std::cout << d.table << ": " << row << '\n';
      if (d.truncated) std::cout << d.table << ": (more differing rows not shown; raise --limit)\n";
    }
    if (r->identical()) {
      std::cout << "identical" << (r->scratch_dropped ? "" : " (scratch schema " + ro.scratch_schema + " kept)")
                << '\n';
      return r->ok() ? kOk : kFinding;
    }
    std::cout << r->differing_rows << " differing rows in " << r->differences.size() << " tables; scratch schema "
              << ro.scratch_schema << " kept for inspection\n";
    for (const auto& d : r->differences) {
      if (d.table == "checkpoints") {
        std::cout << "note: the checkpoints differ: if the live projector is still catching up, run again once it "
                     "has reached position "
                  << r->replayed_to << "\n";
      }
    }
    return kFinding;
  }
  return kOk;
}

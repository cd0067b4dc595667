// The auditor's tools behind `ledger-audit`: verify the hash chain (in the
// store or in an exported file), export history, read the history of a
// stream, key or scope, answer "what was the effective value then" from
// history alone, sign and check digests of the chain head, and replay the
// read models into a scratch schema to compare them with the live ones.
//
//   auto report = services::verify_store(url, {});          // Result<VerifyReport>
//   if (report && report->broken) std::puts(report->broken->message.c_str());
//
//   ChainVerifier v;                       // the pure part, no I/O
//   for (const auto& e : events) if (!v.add(e)) break;
//   v.report().broken;                     // first break, or nullopt
//
// Conventions: an Error is a problem with the request or a dependency (bad
// input, unknown position, database down, unreadable file); a finding about
// the data (a broken chain, a changed read model, a digest that no longer
// matches) is part of the successful answer, so callers can print it.
// Nothing here writes to the event store. Only `replay` writes, and only to
// its scratch schema (never the live one).
//
// Progress callbacks get (done, total) with total 0 when unknown; they are
// called from the calling thread, except during replay's rebuild (a watcher
// thread). Functions are thread-compatible: each opens its own connections.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "domain/error.h"
#include "domain/policy_resolution.h"
#include "events/codec/digest.h"
#include "events/event.h"
#include "services/components/projector.h"

namespace ledger::services {

using AuditProgress = std::function<void(std::int64_t done, std::int64_t total)>;

// ---------------------------------------------------------------- verify

// The first place where history is not what it claims to be.
struct ChainBreak {
  std::int64_t position = 0;  // the broken (or missing, or expected) position
  std::int64_t line = 0;      // 1-based line of an export file; 0 for the store
  // missing_position, unexpected_position, prev_hash_mismatch, hash_mismatch,
  // stream_version_gap, corrupted_line, truncated_line
  std::string code;
  std::string message;  // e.g. "position 5: hash mismatch (stored ..., recomputed ...)"
};

struct VerifyReport {
  std::int64_t events = 0;          // events that verified (all of them when intact)
  std::int64_t first_position = 0;  // 0 when there were none
  std::int64_t head_position = 0;   // the last verified position
  std::string head_hash = events::kGenesisHash;
  std::size_t streams = 0;
  bool partial = false;  // started after position 1 (anchored at its prev_hash)
  std::optional<ChainBreak> broken;
  bool intact() const { return !broken; }
};

// Checks recorded events fed in global order: every position once with no
// gap from 1, each prev_hash the previous event's hash (genesis first), each
// hash the recomputed one, and per-stream versions contiguous from 1. Stops
// at the first break. With `allow_partial`, the first event may come after
// position 1: its position, prev_hash and the first version seen per stream
// are taken on trust (a partial export), everything after is checked.
class ChainVerifier {
 public:
  explicit ChainVerifier(bool allow_partial = false) : allow_partial_(allow_partial) {}
  // False once the chain is broken (then later events are ignored).
  bool add(const events::RecordedEvent& r, std::int64_t line = 0);
  // Records a break found outside the chain rules (e.g. an unreadable line).
  void fail(ChainBreak b);
  std::int64_t next_position() const { return report_.head_position + 1; }
  const VerifyReport& report() const { return report_; }

 private:
  bool allow_partial_;
  VerifyReport report_;
  std::unordered_map<std::string, std::int64_t> stream_versions_;
};

struct VerifyOptions {
  std::optional<std::int64_t> up_to;  // verify positions 1..up_to (must exist); default the head
  std::size_t batch_size = 5000;
};

// The whole store in global order, in batches, up to the head as it was
// when verification started (later commits are left for the next run).
domain::Result<VerifyReport> verify_store(const std::string& pg_url, const VerifyOptions& options,
                                          const AuditProgress& progress = {});
// An export (JSON Lines, one codec::to_json_text envelope per line), with no
// database. A line that is not a valid envelope is a `corrupted_line`; a last
// line cut short (no final newline and not valid JSON) is a `truncated_line`.
// A missing or unreadable file is an error (not_found / unavailable).
domain::Result<VerifyReport> verify_export_file(const std::string& path, bool allow_partial,
                                                const AuditProgress& progress = {});
domain::Result<VerifyReport> verify_export(std::istream& in, bool allow_partial, std::int64_t total_bytes = 0,
                                           const AuditProgress& progress = {});

nlohmann::json verify_report_json(const VerifyReport& r);

// ---------------------------------------------------------------- export

struct ExportRange {
  std::optional<std::int64_t> from;  // default 1
  std::optional<std::int64_t> to;    // default the head
};

struct ExportReport {
  std::int64_t events = 0;
  std::int64_t first_position = 0;
  std::int64_t last_position = 0;
  std::string last_hash;
};

// Checks a range against the store's head: from >= 1, from <= to, to <= head
// (`position_beyond_head`). Returns the concrete [from, to].
domain::Result<std::pair<std::int64_t, std::int64_t>> resolve_range(const std::string& pg_url,
                                                                    const ExportRange& range);
// Writes the events of the range in global order, one JSON line each.
domain::Result<ExportReport> export_events(const std::string& pg_url, const ExportRange& range, std::ostream& out,
                                           const AuditProgress& progress = {});
// The same into `path`, written to a temporary file in the same folder and
// renamed into place only when complete (a failed export leaves nothing).
domain::Result<ExportReport> export_events_to_file(const std::string& pg_url, const ExportRange& range,
                                                   const std::string& path, const AuditProgress& progress = {});

// ---------------------------------------------------------------- history

// "user:alice", "project:p1", "organization:acme" (or "org:acme"),
// "plan:pro", "global".
domain::Result<events::PolicyScope> parse_scope(std::string_view text);

// The events of one stream in version order; not_found when it has none.
domain::Result<std::vector<events::RecordedEvent>> stream_history(const std::string& pg_url,
                                                                  const std::string& stream_id);
// Every PolicyValueSet at exactly `scope` (of `key` only, when given), in
// global order; scans the store when no key narrows it.
domain::Result<std::vector<events::RecordedEvent>> scope_history(const std::string& pg_url,
                                                                 const events::PolicyScope& scope,
                                                                 const std::optional<std::string>& key,
                                                                 const AuditProgress& progress = {});

// One event as an auditor reads it: position, recorded_at, actor, type, the
// change (scope, before -> after, effective_at) and the reason.
std::string history_line(const events::RecordedEvent& r);
nlohmann::json history_json(const events::RecordedEvent& r);

// ---------------------------------------------------------------- as-of

struct AsOfQuery {
  std::string key;
  domain::ScopeChain chain;
  std::optional<std::int64_t> position;  // the ledger at this position
  std::optional<events::Instant> instant;  // resolved at this instant
};

struct AsOfAnswer {
  std::string key;
  events::ValueType value_type = events::ValueType::kInt;
  std::int64_t position = 0;  // the ledger position the answer reflects
  events::Instant as_of;      // the instant values were resolved at
  domain::Resolution resolution;
  std::int64_t values_considered = 0;  // PolicyValueSet events at or before `position`
};

// Pure: folds a key stream's events (any order) with global position <=
// `position` and resolves at `at`. not_found when the key was not defined by
// then.
domain::Result<AsOfAnswer> as_of_from_history(std::span<const events::RecordedEvent> stream, const AsOfQuery& q,
                                              std::int64_t position, events::Instant at);
// Reads the key's stream from the store. With only `position`, resolves at
// that event's recorded_at; with only `instant`, takes the last position
// committed at or before it; with both, both. Errors: invalid_argument
// (neither given, position < 1), position_beyond_head, not_found (unknown
// key, or not defined yet at that point).
domain::Result<AsOfAnswer> as_of(const std::string& pg_url, const AsOfQuery& q);
nlohmann::json as_of_json(const AsOfAnswer& a);

// ---------------------------------------------------------------- digest

// The key of a digest: the file's bytes, one trailing newline removed;
// empty or missing files are errors.
domain::Result<std::string> read_key_file(const std::string& path);
domain::Result<codec::ChainDigest> read_digest_file(const std::string& path);

// Verifies the chain up to `position` and signs its hash there. A broken
// chain is refused (failed_precondition `chain_broken`): nothing is signed.
domain::Result<codec::ChainDigest> sign_digest(const std::string& pg_url, std::string_view key,
                                               std::int64_t position, const AuditProgress& progress = {});

struct DigestCheck {
  codec::ChainDigest digest;
  bool signature_valid = false;
  std::int64_t head_position = 0;  // the store's head now
  std::optional<std::string> stored_hash;  // the store's hash at digest.position now
  VerifyReport chain;                       // the chain up to digest.position
  std::vector<std::string> problems;       // empty = nothing before the position changed
  bool ok() const { return problems.empty(); }
};

domain::Result<DigestCheck> check_digest(const std::string& pg_url, std::string_view key,
                                         const codec::ChainDigest& digest, const AuditProgress& progress = {});
nlohmann::json digest_check_json(const DigestCheck& c);

// ---------------------------------------------------------------- replay

struct ReplayOptions {
  std::string pg_url;
  std::string brokers;
  std::string topic = "ledger.events";
  std::string live_schema = "rm";
  std::string scratch_schema = "rm_replay";
  RebuildSource source = RebuildSource::kPostgres;
  // Projection names (services::read_models()); empty = every read model.
  std::vector<std::string> read_models;
  std::size_t diff_limit = 100000;  // rows reported per table at most
  std::size_t batch_size = 1000;
  bool keep_scratch = false;        // kept anyway when anything differs
};

struct TableDifference {
  std::string table;
  std::string problem;            // "" for row differences, else e.g. "missing in the replay"
  std::vector<std::string> rows;  // JSON of rows present on one side only
  bool truncated = false;         // diff_limit reached
};

struct ReplayReport {
  std::int64_t replayed_to = 0;  // the checkpoint the rebuild reached
  std::vector<std::string> tables;  // compared
  std::vector<TableDifference> differences;
  std::size_t differing_rows = 0;
  double seconds = 0;
  bool scratch_dropped = false;
  bool identical() const { return differences.empty(); }
};

// Table names of a read-model schema, sorted.
domain::Result<std::vector<std::string>> read_model_tables(const std::string& pg_url, const std::string& schema);
// Every table of `live` against `other`: tables on one side only, and rows
// on one side only (adapters::postgres::diff_tables). With `read_models`
// named, only their tables and their rows of `checkpoints`.
domain::Result<ReplayReport> compare_read_models(const std::string& pg_url, const std::string& live,
                                                 const std::string& other, std::size_t diff_limit,
                                                 const std::vector<std::string>& read_models = {});
// Rebuilds into the scratch schema from position 0 (services::rebuild, all
// read models or the named ones), then compare_read_models. Refuses a
// scratch schema equal to the live one, and unknown read-model names.
domain::Result<ReplayReport> replay(const ReplayOptions& options, const AuditProgress& progress = {});
nlohmann::json replay_report_json(const ReplayReport& r);

}  // namespace ledger::services

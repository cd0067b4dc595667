// The auditor's tools behind `ledger-audit`: verify the hash chain (in the
// store or in an exported file), export history, read the history of a
// stream, key or scope, answer "what was the effective value, ceiling or
// reservation state then" from history alone, sign and check digests of the
// chain head, and replay the read models into a scratch schema to compare
// them with the live ones.
//
//   auto report = audit::verify_store(url, {});          // Result<VerifyReport>
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
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "adapters/kafka/kafka.h"
#include "adapters/projector/projector.h"
#include "domain/admission.h"
#include "domain/error.h"
#include "domain/policy_resolution.h"
#include "events/codec/chain.h"
#include "events/codec/digest.h"
#include "events/event.h"

namespace ledger::audit {

using projector::check_read_model_names;
using projector::ProjectorOptions;
using projector::read_models;
using projector::rebuild;
using projector::RebuildSource;

using AuditProgress = std::function<void(std::int64_t done, std::int64_t total)>;

// ---------------------------------------------------------------- verify

// The first place where history is not what it claims to be.
struct ChainBreak {
  std::int64_t position = 0;  // the broken (or missing, or expected) position
  std::int64_t line = 0;      // 1-based line of an export file; 0 for the store
  // missing_position, unexpected_position, prev_hash_mismatch, hash_mismatch,
  // stream_version_gap, corrupted_line, truncated_line; with public keys
  // (AnchorPolicy): signed_head_mismatch (the chain no longer has the head
  // the writer signed: history at or before `position` was rewritten),
  // anchor_signature_invalid, anchor_unknown_key, anchor_unchecked (an
  // anchor signs a position it cannot be checked against), unsigned_tail
  // (more than max_unsigned_events events after the last signed head)
  std::string code;
  std::string message;  // e.g. "position 5: hash mismatch (stored ..., recomputed ...)"
};

// The writer's signed chain heads (ChainHeadSigned, commands/chain_anchor.h)
// met while verifying.
struct AnchorSummary {
  bool checked = false;                   // public keys were given
  std::int64_t anchors = 0;               // ChainHeadSigned events seen
  std::int64_t verified = 0;              // of them: signature valid and the signed head is the chain's
  std::int64_t last_signed_position = 0;  // the newest verified signed head
};

// How verify judges anchors. With no public key, anchors are only counted:
// a rewritten history with recomputed hashes then verifies (that is what
// the keys are for).
struct AnchorPolicy {
  std::vector<codec::ChainVerifyingKey> public_keys;
  // With keys: more events than this after the last verified signed head is
  // a finding (`unsigned_tail`) — anchors removed along with the rewrite, or
  // a writer that does not sign. The writer signs every 1000 events by
  // default; a batch may overshoot that.
  std::int64_t max_unsigned_events = 2000;
};

struct VerifyReport {
  std::int64_t events = 0;          // events that verified (all of them when intact)
  std::int64_t first_position = 0;  // 0 when there were none
  std::int64_t head_position = 0;   // the last verified position
  std::string head_hash = events::kGenesisHash;
  std::size_t streams = 0;
  bool partial = false;  // started after position 1 (anchored at its prev_hash)
  AnchorSummary anchors;
  std::optional<ChainBreak> broken;
  bool intact() const { return !broken; }
};

// Checks recorded events fed in global order: every position once with no
// gap from 1, each prev_hash the previous event's hash (genesis first), each
// hash the recomputed one, and per-stream versions contiguous from 1. Stops
// at the first break. With `allow_partial`, the first event may come after
// position 1: its position, prev_hash and the first version seen per stream
// are taken on trust (a partial export), everything after is checked.
//
// With AnchorPolicy keys, every ChainHeadSigned must carry a valid signature
// by one of them over a head the chain (as verified) really has, and
// finish() checks the unsigned tail.
class ChainVerifier {
 public:
  explicit ChainVerifier(bool allow_partial = false, AnchorPolicy anchors = {})
      : allow_partial_(allow_partial), policy_(std::move(anchors)) {
    report_.anchors.checked = !policy_.public_keys.empty();
  }
  // False once the chain is broken (then later events are ignored).
  bool add(const events::RecordedEvent& r, std::int64_t line = 0);
  // Records a break found outside the chain rules (e.g. an unreadable line).
  void fail(ChainBreak b);
  // After the last event: the unsigned tail (with keys).
  void finish();
  std::int64_t next_position() const { return report_.head_position + 1; }
  const VerifyReport& report() const { return report_; }

 private:
  bool check_anchor(const events::RecordedEvent& r, std::int64_t line);

  bool allow_partial_;
  AnchorPolicy policy_;
  VerifyReport report_;
  std::unordered_map<std::string, std::int64_t> stream_versions_;
  std::map<std::int64_t, std::string> recent_hashes_;  // the last few thousand positions, for anchors
};

struct VerifyOptions {
  std::optional<std::int64_t> up_to;  // verify positions 1..up_to (must exist); default the head
  std::size_t batch_size = 5000;
  AnchorPolicy anchors{};
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
                                                const AuditProgress& progress = {}, const AnchorPolicy& anchors = {});
domain::Result<VerifyReport> verify_export(std::istream& in, bool allow_partial, std::int64_t total_bytes = 0,
                                           const AuditProgress& progress = {}, const AnchorPolicy& anchors = {});
// Public keys for AnchorPolicy from PEM files; invalid_argument
// `invalid_public_key` names the file that is not an Ed25519 key.
domain::Result<std::vector<codec::ChainVerifyingKey>> read_public_keys(const std::vector<std::string>& paths);

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
//
// "What did the ledger say then", from the event store alone (never a read
// model). Every as-of question names a point of history:
//   position only   the events up to it; time-dependent state (future
//                   effective_at, reservation windows) read at its recorded_at
//   instant only    the events committed at or before it; state read at it
//   both            the events up to the position; state read at the instant
// Errors common to every question: invalid_argument `missing_point` (neither
// given) / `invalid_position` (< 1), `position_beyond_head`, not_found
// `before_history` (nothing committed at or before the instant),
// failed_precondition `position_missing` (a gap: run verify).

struct AsOfPoint {
  std::int64_t position = 0;  // the last event taken into account
  events::Instant at;         // the instant time-dependent state is read at
};

// Resolves a point against the store (see above).
domain::Result<AsOfPoint> resolve_as_of_point(const std::string& pg_url, std::optional<std::int64_t> position,
                                              std::optional<events::Instant> instant);

// --- policy values

struct AsOfQuery {
  std::string key;
  domain::ScopeChain chain;
  std::optional<std::int64_t> position;    // the ledger at this position
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
// Resolves the point, then reads the key's stream. Errors: the point's, and
// not_found `unknown_policy_key` (unknown key, or not defined yet then).
domain::Result<AsOfAnswer> as_of(const std::string& pg_url, const AsOfQuery& q);
nlohmann::json as_of_json(const AsOfAnswer& a);

// --- the admission core (ceilings, reservations)

// domain::AdmissionModel as history stood after the events added so far.
// Pure: feed it recorded events in global order (any type; only admission
// events change the model). Thread-compatible.
//
//   AdmissionFold fold;
//   for (const auto& r : events_up_to_n) if (auto ok = fold.add(r); !ok) return ok.error();
//   fold.model().chain({QuotaLevel::kProject, "p1"});
class AdmissionFold {
 public:
  // internal `undecodable_event` when an admission event cannot be decoded.
  domain::Result<void> add(const events::RecordedEvent& r);
  const domain::AdmissionModel& model() const { return model_; }
  std::int64_t position() const { return position_; }  // the last event added (any type)
  std::int64_t admission_events() const { return admission_events_; }
  // Positions of the first and last admission event of a stream, if any.
  std::optional<std::pair<std::int64_t, std::int64_t>> stream_positions(const std::string& stream_id) const;

 private:
  domain::AdmissionModel model_;
  std::int64_t position_ = 0;
  std::int64_t admission_events_ = 0;
  std::unordered_map<std::string, std::pair<std::int64_t, std::int64_t>> streams_;
};

// Reads the store in global order, positions 1..up_to, into a fold
// (up_to <= the head; resolve_as_of_point checks that). Linear in up_to:
// every event is read, only admission events are decoded.
domain::Result<AdmissionFold> fold_admission(const std::string& pg_url, std::int64_t up_to,
                                             const AuditProgress& progress = {});

struct CeilingAsOfQuery {
  events::QuotaScope scope;
  events::CeilingTarget target;  // dimension (required), window, region, sku_or_model
  std::optional<std::int64_t> position;
  std::optional<events::Instant> instant;
};

struct CeilingAsOfAnswer {
  events::QuotaScope scope;
  events::CeilingTarget target;
  std::int64_t position = 0;
  events::Instant as_of;
  std::vector<domain::ChainNode> chain;            // the scope .. global, as it stood then
  domain::CeilingEvaluation evaluation;            // effective (and what the parent allowed)
  std::vector<domain::CeilingRule> rules;          // the dimension's rules on the chain then
  std::vector<domain::Delegation> delegations;     // the dimension's delegations on the chain then
  std::optional<domain::RegistryEntry> dimension;  // its registry entry then (nullopt: unregistered)
  std::string unit;                                // the effective unit, else the registered dimension's unit
  std::int64_t admission_events = 0;               // admission events at or before `position`
};

// Pure, over a fold at `position`: errors invalid_argument `invalid_scope`
// / `invalid_window` / `missing_dimension`, not_found `unknown_scope` (the
// scope did not exist at that position).
domain::Result<CeilingAsOfAnswer> ceiling_as_of_from(const AdmissionFold& fold, const CeilingAsOfQuery& q,
                                                     std::int64_t position, events::Instant at);
// Resolves the point and folds history up to it. An unknown scope's error
// says when the scope was created, when it was later.
domain::Result<CeilingAsOfAnswer> ceiling_as_of(const std::string& pg_url, const CeilingAsOfQuery& q,
                                                const AuditProgress& progress = {});
nlohmann::json ceiling_as_of_json(const CeilingAsOfAnswer& a);

struct ReservationAsOfQuery {
  std::string reservation_id;
  std::optional<std::int64_t> position;
  std::optional<events::Instant> instant;
  // Ids are unique per organization. Empty: the one organization that has
  // the id then (invalid_argument `ambiguous_reservation` when several do).
  std::string organization_id = {};
};

struct ReservationAsOfAnswer {
  std::int64_t position = 0;
  events::Instant as_of;
  events::ReservationDrafted drafted;  // owner, kind, dimension, quantity, unit, window, attributes
  domain::ReservationView view;        // view.state is the state recorded by then
  std::string state;                   // domain::reservation_state_at(view, as_of)
  std::int64_t version = 0;            // the reservation stream's version then
  std::int64_t drafted_position = 0;
  std::int64_t last_position = 0;  // its last event at or before `position`
};

// Pure, over a fold at `position`: not_found `unknown_reservation`,
// invalid_argument `ambiguous_reservation` (no organization named and
// several have the id).
domain::Result<ReservationAsOfAnswer> reservation_as_of_from(const AdmissionFold& fold, const std::string& id,
                                                             std::int64_t position, events::Instant at,
                                                             const std::string& organization_id = {});
domain::Result<ReservationAsOfAnswer> reservation_as_of(const std::string& pg_url, const ReservationAsOfQuery& q,
                                                        const AuditProgress& progress = {});
nlohmann::json reservation_as_of_json(const ReservationAsOfAnswer& a);

// ---------------------------------------------------------------- digest

// The key of a digest: the file's bytes, one trailing newline removed;
// empty or missing files are errors.
domain::Result<std::string> read_key_file(const std::string& path);
domain::Result<codec::ChainDigest> read_digest_file(const std::string& path);

// Verifies the chain up to `position` and signs its hash there. A broken
// chain is refused (failed_precondition `chain_broken`): nothing is signed.
domain::Result<codec::ChainDigest> sign_digest(const std::string& pg_url, std::string_view key, std::int64_t position,
                                               const AuditProgress& progress = {});

struct DigestCheck {
  codec::ChainDigest digest;
  bool signature_valid = false;
  std::int64_t head_position = 0;          // the store's head now
  std::optional<std::string> stored_hash;  // the store's hash at digest.position now
  VerifyReport chain;                      // the chain up to digest.position
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
  adapters::kafka::KafkaSecurity kafka_security{};
  std::string topic = "ledger.events";
  std::string live_schema = "rm";
  std::string scratch_schema = "rm_replay";
  RebuildSource source = RebuildSource::kPostgres;
  // Projection names (projector::read_models()); empty = every read model.
  std::vector<std::string> read_models;
  std::size_t diff_limit = 100000;  // rows reported per table at most
  std::size_t batch_size = 1000;
  bool keep_scratch = false;  // kept anyway when anything differs
};

struct TableDifference {
  std::string table;
  std::string problem;            // "" for row differences, else e.g. "missing in the replay"
  std::vector<std::string> rows;  // JSON of rows present on one side only
  bool truncated = false;         // diff_limit reached
};

struct ReplayReport {
  std::int64_t replayed_to = 0;     // the checkpoint the rebuild reached
  std::vector<std::string> tables;  // compared
  std::vector<TableDifference> differences;
  std::size_t differing_rows = 0;
  double seconds = 0;
  bool scratch_dropped = false;
  // From Kafka: records the chain guard refused (junk, forged, broken link);
  // each was replaced by the store's true event, so the comparison still
  // holds, but each is a finding about the topic.
  std::vector<projections::ChainAlarm> chain_alarms;
  bool identical() const { return differences.empty(); }
  bool ok() const { return identical() && chain_alarms.empty(); }
};

// Table names of a read-model schema, sorted.
domain::Result<std::vector<std::string>> read_model_tables(const std::string& pg_url, const std::string& schema);
// Every table of `live` against `other`: tables on one side only, and rows
// on one side only (adapters::postgres::diff_tables). With `read_models`
// named, only their tables and their rows of `checkpoints`.
domain::Result<ReplayReport> compare_read_models(const std::string& pg_url, const std::string& live,
                                                 const std::string& other, std::size_t diff_limit,
                                                 const std::vector<std::string>& read_models = {});
// Rebuilds into the scratch schema from position 0 (projector::rebuild, all
// read models or the named ones), then compare_read_models. Refuses a
// scratch schema equal to the live one, and unknown read-model names.
domain::Result<ReplayReport> replay(const ReplayOptions& options, const AuditProgress& progress = {});
nlohmann::json replay_report_json(const ReplayReport& r);

}  // namespace ledger::audit

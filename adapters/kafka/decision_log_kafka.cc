#include "adapters/kafka/decision_log_kafka.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <map>
#include <optional>

#include "events/codec/rfc3339.h"

namespace ledger::adapters::kafka {

using namespace std::chrono_literals;

namespace {
// Records per Kafka record: well under the broker's 1 MB message limit
// (a decision record is about 2 KB).
constexpr std::size_t kRecordsPerMessage = 200;

namespace dom = simdjson::dom;

constexpr std::string_view kHoldsNul = "a string of the record holds U+0000, which PostgreSQL cannot store";

// Whether a string or key anywhere in `v` holds U+0000: a text column cannot
// hold it, and the json columns keep its escape only for `->>` and a cast to
// jsonb to refuse it when the log is read. Depth is bounded by simdjson's own
// limit.
bool holds_nul(dom::element v) {
  switch (v.type()) {
    case dom::element_type::STRING:
      return std::string_view(v).find('\0') != std::string_view::npos;
    case dom::element_type::OBJECT:
      for (dom::key_value_pair f : dom::object(v)) {
        if (f.key.find('\0') != std::string_view::npos || holds_nul(f.value)) return true;
      }
      return false;
    case dom::element_type::ARRAY:
      for (dom::element x : dom::array(v)) {
        if (holds_nul(x)) return true;
      }
      return false;
    default:
      return false;
  }
}

bool read_text(dom::element v, std::string& out) {
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS) return false;
  out.assign(s);
  return true;
}

// The name of the field that is missing or malformed, or why the record is
// refused otherwise; nullopt when `r` holds the record.
std::optional<std::string> refusal(dom::element v, bool check_nul, commands::DecisionRecord& r) {
  dom::object o;
  if (v.get_object().get(o) != simdjson::SUCCESS) return "record";
  enum Field : std::size_t {
    kKind,
    kDecisionId,
    kRecordedAt,
    kAsOf,
    kOrganization,
    kProject,
    kCorrelation,
    kDecision,
    kReason,
    kActor,
    kSnapshotVersion,
    kInput,
    kOutput,
    kFields
  };
  static constexpr std::array<std::string_view, kFields> kNames = {
      "kind",           "decision_id", "recorded_at", "as_of", "organization_id",  "project_id",
      "correlation_id", "decision",    "reason_code", "actor", "snapshot_version", "input",
      "output"};
  std::array<std::string*, kActor> texts = {&r.kind,           &r.decision_id,     &r.recorded_at,
                                            &r.as_of,          &r.organization_id, &r.project_id,
                                            &r.correlation_id, &r.decision,        &r.reason_code};
  std::array<bool, kFields> seen{};
  for (dom::key_value_pair f : o) {
    const auto* it = std::find(kNames.begin(), kNames.end(), f.key);
    if (it == kNames.end()) continue;  // a member the table does not keep
    const auto field = static_cast<std::size_t>(it - kNames.begin());
    if (seen[field]) return std::string(kNames[field]);  // twice: which one would be stored?
    seen[field] = true;
    if (field < kActor) {
      if (!read_text(f.value, *texts[field])) return std::string(kNames[field]);
    } else if (field == kActor) {
      dom::object actor;
      if (f.value.get_object().get(actor) != simdjson::SUCCESS) return "actor";
      constexpr std::array<std::string_view, 3> kActorNames = {"tenant", "actor_type", "actor_id"};
      std::array<std::string*, 3> actor_texts = {&r.actor_tenant, &r.actor_type, &r.actor_id};
      std::array<bool, 3> actor_seen{};
      for (dom::key_value_pair a : actor) {
        const auto* at = std::find(kActorNames.begin(), kActorNames.end(), a.key);
        if (at == kActorNames.end()) continue;
        const auto k = static_cast<std::size_t>(at - kActorNames.begin());
        if (actor_seen[k] || !read_text(a.value, *actor_texts[k])) return "actor." + std::string(kActorNames[k]);
        actor_seen[k] = true;
      }
      for (std::size_t k = 0; k < 3; ++k) {
        if (!actor_seen[k]) return "actor." + std::string(kActorNames[k]);
      }
    } else if (field == kSnapshotVersion) {
      if (f.value.type() != dom::element_type::INT64 || f.value.get_int64().get(r.snapshot_version)) {
        return "snapshot_version";
      }
    } else if (!f.value.is_object()) {
      return std::string(kNames[field]);  // input, output
    } else {
      (field == kInput ? r.input_json : r.output_json) = simdjson::to_string(f.value);
    }
  }
  for (std::size_t field = kDecisionId; field < kFields; ++field) {
    if (!seen[field]) return std::string(kNames[field]);
  }
  if (!seen[kKind]) r.kind = commands::kAdmissionDecision;  // written before there were two kinds
  if (r.kind != commands::kAdmissionDecision && r.kind != commands::kEntitlementCheck) return "kind";
  if (!codec::parse_instant(r.recorded_at)) return "recorded_at";
  if (!codec::parse_instant(r.as_of)) return "as_of";
  if (check_nul && holds_nul(v)) return std::string(kHoldsNul);
  return std::nullopt;
}

std::optional<std::string> read_record(dom::element v, bool check_nul, commands::DecisionRecord& r) {
  auto why = refusal(v, check_nul, r);
  if (why && *why != kHoldsNul) *why = "decision record field " + *why + " is missing or malformed";
  return why;
}

// Whether PostgreSQL refused what it was given (SQLSTATE class 22, a data
// exception, e.g. a value out of range or text that is not JSON; or 23, an
// integrity constraint), not a state of its own (an outage, a full disk):
// a refused record is skipped, anything else retried.
bool refused_by_data(const domain::Error& e) {
  const std::string state = e.evidence_text("sqlstate");
  return e.kind == domain::ErrorKind::kInternal && (state.starts_with("22") || state.starts_with("23"));
}

}  // namespace

void SkippedRecordLog::skipped(std::string_view where, std::string_view why) {
  if (budget_.admit()) spdlog::warn("decision log: skipping {}: {}", where, why);
}

void SkippedRecordLog::log_held(std::size_t count) const {
  if (count == 0) return;
  spdlog::warn("decision log: skipped {} more record(s) within {} ms, not logged one by one", count,
               budget_.interval().count());
}

DecisionLogValue read_decision_log_value(std::string_view value) {
  static thread_local dom::parser parser;
  DecisionLogValue out;
  dom::element doc;
  if (auto error = parser.parse(value.data(), value.size()).get(doc); error != simdjson::SUCCESS) {
    out.refused.push_back(std::string("not JSON: ") + simdjson::error_message(error));
    return out;
  }
  // A valid JSON text holds U+0000 only as the escape \u0000: without one,
  // nothing needs the walk.
  const bool check_nul = value.find("\\u0000") != std::string_view::npos;
  auto one = [&](dom::element v, std::size_t index) {
    commands::DecisionRecord r;
    if (auto why = read_record(v, check_nul, r)) {
      out.refused.push_back("record " + std::to_string(index) + ": " + *why);
      return;
    }
    out.records.push_back(std::move(r));
  };
  if (doc.is_array()) {
    std::size_t index = 0;
    for (dom::element v : dom::array(doc)) one(v, index++);
  } else {
    one(doc, 0);
  }
  return out;
}

DecisionLogPublisher::DecisionLogPublisher(Options options, commands::DecisionLogBuffer& buffer)
    : options_(std::move(options)), buffer_(buffer) {
  thread_ = std::thread([this] { run(); });
}

DecisionLogPublisher::~DecisionLogPublisher() {
  stopping_ = true;
  buffer_.close();
  if (thread_.joinable()) thread_.join();
}

void DecisionLogPublisher::run() {
  std::unique_ptr<KafkaProducer> producer;
  std::uint64_t dropped_logged = 0;
  auto last_report = std::chrono::steady_clock::now();
  std::vector<commands::DecisionRecord> batch;
  int retries_after_stop = 0;
  for (;;) {
    try {
      // Never silent: the count of dropped records, whenever it grew (at most once a second).
      const auto dropped = buffer_.dropped();
      if (dropped != dropped_logged && std::chrono::steady_clock::now() - last_report > 1s) {
        spdlog::warn("decision log: {} record(s) dropped so far (buffer of {} full)", dropped, buffer_.capacity());
        dropped_logged = dropped;
        last_report = std::chrono::steady_clock::now();
      }
      if (batch.empty()) {
        batch = buffer_.drain(options_.batch_max, 200ms, options_.linger);
        if (batch.empty()) {
          if (buffer_.closed()) return;
          continue;
        }
      }
      if (!producer) {
        auto p = KafkaProducer::create({.brokers = options_.brokers,
                                        .security = options_.security,
                                        .client_id = "ledger-query-decision-log",
                                        .linger_ms = 5});
        if (!p) throw std::runtime_error(p.error().message);
        producer = std::move(*p);
      }
      // One Kafka record per organization and chunk: a JSON array of its
      // records in the order they were answered (fewer, larger records: the
      // broker's cost is per record).
      std::map<std::string, std::vector<const commands::DecisionRecord*>> by_org;
      for (const auto& r : batch) by_org[r.organization_id].push_back(&r);
      domain::Result<void> ok;
      for (const auto& [org, records] : by_org) {
        for (std::size_t i = 0; ok && i < records.size(); i += kRecordsPerMessage) {
          std::string chunk = "[";
          for (std::size_t k = i; k < std::min(records.size(), i + kRecordsPerMessage); ++k) {
            const auto& r = *records[k];
            if (k > i) chunk += ',';
            chunk += r.encoded.empty() ? commands::decision_record_json(r).dump(
                                             -1, ' ', false, nlohmann::json::error_handler_t::replace)
                                       : r.encoded;
          }
          chunk += ']';
          ok = producer->produce(options_.topic, org, chunk);
        }
        if (!ok) break;
      }
      if (ok) ok = producer->flush(10s);
      if (!ok) throw std::runtime_error(ok.error().message + " (" + ok.error().code + ")");
      published_ += batch.size();
      batch.clear();
      retries_after_stop = 0;
    } catch (const std::exception& e) {
      ++failed_;
      spdlog::error("decision log: publishing a batch of {} to {} failed, retrying: {}", batch.size(), options_.topic,
                    e.what());
      producer.reset();
      if (stopping_ && ++retries_after_stop >= 3) {
        spdlog::error("decision log: stopping with {} record(s) unpublished", batch.size() + buffer_.size());
        return;
      }
      std::this_thread::sleep_for(500ms);
    }
  }
}

void run_decision_log_projector(const DecisionLogProjectorOptions& options, postgres::PgDecisionLog& log,
                                const std::atomic<bool>& stop) {
  std::unique_ptr<KafkaConsumer> consumer;
  SkippedRecordLog skipped;
  while (!stop) {
    try {
      if (!consumer) {
        auto c = KafkaConsumer::create({.brokers = options.brokers,
                                        .security = options.security,
                                        .group_id = options.group_id,
                                        .topics = {options.topic},
                                        .client_id = "ledger-projector-decisions",
                                        .fetch_min_bytes = options.fetch_min_bytes,
                                        .fetch_wait_max_ms = options.fetch_wait_ms});
        if (!c) throw std::runtime_error(c.error().message);
        consumer = std::move(*c);
      }
      auto msgs = consumer->poll(1000, 500ms);
      if (!msgs) throw std::runtime_error(msgs.error().message + " (" + msgs.error().code + ")");
      skipped.roll();  // counts held back are logged once their interval has passed
      if (msgs->empty()) continue;
      std::vector<commands::DecisionRecord> records;
      records.reserve(msgs->size());
      for (const auto& m : *msgs) {
        auto read = read_decision_log_value(m.value);
        for (const auto& why : read.refused) {
          skipped.skipped(fmt::format("what is not a decision record at {}:{}:{}", m.topic, m.partition, m.offset),
                          why);
        }
        for (auto& r : read.records) records.push_back(std::move(r));
      }
      // Until the rows are in, the offsets stay uncommitted. A batch the
      // database refuses (not an outage) is stored one record at a time:
      // only the records it refuses alone are skipped.
      for (;;) {
        auto added = log.insert(records);
        if (added) break;
        if (stop) {
          skipped.flush();
          return;
        }
        if (refused_by_data(added.error())) {
          spdlog::warn(
              "decision log: the database refused a batch of {} record(s) (SQLSTATE {}); storing them one by one",
              records.size(), added.error().evidence_text("sqlstate"));
          std::vector<commands::DecisionRecord> kept;
          for (auto& r : records) {
            auto alone = log.insert(std::span(&r, 1));
            if (!alone && refused_by_data(alone.error())) {
              skipped.skipped(fmt::format("decision record {} the database refuses (SQLSTATE {})", r.decision_id,
                                          alone.error().evidence_text("sqlstate")),
                              alone.error().evidence_text("detail"));
            } else if (!alone) {
              kept.push_back(std::move(r));  // an outage meanwhile: retried below
            }
          }
          records = std::move(kept);
          if (records.empty()) break;
          continue;
        }
        spdlog::error("decision log: storing {} record(s) failed, retrying: {}", records.size(), added.error().message);
        std::this_thread::sleep_for(1s);
      }
      if (auto ok = consumer->commit(*msgs); !ok) {
        spdlog::warn("decision log: offset commit failed (records may be redelivered, stored once): {}",
                     ok.error().message);
      }
    } catch (const std::exception& e) {
      spdlog::error("decision log projector: {}; reconnecting", e.what());
      consumer.reset();
      std::this_thread::sleep_for(1s);
    }
  }
  skipped.flush();
}

}  // namespace ledger::adapters::kafka

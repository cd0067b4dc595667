#include "adapters/projector/projector.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <span>
#include <thread>

#include "adapters/kafka/kafka.h"
#include "adapters/postgres/event_store.h"
#include "adapters/postgres/read_model_store.h"
#include "events/codec/json_codec.h"
#include "projections/admission_projection.h"
#include "projections/audit_projection.h"
#include "projections/policy_values_projection.h"

namespace ledger::projector {

namespace {

// The event store as the chain guard's source of true events.
class StoreHistory final : public projections::TrueHistory {
 public:
  explicit StoreHistory(adapters::postgres::PgEventReader& reader) : reader_(reader) {}
  domain::Result<std::vector<events::RecordedEvent>> read_after(std::int64_t after, std::size_t limit) override {
    return reader_.read_after(after, limit);
  }

 private:
  adapters::postgres::PgEventReader& reader_;
};

std::vector<projections::FeedRecord> feed_records(const std::vector<adapters::kafka::KafkaMessage>& msgs) {
  std::vector<projections::FeedRecord> out;
  out.reserve(msgs.size());
  for (const auto& m : msgs) out.push_back({m.offset, m.value});
  return out;
}

// A JSON string literal of `s` (invalid UTF-8 replaced), for log lines.
std::string json_string(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The projections of one process over one read-model schema, each with its
// own runner (and so its own checkpoint). Not movable: runners refer to the
// projections and the store.
class ProjectionSet {
 public:
  static domain::Result<std::unique_ptr<ProjectionSet>> create(const ProjectorOptions& options) {
    std::unique_ptr<ProjectionSet> set(new ProjectionSet(options));
    if (auto ok = check_read_model_names(options.read_models); !ok) return std::unexpected(ok.error());
    for (const projections::Projection* p : {static_cast<const projections::Projection*>(&set->policy_values_),
                                             static_cast<const projections::Projection*>(&set->audit_),
                                             static_cast<const projections::Projection*>(&set->admission_)}) {
      const bool wanted = options.read_models.empty() ||
                          std::find(options.read_models.begin(), options.read_models.end(), p->name()) !=
                              options.read_models.end();
      if (wanted) set->runners_.emplace_back(*p, set->store_);
    }
    return set;
  }
  ProjectionSet(const ProjectionSet&) = delete;
  ProjectionSet& operator=(const ProjectionSet&) = delete;

  // Applies the batch to every projection (each skips what it already has).
  // All are tried even when one fails, so one failing read model does not
  // hold back the others; the first error is returned and the caller re-reads.
  domain::Result<projections::ApplyStats> apply(std::span<const events::RecordedEvent> batch) {
    std::optional<domain::Error> first_error;
    projections::ApplyStats total;
    bool any = false;
    for (auto& runner : runners_) {
      auto r = runner.apply(batch);
      if (!r) {
        if (!first_error) first_error = r.error();
        continue;
      }
      total.applied += r->applied;
      total.skipped += r->skipped;
      total.checkpoint = any ? std::min(total.checkpoint, r->checkpoint) : r->checkpoint;
      any = true;
    }
    if (first_error) return std::unexpected(std::move(*first_error));
    return total;
  }

  // The lowest checkpoint: every projection has applied history up to it.
  domain::Result<std::int64_t> checkpoint() {
    std::optional<std::int64_t> low;
    for (auto& runner : runners_) {
      auto c = runner.checkpoint();
      if (!c) return c;
      low = low ? std::min(*low, *c) : *c;
    }
    return low.value_or(0);
  }

 private:
  explicit ProjectionSet(const ProjectorOptions& options) : store_(options.pg_url, options.schema) {}

  projections::PolicyValuesProjection policy_values_;
  projections::AuditProjection audit_;
  projections::AdmissionProjection admission_;
  adapters::postgres::PgReadModelStore store_;
  std::vector<projections::ProjectionRunner> runners_;
};

domain::Result<std::int64_t> catch_up(ProjectionSet& set, adapters::postgres::PgEventReader& reader,
                                      std::size_t batch_size) {
  auto head = reader.head_position();
  if (!head) return std::unexpected(head.error());
  auto at = set.checkpoint();
  if (!at) return at;
  while (*at < *head) {
    auto batch = reader.read_after(*at, batch_size);
    if (!batch) return std::unexpected(batch.error());
    if (batch->empty()) break;
    auto applied = set.apply(*batch);
    if (!applied) return std::unexpected(applied.error());
    auto next = set.checkpoint();
    if (!next) return next;
    if (*next <= *at) break;  // no progress: let the caller see where it stands
    at = next;
  }
  return *at;
}

}  // namespace

const std::vector<ReadModelInfo>& read_models() {
  static const std::vector<ReadModelInfo> kReadModels = {
      {projections::PolicyValuesProjection::kName, {"policy_keys", "policy_values"}},
      {projections::AuditProjection::kName, {projections::AuditProjection::kTable}},
      {projections::AdmissionProjection::kName,
       {projections::AdmissionProjection::tables().begin(), projections::AdmissionProjection::tables().end()}},
  };
  return kReadModels;
}

domain::Result<void> check_read_model_names(const std::vector<std::string>& names) {
  const auto& known = read_models();
  for (const auto& name : names) {
    if (std::none_of(known.begin(), known.end(), [&](const ReadModelInfo& m) { return m.projection == name; })) {
      std::string list;
      for (const auto& m : known) list += (list.empty() ? "" : ", ") + std::string(m.projection);
      domain::Error e{domain::ErrorKind::kInvalidArgument, "unknown_read_model",
                      "no read model named '" + name + "' (known: " + list + ")", {}};
      e.with("read_model", name);
      return std::unexpected(std::move(e));
    }
  }
  return {};
}

// ---------------------------------------------------------------- status

void ProjectorStatus::consuming(bool yes) {
  std::lock_guard lock(mu_);
  consuming_ = yes;
}

void ProjectorStatus::checkpoint(std::int64_t position) {
  std::lock_guard lock(mu_);
  checkpoint_ = position;
}

void ProjectorStatus::alarm(const projections::ChainAlarm& a) {
  std::lock_guard lock(mu_);
  ++by_reason_[a.reason];
  last_ = a;
}

std::uint64_t ProjectorStatus::alarms() const {
  std::lock_guard lock(mu_);
  std::uint64_t n = 0;
  for (const auto& [reason, count] : by_reason_) n += count;
  return n;
}

bool ProjectorStatus::ready() const {
  std::lock_guard lock(mu_);
  return consuming_;
}

std::string ProjectorStatus::readiness_json() const {
  std::lock_guard lock(mu_);
  std::uint64_t total = 0;
  nlohmann::json by_reason = nlohmann::json::object();
  for (const auto& [reason, count] : by_reason_) {
    by_reason[reason] = count;
    total += count;
  }
  nlohmann::json chain{{"status", total == 0 ? "ok" : "alarm"}, {"alarms", total}, {"by_reason", by_reason}};
  if (last_) {
    chain["last"] = {{"reason", last_->reason},
                     {"offset", last_->offset},
                     {"position", last_->position},
                     {"replaced_from_store", last_->replaced},
                     {"detail", last_->detail}};
  }
  return nlohmann::json{{"status", consuming_ ? "ready" : "not_ready"},
                        {"consuming", consuming_},
                        {"checkpoint", checkpoint_},
                        {"chain", chain}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string ProjectorStatus::metrics_text() const {
  std::lock_guard lock(mu_);
  std::string out =
      "# HELP ledger_projector_chain_alarms_total Records from ledger.events refused by the chain check.\n"
      "# TYPE ledger_projector_chain_alarms_total counter\n";
  for (const char* reason :
       {"junk_record", "hash_mismatch", "broken_link", "unknown_position", "conflicting_duplicate"}) {
    auto it = by_reason_.find(reason);
    out += "ledger_projector_chain_alarms_total{reason=\"" + std::string(reason) + "\"} " +
           std::to_string(it == by_reason_.end() ? 0 : it->second) + "\n";
  }
  out += "# HELP ledger_projector_checkpoint The lowest read-model checkpoint (global position).\n"
         "# TYPE ledger_projector_checkpoint gauge\n"
         "ledger_projector_checkpoint " + std::to_string(checkpoint_) + "\n";
  out += "# HELP ledger_projector_consuming 1 while the projector consumes ledger.events.\n"
         "# TYPE ledger_projector_consuming gauge\n"
         "ledger_projector_consuming " + std::string(consuming_ ? "1" : "0") + "\n";
  return out;
}

adapters::http::HttpHandler projector_status_routes(const ProjectorStatus& status) {
  using adapters::http::HttpResponse;
  return [&status](const adapters::http::HttpRequest& req) {
    if (req.path == "/healthz") return HttpResponse::json(200, R"({"status":"ok"})");
    if (req.path == "/readyz") return HttpResponse::json(status.ready() ? 200 : 503, status.readiness_json());
    if (req.path == "/metrics") {
      HttpResponse r;
      r.status = 200;
      r.content_type = "text/plain; version=0.0.4";
      r.body = status.metrics_text();
      return r;
    }
    return HttpResponse::json(404, R"({"code":"unknown_route","message":"no such route"})");
  };
}

void raise_chain_alarm(const projections::ChainAlarm& a, ProjectorStatus* status) {
  // One line an operator can grep and a log shipper can split on '='.
  spdlog::error("chain alarm: reason={} position={} offset={} replaced_from_store={} detail={}", a.reason, a.position,
                a.offset, a.replaced, json_string(a.detail));
  if (status != nullptr) status->alarm(a);
}

void run_projector(const ProjectorOptions& options, const std::atomic<bool>& stop, ProjectorStatus* status) {
  using namespace std::chrono_literals;
  namespace kafka = adapters::kafka;
  // Start from what the store holds: a read model added by an upgrade (its
  // checkpoint at 0 while the consumer group is at the end of the topic) is
  // built now instead of waiting for the next event to reveal the gap. What
  // Kafka then delivers again is skipped by the checkpoints.
  if (auto caught = catch_up_from_store(options); caught) {
    spdlog::info("projector: caught up from the event store to position {}", *caught);
  } else {
    spdlog::warn("projector: catch-up from the store failed, Kafka will do: {}", caught.error().message);
  }
  auto set = ProjectionSet::create(options);
  if (!set) {
    spdlog::critical("projector: {}", set.error().message);
    return;
  }
  auto& models = **set;
  std::unique_ptr<kafka::KafkaConsumer> consumer;
  adapters::postgres::PgEventReader reader(options.pg_url);
  StoreHistory history(reader);
  projections::ChainGuard guard(history);
  if (status != nullptr) {
    if (auto at = models.checkpoint()) status->checkpoint(*at);
  }

  while (!stop) {
    if (!consumer) {
      auto c = kafka::KafkaConsumer::create({.brokers = options.brokers,
                                             .security = options.kafka_security,
                                             .group_id = options.group_id,
                                             .topics = {options.topic},
                                             .client_id = "ledger-projector"});
      if (!c) {
        spdlog::warn("projector: consumer unavailable: {}", c.error().message);
        std::this_thread::sleep_for(1s);
        continue;
      }
      consumer = std::move(*c);
      if (status != nullptr) status->consuming(true);
    }
    auto msgs = consumer->poll(options.batch_size, 200ms);
    if (!msgs) {
      spdlog::warn("projector: poll failed: {}", msgs.error().message);
      consumer.reset();
      if (status != nullptr) status->consuming(false);
      std::this_thread::sleep_for(1s);
      continue;
    }
    if (msgs->empty()) continue;
    // The guard continues the chain from the read models' checkpoint (its
    // hash read from the store); only what it admits is applied.
    domain::Result<void> anchored;
    if (!guard.anchored()) {
      auto at = models.checkpoint();
      anchored = at ? guard.anchor(*at) : domain::Result<void>(std::unexpected(at.error()));
    }
    auto guarded = anchored ? guard.admit(feed_records(*msgs))
                            : domain::Result<projections::Guarded>(std::unexpected(anchored.error()));
    if (guarded) {
      for (const auto& a : guarded->alarms) raise_chain_alarm(a, status);
    }
    domain::Result<projections::ApplyStats> applied =
        guarded ? models.apply(guarded->events) : domain::Result<projections::ApplyStats>(std::unexpected(guarded.error()));
    if (!applied) {
      guard.unanchor();  // what it admitted was not applied: start again from the checkpoint
      // Some projection did not write the batch; re-read it from the
      // committed offset (the others skip it then).
      spdlog::error("projector: batch not applied: {} ({})", applied.error().message, applied.error().code);
      if (applied.error().code == "position_gap") {
        // A projection is behind the consumer group's offsets (e.g. a read
        // model added later): bring it up from the event store first.
        adapters::postgres::PgEventReader reader(options.pg_url);
        if (auto at = catch_up(models, reader, options.batch_size); at) {
          spdlog::info("projector: caught up from the event store to position {}", *at);
        } else {
          spdlog::warn("projector: catch-up from the event store failed: {}", at.error().message);
        }
      }
      consumer.reset();
      std::this_thread::sleep_for(500ms);
      continue;
    }
    spdlog::debug("projector: applied {} skipped {} checkpoint {}", applied->applied, applied->skipped,
                  applied->checkpoint);
    if (status != nullptr) status->checkpoint(applied->checkpoint);
    // Every projection committed the batch: only now move the offsets.
    if (auto ok = consumer->commit(*msgs); !ok) {
      spdlog::warn("projector: offset commit failed (harmless, the checkpoint dedupes): {}", ok.error().message);
    }
  }
  if (consumer) consumer->close();
}

domain::Result<std::int64_t> catch_up_from_store(const ProjectorOptions& options) {
  auto set = ProjectionSet::create(options);
  if (!set) return std::unexpected(set.error());
  adapters::postgres::PgEventReader reader(options.pg_url);
  return catch_up(**set, reader, options.batch_size);
}

domain::Result<std::int64_t> rebuild(const ProjectorOptions& options, RebuildSource source,
                                     std::vector<projections::ChainAlarm>* alarms) {
  using namespace std::chrono_literals;
  // Refuse unknown names before anything is dropped.
  if (auto set = ProjectionSet::create(options); !set) return std::unexpected(set.error());
  if (auto ok = adapters::postgres::prepare_read_model_schema(options.pg_url, options.schema, /*reset=*/true); !ok) {
    return std::unexpected(ok.error());
  }
  if (source == RebuildSource::kPostgres) return catch_up_from_store(options);

  auto set = ProjectionSet::create(options);
  if (!set) return std::unexpected(set.error());
  auto& models = **set;
  auto r = adapters::kafka::KafkaPartitionReader::create(
      {.brokers = options.brokers, .security = options.kafka_security, .topic = options.topic, .partition = 0, .start_offset = 0});
  if (!r) return std::unexpected(r.error());
  auto& kreader = **r;
  adapters::postgres::PgEventReader store_reader(options.pg_url);
  StoreHistory history(store_reader);
  projections::ChainGuard guard(history);
  if (auto ok = guard.anchor(0); !ok) return std::unexpected(ok.error());
  auto end = kreader.high_watermark(10s);
  if (!end) return std::unexpected(end.error());
  std::int64_t next_offset = 0;
  while (next_offset < *end) {
    auto msgs = kreader.poll(options.batch_size, 1s);
    if (!msgs) return std::unexpected(msgs.error());
    if (msgs->empty()) continue;
    next_offset = msgs->back().offset + 1;
    auto guarded = guard.admit(feed_records(*msgs));
    if (!guarded) return std::unexpected(guarded.error());
    for (const auto& a : guarded->alarms) {
      raise_chain_alarm(a, nullptr);
      if (alarms != nullptr) alarms->push_back(a);
    }
    auto applied = models.apply(guarded->events);
    if (!applied) return std::unexpected(applied.error());
  }
  return models.checkpoint();
}

}  // namespace ledger::projector

#include "adapters/projector/projector.h"

#include <spdlog/spdlog.h>

#include <map>
#include <memory>
#include <thread>

#include "adapters/kafka/kafka.h"
#include "adapters/postgres/event_store.h"
#include "adapters/postgres/read_model_store.h"

namespace ledger::projector {

namespace {

// The event store as the projector's committed history.
class StoreHistory final : public projections::EventHistory {
 public:
  explicit StoreHistory(const std::string& url) : reader_(url) {}
  domain::Result<std::vector<events::RecordedEvent>> read_after(events::GlobalPosition after,
                                                                std::size_t limit) override {
    return reader_.read_after(after, limit);
  }
  domain::Result<events::GlobalPosition> head_position() override { return reader_.head_position(); }

 private:
  adapters::postgres::PgEventReader reader_;
};

std::vector<projections::FeedRecord> feed_records(const std::vector<adapters::kafka::KafkaMessage>& msgs) {
  std::vector<projections::FeedRecord> out;
  out.reserve(msgs.size());
  for (const auto& m : msgs) out.push_back({m.offset, m.value});
  return out;
}

// `ledger.events` through the projector's consumer group. The consumer is
// created on the first poll of a session and closed by reset().
class KafkaFeed final : public projections::EventFeed {
 public:
  explicit KafkaFeed(const ProjectorOptions& options) : options_(options) {}
  ~KafkaFeed() override {
    if (consumer_) consumer_->close();
  }

  domain::Result<std::vector<projections::FeedRecord>> poll(std::size_t max,
                                                            std::chrono::milliseconds timeout) override {
    if (!consumer_) {
      auto c = adapters::kafka::KafkaConsumer::create({.brokers = options_.brokers,
                                                       .security = options_.kafka_security,
                                                       .group_id = options_.group_id,
                                                       .topics = {options_.topic},
                                                       .client_id = "ledger-projector"});
      if (!c) return std::unexpected(c.error());
      consumer_ = std::move(*c);
    }
    auto msgs = consumer_->poll(max, timeout);
    if (!msgs) return std::unexpected(msgs.error());
    polled_ = std::move(*msgs);
    return feed_records(polled_);
  }
  domain::Result<void> commit() override {
    if (!consumer_ || polled_.empty()) return {};
    return consumer_->commit(polled_);
  }
  void reset() override {
    consumer_.reset();
    polled_.clear();
  }

 private:
  const ProjectorOptions& options_;
  std::unique_ptr<adapters::kafka::KafkaConsumer> consumer_;
  std::vector<adapters::kafka::KafkaMessage> polled_;
};

}  // namespace

adapters::http::HttpHandler projector_status_routes(const ProjectorStatus& status,
                                                    adapters::metrics::Registry& metrics) {
  using adapters::http::HttpResponse;
  const auto consuming = metrics.gauge("ledger_projector_consuming", "1 while the projector consumes ledger.events");
  const auto checkpoint =
      metrics.gauge("ledger_projector_checkpoint", "The lowest read-model checkpoint (global position)");
  std::map<std::string, adapters::metrics::Counter> alarms;
  for (const char* reason :
       {"junk_record", "hash_mismatch", "broken_link", "unknown_position", "conflicting_duplicate"}) {
    alarms[reason] = metrics.counter("ledger_projector_chain_alarms_total",
                                     "Records from ledger.events refused by the chain check", {{"reason", reason}});
  }
  metrics.on_scrape(
      [&status, consuming, checkpoint, alarms, seen = std::make_shared<std::map<std::string, std::uint64_t>>()] {
        const auto now = status.counts();
        consuming.set(now.consuming ? 1 : 0);
        checkpoint.set(static_cast<double>(now.checkpoint.value));
        for (const auto& [reason, count] : now.alarms_by_reason) {
          auto counter = alarms.find(reason);
          auto& before = (*seen)[reason];
          if (counter != alarms.end() && count > before) counter->second.inc(static_cast<double>(count - before));
          before = count;
        }
      });
  return [&status, &metrics](const adapters::http::HttpRequest& req) {
    if (req.path == "/healthz") return HttpResponse::json(200, R"({"status":"ok"})");
    if (req.path == "/readyz") return HttpResponse::json(status.ready() ? 200 : 503, status.readiness_json());
    if (req.path == "/metrics") {
      HttpResponse r;
      r.status = 200;
      r.content_type = adapters::metrics::kTextContentType;
      r.body = metrics.text();
      return r;
    }
    return HttpResponse::json(404, R"({"code":"unknown_route","message":"no such route"})");
  };
}

void run_projector(const ProjectorOptions& options, const std::atomic<bool>& stop, ProjectorStatus* status) {
  // Start from what the store holds: a read model added by an upgrade (its
  // checkpoint at 0 while the consumer group is at the end of the topic) is
  // built now instead of waiting for the next event to reveal the gap. What
  // Kafka then delivers again is skipped by the checkpoints.
  if (auto caught = catch_up_from_store(options); caught) {
    spdlog::info("projector: caught up from the event store to position {}", caught->value);
  } else {
    spdlog::warn("projector: catch-up from the store failed, Kafka will do: {}", caught.error().message);
  }
  adapters::postgres::PgReadModelStore store(options.pg_url, options.schema);
  auto set = projections::ProjectionSet::create(store, options.read_models);
  if (!set) {
    spdlog::critical("projector: {}", set.error().message);
    return;
  }
  StoreHistory history(options.pg_url);
  KafkaFeed feed(options);
  projections::Projector(**set, history, feed, status, {.batch_size = options.batch_size}).run(stop);
}

domain::Result<events::GlobalPosition> catch_up_from_store(const ProjectorOptions& options) {
  adapters::postgres::PgReadModelStore store(options.pg_url, options.schema);
  auto set = projections::ProjectionSet::create(store, options.read_models);
  if (!set) return std::unexpected(set.error());
  StoreHistory history(options.pg_url);
  return projections::catch_up(**set, history, options.batch_size);
}

domain::Result<events::GlobalPosition> rebuild(const ProjectorOptions& options, RebuildSource source,
                                               std::vector<projections::ChainAlarm>* alarms) {
  using namespace std::chrono_literals;
  // Refuse unknown names before anything is dropped.
  if (auto ok = check_read_model_names(options.read_models); !ok) return std::unexpected(ok.error());
  if (auto ok = adapters::postgres::prepare_read_model_schema(options.pg_url, options.schema, /*reset=*/true); !ok) {
    return std::unexpected(ok.error());
  }
  if (source == RebuildSource::kPostgres) return catch_up_from_store(options);

  adapters::postgres::PgReadModelStore store(options.pg_url, options.schema);
  auto set = projections::ProjectionSet::create(store, options.read_models);
  if (!set) return std::unexpected(set.error());
  auto& models = **set;
  auto r = adapters::kafka::KafkaPartitionReader::create({.brokers = options.brokers,
                                                          .security = options.kafka_security,
                                                          .topic = options.topic,
                                                          .partition = 0,
                                                          .start_offset = 0});
  if (!r) return std::unexpected(r.error());
  auto& kreader = **r;
  StoreHistory history(options.pg_url);
  projections::ChainGuard guard(history);
  projections::ChainAlarmLog alarm_log;
  if (auto ok = guard.anchor(events::GlobalPosition{}); !ok) return std::unexpected(ok.error());
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
    alarm_log.raise(guarded->alarms, nullptr);
    if (alarms != nullptr) alarms->insert(alarms->end(), guarded->alarms.begin(), guarded->alarms.end());
    auto applied = models.apply(guarded->events);
    if (!applied) return std::unexpected(applied.error());
  }
  alarm_log.flush();
  return models.checkpoint();
}

}  // namespace ledger::projector

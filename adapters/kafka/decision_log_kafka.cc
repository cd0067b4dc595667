#include "adapters/kafka/decision_log_kafka.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <map>

namespace ledger::adapters::kafka {

using namespace std::chrono_literals;

namespace {
// Records per Kafka record: well under the broker's 1 MB message limit
// (a decision record is about 2 KB).
constexpr std::size_t kRecordsPerMessage = 200;
}  // namespace

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
        batch = buffer_.drain(options_.batch_max, 200ms);
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
  while (!stop) {
    try {
      if (!consumer) {
        auto c = KafkaConsumer::create({.brokers = options.brokers,
                                        .security = options.security,
                                        .group_id = options.group_id,
                                        .topics = {options.topic},
                                        .client_id = "ledger-projector-decisions"});
        if (!c) throw std::runtime_error(c.error().message);
        consumer = std::move(*c);
      }
      auto msgs = consumer->poll(1000, 500ms);
      if (!msgs) throw std::runtime_error(msgs.error().message + " (" + msgs.error().code + ")");
      if (msgs->empty()) continue;
      std::vector<commands::DecisionRecord> records;
      records.reserve(msgs->size());
      for (const auto& m : *msgs) {
        auto j = nlohmann::json::parse(m.value, nullptr, false);
        if (j.is_discarded()) {
          spdlog::warn("decision log: skipping a record that is not JSON at {}:{}:{}", m.topic, m.partition, m.offset);
          continue;
        }
        // A JSON array of decision records (DecisionLogPublisher), or one.
        const auto one = [&](const nlohmann::json& x) {
          auto r = commands::decision_record_from_json(x);
          if (!r) {
            spdlog::warn("decision log: skipping what is not a decision record at {}:{}:{}: {}", m.topic, m.partition,
                         m.offset, r.error().message);
            return;
          }
          records.push_back(std::move(*r));
        };
        if (j.is_array()) {
          for (const auto& x : j) one(x);
        } else {
          one(j);
        }
      }
      // Until the rows are in, the offsets stay uncommitted.
      for (;;) {
        auto added = log.insert(records);
        if (added) break;
        if (stop) return;
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
}

}  // namespace ledger::adapters::kafka

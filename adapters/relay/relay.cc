#include "adapters/relay/relay.h"

#include "adapters/postgres/event_store.h"
#include "commands/relay/relay.h"
#include "events/codec/json_codec.h"

namespace ledger::relay {
namespace {

class StoreSource final : public EventSource {
 public:
  explicit StoreSource(const std::string& url) : reader_(url) {}
  domain::Result<std::vector<events::RecordedEvent>> read_after(events::GlobalPosition after,
                                                                std::size_t limit) override {
    return reader_.read_after(after, limit);
  }
  void wait_for_commit(std::chrono::milliseconds timeout) override { reader_.wait_for_commit(timeout); }

 private:
  adapters::postgres::PgEventReader reader_;
};

class StoreCheckpoint final : public PositionCheckpoint {
 public:
  StoreCheckpoint(const std::string& url, const std::string& name) : checkpoint_(url, name) {}
  domain::Result<events::GlobalPosition> load() override { return checkpoint_.load(); }
  domain::Result<void> store(events::GlobalPosition position) override { return checkpoint_.store(position); }

 private:
  adapters::postgres::PgRelayCheckpoint checkpoint_;
};

}  // namespace

KafkaEventPublisher::KafkaEventPublisher(std::string brokers, adapters::kafka::KafkaSecurity security,
                                         std::string topic)
    : brokers_(std::move(brokers)), security_(std::move(security)), topic_(std::move(topic)) {}

KafkaEventPublisher::~KafkaEventPublisher() = default;

domain::Result<void> KafkaEventPublisher::publish(std::span<const events::RecordedEvent> batch) {
  using namespace std::chrono_literals;
  namespace kafka = adapters::kafka;
  if (!producer_) {
    auto p = kafka::KafkaProducer::create({.brokers = brokers_, .security = security_, .client_id = "ledger-relay"});
    if (!p) return std::unexpected(p.error());
    producer_ = std::move(*p);
  }
  for (const auto& r : batch) {
    auto sent = producer_->produce(topic_, r.meta.tenant, codec::to_json_text(r),
                                   {{"event_id", r.meta.event_id},
                                    {"global_position", std::to_string(r.meta.global_position.value)},
                                    {"event_type", r.event_type},
                                    // for any client (kcat, Kafka Connect): what the value is
                                    {"content-type", "application/json"},
                                    {"schema-version", std::to_string(r.schema_version)}});
    if (!sent) {
      producer_.reset();  // a fresh producer session: nothing half-sent survives
      return sent;
    }
  }
  if (auto flushed = producer_->flush(30s); !flushed) {
    producer_.reset();
    return flushed;
  }
  return {};
}

void run_relay(const RelayOptions& options, const std::atomic<bool>& stop, const StepObserver& observe) {
  StoreSource source(options.pg_url);
  StoreCheckpoint checkpoint(options.pg_url, options.name);
  KafkaEventPublisher publisher(options.brokers, options.kafka_security, options.topic);
  Relay(source, publisher, checkpoint, {.batch_size = options.batch_size}).run(stop, observe);
}

}  // namespace ledger::relay

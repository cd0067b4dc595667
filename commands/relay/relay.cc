#include "commands/relay/relay.h"

#include <spdlog/spdlog.h>

#include <thread>

namespace ledger::relay {

Relay::Relay(EventSource& source, EventPublisher& publisher, PositionCheckpoint& checkpoint, LoopOptions options)
    : source_(source), publisher_(publisher), checkpoint_(checkpoint), options_(options) {}

StepOutcome Relay::fail(const char* what, const domain::Error& e) {
  spdlog::warn("relay: {} failed: {} ({})", what, e.message, e.code);
  published_.reset();  // start again from the durable position
  return StepOutcome::kFailed;
}

StepOutcome Relay::step() {
  if (!published_) {
    auto p = checkpoint_.load();
    if (!p) return fail("loading the checkpoint", p.error());
    published_ = *p;
    spdlog::info("relay: publishing from position {}", published_->value);
  }
  auto batch = source_.read_after(*published_, options_.batch_size);
  if (!batch) return fail("reading events", batch.error());
  if (batch->empty()) return StepOutcome::kIdle;
  // The source promises ascending, gap-free positions after the durable one;
  // a batch that breaks it is never published (it would skip or reorder).
  events::GlobalPosition expected = published_->next();
  for (const auto& r : *batch) {
    if (r.meta.global_position != expected) {
      domain::Error gap{.kind = domain::ErrorKind::kInternal,
                        .code = "position_gap",
                        .message = "the event source skipped from " + std::to_string(expected.value - 1) + " to " +
                                   std::to_string(r.meta.global_position.value),
                        .evidence = {}};
      return fail("reading events", gap);
    }
    expected = expected.next();
  }
  if (auto sent = publisher_.publish(*batch); !sent) return fail("publishing", sent.error());
  const events::GlobalPosition last = batch->back().meta.global_position;
  if (auto stored = checkpoint_.store(last); !stored) return fail("storing the checkpoint", stored.error());
  published_ = last;
  spdlog::debug("relay: published up to {}", last.value);
  return StepOutcome::kPublished;
}

void Relay::run(const std::atomic<bool>& stop, const StepObserver& observe) {
  while (!stop) {
    const StepOutcome outcome = step();
    if (observe) observe(outcome, published_);
    switch (outcome) {
      case StepOutcome::kPublished:
        break;
      case StepOutcome::kIdle:
        source_.wait_for_commit(options_.idle_wait);
        break;
      case StepOutcome::kFailed:
        std::this_thread::sleep_for(options_.back_off);
        break;
    }
  }
}

}  // namespace ledger::relay

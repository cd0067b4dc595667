#include "projections/projector.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <thread>

namespace ledger::projections {

namespace {

// A JSON string literal of `s` (invalid UTF-8 replaced), for log lines.
std::string json_string(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

const std::vector<ReadModelInfo>& read_models() {
  static const std::vector<ReadModelInfo> kReadModels = {
      {PolicyValuesProjection::kName, {"policy_keys", "policy_values"}},
      {AuditProjection::kName, {AuditProjection::kTable}},
      {AdmissionProjection::kName, {AdmissionProjection::tables().begin(), AdmissionProjection::tables().end()}},
  };
  return kReadModels;
}

domain::Result<void> check_read_model_names(const std::vector<std::string>& names) {
  const auto& known = read_models();
  for (const auto& name : names) {
    if (std::none_of(known.begin(), known.end(), [&](const ReadModelInfo& m) { return m.projection == name; })) {
      std::string list;
      for (const auto& m : known) list += (list.empty() ? "" : ", ") + std::string(m.projection);
      domain::Error e{domain::ErrorKind::kInvalidArgument,
                      "unknown_read_model",
                      "no read model named '" + name + "' (known: " + list + ")",
                      {}};
      e.with("read_model", name);
      return std::unexpected(std::move(e));
    }
  }
  return {};
}

// ---------------------------------------------------------------- projection set

domain::Result<std::unique_ptr<ProjectionSet>> ProjectionSet::create(ReadModelStore& store,
                                                                     const std::vector<std::string>& names) {
  if (auto ok = check_read_model_names(names); !ok) return std::unexpected(ok.error());
  std::unique_ptr<ProjectionSet> set(new ProjectionSet(store));
  for (const Projection* p :
       {static_cast<const Projection*>(&set->policy_values_), static_cast<const Projection*>(&set->audit_),
        static_cast<const Projection*>(&set->admission_)}) {
    const bool wanted = names.empty() || std::find(names.begin(), names.end(), p->name()) != names.end();
    if (wanted) set->runners_.emplace_back(*p, set->store_);
  }
  return set;
}

domain::Result<ApplyStats> ProjectionSet::apply(std::span<const events::RecordedEvent> batch) {
  std::optional<domain::Error> first_error;
  ApplyStats total;
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

domain::Result<events::GlobalPosition> ProjectionSet::checkpoint() {
  std::optional<events::GlobalPosition> low;
  for (auto& runner : runners_) {
    auto c = runner.checkpoint();
    if (!c) return c;
    low = low ? std::min(*low, *c) : *c;
  }
  return low.value_or(events::GlobalPosition{});
}

domain::Result<events::GlobalPosition> catch_up(ProjectionSet& set, EventHistory& history, std::size_t batch_size) {
  auto head = history.head_position();
  if (!head) return std::unexpected(head.error());
  auto at = set.checkpoint();
  if (!at) return at;
  while (*at < *head) {
    auto batch = history.read_after(*at, batch_size);
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

// ---------------------------------------------------------------- status

void ProjectorStatus::consuming(bool yes) {
  std::lock_guard lock(mu_);
  consuming_ = yes;
}

void ProjectorStatus::checkpoint(events::GlobalPosition position) {
  std::lock_guard lock(mu_);
  checkpoint_ = position;
}

void ProjectorStatus::alarm(const ChainAlarm& a) {
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

ProjectorStatus::Counts ProjectorStatus::counts() const {
  std::lock_guard lock(mu_);
  return {consuming_, checkpoint_, by_reason_};
}

ChainAlarmLog::ChainAlarmLog(std::chrono::milliseconds interval, Clock now)
    : budget_(kLines, interval, std::move(now)) {}

void ChainAlarmLog::raise(std::span<const ChainAlarm> alarms, ProjectorStatus* status) {
  log_held(budget_.roll());
  for (const ChainAlarm& a : alarms) {
    if (budget_.admit()) {
      // One line an operator can grep and a log shipper can split on '='.
      spdlog::error("chain alarm: reason={} position={} offset={} replaced_from_store={} detail={}", a.reason,
                    a.position.value, a.offset, a.replaced, json_string(a.detail));
    } else {
      const bool first = held_.empty();
      held_from_ = first ? a.offset : std::min(held_from_, a.offset);
      held_to_ = first ? a.offset : std::max(held_to_, a.offset);
      ++held_[a.reason];
    }
    if (status != nullptr) status->alarm(a);
  }
}

void ChainAlarmLog::flush() { log_held(budget_.take_held()); }

void ChainAlarmLog::log_held(std::size_t count) {
  if (count == 0) return;
  std::string counts;
  for (const auto& [reason, n] : held_) counts += (counts.empty() ? "" : " ") + reason + "=" + std::to_string(n);
  spdlog::error("chain alarm: {} more within {} ms, not logged one by one (offsets {}..{}): {}", count,
                budget_.interval().count(), held_from_, held_to_, counts);
  held_.clear();
}

// ---------------------------------------------------------------- the loop

Projector::Projector(ProjectionSet& set, EventHistory& history, EventFeed& feed, ProjectorStatus* status,
                     ProjectorLoopOptions options)
    : set_(set), history_(history), feed_(feed), status_(status), options_(options), guard_(history) {
  if (status_ != nullptr) {
    if (auto at = set_.checkpoint()) status_->checkpoint(*at);
  }
}

Projector::Step Projector::step() {
  auto records = feed_.poll(options_.batch_size, options_.poll_timeout);
  if (!records) {
    spdlog::warn("projector: poll failed: {}", records.error().message);
    feed_.reset();
    if (status_ != nullptr) status_->consuming(false);
    return Step::kFeedFailed;
  }
  if (status_ != nullptr) status_->consuming(true);
  if (records->empty()) {
    alarm_log_.raise({}, status_);  // counts held back are logged once their interval has passed
    return Step::kIdle;
  }
  // The guard continues the chain from the read models' checkpoint (its
  // hash read from the store); only what it admits is applied.
  domain::Result<void> anchored;
  if (!guard_.anchored()) {
    auto at = set_.checkpoint();
    anchored = at ? guard_.anchor(*at) : domain::Result<void>(std::unexpected(at.error()));
  }
  auto guarded = anchored ? guard_.admit(*records) : domain::Result<Guarded>(std::unexpected(anchored.error()));
  if (guarded) alarm_log_.raise(guarded->alarms, status_);
  domain::Result<ApplyStats> applied =
      guarded ? set_.apply(guarded->events) : domain::Result<ApplyStats>(std::unexpected(guarded.error()));
  if (!applied) {
    guard_.unanchor();  // what it admitted was not applied: start again from the checkpoint
    // Some projection did not write the batch; re-read it from the
    // committed offset (the others skip it then).
    spdlog::error("projector: batch not applied: {} ({})", applied.error().message, applied.error().code);
    if (applied.error().code == "position_gap") {
      // A projection is behind the feed's offsets (e.g. a read model added
      // later): bring it up from the committed history first.
      if (auto at = catch_up(set_, history_, options_.batch_size); at) {
        spdlog::info("projector: caught up from the event store to position {}", at->value);
      } else {
        spdlog::warn("projector: catch-up from the event store failed: {}", at.error().message);
      }
    }
    feed_.reset();
    return Step::kNotApplied;
  }
  spdlog::debug("projector: applied {} skipped {} checkpoint {}", applied->applied, applied->skipped,
                applied->checkpoint.value);
  if (status_ != nullptr) status_->checkpoint(applied->checkpoint);
  // Every projection committed the batch: only now move the offsets.
  if (auto ok = feed_.commit(); !ok) {
    spdlog::warn("projector: offset commit failed (harmless, the checkpoint dedupes): {}", ok.error().message);
  }
  return Step::kApplied;
}

void Projector::run(const std::atomic<bool>& stop) {
  while (!stop) {
    switch (step()) {
      case Step::kApplied:
      case Step::kIdle:
        break;
      case Step::kFeedFailed:
        std::this_thread::sleep_for(options_.feed_back_off);
        break;
      case Step::kNotApplied:
        std::this_thread::sleep_for(options_.apply_back_off);
        break;
    }
  }
}

}  // namespace ledger::projections

// How many lines a reader of a topic logs one by one about the records it
// refuses. Whoever can write to a topic can write junk at any rate, and
// must not turn each record into a log line: of each interval (from its
// first line) the first `lines` are logged one by one, the rest only
// counted, and their count is the caller's to log as one line once the
// interval has passed (asked at every poll, idle ones included) or when
// it stops. The clock is injected for tests. Used by one thread.
//
//   LogBudget budget(8, std::chrono::seconds(10));
//   if (auto held = budget.roll()) log_counts(held);  // each poll, first
//   for (const auto& r : refused) {
//     if (budget.admit()) log_one(r); else hold(r);
//   }
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <utility>

namespace ledger::projections {

class LogBudget {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  LogBudget(
      std::size_t lines, std::chrono::milliseconds interval,
      Clock now = [] { return std::chrono::steady_clock::now(); })
      : lines_(lines), interval_(interval), now_(std::move(now)) {}

  // Whether the next one may have a line of its own; when not, it is
  // counted as held back.
  bool admit() {
    if (!since_) since_ = now_();
    if (logged_ < lines_) {
      ++logged_;
      return true;
    }
    ++held_;
    return false;
  }
  // How many were held back, once the interval that held them has passed
  // (0 before): a new interval starts with the next admit(). The clock is
  // read only while an interval is open.
  std::size_t roll() {
    if (!since_ || now_() - *since_ < interval_) return 0;
    since_.reset();
    logged_ = 0;
    return take_held();
  }
  // How many were held back, now (a reader that stops); the interval goes on.
  std::size_t take_held() { return std::exchange(held_, 0); }
  std::chrono::milliseconds interval() const { return interval_; }

 private:
  std::size_t lines_;
  std::chrono::milliseconds interval_;
  Clock now_;
  std::optional<std::chrono::steady_clock::time_point> since_;  // the interval's first line
  std::size_t logged_ = 0;                                      // one by one in this interval
  std::size_t held_ = 0;
};

}  // namespace ledger::projections

// Capacity reservations (seed 001): what a reservation holds, when, and how
// much overlapping reservations hold together.
//
// A reservation that holds capacity (below), inside its window at `as_of`,
// withholds its whole quantity from every requester that is not its owner
// or below it, under every ceiling above the owner. The capacity available
// to a requester is
//   min over the chain n of  effective(n) - reserved_by_others_below(n)
// over the scopes n of its organization whose effective ceiling is not below
// the requester's own (a lower one was delegated past and does not bind it),
// and a request is allowed when current_usage + requested_delta fits.
//
// Capacity per reservation state (what a reservation holds at instant t;
// README "Capacity per reservation state"):
//
//   draft ──activate──> active <──release── exhausted (consumed == quantity)
//                        │  └──consume all──>  │
//                        └──suspend──> suspended <──suspend┘
//
//   draft      nothing (an intent, never checked)
//   active     its whole quantity, for t in [window_start, window_end)
//   exhausted  the same: fully consumed capacity is in use, not free, so it
//              keeps occupying its window until the window ends or it is
//              retired; a release makes it active with nothing to re-check
//   suspended  nothing; resume re-checks capacity like activate
//   expired    nothing (any state past window_end reads expired)
//   retired    nothing
//
// Windows: capacity is the maximum over time of what overlapping windows
// hold. Activating (or resuming) reservation r is accepted when, under every
// scope n from r's owner up to its organization whose effective ceiling
// binds the owner, the peak over t in [max(window_start, now), window_end)
// of r.quantity + what the other reservations under n hold at t fits in
// effective(n) (422 `capacity_unavailable`, evidence `peak_at`). Decisions
// and the views count exactly what holds at their `as_of` instant.
//
// Lowering capacity under held reservations is refused: a ceiling command
// (set, clear, delegate, revoke delegation) after which a reservation that
// holds capacity now or later, and fitted by the rule above before, would
// no longer fit is 422 `ceiling_below_reserved` (evidence: the reservation,
// the first scope up from its owner that would be short, that scope's
// effective quantity after the change and the rule binding it, the peak
// held and when).
// Retire or suspend the reservations first. Moving a department or a
// project, or changing an organization's plan, is refused the same way
// (422 `ceiling_below_reserved`) when a reservation that holds capacity now
// or later, and fitted before, would not fit under the ceilings of its new
// place: a reservation never holds more than the hierarchy allows because
// the hierarchy changed under it.
//
// The reservation commands (draft, transition, consume, release:
// commands.h) are decided in reservations.cc.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/admission/hierarchy.h"
#include "domain/shared.h"

namespace ledger::domain {

struct ReservationView {
  std::string reservation_id;
  QuotaScope owner;
  std::vector<QuotaScope> owner_chain;  // owner first, up to the organization
  std::string dimension;
  std::string region;
  std::string sku_or_model;
  std::int64_t quantity = 0;
  std::int64_t consumed = 0;
  std::string state;  // as recorded (draft, active, ...)
  Instant window_start;
  Instant window_end;
  friend bool operator==(const ReservationView&, const ReservationView&) = default;
};

// What a decision reads of one reservation, in one line of a contiguous
// table: its window, quantity and whether its state holds capacity, and its
// owner chain (owner first, up to the organization) as the ids of the places
// of the model that made it (AdmissionModel: an id per scope, equal in every
// copy of the model). A decision whose snapshot carries the place ids of its
// own chain (DecisionSnapshot::chain_places) compares integers where it
// would compare scope names, and reads the view itself only when the
// reservation names a region or a SKU. Made only by the model, for a list
// of one organization in one dimension.
struct ReservationSlot {
  static constexpr std::size_t kMaxOwners = 6;  // principal, project, 3 departments, organization
  std::int64_t window_start = 0;                // micros
  std::int64_t window_end = 0;
  std::int64_t quantity = 0;
  std::uint32_t owners[kMaxOwners] = {};
  std::uint8_t owner_count = 0;  // 0: no ids (a longer or unplaced chain): read the view
  bool holds = false;            // a state that holds capacity (active, exhausted)
  bool any_region = false;       // the view's region is empty
  bool any_sku = false;          // the view's sku_or_model is empty
};

// The views a decision reads (DecisionSnapshot::reservations), shared whole:
// copying a list copies one reference count, not one per reservation. With
// a count per view, every decision wrote each view's count, and readers on
// two threads wrote the same lines (memory-bench: 7-10% per decision on one
// thread and 11-17% on two at 10,000 and 100,000 nodes; no difference
// measured at 1,000,000). Never changed once made. Compared by the views it
// holds, in order; an empty list equals a default one. A list the model
// sealed also holds a slot per view, in the same order (slots(): empty
// otherwise, and never compared).
class ReservationList {
 public:
  using Views = std::vector<Shared<ReservationView>>;
  ReservationList() = default;
  explicit ReservationList(Views views, std::vector<ReservationSlot> slots = {})
      : held_(views.empty() ? nullptr : std::make_shared<const Held>(Held{std::move(views), std::move(slots)})) {}

  const Shared<ReservationView>* begin() const noexcept { return held_ ? held_->views.data() : nullptr; }
  const Shared<ReservationView>* end() const noexcept {
    return held_ ? held_->views.data() + held_->views.size() : nullptr;
  }
  std::size_t size() const noexcept { return held_ ? held_->views.size() : 0; }
  bool empty() const noexcept { return size() == 0; }
  // One per view when the model made them, else none.
  std::span<const ReservationSlot> slots() const noexcept {
    if (!held_ || held_->slots.size() != held_->views.size()) return {};
    return held_->slots;
  }

  friend bool operator==(const ReservationList& a, const ReservationList& b) {
    return a.held_ == b.held_ || std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  struct Held {
    Views views;
    std::vector<ReservationSlot> slots;
  };
  std::shared_ptr<const Held> held_;
};

// The state a reservation reads as at `as_of`: an active one past its
// window reads `expired` at once, before any sweeper records it.
std::string reservation_state_at(const ReservationView& r, Instant as_of);

// Whether a reservation in `state` holds capacity (active, exhausted).
bool state_holds_capacity(std::string_view state);
// Whether `r` holds its quantity at instant `t`: a holding state at t and
// t inside [window_start, window_end).
bool holds_at(const ReservationView& r, Instant t);

// The most that reservations hold at one instant of [from, to): the
// maximum over t of the sum of quantity over `held` whose window contains t
// (states are not consulted: pass only reservations that hold). `at` is the
// first instant the peak is reached (`from` when nothing overlaps).
struct Peak {
  std::int64_t quantity = 0;
  Instant at;
};
Peak peak_held(std::span<const ReservationView> held, Instant from, Instant to);

}  // namespace ledger::domain

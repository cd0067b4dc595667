// The two counters of an event store, as types that cannot be mixed up.
//
// `GlobalPosition` orders every event of the ledger: gap-free and strictly
// increasing in commit order (invariant 3); it is the consistency token a
// reader asks for (`min_position`) and a projection's checkpoint.
// `StreamVersion` counts the events of one stream, 1-based; an append names
// the version it expects the stream to be at (0: the stream is new).
//
// Both are plain aggregates over the integer the store keeps, like Instant:
// `GlobalPosition{42}` builds one, `.value` reads it, and neither converts to
// the other or from a bare integer, so a stream version can no longer be
// handed to a call that wants a position. Standard library only.
#pragma once

#include <compare>
#include <cstdint>

namespace ledger::events {

struct GlobalPosition {
  std::int64_t value = 0;  // 0: before the first event

  constexpr GlobalPosition next() const { return GlobalPosition{value + 1}; }
  friend constexpr auto operator<=>(GlobalPosition, GlobalPosition) = default;

  // JSON (nlohmann, found by ADL) and stream output as the bare number.
  template <class Json>
  friend void to_json(Json& j, GlobalPosition p) {
    j = p.value;
  }
  template <class Json>
  friend void from_json(const Json& j, GlobalPosition& p) {
    p.value = j.template get<std::int64_t>();
  }
  template <class Out>
  friend auto operator<<(Out& out, GlobalPosition p) -> decltype(out << std::int64_t{}) {
    return out << p.value;
  }
};

struct StreamVersion {
  std::int64_t value = 0;  // 0: the stream has no events yet

  constexpr StreamVersion next() const { return StreamVersion{value + 1}; }
  friend constexpr auto operator<=>(StreamVersion, StreamVersion) = default;

  template <class Json>
  friend void to_json(Json& j, StreamVersion v) {
    j = v.value;
  }
  template <class Json>
  friend void from_json(const Json& j, StreamVersion& v) {
    v.value = j.template get<std::int64_t>();
  }
  template <class Out>
  friend auto operator<<(Out& out, StreamVersion v) -> decltype(out << std::int64_t{}) {
    return out << v.value;
  }
};

}  // namespace ledger::events

// A read-only value a model hands to readers that may outlive its next
// change: the model keeps it as Shared<T>, and every snapshot that takes it
// copies a reference count, not the value (a reservation's view, a registry
// entry on a decision's hot path). Never changed once made; a model that
// changes the value makes a new one. Compared by value, so two snapshots
// holding equal values are equal wherever they were read from.
//
//   Shared<RegistryEntry> e(RegistryEntry{...});
//   if (e) use(e->version);
#pragma once

#include <memory>
#include <utility>

namespace ledger::domain {

template <class T>
class Shared {
 public:
  Shared() = default;
  explicit Shared(T value) : value_(std::make_shared<const T>(std::move(value))) {}

  explicit operator bool() const noexcept { return value_ != nullptr; }
  const T& operator*() const noexcept { return *value_; }
  const T* operator->() const noexcept { return value_.get(); }
  const T* get() const noexcept { return value_.get(); }

  friend bool operator==(const Shared& a, const Shared& b) {
    return a.value_ == b.value_ || (a.value_ && b.value_ && *a.value_ == *b.value_);
  }

 private:
  std::shared_ptr<const T> value_;
};

}  // namespace ledger::domain

// Result<T>: a value or a Kubernetes Status error. Returned, never thrown, on request paths.
#pragma once

#include <utility>
#include <variant>

#include "kube/status.h"

namespace kube {

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}       // NOLINT
  Result(Status error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Status& error() const& { return std::get<1>(v_); }
  Status&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Status> v_;
};

// For operations that return nothing but may fail.
struct Ok {};
using Outcome = Result<Ok>;

}  // namespace kube

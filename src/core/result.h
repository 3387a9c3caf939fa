// Errors as values: a Result<T> holds either a value or a short error text.
//   Result<std::string> r = resolve_secret_ref("env:TOKEN");
//   if (!r) log(r.error()); else use(*r);
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace edge_auth {

template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  static Result failure(std::string error) {
    Result r;
    r.error_ = std::move(error);
    return r;
  }
  explicit operator bool() const { return value_.has_value(); }
  bool ok() const { return value_.has_value(); }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  const std::string& error() const { return error_; }

 private:
  Result() = default;
  std::optional<T> value_;
  std::string error_;
};

}  // namespace edge_auth

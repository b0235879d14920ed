#pragma once

#include <memory>
#include <mutex>

namespace starling::runtime {

/// A value several threads read and one occasionally replaces (settings
/// changed online): readers get a snapshot that stays valid while they
/// hold it.
template <class T>
class shared_value {
public:
  explicit shared_value(T v = T{}) : v_(std::make_shared<const T>(std::move(v))) {}

  std::shared_ptr<const T> get() const {
    std::lock_guard g(mtx_);
    return v_;
  }
  void set(T v) {
    auto p = std::make_shared<const T>(std::move(v));
    std::lock_guard g(mtx_);
    v_ = std::move(p);
  }

private:
  mutable std::mutex mtx_;
  std::shared_ptr<const T> v_;
};

} // namespace starling::runtime

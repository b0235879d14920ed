#pragma once

// A FIFO that allocates nothing until its first element. libstdc++'s
// std::deque allocates its map and a 512-byte block as soon as it is
// constructed, which cost every idle session half a kilobyte for a queue
// it may never use. Once used, the deque stays (a session that queues
// once will likely queue again; freeing it on every drain would allocate
// for each burst).

#include <cstddef>
#include <deque>
#include <memory>
#include <utility>

namespace starling::broker {

template <class T>
class lazy_deque {
public:
  lazy_deque() = default;
  lazy_deque(const lazy_deque& other)
    : items_(other.items_ ? std::make_unique<std::deque<T>>(*other.items_)
                          : nullptr) {}
  lazy_deque& operator=(const lazy_deque& other) {
    if (this != &other)
      items_ = other.items_ ? std::make_unique<std::deque<T>>(*other.items_)
                            : nullptr;
    return *this;
  }
  lazy_deque(lazy_deque&&) noexcept = default;
  lazy_deque& operator=(lazy_deque&&) noexcept = default;

  bool empty() const noexcept { return !items_ || items_->empty(); }
  std::size_t size() const noexcept { return items_ ? items_->size() : 0; }

  void push_back(T value) {
    if (!items_)
      items_ = std::make_unique<std::deque<T>>();
    items_->push_back(std::move(value));
  }
  /// Precondition: not empty (as for std::deque).
  void pop_front() { items_->pop_front(); }
  T& front() { return items_->front(); }
  const T& front() const { return items_->front(); }

  /// The elements, oldest first.
  const std::deque<T>& items() const noexcept {
    return items_ ? *items_ : empty_items();
  }
  auto begin() const noexcept { return items().begin(); }
  auto end() const noexcept { return items().end(); }

  friend bool operator==(const lazy_deque& a, const lazy_deque& b) {
    return a.items() == b.items();
  }

private:
  static const std::deque<T>& empty_items() {
    static const std::deque<T> none;
    return none;
  }

  std::unique_ptr<std::deque<T>> items_;
};

} // namespace starling::broker

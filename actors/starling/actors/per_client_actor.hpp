#pragma once

#include <cstddef>
#include <utility>

#include <caf/resumable.hpp>
#include <caf/stateful_actor.hpp>

namespace starling::actors {

/// The class of an actor a node keeps one of per client (a session): its
/// behaviour is built once and shared by every actor of the class, instead
/// of once per actor. A CAF behaviour holds a copy of each handler (with
/// what it captures) and a dispatch table: 770 B for a session's twenty
/// handlers, a tenth of an idle client. A shared handler cannot capture its
/// actor, so it asks `current()`: the actor of this class that this thread
/// is running (CAF runs one actor at a time per thread, and an actor's
/// handlers only inside `resume`).
template <class State>
class per_client_actor : public caf::stateful_actor<State> {
public:
  using super = caf::stateful_actor<State>;
  using super::super;

  caf::resumable::resume_result resume(caf::execution_unit* host,
                                       size_t max_throughput) override {
    auto outer = std::exchange(current_, this);
    auto result = super::resume(host, max_throughput);
    current_ = outer;
    return result;
  }

  /// The actor whose handler runs on this thread (null outside them).
  static per_client_actor* current() noexcept {
    return current_;
  }

private:
  static inline thread_local per_client_actor* current_ = nullptr;
};

} // namespace starling::actors

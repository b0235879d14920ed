#pragma once

// Asking N actors and answering once all have replied: the one helper for
// the pattern (a shared count, one reply per target, a final step that runs
// exactly once, at once when there is no target).

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include <caf/all.hpp>

namespace starling::actors {

/// Asks each of `targets` `msg...`, each bounded by `timeout`.
/// `on_answer(i, answer...)` takes the i-th target's answer (of types
/// `Answer...`), `on_failed(i, err)` its failure or timeout; `done()` runs
/// once, after every target has answered or failed.
template <class... Answer, class Self, class OnAnswer, class OnFailed,
          class... Ts>
void gather(Self* self, const std::vector<caf::actor>& targets,
            std::chrono::milliseconds timeout, OnAnswer on_answer,
            OnFailed on_failed, std::function<void()> done, const Ts&... msg) {
  auto pending = std::make_shared<size_t>(targets.size() + 1);
  auto arrive = [pending, done = std::move(done)] {
    if (--*pending == 0)
      done();
  };
  for (size_t i = 0; i < targets.size(); ++i)
    self->request(targets[i], timeout, msg...)
      .then(
        [=](const Answer&... xs) mutable {
          on_answer(i, xs...);
          arrive();
        },
        [=](caf::error& err) mutable {
          on_failed(i, err);
          arrive();
        });
  arrive(); // every target was asked
}

} // namespace starling::actors

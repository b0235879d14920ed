#pragma once

// Writes whose answer only confirms them (a seqno, a flag): the answer is
// matched to its request instead of straying into the asking actor's
// behaviour, and a failure is logged with what was being done.

#include <string>
#include <utility>

#include <caf/all.hpp>

#include "starling/actors/wire/node.hpp"
#include "starling/runtime/log.hpp"

namespace starling::actors {

/// Asks `to` with `xs...`; an `Answer` is the confirmation, an error is
/// logged as "<what>: <reason>".
template <class Answer, class Self, class... Ts>
void send_confirmed(Self* self, const caf::actor& to, runtime::logger* log,
                    std::string what, Ts&&... xs) {
  self->request(to, caf::infinite, std::forward<Ts>(xs)...)
    .then([](const Answer&) {},
          [log, what = std::move(what)](caf::error& err) {
            log->warning(what + ": " + describe(err));
          });
}

} // namespace starling::actors

#pragma once

#include <cstdint>
#include <string>

#include <caf/result.hpp>

#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"

namespace starling::actors {

/// The answer every listed actor gives to `inspect` (remsh `actors()`): its
/// one-line state and its mailbox length, read on its own thread. Only local
/// or authenticated askers get it; `state` is called after that check.
template <class Self, class State>
caf::result<std::string, uint64_t>
inspect_reply(Self* self, const peer_registry& peers, State state) {
  if (!peers.allowed(self->current_sender()))
    return fail("not authenticated");
  return {state(), static_cast<uint64_t>(self->mailbox().size())};
}

} // namespace starling::actors

#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include <caf/expected.hpp>
#include <caf/io/abstract_broker.hpp>
#include <caf/io/accept_handle.hpp>

namespace starling::actors::mqtt {

/// Opens a TCP listening socket on `host`:`port` for `self`, as CAF's
/// `add_tcp_doorman` does, but every connection it accepts gets an MQTT
/// socket (actors/src/mqtt/socket.cpp) instead of CAF's default one:
/// - one read per readiness event: the event loop is level-triggered, so
///   what is left is read on the next turn, and the read CAF would make to
///   find the socket empty is saved;
/// - one read buffer for all of them instead of one per socket;
/// - what the listener writes is sent with one send(2), at once when the
///   listener has no more mail, else right after its run, instead of CAF
///   registering the socket for writability and removing it again (two
///   epoll_ctl calls and a turn of the loop per burst); only what the
///   socket does not take goes CAF's way.
/// Returns the handle and the bound port.
caf::expected<std::pair<caf::io::accept_handle, uint16_t>>
add_mqtt_doorman(caf::io::abstract_broker* self, uint16_t port,
                 const std::string& host);

} // namespace starling::actors::mqtt

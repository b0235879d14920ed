#pragma once

// The server side of MQTT over WebSocket (MQTT 5 §6, EMQX's ws listener):
// the HTTP/1.1 upgrade on `path` with subprotocol `mqtt`, then binary
// frames whose payloads, concatenated, are the MQTT byte stream. The HTTP
// parsing, the handshake, framing, masking, ping/pong and the close
// handshake are websocketpp's (Debian's libwebsocketpp-dev), run on its
// iostream transport so that bytes come from and go to our own socket.
// C++17-clean: websocketpp 0.8.2 does not compile as C++20.

#include <memory>
#include <string>

#include "starling/transport/layer.hpp"

namespace starling::transport {

struct websocket_options {
  std::string path = "/mqtt";
  /// Largest WebSocket message accepted (larger: close 1009).
  std::size_t max_message_size = 1 << 20;
};

class websocket_layer final : public layer {
public:
  explicit websocket_layer(const websocket_options& opts);
  ~websocket_layer() override;

  void receive(const std::uint8_t* data, std::size_t size, bytes& up,
               bytes& down) override;
  void send(const std::uint8_t* data, std::size_t size, bytes& down) override;
  void close(bytes& down) override;
  const std::string& error() const override {
    return error_;
  }
  bool peer_closed() const override {
    return peer_closed_;
  }

  /// The upgrade has completed.
  bool established() const noexcept {
    return established_;
  }
  /// The subprotocol agreed on ("mqtt"), once established.
  const std::string& subprotocol() const noexcept {
    return subprotocol_;
  }

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  bool established_ = false;
  bool peer_closed_ = false;
  std::string error_;
  std::string subprotocol_;
  bytes pending_; ///< sent before the upgrade completed

  friend struct websocket_handlers;
};

} // namespace starling::transport

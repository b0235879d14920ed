#pragma once

// A byte stream between a socket and the MQTT codec, as a stack of layers
// (TLS, WebSocket, or both: wss is WebSocket over TLS). No sockets here:
// the connection actor hands over what it read and writes what comes back.
// Kept C++17-clean: the WebSocket layer's translation unit is C++17.
//
//   socket --receive--> layer 0 --up--> layer 1 --up--> ... --> MQTT bytes
//   socket <--down----- layer 0 <-send- layer 1 <-send- ... <-- MQTT bytes
//
// A layer's own replies (a TLS handshake record, a WebSocket pong or close
// frame) go down through the layers below it, so a WebSocket pong over TLS
// is encrypted like any other frame.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace starling::transport {

using bytes = std::vector<std::uint8_t>;

class layer {
public:
  virtual ~layer() = default;

  /// Bytes from below. What they decode to for the layer above is appended
  /// to `up`, what this layer must send below (handshake, pong) to `down`.
  virtual void receive(const std::uint8_t* data, std::size_t size, bytes& up,
                       bytes& down)
    = 0;

  /// Bytes from above to send: their encoding is appended to `down`. Sent
  /// before the handshake completed, they wait inside the layer.
  virtual void send(const std::uint8_t* data, std::size_t size, bytes& down)
    = 0;

  /// Ends the stream politely (TLS close_notify, WebSocket close frame).
  virtual void close(bytes& down) = 0;

  /// Why the stream cannot go on (a failed handshake, a protocol error);
  /// empty while it is fine. Set once; the connection is then closed.
  virtual const std::string& error() const = 0;

  /// The peer ended the stream cleanly (close_notify, close frame).
  virtual bool peer_closed() const = 0;
};

/// Layers bottom (next to the socket) to top (next to the codec).
class stack {
public:
  void push(std::unique_ptr<layer> l) {
    layers_.push_back(std::move(l));
  }

  bool empty() const noexcept {
    return layers_.empty();
  }

  /// Socket bytes in; MQTT bytes appended to `app`, socket bytes to `wire`.
  void receive(const std::uint8_t* data, std::size_t size, bytes& app,
               bytes& wire);

  /// MQTT bytes out; socket bytes appended to `wire`.
  void send(const std::uint8_t* data, std::size_t size, bytes& wire);

  /// Closes every layer, top first; socket bytes appended to `wire`.
  void close(bytes& wire);

  /// The first layer's error, bottom first ("" when none).
  std::string error() const;

  bool peer_closed() const;

  /// Layer `i` (0 = next to the socket), for layer-specific questions.
  layer* at(std::size_t i) const {
    return i < layers_.size() ? layers_[i].get() : nullptr;
  }

private:
  /// Sends `data` from layer `from` downwards: through every layer below it.
  void send_below(std::size_t from, const bytes& data, bytes& wire);

  std::vector<std::unique_ptr<layer>> layers_;
};

} // namespace starling::transport

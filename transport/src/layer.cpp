#include "starling/transport/layer.hpp"

namespace starling::transport {

void stack::send_below(std::size_t from, const bytes& data, bytes& wire) {
  if (data.empty())
    return;
  if (from == 0) {
    wire.insert(wire.end(), data.begin(), data.end());
    return;
  }
  bytes lower;
  layers_[from - 1]->send(data.data(), data.size(), lower);
  send_below(from - 1, lower, wire);
}

void stack::receive(const std::uint8_t* data, std::size_t size, bytes& app,
                    bytes& wire) {
  if (layers_.empty()) {
    app.insert(app.end(), data, data + size);
    return;
  }
  bytes in(data, data + size);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    bytes up, down;
    layers_[i]->receive(in.data(), in.size(), up, down);
    send_below(i, down, wire);
    if (!layers_[i]->error().empty())
      return;
    in = std::move(up);
    if (in.empty())
      return;
  }
  app.insert(app.end(), in.begin(), in.end());
}

void stack::send(const std::uint8_t* data, std::size_t size, bytes& wire) {
  if (layers_.empty()) {
    wire.insert(wire.end(), data, data + size);
    return;
  }
  bytes down;
  layers_.back()->send(data, size, down);
  send_below(layers_.size() - 1, down, wire);
}

void stack::close(bytes& wire) {
  for (std::size_t i = layers_.size(); i-- > 0;) {
    bytes down;
    layers_[i]->close(down);
    send_below(i, down, wire);
  }
}

std::string stack::error() const {
  for (auto& l : layers_)
    if (!l->error().empty())
      return l->error();
  return {};
}

bool stack::peer_closed() const {
  for (auto& l : layers_)
    if (l->peer_closed())
      return true;
  return false;
}

} // namespace starling::transport

// Compiled as C++17 (see transport/CMakeLists.txt).

#include "starling/transport/websocket.hpp"

#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/core.hpp>
#include <websocketpp/logger/stub.hpp>
#include <websocketpp/server.hpp>

namespace starling::transport {

namespace {

/// websocketpp's core server, single-threaded (each connection belongs to
/// one actor), without its loggers (we log the outcome ourselves).
struct ws_config : websocketpp::config::core {
  typedef ws_config type;
  typedef websocketpp::config::core base;
  typedef websocketpp::concurrency::none concurrency_type;
  typedef base::request_type request_type;
  typedef base::response_type response_type;
  typedef base::message_type message_type;
  typedef base::con_msg_manager_type con_msg_manager_type;
  typedef base::endpoint_msg_manager_type endpoint_msg_manager_type;
  typedef websocketpp::log::stub alog_type;
  typedef websocketpp::log::stub elog_type;
  typedef base::rng_type rng_type;
  struct transport_config : base::transport_config {
    typedef type::concurrency_type concurrency_type;
    typedef type::alog_type alog_type;
    typedef type::elog_type elog_type;
    typedef type::request_type request_type;
    typedef type::response_type response_type;
    static bool const enable_multithreading = false;
  };
  typedef websocketpp::transport::iostream::endpoint<transport_config>
    transport_type;
  static bool const enable_multithreading = false;
};

using server = websocketpp::server<ws_config>;
using connection_ptr = server::connection_ptr;

/// Subprotocols accepted, in our order of preference: MQTT 5 §6 names
/// "mqtt"; MQTT 3.1 clients ask for "mqttv3.1".
const char* const accepted_subprotocols[] = {"mqtt", "mqttv3.1"};

} // namespace

struct websocket_layer::impl {
  server endpoint;
  connection_ptr con;
  bytes* up = nullptr;   ///< where payloads go during receive
  bytes* down = nullptr; ///< where the connection writes
  std::string path;
};

websocket_layer::websocket_layer(const websocket_options& opts)
  : impl_(std::make_unique<impl>()) {
  auto& ep = impl_->endpoint;
  impl_->path = opts.path;
  ep.clear_access_channels(websocketpp::log::alevel::all);
  ep.clear_error_channels(websocketpp::log::elevel::all);
  ep.set_validate_handler([this](websocketpp::connection_hdl) {
    auto& con = *impl_->con;
    auto resource = con.get_resource();
    auto path = resource.substr(0, resource.find('?'));
    if (path != impl_->path) {
      error_ = "WebSocket upgrade refused: path " + path + " (expected "
               + impl_->path + ")";
      con.set_status(websocketpp::http::status_code::not_found);
      return false;
    }
    for (const char* want : accepted_subprotocols)
      for (auto& offered : con.get_requested_subprotocols())
        if (offered == want) {
          con.select_subprotocol(offered);
          subprotocol_ = offered;
          return true;
        }
    error_ = "WebSocket upgrade refused: no MQTT subprotocol offered "
             "(Sec-WebSocket-Protocol: mqtt)";
    con.set_status(websocketpp::http::status_code::bad_request);
    return false;
  });
  ep.set_open_handler([this](websocketpp::connection_hdl) {
    established_ = true;
    if (!pending_.empty()) {
      auto held = std::move(pending_);
      pending_.clear();
      send(held.data(), held.size(), *impl_->down);
    }
  });
  ep.set_fail_handler([this](websocketpp::connection_hdl) {
    if (error_.empty())
      error_ = "WebSocket handshake failed: " + impl_->con->get_ec().message();
  });
  ep.set_close_handler([this](websocketpp::connection_hdl) {
    peer_closed_ = true;
    auto code = impl_->con->get_remote_close_code();
    auto local = impl_->con->get_local_close_code();
    // A close we started for a protocol error, or the peer's error code.
    if (local != websocketpp::close::status::normal
        && local != websocketpp::close::status::no_status && error_.empty())
      error_ = "WebSocket closed: " + impl_->con->get_local_close_reason()
               + " (" + std::to_string(local) + ")";
    else if (code != websocketpp::close::status::normal
             && code != websocketpp::close::status::no_status
             && code != websocketpp::close::status::going_away
             && error_.empty())
      error_ = "WebSocket closed by the peer with code " + std::to_string(code);
  });
  ep.set_message_handler([this](websocketpp::connection_hdl,
                                server::message_ptr msg) {
    auto& payload = msg->get_payload();
    if (impl_->up)
      impl_->up->insert(impl_->up->end(), payload.begin(), payload.end());
  });
  websocketpp::lib::error_code ec;
  impl_->con = ep.get_connection();
  impl_->con->set_max_message_size(opts.max_message_size);
  impl_->con->set_write_handler(
    [this](websocketpp::connection_hdl, char const* data, size_t n) {
      if (impl_->down)
        impl_->down->insert(impl_->down->end(), data, data + n);
      return websocketpp::lib::error_code();
    });
  impl_->con->start();
}

websocket_layer::~websocket_layer() {
  impl_->up = impl_->down = nullptr;
  // The iostream transport keeps a pending read bound to the connection's
  // own shared_ptr; ending the transport releases it (else every
  // connection would leak: found by websocket_frame_fuzz).
  impl_->con->fatal_error();
}

void websocket_layer::receive(const std::uint8_t* data, std::size_t size,
                              bytes& up, bytes& down) {
  if (!error_.empty() || peer_closed_)
    return;
  impl_->up = &up;
  impl_->down = &down;
  auto chars = reinterpret_cast<const char*>(data);
  std::size_t off = 0;
  while (off < size && error_.empty() && !peer_closed_) {
    auto n = impl_->con->read_some(chars + off, size - off);
    if (n == 0)
      break; // the connection reads no more (failed or closing)
    off += n;
  }
  if (off < size && error_.empty() && !peer_closed_)
    error_ = "WebSocket: the connection stopped reading ("
             + impl_->con->get_ec().message() + ")";
  impl_->up = nullptr;
  impl_->down = nullptr;
}

void websocket_layer::send(const std::uint8_t* data, std::size_t size,
                           bytes& down) {
  if (!error_.empty() || peer_closed_ || size == 0)
    return;
  if (!established_) {
    pending_.insert(pending_.end(), data, data + size);
    return;
  }
  auto* saved = impl_->down;
  impl_->down = &down;
  auto ec = impl_->con->send(data, size, websocketpp::frame::opcode::binary);
  impl_->down = saved;
  if (ec && error_.empty())
    error_ = "WebSocket send failed: " + ec.message();
}

void websocket_layer::close(bytes& down) {
  if (!established_ || peer_closed_ || !error_.empty())
    return;
  auto* saved = impl_->down;
  impl_->down = &down;
  websocketpp::lib::error_code ec;
  impl_->con->close(websocketpp::close::status::normal, "", ec);
  impl_->down = saved;
}

} // namespace starling::transport

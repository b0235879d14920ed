#include "starling/actors/wire/node.hpp"

#include "starling/actors/wire/db.hpp"
#include "starling/actors/wire/mqtt.hpp"

#include <caf/message.hpp>
#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>

namespace starling::actors {

namespace {
constexpr caf::atom_value error_category = caf::atom("starling");
}

member_wire to_wire(const runtime::member& m) {
  return {m.name,
          m.host,
          m.dist_port,
          m.data_port,
          runtime::to_string(m.role),
          runtime::to_string(m.status),
          m.started_at_ms};
}

std::optional<runtime::member> from_wire(const member_wire& w) {
  runtime::member m;
  m.name = w.name;
  m.host = w.host;
  m.dist_port = w.port;
  m.data_port = w.data_port;
  if (w.role == "core")
    m.role = runtime::node_role::core;
  else if (w.role == "replicant")
    m.role = runtime::node_role::replicant;
  else
    return std::nullopt;
  auto status = runtime::member_status_from(w.status);
  if (!status)
    return std::nullopt;
  m.status = *status;
  m.started_at_ms = w.started_at_ms;
  return m;
}

void register_wire_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<member_wire>("starling.member_wire");
  cfg.add_message_type<std::vector<member_wire>>("starling.member_wires");
  cfg.add_message_type<view_wire>("starling.view_wire");
  cfg.add_message_type<std::vector<view_wire>>("starling.view_wires");
  cfg.add_message_type<heal_record_wire>("starling.heal_record_wire");
  db::register_db_wire_types(cfg);
  mqtt::register_message_wire_types(cfg);
  cfg.add_error_category(error_category,
                         [](uint8_t, caf::atom_value, const caf::message& msg) {
                           return msg.match_elements<std::string>()
                                    ? msg.get_as<std::string>(0)
                                    : std::string("starling error");
                         });
}

namespace {
constexpr uint8_t text_code = 1;
constexpr uint8_t removed_code = 2;
} // namespace

caf::error fail(std::string text) {
  return caf::error(text_code, error_category, caf::make_message(std::move(text)));
}

caf::error fail_removed(std::string text) {
  return caf::error(removed_code, error_category,
                    caf::make_message(std::move(text)));
}

caf::error not_authenticated() {
  return fail("refused: the sender has not passed the cookie handshake");
}

caf::error local_only() {
  return fail("refused: only this node's own actors may ask this");
}

bool is_removed(const caf::error& err) {
  return err.category() == error_category && err.code() == removed_code;
}

bool is_refusal(const caf::error& err) {
  return err.category() == error_category && err.code() == text_code;
}

std::string describe(const caf::error& err) {
  if (!err)
    return "no error";
  if (err.category() == error_category
      && err.context().match_elements<std::string>())
    return err.context().get_as<std::string>(0);
  if (err.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(err.code())) {
      case caf::sec::request_timeout:
        return "no answer in time (request timed out)";
      case caf::sec::cannot_connect_to_node:
        return "cannot connect (connection refused or host unreachable)";
      case caf::sec::disconnect_during_handshake:
        return "the connection was closed during the handshake";
      case caf::sec::request_receiver_down:
        return "the remote side went down before answering";
      case caf::sec::remote_linking_failed:
        return "remote linking failed";
      default:
        break;
    }
  }
  if (err.category() == caf::atom("exit")) {
    switch (static_cast<caf::exit_reason>(err.code())) {
      case caf::exit_reason::remote_link_unreachable:
        return "connection lost: the process died or sent no heartbeat "
               "within node.tick_ms";
      case caf::exit_reason::user_shutdown:
        return "shut down";
      case caf::exit_reason::normal:
        return "exited normally";
      case caf::exit_reason::kill:
        return "killed";
      default:
        break;
    }
  }
  return caf::to_string(err);
}

} // namespace starling::actors

#include "starling/broker/broker_settings.hpp"

namespace starling::broker {

broker_settings broker_settings_from(const runtime::node_config& cfg) {
  broker_settings s;
  s.tcp = cfg.address("mqtt.listener.tcp");
  auto& ch = s.channel;
  ch.max_packet_size = static_cast<uint32_t>(cfg.number("mqtt.max_packet_size"));
  ch.max_clientid_len = cfg.number("mqtt.max_clientid_len");
  ch.max_topic_alias = static_cast<uint16_t>(cfg.number("mqtt.max_topic_alias"));
  ch.max_qos = static_cast<qos>(cfg.number("mqtt.max_qos_allowed"));
  ch.retain_available = cfg.flag("mqtt.retain_available");
  ch.max_session_expiry_interval =
    static_cast<uint32_t>(cfg.number("mqtt.session_expiry_max_s"));
  ch.v3_session_expiry_interval = ch.max_session_expiry_interval;
  if (auto ka = cfg.number("mqtt.server_keepalive_s"); ka > 0)
    ch.server_keepalive = static_cast<uint16_t>(ka);
  ch.session.max_inflight = static_cast<uint16_t>(cfg.number("mqtt.max_inflight"));
  ch.session.max_mqueue_len = cfg.number("mqtt.max_mqueue_len");
  ch.session.mqueue_store_qos0 = cfg.flag("mqtt.mqueue_store_qos0");
  ch.session.max_awaiting_rel =
    static_cast<uint16_t>(cfg.number("mqtt.max_awaiting_rel"));
  s.connect_timeout_ms =
    static_cast<uint32_t>(cfg.number("mqtt.connect_timeout_ms"));
  s.write_high_watermark = cfg.number("mqtt.write_buffer.high_watermark");
  s.write_hard_limit = cfg.number("mqtt.write_buffer.hard_limit");
  s.shared = *shared_strategy_from(cfg.text("mqtt.shared_subscription_strategy"));
  s.sys_interval_ms = static_cast<uint32_t>(cfg.number("mqtt.sys_interval_ms"));
  for (const char* name : {"tcp", "ssl", "ws", "wss"}) {
    std::string key = std::string("mqtt.listener.") + name;
    if (cfg.text(key).empty())
      continue;
    listener_settings l;
    l.name = name;
    l.address = cfg.address(key);
    l.tls = l.name == "ssl" || l.name == "wss";
    l.websocket = l.name == "ws" || l.name == "wss";
    l.max_connections = cfg.number(key + ".max_connections");
    l.max_conn_rate = cfg.number(key + ".max_conn_rate");
    s.listeners.push_back(std::move(l));
  }
  s.ssl.certfile = cfg.text("mqtt.ssl.certfile");
  s.ssl.keyfile = cfg.text("mqtt.ssl.keyfile");
  s.ssl.cacertfile = cfg.text("mqtt.ssl.cacertfile");
  s.ssl.verify_peer = cfg.text("mqtt.ssl.verify") == "verify_peer";
  s.ssl.fail_if_no_peer_cert = cfg.flag("mqtt.ssl.fail_if_no_peer_cert");
  s.ssl.peer_cert_as_username = cfg.text("mqtt.ssl.peer_cert_as_username") == "cn";
  auto& a = s.access;
  a.allow_anonymous = cfg.flag("authn.allow_anonymous");
  a.no_match_allows = cfg.text("authz.no_match") == "allow";
  a.disconnect_on_deny = cfg.text("authz.deny_action") == "disconnect";
  a.max_failures = static_cast<uint32_t>(cfg.number("authn.max_failures"));
  a.failure_window_ms = static_cast<int64_t>(cfg.duration_ms("authn.failure_window"));
  ch.disconnect_on_deny = a.disconnect_on_deny;
  s.password_file = cfg.text("authn.password_file");
  s.acl_file = cfg.text("authz.file");
  return s;
}

} // namespace starling::broker

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
  return s;
}

} // namespace starling::broker

// The channel's dispatch, and how connections and sessions end: client
// DISCONNECT, protocol violations, kicks, lost connections, the Will, session
// expiry, and the timers that drive them. CONNECT is in channel_connect.cpp,
// PUBLISH flows in channel_publish.cpp, SUBSCRIBE in channel_subscribe.cpp.

#include "starling/broker/channel.hpp"

#include <cassert>
#include <cmath>
#include <utility>

#include "channel_rules.hpp"

namespace starling::broker {

namespace {

/// Kicks after which the client is expected to carry on elsewhere, so its
/// Will (a death notice) would be wrong.
constexpr bool client_moves_on(reason_code code) noexcept {
  return code == reason_code::session_taken_over
         || code == reason_code::use_another_server
         || code == reason_code::server_moved;
}

/// Room kept in a packet for everything but the Reason String.
constexpr std::size_t reason_string_headroom = 32;

} // namespace

std::string_view to_string(channel_state state) noexcept {
  switch (state) {
    case channel_state::idle: return "idle";
    case channel_state::connecting: return "connecting";
    case channel_state::connected: return "connected";
    case channel_state::disconnected: return "disconnected";
    case channel_state::closed: return "closed";
  }
  return "unknown";
}

std::string_view to_string(timer_kind kind) noexcept {
  switch (kind) {
    case timer_kind::keepalive: return "keepalive";
    case timer_kind::await_rel: return "await_rel";
    case timer_kind::will_delay: return "will_delay";
    case timer_kind::session_expiry: return "session_expiry";
  }
  return "unknown";
}

channel::channel(std::shared_ptr<const channel_config> config,
                 channel_hooks hooks)
  : config_(std::move(config)), hooks_(std::move(hooks)) {
  assert(config_ && hooks_.random);
}

channel::channel(channel_config config, channel_hooks hooks)
  : channel(std::make_shared<const channel_config>(std::move(config)),
            std::move(hooks)) {}

void channel::send(packet pkt, effect_list& out) const {
  out.push_back(send_packet{std::move(pkt), version_});
}

std::optional<std::string> channel::reason_string(std::string_view why) const {
  // MQTT 5 §3.14.2.2.3: never grow a packet past the client's maximum.
  if (why.empty()
      || (client_max_packet_size_
          && why.size() + reason_string_headroom > *client_max_packet_size_))
    return std::nullopt;
  return std::string(why);
}

// -- inputs -------------------------------------------------------------------

effect_list channel::handle_packet(const packet& pkt, std::int64_t now) {
  effect_list out;
  switch (state_) {
    case channel_state::idle:
      if (const auto* c = std::get_if<connect>(&pkt)) {
        on_connect(*c, now, out);
      } else {
        // The decoder refuses this already; without a CONNECT there is no
        // dialect to answer in (MQTT 5 §3.1: close).
        out.push_back(close_connection{reason_code::protocol_error,
                                       "first packet is not CONNECT"});
        connection_open_ = false;
        state_ = channel_state::closed;
      }
      break;
    case channel_state::connecting:
      last_activity_ms_ = now;
      if (!connection_open_)
        break;
      if (early_packets_.size() >= config_->max_packets_before_connack) {
        out.push_back(close_connection{
          reason_code::server_busy,
          "too many packets pipelined before CONNACK"});
        connection_open_ = false;
        early_packets_.clear();
        break;
      }
      early_packets_.push_back(pkt);
      break;
    case channel_state::connected:
      last_activity_ms_ = now;
      dispatch(pkt, now, out);
      break;
    case channel_state::disconnected:
    case channel_state::closed:
      break; // the connection is being closed: late packets are ignored
  }
  return out;
}

void channel::dispatch(const packet& pkt, std::int64_t now, effect_list& out) {
  switch (type_of(pkt)) {
    case packet_type::publish:
      return on_publish(std::get<publish>(pkt), now, out);
    case packet_type::puback:
      return on_puback(std::get<puback>(pkt), now, out);
    case packet_type::pubrec:
      return on_pubrec(std::get<pubrec>(pkt), now, out);
    case packet_type::pubrel:
      return on_pubrel(std::get<pubrel>(pkt), now, out);
    case packet_type::pubcomp:
      return on_pubcomp(std::get<pubcomp>(pkt), now, out);
    case packet_type::subscribe:
      return on_subscribe(std::get<subscribe>(pkt), now, out);
    case packet_type::unsubscribe:
      return on_unsubscribe(std::get<unsubscribe>(pkt), out);
    case packet_type::pingreq:
      return send(pingresp{}, out);
    case packet_type::disconnect:
      return on_disconnect(std::get<disconnect>(pkt), now, out);
    case packet_type::connect:
      return protocol_violation(reason_code::protocol_error,
                                "second CONNECT on one connection", now, out);
    case packet_type::auth:
      // Enhanced authentication is never agreed (a CONNECT asking for it is
      // refused), and AUTH without it is a Protocol Error (§4.12).
      return protocol_violation(reason_code::protocol_error,
                                "AUTH without an Authentication Method in "
                                "CONNECT",
                                now, out);
    default:
      return protocol_violation(reason_code::protocol_error,
                                std::string(to_string(type_of(pkt)))
                                  + " is sent by servers, not clients",
                                now, out);
  }
}

effect_list channel::handle_decode_error(const codec_error& error,
                                         std::optional<protocol_version> version,
                                         std::int64_t now) {
  effect_list out;
  switch (state_) {
    case channel_state::idle:
      if (version) {
        version_ = *version;
        refuse_connect(error.code, error.message, out);
      } else if (error.code == reason_code::unsupported_protocol_version) {
        // An unknown protocol level: answer in 3.1.1, return code 1, which
        // is what clients of every older level expect (3.1.1 §3.1.2.2).
        version_ = protocol_version::v3_1_1;
        refuse_connect(error.code, error.message, out);
      } else {
        out.push_back(close_connection{error.code, error.message});
        connection_open_ = false;
        state_ = channel_state::closed;
      }
      break;
    case channel_state::connecting:
      // Nothing may precede CONNACK: close without a word. The host still
      // answers `open_session`, and the session is kept as after any loss.
      if (connection_open_)
        out.push_back(close_connection{error.code, error.message});
      connection_open_ = false;
      break;
    case channel_state::connected:
      protocol_violation(error.code, error.message, now, out);
      break;
    case channel_state::disconnected:
    case channel_state::closed:
      break;
  }
  return out;
}

effect_list channel::connection_lost(std::int64_t now) {
  effect_list out;
  switch (state_) {
    case channel_state::idle:
      state_ = channel_state::closed;
      break;
    case channel_state::connecting:
      break; // `session_opened` or `session_refused` finishes the job
    case channel_state::connected:
      connection_open_ = false;
      enter_disconnected(true, now, out);
      break;
    case channel_state::disconnected:
    case channel_state::closed:
      break;
  }
  connection_open_ = false;
  return out;
}

effect_list channel::kick(reason_code code, std::int64_t now,
                          const std::string& server_reference) {
  effect_list out;
  if (state_ == channel_state::connecting && connection_open_) {
    out.push_back(
      close_connection{code, "connection closed by the broker before CONNACK"});
    connection_open_ = false;
    return out;
  }
  if (state_ != channel_state::connected)
    return out;
  const std::string why = "connection closed by the broker: "
                          + std::string(to_string(code));
  if (is_v5()) {
    disconnect d{code, {}};
    d.props.reason_string = reason_string(why);
    if (!server_reference.empty())
      d.props.server_reference = server_reference;
    send(std::move(d), out);
  }
  close(code, why, !client_moves_on(code), now, out);
  return out;
}

effect_list channel::end_session(reason_code code, std::int64_t now) {
  auto out = kick(code, now);
  if (session_ && state_ == channel_state::disconnected)
    finish_session("session discarded by the broker", now, out);
  return out;
}

std::optional<session> channel::release_session() {
  if (!session_ || state_ != channel_state::disconnected)
    return std::nullopt;
  auto taken = std::move(session_);
  session_.reset();
  will_.reset();
  keepalive_due_ms_.reset();
  await_rel_due_ms_.reset();
  will_due_ms_.reset();
  expiry_due_ms_.reset();
  state_ = channel_state::closed;
  return taken;
}

void channel::activity(std::int64_t now) noexcept {
  last_activity_ms_ = now;
}

// -- ending connections -------------------------------------------------------

void channel::on_disconnect(const disconnect& d, std::int64_t now,
                            effect_list& out) {
  if (is_v5() && d.props.session_expiry_interval) {
    const auto requested = *d.props.session_expiry_interval;
    if (connect_expiry_zero_ && requested != 0)
      return protocol_violation(reason_code::protocol_error,
                                "DISCONNECT sets a Session Expiry Interval "
                                "after CONNECT asked for 0",
                                now, out);
    session_expiry_ = capped_session_expiry(requested);
    session_->set_expiry_interval(session_expiry_);
  }
  // The Will is dropped only by a normal disconnection (§3.14.4); 0x04 and
  // the error codes a client may send keep it.
  const bool with_will =
    is_v5() && d.code != reason_code::normal_disconnection;
  close(d.code, "client sent DISCONNECT", with_will, now, out);
}

void channel::protocol_violation(reason_code code, std::string why,
                                 std::int64_t now, effect_list& out) {
  if (is_v5()) {
    disconnect d{code, {}};
    d.props.reason_string = reason_string(why);
    send(std::move(d), out);
  }
  close(code, std::move(why), true, now, out);
}

void channel::close(reason_code code, std::string why, bool with_will,
                    std::int64_t now, effect_list& out) {
  out.push_back(close_connection{code, std::move(why)});
  connection_open_ = false;
  enter_disconnected(with_will, now, out);
}

void channel::enter_disconnected(bool with_will, std::int64_t now,
                                 effect_list& out) {
  state_ = channel_state::disconnected;
  if (keepalive_due_ms_) {
    keepalive_due_ms_.reset();
    out.push_back(cancel_timer{timer_kind::keepalive});
  }
  aliases_.reset();
  early_packets_.clear();
  if (!with_will)
    will_.reset();
  const auto expiry = session_->expiry_interval();
  if (expiry == 0)
    return finish_session("session ends with its connection", now, out);
  // The Will waits min(Will Delay, Session Expiry) (§3.1.3.2.2); when the
  // delay is the longer one, the session's end publishes it.
  if (will_) {
    const auto delay = will_->props.will_delay_interval.value_or(0);
    if (delay == 0) {
      publish_will(now, out);
    } else if (delay < expiry) {
      will_due_ms_ = now + detail::seconds_to_ms(delay);
      out.push_back(set_timer{timer_kind::will_delay, *will_due_ms_});
    }
  }
  if (expiry != session_never_expires) {
    expiry_due_ms_ = now + detail::seconds_to_ms(expiry);
    out.push_back(set_timer{timer_kind::session_expiry, *expiry_due_ms_});
  }
}

void channel::publish_will(std::int64_t now, effect_list& out) {
  if (will_due_ms_) {
    will_due_ms_.reset();
    out.push_back(cancel_timer{timer_kind::will_delay});
  }
  if (!will_)
    return;
  out.push_back(publish_message{make_will_message(*will_, client_id_, now),
                                true});
  will_.reset();
}

void channel::finish_session(std::string why, std::int64_t now,
                             effect_list& out) {
  publish_will(now, out);
  for (const auto& [key, sub] : session_->subscriptions())
    out.push_back(unsubscribe_filter{key, sub.topic_filter, sub.share_group});
  if (expiry_due_ms_) {
    expiry_due_ms_.reset();
    out.push_back(cancel_timer{timer_kind::session_expiry});
  }
  if (await_rel_due_ms_) {
    await_rel_due_ms_.reset();
    out.push_back(cancel_timer{timer_kind::await_rel});
  }
  out.push_back(session_ended{client_id_, std::move(why)});
  session_.reset();
  state_ = channel_state::closed;
}

// -- timers -------------------------------------------------------------------

effect_list channel::handle_timer(timer_kind kind, std::int64_t now) {
  effect_list out;
  // True when `deadline` has passed; re-arms a timer that fired early.
  auto due = [&](std::optional<std::int64_t>& deadline) {
    if (!deadline || state_ != channel_state::disconnected)
      return false;
    if (now < *deadline) {
      out.push_back(set_timer{kind, *deadline});
      return false;
    }
    deadline.reset();
    return true;
  };
  switch (kind) {
    case timer_kind::keepalive:
      on_keepalive_timer(now, out);
      break;
    case timer_kind::await_rel:
      on_await_rel_timer(now, out);
      break;
    case timer_kind::will_delay:
      if (due(will_due_ms_))
        publish_will(now, out);
      break;
    case timer_kind::session_expiry:
      if (due(expiry_due_ms_))
        finish_session("session expired", now, out);
      break;
  }
  return out;
}

namespace {

std::int64_t keepalive_window_ms(std::uint16_t keepalive_s,
                                 double multiplier) noexcept {
  return std::llround(static_cast<double>(keepalive_s)
                      * static_cast<double>(detail::ms_per_second)
                      * multiplier);
}

} // namespace

void channel::arm_keepalive(std::int64_t now, effect_list& out) {
  if (keepalive_s_ == 0)
    return;
  keepalive_due_ms_ =
    now + keepalive_window_ms(keepalive_s_, config_->keepalive_multiplier);
  out.push_back(set_timer{timer_kind::keepalive, *keepalive_due_ms_});
}

void channel::on_keepalive_timer(std::int64_t now, effect_list& out) {
  if (state_ != channel_state::connected || !keepalive_due_ms_)
    return;
  // The timer is not moved on every packet (that would be an effect per
  // packet); it fires at the first possible deadline and is re-armed from
  // the last activity seen.
  const auto deadline =
    last_activity_ms_
    + keepalive_window_ms(keepalive_s_, config_->keepalive_multiplier);
  if (now < deadline) {
    keepalive_due_ms_ = deadline;
    out.push_back(set_timer{timer_kind::keepalive, deadline});
    return;
  }
  keepalive_due_ms_.reset();
  protocol_violation(reason_code::keep_alive_timeout,
                     "no packet for " + std::to_string(now - last_activity_ms_)
                       + " ms with a keepalive of "
                       + std::to_string(keepalive_s_) + " s",
                     now, out);
}

void channel::arm_await_rel(effect_list& out) {
  // The deadline is that of the oldest awaited PUBREL: new ones never make
  // it earlier, so an armed timer stays right.
  if (await_rel_due_ms_ || !session_)
    return;
  if (auto next = session_->next_await_rel_deadline()) {
    await_rel_due_ms_ = *next;
    out.push_back(set_timer{timer_kind::await_rel, *next});
  }
}

void channel::on_await_rel_timer(std::int64_t now, effect_list& out) {
  if (!session_ || !await_rel_due_ms_)
    return;
  if (now < *await_rel_due_ms_) {
    out.push_back(set_timer{timer_kind::await_rel, *await_rel_due_ms_});
    return;
  }
  await_rel_due_ms_.reset();
  session_->expire_awaiting_rel(now);
  arm_await_rel(out);
}

} // namespace starling::broker

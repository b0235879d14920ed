#pragma once

// Drives a channel packet by packet with a fake clock, as the session actor
// would, and picks effects apart for the assertions of the channel tests.

#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "starling/broker/channel.hpp"
#include "starling/broker/codec.hpp"

namespace starling::broker::test {

/// Every effect of type T in `fx`, in order.
template <class T>
std::vector<T> effects_of(const effect_list& fx) {
  std::vector<T> out;
  for (const auto& e : fx)
    if (const auto* x = std::get_if<T>(&e))
      out.push_back(*x);
  return out;
}

/// Every packet of type T sent in `fx`, in order.
template <class T>
std::vector<T> sent(const effect_list& fx) {
  std::vector<T> out;
  for (const auto& e : fx)
    if (const auto* s = std::get_if<send_packet>(&e))
      if (const auto* p = std::get_if<T>(&s->pkt))
        out.push_back(*p);
  return out;
}

/// The one packet of type T sent in `fx`; fails the test otherwise.
template <class T>
T sent_one(const effect_list& fx) {
  auto all = sent<T>(fx);
  REQUIRE(all.size() == 1);
  return all.front();
}

/// How many packets `fx` sends, of any type.
inline std::size_t packets_sent(const effect_list& fx) {
  return effects_of<send_packet>(fx).size();
}

inline bool closes(const effect_list& fx) {
  return !effects_of<close_connection>(fx).empty();
}

inline std::vector<message> published(const effect_list& fx) {
  std::vector<message> out;
  for (const auto& p : effects_of<publish_message>(fx))
    out.push_back(p.msg);
  return out;
}

inline binary bytes(std::string_view text) {
  return binary(text.begin(), text.end());
}

inline connect make_connect(protocol_version version, std::string client_id,
                            bool clean_start = true) {
  connect c;
  c.version = version;
  c.client_id = std::move(client_id);
  c.clean_start = clean_start;
  c.keep_alive = 60;
  return c;
}

inline publish make_publish(std::string topic, qos q, std::uint16_t id = 0,
                            std::string_view payload = "hello") {
  publish p;
  p.topic = std::move(topic);
  p.qos = q;
  p.packet_id = id;
  p.payload = bytes(payload);
  return p;
}

inline subscribe make_subscribe(std::uint16_t id, std::string filter, qos q,
                                subscription_options options = {}) {
  options.qos = q;
  subscribe s;
  s.packet_id = id;
  s.subscriptions.push_back({std::move(filter), options});
  return s;
}

/// A message as the router would hand it over.
inline message make_message(std::string topic, qos q,
                            std::string publisher = "someone-else",
                            std::string_view payload = "payload") {
  message m;
  m.topic = std::move(topic);
  m.payload = shared_binary(bytes(payload));
  m.qos = q;
  m.publisher = std::move(publisher);
  return m;
}

/// Checks what must hold on every connection, whatever the test does:
/// CONNACK is the first packet, nothing is sent after the close, and every
/// packet can be encoded for the connection's version (so no reason code or
/// property is used where MQTT forbids it).
class trace_checker {
public:
  void reset() {
    sent_any_ = false;
    closed_ = false;
  }

  void check(const effect_list& fx) {
    for (const auto& e : fx) {
      if (std::holds_alternative<close_connection>(e))
        closed_ = true;
      const auto* s = std::get_if<send_packet>(&e);
      if (!s)
        continue;
      INFO("packet: " << to_string(type_of(s->pkt)));
      CHECK_FALSE(closed_);
      if (!sent_any_)
        CHECK(std::holds_alternative<connack>(s->pkt));
      sent_any_ = true;
      binary wire;
      auto error = encode(s->pkt, s->version, wire);
      if (error)
        FAIL_CHECK("cannot be encoded: " << error->message);
    }
  }

private:
  bool sent_any_ = false;
  bool closed_ = false;
};

struct harness {
  std::int64_t now = 1'000'000;
  std::mt19937_64 rng{42};
  channel_config config;
  channel_hooks hooks;
  std::optional<channel> ch;
  trace_checker trace;

  harness() {
    hooks.random = [this] { return rng(); };
  }

  harness(const harness&) = delete;
  harness& operator=(const harness&) = delete;

  channel& fresh() {
    ch.emplace(config, hooks);
    trace.reset();
    return *ch;
  }

  /// Every input goes through here so that `trace` sees every effect.
  effect_list checked(effect_list fx) {
    trace.check(fx);
    return fx;
  }

  effect_list in(const packet& p) {
    return checked(ch->handle_packet(p, now));
  }

  effect_list opened(std::optional<session> existing) {
    return checked(ch->session_opened(std::move(existing), now));
  }

  effect_list refused(reason_code code) {
    return checked(ch->session_refused(code, now));
  }

  effect_list decode_error(reason_code code,
                           std::optional<protocol_version> version) {
    return checked(
      ch->handle_decode_error(codec_error{code, "test"}, version, now));
  }

  effect_list timer(timer_kind kind) {
    return checked(ch->handle_timer(kind, now));
  }

  effect_list lost() {
    return checked(ch->connection_lost(now));
  }

  effect_list kick(reason_code code) {
    return checked(ch->kick(code, now));
  }

  effect_list end_session(reason_code code) {
    return checked(ch->end_session(code, now));
  }

  effect_list retained(const message& msg, std::string_view key) {
    return checked(ch->deliver_retained(msg, key, now));
  }

  /// A new channel through CONNECT and `session_opened(existing)`; returns
  /// the effects of both steps. Requires the CONNECT to be accepted.
  effect_list connect(const broker::connect& c,
                      std::optional<session> existing = std::nullopt) {
    fresh();
    auto fx = in(c);
    REQUIRE(effects_of<open_session>(fx).size() == 1);
    auto more = opened(std::move(existing));
    fx.insert(fx.end(), more.begin(), more.end());
    return fx;
  }

  effect_list connect_v5(std::string client_id = "c1",
                         bool clean_start = true) {
    return connect(make_connect(protocol_version::v5, std::move(client_id),
                                clean_start));
  }

  effect_list connect_v3(std::string client_id = "c1",
                         bool clean_start = true) {
    return connect(make_connect(protocol_version::v3_1_1,
                                std::move(client_id), clean_start));
  }

  effect_list deliver(const message& msg, std::vector<std::string> keys) {
    return checked(ch->deliver(msg, keys, now));
  }

  effect_list subscribe(std::uint16_t id, std::string filter, qos q,
                        subscription_options options = {}) {
    return in(make_subscribe(id, std::move(filter), q, options));
  }

  /// The session after the connection dropped, for a reconnect.
  std::optional<session> drop_and_release() {
    lost();
    return ch->release_session();
  }
};

} // namespace starling::broker::test

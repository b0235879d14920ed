#include "starling/broker/session.hpp"

#include <algorithm>
#include <utility>

namespace starling::broker {

namespace {

/// Packet identifiers are 1..65535 (0 is not a valid identifier).
constexpr std::size_t packet_id_count = 65535;

constexpr std::size_t effective_limit(std::size_t configured) noexcept {
  return configured == 0 ? packet_id_count
                         : std::min(configured, packet_id_count);
}

} // namespace

session::session(std::string client_id, session_config config,
                 std::uint32_t expiry_interval_s)
  : client_id_(std::move(client_id)),
    config_(config),
    expiry_interval_s_(expiry_interval_s) {
}

// -- subscriptions ------------------------------------------------------------

bool session::subscribe(std::string key, session_subscription sub) {
  auto [it, inserted] = subscriptions_.try_emplace(std::move(key));
  it->second = std::move(sub);
  return !inserted;
}

std::optional<session_subscription>
session::unsubscribe(std::string_view key) {
  auto it = subscriptions_.find(key);
  if (it == subscriptions_.end())
    return std::nullopt;
  auto sub = std::move(it->second);
  subscriptions_.erase(it);
  return sub;
}

const session_subscription*
session::find_subscription(std::string_view key) const {
  auto it = subscriptions_.find(key);
  return it == subscriptions_.end() ? nullptr : &it->second;
}

// -- turning routed messages into deliveries ----------------------------------

const session_subscription* session::deliverable(std::string_view key,
                                                 const message& msg) const {
  const auto* sub = find_subscription(key);
  if (!sub)
    return nullptr;
  // No Local (§3.8.3.1): never back to the connection that published it.
  // Client identifiers are unique, so the publisher's id names it.
  if (sub->options.no_local && msg.publisher == client_id_)
    return nullptr;
  return sub;
}

qos session::delivery_qos(qos published, qos granted) const noexcept {
  return config_.upgrade_qos ? granted : std::min(published, granted);
}

std::optional<delivery> session::prepare(const message& msg,
                                         std::span<const std::string> keys,
                                         std::int64_t now_ms) {
  if (msg.expired(now_ms)) {
    ++counters_.dropped_expired;
    return std::nullopt;
  }
  bool matched = false;
  auto granted = qos::at_most_once;
  bool retain_as_published = false;
  std::vector<std::uint32_t> ids;
  for (const auto& key : keys) {
    const auto* sub = deliverable(key, msg);
    if (!sub)
      continue;
    matched = true;
    granted = std::max(granted, sub->options.qos);
    retain_as_published |= sub->options.retain_as_published;
    if (sub->identifier
        && std::find(ids.begin(), ids.end(), *sub->identifier) == ids.end())
      ids.push_back(*sub->identifier);
  }
  if (!matched)
    return std::nullopt;
  // Without Retain As Published the RETAIN flag is cleared on forwarding
  // (§3.3.1.3): subscribers cannot tell a live message from a retained one.
  return delivery{msg, delivery_qos(msg.qos, granted),
                  msg.retain && retain_as_published, std::move(ids)};
}

std::optional<delivery> session::prepare_retained(const message& msg,
                                                  std::string_view key,
                                                  std::int64_t now_ms) {
  if (msg.expired(now_ms)) {
    ++counters_.dropped_expired;
    return std::nullopt;
  }
  const auto* sub = deliverable(key, msg);
  if (!sub)
    return std::nullopt;
  delivery out{msg, delivery_qos(msg.qos, sub->options.qos), true, {}};
  if (sub->identifier)
    out.subscription_ids.push_back(*sub->identifier);
  return out;
}

// -- message queue ------------------------------------------------------------

void session::enqueue(delivery d) {
  if (d.qos == qos::at_most_once && !config_.mqueue_store_qos0) {
    ++counters_.dropped_qos0_offline;
    return;
  }
  const auto limit = config_.max_mqueue_len;
  if (limit != 0 && queue_.size() >= limit) {
    if (config_.mqueue_overflow == queue_overflow::drop_newest) {
      ++counters_.dropped_queue_full;
      return;
    }
    while (queue_.size() >= limit) {
      queue_.pop_front();
      ++counters_.dropped_queue_full;
    }
  }
  queue_.push_back(std::move(d));
}

std::optional<delivery> session::dequeue(std::int64_t now_ms) {
  while (!queue_.empty()) {
    auto d = std::move(queue_.front());
    queue_.pop_front();
    if (!d.msg.expired(now_ms))
      return d;
    ++counters_.dropped_expired;
  }
  return std::nullopt;
}

// -- outgoing QoS 1/2 ---------------------------------------------------------

bool session::can_send(std::size_t window) const noexcept {
  return inflight_.size() < std::min(window, packet_id_count);
}

std::uint16_t session::track(delivery d) {
  // Terminates: fewer than 65535 identifiers are in flight (`can_send`).
  auto id = next_packet_id_;
  while (inflight_.contains(id))
    id = id == packet_id_count ? 1 : static_cast<std::uint16_t>(id + 1);
  next_packet_id_ =
    id == packet_id_count ? 1 : static_cast<std::uint16_t>(id + 1);
  const auto state = d.qos == qos::exactly_once
                       ? inflight_state::awaiting_pubrec
                       : inflight_state::awaiting_puback;
  inflight_.emplace(id,
                    inflight_message{id, state, next_sequence_++, std::move(d)});
  return id;
}

bool session::puback(std::uint16_t id) {
  auto it = inflight_.find(id);
  if (it == inflight_.end()
      || it->second.state != inflight_state::awaiting_puback)
    return false;
  inflight_.erase(it);
  ++counters_.acked;
  return true;
}

pubrec_outcome session::pubrec(std::uint16_t id, bool failed) {
  auto it = inflight_.find(id);
  if (it == inflight_.end())
    return pubrec_outcome::unknown;
  auto& entry = it->second;
  switch (entry.state) {
    case inflight_state::awaiting_puback:
      return pubrec_outcome::unknown;
    case inflight_state::awaiting_pubcomp:
      // Our PUBREL may have crossed a resent PUBREC: send it again.
      return pubrec_outcome::send_pubrel;
    case inflight_state::awaiting_pubrec:
      break;
  }
  if (failed) {
    inflight_.erase(it);
    ++counters_.acked;
    return pubrec_outcome::completed;
  }
  entry.state = inflight_state::awaiting_pubcomp;
  entry.out.msg.payload = shared_binary();
  entry.out.msg.props.reset();
  return pubrec_outcome::send_pubrel;
}

bool session::pubcomp(std::uint16_t id) {
  auto it = inflight_.find(id);
  if (it == inflight_.end()
      || it->second.state != inflight_state::awaiting_pubcomp)
    return false;
  inflight_.erase(it);
  ++counters_.acked;
  return true;
}

bool session::forget(std::uint16_t id) {
  return inflight_.erase(id) > 0;
}

const inflight_message* session::find_inflight(std::uint16_t id) const {
  auto it = inflight_.find(id);
  return it == inflight_.end() ? nullptr : &it->second;
}

std::vector<std::uint16_t> session::inflight_order() const {
  std::vector<const inflight_message*> entries;
  entries.reserve(inflight_.size());
  for (const auto& [id, entry] : inflight_)
    entries.push_back(&entry);
  std::sort(entries.begin(), entries.end(),
            [](const auto* a, const auto* b) { return a->sequence < b->sequence; });
  std::vector<std::uint16_t> ids;
  ids.reserve(entries.size());
  for (const auto* entry : entries)
    ids.push_back(entry->packet_id);
  return ids;
}

// -- inbound QoS 2 ------------------------------------------------------------

qos2_admission session::await_pubrel(std::uint16_t id, std::int64_t now_ms) {
  if (awaiting_rel_.contains(id))
    return qos2_admission::duplicate;
  if (awaiting_rel_.size() >= effective_limit(config_.max_awaiting_rel))
    return qos2_admission::full;
  awaiting_rel_.emplace(id, now_ms);
  return qos2_admission::accepted;
}

bool session::release(std::uint16_t id) {
  return awaiting_rel_.erase(id) > 0;
}

std::optional<std::int64_t> session::next_await_rel_deadline() const {
  if (awaiting_rel_.empty() || config_.await_rel_timeout_ms <= 0)
    return std::nullopt;
  auto oldest = std::min_element(
    awaiting_rel_.begin(), awaiting_rel_.end(),
    [](const auto& a, const auto& b) { return a.second < b.second; });
  return oldest->second + config_.await_rel_timeout_ms;
}

std::size_t session::expire_awaiting_rel(std::int64_t now_ms) {
  if (config_.await_rel_timeout_ms <= 0)
    return 0;
  const auto expired = std::erase_if(awaiting_rel_, [&](const auto& entry) {
    return entry.second + config_.await_rel_timeout_ms <= now_ms;
  });
  counters_.awaiting_rel_expired += expired;
  return expired;
}

} // namespace starling::broker

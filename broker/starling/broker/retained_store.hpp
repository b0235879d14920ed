#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "starling/broker/topic.hpp"
#include "starling/broker/topic_trie.hpp"

namespace starling::broker {

/// What the retained store needs to know of a message: whether its payload
/// is empty, because a retained PUBLISH with an empty payload deletes the
/// retained message of its topic instead of being stored (MQTT 5 §3.3.1.3).
template <class T>
concept retainable = std::movable<T> && requires(const T& message) {
  { std::empty(message.payload) } -> std::convertible_to<bool>;
};

/// A retained message for callers without a message type of their own. The
/// broker may store its own type instead, as long as it is `retainable`.
struct retained_message {
  std::string topic;
  std::vector<std::byte> payload;
  std::uint8_t qos = 0;
  /// PUBLISH properties as the codec left them (expiry, content type, user
  /// properties...); opaque here and shared, not copied, between deliveries.
  std::shared_ptr<const void> properties;
};

/// The retained messages of a node, one per topic name, found by the topic
/// filters of new subscriptions.
///
/// The topic names form a trie by level (with the children tables of
/// `topic_trie`), so a filter walks only the branches it can match: literal
/// levels are lookups, `+` visits the children of one node and `#` a whole
/// subtree. The `$` rule applies (§4.7.2): `#` and
/// `+/x` find nothing under `$SYS`, `$SYS/#` does.
///
/// Names must be valid Topic Names with bounded depth (see
/// `default_max_topic_levels`): walks recurse once per level. Expiry
/// (Message Expiry Interval) is the caller's: it knows the clock, and erases.
template <retainable T>
class retained_store {
public:
  /// Keeps `message` as the retained message of `topic`, replacing any
  /// previous one; an empty payload removes it instead. Returns whether
  /// `topic` had a retained message before.
  bool set(std::string_view topic, T message) {
    if (std::empty(message.payload))
      return erase(topic);
    auto& slot = make_path(topic).message;
    if (slot) {
      *slot = std::move(message);
      return true;
    }
    slot = std::make_unique<T>(std::move(message));
    ++count_;
    return false;
  }

  /// Removes the retained message of `topic`; returns whether there was one.
  bool erase(std::string_view topic);

  /// The retained message of `topic`, or null. Valid until `erase` or
  /// `clear` removes it; `set` on the same topic replaces what it points to.
  const T* get(std::string_view topic) const {
    const node* at = &root_;
    for (topic_levels levels(topic); at && !levels.done();)
      at = at->children.find(levels.next());
    return at ? at->message.get() : nullptr;
  }

  /// The number of retained messages.
  std::size_t size() const noexcept { return count_; }

  bool empty() const noexcept { return count_ == 0; }

  /// Calls `visit(const T&)` for each retained message whose topic matches
  /// Topic Filter `filter`, in no particular order.
  template <class F>
  void for_each_match(std::string_view filter, F&& visit) const {
    match_levels(root_, topic_levels(filter), true, visit);
  }

  /// Copies of the retained messages matching `filter`.
  std::vector<T> match(std::string_view filter) const {
    std::vector<T> out;
    for_each_match(filter,
                   [&out](const T& message) { out.push_back(message); });
    return out;
  }

  /// Calls `visit(const T&)` for every retained message, `$` topics
  /// included: for listing and for handing the store over, not for
  /// subscribers.
  template <class F>
  void for_each(F&& visit) const {
    visit_subtree(root_, false, visit);
  }

  void clear() {
    root_ = node{};
    count_ = 0;
  }

private:
  struct node {
    detail::level_map<node> children; ///< next levels
    /// The retained message of the name ending here; on the heap so that the
    /// inner nodes of long names stay small.
    std::unique_ptr<T> message;
  };

  node& make_path(std::string_view topic) {
    node* at = &root_;
    for (topic_levels levels(topic); !levels.done();)
      at = &at->children.make(levels.next());
    return *at;
  }

  /// Visits every message strictly below `at`. With `skip_dollar`, children
  /// whose level starts with `$` are left out: that is `#` at the root.
  template <class F>
  static void visit_subtree(const node& at, bool skip_dollar, F& visit) {
    at.children.for_each([&](std::string_view level, const node& child) {
      if (skip_dollar && is_dollar_topic(level))
        return;
      if (child.message)
        visit(std::as_const(*child.message));
      visit_subtree(child, false, visit);
    });
  }

  template <class F>
  static void match_levels(const node& at, topic_levels rest, bool at_root,
                           F& visit);

  node root_;
  std::size_t count_ = 0;
};

template <retainable T>
bool retained_store<T>::erase(std::string_view topic) {
  // Keep the way down so that nodes left empty are pruned bottom-up.
  std::vector<std::pair<node*, std::string_view>> path;
  node* at = &root_;
  for (topic_levels levels(topic); !levels.done();) {
    auto level = levels.next();
    auto* child = at->children.find(level);
    if (!child)
      return false;
    path.emplace_back(at, level);
    at = child;
  }
  if (!at->message)
    return false;
  at->message.reset();
  --count_;
  for (auto it = path.rbegin(); it != path.rend(); ++it) {
    if (at->message || !at->children.empty())
      break;
    auto [parent, level] = *it;
    parent->children.erase(level);
    at = parent;
  }
  return true;
}

// Walking the retained names that a filter matches: the trie walk of
// `topic_trie` turned around, the filter driving and the names in the tree.
// A literal level is one lookup; `+` follows every child (one level of any
// text, the empty level included); `#` as the last level takes the node
// itself ("a/#" matches "a") and everything below it. At the root, `+` and
// `#` skip the children whose level starts with `$` (§4.7.2).
template <retainable T>
template <class F>
void retained_store<T>::match_levels(const node& at, topic_levels rest,
                                     bool at_root, F& visit) {
  if (rest.done()) {
    if (at.message)
      visit(std::as_const(*at.message));
    return;
  }
  auto level = rest.next();
  if (level == "#" && rest.done()) {
    if (at.message)
      visit(std::as_const(*at.message));
    visit_subtree(at, at_root, visit);
    return;
  }
  if (level == "+") {
    at.children.for_each([&](std::string_view name, const node& child) {
      if (!(at_root && is_dollar_topic(name)))
        match_levels(child, rest, false, visit);
    });
    return;
  }
  if (auto* child = at.children.find(level))
    match_levels(*child, rest, false, visit);
}

} // namespace starling::broker

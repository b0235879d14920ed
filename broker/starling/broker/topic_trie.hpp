#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "starling/broker/topic.hpp"

namespace starling::broker {

namespace detail {

/// The values registered under one filter. Almost every filter has one or a
/// few subscribers, so they live in a vector searched linearly; a filter that
/// becomes popular (`broadcast/#` with 100k clients) moves to a hash set so
/// that subscribing stays O(1).
template <class V, class Hash>
class trie_values {
public:
  bool empty() const noexcept { return !many_ && few_.empty(); }

  std::size_t size() const noexcept {
    return many_ ? many_->size() : few_.size();
  }

  bool contains(const V& value) const {
    if (many_)
      return many_->contains(value);
    return std::find(few_.begin(), few_.end(), value) != few_.end();
  }

  /// Returns whether `value` was not there before.
  bool insert(const V& value) {
    if (many_)
      return many_->insert(value).second;
    if (contains(value))
      return false;
    if (few_.size() < few_limit) {
      few_.push_back(value);
      return true;
    }
    many_ =
        std::make_unique<std::unordered_set<V, Hash>>(few_.begin(), few_.end());
    std::vector<V>().swap(few_);
    many_->insert(value);
    return true;
  }

  /// Returns whether `value` was there. Order is not kept.
  bool erase(const V& value) {
    if (many_) {
      if (many_->erase(value) == 0)
        return false;
      if (many_->empty())
        many_.reset();
      return true;
    }
    auto it = std::find(few_.begin(), few_.end(), value);
    if (it == few_.end())
      return false;
    *it = std::move(few_.back());
    few_.pop_back();
    if (few_.empty())
      std::vector<V>().swap(few_);
    return true;
  }

  template <class F>
  void for_each(F& visit) const {
    if (many_) {
      for (const auto& value : *many_)
        visit(value);
    } else {
      for (const auto& value : few_)
        visit(value);
    }
  }

private:
  static constexpr std::size_t few_limit = 8;

  std::vector<V> few_;
  std::unique_ptr<std::unordered_set<V, Hash>> many_;
};

/// The children of a trie node, by level. Most nodes have one child or none
/// (filters fan out at one or two levels, such as a device id), so children
/// sit in a vector searched linearly, which beats hashing for a few short
/// strings and costs no table, until there are more than `few_limit`; then
/// they move to a hash map, keeping a lookup O(1) at the level that fans out
/// to a million device ids.
template <class Node>
class level_map {
public:
  bool empty() const noexcept { return !many_ && few_.empty(); }

  const Node* find(std::string_view level) const {
    if (many_) {
      auto it = many_->find(level);
      return it == many_->end() ? nullptr : it->second.get();
    }
    for (const auto& [name, child] : few_)
      if (name == level)
        return child.get();
    return nullptr;
  }

  Node* find(std::string_view level) {
    return const_cast<Node*>(std::as_const(*this).find(level));
  }

  /// The child at `level`, made if missing.
  Node& make(std::string_view level) {
    if (auto* child = find(level))
      return *child;
    auto child = std::make_unique<Node>();
    auto& made = *child;
    if (many_) {
      many_->emplace(std::string(level), std::move(child));
    } else if (few_.size() < few_limit) {
      few_.emplace_back(std::string(level), std::move(child));
    } else {
      many_ = std::make_unique<map_t>(std::make_move_iterator(few_.begin()),
                                      std::make_move_iterator(few_.end()));
      std::vector<entry>().swap(few_);
      many_->emplace(std::string(level), std::move(child));
    }
    return made;
  }

  /// Removes the child at `level`, which must exist.
  void erase(std::string_view level) {
    if (many_) {
      many_->erase(many_->find(level));
      if (many_->empty())
        many_.reset();
      return;
    }
    auto it = std::find_if(few_.begin(), few_.end(), [level](const entry& e) {
      return e.first == level;
    });
    *it = std::move(few_.back());
    few_.pop_back();
    if (few_.empty())
      std::vector<entry>().swap(few_);
  }

  /// Calls `visit(std::string_view level, const Node& child)` for each child.
  template <class F>
  void for_each(F&& visit) const {
    if (many_) {
      for (const auto& [level, child] : *many_)
        visit(std::string_view(level), std::as_const(*child));
    } else {
      for (const auto& [level, child] : few_)
        visit(std::string_view(level), std::as_const(*child));
    }
  }

private:
  static constexpr std::size_t few_limit = 8;

  using entry = std::pair<std::string, std::unique_ptr<Node>>;
  using map_t = std::unordered_map<std::string, std::unique_ptr<Node>,
                                   topic_level_hash, std::equal_to<>>;

  std::vector<entry> few_;
  std::unique_ptr<map_t> many_;
};

} // namespace detail

/// Topic filters and the values (subscriber ids, node names) registered under
/// each, matched against published topic names.
///
/// A node per level of the filters, with the literal children keyed by level
/// (`detail::level_map`), `+` as a separate child and `#` as a value set on
/// its parent (it is always the last level). Matching a topic therefore costs
/// O(levels x wildcard branching) lookups, independent of the number of
/// filters: a million `dev/N/+/status` filters cost one lookup per level.
///
/// Filters must be valid (`topic_filter_error`), and the channel should bound
/// their depth (`default_max_topic_levels`): insertion, matching and
/// destruction recurse or loop once per level. An invalid filter is stored
/// literally and never matches.
///
/// A value registered under several matching filters (`a/+` and `a/#`) is
/// reported once per filter: deduplicating deliveries to one subscriber
/// (§4.7.2 allows either one or several copies) is the caller's decision.
template <class V, class Hash = std::hash<V>>
class topic_trie {
public:
  /// Registers `value` under `filter`. Returns true when the filter was not
  /// in the trie before, i.e. when a route to it must be added.
  bool insert(std::string_view filter, const V& value) {
    auto& values = values_for(filter);
    bool first = values.empty();
    if (!values.insert(value))
      return false;
    ++value_count_;
    if (first)
      ++filter_count_;
    return first;
  }

  /// Unregisters `value` from `filter`. Returns true when this removed the
  /// filter's last value, i.e. when its route must be deleted; false when the
  /// filter keeps other values or `value` was not registered.
  bool erase(std::string_view filter, const V& value);

  /// Whether any value is registered under `filter`.
  bool contains(std::string_view filter) const {
    auto* values = find(filter);
    return values && !values->empty();
  }

  /// Whether `value` is registered under `filter`.
  bool contains(std::string_view filter, const V& value) const {
    auto* values = find(filter);
    return values && values->contains(value);
  }

  /// The number of values registered under `filter`.
  std::size_t count(std::string_view filter) const {
    auto* values = find(filter);
    return values ? values->size() : 0;
  }

  /// The number of distinct filters.
  std::size_t size() const noexcept { return filter_count_; }

  /// The number of (filter, value) registrations.
  std::size_t value_count() const noexcept { return value_count_; }

  bool empty() const noexcept { return filter_count_ == 0; }

  /// Every filter with at least one value, in no particular order.
  std::vector<std::string> filters() const {
    std::vector<std::string> out;
    out.reserve(filter_count_);
    std::string path;
    collect_filters(root_, path, 0, out);
    return out;
  }

  /// Calls `visit(const V&)` once per (filter, value) whose filter matches
  /// Topic Name `topic`, in no particular order. Allocates nothing.
  template <class F>
  void for_each_match(std::string_view topic, F&& visit) const;

  /// The values whose filters match `topic`; see `for_each_match`.
  std::vector<V> match(std::string_view topic) const {
    std::vector<V> out;
    for_each_match(topic, [&out](const V& value) { out.push_back(value); });
    return out;
  }

  void clear() {
    root_ = node{};
    filter_count_ = 0;
    value_count_ = 0;
  }

private:
  using values_t = detail::trie_values<V, Hash>;

  struct node {
    detail::level_map<node> children; ///< literal next levels
    std::unique_ptr<node> plus;       ///< the `+` next level
    values_t exact;                   ///< values of the filter ending here
    /// Values of this node's filter + "/#"; on the heap because few nodes
    /// have any and every node would pay for an inline set.
    std::unique_ptr<values_t> multi;

    bool unused() const noexcept {
      return !plus && !multi && children.empty() && exact.empty();
    }

    const node* find_child(std::string_view level) const {
      return level == "+" ? plus.get() : children.find(level);
    }

    node* find_child(std::string_view level) {
      return level == "+" ? plus.get() : children.find(level);
    }

    node& make_child(std::string_view level) {
      if (level != "+")
        return children.make(level);
      if (!plus)
        plus = std::make_unique<node>();
      return *plus;
    }

    void remove_child(std::string_view level) {
      if (level == "+")
        plus.reset();
      else
        children.erase(level);
    }
  };

  /// `#` counts as a wildcard only as the last level, so an invalid filter
  /// such as "a/#/b" takes the literal path and can never match.
  static bool is_multi(std::string_view level, const topic_levels& rest) {
    return level == "#" && rest.done();
  }

  values_t& values_for(std::string_view filter) {
    node* at = &root_;
    for (topic_levels levels(filter);;) {
      auto level = levels.next();
      if (is_multi(level, levels)) {
        if (!at->multi)
          at->multi = std::make_unique<values_t>();
        return *at->multi;
      }
      at = &at->make_child(level);
      if (levels.done())
        return at->exact;
    }
  }

  const values_t* find(std::string_view filter) const {
    const node* at = &root_;
    for (topic_levels levels(filter);;) {
      auto level = levels.next();
      if (is_multi(level, levels))
        return at->multi.get();
      at = at->find_child(level);
      if (!at)
        return nullptr;
      if (levels.done())
        return &at->exact;
    }
  }

  static void collect_filters(const node& at, std::string& path,
                              std::size_t depth, std::vector<std::string>& out);

  template <class F>
  static void match_levels(const node& at, topic_levels rest, F& visit);

  node root_;
  std::size_t filter_count_ = 0;
  std::size_t value_count_ = 0;
};

template <class V, class Hash>
bool topic_trie<V, Hash>::erase(std::string_view filter, const V& value) {
  // Remember the way down so that nodes left unused can be pruned bottom-up.
  std::vector<std::pair<node*, std::string_view>> path;
  node* at = &root_;
  values_t* values = nullptr;
  for (topic_levels levels(filter); !values;) {
    auto level = levels.next();
    if (is_multi(level, levels)) {
      values = at->multi.get();
      if (!values)
        return false;
      break;
    }
    auto* child = at->find_child(level);
    if (!child)
      return false;
    path.emplace_back(at, level);
    at = child;
    if (levels.done())
      values = &at->exact;
  }
  if (!values->erase(value))
    return false;
  --value_count_;
  if (!values->empty())
    return false;
  --filter_count_;
  if (values == at->multi.get())
    at->multi.reset();
  for (auto it = path.rbegin(); it != path.rend() && at->unused(); ++it) {
    auto [parent, level] = *it;
    parent->remove_child(level);
    at = parent;
  }
  return true;
}

template <class V, class Hash>
void topic_trie<V, Hash>::collect_filters(const node& at, std::string& path,
                                          std::size_t depth,
                                          std::vector<std::string>& out) {
  if (!at.exact.empty())
    out.push_back(path);
  if (at.multi)
    out.push_back(depth == 0 ? std::string("#") : path + "/#");
  auto descend = [&](std::string_view level, const node& child) {
    auto mark = path.size();
    if (depth > 0)
      path += topic_level_separator;
    path.append(level);
    collect_filters(child, path, depth + 1, out);
    path.resize(mark);
  };
  if (at.plus)
    descend("+", *at.plus);
  at.children.for_each(descend);
}

// Matching a Topic Name against every filter in the trie (MQTT 5 §4.7).
//
// The name is walked one level at a time from the root. At each node three
// kinds of child can match the next level, and all are followed:
//
//   - the literal child with the same text, found by hash lookup;
//   - the `+` child, which matches exactly one level of any text, including
//     an empty one ("a/+/c" matches "a//c");
//   - the `#` values, which match the rest of the name, whatever its length,
//     including nothing at all: "a/#" matches "a", "a/b" and "a/b/c".
//
// When the name is exhausted the values of the filter ending at the current
// node match, and so do those of "<node>/#".
//
//   filter               matches               does not match
//   sport/tennis/+       sport/tennis/player1  sport/tennis, sport/tennis/a/b
//   sport/#              sport, sport/a/b      sports
//   +/+                  /finance, a/b         a, a/b/c
//   /+                   /finance              finance, a/b
//   #                    a, /x, a/b            $SYS/x
//   +/monitor/Clients    a/monitor/Clients     $SYS/monitor/Clients
//   $SYS/#               $SYS, $SYS/x/y        SYS/x
//
// The last three rows are the `$` rule (§4.7.2): a wildcard in the first
// level of a filter never matches a name starting with `$`, so `#` and `+`
// are not followed from the root for such names. The rule concerns the first
// level only: "a/+" matches "a/$x".
//
// The walk touches one node per literal match and one per `+` per level, so
// its cost grows with the depth of the name and the number of `+` branches
// that really match, not with the number of filters in the trie.
template <class V, class Hash>
template <class F>
void topic_trie<V, Hash>::for_each_match(std::string_view topic,
                                         F&& visit) const {
  topic_levels rest(topic);
  auto first = rest.next();
  if (!is_dollar_topic(topic)) {
    if (root_.multi)
      root_.multi->for_each(visit);
    if (root_.plus)
      match_levels(*root_.plus, rest, visit);
  }
  if (auto* child = root_.children.find(first))
    match_levels(*child, rest, visit);
}

/// Reports the filters below `at` that match the levels in `rest`, `at`
/// having matched the levels before them.
template <class V, class Hash>
template <class F>
void topic_trie<V, Hash>::match_levels(const node& at, topic_levels rest,
                                       F& visit) {
  if (at.multi)
    at.multi->for_each(visit);
  if (rest.done()) {
    at.exact.for_each(visit);
    return;
  }
  auto level = rest.next();
  if (auto* child = at.children.find(level))
    match_levels(*child, rest, visit);
  if (at.plus)
    match_levels(*at.plus, rest, visit);
}

} // namespace starling::broker

#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace starling::broker {

/// How a shared subscription group picks the one member that receives a
/// message (the values of EMQX's `broker.shared_subscription_strategy`).
enum class shared_strategy {
  round_robin,   ///< members in turn; the default
  random,        ///< uniformly at random
  sticky,        ///< the last member picked, for as long as it stays
  hash_clientid, ///< by the publisher's client id: one publisher, one member
  hash_topic,    ///< by topic name: one topic, one member
};

/// The configuration name of `strategy`, e.g. "round_robin".
std::string_view to_string(shared_strategy strategy) noexcept;

/// The strategy named `name` in configuration, or nullopt.
std::optional<shared_strategy> shared_strategy_from(std::string_view name);

/// Uniformly distributed 64-bit numbers, e.g. a seeded `std::mt19937_64`
/// owned by the caller. Not `runtime::random_source`: that one is a
/// cryptographic byte source for nonces, too costly for every message, and
/// picks need no secrecy.
using random_u64 = std::function<std::uint64_t()>;

/// What a strategy may look at to pick a member for one message.
struct pick_context {
  std::string_view publisher; ///< client id of the publisher (hash_clientid)
  std::string_view topic;     ///< Topic Name of the message (hash_topic)
};

namespace detail {

/// A uniform index below `n` (> 0) from `random`. The modulo bias is at most
/// n / 2^64: nothing for group sizes.
std::size_t random_index(const random_u64& random, std::size_t n);

/// FNV-1a: the same value on every node and every build, unlike `std::hash`,
/// so that the hash strategies agree across the cluster.
std::uint64_t stable_hash(std::string_view text) noexcept;

} // namespace detail

/// The members of one shared subscription group (`$share/{group}/{filter}`)
/// on one filter, and the choice of the member that gets each message
/// (MQTT 5 §4.8.2).
///
/// Members are kept in join order; joining and leaving are O(members), which
/// suits groups of up to thousands of members that change far less often
/// than messages arrive. The hash strategies are plain modulo hashing: a
/// member joining or leaving moves most publishers or topics to another
/// member, as in EMQX.
template <class Member>
class shared_group {
public:
  /// A group picking with `strategy`. `random` is required by
  /// `shared_strategy::random` and ignored by the others.
  explicit shared_group(shared_strategy strategy = shared_strategy::round_robin,
                        random_u64 random = {})
      : strategy_(strategy), random_(std::move(random)) {
    assert(strategy_ != shared_strategy::random || random_);
  }

  shared_strategy strategy() const noexcept { return strategy_; }

  /// Adds `member` at the end of the round; returns false if already in.
  bool join(Member member) {
    if (contains(member))
      return false;
    members_.push_back(std::move(member));
    return true;
  }

  /// Removes `member`; returns false if it was not in the group. The round
  /// robin carries on with the member that followed it, and a sticky pick
  /// of `member` ends.
  bool leave(const Member& member) {
    auto it = std::find(members_.begin(), members_.end(), member);
    if (it == members_.end())
      return false;
    auto index = static_cast<std::size_t>(it - members_.begin());
    members_.erase(it);
    if (index < next_)
      --next_;
    if (sticky_ && *sticky_ == index)
      sticky_.reset();
    else if (sticky_ && index < *sticky_)
      --*sticky_;
    return true;
  }

  bool contains(const Member& member) const {
    return std::find(members_.begin(), members_.end(), member) !=
           members_.end();
  }

  std::size_t size() const noexcept { return members_.size(); }

  bool empty() const noexcept { return members_.empty(); }

  /// The members in join order.
  const std::vector<Member>& members() const noexcept { return members_; }

  /// The member that gets the message described by `message`, or nullopt if
  /// the group is empty.
  std::optional<Member> pick(const pick_context& message = {}) {
    if (members_.empty())
      return std::nullopt;
    return members_[pick_index(message)];
  }

private:
  std::size_t pick_index(const pick_context& message) {
    auto n = members_.size();
    switch (strategy_) {
    case shared_strategy::random:
      return detail::random_index(random_, n);
    case shared_strategy::sticky:
      // The first pick, and the one after the sticky member left, take the
      // next member in the round: deterministic, and successive failovers
      // spread over the group instead of piling onto one member.
      if (!sticky_)
        sticky_ = next_round_robin(n);
      return *sticky_;
    case shared_strategy::hash_clientid:
      return detail::stable_hash(message.publisher) % n;
    case shared_strategy::hash_topic:
      return detail::stable_hash(message.topic) % n;
    case shared_strategy::round_robin:
      break;
    }
    return next_round_robin(n);
  }

  std::size_t next_round_robin(std::size_t n) noexcept {
    auto index = next_ < n ? next_ : 0;
    next_ = index + 1;
    return index;
  }

  shared_strategy strategy_;
  random_u64 random_;
  std::vector<Member> members_;
  std::size_t next_ = 0;              ///< round robin: the next index
  std::optional<std::size_t> sticky_; ///< sticky: index of the member
};

} // namespace starling::broker

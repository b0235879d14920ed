#include "starling/broker/shared_group.hpp"

#include <array>

namespace starling::broker {

namespace {

struct strategy_name {
  shared_strategy strategy;
  std::string_view name;
};

constexpr std::array<strategy_name, 5> strategy_names{{
    {shared_strategy::round_robin, "round_robin"},
    {shared_strategy::random, "random"},
    {shared_strategy::sticky, "sticky"},
    {shared_strategy::hash_clientid, "hash_clientid"},
    {shared_strategy::hash_topic, "hash_topic"},
}};

} // namespace

std::string_view to_string(shared_strategy strategy) noexcept {
  for (const auto& entry : strategy_names)
    if (entry.strategy == strategy)
      return entry.name;
  return "unknown";
}

std::optional<shared_strategy> shared_strategy_from(std::string_view name) {
  for (const auto& entry : strategy_names)
    if (entry.name == name)
      return entry.strategy;
  return std::nullopt;
}

namespace detail {

std::size_t random_index(const random_u64& random, std::size_t n) {
  return static_cast<std::size_t>(random() % n);
}

std::uint64_t stable_hash(std::string_view text) noexcept {
  constexpr std::uint64_t offset_basis = 14695981039346656037ull;
  constexpr std::uint64_t prime = 1099511628211ull;
  std::uint64_t hash = offset_basis;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= prime;
  }
  return hash;
}

} // namespace detail

} // namespace starling::broker

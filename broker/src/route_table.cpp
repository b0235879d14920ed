#include "starling/broker/route_table.hpp"

#include "starling/broker/topic.hpp"

namespace starling::broker {

subscribe_filter subscription_filter(const std::string& text) {
  subscribe_filter f;
  f.subscription = text;
  std::string error;
  if (auto shared = parse_shared_filter(text, error)) {
    f.share_group = shared->group;
    f.topic_filter = shared->filter;
  } else {
    f.topic_filter = text;
  }
  return f;
}

void route_match::clear() {
  local.clear();
  picks.clear();
  remote.clear();
  local_groups.clear();
}

route_table::route_table(std::string me, shared_strategy strategy,
                         random_u64 random)
  : me_(std::move(me)), strategy_(strategy), random_(std::move(random)) {}

/// Node `node` has members of shared group `key` ("$share/g/f") or not.
void route_table::shared_node(const std::string& key, const std::string& node,
                              bool present) {
  std::string error;
  auto parsed = parse_shared_filter(key, error);
  if (!parsed)
    return; // not a shared filter (another node's record)
  auto g = node_groups_.find(key);
  if (present) {
    if (g == node_groups_.end()) {
      g = node_groups_.emplace(key, shared_group<std::string>(strategy_, random_))
            .first;
      cluster_shared_.insert(parsed->filter, key);
    }
    g->second.join(node);
  } else if (g != node_groups_.end()) {
    g->second.leave(node);
    if (g->second.empty()) {
      node_groups_.erase(g);
      cluster_shared_.erase(parsed->filter, key);
    }
  }
}

void route_table::add_own(const std::string& key, route_changes& out) {
  if (own_routes_[key]++ != 0)
    return;
  if (is_shared_filter(key))
    shared_node(key, me_, true);
  out.push_back({key, true});
}

void route_table::drop_own(const std::string& key, route_changes& out) {
  auto i = own_routes_.find(key);
  if (i == own_routes_.end() || --i->second != 0)
    return;
  own_routes_.erase(i);
  if (is_shared_filter(key))
    shared_node(key, me_, false);
  out.push_back({key, false});
}

void route_table::remove(session_id session, const subscribe_filter& f,
                         route_changes& out) {
  route_key k{session, f.subscription};
  drop_own(f.subscription, out);
  if (!f.share_group) {
    routes_.erase(f.topic_filter, k);
    return;
  }
  if (auto g = groups_.find(f.subscription); g != groups_.end()) {
    g->second.leave(k);
    if (g->second.size() == 0)
      groups_.erase(g);
  }
}

route_changes route_table::subscribe(session_id session,
                                     const std::string& client_id,
                                     const subscribe_filter& f,
                                     bool& new_session) {
  route_changes out;
  auto [it, fresh] = sessions_.try_emplace(session);
  new_session = fresh;
  auto& sub = it->second;
  sub.client_id = client_id;
  // Counted before a replaced subscription is dropped, so that the node's
  // route never leaves the cluster's table for a moment.
  add_own(f.subscription, out);
  if (auto old = sub.subs.find(f.subscription); old != sub.subs.end())
    remove(session, old->second, out);
  else
    ++subscription_count_;
  route_key k{session, f.subscription};
  if (f.share_group) {
    auto g = groups_.find(f.subscription);
    if (g == groups_.end())
      g = groups_.emplace(f.subscription, shared_group<route_key>(strategy_, random_))
            .first;
    g->second.join(k);
  } else {
    routes_.insert(f.topic_filter, k);
  }
  sub.subs[f.subscription] = f;
  return out;
}

route_changes route_table::unsubscribe(session_id session,
                                       const std::string& key) {
  route_changes out;
  auto i = sessions_.find(session);
  if (i == sessions_.end())
    return out;
  if (auto s = i->second.subs.find(key); s != i->second.subs.end()) {
    remove(session, s->second, out);
    i->second.subs.erase(s);
    --subscription_count_;
  }
  return out;
}

route_changes route_table::session_down(session_id session) {
  route_changes out;
  auto i = sessions_.find(session);
  if (i == sessions_.end())
    return out;
  for (auto& [key, f] : i->second.subs)
    remove(session, f, out);
  subscription_count_ -= i->second.subs.size();
  sessions_.erase(i);
  return out;
}

void route_table::remote_route(const std::string& owner, const std::string& key,
                               bool present) {
  bool shared = is_shared_filter(key);
  if (present) {
    if (remote_routes_[key].insert(owner).second) {
      if (shared)
        shared_node(key, owner, true);
      else
        remote_trie_.insert(key, owner);
    }
    return;
  }
  auto i = remote_routes_.find(key);
  if (i == remote_routes_.end() || i->second.erase(owner) == 0)
    return;
  if (shared)
    shared_node(key, owner, false);
  else
    remote_trie_.erase(key, owner);
  if (i->second.empty())
    remote_routes_.erase(i);
}

void route_table::match_local(const message& m, route_match& out) {
  routes_.for_each_match(m.topic, [&](const route_key& k) {
    out.local[k.session].push_back(k.key);
  });
}

void route_table::pick_local(const message& m,
                             const std::vector<std::string>& groups,
                             route_match& out) {
  for (auto& key : groups) {
    auto g = groups_.find(key);
    if (g == groups_.end())
      continue;
    if (auto pick = g->second.pick({m.publisher, m.topic}))
      out.picks.emplace_back(pick->session, pick->key);
  }
}

void route_table::match_published(const message& m, route_match& out) {
  out.clear();
  if (!cluster_shared_.empty())
    cluster_shared_.for_each_match(m.topic, [&](const std::string& key) {
      auto g = node_groups_.find(key);
      if (g == node_groups_.end())
        return;
      if (auto node = g->second.pick({m.publisher, m.topic})) {
        if (*node == me_)
          out.local_groups.push_back(key);
        else
          out.remote[*node].push_back(key);
      }
    });
  if (!remote_routes_.empty())
    remote_trie_.for_each_match(m.topic, [&](const std::string& node) {
      out.remote[node];
    });
  match_local(m, out);
  pick_local(m, out.local_groups, out);
}

void route_table::match_forwarded(const message& m,
                                  const std::vector<std::string>& groups,
                                  route_match& out) {
  out.clear();
  match_local(m, out);
  pick_local(m, groups, out);
}

std::size_t route_table::link_of(const std::string& topic, std::size_t links) {
  return links <= 1 ? 0 : detail::stable_hash(topic) % links;
}

} // namespace starling::broker

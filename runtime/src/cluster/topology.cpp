#include "starling/runtime/cluster/topology.hpp"

#include <algorithm>
#include <deque>

namespace starling::runtime::cluster {

namespace {

bool lists(const std::vector<std::string>& v, const std::string& x) {
  return std::binary_search(v.begin(), v.end(), x);
}

core_age age_of(const view_table& views, const std::string& node) {
  auto i = views.find(node);
  return {node, i == views.end() ? INT64_MAX : i->second.started_at_ms};
}

std::string oldest_of(const std::vector<std::string>& nodes,
                      const view_table& views) {
  std::vector<core_age> ages;
  for (auto& n : nodes)
    ages.push_back(age_of(views, n));
  auto o = oldest(ages);
  return o ? o->name : std::string();
}

/// Bron-Kerbosch with pivoting: every maximal clique of g within p.
void maximal_cliques(const graph& g, std::vector<std::string>& r,
                     std::set<std::string> p, std::set<std::string> x,
                     std::vector<std::vector<std::string>>& out) {
  if (p.empty() && x.empty()) {
    auto c = r;
    std::sort(c.begin(), c.end());
    out.push_back(std::move(c));
    return;
  }
  auto nbrs = [&](const std::string& v) -> const std::set<std::string>& {
    static const std::set<std::string> none;
    auto i = g.find(v);
    return i == g.end() ? none : i->second;
  };
  // Pivot: the vertex of p ∪ x with most neighbours in p.
  std::string pivot;
  size_t best = 0;
  for (auto* s : {&p, &x})
    for (auto& u : *s) {
      size_t n = 0;
      for (auto& w : nbrs(u))
        n += p.count(w);
      if (pivot.empty() || n > best) {
        pivot = u;
        best = n;
      }
    }
  std::vector<std::string> candidates;
  for (auto& v : p)
    if (!nbrs(pivot).count(v))
      candidates.push_back(v);
  for (auto& v : candidates) {
    std::set<std::string> p2, x2;
    for (auto& w : nbrs(v)) {
      if (p.count(w))
        p2.insert(w);
      if (x.count(w))
        x2.insert(w);
    }
    r.push_back(v);
    maximal_cliques(g, r, std::move(p2), std::move(x2), out);
    r.pop_back();
    p.erase(v);
    x.insert(v);
  }
}

} // namespace

graph agreement_graph(const view_table& views) {
  graph g;
  for (auto& [node, v] : views) {
    auto& edges = g[node];
    for (auto& other : v.agreeing) {
      auto o = views.find(other);
      if (other != node && o != views.end() && lists(o->second.agreeing, node))
        edges.insert(other);
    }
  }
  return g;
}

std::set<std::string> reachable(const graph& g, const std::string& from) {
  std::set<std::string> seen{from};
  std::deque<std::string> todo{from};
  while (!todo.empty()) {
    auto n = todo.front();
    todo.pop_front();
    if (auto i = g.find(n); i != g.end())
      for (auto& m : i->second)
        if (seen.insert(m).second)
          todo.push_back(m);
  }
  return seen;
}

std::vector<std::string> best_clique(const graph& g,
                                     const std::set<std::string>& among,
                                     const view_table& views) {
  if (among.empty())
    return {};
  graph sub;
  for (auto& n : among) {
    auto& edges = sub[n];
    if (auto i = g.find(n); i != g.end())
      for (auto& m : i->second)
        if (among.count(m))
          edges.insert(m);
  }
  std::vector<std::vector<std::string>> cliques;
  std::vector<std::string> r;
  maximal_cliques(sub, r, among, {}, cliques);
  auto eldest = oldest_of({among.begin(), among.end()}, views);
  auto better = [&](const std::vector<std::string>& a,
                    const std::vector<std::string>& b) {
    if (a.size() != b.size())
      return a.size() > b.size();
    bool ea = lists(a, eldest), eb = lists(b, eldest);
    if (ea != eb)
      return ea;
    // Neither (or both) holds the oldest: the one whose oldest is older,
    // then the smaller list of names. Deterministic either way.
    auto oa = age_of(views, oldest_of(a, views));
    auto ob = age_of(views, oldest_of(b, views));
    if (older(oa, ob) || older(ob, oa))
      return older(oa, ob);
    return a < b;
  };
  return *std::min_element(cliques.begin(), cliques.end(),
                           [&](auto& a, auto& b) { return better(a, b); });
}

std::vector<std::vector<std::string>>
decompose(const graph& g, std::set<std::string> among, const view_table& views) {
  std::vector<std::vector<std::string>> out;
  while (!among.empty()) {
    auto c = best_clique(g, among, views);
    for (auto& n : c)
      among.erase(n);
    out.push_back(std::move(c));
  }
  return out;
}

db_group group_of(const view_table& all, const std::string& self,
                  const std::set<std::string>* alive) {
  view_table views;
  for (auto& [n, v] : all)
    if (!alive || n == self || alive->count(n))
      views.emplace(n, v);
  auto g = agreement_graph(views);
  for (auto& c : decompose(g, reachable(g, self), views))
    if (lists(c, self))
      return {c, oldest_of(c, views)};
  return {{self}, self};
}

db_group primary_group(const view_table& views,
                       const std::vector<std::string>& reachable_cores) {
  auto g = agreement_graph(views);
  std::set<std::string> among;
  for (auto& n : reachable_cores)
    if (views.count(n))
      among.insert(n);
  auto c = best_clique(g, among, views);
  return {c, oldest_of(c, views)};
}

heal_decision heal_plan(const view_table& views) {
  heal_decision d;
  auto g = agreement_graph(views);
  std::set<std::string> all;
  for (auto& [n, v] : views)
    all.insert(n);
  d.winner = best_clique(g, all, views);
  auto connected = [&](const std::string& a, const std::string& b) {
    auto i = views.find(a), j = views.find(b);
    return i != views.end() && j != views.end()
           && lists(i->second.connected, b) && lists(j->second.connected, a);
  };
  for (auto& n : all) {
    if (lists(d.winner, n))
      continue;
    bool reaches_all = std::all_of(d.winner.begin(), d.winner.end(),
                                   [&](auto& w) { return connected(n, w); });
    (reaches_all ? d.losers : d.left).push_back(n);
  }
  return d;
}

topology::topology(std::string self, int64_t started_at_ms)
  : self_(std::move(self)) {
  views_[self_] = core_view{self_, started_at_ms, 1, {}, {}};
}

bool topology::set_own(std::vector<std::string> connected,
                       std::vector<std::string> agreeing) {
  std::sort(connected.begin(), connected.end());
  std::sort(agreeing.begin(), agreeing.end());
  auto& v = views_.at(self_);
  if (v.connected == connected && v.agreeing == agreeing)
    return false;
  v.connected = std::move(connected);
  v.agreeing = std::move(agreeing);
  ++v.version;
  return true;
}

bool topology::merge(const std::vector<core_view>& views) {
  bool changed = false;
  for (auto& v : views) {
    if (v.node == self_ || v.node.empty())
      continue;
    auto i = views_.find(v.node);
    if (i == views_.end()
        || std::tie(v.started_at_ms, v.version)
             > std::tie(i->second.started_at_ms, i->second.version)) {
      views_[v.node] = v;
      changed = true;
    }
  }
  return changed;
}

void topology::forget(const std::string& node) {
  if (node != self_)
    views_.erase(node);
}

std::vector<core_view> topology::all() const {
  std::vector<core_view> out;
  for (auto& [n, v] : views_)
    out.push_back(v);
  return out;
}

} // namespace starling::runtime::cluster

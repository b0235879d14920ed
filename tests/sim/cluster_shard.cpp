// The shard actors of cluster_sim's nodes, their subscriber streams, and
// the db manager's transactions with retries (see cluster_host.hpp).

#include "cluster_host.hpp"

namespace starling::sim {

namespace {

using namespace runtime::db;

using namespace timing;

} // namespace

void cluster::carry(size_t i, shard_effects effects) {
  auto& n = at(i);
  for (auto& e : effects) {
    switch (e.kind) {
      case shard_effect::answer: {
        auto c = n.callers.find(e.caller);
        if (c == n.callers.end())
          break;
        txn_answer a{e.seqno, e.error, ""};
        if (e.error.empty())
          a.segment = n.shard->fsm().history().segment_of(e.seqno).value_or("");
        auto respond = std::move(c->second);
        n.callers.erase(c);
        respond(i, std::move(a));
        break;
      }
      case shard_effect::forward: {
        // Delegated: the other shard answers the caller itself.
        auto c = n.callers.find(e.caller);
        auto p = n.shard_peers.find(e.node);
        if (c == n.callers.end() || p == n.shard_peers.end())
          break;
        auto respond = std::move(c->second);
        n.callers.erase(c);
        w_.send(i, p->second, [this, to = p->second, txn = e.txn, respond] {
          serve_txn(to, txn, respond);
        });
        break;
      }
      case shard_effect::subscribe:
        subscribe(i, e);
        break;
      case shard_effect::request_batch: {
        if (!n.upstream)
          break;
        auto up = *n.upstream;
        // As the actor asks: with no timeout (a lost answer is replaced by
        // a new subscription when the upstream's agent goes).
        w_.request<std::vector<record>>(
          i, up, 0,
          [this, up, after = e.after](world::respond_fn<std::vector<record>> respond) {
            respond(up, at(up).shard->store().batch_after(after, batch_size));
          },
          [this, i, epoch = e.epoch](std::vector<record> records) {
            carry(i, at(i).shard->on_batch(epoch, records, now(i)));
          },
          [] {});
        break;
      }
      case shard_effect::ack:
        if (n.upstream_agent) {
          auto home = *n.upstream;
          w_.send(i, home, [this, home, id = n.upstream_agent, epoch = e.epoch,
                            seqno = e.seqno] {
            if (auto a = at(home).agents.find(id); a != at(home).agents.end())
              agent_carry(home, id, a->second.stream->ack(epoch, seqno));
          });
        }
        break;
      case shard_effect::survey:
        survey(i, e);
        break;
      case shard_effect::drop_stream:
        if (auto a = n.agents_by_node.find(e.node); a != n.agents_by_node.end()) {
          auto id = a->second;
          n.agents_by_node.erase(a);
          local(i, [this, i, id] { agent_gone(i, id); });
        }
        break;
      case shard_effect::drop_upstream:
        if (n.upstream_agent) {
          auto home = *n.upstream;
          w_.send(i, home, [this, home, id = n.upstream_agent] { agent_gone(home, id); });
        }
        n.upstream_agent = 0;
        n.upstream.reset();
        break;
      case shard_effect::push:
        for (auto& [node, id] : n.agents_by_node)
          local(i, [this, i, id = id, c = e.c] {
            // As the agent actor: held, released behind what waits.
            auto a = at(i).agents.find(id);
            if (a == at(i).agents.end())
              return;
            if (a->second.stream->hold(c)) {
              agent_carry(i, id, a->second.stream->release());
              return;
            }
            if (a->second.release_due)
              return;
            a->second.release_due = true;
            auto release = [this, i, id] {
              if (auto a = at(i).agents.find(id); a != at(i).agents.end()) {
                a->second.release_due = false;
                agent_carry(i, id, a->second.stream->release());
              }
            };
            auto after = a->second.stream->release_after_ms(timing::replicant_batch_ms);
            if (after == 0)
              local(i, release);
            else
              later(i, after * ms, release);
          });
        break;
      case shard_effect::store:
        n.disc.apply(e.c);
        break;
      case shard_effect::store_history:
        n.disc_history = e.history.str();
        break;
      case shard_effect::replace_disk:
        n.disc = n.shard->store();
        n.disc_history = n.shard->fsm().history().str();
        break;
      case shard_effect::watch_change:
      case shard_effect::watch_reset:
      case shard_effect::watch_resend:
        break;
      case shard_effect::retry:
        later(i, e.delay_ms * ms, [this, i, epoch = e.epoch] {
          carry(i, at(i).shard->on_retry(epoch, now(i)));
        });
        break;
      case shard_effect::log:
        w_.log(n.name + ": " + e.text);
        break;
    }
  }
}

void cluster::serve_txn(size_t i, const transaction& txn,
                        world::respond_fn<txn_answer> respond) {
  auto& n = at(i);
  auto id = ++n.next_caller;
  n.callers.emplace(id, std::move(respond));
  carry(i, n.shard->on_txn(txn, id, now(i)));
}

void cluster::subscribe(size_t i, const shard_effect& e) {
  auto& n = at(i);
  auto p = n.shard_peers.find(e.node);
  if (p == n.shard_peers.end()) {
    broken_ = n.name + " subscribes at " + e.node + ", which is not among its peers";
    return;
  }
  auto target = p->second;
  auto epoch = e.epoch;
  if (w_.trace() > 1)
    w_.log(n.name + ": subscribes at " + e.node + " (epoch " + std::to_string(epoch)
           + ", seqno " + std::to_string(e.seqno) + ")");
  w_.request<subscribe_reply>(
    i, target, subscribe_us,
    [this, target, i, core = n.core, epoch, history = e.history.str(),
     seqno = e.seqno, last_id = e.text](world::respond_fn<subscribe_reply> respond) {
      respond(target, serve_subscribe(target, i, core, epoch, history, seqno, last_id));
    },
    [this, i, target, epoch, name = e.node](subscribe_reply r) {
      auto& n = at(i);
      if (w_.trace() > 1)
        w_.log(n.name + ": subscription " + std::to_string(epoch) + " at " + name
               + ": " + (r.error.empty() ? "ok" : r.error) + " (epoch now "
               + std::to_string(n.shard->fsm().epoch()) + ")");
      if (!r.error.empty())
        return carry(i, n.shard->on_subscribe_failed(epoch, name, r.error));
      if (epoch != n.shard->fsm().epoch()) // replaced: close its stream
        return w_.send(i, target, [this, target, id = r.agent] { agent_gone(target, id); });
      if (n.upstream_agent && n.upstream_agent != r.agent)
        w_.send(i, *n.upstream, [this, home = *n.upstream, old = n.upstream_agent] {
          agent_gone(home, old);
        });
      n.upstream = target;
      n.upstream_agent = r.agent;
      // The agent sends nothing before this first acknowledgement.
      w_.send(i, target, [this, target, id = r.agent, epoch] {
        if (auto a = at(target).agents.find(id); a != at(target).agents.end())
          agent_carry(target, id, a->second.stream->ack(epoch, 0));
      });
      carry(i, n.shard->on_subscribed(epoch, name, r.resume, r.history,
                                      r.core_seqno, now(i)));
    },
    [this, i, epoch, name = e.node] {
      carry(i, at(i).shard->on_subscribe_failed(epoch, name, "timed out"));
    });
}

cluster::subscribe_reply cluster::serve_subscribe(size_t core, size_t sub,
                                                  bool is_core, uint64_t epoch,
                                                  const std::string& history,
                                                  uint64_t seqno,
                                                  const std::string& last_id) {
  auto& c = at(core);
  auto name = at(sub).name;
  shard_effects effects;
  auto d = c.shard->on_subscribe(name, is_core, history, seqno, last_id, effects);
  carry(core, std::move(effects)); // drops an earlier agent of the node first
  if (!d.error.empty()) {
    subscribe_reply refused;
    refused.error = d.error;
    return refused;
  }
  auto id = ++agent_ids_;
  c.agents.emplace(id, stream_agent{sub, name,
                                    std::make_unique<subscriber_stream>(
                                      name, is_core, epoch, std::move(d.entries),
                                      d.core_seqno, agent_window,
                                      agent_queue_limit)});
  c.agents_by_node[name] = id;
  // Monitoring a subscriber on a node this one no longer sees fires at once.
  if (!c.up.count(sub))
    local(core, [this, core, id] { agent_gone(core, id); });
  return {"", d.resume, d.history.str(), d.core_seqno, id};
}

void cluster::survey(size_t i, const shard_effect& e) {
  struct gathered {
    std::vector<survey_answer> answers;
    size_t pending = 1;
  };
  auto g = std::make_shared<gathered>();
  g->pending += e.nodes.size();
  auto done = [this, i, g, purpose = e.purpose, epoch = e.epoch] {
    if (--g->pending > 0)
      return;
    carry(i, at(i).shard->on_survey(purpose, epoch, g->answers, now(i)));
  };
  using answer = std::tuple<std::string, uint64_t, uint64_t, bool, bool>;
  for (auto& name : e.nodes) {
    auto p = at(i).shard_peers.find(name);
    if (p == at(i).shard_peers.end()) {
      done();
      continue;
    }
    auto target = p->second;
    w_.request<answer>(
      i, target, subscribe_us,
      [this, target](world::respond_fn<answer> respond) {
        auto& s = *at(target).shard;
        respond(target, {s.fsm().history().str(), s.fsm().reported_seqno(),
                         s.subscribers().size(), s.leading(), s.serving()});
      },
      [g, done, name](answer a) {
        g->answers.push_back(
          {name, true, std::get<0>(a), std::get<1>(a), std::get<2>(a), std::get<3>(a),
           std::get<4>(a)});
        done();
      },
      [g, done, name] {
        g->answers.push_back({name, false, "", 0, 0});
        done();
      });
  }
  done();
}

void cluster::agent_carry(size_t home, uint64_t id, subscriber_stream::output out) {
  auto& h = at(home);
  auto a = h.agents.find(id);
  if (a == h.agents.end())
    return;
  auto sub = a->second.subscriber;
  auto epoch = a->second.stream->epoch();
  if (out.cut) {
    w_.log(h.name + ": cutting off " + a->second.node + ": " + out.why);
    w_.send(home, sub, [this, sub, id, epoch, why = out.why] {
      auto& s = at(sub);
      if (s.upstream_agent != id)
        return;
      auto effects = s.shard->on_cut(epoch, why);
      if (!effects.empty())
        s.upstream_agent = 0;
      carry(sub, std::move(effects));
    });
    agent_gone(home, id);
    return;
  }
  for (auto& batch : out.batches)
    w_.send(home, sub, [this, sub, id, epoch, batch, latest = out.latest] {
      on_live(sub, id, epoch, batch, latest);
    });
  if (out.acked)
    local(home, [this, home, node = a->second.node, seqno = out.acked_seqno] {
      carry(home, at(home).shard->on_acked(node, seqno));
    });
}

void cluster::on_live(size_t i, uint64_t agent, uint64_t epoch,
                      const std::vector<committed>& batch, uint64_t latest) {
  auto& n = at(i);
  if (n.upstream_agent != agent)
    return; // a stale agent of an earlier subscription
  carry(i, n.shard->on_live(epoch, batch, latest, now(i)));
}

void cluster::agent_gone(size_t home, uint64_t id) {
  auto& h = at(home);
  auto a = h.agents.find(id);
  if (a == h.agents.end())
    return;
  auto sub = a->second.subscriber;
  h.agents.erase(a);
  // The shard's down handler.
  local(home, [this, home, id] {
    auto& h = at(home);
    for (auto& [node, aid] : h.agents_by_node)
      if (aid == id) {
        auto name = node;
        h.agents_by_node.erase(name);
        carry(home, h.shard->on_stream_lost(name));
        return;
      }
  });
  // The subscriber's monitor (its down message follows what the agent sent).
  w_.send(home, sub, [this, sub, id] { upstream_lost(sub, id); });
}

void cluster::upstream_lost(size_t i, uint64_t agent) {
  auto& n = at(i);
  if (n.upstream_agent != agent || !agent)
    return;
  n.upstream_agent = 0;
  carry(i, n.shard->on_upstream_lost(now(i)));
}

// -- transactions ----------------------------------------------------------------------

void cluster::write(size_t i, op o) {
  w_.run_on(i, [this, i, o] {
    auto& n = at(i);
    transaction t{n.name + "#" + std::to_string(n.started_at_ms) + "#"
                    + std::to_string(++n.txn_counter),
                  "s",
                  {o}};
    submit(i, std::move(t), 0);
  });
}

/// As the db manager: a lost or refused answer is retried with the same id
/// (the sequencer answers a retry of a committed transaction with its
/// first seqno), 200 ms more apart each time, rlog.write_retries times.
void cluster::submit(size_t i, transaction txn, uint32_t attempt) {
  auto retry = [this, i, txn, attempt] {
    if (attempt >= write_retries) {
      ++failed_writes_;
      w_.log(at(i).name + ": transaction " + txn.id + " failed");
      return;
    }
    later(i, 200 * ms * (attempt + 1), [this, i, txn, attempt] {
      submit(i, txn, attempt + 1);
    });
  };
  w_.request<txn_answer>(
    i, i, txn_us,
    [this, i, txn](world::respond_fn<txn_answer> respond) { serve_txn(i, txn, respond); },
    [this, i, txn, retry](txn_answer a) {
      if (!a.error.empty())
        return retry();
      auto& o = txn.ops.front();
      acked_.push_back({txn.id, o.kind == op::write ? o.key : "", o.value,
                        at(i).name, a.seqno, a.segment});
    },
    retry);
}

} // namespace starling::sim

// The db manager: transactions with retries, and the bounded write load
// an operator runs inside the node (`starling ctl db load`).

#include "manager_state.hpp"

#include <algorithm>
#include <chrono>
#include <memory>

#include <nlohmann/json.hpp>

#include "starling/actors/node_context.hpp"

namespace starling::actors::db::manager_detail {

// -- transactions with retries ------------------------------------------------

/// Sends `txn` to the local shard actor, which commits it (leader), passes
/// it to the sequencer or, on a replicant, to a core. A lost answer (the
/// sequencer or the core died) is retried with the same id, so a
/// transaction that was committed after all is answered, not applied twice.
void submit(manager_actor* self, transaction txn, txn_callback done,
            uint32_t attempt) {
  auto& st = self->state;
  auto target = st.local.at(txn.shard);
  auto timeout = std::chrono::milliseconds(st.db->settings.request_timeout_ms);
  self->request(target, timeout, txn_atom::value, txn)
    .then([done](uint64_t seqno) { done(seqno); },
          [=](caf::error& err) {
            auto& st = self->state;
            if (attempt >= st.db->settings.write_retries) {
              done(fail("transaction " + txn.id + " failed after "
                        + std::to_string(attempt + 1)
                        + " attempts: " + describe(err)));
              return;
            }
            auto delay = std::chrono::milliseconds(200 * (attempt + 1));
            st.retries[txn.id] = {txn, done, attempt + 1};
            self->delayed_send(self, delay, retry_atom::value, txn.id);
          });
}

std::string next_txn_id(manager_actor* self) {
  auto& st = self->state;
  return st.self_name + "#" + std::to_string(st.db->node->started_at_ms) + "#"
         + std::to_string(++st.txn_counter);
}

caf::result<uint64_t> transact(manager_actor* self, transaction txn) {
  auto& st = self->state;
  if (auto why = st.db->schema.check(txn))
    return fail(*why);
  txn.id = next_txn_id(self);
  auto rp = self->make_response_promise();
  submit(self, std::move(txn),
         [rp](caf::expected<uint64_t> r) mutable {
           if (r)
             rp.deliver(*r);
           else
             rp.deliver(r.error());
         },
         0);
  return caf::delegated<uint64_t>{};
}

namespace {

// -- operator commands ----------------------------------------------------------

/// A bounded write load run inside the node (`starling ctl db load`): the
/// latency of each transaction as its caller sees it, with `concurrency`
/// transactions outstanding. Used by the replication benchmark and the
/// system tests that need many concurrent writes.
struct load_run {
  std::string table, prefix, value;
  uint64_t count = 0, next = 0, done = 0, errors = 0;
  uint32_t concurrency = 1;
  std::chrono::steady_clock::time_point started;
  std::vector<int64_t> latencies_us;
  std::string first_error;
  caf::response_promise rp;
};

void load_next(manager_actor* self, std::shared_ptr<load_run> run);

void load_finish(std::shared_ptr<load_run> run) {
  auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::steady_clock::now() - run->started)
                   .count();
  auto& l = run->latencies_us;
  std::sort(l.begin(), l.end());
  auto pct = [&](double p) -> int64_t {
    if (l.empty())
      return 0;
    return l[std::min(l.size() - 1, static_cast<size_t>(p * l.size()))];
  };
  nlohmann::json j{{"count", run->count},
                   {"ok", run->done - run->errors},
                   {"errors", run->errors},
                   {"first_error", run->first_error},
                   {"elapsed_ms", elapsed / 1000},
                   {"rate", elapsed > 0 ? (run->done * 1e6 / elapsed) : 0.0},
                   {"p50_us", pct(0.50)},
                   {"p90_us", pct(0.90)},
                   {"p99_us", pct(0.99)},
                   {"max_us", l.empty() ? 0 : l.back()}};
  run->rp.deliver(j.dump());
}

void load_next(manager_actor* self, std::shared_ptr<load_run> run) {
  if (run->next >= run->count)
    return;
  auto i = run->next++;
  transaction txn;
  txn.shard = self->state.db->schema.find(run->table)->shard;
  txn.ops.push_back(
    {op::write, run->table, run->prefix + std::to_string(i), run->value});
  txn.id = next_txn_id(self);
  auto t0 = std::chrono::steady_clock::now();
  submit(self, std::move(txn),
         [=](caf::expected<uint64_t> r) {
           if (r) {
             run->latencies_us.push_back(
               std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::steady_clock::now() - t0)
                 .count());
           } else {
             ++run->errors;
             if (run->first_error.empty())
               run->first_error = describe(r.error());
           }
           if (++run->done == run->count)
             load_finish(run);
           else
             load_next(self, run);
         },
         0);
}

} // namespace

caf::result<std::string> start_load(manager_actor* self,
                                    const std::string& table,
                                    const std::string& prefix, uint64_t count,
                                    uint32_t concurrency, uint32_t value_size) {
  auto spec = self->state.db->schema.find(table);
  if (!spec || spec->type != table_type::regular)
    return fail("'" + table + "' is not a regular table");
  if (count == 0 || count > 10000000)
    return fail("count must be between 1 and 10000000");
  if (concurrency == 0 || concurrency > 10000)
    return fail("concurrency must be between 1 and 10000");
  auto run = std::make_shared<load_run>();
  run->table = table;
  run->prefix = prefix;
  run->value = std::string(std::min<uint32_t>(value_size, 1 << 20), 'v');
  run->count = count;
  run->concurrency = concurrency;
  run->started = std::chrono::steady_clock::now();
  run->latencies_us.reserve(count);
  run->rp = self->make_response_promise();
  for (uint32_t k = 0; k < concurrency; ++k)
    load_next(self, run);
  return caf::delegated<std::string>{};
}

} // namespace starling::actors::db::manager_detail

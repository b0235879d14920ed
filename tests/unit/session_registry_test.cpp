#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "starling/broker/session_registry.hpp"

using namespace starling::broker;

namespace {

registry_effect put(const std::string& id, const std::string& node) {
  return {registry_effect::put, id, node, 0};
}
registry_effect erase_if(const std::string& id, const std::string& node) {
  return {registry_effect::erase_if, id, node, 0};
}
registry_effect check(const std::string& id, const std::string& node) {
  return {registry_effect::check_later, id, node,
          session_registry::supersede_after_ms};
}

} // namespace

TEST_CASE("session registry: a session established here is written once") {
  session_registry r("a", true, 100);
  r.hold("c1");
  CHECK(r.registered("c1") == registry_effects{put("c1", "a")});
  // The write comes back through the replica: a second registration
  // (a reconnect to the same session) writes nothing.
  CHECK(r.changed("c1", true, "a").empty());
  CHECK(r.registered("c1").empty());
  CHECK(*r.holder("c1") == "a");
  CHECK_FALSE(r.holder_elsewhere("c1"));
}

TEST_CASE("session registry: a session that ends erases only its own entry") {
  session_registry r("a", true, 100);
  r.registered("c1");
  CHECK(r.released("c1") == registry_effects{erase_if("c1", "a")});
  // Released twice (the session ended after it moved): nothing more.
  CHECK(r.released("c1").empty());
  // Never held here: nothing to erase.
  CHECK(r.released("other").empty());
}

TEST_CASE("session registry: a newer holder elsewhere supersedes after the delay") {
  session_registry r("a", true, 100);
  r.registered("c1");
  r.changed("c1", true, "a");
  // The client connected to b: its write wins the table.
  CHECK(r.changed("c1", true, "b") == registry_effects{check("c1", "b")});
  CHECK(r.holder_elsewhere("c1") == std::optional<std::string>("b"));
  // Two racing writes: the table names a again before the check runs, so
  // the session here does not give way to an intermediate value.
  r.changed("c1", true, "a");
  CHECK_FALSE(r.gives_way("c1", "b"));
  r.changed("c1", true, "b");
  CHECK(r.gives_way("c1", "b"));
  // An id not held here never gives way, whatever the table says.
  r.changed("c9", true, "b");
  CHECK_FALSE(r.gives_way("c9", "b"));
}

TEST_CASE("session registry: an entry erased under a live session is written again") {
  session_registry r("repl", false, 100);
  r.registered("c1");
  r.changed("c1", true, "repl");
  // The cleaner erased it (it did not count us as running yet).
  CHECK(r.changed("c1", false, "") == registry_effects{put("c1", "repl")});
  CHECK(r.stats().registered_again == 1);
  // An entry of a session not held here goes without a word.
  r.changed("c2", true, "b");
  CHECK(r.changed("c2", false, "").empty());
  CHECK(r.holder("c2") == nullptr);
}

TEST_CASE("session registry: after a re-sync, sessions the table lost are written again") {
  session_registry r("a", true, 100);
  r.registered("c1");
  r.registered("c2");
  r.changed("c1", true, "a");
  r.changed("c2", true, "a");
  // The losing side of a heal: the replica is replaced by the winner's,
  // which knows c2 on another node and nothing of c1.
  r.reset();
  CHECK(r.size() == 0);
  CHECK(r.changed("c2", true, "b") == registry_effects{check("c2", "b")});
  CHECK(r.synced() == registry_effects{put("c1", "a")});
  CHECK(r.stats().after_sync == 1);
}

TEST_CASE("session registry: only the oldest running core cleans, and only down nodes") {
  session_registry oldest("a", true, 100), younger("b", true, 200),
    replicant("r", false, 50);
  for (auto* r : {&oldest, &younger, &replicant}) {
    r->changed("on-a", true, "a");
    r->changed("on-b", true, "b");
    r->changed("on-gone", true, "gone");
  }
  std::vector<registry_member> from_a{{"b", true, 200}, {"r", false, 50}};
  std::vector<registry_member> from_b{{"a", true, 100}, {"r", false, 50}};
  std::vector<registry_member> from_r{{"a", true, 100}, {"b", true, 200}};
  CHECK(oldest.running(from_a) == registry_effects{erase_if("on-gone", "gone")});
  CHECK(oldest.cleans());
  CHECK(oldest.stats().cleaned == 1);
  CHECK(younger.running(from_b).empty());
  CHECK_FALSE(younger.cleans());
  // A replicant started earlier than every core still never cleans.
  CHECK(replicant.running(from_r).empty());
  CHECK_FALSE(replicant.cleans());
  // a goes down: b is now the oldest running core and cleans a's entries.
  CHECK(younger.running({{"r", false, 50}})
        == registry_effects{erase_if("on-a", "a"), erase_if("on-gone", "gone")});
}

TEST_CASE("session registry: a start-time tie is broken by the name") {
  session_registry a("a", true, 100), b("b", true, 100);
  CHECK(a.running({{"b", true, 100}}).empty());
  CHECK(a.cleans());
  CHECK_FALSE(b.running({{"a", true, 100}}).size());
  CHECK_FALSE(b.cleans());
}

TEST_CASE("session registry: an entry naming this node for no session here is erased") {
  // Found by tests/sim/registry_sim: a write of ours, resent after its
  // answer was lost, lands after the session moved to b and overwrites b's
  // entry; left alone, it would make b's session give way to nobody.
  session_registry r("a", true, 100);
  r.registered("c1");
  r.changed("c1", true, "a");
  r.released("c1"); // moved to b
  r.changed("c1", true, "b");
  CHECK(r.changed("c1", true, "a") == registry_effects{erase_if("c1", "a")});
  CHECK(r.stats().stale_erased == 1);
  // A session held here keeps its entry, of course.
  r.registered("c2");
  CHECK(r.changed("c2", true, "a").empty());
}

#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/node_id.hpp>

namespace starling::actors {

/// Every actor of ours that the shell lists in actors(). CAF 0.17 cannot
/// enumerate a system's actors, so each actor is entered here when spawned
/// and leaves by itself when it exits. Thread-safe.
class actor_directory {
public:
  struct entry {
    caf::actor_id id;
    /// The id as listed and as `actor <ref>` takes it: "6" for the main
    /// actor system, "d0:6" for one labelled "d0" (see label_system).
    std::string ref;
    std::string name;
    std::string kind;
    caf::actor handle;
  };

  /// Labels the actor system whose node id is `system`: its actors are
  /// listed as "<label>:<id>". Every actor system numbers its actors from 1,
  /// so the node's other systems (the message channel's links) need one;
  /// call before entering their actors.
  void label_system(const caf::node_id& system, std::string label);

  /// Enters `a`; it is removed automatically when it terminates.
  void add(const caf::actor& a, std::string name, std::string kind);

  /// Renames an entry (e.g. a connection learns its client id).
  void rename(const caf::abstract_actor* a, std::string name);

  std::vector<entry> list() const;

  /// Looks up by exact name or by ref ("6", "d0:6").
  std::optional<entry> find(const std::string& id_or_name) const;

  /// Drops all handles (before the actor system shuts down).
  void clear();
  ~actor_directory();

private:
  /// By actor id and actor: the node's second actor system (the message
  /// channel) numbers its actors from 1 as well, so an id alone is
  /// ambiguous. Ordered by id for listings; O(log n) per change (a node
  /// enters two actors per MQTT client).
  using key = std::pair<caf::actor_id, const void*>;
  /// What is kept per actor (a node lists two per client): the kind is one
  /// of a few names, kept once; the ref is made when listed.
  struct stored {
    std::string name;
    const std::string* kind;
    caf::actor handle;
  };
  void remove(key k);
  entry listed(const stored& s) const;

  mutable std::mutex mtx_;
  std::map<key, stored> entries_;
  std::set<std::string> kinds_;
  std::vector<std::pair<caf::node_id, std::string>> labels_;
};

} // namespace starling::actors

#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>

namespace starling::actors {

/// Every actor of ours that the shell lists in actors(). CAF 0.17 cannot
/// enumerate a system's actors, so each actor is entered here when spawned
/// and leaves by itself when it exits. Thread-safe.
class actor_directory {
public:
  struct entry {
    caf::actor_id id;
    std::string name;
    std::string kind;
    caf::actor handle;
  };

  /// Enters `a`; it is removed automatically when it terminates.
  void add(const caf::actor& a, std::string name, std::string kind);

  /// Renames an entry (e.g. a connection learns its client id). By address:
  /// the node's second actor system (the message channel) numbers its
  /// actors from 1 as well, so an id alone is ambiguous.
  void rename(const caf::actor_addr& a, std::string name);

  std::vector<entry> list() const;

  /// Looks up by decimal id or by exact name.
  std::optional<entry> find(const std::string& id_or_name) const;

  /// Drops all handles (before the actor system shuts down).
  void clear();

private:
  void remove(const caf::actor_addr& a);

  mutable std::mutex mtx_;
  std::vector<entry> entries_;
};

} // namespace starling::actors

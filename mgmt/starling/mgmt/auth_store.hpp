#pragma once

// The node's copy of the replicated tables `admin_user` and `api_key`
// (shard mgmt_shard), kept up to date by the management actor from its
// watch on the shard and read by the HTTP threads that check credentials.
// Thread-safe.

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "starling/mgmt/credentials.hpp"

namespace starling::mgmt {

inline constexpr const char* user_table = "admin_user";
inline constexpr const char* api_key_table = "api_key";

class auth_store {
public:
  /// A record of `table` came or changed (`value`), or went (nullopt).
  /// Malformed records are ignored (false).
  bool apply(const std::string& table, const std::string& key,
             const std::optional<std::string>& value);
  /// Forgets the table's records; for the user table also that it was in
  /// sync (a bootstrap sends every record again, then mark_synced).
  void clear(const std::string& table);
  /// The user table holds what the cluster holds: this node's replica is
  /// its own (a core) or has been copied from a core (a replicant).
  void mark_synced() { std::lock_guard g(mtx_); synced_ = true; }
  bool synced() const { std::lock_guard g(mtx_); return synced_; }

  /// The default user (dashboard.default_username / _password, to be
  /// changed at the first login) stands in for the table while the
  /// cluster has no user at all: nothing is written until its password
  /// changes, so no node ever writes it over the cluster's users, and a
  /// replica not yet in sync accepts no one.
  void set_default(user_record u) { std::lock_guard g(mtx_); default_ = std::move(u); }

  std::optional<user_record> user(const std::string& name) const;
  std::vector<user_record> users() const;
  std::optional<api_key_record> key(const std::string& id) const;
  std::optional<api_key_record> key_by_name(const std::string& name) const;
  std::vector<api_key_record> keys() const;

  /// Whether `secret` is the secret of key `r`. A PBKDF2 check costs tens
  /// of milliseconds, so a pair that passed is remembered (by a hash of key,
  /// secret and stored hash: a changed record is checked afresh).
  bool check_secret(const api_key_record& r, const std::string& secret);

private:
  mutable std::mutex mtx_;
  std::map<std::string, user_record> users_;
  std::map<std::string, api_key_record> keys_;
  std::set<std::string> verified_;
  bool synced_ = false;
  std::optional<user_record> default_;
};

} // namespace starling::mgmt

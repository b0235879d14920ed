#include "starling/mgmt/auth_store.hpp"

namespace starling::mgmt {

bool auth_store::apply(const std::string& table, const std::string& key,
                       const std::optional<std::string>& value) {
  std::lock_guard g(mtx_);
  if (table == user_table) {
    if (!value) {
      users_.erase(key);
      return true;
    }
    auto u = user_record::from_json(key, *value);
    if (u)
      users_[key] = std::move(*u);
    return u.has_value();
  }
  if (table == api_key_table) {
    if (!value) {
      keys_.erase(key);
      return true;
    }
    auto r = api_key_record::from_json(key, *value);
    if (r)
      keys_[key] = std::move(*r);
    return r.has_value();
  }
  return false;
}

void auth_store::clear(const std::string& table) {
  std::lock_guard g(mtx_);
  if (table == user_table) {
    users_.clear();
    synced_ = false;
  }
  else if (table == api_key_table)
    keys_.clear();
}

std::optional<user_record> auth_store::user(const std::string& name) const {
  std::lock_guard g(mtx_);
  auto i = users_.find(name);
  if (i != users_.end())
    return i->second;
  if (users_.empty() && synced_ && default_ && default_->username == name)
    return default_;
  return std::nullopt;
}

std::vector<user_record> auth_store::users() const {
  std::lock_guard g(mtx_);
  std::vector<user_record> out;
  for (auto& [k, u] : users_)
    out.push_back(u);
  if (out.empty() && synced_ && default_)
    out.push_back(*default_);
  return out;
}

std::optional<api_key_record> auth_store::key(const std::string& id) const {
  std::lock_guard g(mtx_);
  auto i = keys_.find(id);
  return i == keys_.end() ? std::nullopt : std::optional(i->second);
}

std::optional<api_key_record>
auth_store::key_by_name(const std::string& name) const {
  std::lock_guard g(mtx_);
  for (auto& [k, r] : keys_)
    if (r.name == name)
      return r;
  return std::nullopt;
}

std::vector<api_key_record> auth_store::keys() const {
  std::lock_guard g(mtx_);
  std::vector<api_key_record> out;
  for (auto& [k, r] : keys_)
    out.push_back(r);
  return out;
}

bool auth_store::check_secret(const api_key_record& r, const std::string& secret) {
  auto tag = sha256_hex(r.key + "\n" + secret + "\n" + r.secret.hash);
  {
    std::lock_guard g(mtx_);
    if (verified_.count(tag))
      return true;
  }
  if (!verify_password(secret, r.secret))
    return false;
  std::lock_guard g(mtx_);
  if (verified_.size() > 1000)
    verified_.clear();
  verified_.insert(tag);
  return true;
}

} // namespace starling::mgmt

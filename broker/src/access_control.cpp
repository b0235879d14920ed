#include "starling/broker/access_control.hpp"

namespace starling::broker {

void access_control::put_user(std::string_view username,
                              std::string_view hash) {
  users_.insert_or_assign(std::string(username), std::string(hash));
}

void access_control::erase_user(std::string_view username) {
  if (auto i = users_.find(username); i != users_.end())
    users_.erase(i);
}

std::vector<std::string> access_control::user_names() const {
  std::vector<std::string> out;
  for (auto& [name, hash] : users_)
    out.push_back(name);
  return out;
}

const std::string* access_control::find_user(std::string_view username) const {
  if (auto i = users_.find(username); i != users_.end())
    return &i->second;
  if (password_file_)
    if (auto i = password_file_->users.find(username);
        i != password_file_->users.end())
      return &i->second;
  return nullptr;
}

authn_result access_control::authenticate(const authn_request& r,
                                          std::int64_t now_ms,
                                          std::int64_t now_s) {
  if (auto b = bans_.find(r.client_id, r.username, r.peer_host, now_s))
    return {reason_code::banned,
            "banned (" + b->key() + ", until " + format_utc(b->until_s) + ")"};
  if (failures_.blocked(r.peer_host, now_ms))
    return {reason_code::bad_username_or_password,
            "too many failed attempts from " + std::string(r.peer_host)
              + "; refused without checking"};
  auto refuse = [&](reason_code code, std::string why) {
    failures_.failed(r.peer_host, now_ms);
    return authn_result{code, std::move(why)};
  };
  if (r.username && !r.username_from_certificate) {
    if (auto hash = find_user(*r.username)) {
      std::string_view password;
      if (r.password)
        password = std::string_view(
          reinterpret_cast<const char*>(r.password->data()), r.password->size());
      if (!r.password || !verify_password(*hash, password))
        return refuse(reason_code::bad_username_or_password,
                      "wrong password for user '" + std::string(*r.username) + "'");
      failures_.succeeded(r.peer_host);
      return {};
    }
  }
  if (r.username_from_certificate || settings_.allow_anonymous)
    return {};
  if (r.username)
    return refuse(reason_code::bad_username_or_password,
                  "unknown user '" + std::string(*r.username)
                    + "' (authn.allow_anonymous is false)");
  return refuse(reason_code::not_authorized,
                "no username (authn.allow_anonymous is false)");
}

bool access_control::authorize(const acl_client& who, access_action action,
                               std::string_view topic) const {
  if (acl_)
    if (auto verdict = acl_->check(who, action, topic))
      return *verdict;
  return settings_.no_match_allows;
}

} // namespace starling::broker

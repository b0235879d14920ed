#include "starling/runtime/online_config.hpp"

#include <algorithm>

namespace starling::runtime {

online_config::online_config(node_config base)
  : base_(std::move(base)), effective_(base_) {
}

online_config::applied
online_config::set_cluster(std::map<std::string, std::string> records) {
  applied out;
  std::erase_if(records, [](auto& r) {
    auto k = find_config_key(r.first);
    return !k || !k->online;
  });
  auto res = apply_overrides(base_, records, cluster_config_source);
  if (!res.config) {
    out.error = res.error;
    return out;
  }
  for (auto& key : config_schema())
    if (res.config->text(key.name) != effective_.text(key.name))
      out.changed.push_back(key.name);
  effective_ = std::move(*res.config);
  cluster_ = std::move(records);
  return out;
}

std::string restart_required(const std::string& key) {
  return key + " cannot change while the node runs (it is read once at "
         "start): set it in the config file or " + env_var_for(key)
         + " and restart the node";
}

std::string online_config::check(const config_changes& changes) const {
  if (changes.empty())
    return "no configuration key given";
  auto next = cluster_;
  for (auto& [key, value] : changes) {
    auto k = find_config_key(key);
    if (!k)
      return "unknown config key '" + key + "'";
    if (!k->online)
      return restart_required(key);
    if (!value) {
      next.erase(key);
      continue;
    }
    if (auto why = validate_key(key, *value); !why.empty())
      return "invalid value for " + key + ": '" + *value + "': " + why;
    next[key] = *value;
  }
  // The rules between keys (hard limit above the high watermark, ...).
  auto res = apply_overrides(base_, next, cluster_config_source);
  return res.config ? "" : res.error;
}

std::vector<std::string> config_sections() {
  std::vector<std::string> out;
  for (auto& key : config_schema()) {
    auto s = key.name.substr(0, key.name.find('.'));
    if (std::find(out.begin(), out.end(), s) == out.end())
      out.push_back(s);
  }
  return out;
}

} // namespace starling::runtime

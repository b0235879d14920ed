#include "starling/runtime/cluster/membership_file.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace starling::runtime::cluster {

std::string to_text(const membership& view) {
  auto members = nlohmann::json::array();
  for (auto& m : view.members())
    if (m.name != view.self().name)
      members.push_back({{"name", m.name},
                         {"host", m.host},
                         {"dist_port", m.dist_port},
                         {"data_port", m.data_port},
                         {"role", to_string(m.role)},
                         {"started_at_ms", m.started_at_ms}});
  auto removals = nlohmann::json::array();
  for (auto& r : view.removals())
    removals.push_back({{"name", r.name}, {"reason", r.reason}, {"at_ms", r.at_ms}});
  return nlohmann::json{{"node", view.self().name},
                        {"members", members},
                        {"removed", removals}}
           .dump(2)
         + "\n";
}

std::optional<saved_membership> parse_membership(const std::string& text,
                                                 std::string& error) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    error = "not JSON";
    return std::nullopt;
  }
  saved_membership out;
  try {
    for (auto& m : j.value("members", nlohmann::json::array())) {
      member x;
      x.name = m.at("name").get<std::string>();
      x.host = m.at("host").get<std::string>();
      x.dist_port = m.at("dist_port").get<uint16_t>();
      x.data_port = m.value("data_port", uint16_t{0});
      auto role = m.at("role").get<std::string>();
      if (role != "core" && role != "replicant") {
        error = "member " + x.name + " has role '" + role + "'";
        return std::nullopt;
      }
      x.role = role == "core" ? node_role::core : node_role::replicant;
      x.started_at_ms = m.value("started_at_ms", int64_t{0});
      x.status = member_status::down;
      out.members.push_back(std::move(x));
    }
    for (auto& r : j.value("removed", nlohmann::json::array()))
      out.removals.push_back({r.at("name").get<std::string>(),
                              r.value("reason", std::string()),
                              r.value("at_ms", int64_t{0})});
  } catch (const nlohmann::json::exception& e) {
    error = e.what();
    return std::nullopt;
  }
  return out;
}

bool save_membership(const std::string& path, const membership& view,
                     std::string& error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << to_text(view);
    out.flush();
    if (!out) {
      error = "cannot write " + tmp;
      return false;
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    error = "cannot replace " + path + ": " + ec.message();
    return false;
  }
  return true;
}

std::optional<saved_membership> load_membership(const std::string& path,
                                                std::string& error) {
  std::ifstream in(path);
  if (!in) {
    if (!std::filesystem::exists(path))
      return saved_membership{};
    error = "cannot read " + path;
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string why;
  auto r = parse_membership(text.str(), why);
  if (!r)
    error = path + " is not a membership file (" + why + ")";
  return r;
}

} // namespace starling::runtime::cluster

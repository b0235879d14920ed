#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "starling/runtime/cluster/membership_file.hpp"

using namespace starling::runtime;
using namespace starling::runtime::cluster;

TEST_CASE("membership file: members come back as down, removals as removals") {
  member self{"a@h", "h", 4371, 5371, node_role::core, member_status::up, 100, 100};
  membership v(self);
  v.upsert({"b@h", "10.0.0.2", 4372, 5372, node_role::core, member_status::up, 50, 0}, 1);
  v.upsert({"r@h", "10.0.0.3", 4380, 5380, node_role::replicant,
            member_status::down, 60, 0}, 1);
  v.add_removal({"x@h", "force-left by a@h", 1234});
  auto dir = std::filesystem::temp_directory_path() / "starling-mfile-test";
  std::filesystem::remove_all(dir);
  auto path = (dir / "sub" / "a@h.cluster.json").string();
  std::string err;
  REQUIRE(save_membership(path, v, err));
  auto loaded = load_membership(path, err);
  REQUIRE(loaded);
  REQUIRE(loaded->members.size() == 2);
  CHECK(loaded->members[0].name == "b@h");
  CHECK(loaded->members[0].host == "10.0.0.2");
  CHECK(loaded->members[0].dist_port == 4372);
  CHECK(loaded->members[0].data_port == 5372);
  CHECK(loaded->members[0].status == member_status::down);
  CHECK(loaded->members[1].role == node_role::replicant);
  REQUIRE(loaded->removals.size() == 1);
  CHECK(loaded->removals[0] == removal{"x@h", "force-left by a@h", 1234});
  // Missing: an empty membership; garbage: a sentence naming the file.
  auto none = load_membership((dir / "none.json").string(), err);
  REQUIRE(none);
  CHECK(none->members.empty());
  std::ofstream(dir / "bad.json") << "{\"members\": [{\"name\": 3}]}";
  err.clear();
  CHECK_FALSE(load_membership((dir / "bad.json").string(), err));
  CHECK(err.find("bad.json is not a membership file") != std::string::npos);
  std::filesystem::remove_all(dir);
}

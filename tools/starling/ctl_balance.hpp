#pragma once

// starling ctl's rebalance and evacuation commands (EMQX's
// `emqx ctl rebalance ...`): the options become the balancer's JSON
// request (checked by broker::read_*_request on the node), the answers
// are printed as text or, with --json, as they come.

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "starling/actors/hidden_client.hpp"

namespace starling::tools {

/// The balancer options given on the command line: --conn-evict-rate ->
/// its value, ...
using balance_options = std::map<std::string, std::string>;

/// The option names (without --) ctl accepts for these commands.
const std::vector<std::string>& balance_option_names();

bool is_balance_command(const std::vector<std::string>& cmd);
/// Why the command or its options are wrong, or "". Sets the balancer's
/// command and the request.
std::string check_balance_command(const std::vector<std::string>& cmd,
                                  const balance_options& opts, std::string& command,
                                  nlohmann::json& request);
int balance_command(actors::hidden_client& c, const std::string& command,
                    const nlohmann::json& request, bool json);

/// A node's balance status (the balancer's JSON) as text.
std::string format_balance_status(const nlohmann::json& status);

} // namespace starling::tools

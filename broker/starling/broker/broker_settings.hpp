#pragma once

#include <cstdint>

#include "starling/broker/channel_config.hpp"
#include "starling/broker/shared_group.hpp"
#include "starling/runtime/node_config.hpp"

namespace starling::broker {

/// Everything the MQTT side of a node is configured with, read from the
/// node's validated `mqtt.*` settings. The defaults live in one place, the
/// config schema (runtime/node_config.cpp; docs/config.md lists them), so
/// the fields here have none.
struct broker_settings {
  runtime::listen_address tcp;
  channel_config channel;
  uint32_t connect_timeout_ms = 0;
  uint64_t write_high_watermark = 0;
  uint64_t write_hard_limit = 0;
  shared_strategy shared = shared_strategy::round_robin;
  uint32_t sys_interval_ms = 0;
};

/// Converts; the values were range-checked when the config was loaded.
broker_settings broker_settings_from(const runtime::node_config& cfg);

} // namespace starling::broker

#pragma once

// The stream of one subscriber of a shard on a core (its agent): what the
// shard commits or applies is queued and sent in batches of up to
// `max_batch`, at most `window` transactions ahead of the subscriber's
// acknowledgements; past `queue_limit` queued the subscriber is cut off (it
// resumes or re-bootstraps), so a slow replicant never grows the core's
// memory without bound. Nothing is sent before the subscriber's first
// acknowledgement: by then it holds the subscription reply, so no live
// transaction can overtake it. A following core's acknowledgements are
// passed to the shard (its sequencer's callers wait for them).

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "starling/runtime/db/types.hpp"

namespace starling::runtime::db {

class subscriber_stream {
public:
  static constexpr size_t max_batch = 64;

  /// `initial`: a resume's entries, sent first. `latest`: the core's seqno.
  subscriber_stream(std::string node, bool core, uint64_t epoch,
                    std::vector<committed> initial, uint64_t latest,
                    size_t window, size_t queue_limit);

  struct output {
    std::vector<std::vector<committed>> batches; ///< to the subscriber
    uint64_t latest = 0;  ///< the newest seqno known, sent with each batch
    bool cut = false;     ///< give up on the subscriber: `why`
    std::string why;
    bool acked = false;   ///< tell the shard `acked_seqno` (following core)
    uint64_t acked_seqno = 0;
  };

  /// Queues `c` and sends what the window allows.
  output push(committed c);
  /// Queues `c` without sending: the agent holds a burst of pushes (what
  /// waited in its mailbox) and releases them together, so they leave as
  /// one batch, one message and one socket write per subscriber. True when
  /// the queue is past its limit: release at once (the subscriber is cut).
  bool hold(committed c);
  /// Sends what the window allows of what is held and queued; past the
  /// queue limit, cuts the subscriber off.
  output release();
  /// How long the agent holds a burst before `release`: a core that
  /// follows is on the write path (at once); a replicant's copy may lag
  /// `replicant_batch_ms`, so that what commits meanwhile goes in the same
  /// batch (rlog.replicant_batch_ms).
  uint32_t release_after_ms(uint32_t replicant_batch_ms) const {
    return core_ ? 0 : replicant_batch_ms;
  }
  output ack(uint64_t epoch, uint64_t seqno);

  const std::string& node() const { return node_; }
  bool core() const { return core_; }
  uint64_t epoch() const { return epoch_; }
  size_t pending() const { return queue_.size(); }
  uint64_t in_flight() const { return last_sent_ - last_acked_; }
  uint64_t acked() const { return last_acked_; }

private:
  void flush(output& out);

  std::string node_;
  bool core_;
  uint64_t epoch_;
  size_t window_, queue_limit_;
  std::deque<committed> queue_;
  uint64_t last_sent_ = 0, last_acked_ = 0, latest_ = 0;
  bool started_ = false;
};

} // namespace starling::runtime::db

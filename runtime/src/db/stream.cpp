#include "starling/runtime/db/stream.hpp"

#include <algorithm>

namespace starling::runtime::db {

subscriber_stream::subscriber_stream(std::string node, bool core,
                                     uint64_t epoch,
                                     std::vector<committed> initial,
                                     uint64_t latest, size_t window,
                                     size_t queue_limit)
  : node_(std::move(node)),
    core_(core),
    epoch_(epoch),
    window_(window),
    queue_limit_(queue_limit),
    latest_(latest) {
  // Acknowledgements count from where the subscriber starts.
  last_sent_ = last_acked_ = initial.empty() ? latest : initial.front().seqno - 1;
  for (auto& c : initial)
    queue_.push_back(std::move(c));
}

void subscriber_stream::flush(output& out) {
  // What queued up while the previous batch was out travels as one message:
  // under load the per-message cost is paid once per batch.
  while (started_ && !queue_.empty() && last_sent_ - last_acked_ < window_) {
    std::vector<committed> batch;
    while (!queue_.empty() && batch.size() < max_batch
           && last_sent_ - last_acked_ < window_) {
      last_sent_ = queue_.front().seqno;
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    out.batches.push_back(std::move(batch));
  }
  out.latest = latest_;
}

subscriber_stream::output subscriber_stream::push(committed c) {
  hold(std::move(c));
  return release();
}

bool subscriber_stream::hold(committed c) {
  latest_ = std::max(latest_, c.seqno);
  queue_.push_back(std::move(c));
  return queue_.size() > queue_limit_;
}

subscriber_stream::output subscriber_stream::release() {
  output out;
  if (queue_.size() > queue_limit_) {
    out.cut = true;
    out.why = std::to_string(queue_.size())
              + " transactions queued (rlog.agent_queue_limit)";
    return out;
  }
  flush(out);
  return out;
}

subscriber_stream::output subscriber_stream::ack(uint64_t epoch, uint64_t seqno) {
  output out;
  if (epoch != epoch_)
    return out;
  if (!started_) {
    started_ = true;
    flush(out);
    return out;
  }
  if (seqno <= last_acked_)
    return out;
  last_acked_ = seqno;
  if (core_) {
    out.acked = true;
    out.acked_seqno = seqno;
  }
  flush(out);
  return out;
}

} // namespace starling::runtime::db

#include "starling/loadgen/engine.hpp"

#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>


namespace starling::loadgen {

namespace {

constexpr std::uint64_t ms_ns = 1'000'000;

} // namespace

engine::engine(const options& o, unsigned id, std::vector<target> targets,
               std::vector<target> reconnect_targets,
               std::vector<in_addr> sources, std::uint32_t run_id,
               run_shared& shared)
  : ctx_(o), shared_(shared), connect_pacer_(o.connect_rate),
    publish_pacer_(0) {
  ctx_.targets = std::move(targets);
  ctx_.reconnect_targets = std::move(reconnect_targets);
  ctx_.sources = std::move(sources);
  ctx_.run_id = run_id;
  for (std::uint64_t k = id; k < o.count; k += o.threads)
    positions_.push_back(k);
  conns_.reserve(positions_.size());
  ctx_.clients = positions_.size();
  ctx_.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (ctx_.epoll_fd < 0)
    ctx_.fail(std::string("epoll_create1() failed: ") + std::strerror(errno));
  if (o.mode == bench_mode::pub && o.rate)
    publish_pacer_ = pacer(*o.rate / o.threads);
}

engine::~engine() {
  conns_.clear();
  if (ctx_.epoll_fd >= 0)
    ::close(ctx_.epoll_fd);
}

void engine::run() {
  auto now = monotonic_ns();
  ctx_.now_ns = now;
  connect_pacer_.start(now);
  publish_pacer_.start(now);
  next_report_ns_ = now + 100 * ms_ns;
  next_keepalive_ns_ = now + 1000 * ms_ns;
  sample_cpu(now);
  bool busy = false;
  while (ctx_.error.empty() && !shared_.stop.load(std::memory_order_relaxed) &&
         !work_done()) {
    open_due(now);
    handle_events(wait_ms(busy, now));
    now = monotonic_ns();
    ctx_.now_ns = now;
    busy = publish_due(now);
    if (now >= next_report_ns_)
      periodic(now);
  }
  close_all();
  report();
  finished_ = true;
}

int engine::wait_ms(bool busy, std::uint64_t now) const {
  if (busy)
    return 0;
  bool pacing = !publishers_.empty() && !publish_pacer_.unlimited();
  bool opening = next_open_ < positions_.size();
  if (pacing || opening) {
    auto next = pacing ? publish_pacer_.ns_until_next(now) : ms_ns;
    return next == 0 ? 0 : 1;
  }
  return 10;
}

void engine::handle_events(int timeout_ms) {
  epoll_event events[512];
  int n = epoll_wait(ctx_.epoll_fd, events, 512, timeout_ms);
  if (n < 0 && errno != EINTR)
    ctx_.fail(std::string("epoll_wait() failed: ") + std::strerror(errno));
  for (int i = 0; i < n && ctx_.error.empty(); ++i)
    conns_[events[i].data.u64]->on_event(events[i].events);
}

void engine::open_due(std::uint64_t now) {
  if (next_open_ >= positions_.size())
    return;
  auto in_progress = ctx_.stats.connecting;
  if (ctx_.opts.mode == bench_mode::sub)
    in_progress = ctx_.stats.connected + ctx_.stats.connecting -
                  ctx_.stats.ready;
  if (in_progress >= max_handshakes)
    return;
  auto want = std::min<std::uint64_t>(max_handshakes - in_progress,
                                      positions_.size() - next_open_);
  auto n = connect_pacer_.take(now, want);
  for (std::uint64_t i = 0; i < n && ctx_.error.empty(); ++i) {
    auto slot = static_cast<std::uint32_t>(conns_.size());
    conns_.push_back(
        std::make_unique<connection>(ctx_, positions_[next_open_++], slot));
    conns_.back()->open();
  }
}

std::uint64_t engine::take_budget(std::uint64_t want) {
  if (ctx_.opts.limit == 0)
    return want;
  auto w = static_cast<std::int64_t>(want);
  auto before = shared_.send_budget.fetch_sub(w);
  if (before >= w)
    return want;
  auto granted = std::max<std::int64_t>(before, 0);
  shared_.send_budget.fetch_add(w - granted);
  return static_cast<std::uint64_t>(granted);
}

void engine::give_budget(std::uint64_t n) {
  if (ctx_.opts.limit != 0 && n > 0)
    shared_.send_budget.fetch_add(static_cast<std::int64_t>(n));
}

void engine::update_rate(std::uint64_t now) {
  auto interval = ctx_.opts.effective_interval_ms();
  if (!interval || *interval <= 0)
    return; // a total rate (fixed) or a flood
  // Each ready publisher sends every `interval` ms on average; the round
  // robin below spreads the messages over them.
  publish_pacer_.set_rate(
      static_cast<double>(publishers_.size()) * 1000.0 / *interval, now);
}

bool engine::publish_due(std::uint64_t now) {
  if (!ctx_.newly_ready.empty()) {
    publishers_.insert(publishers_.end(), ctx_.newly_ready.begin(),
                       ctx_.newly_ready.end());
    ctx_.newly_ready.clear();
    update_rate(now);
  }
  if (publishers_.empty())
    return false;
  // A flood offers each publisher a full batch per turn.
  auto cap = publish_pacer_.unlimited()
                 ? publishers_.size() * std::uint64_t{IOV_MAX / 2}
                 : std::uint64_t{1} << 20;
  auto due = publish_pacer_.take(now, cap);
  if (due == 0)
    return false;
  auto granted = take_budget(due);
  auto sent = granted > 0 ? publish_round(granted) : 0;
  give_budget(granted - sent);
  publish_pacer_.give_back(due - sent);
  return sent > 0 && publish_pacer_.unlimited();
}

std::uint64_t engine::publish_round(std::uint64_t due) {
  std::uint64_t sent = 0;
  auto n = publishers_.size();
  bool progress = true;
  // Rounds over the publishers until the messages are out or nobody can
  // take more; each gets an even share per round.
  while (sent < due && progress) {
    progress = false;
    auto share = std::max<std::uint64_t>(1, (due - sent + n - 1) / n);
    for (std::size_t k = 0; k < n && sent < due; ++k) {
      auto& c = *conns_[publishers_[cursor_]];
      cursor_ = (cursor_ + 1) % n;
      auto s = c.publish(std::min(share, due - sent));
      sent += s;
      progress = progress || s > 0;
    }
  }
  return sent;
}

bool engine::work_done() const {
  if (ctx_.opts.mode != bench_mode::pub || ctx_.opts.limit == 0 ||
      shared_.send_budget.load(std::memory_order_relaxed) > 0)
    return false;
  // Budget spent: done once every message is out and acknowledged.
  return std::all_of(conns_.begin(), conns_.end(),
                     [](const auto& c) { return c->drained(); });
}

void engine::sample_cpu(std::uint64_t now) {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  auto cpu = static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000u +
             static_cast<std::uint64_t>(t.tv_nsec);
  if (last_wall_ns_ != 0 && now > last_wall_ns_)
    peak_share_ = std::max(peak_share_,
                           static_cast<double>(cpu - last_cpu_ns_) /
                               static_cast<double>(now - last_wall_ns_));
  last_cpu_ns_ = cpu;
  last_wall_ns_ = now;
}

void engine::periodic(std::uint64_t now) {
  next_report_ns_ = now + 100 * ms_ns;
  sample_cpu(now);
  auto& again = ctx_.reconnects;
  for (size_t i = 0; i < again.size();) {
    if (again[i].first > now) {
      ++i;
      continue;
    }
    auto slot = again[i].second;
    again[i] = again.back();
    again.pop_back();
    conns_[slot]->open();
  }
  if (now >= next_keepalive_ns_) {
    next_keepalive_ns_ = now + 1000 * ms_ns;
    for (auto& c : conns_)
      c->keepalive(now);
  }
  report();
}

void engine::report() {
  auto received = ctx_.stats.received;
  shared_.received.fetch_add(received - received_reported_);
  received_reported_ = received;
  std::lock_guard<std::mutex> guard(mutex_);
  reported_ = ctx_.stats;
  interval_.merge(ctx_.latency_interval);
  ctx_.latency.merge(ctx_.latency_interval);
  ctx_.latency_interval.reset();
  if (error_.empty())
    error_ = ctx_.error;
}

engine_stats engine::snapshot() {
  std::lock_guard<std::mutex> guard(mutex_);
  return reported_;
}

histogram engine::take_interval() {
  std::lock_guard<std::mutex> guard(mutex_);
  histogram out;
  out.merge(interval_);
  interval_.reset();
  return out;
}

std::string engine::error() {
  std::lock_guard<std::mutex> guard(mutex_);
  return error_;
}

void engine::close_all() {
  // Errors while closing (a reset after our DISCONNECT) do not matter any
  // more; keep the first error of the run.
  auto error = ctx_.error;
  for (auto& c : conns_)
    c->close_gracefully();
  auto deadline = monotonic_ns() + 2000 * ms_ns;
  auto open = [&] {
    return std::any_of(conns_.begin(), conns_.end(), [](const auto& c) {
      return c->current() != connection::state::closed;
    });
  };
  while (open() && monotonic_ns() < deadline) {
    ctx_.error.clear();
    handle_events(10);
  }
  for (auto& c : conns_)
    c->abort();
  ctx_.error = error;
}

} // namespace starling::loadgen

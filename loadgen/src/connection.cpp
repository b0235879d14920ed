// The socket side of a bench connection: connect, read, write, close. The
// protocol side (what each packet does) is in connection_protocol.cpp.

#include "starling/loadgen/connection.hpp"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace starling::loadgen {

namespace {

/// The largest number of messages in one sendmsg: two iovecs each.
constexpr std::uint64_t max_batch = IOV_MAX / 2;

std::string errno_text(int e) {
  return std::strerror(e);
}

} // namespace

connection::connection(engine_context& ctx, std::uint64_t position,
                       std::uint32_t slot)
  : ctx_(ctx),
    position_(position),
    index_(ctx.opts.start_index + position),
    slot_(slot),
    target_(position % ctx.targets.size()),
    client_id_(ctx.opts.prefix + std::to_string(index_)),
    decoder_(broker::decoder_options{broker::max_packet_size_limit,
                                     ctx.version}) {}

connection::~connection() {
  abort();
}

std::string connection::describe() const {
  std::string from;
  if (!ctx_.sources.empty()) {
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &ctx_.sources[position_ % ctx_.sources.size()], buf,
              sizeof buf);
    from = std::string(" from ") + buf;
  }
  return "client " + client_id_ + " (" +
         (redirect_ ? redirect_->text : ctx_.targets[target_].text) + from + ")";
}

void connection::fail(const std::string& why) {
  ctx_.fail(describe() + ": " + why);
  abort();
}

/// "host:port" with a numeric IPv4 host, as a Server Reference; else
/// nullopt (a name is not resolved here: the next host is used instead).
static std::optional<target> parse_reference(const std::string& text) {
  auto parsed = split_host_port(text);
  auto host = parsed ? parse_ipv4(parsed->host) : std::nullopt;
  if (!host || !parsed->port)
    return std::nullopt;
  target t;
  t.addr.sin_family = AF_INET;
  t.addr.sin_addr = *host;
  t.addr.sin_port = htons(*parsed->port);
  t.text = text;
  return t;
}

void connection::lost(const std::string& why,
                      const std::optional<std::string>& server_reference) {
  if (!ctx_.opts.reconnect)
    return fail(why);
  if (state_ == state::closing) // our own close: nothing to come back from
    return abort();
  if (state_ == state::ready) {
    --ctx_.stats.ready;
    --ctx_.stats.connected;
  } else if (state_ == state::subscribing) {
    --ctx_.stats.connected;
  }
  abort();
  redirect_.reset();
  if (server_reference)
    redirect_ = parse_reference(*server_reference);
  if (redirect_)
    ++ctx_.stats.redirects;
  else if (auto& to = ctx_.reconnect_targets; !to.empty())
    redirect_ = to[ctx_.next_reconnect++ % to.size()];
  else
    target_ = (target_ + 1) % ctx_.targets.size();
  ++ctx_.stats.reconnects;
  ctx_.reconnects.emplace_back(monotonic_ns() + 100'000'000u, slot_);
}

void connection::open() {
  const auto& to = redirect_ ? *redirect_ : ctx_.targets[target_];
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    int e = errno;
    ctx_.fail("socket() failed after " + std::to_string(ctx_.stats.connected) +
              " connections: " + errno_text(e) +
              (e == EMFILE ? " (raise ulimit -n)" : ""));
    return;
  }
  int one = 1;
  // Messages are batched by us; Nagle would only add latency.
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!ctx_.sources.empty()) {
    // Without IP_BIND_ADDRESS_NO_PORT, bind() would pick the source port
    // alone and each source address would be limited to one port range for
    // all destinations; with it the port is chosen at connect() per 4-tuple.
    setsockopt(fd_, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr = ctx_.sources[position_ % ctx_.sources.size()];
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0)
      return fail("bind() to the source address failed: " + errno_text(errno));
  }
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&to.addr),
                sizeof to.addr) != 0 &&
      errno != EINPROGRESS) {
    int e = errno;
    if (e == ECONNREFUSED)
      return lost("connect() failed: " + errno_text(e));
    return fail("connect() failed: " + errno_text(e) +
                (e == EADDRNOTAVAIL ? " (out of source ports: spread the "
                                      "connections with --ifaddr)"
                                    : ""));
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.u64 = slot_;
  watching_writable_ = true;
  if (epoll_ctl(ctx_.epoll_fd, EPOLL_CTL_ADD, fd_, &ev) != 0)
    return fail("epoll_ctl() failed: " + errno_text(errno));
  state_ = state::connecting;
  ++ctx_.stats.connecting;
  if (ctx_.stats.first_connect_ns == 0)
    ctx_.stats.first_connect_ns = monotonic_ns();
}

void connection::on_event(std::uint32_t events) {
  if (fd_ < 0)
    return;
  if (state_ == state::connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0)
      return lost("cannot connect: " + errno_text(err));
    if (!(events & EPOLLOUT))
      return;
    on_connected();
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
    on_readable();
  if (fd_ >= 0 && (events & EPOLLOUT))
    flush();
}

void connection::on_readable() {
  // A few reads per event at most, so one busy socket cannot starve the
  // others on the same engine.
  for (int round = 0; round < 4 && fd_ >= 0; ++round) {
    auto n = ::recv(fd_, ctx_.read_buffer.data(), ctx_.read_buffer.size(), 0);
    if (n > 0) {
      if (ctx_.opts.delayed_ack) {
        // The kernel re-enables quick ACKs by itself; off again per read.
        int zero = 0;
        setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof zero);
      }
      ctx_.stats.bytes_in += static_cast<std::uint64_t>(n);
      consume({ctx_.read_buffer.data(), static_cast<std::size_t>(n)});
      if (static_cast<std::size_t>(n) < ctx_.read_buffer.size())
        break;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      break;
    if (state_ == state::closing) {
      abort();
      return;
    }
    if (n == 0)
      return lost("the broker closed the connection");
    return lost("read failed: " + errno_text(errno));
  }
  if (fd_ >= 0)
    flush();
}

void connection::consume(std::span<const std::uint8_t> bytes) {
  // A packet split across reads is finished with only the bytes it lacks
  // (its size is known once its fixed header is in); the rest of the read
  // is decoded where it lies, never copied.
  while (!partial_.empty() && !bytes.empty() && fd_ >= 0) {
    auto want = partial_need_ > partial_.size() ? partial_need_ - partial_.size()
                                                : std::size_t{1};
    auto take = std::min(want, bytes.size());
    partial_.insert(partial_.end(), bytes.begin(),
                    bytes.begin() + static_cast<std::ptrdiff_t>(take));
    bytes = bytes.subspan(take);
    if (decode_all(partial_) == partial_.size()) {
      partial_.clear();
      partial_.shrink_to_fit();
    }
  }
  if (!partial_.empty() || bytes.empty() || fd_ < 0)
    return;
  auto used = decode_all(bytes);
  if (fd_ >= 0 && used < bytes.size())
    partial_.assign(bytes.begin() + static_cast<std::ptrdiff_t>(used),
                    bytes.end());
}

std::size_t connection::decode_all(std::span<const std::uint8_t> input) {
  std::size_t used = 0;
  // One clock read per read: everything in it arrived by now.
  ctx_.now_ns = monotonic_ns();
  while (used < input.size() && fd_ >= 0) {
    auto r = decoder_.decode(input.subspan(used));
    if (auto* d = std::get_if<broker::decoded>(&r)) {
      used += d->consumed;
      handle(d->pkt);
      continue;
    }
    if (auto* more = std::get_if<broker::need_more>(&r)) {
      partial_need_ = more->total; // 0 while the fixed header is incomplete
      break;
    }
    fail("malformed packet from the broker: " +
         std::get<broker::codec_error>(r).message);
    break;
  }
  return used;
}

void connection::queue(std::span<const std::uint8_t> bytes) {
  unsent_.insert(unsent_.end(), bytes.begin(), bytes.end());
}

void connection::queue_ack(const std::vector<std::uint8_t>& tmpl,
                           std::uint16_t id) {
  auto at = unsent_.size();
  queue(tmpl);
  put_u16(unsent_.data() + at + ack_packet_id_offset, id);
}

void connection::flush() {
  while (unsent_start_ < unsent_.size()) {
    auto n = ::send(fd_, unsent_.data() + unsent_start_,
                    unsent_.size() - unsent_start_, MSG_NOSIGNAL);
    if (n > 0) {
      unsent_start_ += static_cast<std::size_t>(n);
      ctx_.stats.bytes_out += static_cast<std::uint64_t>(n);
      last_send_ns_ = ctx_.now_ns;
      continue;
    }
    if (n < 0 && errno == EAGAIN)
      return watch_writable(true);
    if (n < 0 && errno == EINTR)
      continue;
    return fail("write failed: " + errno_text(errno));
  }
  unsent_.clear();
  unsent_start_ = 0;
  // A subscription storm or a stalled broker can grow the buffer; idle
  // connections should not keep that memory.
  if (unsent_.capacity() > 64 * 1024)
    unsent_.shrink_to_fit();
  watch_writable(false);
  if (state_ == state::closing && !shut_down_) {
    ::shutdown(fd_, SHUT_WR);
    shut_down_ = true;
  }
}

void connection::watch_writable(bool on) {
  if (on == watching_writable_ || fd_ < 0)
    return;
  epoll_event ev{};
  ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
  ev.data.u64 = slot_;
  epoll_ctl(ctx_.epoll_fd, EPOLL_CTL_MOD, fd_, &ev);
  watching_writable_ = on;
}

std::uint64_t connection::publish(std::uint64_t n) {
  if (!can_publish())
    return 0;
  n = std::min(n, max_batch);
  if (ctx_.opts.qos > 0)
    n = std::min<std::uint64_t>(n, max_inflight_ - inflight_.size());
  const auto& t = *publish_;
  auto head = t.head_size();
  if (ctx_.head_arena.size() < n * head)
    ctx_.head_arena.resize(n * head);
  auto now = monotonic_ns();
  std::size_t iovs = 0;
  std::size_t total = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint16_t id = ctx_.opts.qos > 0 ? next_packet_id() : 0;
    if (id != 0)
      inflight_.insert(id);
    auto* h = ctx_.head_arena.data() + i * head;
    t.write_head(h, id,
                 stamp{now, seq_++, ctx_.run_id, static_cast<std::uint32_t>(index_)});
    ctx_.iov[iovs++] = {h, head};
    if (t.body_size() > 0)
      ctx_.iov[iovs++] = {ctx_.body.data(), t.body_size()};
    total += head + t.body_size();
  }
  msghdr msg{};
  msg.msg_iov = ctx_.iov.data();
  msg.msg_iovlen = iovs;
  auto sent = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
  if (sent < 0 && errno != EAGAIN && errno != EINTR) {
    fail("write failed: " + errno_text(errno));
    return 0;
  }
  // What the socket did not take is copied once and sent before anything
  // else; publishing pauses until it is gone (backpressure).
  std::size_t skip = sent > 0 ? static_cast<std::size_t>(sent) : 0;
  for (std::size_t i = 0; i < iovs && skip < total; ++i) {
    auto* base = static_cast<const std::uint8_t*>(ctx_.iov[i].iov_base);
    auto len = ctx_.iov[i].iov_len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    queue({base + skip, len - skip});
    skip = 0;
  }
  if (sent > 0)
    ctx_.stats.bytes_out += static_cast<std::uint64_t>(sent);
  if (!unsent_.empty())
    watch_writable(true);
  last_send_ns_ = now;
  auto& s = ctx_.stats;
  s.sent += n;
  if (s.first_send_ns == 0)
    s.first_send_ns = now;
  s.last_send_ns = now;
  return n;
}

bool connection::can_publish() const noexcept {
  return state_ == state::ready && publish_ && unsent_.empty() &&
         (ctx_.opts.qos == 0 || inflight_.size() < max_inflight_);
}

bool connection::drained() const noexcept {
  return fd_ < 0 || (unsent_.empty() && inflight_.empty());
}

void connection::keepalive(std::uint64_t now_ns) {
  auto ka = std::uint64_t{ctx_.opts.keepalive_s} * 1'000'000'000u;
  if (ka == 0 || fd_ < 0 || state_ == state::connecting ||
      state_ == state::closing || now_ns - last_send_ns_ < ka / 2)
    return;
  queue(ctx_.pingreq);
  flush();
}

void connection::close_gracefully() {
  if (fd_ < 0)
    return;
  if (state_ == state::idle || state_ == state::connecting) {
    abort();
    return;
  }
  if (state_ != state::closing) {
    if (state_ != state::awaiting_connack)
      queue(ctx_.disconnect);
    state_ = state::closing;
    flush();
  }
}

void connection::abort() noexcept {
  if (fd_ >= 0) {
    ::close(fd_); // also leaves the epoll set
    fd_ = -1;
  }
  if (state_ == state::connecting || state_ == state::awaiting_connack)
    --ctx_.stats.connecting;
  state_ = state::closed;
  unsent_ = {};
  partial_ = {};
}

} // namespace starling::loadgen

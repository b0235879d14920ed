#include "starling/actors/mqtt/socket.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <thread>
#include <vector>

#include <caf/io/abstract_broker.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/ip_endpoint.hpp>
#include <caf/io/doorman.hpp>
#include <caf/io/network/acceptor.hpp>
#include <caf/io/network/stream.hpp>
#include <caf/io/scribe.hpp>
#include <caf/make_counted.hpp>
#include <caf/policy/tcp.hpp>

namespace starling::actors::mqtt {

namespace {

namespace net = caf::io::network;

/// The bytes of one read, for every MQTT socket of the multiplexer's
/// thread: a socket keeps no read buffer between reads (CAF's stream keeps
/// one as large as its read size, 256 B for an idle client and up to 64
/// KiB for one that sent a burst).
thread_local std::vector<char> read_buffer;

/// CAF's stream, but it reads itself: once per readiness event, into
/// `read_buffer`. CAF's epoll is level-triggered, so bytes still waiting
/// raise the next event; CAF's own loop reads until the socket is empty,
/// which costs a recv(2) failing with EAGAIN after nearly every packet of
/// an MQTT client. Writes and errors take CAF's path.
class mqtt_stream final : public net::stream {
public:
  mqtt_stream(net::default_multiplexer& mpx, net::native_socket fd,
              caf::io::scribe& owner)
    : net::stream(mpx, fd), owner_(owner) {
    // CAF's read buffer stays empty: `start` sizes it to this.
    configure_read(caf::io::receive_policy::at_most(0));
  }

  /// The most one read takes (the listener asks for `at_most` only).
  void read_at_most(size_t n) {
    max_read_ = n;
  }

  void handle_event(net::operation op) override {
    if (op != net::operation::read) {
      caf::policy::tcp policy;
      handle_event_impl(op, policy);
      return;
    }
    auto& buf = read_buffer;
    buf.resize(max_read_);
    size_t n = 0;
    auto res = caf::policy::tcp::read_some(n, fd(), buf.data(), buf.size());
    if (res == net::rw_state::failure) {
      owner_.io_failure(&backend(), net::operation::read);
      passivate();
    } else if (n > 0 && !owner_.consume(&backend(), buf.data(), n)) {
      passivate();
    }
  }

  /// Whether CAF's write path holds bytes (it then sends what is written
  /// after them, in order).
  bool writing() const {
    return state_.writing;
  }

private:
  caf::io::scribe& owner_;
  size_t max_read_ = 0;
};

class mqtt_scribe;

/// The peer's address as accept(2) gives it, kept so that the listener's
/// questions for address and port cost no getpeername(2).
union peer_address {
  sockaddr any;
  sockaddr_in v4;
  sockaddr_in6 v6;
};

/// The write buffer a socket keeps between sends; a larger one (a burst's)
/// is given back once it is sent.
constexpr size_t kept_write_capacity = 4096;

/// The scribes written to during the listener's current run; a send of
/// them is posted to the multiplexer when the first one comes. Only the
/// multiplexer's thread (where brokers run in CAF 0.17) touches them.
thread_local std::vector<caf::intrusive_ptr<mqtt_scribe>> unsent;

/// CAF's default scribe (scribe_impl) with `mqtt_stream`'s reads, the
/// shared read buffer and a direct send.
class mqtt_scribe final : public caf::io::scribe {
public:
  mqtt_scribe(net::default_multiplexer& mpx, net::native_socket fd,
              const peer_address& peer)
    : caf::io::scribe(net::conn_hdl_from_socket(fd)),
      stream_(mpx, fd, *this),
      peer_(peer) {}

  void configure_read(caf::io::receive_policy::config config) override {
    stream_.read_at_most(config.second);
    if (!launched_) {
      launched_ = true;
      stream_.start(this);
    }
  }

  void ack_writes(bool enable) override {
    stream_.ack_writes(enable);
  }

  std::vector<char>& wr_buf() override {
    return stream_.wr_buf();
  }

  /// CAF's scribe swaps this into the listener's new_data_msg and back
  /// after the handler (`scribe::consume`).
  std::vector<char>& rd_buf() override {
    return read_buffer;
  }

  /// Sends what is unsent first: CAF shuts the socket's write side down
  /// once its own buffer is empty.
  void graceful_shutdown() override {
    if (send_due_)
      send_now();
    sent_unreported_ = 0; // the listener is closing it
    stream_.graceful_shutdown();
    detach(&stream_.backend(), false);
  }

  /// Sends at once when this is the listener's last mail for now (a paced
  /// message waits for nothing), else right after the listener's run, so
  /// that a burst to one socket is one send(2). Leaves the bytes to CAF's
  /// write path when it holds bytes of this socket already (they go in
  /// order), or when called off the multiplexer's thread (which CAF 0.17
  /// does not do).
  void flush() override {
    if (stream_.wr_buf().empty())
      return;
    if (stream_.writing()
        || std::this_thread::get_id() != stream_.backend().thread_id()) {
      stream_.flush(this);
      return;
    }
    if (parent() != nullptr && parent()->mailbox().empty())
      send_now();
    else
      send_due_ = true;
    queue_after_run();
  }

  /// What accept(2) said, in CAF's words (as `remote_addr_of_fd`).
  std::string addr() const override {
    return net::host(peer_endpoint());
  }

  uint16_t port() const override {
    return net::port(peer_endpoint());
  }

  void add_to_loop() override {
    stream_.activate(this);
  }

  void remove_from_loop() override {
    stream_.passivate();
  }

private:
  net::ip_endpoint peer_endpoint() const {
    net::ip_endpoint ep;
    std::memcpy(ep.address(), &peer_, sizeof(peer_));
    *ep.length() = sizeof(peer_);
    return ep;
  }

  /// Queues this socket for `after_runs`.
  void queue_after_run() {
    if (queued_)
      return;
    queued_ = true;
    if (unsent.empty())
      stream_.backend().post(after_runs);
    unsent.emplace_back(this);
  }

  /// Right after the listener's run: sends what is due and tells the
  /// listener what was sent (`ack_writes`, as CAF's write path does; not
  /// from `flush`, which runs inside one of the listener's handlers).
  static void after_runs() {
    auto batch = std::move(unsent);
    unsent.clear();
    for (auto& s : batch) {
      s->queued_ = false;
      if (s->send_due_)
        s->send_now();
      s->report();
    }
  }

  /// One send(2); what the socket does not take, and any error, goes to
  /// CAF's write path, which waits for the socket and reports failures to
  /// the listener as for any scribe.
  void send_now() {
    send_due_ = false;
    auto& buf = stream_.wr_buf();
    if (buf.empty())
      return;
    if (!stream_.writing()) {
      auto n = ::send(stream_.fd(), buf.data(), buf.size(), MSG_NOSIGNAL);
      if (n > 0) {
        buf.erase(buf.begin(), buf.begin() + n);
        sent_unreported_ += static_cast<size_t>(n);
      }
      if (buf.empty()) {
        // A burst's buffer is not kept for a client that goes quiet.
        if (buf.capacity() > kept_write_capacity)
          std::vector<char>{}.swap(buf);
        return;
      }
    }
    stream_.flush(this);
  }

  /// Once CAF's write path holds bytes, its own reports count them.
  void report() {
    auto sent = sent_unreported_;
    sent_unreported_ = 0;
    if (sent > 0 && !stream_.writing() && stream_.ack_writes())
      data_transferred(&stream_.backend(), sent, stream_.wr_buf().size());
  }

  mqtt_stream stream_;
  peer_address peer_;
  bool launched_ = false;
  bool queued_ = false;   ///< in `unsent`
  bool send_due_ = false; ///< bytes wait for `after_runs`
  size_t sent_unreported_ = 0;
};

class mqtt_doorman;

/// CAF's acceptor (acceptor_impl<policy::tcp>), but with accept4(2): the
/// socket comes non-blocking and close-on-exec, where CAF's accept(2) is
/// followed by two fcntl(2) calls, and with the peer's address.
class mqtt_acceptor final : public net::acceptor {
public:
  mqtt_acceptor(net::default_multiplexer& mpx, net::native_socket fd,
                mqtt_doorman& owner)
    : net::acceptor(mpx, fd), owner_(owner) {}

  void handle_event(net::operation op) override;

  const peer_address& peer() const { return peer_; }

private:
  mqtt_doorman& owner_;
  peer_address peer_{};
};

/// CAF's doorman (doorman_impl) with `mqtt_acceptor`, giving every
/// accepted socket an MQTT scribe.
class mqtt_doorman final : public caf::io::doorman {
public:
  mqtt_doorman(net::default_multiplexer& mpx, net::native_socket fd)
    : caf::io::doorman(net::accept_hdl_from_socket(fd)), acceptor_(mpx, fd, *this) {}

  bool new_connection() override {
    if (detached())
      return false; // the listener let go while the event was pending
    auto& mpx = acceptor_.backend();
    auto scribe = caf::make_counted<mqtt_scribe>(mpx, acceptor_.accepted_socket(),
                                                 acceptor_.peer());
    auto hdl = scribe->hdl();
    parent()->add_scribe(std::move(scribe));
    return doorman::new_connection(&mpx, hdl);
  }

  void graceful_shutdown() override {
    acceptor_.graceful_shutdown();
    detach(&acceptor_.backend(), false);
  }

  void launch() override {
    acceptor_.start(this);
  }

  std::string addr() const override {
    auto x = net::local_addr_of_fd(acceptor_.fd());
    return x ? std::move(*x) : std::string{};
  }

  uint16_t port() const override {
    auto x = net::local_port_of_fd(acceptor_.fd());
    return x ? *x : 0;
  }

  void add_to_loop() override {
    acceptor_.activate(this);
  }

  void remove_from_loop() override {
    acceptor_.passivate();
  }

private:
  mqtt_acceptor acceptor_;
};

void mqtt_acceptor::handle_event(net::operation op) {
  if (op != net::operation::read)
    return; // as CAF's acceptor: errors of a listening socket are not acted on
  socklen_t len = sizeof(peer_);
  auto fd = ::accept4(this->fd(), &peer_.any, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0)
    return; // none waiting, or (as in CAF) an error left to the next event
  accepted_socket() = fd;
  owner_.new_connection();
}

} // namespace

caf::expected<std::pair<caf::io::accept_handle, uint16_t>>
add_mqtt_doorman(caf::io::abstract_broker* self, uint16_t port,
                 const std::string& host) {
  auto fd = net::new_tcp_acceptor_impl(port, host.c_str(), true);
  if (!fd)
    return std::move(fd.error());
  auto& mpx = static_cast<net::default_multiplexer&>(self->backend());
  auto doorman = caf::make_counted<mqtt_doorman>(mpx, *fd);
  auto hdl = doorman->hdl();
  auto bound = doorman->port();
  self->add_doorman(std::move(doorman));
  return std::make_pair(hdl, bound);
}

} // namespace starling::actors::mqtt

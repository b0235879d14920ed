#pragma once

// TLS 1.2 and 1.3 in user space: OpenSSL over two memory BIOs, so the bytes
// come from and go to whatever socket the host owns (a CAF broker here).
//
//   socket bytes -> BIO_write(rbio) -> SSL_do_handshake / SSL_read -> plaintext
//   plaintext -> SSL_write -> BIO_read(wbio) -> socket bytes
//
// A failed handshake sets error() with OpenSSL's reason and, for a peer
// certificate that did not verify, X509's (e.g. "unable to get local issuer
// certificate"); only that connection is affected.

#include <memory>
#include <optional>
#include <string>

#include "starling/transport/layer.hpp"

typedef struct ssl_ctx_st SSL_CTX;

namespace starling::transport {

/// What a TLS endpoint is configured with (mqtt.ssl.*).
struct tls_options {
  std::string certfile; ///< PEM certificate chain (server: required)
  std::string keyfile;  ///< PEM private key of certfile
  std::string cacertfile; ///< PEM CAs that peer certificates must chain to
  /// Ask the peer for a certificate and check it against cacertfile.
  bool verify_peer = false;
  /// With verify_peer: refuse a peer that sends none.
  bool fail_if_no_peer_cert = false;
};

/// An SSL_CTX with the options loaded; shared by every connection of a
/// listener (it is read-only after set-up).
class tls_context {
public:
  /// The server side of a listener; nullptr and `error` naming the file and
  /// OpenSSL's reason when something cannot be loaded.
  static std::shared_ptr<tls_context> server(const tls_options& opts,
                                             std::string& error);
  /// A client (tests, tools): verifies the server against cacertfile when
  /// given, and presents certfile/keyfile when given.
  static std::shared_ptr<tls_context> client(const tls_options& opts,
                                             std::string& error);
  ~tls_context();
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  SSL_CTX* native() const noexcept {
    return ctx_;
  }
  bool is_server() const noexcept {
    return server_;
  }

private:
  tls_context(SSL_CTX* ctx, bool server) : ctx_(ctx), server_(server) {
  }
  SSL_CTX* ctx_;
  bool server_;
};

/// One TLS connection.
class tls_layer final : public layer {
public:
  explicit tls_layer(std::shared_ptr<tls_context> ctx);
  ~tls_layer() override;

  void receive(const std::uint8_t* data, std::size_t size, bytes& up,
               bytes& down) override;
  void send(const std::uint8_t* data, std::size_t size, bytes& down) override;
  void close(bytes& down) override;
  const std::string& error() const override {
    return error_;
  }
  bool peer_closed() const override {
    return peer_closed_;
  }

  /// The handshake has completed.
  bool established() const noexcept {
    return established_;
  }
  /// After the handshake: "TLSv1.3", "TLSv1.2".
  std::string protocol() const;
  /// The common name of the peer's certificate, if it sent one (it has been
  /// verified when the context verifies peers).
  std::optional<std::string> peer_common_name() const;

private:
  void handshake(bytes& up, bytes& down);
  void read_plain(bytes& up);
  void drain(bytes& down);
  void fail(const std::string& what);

  struct impl;
  std::unique_ptr<impl> impl_;
  std::shared_ptr<tls_context> ctx_;
  bool established_ = false;
  bool peer_closed_ = false;
  std::string error_;
  bytes pending_; ///< plaintext sent before the handshake completed
};

/// OpenSSL's queued errors as one sentence (and the queue cleared).
std::string openssl_errors();

} // namespace starling::transport

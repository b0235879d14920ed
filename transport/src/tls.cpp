#include "starling/transport/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace starling::transport {

std::string openssl_errors() {
  std::string out;
  while (auto code = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    out += (out.empty() ? "" : "; ") + std::string(text);
  }
  return out.empty() ? "no reason given by OpenSSL" : out;
}

namespace {

bool load_cert_and_key(SSL_CTX* ctx, const tls_options& o, std::string& error) {
  if (SSL_CTX_use_certificate_chain_file(ctx, o.certfile.c_str()) != 1) {
    error = "cannot load certificate '" + o.certfile + "': " + openssl_errors();
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, o.keyfile.c_str(), SSL_FILETYPE_PEM)
      != 1) {
    error = "cannot load private key '" + o.keyfile + "': " + openssl_errors();
    return false;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    error = "private key '" + o.keyfile + "' does not match certificate '"
            + o.certfile + "'";
    ERR_clear_error();
    return false;
  }
  return true;
}

bool load_ca(SSL_CTX* ctx, const std::string& cafile, std::string& error) {
  if (SSL_CTX_load_verify_locations(ctx, cafile.c_str(), nullptr) != 1) {
    error = "cannot load CA certificates '" + cafile + "': " + openssl_errors();
    return false;
  }
  return true;
}

SSL_CTX* new_ctx(bool server) {
  auto ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (ctx) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // Our own buffers hold what a write could not send; a retried SSL_write
    // may then pass another buffer.
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                            | SSL_MODE_ENABLE_PARTIAL_WRITE);
  }
  return ctx;
}

} // namespace

std::shared_ptr<tls_context> tls_context::server(const tls_options& o,
                                                 std::string& error) {
  auto ctx = new_ctx(true);
  if (!ctx) {
    error = "cannot create a TLS context: " + openssl_errors();
    return nullptr;
  }
  std::shared_ptr<tls_context> result(new tls_context(ctx, true));
  if (o.certfile.empty() || o.keyfile.empty()) {
    error = "a TLS listener needs a certificate and its key";
    return nullptr;
  }
  if (!load_cert_and_key(ctx, o, error))
    return nullptr;
  if (!o.cacertfile.empty() && !load_ca(ctx, o.cacertfile, error))
    return nullptr;
  if (o.verify_peer) {
    if (o.cacertfile.empty()) {
      error = "verify_peer needs the CA certificates (cacertfile)";
      return nullptr;
    }
    int mode = SSL_VERIFY_PEER;
    if (o.fail_if_no_peer_cert)
      mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, nullptr);
    // The CAs clients may pick their certificate by.
    if (auto names = SSL_load_client_CA_file(o.cacertfile.c_str()))
      SSL_CTX_set_client_CA_list(ctx, names);
    ERR_clear_error();
  }
  return result;
}

std::shared_ptr<tls_context> tls_context::client(const tls_options& o,
                                                 std::string& error) {
  auto ctx = new_ctx(false);
  if (!ctx) {
    error = "cannot create a TLS context: " + openssl_errors();
    return nullptr;
  }
  std::shared_ptr<tls_context> result(new tls_context(ctx, false));
  if (!o.certfile.empty() && !load_cert_and_key(ctx, o, error))
    return nullptr;
  if (!o.cacertfile.empty()) {
    if (!load_ca(ctx, o.cacertfile, error))
      return nullptr;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  return result;
}

tls_context::~tls_context() {
  SSL_CTX_free(ctx_);
}

struct tls_layer::impl {
  SSL* ssl = nullptr;
  BIO* rbio = nullptr; ///< what we received, for OpenSSL to read
  BIO* wbio = nullptr; ///< what OpenSSL wrote, for us to send
};

tls_layer::tls_layer(std::shared_ptr<tls_context> ctx)
  : impl_(std::make_unique<impl>()), ctx_(std::move(ctx)) {
  impl_->ssl = SSL_new(ctx_->native());
  impl_->rbio = BIO_new(BIO_s_mem());
  impl_->wbio = BIO_new(BIO_s_mem());
  if (!impl_->ssl || !impl_->rbio || !impl_->wbio) {
    fail("cannot create a TLS session: " + openssl_errors());
    return;
  }
  // An empty memory BIO means "no more yet", not end of file.
  BIO_set_mem_eof_return(impl_->rbio, -1);
  BIO_set_mem_eof_return(impl_->wbio, -1);
  SSL_set_bio(impl_->ssl, impl_->rbio, impl_->wbio); // the SSL owns them now
  if (ctx_->is_server())
    SSL_set_accept_state(impl_->ssl);
  else
    SSL_set_connect_state(impl_->ssl);
}

tls_layer::~tls_layer() {
  if (impl_->ssl)
    SSL_free(impl_->ssl);
  else {
    BIO_free(impl_->rbio);
    BIO_free(impl_->wbio);
  }
}

void tls_layer::fail(const std::string& what) {
  if (error_.empty())
    error_ = what;
}

void tls_layer::drain(bytes& down) {
  std::uint8_t buf[16384];
  for (;;) {
    int n = BIO_read(impl_->wbio, buf, sizeof buf);
    if (n <= 0)
      return;
    down.insert(down.end(), buf, buf + n);
  }
}

void tls_layer::handshake(bytes& up, bytes& down) {
  // SSL_get_error reads the thread's error queue: it must hold nothing
  // from another connection (see SSL_get_error(3)).
  ERR_clear_error();
  int rc = SSL_do_handshake(impl_->ssl);
  drain(down); // our flight, or the alert that tells the peer why
  if (rc == 1) {
    established_ = true;
    if (!pending_.empty()) {
      auto held = std::move(pending_);
      pending_.clear();
      send(held.data(), held.size(), down);
    }
    read_plain(up);
    drain(down);
    return;
  }
  int err = SSL_get_error(impl_->ssl, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
    return;
  std::string why = "TLS handshake failed: ";
  if (err == SSL_ERROR_SSL)
    why += openssl_errors();
  else
    why += "OpenSSL error " + std::to_string(err);
  auto verify = SSL_get_verify_result(impl_->ssl);
  if (verify != X509_V_OK)
    why += " (peer certificate: "
           + std::string(X509_verify_cert_error_string(verify)) + ")";
  fail(why);
}

void tls_layer::read_plain(bytes& up) {
  std::uint8_t buf[16384];
  for (;;) {
    ERR_clear_error();
    int n = SSL_read(impl_->ssl, buf, sizeof buf);
    if (n > 0) {
      up.insert(up.end(), buf, buf + n);
      continue;
    }
    int err = SSL_get_error(impl_->ssl, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
      return;
    if (err == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      return;
    }
    fail("TLS error: " + (err == SSL_ERROR_SSL ? openssl_errors()
                                               : "OpenSSL error "
                                                   + std::to_string(err)));
    return;
  }
}

void tls_layer::receive(const std::uint8_t* data, std::size_t size, bytes& up,
                        bytes& down) {
  if (!error_.empty() || size == 0)
    return;
  if (BIO_write(impl_->rbio, data, static_cast<int>(size))
      != static_cast<int>(size)) {
    fail("TLS: cannot buffer received bytes");
    return;
  }
  if (!established_) {
    handshake(up, down);
    return;
  }
  read_plain(up);
  drain(down); // TLS 1.3 key updates, session tickets
}

void tls_layer::send(const std::uint8_t* data, std::size_t size, bytes& down) {
  if (!error_.empty() || size == 0)
    return;
  if (!established_) {
    pending_.insert(pending_.end(), data, data + size);
    if (!ctx_->is_server()) {
      bytes none; // nothing can arrive before the handshake is done
      handshake(none, down); // a client speaks first
    }
    return;
  }
  std::size_t off = 0;
  while (off < size) {
    // Memory BIOs grow as needed, so a write never waits for the socket.
    ERR_clear_error();
    int n = SSL_write(impl_->ssl, data + off, static_cast<int>(size - off));
    if (n <= 0) {
      fail("TLS write failed: " + openssl_errors());
      return;
    }
    off += static_cast<std::size_t>(n);
    drain(down);
  }
}

void tls_layer::close(bytes& down) {
  if (!error_.empty() || !established_)
    return;
  SSL_shutdown(impl_->ssl);
  drain(down);
}

std::string tls_layer::protocol() const {
  return SSL_get_version(impl_->ssl);
}

std::optional<std::string> tls_layer::peer_common_name() const {
  X509* cert = SSL_get1_peer_certificate(impl_->ssl);
  if (!cert)
    return std::nullopt;
  std::optional<std::string> cn;
  X509_NAME* subject = X509_get_subject_name(cert);
  int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (i >= 0) {
    ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, value);
    if (n >= 0)
      cn = std::string(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(n));
    OPENSSL_free(utf8);
  }
  X509_free(cert);
  return cn;
}

} // namespace starling::transport

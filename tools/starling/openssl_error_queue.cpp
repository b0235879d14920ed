// A workaround for CAF 0.17's openssl module, linked into the starling
// executable.
//
// OpenSSL's SSL_get_error() reads the calling thread's error queue, which
// must be empty before each TLS operation ("SSL_get_error(3)"). CAF's
// session never clears it: after one connection fails on the middleman's
// I/O thread (a peer with a foreign certificate, a plain-TCP peer, a ctl
// that exits without close_notify), the error stays queued, and the next
// SSL_read() of a healthy connection that merely has no data yet
// (SSL_ERROR_WANT_READ) is reported as SSL_ERROR_SSL, so CAF closes it.
// One bad peer would cut every TLS link of the node (the MQTT TLS
// listeners run on the same thread).
//
// The executable defines the TLS I/O entry points CAF calls; the dynamic
// linker binds libcaf_openssl's calls to these, which clear the queue and
// call OpenSSL's own (found with RTLD_NEXT). Our own TLS layer
// (transport/src/tls.cpp) clears the queue itself as well.

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

template <class F>
F next(const char* name) {
  auto f = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
  if (f == nullptr) {
    std::fprintf(stderr, "starling: %s not found in libssl\n", name);
    std::abort();
  }
  return f;
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto real = next<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto real = next<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static auto real = next<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

int SSL_connect(SSL* ssl) {
  static auto real = next<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

} // extern "C"

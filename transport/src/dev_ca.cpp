#include "starling/transport/dev_ca.hpp"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "starling/transport/tls.hpp"

namespace fs = std::filesystem;

namespace starling::transport {

namespace {

struct free_key {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct free_cert {
  void operator()(X509* c) const { X509_free(c); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, free_key>;
using cert_ptr = std::unique_ptr<X509, free_cert>;

key_ptr new_key() {
  return key_ptr(EVP_EC_gen("P-256"));
}

bool add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext)
    return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

/// A certificate for `key` named `cn`, valid from now for `days`, with a
/// random serial; not yet signed.
cert_ptr new_cert(EVP_PKEY* key, const std::string& cn, int days) {
  cert_ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f; // a positive number
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * days);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("Starling development CA"),
                             -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()),
                             -1, -1, 0);
  return cert;
}

std::string write_pem(const std::string& path, EVP_PKEY* key, X509* cert) {
  // Keys are created 0600 from the start, not chmod-ed afterwards.
  auto old = umask(key ? 0077 : 0022);
  FILE* f = std::fopen(path.c_str(), "wx");
  umask(old);
  if (!f)
    return "cannot create " + path + ": " + std::strerror(errno)
           + (errno == EEXIST ? " (remove it first)" : "");
  bool ok = key ? PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr,
                                       nullptr) == 1
                : PEM_write_X509(f, cert) == 1;
  ok = std::fclose(f) == 0 && ok;
  return ok ? "" : "cannot write " + path + ": " + openssl_errors();
}

key_ptr read_key(const std::string& path, std::string& error) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) {
    error = "cannot read " + path + ": " + std::strerror(errno)
            + " (run `starling ctl certs init DIR` first)";
    return nullptr;
  }
  key_ptr key(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!key)
    error = "cannot read the key in " + path + ": " + openssl_errors();
  return key;
}

cert_ptr read_cert(const std::string& path, std::string& error) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  cert_ptr cert(PEM_read_X509(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!cert)
    error = "cannot read the certificate in " + path + ": " + openssl_errors();
  return cert;
}

std::string san_entry(const std::string& host) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1
      || inet_pton(AF_INET6, host.c_str(), buf) == 1)
    return "IP:" + host;
  return "DNS:" + host;
}

std::string make_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  return ec ? "cannot create directory " + dir + ": " + ec.message() : "";
}

} // namespace

std::string create_ca(const std::string& dir, const std::string& name,
                      int days, issued_files& out) {
  if (auto err = make_dir(dir); !err.empty())
    return err;
  out = {dir + "/ca.pem", dir + "/ca.key"};
  if (fs::exists(out.cert) || fs::exists(out.key))
    return "a CA already exists in " + dir + " (ca.pem, ca.key)";
  auto key = new_key();
  if (!key)
    return "cannot create a key: " + openssl_errors();
  auto cert = new_cert(key.get(), name, days);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  if (!add_ext(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE")
      || !add_ext(cert.get(), cert.get(), NID_key_usage,
                  "critical,keyCertSign,cRLSign")
      || !add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash")
      || X509_sign(cert.get(), key.get(), EVP_sha256()) == 0)
    return "cannot make the CA certificate: " + openssl_errors();
  if (auto err = write_pem(out.key, key.get(), nullptr); !err.empty())
    return err;
  return write_pem(out.cert, nullptr, cert.get());
}

std::string issue_certificate(const std::string& dir, const std::string& name,
                              const std::vector<std::string>& extra_hosts,
                              int days, issued_files& out) {
  if (name.empty() || name.find('/') != std::string::npos)
    return "invalid certificate name '" + name + "'";
  std::string error;
  auto ca_key = read_key(dir + "/ca.key", error);
  if (!ca_key)
    return error;
  auto ca_cert = read_cert(dir + "/ca.pem", error);
  if (!ca_cert)
    return error;
  out = {dir + "/" + name + ".pem", dir + "/" + name + ".key"};
  auto key = new_key();
  if (!key)
    return "cannot create a key: " + openssl_errors();
  auto cert = new_cert(key.get(), name, days);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  auto at = name.find('@');
  std::string san = san_entry(at == std::string::npos ? name : name.substr(at + 1));
  for (auto& h : extra_hosts)
    san += "," + san_entry(h);
  if (!add_ext(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE")
      || !add_ext(cert.get(), ca_cert.get(), NID_key_usage,
                  "critical,digitalSignature,keyEncipherment")
      || !add_ext(cert.get(), ca_cert.get(), NID_ext_key_usage,
                  "serverAuth,clientAuth")
      || !add_ext(cert.get(), ca_cert.get(), NID_subject_alt_name, san)
      || !add_ext(cert.get(), ca_cert.get(), NID_authority_key_identifier,
                  "keyid")
      || X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0)
    return "cannot make the certificate: " + openssl_errors();
  if (auto err = write_pem(out.key, key.get(), nullptr); !err.empty())
    return err;
  return write_pem(out.cert, nullptr, cert.get());
}

} // namespace starling::transport

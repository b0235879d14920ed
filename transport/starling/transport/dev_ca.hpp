#pragma once

// A development certificate authority, so TLS can be tried in a minute
// (`starling ctl certs init DIR`, `starling ctl certs node NAME DIR`). Keys
// are EC P-256; certificates are X.509 v3 signed with SHA-256. Everything
// through OpenSSL's API, never the openssl binary.

#include <cstdint>
#include <string>
#include <vector>

namespace starling::transport {

struct issued_files {
  std::string cert; ///< path of the PEM certificate
  std::string key;  ///< path of the PEM private key (mode 0600)
};

/// Creates DIR (if missing) with `ca.pem` and `ca.key`: a self-signed CA
/// valid for `days`. Refuses to overwrite an existing CA. Returns the error
/// sentence, "" on success.
std::string create_ca(const std::string& dir, const std::string& name,
                      int days, issued_files& out);

/// Issues `NAME.pem`/`NAME.key` in DIR, signed by DIR's CA, usable as a
/// server and as a client certificate (distribution is mutual TLS): CN
/// NAME; subject alternative names: the host of a node name
/// (`core1@10.0.0.5` -> IP 10.0.0.5) or NAME itself, plus `extra_hosts`.
/// Returns the error sentence, "" on success.
std::string issue_certificate(const std::string& dir, const std::string& name,
                              const std::vector<std::string>& extra_hosts,
                              int days, issued_files& out);

} // namespace starling::transport

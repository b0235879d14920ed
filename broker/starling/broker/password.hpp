#pragma once

// Password hashes: the built-in user database's (salted PBKDF2-SHA256) and
// those of Mosquitto's password files, which `mosquitto_passwd` writes as
//   user:$6$<salt b64>$<sha512(password || salt) b64>
//   user:$7$<iterations>$<salt b64>$<PBKDF2-HMAC-SHA512 b64>   (2.0 default)
// All through OpenSSL; comparisons take constant time.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace starling::broker {

/// Iterations of PBKDF2-SHA256 for new passwords (EMQX's default for its
/// pbkdf2 algorithm). A stored hash keeps its own count.
inline constexpr int default_pbkdf2_iterations = 4096;

/// The stored form of a user database password:
/// `pbkdf2_sha256$<iterations>$<salt b64>$<hash b64>` (32-byte hash).
std::string hash_password(std::string_view password,
                          std::span<const std::uint8_t> salt,
                          int iterations = default_pbkdf2_iterations);

/// Whether `password` matches `stored`, in any of the forms above. A stored
/// value that is not one of them matches nothing.
bool verify_password(std::string_view stored, std::string_view password);

/// Whether `stored` is a hash this module can verify.
bool is_password_hash(std::string_view stored);

/// A Mosquitto password file: user -> stored hash.
struct password_file {
  std::map<std::string, std::string, std::less<>> users;
};

/// Parses a password file's text; nullopt with `error` naming the line
/// (`line 3: ...`) when a line is not `user:$6$...` or `user:$7$...`.
/// Blank lines and lines starting with '#' are skipped.
std::optional<password_file> parse_password_file(std::string_view text,
                                                 std::string& error);

/// Base64 (RFC 4648, with padding), as Mosquitto and our hashes use.
std::string base64_encode(std::span<const std::uint8_t> data);
std::optional<std::string> base64_decode(std::string_view text);

} // namespace starling::broker

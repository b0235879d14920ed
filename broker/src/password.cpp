#include "starling/broker/password.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <charconv>
#include <vector>

namespace starling::broker {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    auto at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos)
      return out;
    s.remove_prefix(at + 1);
  }
}

std::optional<int> parse_iterations(std::string_view text) {
  int n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n < 1
      || n > 10'000'000)
    return std::nullopt;
  return n;
}

bool same(const std::string& a, const std::vector<std::uint8_t>& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::vector<std::uint8_t> pbkdf2(std::string_view password,
                                 const std::string& salt, int iterations,
                                 const EVP_MD* md, std::size_t size) {
  std::vector<std::uint8_t> out(size);
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), iterations, md,
                    static_cast<int>(size), out.data());
  return out;
}

std::vector<std::uint8_t> sha512_salted(std::string_view password,
                                        const std::string& salt) {
  std::vector<std::uint8_t> out(64);
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr);
  EVP_DigestUpdate(ctx, password.data(), password.size());
  EVP_DigestUpdate(ctx, salt.data(), salt.size());
  EVP_DigestFinal_ex(ctx, out.data(), &len);
  EVP_MD_CTX_free(ctx);
  return out;
}

/// The parts of a stored hash, decoded; nullopt when it is none of ours.
struct parsed_hash {
  enum { pbkdf2_sha256, mosquitto_sha512, mosquitto_pbkdf2 } kind;
  int iterations = 1;
  std::string salt, hash;
};

std::optional<parsed_hash> parse_hash(std::string_view stored) {
  auto parts = split(stored, '$');
  parsed_hash p;
  std::optional<std::string> salt, hash;
  if (parts.size() == 4 && parts[0] == "pbkdf2_sha256") {
    p.kind = parsed_hash::pbkdf2_sha256;
    auto it = parse_iterations(parts[1]);
    if (!it)
      return std::nullopt;
    p.iterations = *it;
    salt = base64_decode(parts[2]);
    hash = base64_decode(parts[3]);
  } else if (parts.size() == 4 && parts[0].empty() && parts[1] == "6") {
    p.kind = parsed_hash::mosquitto_sha512;
    salt = base64_decode(parts[2]);
    hash = base64_decode(parts[3]);
  } else if (parts.size() == 5 && parts[0].empty() && parts[1] == "7") {
    p.kind = parsed_hash::mosquitto_pbkdf2;
    auto it = parse_iterations(parts[2]);
    if (!it)
      return std::nullopt;
    p.iterations = *it;
    salt = base64_decode(parts[3]);
    hash = base64_decode(parts[4]);
  } else {
    return std::nullopt;
  }
  if (!salt || !hash || salt->empty() || hash->empty())
    return std::nullopt;
  p.salt = std::move(*salt);
  p.hash = std::move(*hash);
  return p;
}

constexpr char b64_alphabet[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

} // namespace

std::string base64_encode(std::span<const std::uint8_t> data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < data.size(); i += 3) {
    std::uint32_t n = data[i] << 16;
    if (i + 1 < data.size())
      n |= data[i + 1] << 8;
    if (i + 2 < data.size())
      n |= data[i + 2];
    out += b64_alphabet[(n >> 18) & 63];
    out += b64_alphabet[(n >> 12) & 63];
    out += i + 1 < data.size() ? b64_alphabet[(n >> 6) & 63] : '=';
    out += i + 2 < data.size() ? b64_alphabet[n & 63] : '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0)
    return std::nullopt;
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t pad = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '=') {
      if (i + 2 < text.size())
        return std::nullopt;
      ++pad;
      continue;
    }
    if (pad > 0)
      return std::nullopt;
    const char* at = std::char_traits<char>::find(b64_alphabet, 64, c);
    if (!at)
      return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(at - b64_alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

std::string hash_password(std::string_view password,
                          std::span<const std::uint8_t> salt, int iterations) {
  std::string salt_text(salt.begin(), salt.end());
  auto hash = pbkdf2(password, salt_text, iterations, EVP_sha256(), 32);
  return "pbkdf2_sha256$" + std::to_string(iterations) + "$"
         + base64_encode(salt) + "$" + base64_encode(hash);
}

bool is_password_hash(std::string_view stored) {
  return parse_hash(stored).has_value();
}

bool verify_password(std::string_view stored, std::string_view password) {
  auto p = parse_hash(stored);
  if (!p)
    return false;
  switch (p->kind) {
    case parsed_hash::pbkdf2_sha256:
      return same(p->hash, pbkdf2(password, p->salt, p->iterations,
                                  EVP_sha256(), p->hash.size()));
    case parsed_hash::mosquitto_sha512:
      return same(p->hash, sha512_salted(password, p->salt));
    case parsed_hash::mosquitto_pbkdf2:
      return same(p->hash, pbkdf2(password, p->salt, p->iterations,
                                  EVP_sha512(), p->hash.size()));
  }
  return false;
}

std::optional<password_file> parse_password_file(std::string_view text,
                                                 std::string& error) {
  password_file file;
  std::size_t number = 0;
  for (auto line : split(text, '\n')) {
    ++number;
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (line.empty() || line.front() == '#')
      continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      error = "line " + std::to_string(number) + ": expected user:hash";
      return std::nullopt;
    }
    auto hash = line.substr(colon + 1);
    if (!is_password_hash(hash) || hash.front() != '$') {
      error = "line " + std::to_string(number) + ": user '"
              + std::string(line.substr(0, colon))
              + "' has no $6$ or $7$ hash (write the file with mosquitto_passwd)";
      return std::nullopt;
    }
    file.users.emplace(std::string(line.substr(0, colon)), std::string(hash));
  }
  return file;
}

} // namespace starling::broker

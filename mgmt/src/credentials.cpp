#include "starling/mgmt/credentials.hpp"

#include <algorithm>
#include <cctype>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace starling::mgmt {

namespace {

std::string hex(const unsigned char* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

std::string derive(const std::string& password, const std::string& salt,
                   uint32_t iterations) {
  unsigned char out[32];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), static_cast<int>(iterations),
                    EVP_sha256(), sizeof out, out);
  return hex(out, sizeof out);
}

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'
         || c == '.' || c == '@';
}

} // namespace

nlohmann::json password_hash::to_json() const {
  return {{"salt", salt}, {"hash", hash}, {"iterations", iterations},
          {"algorithm", "pbkdf2-sha256"}};
}

std::optional<password_hash> password_hash::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("salt") || !j.contains("hash")
      || !j["salt"].is_string() || !j["hash"].is_string()
      || !j.value("iterations", nlohmann::json()).is_number_unsigned())
    return std::nullopt;
  return password_hash{j["salt"].get<std::string>(), j["hash"].get<std::string>(),
                       j["iterations"].get<uint32_t>()};
}

password_hash hash_password(const std::string& password,
                            const runtime::random_source& rnd,
                            uint32_t iterations) {
  return hash_password_salted(password, runtime::make_nonce(rnd).substr(0, 32), iterations);
}

password_hash hash_password_salted(const std::string& password, const std::string& salt,
                                   uint32_t iterations) {
  return {salt, derive(password, salt, iterations), iterations};
}

bool verify_password(const std::string& password, const password_hash& h) {
  if (h.iterations == 0 || h.iterations > 10000000)
    return false;
  return runtime::proofs_equal(derive(password, h.salt, h.iterations), h.hash);
}

std::string sha256_hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return hex(md, len);
}

std::optional<std::string> base64_decode(const std::string& text) {
  if (text.empty() || text.size() % 4 != 0 || text.size() > 4096)
    return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0)
    return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  auto pad = std::count(text.end() - 2, text.end(), '=');
  out.resize(static_cast<size_t>(n) - static_cast<size_t>(pad));
  return out;
}

nlohmann::json user_record::to_json() const {
  return {{"password", password.to_json()},
          {"description", description},
          {"must_change", must_change},
          {"created_at", created_at_ms}};
}

std::optional<user_record> user_record::from_json(const std::string& username,
                                                  const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object())
    return std::nullopt;
  auto pw = password_hash::from_json(j.value("password", nlohmann::json()));
  if (!pw)
    return std::nullopt;
  user_record u;
  u.username = username;
  u.password = *pw;
  u.description = j.value("description", "");
  u.must_change = j.value("must_change", false);
  u.created_at_ms = j.value("created_at", int64_t{0});
  return u;
}

nlohmann::json api_key_record::to_json() const {
  return {{"name", name},       {"desc", description},
          {"enable", enable},   {"expired_at", expired_at_ms},
          {"created_at", created_at_ms}, {"secret", secret.to_json()}};
}

nlohmann::json api_key_record::to_public_json() const {
  return {{"name", name},       {"api_key", key},
          {"desc", description}, {"enable", enable},
          {"expired_at", expired_at_ms}, {"created_at", created_at_ms}};
}

std::optional<api_key_record>
api_key_record::from_json(const std::string& key, const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object())
    return std::nullopt;
  auto secret = password_hash::from_json(j.value("secret", nlohmann::json()));
  if (!secret || !j.value("name", nlohmann::json()).is_string())
    return std::nullopt;
  api_key_record r;
  r.key = key;
  r.name = j["name"].get<std::string>();
  r.description = j.value("desc", "");
  r.enable = j.value("enable", true);
  r.expired_at_ms = j.value("expired_at", int64_t{0});
  r.created_at_ms = j.value("created_at", int64_t{0});
  r.secret = *secret;
  return r;
}

std::string check_name(const std::string& what, const std::string& name) {
  if (name.empty() || name.size() > 64)
    return what + " must be 1 to 64 characters long";
  if (!std::all_of(name.begin(), name.end(), name_char))
    return what + " '" + name + "' may hold only letters, digits and _ - . @";
  return {};
}

std::string check_new_password(const std::string& pw) {
  if (pw.size() < 8 || pw.size() > 128)
    return "the new password must be 8 to 128 characters long";
  bool alpha = false, digit = false, other = false;
  for (char c : pw) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalpha(u))
      alpha = true;
    else if (std::isdigit(u))
      digit = true;
    else
      other = true;
  }
  if (alpha + digit + other < 2)
    return "the new password must mix at least two of letters, digits and "
           "other characters";
  return {};
}

token_signer::token_signer(const std::string& cookie) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static const std::string label = "starling management API token key";
  HMAC(EVP_sha256(), cookie.data(), static_cast<int>(cookie.size()),
       reinterpret_cast<const unsigned char*>(label.data()), label.size(), md,
       &len);
  key_.assign(reinterpret_cast<const char*>(md), len);
}

std::string token_signer::mac(const std::string& payload) const {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(),
       md, &len);
  return hex(md, len);
}

std::string token_signer::issue(const std::string& username,
                                const std::string& pwv,
                                int64_t expires_ms) const {
  auto payload = username + "." + std::to_string(expires_ms) + "." + pwv;
  return payload + "." + mac(payload);
}

std::optional<token_signer::claims>
token_signer::verify(const std::string& token) const {
  auto last = token.rfind('.');
  if (last == std::string::npos || token.size() > 512)
    return std::nullopt;
  auto payload = token.substr(0, last);
  if (!runtime::proofs_equal(mac(payload), token.substr(last + 1)))
    return std::nullopt;
  // The username may contain dots: expiry and pwv are the last two fields.
  auto p2 = payload.rfind('.');
  auto p1 = p2 == std::string::npos ? p2 : payload.rfind('.', p2 - 1);
  if (p1 == std::string::npos || p1 == 0)
    return std::nullopt;
  claims c;
  c.username = payload.substr(0, p1);
  c.pwv = payload.substr(p2 + 1);
  try {
    c.expires_ms = std::stoll(payload.substr(p1 + 1, p2 - p1 - 1));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return c;
}

std::string password_version(const user_record& u) {
  return u.password.hash.substr(0, 16);
}

int64_t login_limiter::locked_for(const std::string& who, int64_t now_ms) {
  std::lock_guard<std::mutex> guard(mtx_);
  auto i = entries_.find(who);
  if (i == entries_.end() || i->second.locked_until <= now_ms)
    return 0;
  return i->second.locked_until - now_ms;
}

void login_limiter::failed(const std::string& who, int64_t now_ms,
                           const settings& s) {
  std::lock_guard<std::mutex> guard(mtx_);
  // Bounded: entries that no longer count are dropped as we go.
  if (entries_.size() > 10000)
    std::erase_if(entries_, [&](auto& e) {
      return e.second.locked_until <= now_ms
             && (e.second.failures.empty()
                 || e.second.failures.back() + s.interval_ms < now_ms);
    });
  auto& e = entries_[who];
  e.failures.push_back(now_ms);
  while (!e.failures.empty() && e.failures.front() + s.interval_ms < now_ms)
    e.failures.pop_front();
  if (e.failures.size() >= s.max_attempts) {
    e.locked_until = now_ms + s.lock_ms;
    e.failures.clear();
  }
}

void login_limiter::succeeded(const std::string& who) {
  std::lock_guard<std::mutex> guard(mtx_);
  entries_.erase(who);
}

} // namespace starling::mgmt

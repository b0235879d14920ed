#include <doctest/doctest.h>

#include <vector>

#include "starling/broker/password.hpp"

using namespace starling::broker;

namespace {

// Written by Debian 12's mosquitto_passwd 2.0.11 (-b; -H sha512 for carol).
const char* mosquitto_file =
  "alice:$7$101$qIOeeSh2zUnMTttp$MGFiVq8yazxqyxws1gEdGcobupLi31I835lI2lnw2i6QktTujPzjpTn39mcR2mlXwR5RqKtXkoXDaJpFVwVkzA==\n"
  "bob:$7$101$drS3qpCQ2s8OmSZP$pimEDIbBctOdbZk2F4tGvAVqu2wNt7ud4At6LNIqAStg7U6lKDMHoNfDSXnbl7K6MC0v0KYMrYvx6bwKk7B4oA==\n"
  "carol:$6$HflB64x9KPJxwOsJ$SkSVeQdhv5NqAQMocqAFr3W6LrAw/jAuFr6JJYuHMk20cDFXxMnfjDzB0BFZRiOBoYd1uaHL/cxgUatRIHnzow==\n";

} // namespace

TEST_CASE("password: mosquitto_passwd's $7$ and $6$ hashes verify") {
  std::string err;
  auto file = parse_password_file(mosquitto_file, err);
  REQUIRE_MESSAGE(file, err);
  REQUIRE(file->users.size() == 3);
  CHECK(verify_password(file->users.at("alice"), "wonder land"));
  CHECK_FALSE(verify_password(file->users.at("alice"), "wonder lan"));
  CHECK(verify_password(file->users.at("bob"), "s3cr:t"));
  CHECK_FALSE(verify_password(file->users.at("bob"), "wonder land"));
  CHECK(verify_password(file->users.at("carol"), "c@rol"));
  CHECK_FALSE(verify_password(file->users.at("carol"), ""));
}

TEST_CASE("password: a malformed password file names the line") {
  std::string err;
  CHECK_FALSE(parse_password_file("# users\n\nalice:$7$101$x$y\n", err));
  CHECK(err.find("line 3") != std::string::npos);
  CHECK_FALSE(parse_password_file("bob:plaintext\n", err));
  CHECK(err.find("mosquitto_passwd") != std::string::npos);
  CHECK_FALSE(parse_password_file("no colon\n", err));
  CHECK(err.find("line 1: expected user:hash") != std::string::npos);
  CHECK(parse_password_file("", err)->users.empty());
}

TEST_CASE("password: the user database's PBKDF2-SHA256 form") {
  std::vector<std::uint8_t> salt{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  auto stored = hash_password("pa55", salt, 1000);
  CHECK(stored.rfind("pbkdf2_sha256$1000$", 0) == 0);
  CHECK(verify_password(stored, "pa55"));
  CHECK_FALSE(verify_password(stored, "pa56"));
  // Salted: another salt, another hash for the same password.
  std::vector<std::uint8_t> other(16, 9);
  CHECK(hash_password("pa55", other, 1000) != stored);
  // RFC 6070-style check of the primitive: PBKDF2-HMAC-SHA256("password",
  // "salt", 1) (RFC 7914 §11 gives the 64-byte output; these are its first
  // 32 bytes).
  std::vector<std::uint8_t> s{'s', 'a', 'l', 't'};
  CHECK(hash_password("password", s, 1)
        == "pbkdf2_sha256$1$c2FsdA==$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=");
  CHECK(is_password_hash(stored));
  CHECK_FALSE(is_password_hash("pbkdf2_sha256$0$c2FsdA==$AA=="));
  CHECK_FALSE(verify_password("plain", "plain"));
}

TEST_CASE("password: base64 round trip and rejection") {
  std::vector<std::uint8_t> data{0, 1, 2, 250, 251};
  auto text = base64_encode(data);
  CHECK(text == "AAEC+vs=");
  CHECK(*base64_decode(text) == std::string("\0\1\2\xfa\xfb", 5));
  CHECK_FALSE(base64_decode("abc"));
  CHECK_FALSE(base64_decode("ab=c"));
  CHECK_FALSE(base64_decode("a*bc"));
}

// libFuzzer target for the MQTT decoder (broker/src/codec*.cpp).
//
// Input layout:
//   byte 0     bits 0-1 pick the connection's starting version: 0 = none
//              (a server before CONNECT), 1 = 3.1, 2 = 3.1.1, 3 = 5.0
//   bytes 1-2  big-endian max_packet_size; 0 means the protocol maximum
//   bytes 3..  the byte stream, decoded packet after packet
//
// Besides the sanitizers' checks, every packet the decoder accepts must
// survive encode -> decode unchanged, encode identically twice, and every
// strict prefix of its encoding must be "need more". Any violation aborts.
// The seed corpus in corpus/ is written by make_corpus.py.

#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "starling/broker/codec.hpp"

using namespace starling::broker;

namespace {

[[noreturn]] void die(const char* what, const packet& p,
                      const std::string& detail = {}) {
  std::fprintf(stderr, "decoder_fuzz: %s (%s) %s\n", what,
               std::string(to_string(type_of(p))).c_str(), detail.c_str());
  std::abort();
}

protocol_version version_of(const packet& p, const decoder& d) {
  if (auto* c = std::get_if<connect>(&p))
    return c->version;
  return *d.version();
}

decoder fresh_decoder(const packet& p, protocol_version v) {
  decoder_options options{max_packet_size_limit, v};
  if (std::holds_alternative<connect>(p))
    options.version.reset();
  return decoder{options};
}

void check_prefix_needs_more(const packet& p, protocol_version v,
                             const std::vector<std::uint8_t>& wire,
                             std::size_t length) {
  auto d = fresh_decoder(p, v);
  auto result = d.decode(std::span{wire}.first(length));
  if (!std::holds_alternative<need_more>(result))
    die("a strict prefix of an encoding did not need more", p);
}

void check_round_trip(const packet& p, protocol_version v) {
  std::vector<std::uint8_t> wire;
  if (auto error = encode(p, v, wire))
    die("a decoded packet could not be encoded", p, error->message);
  auto d = fresh_decoder(p, v);
  auto result = d.decode(wire);
  if (auto* error = std::get_if<codec_error>(&result))
    die("a re-encoded packet did not decode", p, error->message);
  auto* again = std::get_if<decoded>(&result);
  if (!again)
    die("a re-encoded packet was incomplete", p);
  if (again->consumed != wire.size())
    die("a re-encoded packet decoded to a different size", p);
  if (!(again->pkt == p))
    die("a re-encoded packet decoded differently", p);
  std::vector<std::uint8_t> second;
  if (encode(again->pkt, v, second) || second != wire)
    die("encoding the same packet twice gave different bytes", p);
  for (auto length :
       {std::size_t{0}, std::size_t{1}, wire.size() / 2, wire.size() - 1})
    check_prefix_needs_more(p, v, wire, length);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size < 3)
    return 0;
  static constexpr std::optional<protocol_version> versions[] = {
      std::nullopt, protocol_version::v3_1, protocol_version::v3_1_1,
      protocol_version::v5};
  decoder_options options;
  options.version = versions[data[0] & 3];
  const unsigned max = (unsigned{data[1]} << 8) | data[2];
  options.max_packet_size = max == 0 ? max_packet_size_limit : max;
  decoder d{options};

  std::span<const std::uint8_t> input{data + 3, size - 3};
  for (;;) {
    auto result = d.decode(input);
    auto* got = std::get_if<decoded>(&result);
    if (!got)
      break;
    if (got->consumed == 0 || got->consumed > input.size())
      die("decode consumed an impossible number of bytes", got->pkt);
    check_round_trip(got->pkt, version_of(got->pkt, d));
    input = input.subspan(got->consumed);
  }
  return 0;
}

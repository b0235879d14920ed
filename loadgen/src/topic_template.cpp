#include "starling/loadgen/topic_template.hpp"

namespace starling::loadgen {

std::variant<topic_template, std::string>
topic_template::parse(std::string_view text) {
  topic_template t;
  t.text_ = std::string(text);
  std::string literal;
  auto flush = [&] {
    if (!literal.empty())
      t.parts_.push_back({part_kind::literal, std::move(literal)});
    literal.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      literal += text[i];
      continue;
    }
    if (i + 1 == text.size())
      return "'" + std::string(text) +
             "' ends with '%'; write %% for a literal percent sign";
    char c = text[++i];
    if (c == '%') {
      literal += '%';
      continue;
    }
    part_kind kind;
    if (c == 'i')
      kind = part_kind::index;
    else if (c == 'c')
      kind = part_kind::client_id;
    else if (c == 'j')
      kind = part_kind::filter;
    else
      return "unknown placeholder '%" + std::string(1, c) + "' in '" +
             std::string(text) + "'; use %i (client index), %c (client id), "
             "%j (filter index) or %%";
    flush();
    t.parts_.push_back({kind, {}});
  }
  flush();
  return t;
}

std::string topic_template::expand(std::uint64_t index,
                                   std::string_view client_id,
                                   std::uint64_t filter_index) const {
  std::string out;
  out.reserve(text_.size() + 16);
  for (const auto& p : parts_) {
    switch (p.kind) {
      case part_kind::literal:
        out += p.literal;
        break;
      case part_kind::index:
        out += std::to_string(index);
        break;
      case part_kind::client_id:
        out += client_id;
        break;
      case part_kind::filter:
        out += std::to_string(filter_index);
        break;
    }
  }
  return out;
}

bool topic_template::uses_client() const noexcept {
  for (const auto& p : parts_)
    if (p.kind == part_kind::index || p.kind == part_kind::client_id)
      return true;
  return false;
}

bool topic_template::uses_filter_index() const noexcept {
  for (const auto& p : parts_)
    if (p.kind == part_kind::filter)
      return true;
  return false;
}

} // namespace starling::loadgen

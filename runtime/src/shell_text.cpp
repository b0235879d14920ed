#include "starling/runtime/shell_text.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace starling::runtime {

namespace {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos)
    return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool valid_word(const std::string& w) {
  return !w.empty() && std::all_of(w.begin(), w.end(), [](char c) {
    return std::isgraph(static_cast<unsigned char>(c)) && c != '(' && c != ')'
           && c != ',';
  });
}

} // namespace

std::optional<shell_command> parse_shell_command(const std::string& line,
                                                 std::string& error) {
  auto text = trim(line);
  if (!text.empty() && text.back() == '.')
    text = trim(text.substr(0, text.size() - 1));
  if (text.empty())
    return std::nullopt;
  shell_command cmd;
  auto paren = text.find('(');
  if (paren != std::string::npos) {
    if (text.back() != ')') {
      error = "syntax error: missing ')' in '" + text + "'";
      return std::nullopt;
    }
    cmd.name = trim(text.substr(0, paren));
    auto inner = text.substr(paren + 1, text.size() - paren - 2);
    if (inner.find_first_of("()") != std::string::npos) {
      error = "syntax error: nested parentheses in '" + text + "'";
      return std::nullopt;
    }
    std::istringstream in(inner);
    std::string arg;
    while (std::getline(in, arg, ',')) {
      arg = trim(arg);
      if (arg.size() >= 2 && (arg.front() == '"' || arg.front() == '\'')
          && arg.back() == arg.front())
        arg = arg.substr(1, arg.size() - 2);
      if (!arg.empty())
        cmd.args.push_back(arg);
      else if (!trim(inner).empty()) {
        error = "syntax error: empty argument in '" + text + "'";
        return std::nullopt;
      }
    }
  } else {
    std::istringstream in(text);
    in >> cmd.name;
    std::string word;
    while (in >> word)
      cmd.args.push_back(word);
  }
  if (!valid_word(cmd.name)) {
    error = "syntax error in '" + text + "'";
    return std::nullopt;
  }
  return cmd;
}

std::string format_table(const std::vector<std::string>& headers,
                         const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(headers.size());
  for (size_t i = 0; i < headers.size(); ++i)
    width[i] = headers[i].size();
  for (auto& row : rows)
    for (size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < width.size(); ++i) {
      auto cell = i < row.size() ? row[i] : std::string{};
      line += cell;
      if (i + 1 < width.size())
        line += std::string(width[i] - cell.size() + 2, ' ');
    }
    out += trim(line) + "\n";
  };
  emit(headers);
  for (auto& row : rows)
    emit(row);
  return out;
}

std::string format_duration_ms(int64_t ms) {
  if (ms < 0)
    ms = 0;
  if (ms < 1000)
    return std::to_string(ms) + "ms";
  auto s = ms / 1000;
  if (s < 60)
    return std::to_string(s) + "s";
  if (s < 3600)
    return std::to_string(s / 60) + "m " + std::to_string(s % 60) + "s";
  if (s < 86400)
    return std::to_string(s / 3600) + "h " + std::to_string(s % 3600 / 60) + "m";
  return std::to_string(s / 86400) + "d " + std::to_string(s % 86400 / 3600) + "h";
}

std::string actor_ref(const std::string& system_label, uint64_t id) {
  return system_label.empty() ? std::to_string(id)
                              : system_label + ":" + std::to_string(id);
}

} // namespace starling::runtime

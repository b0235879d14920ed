// EMQX acl.conf: a reader for the Erlang terms it is written in, the rules
// built from them, and first-match evaluation (see acl.hpp).

#include "starling/broker/acl.hpp"

#include <arpa/inet.h>

#include <cctype>
#include <regex>
#include <variant>

#include "starling/broker/topic.hpp"

namespace starling::broker {

// -- Erlang terms ---------------------------------------------------------------

namespace {

struct term {
  enum kind_t { atom, string, integer, tuple, list } kind = atom;
  std::string text; ///< atom name or string contents
  long value = 0;
  std::vector<term> items;
  int line = 0;

  bool is_atom(std::string_view name) const {
    return kind == atom && text == name;
  }
};

std::string describe(const term& t) {
  switch (t.kind) {
    case term::atom:
      return "'" + t.text + "'";
    case term::string:
      return "\"" + t.text + "\"";
    case term::integer:
      return std::to_string(t.value);
    case term::tuple:
      return "a tuple of " + std::to_string(t.items.size());
    case term::list:
      return "a list";
  }
  return "?";
}

/// Reads the subset of Erlang's term syntax acl.conf uses: atoms (bare or
/// quoted), strings, integers, tuples, lists, `%` comments, `.` ends a term.
class reader {
public:
  explicit reader(std::string_view text) : text_(text) {
  }

  /// Skips blanks and comments; false at the end of the text.
  bool more() {
    skip();
    return pos_ < text_.size();
  }

  int line() const {
    return line_;
  }

  std::optional<term> read(std::string& error) {
    skip();
    if (pos_ >= text_.size())
      return fail(error, "unexpected end of file");
    char c = text_[pos_];
    term t;
    t.line = line_;
    if (c == '{' || c == '[') {
      ++pos_;
      t.kind = c == '{' ? term::tuple : term::list;
      const char close = c == '{' ? '}' : ']';
      skip();
      if (peek() == close) {
        ++pos_;
        return t;
      }
      for (;;) {
        auto item = read(error);
        if (!item)
          return std::nullopt;
        t.items.push_back(std::move(*item));
        skip();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        if (peek() == close) {
          ++pos_;
          return t;
        }
        return fail(error, std::string("expected ',' or '") + close + "'");
      }
    }
    if (c == '"')
      return quoted(t, term::string, '"', error);
    if (c == '\'')
      return quoted(t, term::atom, '\'', error);
    if (std::islower(static_cast<unsigned char>(c))) {
      t.kind = term::atom;
      while (pos_ < text_.size()
             && (std::isalnum(static_cast<unsigned char>(text_[pos_]))
                 || text_[pos_] == '_' || text_[pos_] == '@'))
        t.text += text_[pos_++];
      return t;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      t.kind = term::integer;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_])))
        t.value = t.value * 10 + (text_[pos_++] - '0');
      return t;
    }
    return fail(error, std::string("unexpected character '") + c + "'");
  }

  /// The dot that ends a rule.
  bool end_of_term(std::string& error) {
    skip();
    if (peek() == '.') {
      ++pos_;
      return true;
    }
    fail(error, "expected '.' after the rule");
    return false;
  }

private:
  char peek() const {
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }

  void skip() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '%') {
        while (pos_ < text_.size() && text_[pos_] != '\n')
          ++pos_;
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        if (c == '\n')
          ++line_;
        ++pos_;
      } else {
        return;
      }
    }
  }

  std::optional<term> quoted(term& t, term::kind_t kind, char q,
                             std::string& error) {
    t.kind = kind;
    ++pos_;
    while (pos_ < text_.size() && text_[pos_] != q) {
      char c = text_[pos_++];
      if (c == '\n')
        ++line_;
      if (c == '\\' && pos_ < text_.size()) {
        char e = text_[pos_++];
        c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
      }
      t.text += c;
    }
    if (pos_ >= text_.size())
      return fail(error, std::string("unterminated ") + (q == '"' ? "string" : "atom"));
    ++pos_;
    return t;
  }

  std::nullopt_t fail(std::string& error, const std::string& what) {
    error = what;
    return std::nullopt;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  int line_ = 1;
};

} // namespace

// -- CIDR -------------------------------------------------------------------------

std::optional<cidr> cidr::parse(std::string_view text) {
  cidr c;
  auto slash = text.find('/');
  std::string addr(text.substr(0, slash));
  if (inet_pton(AF_INET, addr.c_str(), c.addr) == 1) {
    c.family = AF_INET;
    c.prefix = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.addr) == 1) {
    c.family = AF_INET6;
    c.prefix = 128;
  } else {
    return std::nullopt;
  }
  if (slash != std::string_view::npos) {
    auto bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3)
      return std::nullopt;
    int n = 0;
    for (char ch : bits) {
      if (!std::isdigit(static_cast<unsigned char>(ch)))
        return std::nullopt;
      n = n * 10 + (ch - '0');
    }
    if (n > c.prefix)
      return std::nullopt;
    c.prefix = n;
  }
  return c;
}

bool cidr::contains(std::string_view host) const {
  std::uint8_t a[16] = {};
  std::string h(host);
  if (inet_pton(family, h.c_str(), a) != 1)
    return false;
  int bits = prefix;
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    std::uint8_t mask = bits >= 8 ? 0xFF : static_cast<std::uint8_t>(0xFF << (8 - bits));
    if ((a[i] & mask) != (addr[i] & mask))
      return false;
  }
  return true;
}

// -- rules ------------------------------------------------------------------------

namespace {

struct who_t {
  enum kind_t { all, username, clientid, ipaddr, all_of, any_of } kind = all;
  std::string text;                ///< exact username / client id
  std::optional<std::regex> re;    ///< or a regex over it
  std::vector<cidr> nets;          ///< ipaddr / ipaddrs
  std::vector<who_t> subs;         ///< 'and' / 'or'
};

struct topic_rule {
  std::string filter;
  bool eq = false;
};

bool matches_text(const who_t& w, std::string_view value) {
  if (w.re)
    return std::regex_search(value.begin(), value.end(), *w.re);
  return value == w.text;
}

bool matches(const who_t& w, const acl_client& c) {
  switch (w.kind) {
    case who_t::all:
      return true;
    case who_t::username:
      return c.username && matches_text(w, *c.username);
    case who_t::clientid:
      return matches_text(w, c.client_id);
    case who_t::ipaddr:
      for (auto& n : w.nets)
        if (n.contains(c.peer_host))
          return true;
      return false;
    case who_t::all_of:
      for (auto& s : w.subs)
        if (!matches(s, c))
          return false;
      return true;
    case who_t::any_of:
      for (auto& s : w.subs)
        if (matches(s, c))
          return true;
      return false;
  }
  return false;
}

/// `filter` with the client's placeholders filled in; nullopt when it names
/// one the client does not have (no username) or one that is not a single
/// plain topic level.
std::optional<std::string> expand(std::string_view filter, const acl_client& c) {
  static const std::pair<std::string_view, int> names[] = {
    {"%u", 0}, {"${username}", 0}, {"%c", 1}, {"${clientid}", 1}};
  std::string out;
  for (std::size_t i = 0; i < filter.size();) {
    bool replaced = false;
    for (auto& [name, which] : names) {
      if (filter.substr(i, name.size()) != name)
        continue;
      auto value = which == 0 ? c.username : std::optional(c.client_id);
      // A value with a level separator or a wildcard would reach beyond
      // its own subtree ("a/b" into "a"'s, "#" into everyone's).
      if (!value || value->find_first_of("/+#") != std::string_view::npos)
        return std::nullopt;
      out += *value;
      i += name.size();
      replaced = true;
      break;
    }
    if (!replaced)
      out += filter[i++];
  }
  return out;
}

std::optional<who_t> parse_who(const term& t, std::string& error);

std::optional<who_t> parse_text_who(who_t::kind_t kind, const term& value,
                                    std::string& error) {
  who_t w;
  w.kind = kind;
  if (value.kind == term::string) {
    w.text = value.text;
    return w;
  }
  if (value.kind == term::tuple && value.items.size() == 2
      && value.items[0].is_atom("re") && value.items[1].kind == term::string) {
    try {
      w.re.emplace(value.items[1].text, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      error = "invalid regex \"" + value.items[1].text + "\": " + e.what();
      return std::nullopt;
    }
    return w;
  }
  error = "expected a string or {re, \"regex\"}, got " + describe(value);
  return std::nullopt;
}

std::optional<who_t> parse_who(const term& t, std::string& error) {
  if (t.is_atom("all"))
    return who_t{};
  if (t.kind != term::tuple || t.items.size() != 2 || t.items[0].kind != term::atom) {
    error = "expected all, {username, ...}, {clientid, ...}, {ipaddr, ...}, "
            "{ipaddrs, [...]}, {'and', [...]} or {'or', [...]}, got "
            + describe(t);
    return std::nullopt;
  }
  auto& tag = t.items[0].text;
  auto& value = t.items[1];
  if (tag == "user" || tag == "username")
    return parse_text_who(who_t::username, value, error);
  if (tag == "client" || tag == "clientid")
    return parse_text_who(who_t::clientid, value, error);
  if (tag == "ipaddr" || tag == "ipaddrs") {
    who_t w;
    w.kind = who_t::ipaddr;
    std::vector<const term*> texts;
    if (tag == "ipaddr" && value.kind == term::string)
      texts.push_back(&value);
    else if (tag == "ipaddrs" && value.kind == term::list)
      for (auto& i : value.items)
        texts.push_back(&i);
    else {
      error = tag == "ipaddr" ? "expected {ipaddr, \"A.B.C.D[/N]\"}"
                              : "expected {ipaddrs, [\"A.B.C.D[/N]\", ...]}";
      return std::nullopt;
    }
    for (auto* a : texts) {
      auto net = a->kind == term::string ? cidr::parse(a->text) : std::nullopt;
      if (!net) {
        error = "invalid address or CIDR " + describe(*a);
        return std::nullopt;
      }
      w.nets.push_back(*net);
    }
    return w;
  }
  if (tag == "and" || tag == "or") {
    if (value.kind != term::list || value.items.empty()) {
      error = "expected {'" + tag + "', [who, ...]}";
      return std::nullopt;
    }
    who_t w;
    w.kind = tag == "and" ? who_t::all_of : who_t::any_of;
    for (auto& i : value.items) {
      auto sub = parse_who(i, error);
      if (!sub)
        return std::nullopt;
      w.subs.push_back(std::move(*sub));
    }
    return w;
  }
  error = "unknown who '" + tag + "'";
  return std::nullopt;
}

std::optional<std::vector<topic_rule>> parse_topics(const term& t,
                                                   std::string& error) {
  if (t.kind != term::list) {
    error = "expected a list of topics, got " + describe(t);
    return std::nullopt;
  }
  std::vector<topic_rule> out;
  for (auto& i : t.items) {
    topic_rule r;
    if (i.kind == term::string) {
      r.filter = i.text;
    } else if (i.kind == term::tuple && i.items.size() == 2
               && i.items[0].is_atom("eq") && i.items[1].kind == term::string) {
      r.filter = i.items[1].text;
      r.eq = true;
    } else {
      error = "expected a topic \"filter\" or {eq, \"filter\"}, got " + describe(i);
      return std::nullopt;
    }
    if (auto why = topic_filter_error(r.filter)) {
      error = "invalid topic filter \"" + r.filter + "\": " + std::string(*why);
      return std::nullopt;
    }
    out.push_back(std::move(r));
  }
  return out;
}

} // namespace

struct acl::rule {
  bool allow = true;
  who_t who;
  std::optional<access_action> action; ///< nullopt: all
  std::vector<topic_rule> topics;
  bool every_topic = false; ///< {allow, all} / {deny, all}
};

acl::acl() = default;
std::size_t acl::size() const noexcept {
  return rules_.size();
}
acl::~acl() = default;
acl::acl(acl&&) noexcept = default;
acl& acl::operator=(acl&&) noexcept = default;
acl::acl(const acl&) = default;
acl& acl::operator=(const acl&) = default;

std::optional<acl> acl::parse(std::string_view text, std::string& error) {
  acl result;
  reader in(text);
  while (in.more()) {
    int line = in.line();
    auto where = [&] { return "line " + std::to_string(line) + ": "; };
    std::string why;
    auto t = in.read(why);
    if (!t || !in.end_of_term(why)) {
      error = where() + why;
      return std::nullopt;
    }
    if (t->kind != term::tuple || (t->items.size() != 2 && t->items.size() != 4)) {
      error = where() + "expected {Permission, Who, Action, Topics} or "
                        "{Permission, all}, got " + describe(*t);
      return std::nullopt;
    }
    auto& items = t->items;
    rule r;
    if (items[0].is_atom("allow") || items[0].is_atom("deny")) {
      r.allow = items[0].text == "allow";
    } else {
      error = where() + "expected allow or deny, got " + describe(items[0]);
      return std::nullopt;
    }
    if (items.size() == 2) {
      if (!items[1].is_atom("all")) {
        error = where() + "a two-element rule is {allow, all} or {deny, all}";
        return std::nullopt;
      }
      r.every_topic = true;
      result.rules_.push_back(std::move(r));
      continue;
    }
    auto who = parse_who(items[1], why);
    if (!who) {
      error = where() + why;
      return std::nullopt;
    }
    r.who = std::move(*who);
    if (items[2].is_atom("publish"))
      r.action = access_action::publish;
    else if (items[2].is_atom("subscribe"))
      r.action = access_action::subscribe;
    else if (!items[2].is_atom("all")) {
      error = where() + "expected publish, subscribe or all, got "
              + describe(items[2])
              + (items[2].kind == term::tuple
                   ? " (action options such as qos and retain are not supported)"
                   : "");
      return std::nullopt;
    }
    auto topics = parse_topics(items[3], why);
    if (!topics) {
      error = where() + why;
      return std::nullopt;
    }
    r.topics = std::move(*topics);
    result.rules_.push_back(std::move(r));
  }
  return result;
}

std::optional<bool> acl::check(const acl_client& who, access_action action,
                               std::string_view topic) const {
  // A shared subscription is checked by the filter it subscribes to.
  if (action == access_action::subscribe && is_shared_filter(topic)) {
    std::string ignored;
    if (auto shared = parse_shared_filter(topic, ignored))
      return check(who, action, shared->filter);
  }
  for (auto& r : rules_) {
    if (r.every_topic)
      return r.allow;
    if (r.action && *r.action != action)
      continue;
    if (!matches(r.who, who))
      continue;
    for (auto& t : r.topics) {
      if (t.eq) {
        if (t.filter == topic)
          return r.allow;
        continue;
      }
      auto filter = expand(t.filter, who);
      if (filter && topic_matches(*filter, topic))
        return r.allow;
    }
  }
  return std::nullopt;
}

} // namespace starling::broker

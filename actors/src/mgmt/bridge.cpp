// The HTTP side's backend (mgmt/backend.hpp): each call runs on an HTTP
// thread and asks the node's actors through a scoped actor, with a bound,
// so no CAF thread ever waits on HTTP and no HTTP thread waits forever.

#include "starling/actors/mgmt/context.hpp"

#include <caf/all.hpp>

#include "envelope.hpp"
#include "starling/actors/hidden_client.hpp"
#include "starling/actors/wire/mgmt.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/mqtt/protocol.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/wire/node.hpp"

namespace starling::actors::mgmt {

namespace {

namespace sm = starling::mgmt;
using json = nlohmann::json;

constexpr auto http_bound = std::chrono::seconds(12);

class bridge : public sm::backend {
public:
  explicit bridge(mgmt_context& ctx) : ctx_(ctx) {}

  std::string node_name() override { return ctx_.node->cfg.name.str(); }

  sm::outcome<json> cluster_status() override {
    auto text = ask(ctx_.agent, cluster_atom::value, status_atom::value);
    if (!text)
      return text.error();
    return json::parse(*text);
  }

  std::map<std::string, sm::outcome<json>>
  gather(const std::string& kind, const std::string& arg,
         const std::vector<std::string>& nodes) override {
    std::map<std::string, sm::outcome<json>> out;
    auto text = ask(ctx_.actor, gather_atom::value, kind, arg, nodes);
    auto j = text ? json::parse(*text, nullptr, false) : json();
    for (auto& n : nodes) {
      if (!text)
        out.emplace(n, text.error());
      else if (!j.contains(n))
        out.emplace(n, sm::unavailable("no answer from " + n));
      else
        out.emplace(n, open_envelope(j[n].dump()));
    }
    return out;
  }

  sm::outcome<std::string> invite(const std::string& node) override {
    std::string err;
    auto name = runtime::parse_node_name(node, err);
    if (!name)
      return sm::bad_request("'" + node + "' is not a node name: " + err);
    // The invited node runs `cluster join` to us: asked as ctl would, with
    // the cookie, over a connection of its own.
    auto client = hidden_client::connect(*name, ctx_.node->cfg.cookie, "mgmt",
                                         std::chrono::seconds(5));
    if (!client->ok()) {
      auto why = client->error();
      // A failed client may hold a pending connect that its destructor
      // would wait for (hidden_client.hpp): it is let go instead.
      (void) client.release();
      return sm::api_error{503, "NODE_UNREACHABLE", "cannot reach " + node + ": " + why};
    }
    // Our address as a join target: the name, with the port when it is not
    // the one the name implies.
    auto& cfg = ctx_.node->cfg;
    auto self = cfg.name.str();
    if (cfg.dist_port != cfg.name.dist_port())
      self += ":" + std::to_string(cfg.dist_port);
    auto a = client->cluster_join(self);
    if (!a.ok)
      return sm::api_error{400, "JOIN_FAILED", node + " could not join: " + a.text};
    return a.text;
  }

  sm::outcome<std::string> force_leave(const std::string& node) override {
    auto r = ask(ctx_.agent, cluster_atom::value, force_atom::value, node);
    if (!r)
      return sm::api_error{400, "FORCE_LEAVE_FAILED", r.error().message};
    return r;
  }

  sm::outcome<json> publish(const sm::publish_request& p) override {
    auto r = ask(ctx_.actor, api_publish_atom::value, p.topic, p.payload,
                 static_cast<uint8_t>(p.qos), p.retain);
    return r ? open_envelope(*r) : sm::outcome<json>(r.error());
  }

  sm::outcome<uint64_t> write(const std::string& table, const std::string& key,
                              const std::optional<std::string>& value) override {
    auto r = ask(ctx_.tables, write_atom::value, table, key, value.has_value(),
                 value.value_or(""));
    return seqno(r);
  }

  sm::outcome<uint64_t> configure(const runtime::config_changes& changes) override {
    json j = json::object();
    for (auto& [k, v] : changes)
      j[k] = v ? json(*v) : json();
    return seqno(ask(ctx_.tables, conf_set_atom::value, j.dump()));
  }

  runtime::node_config config() override { return ctx_.config(); }

  sm::outcome<json> balance(const std::string& node, const std::string& command,
                            const json& request) override {
    auto mq = ctx_.node->mqtt;
    if (!mq || !mq->balancer)
      return sm::unavailable("MQTT is not running on this node");
    // The balancer's refusals are the request's fault (400); a node that
    // does not answer is not (503).
    auto text = ask_as(sm::bad_request, mq->balancer, mqtt::rebalance_atom::value,
                       command, request.dump(), node);
    if (!text)
      return text.error();
    auto j = json::parse(*text, nullptr, false);
    if (j.is_discarded())
      return sm::api_error{500, "INTERNAL_ERROR", "malformed answer: " + *text};
    return j;
  }

private:
  template <class... Ts>
  sm::outcome<std::string> ask(const caf::actor& dest, Ts&&... xs) {
    return ask_as(sm::unavailable, dest, std::forward<Ts>(xs)...);
  }

  /// Like ask(); `refused` makes the API error of the actor's own refusal
  /// (fail()). Timeouts and lost nodes are 503.
  template <class... Ts>
  sm::outcome<std::string> ask_as(sm::api_error (*refused)(std::string),
                                  const caf::actor& dest, Ts&&... xs) {
    caf::scoped_actor self{*ctx_.node->sys};
    std::optional<std::string> text;
    std::string why = "no answer";
    bool refusal = false;
    self->request(dest, http_bound, std::forward<Ts>(xs)...)
      .receive([&](std::string& t) { text = std::move(t); },
               [&](caf::error& err) {
                 why = describe(err);
                 refusal = is_refusal(err);
               });
    if (!text)
      return refusal ? refused(why) : sm::unavailable(why);
    return *text;
  }

  static sm::outcome<uint64_t> seqno(const sm::outcome<std::string>& r) {
    if (!r)
      return r.error();
    auto j = open_envelope(*r);
    if (!j)
      return j.error();
    return j->get<uint64_t>();
  }

  mgmt_context& ctx_;
};

} // namespace

std::unique_ptr<sm::backend> make_backend(mgmt_context& ctx) {
  return std::make_unique<bridge>(ctx);
}

} // namespace starling::actors::mgmt

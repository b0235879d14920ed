#include "starling/actors/discovery/strategies.hpp"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <fstream>
#include <mutex>
#include <sstream>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "starling/runtime/cluster/discovery.hpp"

namespace starling::actors::discovery {

namespace cl = runtime::cluster;

namespace {

answer fail(std::string why) {
  answer a;
  a.error = std::move(why);
  return a;
}

answer found(std::vector<std::string> nodes) {
  answer a;
  a.ok = true;
  a.nodes = std::move(nodes);
  return a;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    auto b = item.find_first_not_of(" \t");
    auto e = item.find_last_not_of(" \t");
    if (b != std::string::npos)
      out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

std::string read_file(const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read " + path;
    return "";
  }
  std::stringstream s;
  s << in.rdbuf();
  auto t = s.str();
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' '))
    t.pop_back();
  return t;
}

/// An HTTP(S) client for `url` ("http://host:port" or "https://...").
std::unique_ptr<httplib::ClientImpl> client(const std::string& url,
                                            const std::string& cert,
                                            const std::string& key,
                                            const std::string& ca,
                                            std::string& error) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) {
    error = "'" + url + "' is not a URL (http://host:port)";
    return nullptr;
  }
  auto scheme = url.substr(0, scheme_end);
  auto rest = url.substr(scheme_end + 3);
  while (!rest.empty() && rest.back() == '/')
    rest.pop_back();
  auto colon = rest.rfind(':');
  std::string host = rest;
  int port = scheme == "https" ? 443 : 80;
  if (colon != std::string::npos) {
    host = rest.substr(0, colon);
    try {
      port = std::stoi(rest.substr(colon + 1));
    } catch (const std::exception&) {
      error = "'" + url + "': bad port";
      return nullptr;
    }
  }
  std::unique_ptr<httplib::ClientImpl> c;
  if (scheme == "https") {
    auto s = cert.empty() ? std::make_unique<httplib::SSLClient>(host, port)
                          : std::make_unique<httplib::SSLClient>(host, port, cert, key);
    if (!ca.empty())
      s->set_ca_cert_path(ca.c_str());
    s->enable_server_certificate_verification(true);
    c = std::move(s);
  } else if (scheme == "http") {
    c = std::make_unique<httplib::ClientImpl>(host, port);
  } else {
    error = "'" + url + "': only http and https";
    return nullptr;
  }
  c->set_connection_timeout(2, 0);
  c->set_read_timeout(5, 0);
  c->set_write_timeout(5, 0);
  return c;
}

std::string http_error(const httplib::Result& r, const std::string& what) {
  if (!r)
    return what + ": " + httplib::to_string(r.error());
  return what + ": HTTP " + std::to_string(r->status) + " "
         + r->body.substr(0, 200);
}

} // namespace

answer discover_static(const runtime::node_config& cfg) {
  return found(split_list(cfg.text("cluster.static.seeds")));
}

answer discover_dns(const runtime::node_config& cfg) {
  auto name = cfg.text("cluster.dns.name");
  auto type = cfg.text("cluster.dns.record_type");
  auto part = cfg.name.name;
  if (type == "srv") {
    unsigned char buf[NS_PACKETSZ * 8];
    int len = res_query(name.c_str(), ns_c_in, ns_t_srv, buf, sizeof buf);
    if (len < 0)
      return fail("cannot resolve the SRV records of " + name + ": "
                  + (h_errno == HOST_NOT_FOUND ? std::string("no such name (NXDOMAIN)")
                     : h_errno == NO_DATA    ? std::string("no SRV record")
                                             : std::string(hstrerror(h_errno))));
    ns_msg msg;
    if (ns_initparse(buf, len, &msg) < 0)
      return fail("a malformed DNS answer for " + name);
    std::vector<cl::srv_record> records;
    for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
      ns_rr rr;
      if (ns_parserr(&msg, ns_s_an, i, &rr) < 0 || ns_rr_type(rr) != ns_t_srv
          || ns_rr_rdlen(rr) < 7)
        continue;
      auto* rd = ns_rr_rdata(rr);
      cl::srv_record r;
      r.priority = ns_get16(rd);
      r.weight = ns_get16(rd + 2);
      r.port = ns_get16(rd + 4);
      char target[NS_MAXDNAME];
      if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), rd + 6, target,
                    sizeof target) < 0)
        continue;
      r.target = target;
      records.push_back(std::move(r));
    }
    return found(cl::names_from_srv(part, std::move(records)));
  }
  addrinfo hints{};
  hints.ai_family = type == "aaaa" ? AF_INET6 : AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(name.c_str(), nullptr, &hints, &res); rc != 0)
    return fail("cannot resolve " + name + " (" + type + "): " + gai_strerror(rc));
  std::vector<std::string> addresses;
  for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* src = ai->ai_family == AF_INET
                        ? static_cast<const void*>(
                            &reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr)
                        : static_cast<const void*>(
                            &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr);
    if (inet_ntop(ai->ai_family, src, text, sizeof text))
      addresses.push_back(text);
  }
  freeaddrinfo(res);
  return found(cl::names_from_addresses(part, addresses));
}

answer discover_k8s(const runtime::node_config& cfg) {
  std::string err;
  auto token = read_file(cfg.text("cluster.k8s.token_file"), err);
  if (!err.empty())
    return fail("k8s: " + err + " (the service account token)");
  auto c = client(cfg.text("cluster.k8s.apiserver"), "", "",
                  cfg.text("cluster.k8s.cacertfile"), err);
  if (!c)
    return fail("k8s: cluster.k8s.apiserver " + err);
  auto ns = cfg.text("cluster.k8s.namespace");
  auto svc = cfg.text("cluster.k8s.service_name");
  auto path = "/api/v1/namespaces/" + ns + "/endpoints/" + svc;
  auto r = c->Get(path.c_str(), {{"Authorization", "Bearer " + token}});
  if (!r || r->status != 200)
    return fail(http_error(r, "k8s: GET " + path));
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  auto nodes = cl::names_from_endpoints(j, cfg.name.name,
                                        cfg.text("cluster.k8s.address_type"), svc,
                                        ns, cfg.text("cluster.k8s.suffix"), err);
  if (!nodes)
    return fail("k8s: GET " + path + ": " + err);
  return found(std::move(*nodes));
}

// -- etcd ------------------------------------------------------------------------

struct etcd::impl {
  /// Calls come from short-lived workers that can overlap (a keepalive and
  /// a round): one at a time. Recursive: lock() renews the lease.
  std::recursive_mutex mtx;
  std::vector<std::string> servers;
  std::string cert, key, ca;
  std::string prefix, cluster, node;
  std::string address; ///< name@host:port, the key's value
  std::string lease; ///< the node's lease id ("" until granted)

  /// POSTs to the first server that answers.
  std::optional<nlohmann::json> post(const std::string& path,
                                     const nlohmann::json& body,
                                     std::string& error) {
    std::string why;
    for (auto& url : servers) {
      auto c = client(url, cert, key, ca, why);
      if (!c)
        break;
      auto r = c->Post(path.c_str(), body.dump(), "application/json");
      if (r && r->status == 200) {
        auto j = nlohmann::json::parse(r->body, nullptr, false);
        if (j.is_object())
          return j;
        why = url + path + ": not JSON";
        continue;
      }
      why = http_error(r, url + path);
    }
    error = "etcd: " + why;
    return std::nullopt;
  }

  bool grant(int64_t ttl_s, std::string& error) {
    auto j = post("/v3/lease/grant", {{"TTL", std::to_string(ttl_s)}}, error);
    if (!j)
      return false;
    lease = j->value("ID", "");
    if (lease.empty()) {
      error = "etcd: lease grant answered without an ID";
      return false;
    }
    return true;
  }
};

etcd::etcd(const runtime::node_config& cfg) : impl_(std::make_unique<impl>()) {
  impl_->servers = split_list(cfg.text("cluster.etcd.server"));
  impl_->cert = cfg.text("cluster.etcd.ssl.certfile");
  impl_->key = cfg.text("cluster.etcd.ssl.keyfile");
  impl_->ca = cfg.text("cluster.etcd.ssl.cacertfile");
  impl_->prefix = cfg.text("cluster.etcd.prefix");
  impl_->cluster = cfg.text("cluster.name");
  impl_->node = cfg.name.str();
  impl_->address = cfg.name.name + "@" + (cfg.name.host.find(':') != std::string::npos
                                            ? "[" + cfg.name.host + "]"
                                            : cfg.name.host)
                   + ":" + std::to_string(cfg.dist_port);
  ttl_ms_ = static_cast<int64_t>(cfg.duration_ms("cluster.etcd.node_ttl"));
}

etcd::~etcd() = default;

answer etcd::discover() {
  std::lock_guard<std::recursive_mutex> guard(impl_->mtx);
  std::string err;
  auto base = cl::etcd_node_key(impl_->prefix, impl_->cluster, "");
  auto end = base;
  end.back() = static_cast<char>(end.back() + 1); // the prefix's range end
  auto j = impl_->post("/v3/kv/range",
                       {{"key", cl::base64_encode(base)},
                        {"range_end", cl::base64_encode(end)}},
                       err);
  if (!j)
    return fail(err);
  auto nodes = cl::names_from_etcd_range(*j, impl_->prefix, impl_->cluster, err);
  if (!nodes)
    return fail("etcd: " + err);
  return found(std::move(*nodes));
}

bool etcd::lock(std::string& error) {
  std::lock_guard<std::recursive_mutex> guard(impl_->mtx);
  if (!ensure_lease(error))
    return false;
  auto key = cl::base64_encode(cl::etcd_lock_key(impl_->prefix, impl_->cluster));
  nlohmann::json txn{
    {"compare", {{{"key", key}, {"result", "EQUAL"}, {"target", "CREATE"},
                  {"create_revision", "0"}}}},
    {"success", {{{"request_put", {{"key", key},
                                   {"value", cl::base64_encode(impl_->node)},
                                   {"lease", impl_->lease}}}}}},
    {"failure", {{{"request_range", {{"key", key}}}}}}};
  auto j = impl_->post("/v3/kv/txn", txn, error);
  if (!j)
    return false;
  if (j->value("succeeded", false))
    return true;
  std::string holder = "another node";
  try {
    auto v = (*j)["responses"][0]["response_range"]["kvs"][0].value("value", "");
    if (auto h = cl::base64_decode(v))
      holder = *h;
  } catch (const nlohmann::json::exception&) {
  }
  error = "the etcd lock is held by " + holder;
  return false;
}

void etcd::unlock() {
  std::lock_guard<std::recursive_mutex> guard(impl_->mtx);
  std::string err;
  auto key = cl::base64_encode(cl::etcd_lock_key(impl_->prefix, impl_->cluster));
  // Only our own lock: deleted while its value still names this node.
  nlohmann::json txn{
    {"compare", {{{"key", key}, {"result", "EQUAL"}, {"target", "VALUE"},
                  {"value", cl::base64_encode(impl_->node)}}}},
    {"success", {{{"request_delete_range", {{"key", key}}}}}}};
  impl_->post("/v3/kv/txn", txn, err);
}

bool etcd::ensure_lease(std::string& error) {
  std::lock_guard<std::recursive_mutex> guard(impl_->mtx);
  // A lease that lapsed (nothing renewed it for its TTL) is replaced: a put
  // under it would fail.
  if (!impl_->lease.empty() && !keepalive(error))
    impl_->lease.clear();
  error.clear();
  return !impl_->lease.empty()
         || impl_->grant(std::max<int64_t>(ttl_ms_ / 1000, 2), error);
}

bool etcd::register_self(std::string& error) {
  std::lock_guard<std::recursive_mutex> guard(impl_->mtx);
  if (!ensure_lease(error))
    return false;
  auto key = cl::etcd_node_key(impl_->prefix, impl_->cluster, impl_->node);
  return impl_
    ->post("/v3/kv/put",
           {{"key", cl::base64_encode(key)},
            {"value", cl::base64_encode(impl_->address)},
            {"lease", impl_->lease}},
           error)
    .has_value();
}

bool etcd::keepalive(std::string& error) {
  std::lock_guard<std::recursive_mutex> guard(impl_->mtx);
  if (impl_->lease.empty())
    return true; // nothing registered yet
  auto j = impl_->post("/v3/lease/keepalive", {{"ID", impl_->lease}}, error);
  if (!j)
    return false;
  auto result = j->value("result", nlohmann::json::object());
  auto ttl = result.value("TTL", std::string("0"));
  if (ttl == "0" || ttl.empty()) {
    error = "etcd: the node's lease " + impl_->lease + " expired";
    impl_->lease.clear();
    return false;
  }
  return true;
}

} // namespace starling::actors::discovery

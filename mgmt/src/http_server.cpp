#include "starling/mgmt/http_server.hpp"

#include <atomic>
#include <thread>

#include <httplib.h>

namespace starling::mgmt {

struct http_server::impl {
  api_context& ctx;
  httplib::Server srv;
  std::thread thread;
  std::atomic<bool> ended{false}; ///< listen_after_bind has returned

  explicit impl(api_context& c) : ctx(c) {}

  void serve(const httplib::Request& req, httplib::Response& res) {
    bool api = req.path == "/status" || req.path.rfind("/api/", 0) == 0;
    if (!api) {
      auto a = req.method == "GET" ? find_asset(req.path) : nullptr;
      if (!a) {
        auto r = error_response(not_found("no such path: " + req.path));
        res.status = r.status;
        res.set_content(r.body, r.content_type.c_str());
        return;
      }
      res.set_content(std::string(a->data), std::string(a->content_type).c_str());
      res.set_header("Cache-Control", "no-cache");
      return;
    }
    http_request r;
    r.method = req.method;
    r.path = req.path;
    // From the target itself: httplib also puts a form body's fields in
    // `params`, and a JSON body sent as a form (curl -d) is a body here.
    auto q = req.target.find('?');
    if (q != std::string::npos) {
      httplib::Params params;
      httplib::detail::parse_query_text(req.target.substr(q + 1), params);
      for (auto& [k, v] : params)
        r.query[k] = v;
    }
    r.body = req.body;
    r.authorization = req.get_header_value("Authorization");
    r.remote_addr = req.remote_addr;
    auto out = handle(ctx, r);
    res.status = out.status;
    for (auto& [k, v] : out.headers)
      res.set_header(k.c_str(), v);
    if (out.status != 204)
      res.set_content(out.body, out.content_type.c_str());
  }
};

http_server::http_server(api_context& ctx) : impl_(std::make_unique<impl>(ctx)) {
  auto& srv = impl_->srv;
  srv.set_payload_max_length(1 << 20);
  srv.set_read_timeout(10);
  srv.set_keep_alive_timeout(5);
  srv.new_task_queue = [] { return new httplib::ThreadPool(8); };
  // Every request is routed by api.hpp (one catch-all pattern per method,
  // after httplib has read the body); a handler that throws answers 500 in
  // the API's shape.
  auto all = [this](const httplib::Request& req, httplib::Response& res) {
    try {
      impl_->serve(req, res);
    } catch (const std::exception& e) {
      auto r = error_response({500, "INTERNAL_ERROR", e.what()});
      res.status = r.status;
      res.set_content(r.body, r.content_type.c_str());
    }
  };
  srv.Get(".*", all).Post(".*", all).Put(".*", all).Delete(".*", all).Patch(".*", all);
}

http_server::~http_server() {
  stop();
}

std::string http_server::start(const std::string& host, uint16_t port) {
  auto& srv = impl_->srv;
  int bound = port == 0 ? srv.bind_to_any_port(host) : (srv.bind_to_port(host, port) ? port : -1);
  if (bound <= 0)
    return "cannot listen for HTTP on " + host + ":" + std::to_string(port)
           + " (is another node or program using it?)";
  port_ = static_cast<uint16_t>(bound);
  impl_->thread = std::thread([this] {
    impl_->srv.listen_after_bind();
    impl_->ended = true;
  });
  return {};
}

void http_server::stop() {
  if (!impl_->thread.joinable())
    return;
  // httplib's stop() does nothing until the listen loop has begun (it
  // checks is_running()), and then the loop would never end: a node that
  // fails right after this start (say, on its MQTT port) must wait for it.
  while (!impl_->srv.is_running() && !impl_->ended)
    std::this_thread::yield();
  impl_->srv.stop();
  impl_->thread.join();
}

} // namespace starling::mgmt

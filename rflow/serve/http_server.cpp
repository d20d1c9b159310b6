#include "rflow/serve/http_server.h"

#include <pthread.h>
#include <sys/socket.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "rflow/core/error.h"
#include "rflow/serve/batcher.h"
#include "rflow/serve/endpoint.h"
#include "rflow/serve/serve_metrics.h"

namespace rflow::serve {

namespace {

// cpp-httplib as Debian builds it listens with a backlog of 5: 64 clients connecting at once
// overflow it, and Linux then drops handshakes the clients believe finished (their first read
// fails, or waits a second for a retransmit). Listening again on the bound socket widens the
// backlog (Linux adjusts it in place).
class Listener : public httplib::Server {
 public:
  void widen_backlog() { ::listen(svr_sock_, SOMAXCONN); }
};

// The metrics label of a path: known endpoints by name, anything else as one label (a scanner's
// random paths must not grow the metrics without bound).
std::string metrics_label(const std::string& path) { return endpoints().contains(path) ? path : "other"; }

void route(const httplib::Request& hreq, httplib::Response& hres, ServeContext& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  ctx.metrics.started();
  Request req;
  req.body = hreq.body;
  for (const auto& [k, v] : hreq.params) req.query[k] = v;
  req.authorization = hreq.get_header_value("Authorization");
  const Response res = handle(hreq.method, hreq.path, req, ctx);
  hres.status = res.status;
  for (const auto& [k, v] : res.headers) hres.set_header(k, v);
  hres.set_content(res.body, res.content_type.c_str());
  ctx.metrics.finished(metrics_label(hreq.path), res.status,
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

sigset_t stop_signal_set() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGINT);
  return s;
}

}  // namespace

void block_stop_signals() {
  const sigset_t s = stop_signal_set();
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
}

void run_server(ServedModels& models, const ServeOptions& opt, const std::function<void(int)>& on_listening) {
  opt.validate("serve");
  ServeMetrics metrics;
  ServeContext ctx{models, opt, metrics};
  Listener svr;
  const size_t workers = static_cast<size_t>(opt.workers);
  svr.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  svr.set_payload_max_length(static_cast<size_t>(opt.max_body_kb) * 1024);
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(opt.timeout_s * 1000));
  svr.set_read_timeout(timeout);
  svr.set_write_timeout(timeout);
  // A client keeps its connection: cpp-httplib closes one after 5 requests by default, and a
  // client that sends just then gets a reset; reconnecting also costs a handshake each time.
  svr.set_keep_alive_max_count(100000);
  svr.set_tcp_nodelay(true);
  auto handler = [&ctx](const httplib::Request& q, httplib::Response& r) { route(q, r, ctx); };
  svr.Get(".*", handler);
  svr.Post(".*", handler);
  svr.Put(".*", handler);
  svr.Delete(".*", handler);
  // SIGTERM / SIGINT are taken by one thread that stops the server; every other thread (the
  // batchers and the workers start after this) has them blocked, so a signal never lands
  // mid-request or kills the process from a thread that does not expect it.
  block_stop_signals();
  const sigset_t stop_signals = stop_signal_set();
  models.enable_batching({opt.batch_wait_ms, opt.max_batch, opt.max_queue});
  const int port = opt.port == 0 ? svr.bind_to_any_port(opt.host) : (svr.bind_to_port(opt.host, static_cast<int>(opt.port)) ? static_cast<int>(opt.port) : -1);
  RF_CHECK(port > 0, "cannot listen on " + opt.host + ":" + std::to_string(opt.port), "rflow serve --host/--port",
           "the port may be in use (another server?) or the address not this machine's; try --port 0 for any free port");
  svr.widen_backlog();
  std::thread stopper([&svr, stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (sig == SIGTERM || sig == SIGINT) spdlog::info("serve: {} received: finishing the requests in flight", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    svr.stop();
  });
  on_listening(port);
  svr.listen_after_bind();  // returns after stop(), once the workers have finished their requests
  // A stop that did not come from a signal (the socket failed): wake the stopper so it can be joined.
  if (stopper.joinable()) {
    pthread_kill(stopper.native_handle(), SIGTERM);
    stopper.join();
  }
  pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);
}

}  // namespace rflow::serve

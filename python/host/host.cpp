// libanvil_host: the C ABI of anvil/host.h over the server core. No Python
// here: the host (anvil/_cffiwsgi.py through cffi) is called back through
// plain function pointers, and takes its interpreter lock itself.
#include "anvil/host.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "anvil/server/server.hpp"
#include "host_common.hpp"
#include "wsgi_origin.hpp"

struct anvil_config {
  anvil::server::ServerConfig config;
};

namespace {

namespace server = anvil::server;
using anvil::python::OriginOptions;
using anvil::python::RequestThreads;
using anvil::python::start_packed;
using anvil::python::wait_for_write;
using Clock = std::chrono::steady_clock;

// Where each '\n'-separated part of a packed head starts, then head.size()
// + 1 (host.h's `starts`); the host slices the parts instead of splitting.
void part_starts(std::string_view head, std::vector<std::uint32_t>& out) {
  out.clear();
  out.push_back(0);
  for (std::size_t at = head.find('\n'); at != std::string_view::npos;
       at = head.find('\n', at + 1)) {
    out.push_back(static_cast<std::uint32_t>(at + 1));
  }
  out.push_back(static_cast<std::uint32_t>(head.size() + 1));
}

void copy_error(std::string_view what, char* err, std::size_t err_size) {
  if (err == nullptr || err_size == 0) return;
  const std::size_t n = std::min(what.size(), err_size - 1);
  std::memcpy(err, what.data(), n);
  err[n] = '\0';
}

class HostHandler;

}  // namespace

// One request/response, shared by the host (one reference, from the request
// callback to anvil_release) and by the writes still in flight.
struct anvil_request {
  anvil_request(HostHandler& h, std::shared_ptr<server::Exchange> e)
      : handler(h), ex(std::move(e)) {}
  HostHandler& handler;
  std::shared_ptr<server::Exchange> ex;
  std::atomic<int> refs{1};
  std::atomic<bool> finished{false};
  std::int64_t environ_ns = 0;
};

namespace {

void add_ref(anvil_request* r) { r->refs.fetch_add(1, std::memory_order_relaxed); }
void drop_ref(anvil_request* r);

// A reference held by a completion handler.
struct Ref {
  explicit Ref(anvil_request* r) : r(r) { add_ref(r); }
  Ref(Ref&& o) noexcept : r(std::exchange(o.r, nullptr)) {}
  Ref(const Ref& o) : r(o.r) { add_ref(r); }
  Ref& operator=(const Ref&) = delete;
  ~Ref() {
    if (r != nullptr) drop_ref(r);
  }
  anvil_request* r;
};

struct HostOptions {
  int threads = 1;
  OriginOptions origin;
  // How long a request thread waits for a write that makes no progress
  // (--timeout + 1 s: the core times the client out first) and how long
  // stop() waits for the request threads (--graceful-timeout + 1 s).
  std::chrono::duration<double> write_wait{31.0};
  std::chrono::duration<double> join_timeout{31.0};
};

// server::Handler over the host's callbacks; one per worker, made after fork.
class HostHandler : public server::Handler {
 public:
  HostHandler(const anvil_callbacks& cb, HostOptions options)
      : cb_(cb), options_(std::move(options)) {
    char err[512] = "the host could not start the worker";
    if (cb_.worker_start != nullptr && cb_.worker_start(cb_.user, err, sizeof err) != 0)
      throw std::runtime_error(err);
    if (options_.threads > 1) {
      threads_.start(options_.threads, [this] {
        while (std::shared_ptr<server::Exchange> ex = threads_.next()) run(std::move(ex));
      });
    }
  }
  ~HostHandler() override { stop(); }

  void handle(std::shared_ptr<server::Exchange> ex) override {
    if (options_.threads <= 1) return run(std::move(ex));
    threads_.push(std::move(ex));
  }

  void stop() override {
    if (!threads_.stop(options_.join_timeout)) return;
    if (cb_.worker_stop != nullptr) cb_.worker_stop(cb_.user);
  }

  void resume(anvil_request* r, std::error_code ec) {
    if (cb_.resume != nullptr) cb_.resume(cb_.user, r, ec ? ec.value() : 0);
  }
  const HostOptions& options() const noexcept { return options_; }

 private:
  void run(std::shared_ptr<server::Exchange> ex) {
    const bool stats = ex->stats_enabled();
    const auto t0 = stats ? Clock::now() : Clock::time_point{};
    const std::string head = anvil::python::pack_request(*ex, options_.origin);
    std::vector<std::uint32_t> starts;
    starts.reserve(64);
    part_starts(head, starts);
    int flags = stats ? ANVIL_STATS : 0;
    std::string_view body;
    if (ex->body_buffered()) {
      flags |= ANVIL_BODY_BUFFERED;
      body = ex->buffered_body();
    }
    auto* r = new anvil_request(*this, ex);
    const Ref keep(r);  // the host may give its reference back inside the call
    const auto t1 = stats ? Clock::now() : Clock::time_point{};
    cb_.request(cb_.user, r, head.data(), head.size(), starts.data(), starts.size() - 1,
                body.data(), body.size(), flags);
    if (stats) {
      const auto env = std::chrono::nanoseconds(r->environ_ns);
      ex->add_stage_time(server::Stage::environ, (t1 - t0) + env);
      ex->add_stage_time(server::Stage::app, (Clock::now() - t1) - env);
    }
    // The exchange is the connection: its last reference goes on the loop thread.
    if (!ex->on_loop_thread()) {
      server::Exchange* e = ex.get();
      e->post([keep = std::move(ex)] {});
    }
  }

  anvil_callbacks cb_;
  HostOptions options_;
  RequestThreads threads_;
};

void drop_ref(anvil_request* r) {
  if (r->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (!r->finished.exchange(true)) r->ex->abort();  // the host never ended it
  std::shared_ptr<server::Exchange> ex = std::move(r->ex);
  delete r;
  if (!ex->on_loop_thread()) {
    server::Exchange* e = ex.get();
    e->post([keep = std::move(ex)] {});
  }
}

// Body writes and send_file: queued on the loop thread (copied, with resume
// when notify), waited for elsewhere (zero copy).
int issue(anvil_request* r, int flags,
          const std::function<void(server::WriteCallback, bool)>& on_loop_write,
          const std::function<void(server::WriteCallback)>& waited_write) {
  if (r->finished) return ANVIL_EFINISHED;
  const bool last = (flags & ANVIL_LAST) != 0;
  if (last) r->finished = true;
  if (r->ex->on_loop_thread()) {
    if ((flags & ANVIL_NOTIFY) == 0) {
      on_loop_write([](std::error_code) {}, last);
      return 0;
    }
    on_loop_write([ref = Ref(r)](std::error_code ec) { ref.r->handler.resume(ref.r, ec); }, last);
    return ANVIL_PENDING;
  }
  const std::error_code ec = wait_for_write(*r->ex, r->handler.options().write_wait, waited_write);
  if (ec) {
    r->finished = true;
    return -ec.value();
  }
  return 0;
}

}  // namespace

extern "C" {

anvil_config* anvil_config_new(void) {
  try {
    return new anvil_config;
  } catch (...) {
    return nullptr;
  }
}

void anvil_config_free(anvil_config* config) { delete config; }

int anvil_config_set(anvil_config* config, const char* name, const char* value, char* err,
                     size_t err_size) {
  try {
    if (auto e = server::set_option(config->config, name, value)) {
      copy_error(*e, err, err_size);
      return -1;
    }
    return 0;
  } catch (const std::exception& e) {
    copy_error(e.what(), err, err_size);
    return -1;
  }
}

int anvil_config_take_systemd(anvil_config* config, char* err, size_t err_size) {
  try {
    for (server::Bind& b : server::take_systemd_listeners()) config->config.binds.push_back(b);
    return 0;
  } catch (const std::system_error& e) {
    copy_error(e.what(), err, err_size);
    return e.code().value() != 0 ? e.code().value() : EINVAL;
  }
}

int anvil_serve(const anvil_config* config, const anvil_callbacks* callbacks, char* err,
                size_t err_size, int* error) {
  if (error != nullptr) *error = 0;
  const server::ServerConfig& c = config->config;
  HostOptions options;
  options.threads = c.threads;
  options.origin.root_path = c.root_path;
  options.origin.forwarded_allow = c.forwarded_allow_ips;
  options.write_wait = c.write_timeout + std::chrono::duration<double>(1.0);
  options.join_timeout = c.graceful_timeout + std::chrono::duration<double>(1.0);
  const anvil_callbacks cb = *callbacks;
  server::ProcessHooks hooks;
  if (cb.fork != nullptr) hooks.fork = [cb] { return cb.fork(cb.user); };
  try {
    return server::serve(
        c, [cb, options] { return std::make_shared<HostHandler>(cb, options); }, hooks);
  } catch (const std::system_error& e) {
    copy_error(e.what(), err, err_size);
    if (error != nullptr) *error = e.code().value();
  } catch (const std::exception& e) {
    copy_error(e.what(), err, err_size);
  }
  return -1;
}

int anvil_start(anvil_request* req, const char* head, size_t head_len) {
  if (req->finished) return static_cast<int>(server::StartError::already_sent);
  return static_cast<int>(start_packed(*req->ex, {head, head_len}));
}

const char* anvil_start_error_text(int code) {
  // describe() returns literals: NUL-terminated.
  return server::describe(static_cast<server::StartError>(code)).data();
}

int anvil_write(anvil_request* req, const char* data, size_t len, int flags) {
  return issue(
      req, flags,
      [&](server::WriteCallback done, bool last) {
        req->ex->write(std::string(data, len), std::move(done), last);
      },
      [&](server::WriteCallback done) {
        const boost::asio::const_buffer piece(data, len);
        req->ex->write(std::span(&piece, 1), std::move(done), (flags & ANVIL_LAST) != 0);
      });
}

int anvil_respond(anvil_request* req, const char* packed, size_t len) {
  if (req->finished) return static_cast<int>(server::StartError::already_sent);
  const std::string_view all(packed, len);
  const std::size_t nul = std::min(all.find('\0'), len);
  const server::StartError e = start_packed(*req->ex, all.substr(0, nul));
  if (e != server::StartError::none) return static_cast<int>(e);
  const std::string_view body = all.substr(std::min(nul + 1, len));
  anvil_write(req, body.data(), body.size(), ANVIL_LAST);
  return 0;
}

int anvil_send_file(anvil_request* req, int fd, uint64_t offset, uint64_t count, int flags) {
  return issue(
      req, flags,
      [&](server::WriteCallback done, bool last) {
        req->ex->send_file(fd, offset, count, std::move(done), last);
      },
      [&](server::WriteCallback done) {
        req->ex->send_file(fd, offset, count, std::move(done), (flags & ANVIL_LAST) != 0);
      });
}

void anvil_finish(anvil_request* req) {
  if (req->finished.exchange(true)) return;
  req->ex->finish();
}

void anvil_abort(anvil_request* req) {
  if (req->finished.exchange(true)) return;
  req->ex->abort();
}

long long anvil_read_body(anvil_request* req, char* dst, size_t len) {
  if (req->finished) return 0;  // the body's spans are gone with the response
  const server::BodyRead r = req->ex->read_body(dst, len);
  if (r.error != server::BodyError::none) return -static_cast<long long>(r.error);
  return static_cast<long long>(r.n);
}

const char* anvil_body_error_text(long long code) {
  return server::describe(static_cast<server::BodyError>(-code)).data();
}

void anvil_stat(anvil_request* req, int64_t environ_ns) { req->environ_ns = environ_ns; }

void anvil_release(anvil_request* req) { drop_ref(req); }

}  // extern "C"

// The run: one Worker per thread, each with its own io_context and its share
// of the connections. System calls per request are what limit a load
// generator (most of its time is in the kernel), so a request costs one
// send() and, in the common case, one recv() plus a share of one epoll_wait():
//  * requests go out with a direct send() on the non-blocking socket (Asio's
//    async_write_some only when the socket buffer is full);
//  * responses come in through async_read_some, whose reactor op reads as
//    soon as epoll reports the socket and does not retry a read that just
//    drained the socket; async_wait would cost an epoll_ctl(MOD) per call
//    (Asio 1.81 re-arms the edge-triggered registration for every wait);
//  * no timer per request: one coarse tick per thread checks every deadline.
#include "anvil/loadgen/engine.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace anvil::loadgen {

namespace asio = boost::asio;

std::string_view name_of(ErrorKind k) noexcept {
  switch (k) {
    case ErrorKind::connect_refused:
      return "connect_refused";
    case ErrorKind::connect_timeout:
      return "connect_timeout";
    case ErrorKind::reset:
      return "reset";
    case ErrorKind::read_timeout:
      return "read_timeout";
    case ErrorKind::malformed:
      return "malformed";
    case ErrorKind::unexpected_status:
      return "unexpected_status";
  }
  return "unknown";
}

std::uint64_t Result::error_count() const noexcept {
  std::uint64_t n = 0;
  for (auto e : errors) n += e;
  return n;
}

double Result::requests_per_s() const noexcept {
  return duration_s > 0 ? static_cast<double>(requests) / duration_s : 0.0;
}

namespace {

using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC on Linux, as now_ns()

std::int64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

Clock::time_point at(std::int64_t ns) { return Clock::time_point(std::chrono::nanoseconds(ns)); }

struct Cpu {
  double user = 0, sys = 0;
};
Cpu cpu_now() noexcept {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return {static_cast<double>(ru.ru_utime.tv_sec) + ru.ru_utime.tv_usec / 1e6,
          static_cast<double>(ru.ru_stime.tv_sec) + ru.ru_stime.tv_usec / 1e6};
}

constexpr std::size_t kReadBuffer = 16 * 1024;  // per connection; grows if a head needs more
constexpr std::size_t kMaxReadBuffer = 1024 * 1024;
constexpr std::int64_t kConnectBackoffNs = 10'000'000;

// What all workers share: read-only configuration plus a few atomics.
struct Shared {
  const Config& cfg;
  std::string batch;  // `pipeline` copies of the request
  std::size_t request_size = 0;
  bool head = false;  // the request is HEAD: responses have no body
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  int family = AF_INET;
  std::int64_t run_start = 0;
  std::int64_t warmup_end = 0;   // duration mode
  std::int64_t stop_at = 0;      // duration mode
  std::int64_t interval_ns = 0;  // --rate: between two requests of one connection

  std::atomic<std::uint64_t> issued{0};     // requests claimed (--requests)
  std::atomic<std::uint64_t> completed{0};  // requests finished (--requests)
  std::atomic<bool> measuring{false};
  std::atomic<bool> ever_connected{false};
  std::atomic<bool> abort{false};  // no connection possible: stop everything
  std::int64_t measure_start = 0;  // written once, by whoever flips `measuring`
  Cpu cpu_start;
  std::mutex error_mutex;
  std::string first_connect_error;

  explicit Shared(const Config& c) : cfg(c) {}

  // Whether every request of the --requests budget has been claimed.
  bool budget_spent() const {
    return cfg.requests && issued.load(std::memory_order_relaxed) >= *cfg.requests;
  }

  // Claims up to `want` requests of the --requests budget; 0 when spent.
  std::uint32_t claim(std::uint32_t want) {
    if (!cfg.requests) return want;
    const std::uint64_t old = issued.fetch_add(want, std::memory_order_relaxed);
    if (old >= *cfg.requests) return 0;
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(want, *cfg.requests - old));
  }

  void start_measuring(std::int64_t t) {
    measure_start = t;
    cpu_start = cpu_now();
    measuring.store(true, std::memory_order_release);
  }
};

class Worker;

struct Conn {
  Conn(Worker& w, asio::io_context& io, int index) : worker(w), sock(io), timer(io), index(index) {}

  Worker& worker;
  asio::ip::tcp::socket sock;
  asio::steady_timer timer;  // --rate pacing and connect back-off only
  std::unique_ptr<parser::Parser> parser;
  std::vector<char> buf = std::vector<char>(kReadBuffer);
  std::size_t have = 0;  // bytes at the front of buf not yet consumed by the parser
  int index;
  int fd = -1;
  std::uint32_t gen = 0;  // bumped on close: stale readiness handlers ignore themselves
  bool established = false;
  bool read_armed = false;
  bool write_armed = false;
  bool in_response = false;  // bytes of the current response have arrived
  bool interim = false;      // the current response is a 1xx
  bool finished = false;
  bool consuming = false;     // inside consume(): c.buf is in use
  bool draining = false;      // answered; waiting for the server's announced close
  bool measured = false;      // duration mode: the batch was sent after the warm-up
  std::uint32_t pending = 0;  // claimed requests not yet answered or failed
  std::size_t write_off = 0, write_len = 0;
  std::int64_t t_connect = 0;   // connect() called
  std::int64_t t_start = 0;     // latency origin: send, or connect with --close
  std::int64_t t_sent = 0;      // first send() of the batch
  std::int64_t t_first = 0;     // first byte of the current response
  std::int64_t t_intended = 0;  // --rate: when this request was meant to start
  std::int64_t next_intended = 0;
  std::int64_t deadline = 0;
};

class Worker {
 public:
  Worker(Shared& shared, int id, int first_conn, int conn_count)
      : sh_(shared), id_(id), io_(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE), tick_(io_) {
    conns_.reserve(conn_count);
    for (int i = 0; i < conn_count; ++i) {
      auto c = std::make_unique<Conn>(*this, io_, first_conn + i);
      c->parser = parser::make_parser(sh_.cfg.parser, parser::Mode::response);
      c->parser->set_head_response(sh_.head);
      conns_.push_back(std::move(c));
    }
  }

  void run() {
    pin();
    const auto& cfg = sh_.cfg;
    tick_ns_ = std::clamp<std::int64_t>(cfg.timeout.count() / 10, 1'000'000, 50'000'000);
    active_ = static_cast<int>(conns_.size());
    for (auto& c : conns_) {
      if (cfg.rate > 0)
        c->next_intended = sh_.run_start + sh_.interval_ns * c->index / cfg.connections;
      next_request(*c);
    }
    arm_tick();
    io_.run();
  }

  Result& stats() { return stats_; }
  std::int64_t last_done() const { return last_done_; }
  std::uint64_t progress_done() const { return done_.load(std::memory_order_relaxed); }
  std::uint64_t progress_errors() const { return errs_.load(std::memory_order_relaxed); }

 private:
  void pin() {
    const auto& cpus = sh_.cfg.cpus;
    if (cpus.empty()) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpus[static_cast<std::size_t>(id_) % cpus.size()], &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }

  // No new request may start: abort, the end of a timed run, or the whole
  // --requests budget claimed (a paced connection must not wait out its next
  // slot to learn that no request is left).
  bool stopping(std::int64_t t) const {
    if (sh_.abort.load(std::memory_order_relaxed)) return true;
    if (sh_.cfg.requests) return sh_.budget_spent();
    return t >= sh_.stop_at;
  }

  // Starts the next batch on c: paces it (--rate), claims it, connects if needed, sends.
  void next_request(Conn& c) {
    if (c.finished) return;
    const std::int64_t t = now_ns();
    if (stopping(t)) return finish(c);
    if (sh_.cfg.rate > 0 && t < c.next_intended) return wait_until(c, c.next_intended);
    const std::uint32_t n = sh_.claim(static_cast<std::uint32_t>(sh_.cfg.pipeline));
    if (n == 0) return finish(c);
    c.pending = n;
    c.write_off = 0;
    c.write_len = n * sh_.request_size;
    c.t_intended = c.next_intended;
    if (sh_.cfg.rate > 0) c.next_intended += sh_.interval_ns;
    c.t_start = t;
    c.deadline = t + sh_.cfg.timeout.count();
    c.measured = sh_.cfg.requests || t >= sh_.warmup_end;
    if (c.fd < 0 && !connect(c, t)) return;
    c.t_sent = t;
    send_batch(c);
  }

  void wait_until(Conn& c, std::int64_t t) {
    c.timer.expires_at(at(t));
    c.timer.async_wait([this, &c](const boost::system::error_code& ec) {
      if (!ec) next_request(c);
    });
  }

  bool connect(Conn& c, std::int64_t t) {
    // open(), not socket() + assign(): Asio treats an assigned descriptor as
    // possibly dup'ed and pays an epoll_ctl(DEL) when closing it.
    boost::system::error_code ec;
    c.sock.open(sh_.family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), ec);
    if (!ec) c.sock.non_blocking(true, ec);
    if (ec) {
      c.sock.close(ec);
      return connect_failed(c, ec.value());
    }
    const int fd = c.sock.native_handle();
    if (!sh_.cfg.close) {
      // Keep-alive: a request must not wait on Nagle behind the previous one's ACK.
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    c.fd = fd;
    c.established = false;
    c.t_connect = t;
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&sh_.addr), sh_.addr_len) == 0 ||
        errno == EINPROGRESS)
      return true;  // send_batch() finds out when it is up (on loopback, usually at once)
    return connect_failed(c, errno);
  }

  bool connect_failed(Conn& c, int err) {
    {
      std::lock_guard lock(sh_.error_mutex);
      if (sh_.first_connect_error.empty()) sh_.first_connect_error = std::strerror(err);
    }
    const ErrorKind kind =
        err == ETIMEDOUT ? ErrorKind::connect_timeout : ErrorKind::connect_refused;
    fail_pending(c, kind);
    close_conn(c);
    // Nothing ever connected: this run cannot work, stop every thread (exit 1).
    if (!sh_.ever_connected.load(std::memory_order_relaxed)) {
      sh_.abort.store(true, std::memory_order_relaxed);
      finish(c);
      return false;
    }
    if (!c.finished) wait_until(c, now_ns() + kConnectBackoffNs);
    return false;
  }

  void mark_established(Conn& c, std::int64_t t) {
    c.established = true;
    c.t_sent = t;
    if (!sh_.cfg.close) c.t_start = t;  // keep-alive latency starts at the send, as wrk's
    sh_.ever_connected.store(true, std::memory_order_relaxed);
    ++stats_.connects;
    if (sh_.measuring.load(std::memory_order_relaxed)) stats_.connect.record(t - c.t_connect);
  }

  void send_batch(Conn& c) {
    while (c.write_off < c.write_len) {
      const ssize_t n =
          ::send(c.fd, sh_.batch.data() + c.write_off, c.write_len - c.write_off, MSG_NOSIGNAL);
      if (n > 0) {
        if (!c.established) mark_established(c, now_ns());
        c.write_off += static_cast<std::size_t>(n);
        if (measuring_now()) stats_.bytes_written += static_cast<std::uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return arm_write(c);
      const int err = errno;
      if (!c.established) {
        connect_failed(c, err);
        return;
      }
      return broken(c, ErrorKind::reset);
    }
    arm_read(c);
  }

  bool measuring_now() const { return sh_.measuring.load(std::memory_order_relaxed); }

  // The socket buffer is full (or the connection is still being made): let
  // the reactor finish the batch when the socket is writable.
  void arm_write(Conn& c) {
    if (c.write_armed) return;
    c.write_armed = true;
    c.sock.async_write_some(
        asio::buffer(sh_.batch.data() + c.write_off, c.write_len - c.write_off),
        [this, &c, gen = c.gen](const boost::system::error_code& ec, std::size_t n) {
          if (gen != c.gen) return;
          c.write_armed = false;
          if (ec) {
            if (!c.established) return void(connect_failed(c, ec.value()));
            return broken(c, ErrorKind::reset);
          }
          if (!c.established) mark_established(c, now_ns());
          c.write_off += n;
          if (measuring_now()) stats_.bytes_written += n;
          send_batch(c);
        });
  }

  void arm_read(Conn& c) {
    if (c.read_armed || c.consuming) return;
    if (c.have == c.buf.size()) {
      if (c.buf.size() >= kMaxReadBuffer) return broken(c, ErrorKind::malformed);
      c.buf.resize(c.buf.size() * 2);
    }
    c.read_armed = true;
    c.sock.async_read_some(
        asio::buffer(c.buf.data() + c.have, c.buf.size() - c.have),
        [this, &c, gen = c.gen](const boost::system::error_code& ec, std::size_t n) {
          if (gen != c.gen) return;
          c.read_armed = false;
          if (ec == asio::error::eof) return on_eof(c);
          if (ec) return c.pending > 0 ? broken(c, ErrorKind::reset) : drop_idle(c);
          if (measuring_now()) stats_.bytes_read += n;
          // consume() may answer, send the next batch or even reconnect; the
          // read is armed after it, once c.have says where new bytes go.
          c.consuming = true;
          consume(c, c.have + n, now_ns());
          c.consuming = false;
          if (c.fd >= 0) arm_read(c);
        });
  }

  // Runs the parser over c.buf[0, len); moves what it leaves to the front.
  void consume(Conn& c, std::size_t len, std::int64_t t) {
    const char* data = c.buf.data();
    std::size_t pos = 0;
    const std::uint32_t gen = c.gen;
    for (;;) {
      if (c.pending == 0) {
        if (pos == len) break;
        // Bytes nobody asked for: the connection is out of step; drop it.
        close_conn(c);
        return next_request(c);
      }
      if (pos == len && !c.in_response) break;
      if (!c.in_response) {
        c.in_response = true;
        c.t_first = t;
      }
      const auto step = c.parser->next(std::string_view(data + pos, len - pos));
      pos += step.consumed;
      if (step.event == parser::Event::need_more) break;
      if (step.event == parser::Event::head) {
        const int status = c.parser->message().status;
        c.interim = status >= 100 && status < 200 && status != 101;
        continue;
      }
      if (step.event == parser::Event::body) continue;
      if (step.event == parser::Event::error) return broken(c, ErrorKind::malformed);
      if (step.event != parser::Event::done) continue;
      if (c.interim) {  // RFC 9110 §15.2: a 1xx precedes the final response
        c.interim = false;
        c.in_response = false;
        continue;
      }
      on_response(c, t);
      if (gen != c.gen || c.fd < 0 || c.finished) return;
    }
    c.have = len - pos;
    if (c.have > 0 && pos > 0) std::memmove(c.buf.data(), data + pos, c.have);
  }

  void on_response(Conn& c, std::int64_t t, bool peer_closed = false) {
    const auto& msg = c.parser->message();
    const bool keep = msg.keep_alive && !sh_.cfg.close && !peer_closed;
    record(c, t, msg.status);
    c.in_response = false;
    if (!keep) {
      if (c.pending > 0) fail_pending(c, ErrorKind::reset);  // pipelined, never answered
      if (!msg.keep_alive && !peer_closed) {
        // The server said it closes: wait for its FIN and close after it, so
        // the server's side holds TIME_WAIT (RFC 9293 §3.6) and this port is
        // free at once; closing first leaves a TIME_WAIT socket here per
        // request, which slows every later connect()'s port search.
        c.draining = true;
        return;
      }
      close_conn(c);
      return next_request(c);
    }
    if (c.pending == 0) next_request(c);
  }

  bool status_ok(int status) const {
    const auto& want = sh_.cfg.expect_status;
    if (want.empty()) return status >= 200 && status < 300;
    return std::find(want.begin(), want.end(), status) != want.end();
  }

  // Decides whether a finished request is measured; returns false for warm-up.
  bool count_one(Conn& c, std::int64_t t) {
    --c.pending;
    done_.store(done_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (sh_.cfg.requests) {
      const std::uint64_t i = sh_.completed.fetch_add(1, std::memory_order_relaxed);
      if (i + 1 == sh_.cfg.warmup) sh_.start_measuring(t);
      if (i < sh_.cfg.warmup) {
        ++stats_.warmup;
        return false;
      }
    } else if (!c.measured) {
      ++stats_.warmup;
      return false;
    }
    ++stats_.requests;
    last_done_ = std::max(last_done_, t);
    return true;
  }

  void record(Conn& c, std::int64_t t, int status) {
    if (!count_one(c, t)) return;
    if (!status_ok(status)) return add_error(ErrorKind::unexpected_status);
    ++stats_.responses;
    const std::int64_t origin = c.t_start;
    if (sh_.cfg.rate > 0) {
      stats_.latency.record(t - std::min(origin, c.t_intended));
      stats_.latency_uncorrected.record(t - origin);
    } else {
      stats_.latency.record(t - origin);
    }
    stats_.ttfb.record(c.t_first - c.t_sent);
  }

  void add_error(ErrorKind k) {
    ++stats_.errors[static_cast<std::size_t>(k)];
    errs_.store(errs_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  void fail_pending(Conn& c, ErrorKind kind) {
    const std::int64_t t = now_ns();
    while (c.pending > 0) {
      if (count_one(c, t)) add_error(kind);
    }
  }

  // The connection failed under its pending requests: count them, start over.
  void broken(Conn& c, ErrorKind kind) {
    fail_pending(c, kind);
    close_conn(c);
    next_request(c);
  }

  void on_eof(Conn& c) {
    if (c.pending == 0) return drop_idle(c);  // closed as announced, or an idle keep-alive one
    const auto step = c.parser->finish(std::string_view(c.buf.data(), c.have));
    if (step.event == parser::Event::done && !c.interim) {
      // The body ended with the connection (RFC 9112 §6.3 rule 8).
      return on_response(c, now_ns(), /*peer_closed=*/true);
    }
    // Cut inside a response is a malformed response; before it began, a reset.
    broken(c, c.in_response || c.have > 0 ? ErrorKind::malformed : ErrorKind::reset);
  }

  // A connection with nothing pending went away (or was dropped): if it was
  // draining, its next request was waiting for that.
  void drop_idle(Conn& c) {
    const bool resume = c.draining;
    close_conn(c);
    if (resume) next_request(c);
  }

  void close_conn(Conn& c) {
    if (c.fd >= 0) {
      boost::system::error_code ec;
      c.sock.close(ec);  // cancels the pending waits; `gen` makes them no-ops
      c.fd = -1;
    }
    ++c.gen;
    c.read_armed = c.write_armed = c.draining = false;
    c.established = false;
    c.in_response = c.interim = false;
    c.have = 0;
    c.parser->reset();
  }

  void finish(Conn& c) {
    if (c.finished) return;
    if (c.pending > 0) fail_pending(c, ErrorKind::reset);
    close_conn(c);
    c.finished = true;
    c.timer.cancel();
    if (--active_ == 0) tick_.cancel();
  }

  void arm_tick() {
    tick_.expires_after(std::chrono::nanoseconds(tick_ns_));
    tick_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || active_ == 0) return;
      on_tick();
      if (active_ > 0) arm_tick();
    });
  }

  // One coarse timer per thread: deadlines, the end of a timed run or of the
  // --requests budget (idle connections waiting on a --rate slot stop), abort.
  void on_tick() {
    const std::int64_t t = now_ns();
    const bool stop = stopping(t);
    for (auto& cp : conns_) {
      Conn& c = *cp;
      if (c.finished) continue;
      if (c.pending > 0 && t >= c.deadline) {
        const bool connecting = c.fd >= 0 && !c.established;
        broken(c, connecting ? ErrorKind::connect_timeout : ErrorKind::read_timeout);
        continue;
      }
      if (c.draining && t >= c.deadline) {  // answered; the FIN is late: close first
        drop_idle(c);
        continue;
      }
      // Idle (paced or backing off) connections stop now; busy ones after their
      // response, draining ones after the server's close (or their deadline).
      const bool idle = c.pending == 0 && !c.draining;
      if (stop && (idle || sh_.abort.load(std::memory_order_relaxed))) finish(c);
    }
  }

  Shared& sh_;
  int id_;
  asio::io_context io_;
  asio::steady_timer tick_;
  std::int64_t tick_ns_ = 10'000'000;
  std::vector<std::unique_ptr<Conn>> conns_;
  Result stats_;
  int active_ = 0;
  std::int64_t last_done_ = 0;
  std::atomic<std::uint64_t> done_{0};  // for the progress line only
  std::atomic<std::uint64_t> errs_{0};
};

bool resolve(const Target& target, Shared& sh, std::string& error) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(target.port);
  if (int rc = ::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    error = gai_strerror(rc);
    return false;
  }
  std::memcpy(&sh.addr, res->ai_addr, res->ai_addrlen);
  sh.addr_len = static_cast<socklen_t>(res->ai_addrlen);
  sh.family = res->ai_family;
  ::freeaddrinfo(res);
  return true;
}

bool is_head(std::string_view request) { return request.starts_with("HEAD "); }

}  // namespace

Result run(const Config& cfg, std::string_view request, const ProgressFn& progress) {
  Shared sh(cfg);
  Result result;
  if (!resolve(cfg.target, sh, result.first_connect_error)) return result;
  sh.request_size = request.size();
  sh.batch.reserve(request.size() * static_cast<std::size_t>(cfg.pipeline));
  for (int i = 0; i < cfg.pipeline; ++i) sh.batch.append(request);
  sh.head = is_head(request);
  if (cfg.rate > 0) sh.interval_ns = static_cast<std::int64_t>(1e9 * cfg.connections / cfg.rate);

  // Connections spread evenly; worker i gets connections [first, first + count).
  std::vector<std::unique_ptr<Worker>> workers;
  int first = 0;
  for (int i = 0; i < cfg.threads; ++i) {
    const int count = cfg.connections / cfg.threads + (i < cfg.connections % cfg.threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(sh, i, first, count));
    first += count;
  }

  sh.run_start = now_ns();
  sh.warmup_end = sh.run_start + cfg.warmup_duration.count();
  sh.stop_at = sh.warmup_end + cfg.duration.count();
  const bool timed_warmup = !cfg.requests && cfg.warmup_duration.count() > 0;
  if ((cfg.requests && cfg.warmup == 0) || (!cfg.requests && !timed_warmup))
    sh.start_measuring(sh.run_start);

  std::mutex m;
  std::condition_variable cv;
  int running = static_cast<int>(workers.size());
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    threads.emplace_back([&, wp = w.get()] {
      wp->run();
      std::lock_guard lock(m);
      --running;
      cv.notify_all();
    });
  }

  // The calling thread: the end of a timed warm-up, and the progress line.
  {
    std::unique_lock lock(m);
    std::int64_t next_progress = sh.run_start + 1'000'000'000;
    while (running > 0) {
      std::int64_t wake = next_progress;
      if (timed_warmup && !sh.measuring.load()) wake = std::min(wake, sh.warmup_end);
      cv.wait_until(lock, at(wake), [&] { return running == 0; });
      const std::int64_t t = now_ns();
      if (timed_warmup && !sh.measuring.load() && t >= sh.warmup_end)
        sh.start_measuring(sh.warmup_end);
      if (t >= next_progress && running > 0) {
        next_progress += 1'000'000'000;
        if (progress) {
          Progress p;
          p.elapsed_s = static_cast<double>(t - sh.run_start) / 1e9;
          p.total = cfg.requests.value_or(0);
          for (auto& w : workers) {
            p.done += w->progress_done();
            p.errors += w->progress_errors();
          }
          lock.unlock();
          progress(p);
          lock.lock();
        }
      }
    }
  }
  for (auto& t : threads) t.join();

  const Cpu cpu_end = cpu_now();
  std::int64_t last = 0;
  for (auto& w : workers) {
    Result& s = w->stats();
    result.requests += s.requests;
    result.responses += s.responses;
    for (std::size_t k = 0; k < kErrorKinds; ++k) result.errors[k] += s.errors[k];
    result.warmup += s.warmup;
    result.connects += s.connects;
    result.bytes_read += s.bytes_read;
    result.bytes_written += s.bytes_written;
    result.latency.merge(s.latency);
    result.latency_uncorrected.merge(s.latency_uncorrected);
    result.ttfb.merge(s.ttfb);
    result.connect.merge(s.connect);
    last = std::max(last, w->last_done());
  }
  if (sh.measuring.load()) {
    result.duration_s =
        static_cast<double>(std::max<std::int64_t>(last - sh.measure_start, 0)) / 1e9;
    result.cpu_user_s = cpu_end.user - sh.cpu_start.user;
    result.cpu_sys_s = cpu_end.sys - sh.cpu_start.sys;
  }
  result.first_connect_error = sh.first_connect_error;
  return result;
}

}  // namespace anvil::loadgen

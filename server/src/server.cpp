// Server::Impl: listeners, the accept loop, the timeout tick, graceful stop.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <system_error>

#include <boost/asio/post.hpp>

#include "access_log.hpp"
#include "anvil/parser/text.hpp"
#include "connection.hpp"
#include "impl.hpp"
#include "wall.hpp"

namespace anvil::server {
namespace {

// A connection's input buffer starts small (a slow head costs little) and
// doubles as bytes arrive, up to Server::Impl::max_input(); one grown past
// kPooledBufferMax goes back to the pool at the initial size.
constexpr std::size_t kInitialBuffer = 4 * 1024;
constexpr std::size_t kPooledBufferMax = 16 * 1024;
constexpr std::size_t kPoolSize = 256;
constexpr std::size_t kTrimAfterFrees = 64;
constexpr int kAcceptBatch = 64;
constexpr std::chrono::milliseconds kAcceptBackoff{100};
// --max-connections 0 (the default): RLIMIT_NOFILE less this many
// descriptors for the rest of the process (listeners, spool files, logs, the
// app's own), and at most kDefaultMaxConnections.
constexpr std::size_t kReservedDescriptors = 256;
constexpr std::size_t kDefaultMaxConnections = 10000;
// Room for one read past the largest head and trailer section.
constexpr std::size_t kReadSlack = 8 * 1024;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void set_int_option(int fd, int level, int name, int value, const std::string& what) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) throw_errno(what);
}

constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

ServerConfig with_default_bind(const ServerConfig& c) {
  ServerConfig out = c;
  if (out.binds.empty()) out.binds.push_back(Bind{});
  return out;
}

std::size_t connection_limit(const ServerConfig& c) {
  if (c.max_connections > 0) return static_cast<std::size_t>(c.max_connections);
  rlimit lim{};
  std::size_t files = kDefaultMaxConnections + kReservedDescriptors;
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    files = static_cast<std::size_t>(lim.rlim_cur);
  }
  const std::size_t usable =
      files > 2 * kReservedDescriptors ? files - kReservedDescriptors : files / 2;
  return std::clamp<std::size_t>(usable, 1, kDefaultMaxConnections);
}

std::string spool_dir_of(const ServerConfig& c) {
  if (!c.spool_dir.empty()) return c.spool_dir;
  // $TMPDIR, else /var/tmp: /tmp is often a tmpfs, whose pages are memory.
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? std::string(tmp) : std::string("/var/tmp");
}

}  // namespace

// ---------------------------------------------------------------------------

int open_listener(Bind& bind, int backlog, std::chrono::seconds defer_accept) {
  if (bind.kind == Bind::Kind::fd) return adopt_listener(bind);
  const std::string what = "bind " + bind.to_string();
  if (bind.kind == Bind::Kind::unix_socket) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw_errno(what);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, bind.path.c_str(), bind.path.size() + 1);
    // A socket file left by an earlier run would make bind fail (as gunicorn,
    // remove it; anything that is not a socket is left alone).
    struct stat st {};
    if (::lstat(bind.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(bind.path.c_str());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, backlog) != 0) {
      const int e = errno;
      ::close(fd);
      errno = e;
      throw_errno(what);
    }
    return fd;
  }
  sockaddr_storage ss{};
  socklen_t len = 0;
  const bool v6 = bind.host.find(':') != std::string::npos;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(bind.port);
    if (::inet_pton(AF_INET6, bind.host.c_str(), &a->sin6_addr) != 1) {
      throw std::system_error(std::make_error_code(std::errc::invalid_argument), what);
    }
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(bind.port);
    if (::inet_pton(AF_INET, bind.host.c_str(), &a->sin_addr) != 1) {
      throw std::system_error(std::make_error_code(std::errc::invalid_argument), what);
    }
    len = sizeof *a;
  }
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno(what);
  try {
    set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1, what);
    // [::] must not also take 0.0.0.0: both may be bound side by side.
    if (v6) set_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, what);
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux (the
    // child socket is cloned from it), which saves a setsockopt per connection.
    set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1, what);
    // Wake up for a connection only when its first bytes are there (as
    // nginx's `deferred`): the first recv then never finds nothing.
    if (defer_accept.count() > 0) {
      set_int_option(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, static_cast<int>(defer_accept.count()),
                     what);
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) throw_errno(what);
    if (::listen(fd, backlog) != 0) throw_errno(what);
    sockaddr_storage actual{};
    socklen_t alen = sizeof actual;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&actual), &alen) != 0) throw_errno(what);
    bind.port = v6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&actual)->sin6_port)
                   : ntohs(reinterpret_cast<sockaddr_in*>(&actual)->sin_port);
  } catch (...) {
    ::close(fd);
    throw;
  }
  return fd;
}

void refuse_new_connections(const Bind& bind, int fd) noexcept {
  if (bind.kind != Bind::Kind::tcp) return;
  // A socket filter that keeps nothing: a SYN is dropped (the client retries
  // it and finds the port closed), while sockets the kernel completed before
  // sit in the queue untouched. Best effort: without it, the stop is as before.
  sock_filter drop_all[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
  const sock_fprog program{1, drop_all};
  ::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program);
}

void ignore_sigpipe() {
  // A write to a closed socket must be an EPIPE error, not the end of the
  // process: writev and sendfile take no MSG_NOSIGNAL. (CPython ignores
  // SIGPIPE at start-up for the same reason.) The disposition belongs to the
  // process, not to a Server: set it once.
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

std::string_view DateCache::get() noexcept {
  const std::time_t now = std::time(nullptr);
  if (now != second_) {
    second_ = now;
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    // RFC 9110 §5.6.7 IMF-fixdate; formatted by hand, independent of locale.
    const int n = std::snprintf(text_, sizeof text_, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                                kDays[tm.tm_wday], tm.tm_mday, kMonths[tm.tm_mon],
                                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    size_ = n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  return {text_, size_};
}

std::string_view DateCache::log_time() noexcept {
  const std::time_t now = std::time(nullptr);
  if (now != log_second_) {
    log_second_ = now;
    std::tm tm{};
    ::localtime_r(&now, &tm);
    const long off = tm.tm_gmtoff / 60;
    const int n =
        std::snprintf(log_text_, sizeof log_text_, "[%02d/%s/%04d:%02d:%02d:%02d %c%02ld%02ld]",
                      tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                      tm.tm_sec, off < 0 ? '-' : '+', std::labs(off) / 60, std::labs(off) % 60);
    log_size_ = n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  return {log_text_, log_size_};
}

// ---------------------------------------------------------------------------

Server::Impl::Impl(const ServerConfig& c, std::shared_ptr<Handler> h)
    : config(with_default_bind(c)), handler(std::move(h)) {
  if (!handler) throw std::invalid_argument("anvil: no handler");
  ignore_sigpipe();
  max_connections_ = connection_limit(config);
  max_input_ = config.limits.request_line + 2 * config.limits.header_bytes +
               config.limits.chunk_extension + config.body_buffer_size + kReadSlack;
  spool_dir_ = spool_dir_of(config);
  // The tick checks deadlines: a quarter of the shortest timeout, at most 1 s.
  Seconds shortest = std::min({config.header_timeout, config.body_timeout, config.write_timeout});
  if (config.keepalive.count() > 0) shortest = std::min(shortest, config.keepalive);
  tick_period_ = std::clamp(std::chrono::duration_cast<Clock::duration>(shortest / 4),
                            Clock::duration(std::chrono::milliseconds(10)),
                            Clock::duration(std::chrono::seconds(1)));
  if (!config.access_log.empty()) {
    access_log_ = std::make_unique<AccessLog>(config, date);
    if (access_log_->needs_time()) handler = time_requests(std::move(handler), *access_log_);
  }
}

Server::Impl::~Impl() {
  // Close everything, then let the aborted handlers run so that connections
  // release themselves while the members they use still exist.
  for (auto& l : listeners) {
    if (l.descriptor) {
      boost::system::error_code ignored;
      l.descriptor->close(ignored);
    }
  }
  for (int round = 0; round < 8 && head_ != nullptr; ++round) {
    for (Connection* c = head_; c != nullptr;) {
      Connection* next = c->next;
      c->close_now();
      c = next;
    }
    io.restart();
    io.poll();
  }
  // The descriptors belong to io's services, which go before the members
  // declared ahead of io: release them now.
  listeners.clear();
}

void Server::Impl::bind_all() {
  const auto defer = std::chrono::seconds(
      std::max<long>(1, static_cast<long>(config.header_timeout.count() + 0.999)));
  for (const Bind& b : config.binds) {
    Listener l;
    l.address.bind = b;
    l.fd = open_listener(l.address.bind, config.backlog, defer);
    l.descriptor = std::make_unique<asio::posix::stream_descriptor>(io, l.fd);
    addresses.push_back(l.address);
    listeners.push_back(std::move(l));
  }
}

void Server::Impl::adopt(std::span<const int> fds) {
  if (fds.size() != config.binds.size()) {
    throw std::invalid_argument("anvil: one listener fd per bind is needed");
  }
  for (std::size_t i = 0; i < fds.size(); ++i) {
    Listener l;
    l.address.bind = config.binds[i];
    l.fd = fds[i];
    l.descriptor = std::make_unique<asio::posix::stream_descriptor>(io, l.fd);
    addresses.push_back(l.address);
    listeners.push_back(std::move(l));
  }
}

std::unique_ptr<Resources> Server::Impl::acquire() {
  std::unique_ptr<Resources> r;
  {
    std::lock_guard lk(pool_m_);
    if (!pool_.empty()) {
      r = std::move(pool_.back());
      pool_.pop_back();
    }
  }
  if (r) {
    r->parser->reset();
    r->remote_text.clear();
    return r;
  }
  r = std::make_unique<Resources>();
  r->parser = parser::make_parser(config.parser, parser::Mode::request, config.limits);
  r->in.reset(new char[kInitialBuffer]);
  r->in_cap = kInitialBuffer;
  r->request.fields.reserve(32);
  return r;
}

// Any thread: a connection's last reference may go on a handler's thread.
void Server::Impl::release(std::unique_ptr<Resources> r) noexcept {
  if (!r) return;
  r->out.clear();
  r->out.take_callbacks([](WriteCallback&&) {});
  if (r->in_cap > kPooledBufferMax) {
    // A buffer grown for a large head or body is not kept at that size.
    char* small = new (std::nothrow) char[kInitialBuffer];
    if (small == nullptr) return;  // dropped, not pooled
    r->in.reset(small);
    r->in_cap = kInitialBuffer;
  }
  {
    std::lock_guard lk(pool_m_);
    if (pool_.size() < kPoolSize) {
      pool_.push_back(std::move(r));
      return;
    }
  }
  r.reset();
  freed_since_trim_.fetch_add(1, std::memory_order_relaxed);
}

void Server::Impl::link(Connection* c) noexcept {
  c->next = head_;
  c->prev = nullptr;
  if (head_) head_->prev = c;
  head_ = c;
  c->linked = true;
  connections.fetch_add(1, std::memory_order_relaxed);
}

void Server::Impl::unlink(Connection* c) noexcept {
  if (!c->linked) return;
  relist(c, List::none);
  if (c->prev) c->prev->next = c->next;
  if (c->next) c->next->prev = c->prev;
  if (head_ == c) head_ = c->next;
  c->linked = false;
  connections.fetch_sub(1, std::memory_order_relaxed);
  if (access_log_) access_log_->forget(c);
  if (draining_) maybe_finish_stop();
}

void Server::Impl::relist(Connection* c, List to) noexcept {
  const auto from = static_cast<List>(c->list);
  if (from == to) {
    if (to == List::none) return;
    if (lru(to).last == c) return;  // already the newest
  }
  if (from != List::none) {
    Lru& l = lru(from);
    if (c->lru_prev) c->lru_prev->lru_next = c->lru_next;
    if (c->lru_next) c->lru_next->lru_prev = c->lru_prev;
    if (l.first == c) l.first = c->lru_next;
    if (l.last == c) l.last = c->lru_prev;
    c->lru_prev = c->lru_next = nullptr;
  }
  c->list = static_cast<std::uint8_t>(to);
  if (to == List::none || !c->linked) {
    c->list = static_cast<std::uint8_t>(List::none);
    return;
  }
  Lru& l = lru(to);
  c->lru_prev = l.last;
  if (l.last) l.last->lru_next = c;
  l.last = c;
  if (!l.first) l.first = c;
}

// At the connection limit: ends the cheapest connection. First the idle one
// that has been idle longest, if it holds no buffer any more (parked after
// two ticks idle, or lingering after an error answer); then the head that
// has been arriving longest (slowloris); then an idle connection that was
// in use a moment ago. A keep-alive client busy with requests is so never
// cut while slow heads churn at the limit (its next request would meet a
// reset).
bool Server::Impl::shed_one() noexcept {
  Connection* victim = nullptr;
  if (idle_.first != nullptr && !idle_.first->holds_buffer()) {
    victim = idle_.first;
  } else if (heads_.first != nullptr) {
    victim = heads_.first;
  } else {
    victim = idle_.first;
  }
  if (victim == nullptr) return false;
  auto keep = victim->shared_from_this();  // it may be closing from inside its own handler
  contain([&] { victim->shed(); }, [&](std::string_view) { victim->close_now(); });
  return true;
}

void Server::Impl::run() {
  // From inside run(): handlers must see on_loop_thread() == true.
  asio::post(io, [this] {
    contain(
        [&] {
          start_listeners();
          schedule_tick();
        },
        [&](std::string_view what) { log_failure(nullptr, what); });
  });
  io.run();
  handler->stop();
}

void Server::Impl::start_listeners() {
  for (auto& l : listeners) accept_on(l);
}

void Server::Impl::wait_accept(Listener& l) {
  if (l.waiting || !l.descriptor || !l.descriptor->is_open()) return;
  l.waiting = true;
  l.descriptor->async_wait(
      asio::posix::stream_descriptor::wait_read, [this, &l](const boost::system::error_code& ec) {
        l.waiting = false;
        if (ec || draining_) return;
        contain([&] { accept_on(l); }, [&](std::string_view what) { accept_failed(l, what); });
      });
}

// A failure inside accept_on (a connection that could not be made): logged,
// and accepting goes on after the backoff.
void Server::Impl::accept_failed(Listener& l, std::string_view what) noexcept {
  log_failure(nullptr, what);
  (void)l;
  pause_accepting(kAcceptBackoff);
}

// Takes one connection from l's queue and starts it: one; again (nothing
// taken, try once more); empty (EAGAIN); failed (out of a resource: error).
Server::Impl::Accept Server::Impl::accept_one(Listener& l, int& error) {
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  const int fd =
      ::accept4(l.fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    error = errno;
    if (error == EAGAIN || error == EWOULDBLOCK) return Accept::empty;
    if (error == EINTR || error == ECONNABORTED || error == EPROTO) return Accept::again;
    // EMFILE, ENFILE, ENOBUFS, ENOMEM: out of a resource. An idle
    // connection gives its descriptor back if there is one.
    if ((error == EMFILE || error == ENFILE) && idle_.first != nullptr && shed_one()) {
      return Accept::again;
    }
    return Accept::failed;
  }
  std::shared_ptr<Connection> c;
  try {
    c = std::make_shared<Connection>(*this, fd, l, peer);
  } catch (...) {
    ::close(fd);
    throw;
  }
  // At the limit, the cheapest connection makes room (never a full stop:
  // slow clients filling the limit would lock out honest ones). When
  // nothing can go (every connection is busy with a request), the newcomer
  // is told so at once rather than left waiting in the backlog.
  if (connections.load(std::memory_order_relaxed) >= max_connections_ && !shed_one()) {
    c->refuse();
  } else {
    c->start();
  }
  return Accept::one;
}

void Server::Impl::accept_on(Listener& l) {
  for (int i = 0; i < kAcceptBatch; ++i) {
    if (draining_ || stopping_ || !l.descriptor || !l.descriptor->is_open()) return;
    int error = 0;
    switch (accept_one(l, error)) {
      case Accept::one:
        accept_error_logged_ = false;
        continue;
      case Accept::again:
        continue;
      case Accept::empty:
        wait_accept(l);
        return;
      case Accept::failed:
        // Beast's examples stop accepting for good here: back off and try again.
        if (!accept_error_logged_ && config.log_level <= LogLevel::warning) {
          std::fprintf(stderr, "anvil: accept: %s; retrying every %lld ms\n", std::strerror(error),
                       static_cast<long long>(kAcceptBackoff.count()));
          accept_error_logged_ = true;  // once per episode, not every 100 ms
        }
        pause_accepting(kAcceptBackoff);
        return;
    }
  }
  // The batch is full and more may be waiting: edge-triggered readiness will
  // not fire again for them, so continue from the queue.
  asio::post(io, [this, &l] {
    contain([&] { accept_on(l); }, [&](std::string_view what) { accept_failed(l, what); });
  });
}

// Connections the kernel completed before the stop wait in the listen queue,
// a request perhaps in their buffers: the last close of the listener would
// reset them. They are taken in (and answered with Connection: close), up to
// the connection limit; none come after them where the stop refused new ones.
void Server::Impl::take_backlog(Listener& l) {
  if (!l.descriptor || !l.descriptor->is_open()) return;
  for (std::size_t i = 0; i < max_connections_; ++i) {
    int error = 0;
    const Accept r = accept_one(l, error);
    if (r == Accept::empty || r == Accept::failed) return;
  }
}

void Server::Impl::pause_accepting(std::chrono::milliseconds backoff_time) {
  if (backoff_pending_) return;
  backoff_pending_ = true;
  backoff.expires_after(backoff_time);
  backoff.async_wait([this](const boost::system::error_code& ec) {
    backoff_pending_ = false;
    if (ec) return;
    contain([&] { resume_accepting(); },
            [&](std::string_view what) { log_failure(nullptr, what); });
  });
}

void Server::Impl::resume_accepting() {
  if (draining_ || stopping_) return;
  for (auto& l : listeners) {
    if (!l.waiting) accept_on(l);
  }
}

void Server::Impl::schedule_tick() {
  tick.expires_after(tick_period_);
  tick.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    on_tick();
    contain([&] { schedule_tick(); }, [&](std::string_view what) { log_failure(nullptr, what); });
  });
}

void Server::Impl::on_tick() {
  // After a burst of connections went idle and gave back their buffers, the
  // heap keeps the freed pages unless asked (idle connections would then
  // look as large as busy ones): once per tick, after enough frees.
  if (freed_since_trim_.load(std::memory_order_relaxed) >= kTrimAfterFrees) {
    freed_since_trim_.store(0, std::memory_order_relaxed);
    ::malloc_trim(0);
  }
  const auto now = Clock::now();
  for (Connection* c = head_; c != nullptr;) {
    // on_tick may unlink c, never the next one; keep c alive through it.
    Connection* next = c->next;
    auto keep = c->shared_from_this();
    contain([&] { c->on_tick(now); }, [&](std::string_view what) { c->fail(what); });
    c = next;
  }
}

void Server::Impl::stop(bool graceful) {
  asio::post(io, [this, graceful] {
    contain([&] { begin_stop(graceful); },
            [&](std::string_view what) {
              log_failure(nullptr, what);
              stopping_ = true;
              io.stop();
            });
  });
}

void Server::Impl::begin_stop(bool graceful) {
  if (!graceful) {
    stopping_ = true;
    draining_ = true;
    io.stop();
    return;
  }
  if (draining_) return;
  draining_ = true;
  for (auto& l : listeners) {
    contain([&] { take_backlog(l); }, [&](std::string_view what) { log_failure(nullptr, what); });
    boost::system::error_code ignored;
    if (l.descriptor) l.descriptor->close(ignored);
  }
  for (Connection* c = head_; c != nullptr;) {
    Connection* next = c->next;
    auto keep = c->shared_from_this();
    contain([&] { c->drain(); }, [&](std::string_view what) { c->fail(what); });
    c = next;
  }
  graceful_timer.expires_after(
      std::chrono::duration_cast<Clock::duration>(config.graceful_timeout));
  graceful_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    stopping_ = true;
    io.stop();
  });
  maybe_finish_stop();
}

void Server::Impl::maybe_finish_stop() {
  if (!draining_ || head_ != nullptr) return;
  stopping_ = true;
  io.stop();
}

void Server::Impl::log_access(const Connection& c, int status, std::uint64_t bytes) {
  if (access_log_) access_log_->write(c, status, bytes);
}

void Server::Impl::on_request_limit(std::uint64_t limit, std::function<void()> hook) {
  request_limit_ = limit;
  request_hook_ = std::move(hook);
}

void Server::Impl::log_failure(const Connection* c, std::string_view what) noexcept {
  if (config.log_level > LogLevel::error) return;
  const std::string peer = c != nullptr ? c->peer_text() : std::string("accept");
  std::fprintf(stderr, "anvil: error: %s: %.*s; connection closed\n", peer.c_str(),
               static_cast<int>(what.size()), what.data());
  std::fflush(stderr);
}

bool Server::Impl::reserve_spool(std::uint64_t n) noexcept {
  std::uint64_t now = spooled_.load(std::memory_order_relaxed);
  do {
    if (now + n > config.max_spool_size) return false;
  } while (!spooled_.compare_exchange_weak(now, now + n, std::memory_order_relaxed));
  return true;
}

StatsSnapshot Server::Impl::stats() const {
  StatsSnapshot s;
  s.requests = requests_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < kStageCount; ++i) {
    s.stage_ns[i] = stage_ns_[i].load(std::memory_order_relaxed);
  }
  return s;
}

// ---------------------------------------------------------------------------

Server::Server(const ServerConfig& config, std::shared_ptr<Handler> handler)
    : impl_(std::make_unique<Impl>(config, std::move(handler))) {
  impl_->bind_all();
}

Server::Server(const ServerConfig& config, std::shared_ptr<Handler> handler,
               std::span<const int> listener_fds)
    : impl_(std::make_unique<Impl>(config, std::move(handler))) {
  impl_->adopt(listener_fds);
}

Server::~Server() = default;

const std::vector<BoundAddress>& Server::addresses() const noexcept { return impl_->addresses; }

void Server::run() { impl_->run(); }
void Server::stop(bool graceful) { impl_->stop(graceful); }
StatsSnapshot Server::stats() const { return impl_->stats(); }
std::size_t Server::connection_count() const noexcept {
  return impl_->connections.load(std::memory_order_relaxed);
}

}  // namespace anvil::server

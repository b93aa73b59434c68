// Internals of one worker's server: listeners, the connection list, pooled
// per-connection resources, the Date cache, statistics and the access log.
// Everything here lives on the loop thread unless marked otherwise.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "anvil/parser/parser.hpp"
#include "anvil/server/server.hpp"
#include "output.hpp"
#include "response_head.hpp"

namespace anvil::server {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

class Connection;
class AccessLog;

// Ignores SIGPIPE, once per process (every Server and serve() call it).
void ignore_sigpipe();

// Binds and listens (non-blocking, close-on-exec); fills in the real port.
// A Kind::fd bind is adopted instead. Throws std::system_error.
int open_listener(Bind& bind, int backlog, std::chrono::seconds defer_accept);
// Checks an inherited listener (Bind::Kind::fd), makes it non-blocking and
// close-on-exec, and sets bind to its address (tcp or unix_socket); returns
// bind.fd. Throws std::system_error (inherited.cpp).
int adopt_listener(Bind& bind);
// For a stop (not a reload) of a listener anvil opened itself (Kind::tcp):
// from here the kernel drops new connection attempts on fd instead of queueing
// them for an accept that will not come (the last close of the listener would
// reset them). The connections queued already stay, for the draining workers
// to take in (Server::Impl::take_backlog). An inherited listener goes back to
// its owner as it came, so it is left alone; so are unix sockets.
void refuse_new_connections(const Bind& bind, int fd) noexcept;

// "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7), re-formatted only when
// the second changes.
class DateCache {
 public:
  std::string_view get() noexcept;
  // Access log time, "[10/Oct/2000:13:55:36 +0000]".
  std::string_view log_time() noexcept;

 private:
  std::time_t second_ = -1;
  std::time_t log_second_ = -1;
  char text_[40] = {};
  char log_text_[40] = {};
  std::size_t size_ = 0;
  std::size_t log_size_ = 0;
};

// Buffers, parser and output queue of a connection that is reading or
// answering, reused across connections so that serving one allocates nothing
// once the pool is warm. A parked idle connection holds none.
struct Resources {
  std::unique_ptr<parser::Parser> parser;
  std::unique_ptr<char[]> in;
  std::size_t in_cap = 0;
  parser::Message request;
  OutputQueue out;
  // The response head start() accepted, and the one it builds (swapped in on
  // success, so that a rejected start() leaves the last good one).
  ResponseHead head;
  ResponseHead pending_head;
  std::string remote_text;
};

struct Listener {
  int fd = -1;
  BoundAddress address;
  std::unique_ptr<asio::posix::stream_descriptor> descriptor;
  bool waiting = false;  // an async_wait for a connection is pending
};

class Server::Impl {
 public:
  Impl(const ServerConfig& config, std::shared_ptr<Handler> handler);
  ~Impl();

  void bind_all();
  void adopt(std::span<const int> fds);
  void run();
  void stop(bool graceful);  // thread-safe

  // For connections (loop thread).
  std::unique_ptr<Resources> acquire();
  void release(std::unique_ptr<Resources> r) noexcept;
  void link(Connection* c) noexcept;
  void unlink(Connection* c) noexcept;
  // The shedding lists: a connection is in at most one, by its phase, oldest
  // first (List::none removes it).
  enum class List : std::uint8_t { none, idle, head };
  void relist(Connection* c, List to) noexcept;
  bool draining() const noexcept { return draining_; }
  void log_access(const Connection& c, int status, std::uint64_t bytes);
  // One line on stderr (log level error) for a failure contained to one
  // connection (or one accept).
  void log_failure(const Connection* c, std::string_view what) noexcept;
  // Spool budget (--max-spool-size): false when n more bytes would pass it.
  bool reserve_spool(std::uint64_t n) noexcept;
  void release_spool(std::uint64_t n) noexcept { spooled_.fetch_sub(n, std::memory_order_relaxed); }
  const std::string& spool_dir() const noexcept { return spool_dir_; }
  // The largest input buffer a connection may hold: head limits, the
  // in-memory body and a trailer section, plus one read.
  std::size_t max_input() const noexcept { return max_input_; }
  void add_stage(Stage s, std::chrono::nanoseconds t) noexcept {
    stage_ns_[static_cast<std::size_t>(s)].fetch_add(static_cast<std::uint64_t>(t.count()),
                                                     std::memory_order_relaxed);
  }
  void count_request() noexcept {
    if (requests_.fetch_add(1, std::memory_order_relaxed) + 1 == request_limit_) request_hook_();
  }
  // --max-requests (the process model's): hook runs once, inline on the loop
  // thread, when the limit-th request has been counted. It must not throw.
  void on_request_limit(std::uint64_t limit, std::function<void()> hook);
  StatsSnapshot stats() const;

  const ServerConfig config;
  std::shared_ptr<Handler> handler;
  DateCache date;
  std::vector<Listener> listeners;
  std::vector<BoundAddress> addresses;
  std::atomic<std::size_t> connections{0};

 private:
  void start_listeners();
  void accept_on(Listener& l);
  enum class Accept : std::uint8_t { one, again, empty, failed };
  Accept accept_one(Listener& l, int& error);
  void take_backlog(Listener& l);
  bool shed_one() noexcept;
  void accept_failed(Listener& l, std::string_view what) noexcept;
  void wait_accept(Listener& l);
  void pause_accepting(std::chrono::milliseconds backoff);
  void resume_accepting();
  void schedule_tick();
  void on_tick();
  void begin_stop(bool graceful);
  void maybe_finish_stop();

  Connection* head_ = nullptr;  // intrusive list of open connections
  // The shedding lists (oldest first): idle keep-alive connections, then
  // heads in progress.
  struct Lru {
    Connection* first = nullptr;
    Connection* last = nullptr;
  };
  Lru idle_, heads_;
  Lru& lru(List l) noexcept { return l == List::idle ? idle_ : heads_; }
  std::size_t max_connections_ = 0;  // the limit in force (see server.cpp)
  std::size_t max_input_ = 0;
  std::string spool_dir_;
  std::atomic<std::uint64_t> spooled_{0};  // bytes in spool files now
  std::mutex pool_m_;                      // release() may run on a handler's thread
  std::vector<std::unique_ptr<Resources>> pool_;
  // Resources freed (the pool was full) since the heap was last trimmed.
  std::atomic<std::size_t> freed_since_trim_{0};
  bool backoff_pending_ = false;
  bool accept_error_logged_ = false;
  bool draining_ = false;
  bool stopping_ = false;
  Clock::duration tick_period_;
  std::unique_ptr<AccessLog> access_log_;  // null: no access log
  std::array<std::atomic<std::uint64_t>, kStageCount> stage_ns_{};
  std::atomic<std::uint64_t> requests_{0};
  std::uint64_t request_limit_ = 0;  // 0: none
  std::function<void()> request_hook_;

 public:
  // Declared last so it is destroyed first: handlers still queued in it own
  // connections, whose destructors use the members above.
  asio::io_context io{1};
  asio::steady_timer tick{io};
  asio::steady_timer backoff{io};
  asio::steady_timer graceful_timer{io};
};

}  // namespace anvil::server

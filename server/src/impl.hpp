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
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "anvil/parser/parser.hpp"
#include "anvil/server/server.hpp"

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

// One output piece: bytes in memory, bytes in the connection's scratch string
// (by offset: it may grow), or a file range for sendfile(2).
struct Segment {
  enum class Kind : std::uint8_t { memory, scratch, file };
  Kind kind = Kind::memory;
  int fd = -1;
  const char* data = nullptr;
  std::uint64_t offset = 0;  // scratch offset or file offset
  std::uint64_t size = 0;
};

// Buffers, parser and vectors of a connection, reused across connections so
// that accepting one allocates nothing once the pool is warm.
struct Resources {
  std::unique_ptr<parser::Parser> parser;
  std::unique_ptr<char[]> in;
  std::size_t in_cap = 0;
  parser::Message request;
  std::string scratch;
  std::vector<Segment> segments;
  std::vector<iovec> iov;
  std::deque<std::string> owned;
  std::vector<std::pair<std::size_t, WriteCallback>> callbacks;
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
  void release(std::unique_ptr<Resources> r);
  void link(Connection* c) noexcept;
  void unlink(Connection* c) noexcept;
  bool draining() const noexcept { return draining_; }
  void log_access(const Connection& c, int status, std::uint64_t bytes);
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
  void wait_accept(Listener& l);
  void pause_accepting(std::chrono::milliseconds backoff);
  void resume_accepting();
  void schedule_tick();
  void on_tick();
  void begin_stop(bool graceful);
  void maybe_finish_stop();

  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  Connection* head_ = nullptr;  // intrusive list of open connections
  std::vector<std::unique_ptr<Resources>> pool_;
  bool accepting_paused_ = false;
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

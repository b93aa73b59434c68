// The process model, as gunicorn's: the master binds, forks workers, restarts
// those that die and turns signals into worker actions. Each worker is one
// io_context on one thread. The master always forks, also for one worker, so
// that restarts and signals behave the same for every N (and "server CPU" is
// that of the process tree); workers=0 serves in the calling process instead.
//
// Workers talk to the master with one real-time signal (sigqueue: the
// master's sigtimedwait gets the sender's pid and an event): "ready" once the
// worker's loop runs, "retire" once it has served --max-requests. A worker
// proves its loop turns by storing the time in its heartbeat slot, which the
// master reads for --worker-timeout.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <exception>
#include <map>
#include <new>
#include <random>
#include <span>
#include <string>
#include <system_error>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "impl.hpp"

namespace anvil::server {
namespace {

// A worker that exits with this code could not start (its handler factory
// failed): restarting it would only loop, so the master gives up.
constexpr int kBootFailure = 3;

// What a worker tells the master (the value of its real-time signal).
enum class WorkerEvent : int {
  ready = 1,   // its loop runs: a worker it replaces may now drain
  retire = 2,  // it has served --max-requests: start its replacement
};

// SIGRTMIN is a function call in glibc (threads libraries take the first ones).
int worker_signal() { return SIGRTMIN; }

// Async-signal-safe and allocation-free: called from inside a request's end.
void notify_master(pid_t master, WorkerEvent event) {
  sigval v{};
  v.sival_int = static_cast<int>(event);
  ::sigqueue(master, worker_signal(), v);
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One worker's heartbeat: the steady clock (CLOCK_MONOTONIC, the same in
// every process) in ns, stored by the worker's loop, read by the master.
// kBooting until the loop first beats: a worker's start (making its handler,
// with Python importing what the app needs) is no stuck loop, and a short
// --worker-timeout that killed slow starts would only restart them forever.
constexpr std::int64_t kBooting = 0;
struct alignas(64) Heartbeat {
  std::atomic<std::int64_t> ns{0};
};
static_assert(std::atomic<std::int64_t>::is_always_lock_free,
              "heartbeats are shared between processes");

// Heartbeat slots in MAP_SHARED anonymous pages. Each page is mapped before
// the fork of the workers that use it, so master and worker share it; a page
// is added when every slot is taken (many workers draining at once).
class Heartbeats {
 public:
  static constexpr std::size_t kPerPage = 4096 / sizeof(Heartbeat);

  Heartbeats() = default;
  Heartbeats(const Heartbeats&) = delete;
  Heartbeats& operator=(const Heartbeats&) = delete;
  ~Heartbeats() {
    for (Heartbeat* page : pages_) ::munmap(page, kPerPage * sizeof(Heartbeat));
  }

  // A free slot, its time set to 0: not watched until the worker's loop
  // beats for the first time. -1 when no page can be mapped.
  int acquire() {
    for (std::size_t i = 0; i < used_.size(); ++i) {
      if (!used_[i]) return take(i);
    }
    void* p = ::mmap(nullptr, kPerPage * sizeof(Heartbeat), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
    auto* page = static_cast<Heartbeat*>(p);
    for (std::size_t i = 0; i < kPerPage; ++i) new (page + i) Heartbeat;
    pages_.push_back(page);
    used_.resize(used_.size() + kPerPage, false);
    return take(used_.size() - kPerPage);
  }
  void release(int slot) {
    if (slot >= 0) used_[static_cast<std::size_t>(slot)] = false;
  }
  Heartbeat* at(int slot) {
    if (slot < 0) return nullptr;
    const auto i = static_cast<std::size_t>(slot);
    return pages_[i / kPerPage] + i % kPerPage;
  }

 private:
  int take(std::size_t i) {
    used_[i] = true;
    at(static_cast<int>(i))->ns.store(kBooting, std::memory_order_relaxed);
    return static_cast<int>(i);
  }

  std::vector<Heartbeat*> pages_;
  std::vector<bool> used_;
};

void print_stats(const Server::Impl& impl) {
  if (!impl.config.stats) return;
  std::fprintf(stderr, "anvil: stats pid %d: %s\n", static_cast<int>(::getpid()),
               impl.stats().format().c_str());
  std::fflush(stderr);
}

sigset_t master_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP}) sigaddset(&set, s);
  sigaddset(&set, worker_signal());
  return set;
}

// Unblocks the master's signals again, once the workers are gone. Signals
// still pending (a worker's "ready" sent just before it stopped, a late
// SIGHUP) are taken first: unblocked, their default action would end the
// process that is returning from serve().
void restore_signals(const sigset_t& old_mask) {
  const sigset_t set = master_signals();
  siginfo_t info{};
  const timespec now{0, 0};
  while (::sigtimedwait(&set, &info, &now) > 0) {
  }
  ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
}

// The heartbeat and master-polling periods for a --worker-timeout: a quarter
// of it, between 10 ms and 1 s.
std::chrono::nanoseconds beat_period(Seconds timeout) {
  return std::clamp(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout / 4),
                    std::chrono::nanoseconds(std::chrono::milliseconds(10)),
                    std::chrono::nanoseconds(std::chrono::seconds(1)));
}

// What a forked worker needs from the master.
struct WorkerSetup {
  const ServerConfig& config;
  const HandlerFactory& make_handler;
  std::span<const int> fds;
  sigset_t old_mask;
  pid_t master;
  Heartbeat* heartbeat;        // null: --worker-timeout 0
  std::uint64_t max_requests;  // with its jitter; 0: none
};

// Stores the time in the heartbeat slot every period, from the worker's loop:
// if the loop is stuck (an app spinning with the GIL), the beats stop.
class HeartbeatTimer {
 public:
  HeartbeatTimer(asio::io_context& io, Heartbeat* slot, Seconds timeout)
      : timer_(io), slot_(slot), period_(beat_period(timeout)) {
    if (slot_ != nullptr) beat();
  }

 private:
  void beat() {
    slot_->ns.store(now_ns(), std::memory_order_relaxed);
    timer_.expires_after(period_);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) beat();
    });
  }

  asio::steady_timer timer_;
  Heartbeat* slot_;
  std::chrono::nanoseconds period_;
};

// Runs in the forked child; never returns.
[[noreturn]] void worker_main(const WorkerSetup& setup) {
  const ServerConfig& config = setup.config;
  // Die with the master rather than serve on as an orphan.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  int code = 0;
  bool booted = false;  // an error before serving is a boot failure: no restart
  try {
    std::shared_ptr<Handler> handler;
    try {
      handler = setup.make_handler();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "anvil: worker %d failed to boot: %s\n", static_cast<int>(::getpid()),
                   e.what());
      std::fflush(stderr);
      ::_exit(kBootFailure);
    }
    if (!handler) ::_exit(kBootFailure);
    Server::Impl impl(config, handler);
    impl.adopt(setup.fds);
    boost::asio::signal_set signals(impl.io, SIGTERM, SIGINT, SIGQUIT);
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int sig) {
          if (ec) return;
          if (sig == SIGQUIT) {
            // At once: no drain, no waiting for the handler's threads.
            std::fflush(stderr);
            ::_exit(0);
          }
          impl.stop(true);
          signals.async_wait(on_signal);  // a second SIGTERM changes nothing
        };
    signals.async_wait(on_signal);
    const pid_t master = setup.master;
    if (setup.max_requests > 0) {
      impl.on_request_limit(setup.max_requests,
                            [master] { notify_master(master, WorkerEvent::retire); });
    }
    HeartbeatTimer heartbeat(impl.io, setup.heartbeat, config.worker_timeout);
    boost::asio::post(impl.io, [master] { notify_master(master, WorkerEvent::ready); });
    booted = true;
    ::sigprocmask(SIG_SETMASK, &setup.old_mask, nullptr);
    if (config.log_level <= LogLevel::info) {
      std::fprintf(stderr, "anvil: worker %d started\n", static_cast<int>(::getpid()));
      std::fflush(stderr);
    }
    impl.run();
    print_stats(impl);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "anvil: worker %d%s: %s\n", static_cast<int>(::getpid()),
                 booted ? "" : " failed to boot", e.what());
    code = booted ? 1 : kBootFailure;
  }
  std::fflush(stderr);
  std::fflush(stdout);
  ::_exit(code);
}

// A stop begins (not a reload): new connections are refused from here, and
// the operator is told how long the drain may take.
void stop_listening(const ServerConfig& config, std::span<const int> fds, int sig) {
  if (sig != SIGQUIT) {
    for (std::size_t i = 0; i < fds.size(); ++i) refuse_new_connections(config.binds[i], fds[i]);
  }
  if (config.log_level <= LogLevel::info) {
    if (sig == SIGQUIT) {
      std::fprintf(stderr, "anvil: SIG%s: stopping at once\n", sigabbrev_np(sig));
    } else {
      std::fprintf(stderr, "anvil: SIG%s: stopping; requests in progress have %g s to finish\n",
                   sigabbrev_np(sig), config.graceful_timeout.count());
    }
    std::fflush(stderr);
  }
}

void close_all(std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
  fds.clear();
}

// Owns the listening sockets: it closes them as soon as it stops, so that new
// connections are refused at once (a load balancer fails over) rather than
// left in the backlog until the drain ends and then reset, as gunicorn's
// arbiter does when it stops.
class Master {
 public:
  // The master's signals are blocked already (serve()); old_mask is the mask
  // from before, for the workers and for when run() returns.
  Master(const ServerConfig& config, const HandlerFactory& make_handler, const ProcessHooks& hooks,
         std::vector<int> fds, const sigset_t& old_mask)
      : config_(config),
        make_handler_(make_handler),
        hooks_(hooks),
        fds_(std::move(fds)),
        old_mask_(old_mask),
        pid_(::getpid()),
        rng_(std::random_device{}()) {}
  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;
  ~Master() { close_all(fds_); }

  int run() {
    const sigset_t set = master_signals();
    for (int i = 0; i < config_.workers; ++i) spawn();
    int code = 0;
    const timespec wait = poll_period();
    for (;;) {
      siginfo_t info{};
      const int sig = ::sigtimedwait(&set, &info, &wait);
      if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
        // SIGTERM, SIGINT: graceful; SIGQUIT: at once.
        stop_listening(config_, fds_, sig);
        terminate_all(sig == SIGQUIT ? SIGQUIT : SIGTERM);
        close_all(fds_);  // the workers close their copies when they stop accepting
        deadline_ =
            std::time(nullptr) + static_cast<std::time_t>(config_.graceful_timeout.count()) + 5;
        break;
      }
      if (sig == worker_signal()) on_worker_event(info);
      if (sig == SIGHUP) replace_all();
      // Also on SIGCHLD and after each period: reap, then look for stuck workers.
      if (!reap()) {
        code = kBootFailure;
        terminate_all(SIGTERM);
        close_all(fds_);
        break;
      }
      kill_stuck_workers();
    }
    wait_all();
    return code;
  }

 private:
  struct Worker {
    int slot = -1;  // heartbeat slot; -1: not watched
    // serving -> replacing (--max-requests, SIGHUP: a new worker is started)
    // -> retiring (a new worker is ready: SIGTERM sent, it drains) -> reaped.
    enum class Phase : std::uint8_t {
      serving,
      replacing,  // serves on until a new worker is ready; its replacement is started
      retiring,   // draining after SIGTERM; not to be restarted
    };
    Phase phase = Phase::serving;
    bool killed = false;  // SIGKILLed for --worker-timeout (and logged)
  };

  timespec poll_period() const {
    if (config_.worker_timeout.count() <= 0) return {1, 0};
    const auto ns = beat_period(config_.worker_timeout).count();
    return {static_cast<std::time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  }

  std::uint64_t draw_max_requests() {
    if (config_.max_requests == 0) return 0;
    // gunicorn's jitter: randint(0, jitter), inclusive.
    std::uniform_int_distribution<std::uint64_t> jitter(0, config_.max_requests_jitter);
    return config_.max_requests + jitter(rng_);
  }

  void spawn() {
    Worker w;
    if (config_.worker_timeout.count() > 0) w.slot = heartbeats_.acquire();
    const WorkerSetup setup{
        config_, make_handler_, fds_, old_mask_, pid_, heartbeats_.at(w.slot), draw_max_requests()};
    if (hooks_.before_fork) hooks_.before_fork();
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = hooks_.fork ? static_cast<pid_t>(hooks_.fork()) : ::fork();
    if (pid == 0) {
      if (hooks_.after_fork_child) hooks_.after_fork_child();
      worker_main(setup);
    }
    if (hooks_.after_fork_parent) hooks_.after_fork_parent();
    if (pid < 0) {
      std::fprintf(stderr, "anvil: fork: %s\n", std::strerror(errno));
      heartbeats_.release(w.slot);
      return;
    }
    workers_.insert({pid, w});
  }

  void on_worker_event(const siginfo_t& info) {
    if (info.si_code != SI_QUEUE) return;
    const auto it = workers_.find(info.si_pid);
    if (it == workers_.end()) return;
    switch (static_cast<WorkerEvent>(info.si_value.sival_int)) {
      case WorkerEvent::ready:
        retire_next();
        return;
      case WorkerEvent::retire:
        if (it->second.phase != Worker::Phase::serving || stopping_) return;
        if (config_.log_level <= LogLevel::info) {
          std::fprintf(stderr, "anvil: worker %d reached --max-requests; replacing it\n",
                       static_cast<int>(it->first));
          std::fflush(stderr);
        }
        replace(it);
        spawn();
        return;
    }
  }

  // The worker goes on serving until a new one is ready (retire_next).
  void replace(std::map<pid_t, Worker>::iterator it) {
    it->second.phase = Worker::Phase::replacing;
    to_retire_.push_back(it->first);
  }

  // A new worker is ready: the oldest worker waiting to be replaced drains.
  void retire_next() {
    while (!to_retire_.empty()) {
      const pid_t pid = to_retire_.front();
      to_retire_.pop_front();
      const auto it = workers_.find(pid);
      if (it == workers_.end() || it->second.phase != Worker::Phase::replacing) continue;
      it->second.phase = Worker::Phase::retiring;
      ::kill(pid, SIGTERM);
      return;
    }
  }

  // SIGHUP: a new worker for each current one; each old one drains once a new
  // one is ready, so that some worker always accepts.
  void replace_all() {
    int fresh = 0;
    for (auto it = workers_.begin(); it != workers_.end(); ++it) {
      if (it->second.phase != Worker::Phase::serving) continue;
      replace(it);
      ++fresh;
    }
    for (int i = 0; i < fresh; ++i) spawn();
  }

  // Reaps dead workers and replaces them; false on a boot failure.
  bool reap() {
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) return true;
      const auto it = workers_.find(pid);
      if (it == workers_.end()) continue;
      const Worker w = it->second;
      workers_.erase(it);
      heartbeats_.release(w.slot);
      if (WIFEXITED(status) && WEXITSTATUS(status) == kBootFailure) return false;
      if (stopping_ || w.phase == Worker::Phase::retiring) continue;
      if (w.phase == Worker::Phase::replacing) {
        // Its replacement is already started.
        std::erase(to_retire_, pid);
        continue;
      }
      if (!w.killed && config_.log_level <= LogLevel::warning) {
        std::fprintf(stderr, "anvil: worker %d died (%s %d); starting another\n",
                     static_cast<int>(pid), WIFSIGNALED(status) ? "signal" : "exit",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        std::fflush(stderr);
      }
      spawn();
    }
  }

  // --worker-timeout: SIGKILL a worker whose heartbeat is too old; reap()
  // then starts another. The kill also closes the connections it held.
  void kill_stuck_workers() {
    if (config_.worker_timeout.count() <= 0) return;
    const auto limit = std::chrono::duration_cast<std::chrono::nanoseconds>(config_.worker_timeout);
    const std::int64_t now = now_ns();
    for (auto& [pid, w] : workers_) {
      const Heartbeat* beat = heartbeats_.at(w.slot);
      if (beat == nullptr || w.killed) continue;
      const std::int64_t last = beat->ns.load(std::memory_order_relaxed);
      if (last == kBooting) continue;
      const std::int64_t silent = now - last;
      if (silent <= limit.count()) continue;
      if (config_.log_level <= LogLevel::error) {
        std::fprintf(stderr,
                     "anvil: worker %d timed out: its loop made no progress for %.1f s "
                     "(--worker-timeout %g); killing it\n",
                     static_cast<int>(pid), static_cast<double>(silent) / 1e9,
                     config_.worker_timeout.count());
        std::fflush(stderr);
      }
      ::kill(pid, SIGKILL);
      w.killed = true;
    }
  }

  void terminate_all(int sig) {
    stopping_ = true;
    for (const auto& [pid, _] : workers_) ::kill(pid, sig);
  }

  // Waits for every worker; past the graceful timeout, kills the rest.
  void wait_all() {
    if (deadline_ == 0) {
      deadline_ =
          std::time(nullptr) + static_cast<std::time_t>(config_.graceful_timeout.count()) + 5;
    }
    while (!workers_.empty()) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid > 0) {
        workers_.erase(pid);
        continue;
      }
      if (pid < 0 && errno == ECHILD) break;
      if (std::time(nullptr) > deadline_) {
        for (const auto& [p, _] : workers_) ::kill(p, SIGKILL);
      }
      const sigset_t set = master_signals();
      siginfo_t info{};
      const timespec wait{0, 100'000'000};
      const int sig = ::sigtimedwait(&set, &info, &wait);
      if (sig == SIGQUIT) terminate_all(SIGQUIT);
    }
  }

  const ServerConfig& config_;
  const HandlerFactory& make_handler_;
  const ProcessHooks& hooks_;
  std::vector<int> fds_;
  const sigset_t old_mask_;
  const pid_t pid_;
  std::map<pid_t, Worker> workers_;
  std::deque<pid_t> to_retire_;  // replacing, oldest first
  Heartbeats heartbeats_;
  std::mt19937_64 rng_;
  bool stopping_ = false;
  std::time_t deadline_ = 0;
};

// workers=0: serve here; a thread turns signals into stop(). The Impl owns
// (and closes) the listeners once it has adopted them. --worker-timeout and
// --max-requests need a master and do nothing here.
int serve_in_process(const ServerConfig& config, const HandlerFactory& make_handler,
                     std::vector<int> fds, const sigset_t& old_mask) {
  std::shared_ptr<Handler> handler;
  try {
    handler = make_handler();
  } catch (...) {
    close_all(fds);
    throw;
  }
  if (!handler) {
    close_all(fds);
    return kBootFailure;
  }
  Server::Impl impl(config, handler);
  impl.adopt(fds);
  boost::asio::signal_set signals(impl.io, SIGTERM, SIGINT, SIGQUIT);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGQUIT) ::_exit(0);
    stop_listening(config, fds, sig);
    impl.stop(true);
  });
  ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);  // the signal_set takes them from here
  impl.run();
  print_stats(impl);
  return 0;
}

// Each worker opens the access log itself; one that cannot would die at start.
// Checked once before binding so that a bad path is one error at startup
// (exit 1), as gunicorn checks its log files before it forks.
void check_access_log(const std::string& path) {
  if (path.empty() || path == "-") return;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open access log " + path);
  ::close(fd);
}

// --error-log FILE: stderr (fd 2) points at the file while serve() runs, so
// that every line the server, the app and the processes it starts write to
// stderr lands there; the caller's stderr comes back afterwards.
class ErrorLog {
 public:
  explicit ErrorLog(const std::string& path) {
    if (path.empty() || path == "-") return;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "open error log " + path);
    std::fflush(stderr);
    saved_ = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);  // -1 when stderr was closed
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
    active_ = true;
  }
  ~ErrorLog() {
    if (!active_) return;
    std::fflush(stderr);
    if (saved_ >= 0) {
      ::dup2(saved_, STDERR_FILENO);
      ::close(saved_);
    } else {
      ::close(STDERR_FILENO);
    }
  }
  ErrorLog(const ErrorLog&) = delete;
  ErrorLog& operator=(const ErrorLog&) = delete;

 private:
  int saved_ = -1;
  bool active_ = false;
};

// A server holds a descriptor per connection: allow as many as the hard
// limit does (the soft limit is often 1024), as nginx's
// worker_rlimit_nofile would be set.
void raise_open_file_limit(LogLevel level) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max) return;
  const rlim_t soft = lim.rlim_cur;
  lim.rlim_cur = lim.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
    if (level <= LogLevel::warning) {
      std::fprintf(stderr, "anvil: cannot raise the open file limit from %llu: %s\n",
                   static_cast<unsigned long long>(soft), std::strerror(errno));
    }
    return;
  }
  if (level <= LogLevel::debug) {
    std::fprintf(stderr, "anvil: open file limit (RLIMIT_NOFILE) raised from %llu to %llu\n",
                 static_cast<unsigned long long>(soft),
                 static_cast<unsigned long long>(lim.rlim_cur));
  }
}

}  // namespace

int serve(const ServerConfig& in, const HandlerFactory& make_handler, const ProcessHooks& hooks) {
  ServerConfig config = in;
  ignore_sigpipe();
  check_access_log(config.access_log);
  const ErrorLog error_log(config.error_log);
  raise_open_file_limit(config.log_level);
  for (Bind& b : take_systemd_listeners()) config.binds.push_back(std::move(b));
  if (config.binds.empty()) config.binds.push_back(Bind{});
  const auto defer = std::chrono::seconds(
      std::max<long>(1, static_cast<long>(config.header_timeout.count() + 0.999)));
  std::vector<int> fds;
  try {
    for (Bind& b : config.binds) {
      if (b.fd >= 0 && std::count(fds.begin(), fds.end(), b.fd) > 0) {
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "bind fd://" + std::to_string(b.fd) + ": given twice");
      }
      fds.push_back(open_listener(b, config.backlog, defer));
    }
  } catch (...) {
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (config.binds[i].fd < 0) ::close(fds[i]);  // inherited ones stay the caller's
    }
    throw;
  }
  // From the "listening on" line on, a signal must find its handling in
  // place: block them now; the master waits for them, workers=0 hands them
  // to its signal_set.
  const sigset_t signals = master_signals();
  sigset_t old_mask;
  ::sigprocmask(SIG_BLOCK, &signals, &old_mask);
  for (const Bind& b : config.binds) {
    const std::string from = b.fd >= 0 ? " (fd " + std::to_string(b.fd) + ")" : "";
    std::fprintf(stderr, "anvil: listening on %s%s\n", BoundAddress{b}.url().c_str(), from.c_str());
  }
  std::fflush(stderr);
  int code = 0;
  try {
    if (config.workers == 0) {
      code = serve_in_process(config, make_handler, std::move(fds), old_mask);
    } else {
      code = Master(config, make_handler, hooks, std::move(fds), old_mask).run();
    }
  } catch (...) {
    restore_signals(old_mask);
    throw;
  }
  restore_signals(old_mask);
  for (const Bind& b : config.binds) {
    // A socket file made by whoever passed the descriptor is theirs.
    if (b.kind == Bind::Kind::unix_socket && b.fd < 0) ::unlink(b.path.c_str());
  }
  return code;
}

}  // namespace anvil::server

// The process model, as gunicorn's: the master binds, forks workers, restarts
// those that die and turns signals into worker actions. Each worker is one
// io_context on one thread. The master always forks, also for one worker, so
// that restarts and signals behave the same for every N (and "server CPU" is
// that of the process tree); workers=0 serves in the calling process instead.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <map>
#include <string>
#include <system_error>
#include <thread>

#include <boost/asio/signal_set.hpp>

#include "impl.hpp"

namespace anvil::server {
namespace {

// A worker that exits with this code could not start (its handler factory
// failed): restarting it would only loop, so the master gives up.
constexpr int kBootFailure = 3;

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
  return set;
}

// Runs in the forked child; never returns.
[[noreturn]] void worker_main(const ServerConfig& config, const HandlerFactory& make_handler,
                              std::span<const int> fds, const sigset_t& old_mask) {
  // Die with the master rather than serve on as an orphan.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  int code = 0;
  bool booted = false;  // an error before serving is a boot failure: no restart
  try {
    std::shared_ptr<Handler> handler;
    try {
      handler = make_handler();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "anvil: worker %d failed to boot: %s\n", static_cast<int>(::getpid()),
                   e.what());
      std::fflush(stderr);
      ::_exit(kBootFailure);
    }
    if (!handler) ::_exit(kBootFailure);
    Server::Impl impl(config, handler);
    impl.adopt(fds);
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
    booted = true;
    ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
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
  Master(const ServerConfig& config, const HandlerFactory& make_handler, const ProcessHooks& hooks,
         std::vector<int> fds)
      : config_(config), make_handler_(make_handler), hooks_(hooks), fds_(std::move(fds)) {}
  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;
  ~Master() { close_all(fds_); }

  int run() {
    const sigset_t set = master_signals();
    sigset_t old_mask;
    ::sigprocmask(SIG_BLOCK, &set, &old_mask);
    old_mask_ = old_mask;
    for (int i = 0; i < config_.workers; ++i) spawn();
    int code = 0;
    for (;;) {
      siginfo_t info{};
      const timespec wait{1, 0};
      const int sig = ::sigtimedwait(&set, &info, &wait);
      if (sig == SIGCHLD || sig < 0) {
        if (!reap()) {
          code = kBootFailure;
          terminate_all(SIGTERM);
          close_all(fds_);
          break;
        }
        if (stopping_ && workers_.empty()) break;
        continue;
      }
      if (sig == SIGHUP) {
        // Replace the workers: new ones first, then drain the old ones.
        std::vector<pid_t> old;
        for (const auto& [pid, _] : workers_) old.push_back(pid);
        for (int i = 0; i < config_.workers; ++i) spawn();
        for (pid_t pid : old) {
          retiring_.insert({pid, true});
          ::kill(pid, SIGTERM);
        }
        continue;
      }
      // SIGTERM, SIGINT: graceful; SIGQUIT: at once.
      stopping_ = true;
      terminate_all(sig == SIGQUIT ? SIGQUIT : SIGTERM);
      close_all(fds_);  // the workers close their copies when they stop accepting
      deadline_ =
          std::time(nullptr) + static_cast<std::time_t>(config_.graceful_timeout.count()) + 5;
      break;
    }
    wait_all();
    ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    return code;
  }

 private:
  void spawn() {
    if (hooks_.before_fork) hooks_.before_fork();
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (hooks_.after_fork_child) hooks_.after_fork_child();
      worker_main(config_, make_handler_, fds_, old_mask_);
    }
    if (hooks_.after_fork_parent) hooks_.after_fork_parent();
    if (pid < 0) {
      std::fprintf(stderr, "anvil: fork: %s\n", std::strerror(errno));
      return;
    }
    workers_.insert({pid, true});
  }

  // Reaps dead workers and replaces them; false on a boot failure.
  bool reap() {
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) return true;
      const bool retired = retiring_.erase(pid) > 0;
      if (workers_.erase(pid) == 0) continue;
      if (WIFEXITED(status) && WEXITSTATUS(status) == kBootFailure) return false;
      if (stopping_ || retired) continue;
      if (config_.log_level <= LogLevel::warning) {
        std::fprintf(stderr, "anvil: worker %d died (%s %d); starting another\n",
                     static_cast<int>(pid), WIFSIGNALED(status) ? "signal" : "exit",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        std::fflush(stderr);
      }
      spawn();
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
  sigset_t old_mask_{};
  std::map<pid_t, bool> workers_;
  std::map<pid_t, bool> retiring_;
  bool stopping_ = false;
  std::time_t deadline_ = 0;
};

// workers=0: serve here; a thread turns signals into stop(). The Impl owns
// (and closes) the listeners once it has adopted them.
int serve_in_process(const ServerConfig& config, const HandlerFactory& make_handler,
                     std::vector<int> fds) {
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
    impl.stop(true);
  });
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

}  // namespace

int serve(const ServerConfig& in, const HandlerFactory& make_handler, const ProcessHooks& hooks) {
  ServerConfig config = in;
  if (config.binds.empty()) config.binds.push_back(Bind{});
  // A write to a closed socket must be an EPIPE error, not the end of the
  // process (writev and sendfile take no MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);
  check_access_log(config.access_log);
  const auto defer = std::chrono::seconds(
      std::max<long>(1, static_cast<long>(config.header_timeout.count() + 0.999)));
  std::vector<int> fds;
  try {
    for (Bind& b : config.binds) fds.push_back(open_listener(b, config.backlog, defer));
  } catch (...) {
    for (int fd : fds) ::close(fd);
    throw;
  }
  for (const Bind& b : config.binds) {
    std::fprintf(stderr, "anvil: listening on %s\n", BoundAddress{b}.url().c_str());
  }
  std::fflush(stderr);
  int code = 0;
  if (config.workers == 0) {
    code = serve_in_process(config, make_handler, std::move(fds));
  } else {
    code = Master(config, make_handler, hooks, std::move(fds)).run();
  }
  for (const Bind& b : config.binds) {
    if (b.kind == Bind::Kind::unix_socket) ::unlink(b.path.c_str());
  }
  return code;
}

}  // namespace anvil::server

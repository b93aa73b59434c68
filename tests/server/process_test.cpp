// The process model through the anvil-native binary: workers, restarts,
// signals, exit codes. Readiness is the "listening on" line, never a sleep.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "anvil/server/native.hpp"
#include "anvil/server/server.hpp"
#include "client.hpp"

namespace anvil::server::test {
namespace {

using namespace std::chrono_literals;

class NativeProcess {
 public:
  // in_child runs in the forked child just before exec (limits, descriptors,
  // environment). Descriptors without FD_CLOEXEC are inherited.
  explicit NativeProcess(std::vector<std::string> args, std::function<void()> in_child = {}) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDERR_FILENO);
      if (in_child) in_child();
      std::vector<char*> argv;
      static char bin[] = ANVIL_NATIVE_BIN;
      argv.push_back(bin);
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(bin, argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    reader_ = std::thread([this, fd = fds[0]] {
      char buf[4096];
      for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        std::lock_guard lk(m_);
        err_.append(buf, static_cast<std::size_t>(n));
        cv_.notify_all();
      }
      ::close(fd);
      std::lock_guard lk(m_);
      eof_ = true;
      cv_.notify_all();
    });
  }

  ~NativeProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      int status;
      ::waitpid(pid_, &status, 0);
    }
    // Workers die with the master (PR_SET_PDEATHSIG), closing the pipe.
    if (reader_.joinable()) reader_.join();
  }

  pid_t pid() const { return pid_; }

  // Waits until stderr matches re; returns the first match's group 1.
  std::string wait_for(const std::string& pattern, std::chrono::milliseconds timeout = 10s,
                       std::size_t nth = 0) {
    const std::regex re(pattern);
    std::unique_lock lk(m_);
    std::string found;
    cv_.wait_for(lk, timeout, [&] {
      std::size_t i = 0;
      for (auto it = std::sregex_iterator(err_.begin(), err_.end(), re);
           it != std::sregex_iterator(); ++it, ++i) {
        if (i == nth) {
          found = (*it)[1];
          return true;
        }
      }
      return eof_;
    });
    return found;
  }

  std::uint16_t port() {
    const std::string p = wait_for(R"(anvil: listening on http://127\.0\.0\.1:(\d+))");
    return p.empty() ? 0 : static_cast<std::uint16_t>(std::stoi(p));
  }

  // Exit code, -1 on a timeout, 128+N for a signal.
  int wait_exit(std::chrono::milliseconds timeout) {
    const auto limit = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < limit) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }

  std::string stderr_text() {
    std::lock_guard lk(m_);
    return err_;
  }

  // stderr once every writer has closed it (bounded): after wait_exit the
  // reader thread may not have read the last bytes yet.
  std::string stderr_at_eof(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lk(m_);
    cv_.wait_for(lk, timeout, [&] { return eof_; });
    return err_;
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  std::thread reader_;
  std::mutex m_;
  std::condition_variable cv_;
  std::string err_;
  bool eof_ = false;
};

// For NativeProcess's in_child: RLIMIT_NOFILE soft and hard limits.
std::function<void()> limit_files(rlim_t soft, rlim_t hard) {
  return [soft, hard] {
    const rlimit lim{soft, hard};
    ::setrlimit(RLIMIT_NOFILE, &lim);
  };
}

// A field of /proc/PID/status in KiB (VmRSS, VmHWM), 0 if absent.
long status_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return 0;
}

// The pid of the worker that answered GET /?ms=N on a new connection.
std::string served_by(std::uint16_t port, int ms = 0) {
  Client c = Client::tcp(port);
  if (!c.send("GET /?ms=" + std::to_string(ms) +
              " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
    return {};
  auto r = c.read();
  if (!r) return {};
  const auto at = r->body.find("pid ");
  return at == std::string::npos ? "" : r->body.substr(at + 4, r->body.size() - at - 5);
}

TEST(Process, BadArgumentsPrintOneLineAndExit2) {
  const std::vector<std::vector<std::string>> cases = {
      {"--workers", "x", "hello"},
      {"--bogus", "hello"},
      {"nothing"},
      {"hello", "echo"},
      {"--worker-timeout", "x", "hello"},
      {"--worker-timeout", "-1", "hello"},
      {"--max-requests", "-1", "hello"},
      {"--max-requests", "2.5", "hello"},
      {"--max-requests-jitter", "x", "hello"},
      {"--bind", "fd://x", "hello"},
      {"--bind", "fd://999", "hello"},  // not open
      {"--bind", "fd://2", "hello"},    // stderr, a pipe: not a socket
      {"--access-log-format", "%(nope)s", "hello"},
      {"--access-log-format", "%(h", "hello"},
      {"--access-log-format", "50%", "hello"},
      {"--error-log", "", "hello"},
  };
  for (const auto& args : cases) {
    NativeProcess p(args);
    EXPECT_EQ(p.wait_exit(5s), 2) << args[0] << " " << args[1];
    const std::string err = p.stderr_at_eof();
    EXPECT_EQ(err.rfind("anvil-native: ", 0), 0u) << err;
    EXPECT_EQ(err.find('\n'), err.size() - 1) << err;
    if (args[0].starts_with("--")) {
      EXPECT_NE(err.find(args[0]), std::string::npos) << err;
    }
  }
}

// Every worker opens the access log; a path that cannot be opened must stop
// the start with one error, not fork a worker that dies again and again.
TEST(Process, UnwritableAccessLogIsOneErrorAtStart) {
  NativeProcess p(
      {"--bind", "127.0.0.1:0", "--access-log", "/nonexistent-dir/access.log", "hello"});
  EXPECT_EQ(p.wait_exit(5s), 1);
  const std::string err = p.stderr_at_eof();
  EXPECT_EQ(err.rfind("anvil-native: open access log /nonexistent-dir/access.log", 0), 0u) << err;
  EXPECT_EQ(err.find('\n'), err.size() - 1) << err;
}

TEST(Process, AcceptSurvivesRunningOutOfDescriptors) {
#if defined(__SANITIZE_ADDRESS__)
  // UBSan's vptr check reads memory through a pipe; with no descriptor left
  // it reports any virtual call as "invalid vptr" and aborts the server.
  GTEST_SKIP() << "sanitizer runtimes need free descriptors themselves";
#endif
  // An explicit limit above the descriptors (the default one is derived from
  // RLIMIT_NOFILE and would shed before running out).
  NativeProcess p({"--bind", "127.0.0.1:0", "--workers", "0", "--max-connections", "1000", "hello"},
                  limit_files(32, 32));
  const std::uint16_t port = p.port();
  ASSERT_NE(port, 0);
  // Hold more connections than the server has descriptors for (each sends a
  // byte so that TCP_DEFER_ACCEPT lets it through).
  std::vector<Client> held;
  for (int i = 0; i < 48; ++i) {
    held.push_back(Client::tcp(port));
    ASSERT_TRUE(held.back().send("G"));
  }
  EXPECT_FALSE(p.wait_for("(anvil: accept: Too many open files)", 5s).empty());
  held.clear();  // descriptors come back; accepting must resume on its own
  Client c = Client::tcp(port);
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "Hello, World!");
}

TEST(Process, TwoWorkersBothServe) {
  NativeProcess p({"--bind", "127.0.0.1:0", "--workers", "2", "sleep"});
  const std::uint16_t port = p.port();
  ASSERT_NE(port, 0);
  const std::string first = p.wait_for(R"(anvil: worker (\d+) started)", 10s, 0);
  const std::string second = p.wait_for(R"(anvil: worker (\d+) started)", 10s, 1);
  ASSERT_FALSE(second.empty());
  std::set<std::string> seen;
  for (int i = 0; i < 400 && seen.size() < 2; ++i) seen.insert(served_by(port));
  EXPECT_EQ(seen, (std::set<std::string>{first, second}));
}

TEST(Process, KilledWorkerIsReplacedAndServingWithin2Seconds) {
  NativeProcess p({"--bind", "127.0.0.1:0", "--workers", "1", "sleep"});
  const std::uint16_t port = p.port();
  ASSERT_NE(port, 0);
  const std::string old = served_by(port);
  ASSERT_FALSE(old.empty());
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(std::stoi(old), SIGKILL), 0);
  // The connection waits in the master's listen backlog for the new worker.
  const std::string now = served_by(port);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_FALSE(now.empty());
  EXPECT_NE(now, old);
}

TEST(Process, SigtermLetsTheRequestInFlightFinishThenExits0) {
  NativeProcess p({"--bind", "127.0.0.1:0", "--workers", "1", "sleep"});
  const std::uint16_t port = p.port();
  ASSERT_NE(port, 0);
  Client c = Client::tcp(port);
  ASSERT_TRUE(c.send("GET /?ms=0 HTTP/1.1\r\nHost: t\r\n\r\n"));  // accepted for sure
  ASSERT_TRUE(c.read());
  ASSERT_TRUE(c.send("GET /?ms=1500 HTTP/1.1\r\nHost: t\r\n\r\n"));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(p.pid(), SIGTERM), 0);
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.rfind("slept 1500 ms", 0), 0u) << r->body;
  EXPECT_EQ(p.wait_exit(10s), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 1400ms);
}

// 0 when a TCP connection to 127.0.0.1:port is made, else connect's errno.
int connect_errno(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
  const int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

// While the workers drain, the port refuses new connections (no process keeps
// the listener open), as gunicorn's does: a client or load balancer fails over
// at once instead of waiting in a backlog nobody accepts from.
TEST(Process, SigtermRefusesNewConnectionsWhileRequestsDrain) {
  NativeProcess p({"--bind", "127.0.0.1:0", "--workers", "2", "sleep"});
  const std::uint16_t port = p.port();
  ASSERT_NE(port, 0);
  Client c = Client::tcp(port);
  ASSERT_TRUE(c.send("GET /?ms=0 HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(c.read());
  ASSERT_TRUE(c.send("GET /?ms=2000 HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_EQ(connect_errno(port), 0);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(p.pid(), SIGTERM), 0);
  int err = 0;
  for (int i = 0; i < 100 && err == 0; ++i) {  // bounded: 1 s
    err = connect_errno(port);
    if (err == 0) std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(err, ECONNREFUSED);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);  // before the drain ended
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.rfind("slept 2000 ms", 0), 0u) << r->body;
  EXPECT_EQ(p.wait_exit(10s), 0);
}

TEST(Process, SigquitStopsAtOnce) {
  NativeProcess p({"--bind", "127.0.0.1:0", "sleep"});
  const std::uint16_t port = p.port();
  ASSERT_NE(port, 0);
  Client c = Client::tcp(port);
  ASSERT_TRUE(c.send("GET /?ms=0 HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(c.read());
  ASSERT_TRUE(c.send("GET /?ms=20000 HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_EQ(::kill(p.pid(), SIGQUIT), 0);
  EXPECT_EQ(p.wait_exit(5s), 0);
}

TEST(Process, SighupReplacesTheWorkers) {
  NativeProcess p({"--bind", "127.0.0.1:0", "sleep"});
  const std::uint16_t port = p.port();
  ASSERT_NE(port, 0);
  const std::string old = served_by(port);
  ASSERT_FALSE(old.empty());
  ASSERT_EQ(::kill(p.pid(), SIGHUP), 0);
  const std::string fresh = p.wait_for(R"(anvil: worker (\d+) started)", 10s, 1);
  ASSERT_FALSE(fresh.empty());
  EXPECT_NE(fresh, old);
  std::string now;
  for (int i = 0; i < 200 && now != fresh; ++i) now = served_by(port);
  EXPECT_EQ(now, fresh);
}

// Issue 8 §2: a client that declares a huge body and pushes it cannot make
// the worker hold it: the worker's peak RSS stays near where it was (the
// body goes to a spool file; before, the buffer grew to the declared length).
TEST(Process, AHugeDeclaredBodyDoesNotGrowTheWorker) {
  NativeProcess p(
      {"--bind", "127.0.0.1:0", "--workers", "0", "--max-body-size", "1000000000", "echo"});
  const std::uint16_t port = p.port();
  ASSERT_NE(port, 0);
  const long before = status_kib(p.pid(), "VmHWM");
  ASSERT_GT(before, 0);
  Client c = Client::tcp(port);
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000\r\n\r\n"));
  const std::string block(1 << 20, 'x');
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(c.send(block)) << i;  // 64 MiB
  // Every byte sent is in (the server's reads keep up, or send would block).
  const long after = status_kib(p.pid(), "VmHWM");
  EXPECT_LT(after - before, 16 * 1024) << before << " KiB before, " << after << " KiB after";
}

TEST(Process, StatsArePrintedOnExit) {
  NativeProcess p({"--bind", "127.0.0.1:0", "--stats", "hello"});
  const std::uint16_t port = p.port();
  ASSERT_NE(port, 0);
  Client c = Client::tcp(port);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(c.read());
  }
  c.close();
  ASSERT_EQ(::kill(p.pid(), SIGTERM), 0);
  EXPECT_EQ(p.wait_exit(10s), 0);
  EXPECT_FALSE(p.wait_for(R"(anvil: stats pid \d+: (requests 2; read [0-9.]+ us))").empty())
      << p.stderr_text();
}

// A worker whose loop makes no progress (here: stopped) is killed and replaced
// by the master; the other worker serves on.
TEST(Process, WorkerTimeoutKillsAndReplacesAStuckWorker) {
  NativeProcess p({"--bind", "127.0.0.1:0", "--workers", "2", "--worker-timeout", "0.5", "sleep"});
  const std::uint16_t port = p.port();
  ASSERT_NE(port, 0);
  const std::string first = p.wait_for(R"(anvil: worker (\d+) started)", 10s, 0);
  const std::string second = p.wait_for(R"(anvil: worker (\d+) started)", 10s, 1);
  ASSERT_FALSE(second.empty());
  ASSERT_EQ(::kill(std::stoi(first), SIGSTOP), 0);
  EXPECT_FALSE(
      p.wait_for(
           "(anvil: worker " + first +
               R"( timed out: its loop made no progress for [0-9.]+ s \(--worker-timeout 0.5\); killing it))",
           10s)
          .empty())
      << p.stderr_text();
  const std::string third = p.wait_for(R"(anvil: worker (\d+) started)", 10s, 2);
  ASSERT_FALSE(third.empty()) << p.stderr_text();
  std::set<std::string> seen;
  for (int i = 0; i < 400 && seen.size() < 2; ++i) seen.insert(served_by(port));
  EXPECT_EQ(seen, (std::set<std::string>{second, third}));
  EXPECT_EQ(p.stderr_text().find("died"), std::string::npos) << "one line per kill";
}

// Every request is answered while the worker is replaced after each 3 (it
// serves on until its replacement is ready, so maybe a few more).
TEST(Process, MaxRequestsReplacesTheWorkerGracefully) {
  NativeProcess p({"--bind", "127.0.0.1:0", "--workers", "1", "--max-requests", "3", "sleep"});
  const std::uint16_t port = p.port();
  ASSERT_NE(port, 0);
  std::set<std::string> pids;
  const auto limit = std::chrono::steady_clock::now() + 20s;
  for (int i = 0; i < 5000 && pids.size() < 3 && std::chrono::steady_clock::now() < limit; ++i) {
    const std::string pid = served_by(port);
    ASSERT_FALSE(pid.empty()) << "request " << i << " lost; " << p.stderr_text();
    pids.insert(pid);
  }
  EXPECT_EQ(pids.size(), 3u) << p.stderr_text();
  EXPECT_FALSE(
      p.wait_for(R"((anvil: worker \d+ reached --max-requests; replacing it))", 10s, 1).empty());
  EXPECT_EQ(p.stderr_text().find("died"), std::string::npos) << p.stderr_text();
}

TEST(Process, RaisesTheOpenFileSoftLimitToTheHardLimit) {
  rlimit mine{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &mine), 0);
  if (mine.rlim_max <= 64) GTEST_SKIP() << "the hard limit leaves nothing to raise";
  NativeProcess p({"--bind", "127.0.0.1:0", "--log-level", "debug", "hello"},
                  limit_files(64, mine.rlim_max));
  ASSERT_NE(p.port(), 0);
  const std::string worker = p.wait_for(R"(anvil: worker (\d+) started)");
  ASSERT_FALSE(worker.empty());
  EXPECT_FALSE(p.wait_for(R"((open file limit \(RLIMIT_NOFILE\) raised from 64 to \d+))").empty());
  for (const std::string& pid : {std::to_string(p.pid()), worker}) {
    std::ifstream in("/proc/" + pid + "/limits");
    std::string line;
    while (std::getline(in, line) && !line.starts_with("Max open files")) {
    }
    std::istringstream fields(line.substr(std::string("Max open files").size()));
    unsigned long long soft = 0, hard = 0;
    fields >> soft >> hard;
    EXPECT_EQ(soft, static_cast<unsigned long long>(mine.rlim_max)) << pid << ": " << line;
    EXPECT_EQ(hard, static_cast<unsigned long long>(mine.rlim_max)) << pid << ": " << line;
  }
}

// A listening TCP socket on 127.0.0.1, port 0; inherited across exec.
int inheritable_listener(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd, 64) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return -1;
  }
  port = ntohs(a.sin_port);
  return fd;
}

TEST(Process, BindFdServesAnInheritedListener) {
  std::uint16_t port = 0;
  const int fd = inheritable_listener(port);
  ASSERT_GE(fd, 0);
  NativeProcess p({"--bind", "fd://" + std::to_string(fd), "sleep"});
  EXPECT_EQ(p.port(), port);
  EXPECT_NE(p.stderr_text().find("(fd " + std::to_string(fd) + ")"), std::string::npos);
  EXPECT_FALSE(served_by(port).empty());
  ::close(fd);
}

TEST(Process, SystemdSocketActivation) {
  std::uint16_t port = 0;
  const int fd = inheritable_listener(port);
  ASSERT_GE(fd, 0);
  NativeProcess p({"sleep"}, [fd] {
    if (fd != 3) {
      ::dup2(fd, 3);
      ::close(fd);
    }
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    ::setenv("LISTEN_FDS", "1", 1);
  });
  EXPECT_EQ(p.port(), port) << p.stderr_text();
  EXPECT_FALSE(served_by(port).empty());
  ::close(fd);
}

// A signal as soon as the "listening on" line is out (workers still
// starting, their "ready" signals in flight) is handled, and nothing left
// pending ends the master on its way out.
TEST(Process, SigtermRightAfterListeningExits0) {
  for (int i = 0; i < 5; ++i) {
    NativeProcess p({"--bind", "127.0.0.1:0", "--workers", "2", "hello"});
    ASSERT_NE(p.port(), 0);
    ASSERT_EQ(::kill(p.pid(), SIGTERM), 0);
    EXPECT_EQ(p.wait_exit(10s), 0) << "run " << i << ": " << p.stderr_at_eof();
  }
}

// LISTEN_PID names another process: the sockets are not ours (sd_listen_fds).
TEST(Process, SystemdSocketsForAnotherPidAreIgnored) {
  NativeProcess p({"--bind", "127.0.0.1:0", "hello"}, [] {
    ::setenv("LISTEN_PID", "1", 1);
    ::setenv("LISTEN_FDS", "1", 1);
  });
  ASSERT_NE(p.port(), 0);
  ASSERT_EQ(::kill(p.pid(), SIGTERM), 0);
  EXPECT_EQ(p.wait_exit(10s), 0);
  EXPECT_EQ(p.stderr_at_eof().find("(fd "), std::string::npos) << p.stderr_text();
}

// Polls path (bounded) until it has a line matching pattern; returns group 1.
std::string wait_in_file(const std::string& path, const std::string& pattern) {
  const std::regex re(pattern);
  for (int i = 0; i < 500; ++i) {
    std::ifstream in(path);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::smatch m;
    if (std::regex_search(text, m, re)) return m[1];
    std::this_thread::sleep_for(20ms);
  }
  return {};
}

TEST(Process, ErrorLogTakesTheServersLines) {
  const std::string path = "/tmp/anvil-error-" + std::to_string(::getpid()) + ".log";
  ::unlink(path.c_str());
  NativeProcess p({"--bind", "127.0.0.1:0", "--error-log", path, "hello"});
  const std::string port = wait_in_file(path, R"(anvil: listening on http://127\.0\.0\.1:(\d+))");
  ASSERT_FALSE(port.empty());
  EXPECT_FALSE(wait_in_file(path, R"(anvil: worker (\d+) started)").empty());
  ASSERT_EQ(::kill(p.pid(), SIGTERM), 0);
  EXPECT_EQ(p.wait_exit(10s), 0);
  EXPECT_EQ(p.stderr_at_eof(), "");
  ::unlink(path.c_str());
}

TEST(Process, UnwritableErrorLogIsOneErrorAtStart) {
  NativeProcess p({"--bind", "127.0.0.1:0", "--error-log", "/nonexistent-dir/error.log", "hello"});
  EXPECT_EQ(p.wait_exit(5s), 1);
  const std::string err = p.stderr_at_eof();
  EXPECT_EQ(err.rfind("anvil-native: open error log /nonexistent-dir/error.log", 0), 0u) << err;
  EXPECT_EQ(err.find('\n'), err.size() - 1) << err;
}

// SIGPIPE's disposition belongs to the process: the first Server ignores it,
// a later one does not set it again (an embedder's own choice stands), and
// both serve.
void count_sigpipe(int) {}

TEST(Process, SigpipeIsIgnoredOncePerProcess) {
  ServerConfig config;
  config.binds = {*parse_bind("127.0.0.1:0")};
  Server first(config, make_native_handler("hello"));
  struct sigaction now {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &now), 0);
  EXPECT_EQ(now.sa_handler, SIG_IGN);
  struct sigaction mine {};
  mine.sa_handler = count_sigpipe;
  ASSERT_EQ(::sigaction(SIGPIPE, &mine, nullptr), 0);
  Server second(config, make_native_handler("hello"));
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &now), 0);
  EXPECT_EQ(now.sa_handler, count_sigpipe);
  std::thread a([&] { first.run(); });
  std::thread b([&] { second.run(); });
  for (Server* s : {&first, &second}) {
    Client c = Client::tcp(s->addresses()[0].bind.port);
    ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "Hello, World!");
  }
  first.stop(false);
  second.stop(false);
  a.join();
  b.join();
  mine.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &mine, nullptr);
}

}  // namespace
}  // namespace anvil::server::test

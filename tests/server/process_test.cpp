// The process model through the anvil-native binary: workers, restarts,
// signals, exit codes. Readiness is the "listening on" line, never a sleep.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "client.hpp"

namespace anvil::server::test {
namespace {

using namespace std::chrono_literals;

class NativeProcess {
 public:
  // max_files > 0: RLIMIT_NOFILE for the server (to run it out of descriptors).
  explicit NativeProcess(std::vector<std::string> args, rlim_t max_files = 0) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDERR_FILENO);
      if (max_files > 0) {
        const rlimit lim{max_files, max_files};
        ::setrlimit(RLIMIT_NOFILE, &lim);
      }
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
  for (std::vector<std::string> args : {std::vector<std::string>{"--workers", "x", "hello"},
                                        {"--bogus", "hello"},
                                        {"nothing"},
                                        {"hello", "echo"}}) {
    NativeProcess p(args);
    EXPECT_EQ(p.wait_exit(5s), 2) << args[0];
    const std::string err = p.stderr_at_eof();
    EXPECT_EQ(err.rfind("anvil-native: ", 0), 0u) << err;
    EXPECT_EQ(err.find('\n'), err.size() - 1) << err;
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
  NativeProcess p({"--bind", "127.0.0.1:0", "--workers", "0", "hello"}, 32);
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

}  // namespace
}  // namespace anvil::server::test

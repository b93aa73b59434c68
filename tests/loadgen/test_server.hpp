// A deliberately awkward HTTP/1.1 server for hammer's tests: plain blocking
// sockets, one thread per connection, on 127.0.0.1 port 0. It can split each
// response at random byte boundaries (down to one byte per write), frame
// bodies by Content-Length, chunked or end of connection, reset chosen
// requests, stall chosen requests, answer with any status or raw bytes.
// It counts every complete request it reads, so tests can compare.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace anvil::loadgen::testing {

enum class Framing { content_length, chunked, until_close };

struct ServerOptions {
  int status = 200;
  std::string body = "Hello, World!\n";
  Framing framing = Framing::content_length;
  bool split = false;  // random writes of 1..16 bytes, with pauses
  unsigned seed = 1;
  std::uint64_t reset_every = 0;  // request k (1-based) with k % reset_every == 0: RST, no answer
  std::uint64_t stall_every = 0;  // request k with k % stall_every == 0 waits `stall` first
  std::vector<std::uint64_t> stall_at;  // ... and these requests k too
  std::chrono::milliseconds stall{0};
  bool close_after = false;                  // "Connection: close" and close after every response
  std::optional<std::string> raw_response;   // if set: sent verbatim instead of a built response
  bool close_after_raw = false;              // close right after sending raw_response
  std::chrono::milliseconds close_delay{0};  // close_after: wait this long before closing
  int backlog = 1024;
  bool accept = true;  // false: listen but never accept (connect timeouts)
};

class TestServer {
 public:
  explicit TestServer(ServerOptions options);
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/") const;
  std::uint64_t requests() const { return requests_.load(); }
  std::uint64_t connections() const { return connections_.load(); }
  std::uint64_t head_requests() const { return heads_.load(); }
  // Connections the client closed before this server closed them.
  std::uint64_t client_closes() const { return client_closes_.load(); }
  int listen_fd() const { return listen_fd_; }

 private:
  void accept_loop();
  void serve(int fd, unsigned seed);
  bool send_response(int fd, const std::string& bytes, unsigned& rng);
  bool wait_stall();
  std::string build_response(bool head) const;

  ServerOptions opt_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> connections_{0};
  std::atomic<std::uint64_t> heads_{0};
  std::atomic<std::uint64_t> client_closes_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
};

// A port on 127.0.0.1 that nothing listens on (bound once, then closed).
std::uint16_t closed_port();

}  // namespace anvil::loadgen::testing

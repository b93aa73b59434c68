#include "test_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string_view>

namespace anvil::loadgen::testing {
namespace {

constexpr int kPollMs = 20;  // how often blocked threads look at stop_

unsigned next_rand(unsigned& s) {
  s = s * 1103515245u + 12345u;
  return (s >> 16) & 0x7fff;
}

std::size_t content_length_of(std::string_view head) {
  // Enough for hammer's own requests: "Content-Length: N", any case.
  for (std::size_t pos = 0; (pos = head.find("\r\n", pos)) != std::string_view::npos;) {
    pos += 2;
    auto line = head.substr(pos, head.find("\r\n", pos) - pos);
    if (line.size() > 15 && strncasecmp(line.data(), "content-length:", 15) == 0)
      return std::strtoul(std::string(line.substr(15)).c_str(), nullptr, 10);
  }
  return 0;
}

}  // namespace

TestServer::TestServer(ServerOptions options) : opt_(std::move(options)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, opt_.backlog) != 0)
    throw std::runtime_error("bind/listen");
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  if (opt_.accept) acceptor_ = std::thread([this] { accept_loop(); });
}

TestServer::~TestServer() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mutex_);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
  ::close(listen_fd_);
}

std::string TestServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void TestServer::accept_loop() {
  unsigned seed = opt_.seed;
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, kPollMs) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    seed = seed * 2654435761u + 1;
    std::lock_guard lock(mutex_);
    workers_.emplace_back([this, fd, s = seed] { serve(fd, s); });
  }
}

std::string TestServer::build_response(bool head) const {
  std::string r = "HTTP/1.1 " + std::to_string(opt_.status) + " Test\r\n";
  const bool close = opt_.close_after || opt_.framing == Framing::until_close;
  if (close) r += "Connection: close\r\n";
  std::string body;
  switch (opt_.framing) {
    case Framing::content_length:
      r += "Content-Length: " + std::to_string(opt_.body.size()) + "\r\n";
      body = opt_.body;
      break;
    case Framing::chunked: {
      r += "Transfer-Encoding: chunked\r\n";
      // Two chunks (when the body allows), an extension and a trailer: every path of the decoder.
      const std::size_t half = opt_.body.size() / 2;
      char size[32];
      if (half > 0) {
        std::snprintf(size, sizeof size, "%zx;ext=1\r\n", half);
        body += size + opt_.body.substr(0, half) + "\r\n";
      }
      std::snprintf(size, sizeof size, "%zX\r\n", opt_.body.size() - half);
      body += size + opt_.body.substr(half) + "\r\n0\r\nX-Trailer: yes\r\n\r\n";
      break;
    }
    case Framing::until_close:
      body = opt_.body;
      break;
  }
  r += "\r\n";
  if (!head) r += body;
  return r;
}

bool TestServer::send_response(int fd, const std::string& bytes, unsigned& rng) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    std::size_t n = bytes.size() - off;
    if (opt_.split) {
      n = std::min<std::size_t>(n, 1 + next_rand(rng) % 16);
      if (next_rand(rng) % 8 == 0) ::usleep(50);  // let the client read a fragment
    }
    const ssize_t w = ::send(fd, bytes.data() + off, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    off += static_cast<std::size_t>(w);
  }
  return true;
}

bool TestServer::wait_stall() {
  const auto until = std::chrono::steady_clock::now() + opt_.stall;
  while (!stop_ && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return !stop_;
}

void TestServer::serve(int fd, unsigned rng) {
  std::string in;
  char buf[4096];
  bool open = true;
  while (open && !stop_) {
    // One complete request (head + Content-Length body) at a time; pipelined
    // requests stay in `in` for the next round.
    const auto end = in.find("\r\n\r\n");
    const std::size_t need =
        end == std::string::npos ? 0 : end + 4 + content_length_of(in.substr(0, end + 2));
    if (end == std::string::npos || in.size() < need) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, kPollMs) <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n == 0) ++client_closes_;
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    const bool head = in.starts_with("HEAD ");
    in.erase(0, need);
    const std::uint64_t k = ++requests_;
    if (head) ++heads_;
    if (opt_.reset_every && k % opt_.reset_every == 0) {
      // SO_LINGER with a zero timeout: close() sends RST (RFC 9293 §3.10.7.1 "abort").
      linger l{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      break;
    }
    const bool stall =
        (opt_.stall_every && k % opt_.stall_every == 0) ||
        std::find(opt_.stall_at.begin(), opt_.stall_at.end(), k) != opt_.stall_at.end();
    if (stall && !wait_stall()) break;
    if (opt_.raw_response) {
      open = send_response(fd, *opt_.raw_response, rng) && !opt_.close_after_raw;
      continue;
    }
    open = send_response(fd, build_response(head), rng) && !opt_.close_after &&
           opt_.framing != Framing::until_close;
    if (!open && opt_.close_delay.count() > 0) {
      pollfd p{fd, POLLIN, 0};  // did the client close before we did?
      if (::poll(&p, 1, static_cast<int>(opt_.close_delay.count())) > 0 &&
          ::recv(fd, buf, 1, 0) == 0)
        ++client_closes_;
    }
  }
  ::close(fd);
}

std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace anvil::loadgen::testing

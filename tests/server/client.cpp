#include "client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace anvil::server::test {
namespace {

constexpr int kReceiveTimeoutSeconds = 5;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
  }
  return true;
}

void set_timeout(int fd) {
  timeval tv{kReceiveTimeoutSeconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

std::string Response::field(std::string_view name) const {
  for (const auto& [n, v] : fields) {
    if (iequals(n, name)) return v;
  }
  return {};
}

bool Response::has(std::string_view name) const {
  for (const auto& [n, v] : fields) {
    if (iequals(n, name)) return true;
  }
  return false;
}

Client::Client(int fd)
    : fd_(fd), parser_(parser::make_parser(parser::ParserKind::fast, parser::Mode::response)) {
  if (fd_ >= 0) set_timeout(fd_);
}

Client::Client(Client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      buf_(std::move(other.buf_)),
      parser_(std::move(other.parser_)) {}

Client::~Client() { close(); }

void Client::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Client Client::tcp(std::uint16_t port, const std::string& host) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  if (host.find(':') != std::string::npos) {
    family = AF_INET6;
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    ::inet_pton(AF_INET6, host.c_str(), &a->sin6_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &a->sin_addr);
    len = sizeof *a;
  }
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    ::close(fd);
    return Client(-1);
  }
  return Client(fd);
}

Client Client::unix_socket(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return Client(-1);
  }
  return Client(fd);
}

bool Client::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::optional<Response> Client::read(bool head_request) {
  parser_->set_head_response(head_request);
  Response r;
  for (int rounds = 0; rounds < 100000; ++rounds) {
    const parser::Step st = parser_->next(buf_);
    switch (st.event) {
      case parser::Event::head: {
        const auto& m = parser_->message();
        r.status = m.status;
        r.keep_alive = m.keep_alive;
        for (const auto& f : m.fields) r.fields.emplace_back(f.name, f.value);
        break;
      }
      case parser::Event::body:
        r.body.append(parser_->body());
        break;
      case parser::Event::done:
        buf_.erase(0, st.consumed);
        return r;
      case parser::Event::error:
      case parser::Event::end:
        return std::nullopt;
      case parser::Event::need_more: {
        buf_.erase(0, st.consumed);
        char tmp[65536];
        const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n > 0) {
          buf_.append(tmp, static_cast<std::size_t>(n));
          continue;
        }
        if (n == 0) {  // the body may run until the close
          const parser::Step fin = parser_->finish(buf_);
          if (fin.event == parser::Event::done) {
            if (r.status == 0) return std::nullopt;
            buf_.clear();
            return r;
          }
        }
        return std::nullopt;
      }
    }
    buf_.erase(0, st.consumed);
  }
  return std::nullopt;
}

bool Client::closed_by_peer() {
  char tmp[4096];
  for (int i = 0; i < 1000; ++i) {
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
  return false;
}

bool Client::readable_within(int ms) {
  if (!buf_.empty()) return true;
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, ms) > 0;
}

}  // namespace anvil::server::test

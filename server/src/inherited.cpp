// Listening sockets anvil did not open itself: `--bind fd://N` (a parent
// process made it and left it open across exec) and systemd's socket
// activation (LISTEN_FDS). They are checked, made non-blocking and
// close-on-exec, and described by their own address.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>

#include "impl.hpp"

namespace anvil::server {
namespace {

// sd_listen_fds(3): the first passed descriptor.
constexpr int kSystemdFirstFd = 3;

std::optional<int> socket_int(int fd, int name) {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, name, &value, &len) != 0) return std::nullopt;
  return value;
}

[[noreturn]] void throw_invalid(const std::string& what) {
  throw std::system_error(std::make_error_code(std::errc::invalid_argument), what);
}

std::optional<int> parse_count(const char* text) {
  if (text == nullptr) return std::nullopt;
  const std::string_view s(text);
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty() || v < 0) return std::nullopt;
  return v;
}

}  // namespace

std::optional<std::string> check_listening_socket(int fd) {
  const std::string name = "fd " + std::to_string(fd);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) return name + " is not open";
  if (!S_ISSOCK(st.st_mode)) return name + " is not a socket";
  const auto domain = socket_int(fd, SO_DOMAIN);
  if (!domain || (*domain != AF_INET && *domain != AF_INET6 && *domain != AF_UNIX)) {
    return name + " is not a TCP or unix socket";
  }
  if (socket_int(fd, SO_TYPE) != SOCK_STREAM) return name + " is not a stream socket";
  if (socket_int(fd, SO_ACCEPTCONN) != 1) return name + " is not listening";
  return std::nullopt;
}

int adopt_listener(Bind& bind) {
  const std::string what = "bind " + bind.to_string();
  if (auto e = check_listening_socket(bind.fd)) throw_invalid(what + ": " + *e);
  const int flags = ::fcntl(bind.fd, F_GETFL);
  if (flags < 0 || ::fcntl(bind.fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
      ::fcntl(bind.fd, F_SETFD, FD_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), what);
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(bind.fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    throw std::system_error(errno, std::generic_category(), what);
  }
  if (ss.ss_family == AF_UNIX) {
    const auto* a = reinterpret_cast<const sockaddr_un*>(&ss);
    const std::size_t n =
        len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    bind.kind = Bind::Kind::unix_socket;
    if (n > 0 && a->sun_path[0] == '\0') {
      bind.path.assign(1, '@');  // abstract (unix(7))
      bind.path.append(a->sun_path + 1, n - 1);
    } else {
      bind.path.assign(a->sun_path, ::strnlen(a->sun_path, n));
    }
    return bind.fd;
  }
  char buf[INET6_ADDRSTRLEN] = {};
  bind.kind = Bind::Kind::tcp;
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    bind.port = ntohs(a->sin6_port);
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    bind.port = ntohs(a->sin_port);
  }
  bind.host = buf;
  // Accepted sockets inherit TCP_NODELAY from the listener (see
  // open_listener): set it here too, or responses would wait for Nagle.
  const int one = 1;
  if (::setsockopt(bind.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
    throw std::system_error(errno, std::generic_category(), what);
  }
  return bind.fd;
}

std::vector<Bind> take_systemd_listeners() {
  const std::optional<int> pid = parse_count(std::getenv("LISTEN_PID"));
  const char* fds_text = std::getenv("LISTEN_FDS");
  const std::optional<int> count = parse_count(fds_text);
  const bool ours = pid && *pid == static_cast<int>(::getpid());
  // sd_listen_fds(unset_environment=1) unsets them whether they were ours or not.
  for (const char* name : {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"}) ::unsetenv(name);
  if (!ours) return {};
  if (!count) throw_invalid(std::string("LISTEN_FDS: not a number: ") + (fds_text ? fds_text : ""));
  std::vector<Bind> binds;
  for (int fd = kSystemdFirstFd; fd < kSystemdFirstFd + *count; ++fd) {
    if (auto e = check_listening_socket(fd)) throw_invalid("LISTEN_FDS: " + *e);
    Bind b;
    b.kind = Bind::Kind::fd;
    b.fd = fd;
    binds.push_back(std::move(b));
  }
  return binds;
}

}  // namespace anvil::server

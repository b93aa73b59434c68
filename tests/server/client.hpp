// Test client for the server tests: a blocking socket with a receive timeout,
// and responses parsed with anvil's own parser in response mode.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "anvil/parser/parser.hpp"

namespace anvil::server::test {

struct Response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string body;
  bool keep_alive = false;
  // First value of a field (case-insensitive name), "" if absent.
  std::string field(std::string_view name) const;
  bool has(std::string_view name) const;
};

class Client {
 public:
  // Connects to 127.0.0.1 / ::1 (host) or a unix socket path; fd() < 0 on failure.
  static Client tcp(std::uint16_t port, const std::string& host = "127.0.0.1");
  static Client unix_socket(const std::string& path);
  Client(Client&& other) noexcept;
  Client& operator=(Client&&) = delete;
  ~Client();

  int fd() const { return fd_; }
  bool send(std::string_view bytes);
  // One response; nullopt on timeout, EOF before a response, or a parse error.
  std::optional<Response> read(bool head_request = false);
  // True when the server closes the connection (EOF or reset) within the
  // receive timeout, with no more response bytes.
  bool closed_by_peer();
  // Bytes received but not yet taken by read().
  std::string_view unread() const { return buf_; }
  // Waits up to ms for bytes or EOF to become readable.
  bool readable_within(int ms);
  void close();

 private:
  explicit Client(int fd);
  int fd_ = -1;
  std::string buf_;
  std::unique_ptr<parser::Parser> parser_;
};

}  // namespace anvil::server::test

// Shared by the server tests: a server on its own thread, on port 0.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "anvil/server/server.hpp"
#include "client.hpp"

// gtest prints a parameter it cannot format as raw bytes ("1-byte object <00>")
// in --gtest_list_tests, which ctest shows beside every test name: print the
// parser's name instead. Found by ADL, so it lives in ParserKind's namespace.
namespace anvil::parser {
inline void PrintTo(ParserKind kind, std::ostream* os) { *os << name_of(kind); }
// The parser's name as a gtest name part, which may not hold "-" ("http_parser").
inline std::string test_name(ParserKind kind) {
  std::string name(name_of(kind));
  for (char& c : name) c = c == '-' ? '_' : c;
  return name;
}
}  // namespace anvil::parser

namespace anvil::server::test {

inline constexpr std::string_view kGet = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

// A server running on its own thread; stopped and joined on destruction.
class Running {
 public:
  Running(ServerConfig config, std::shared_ptr<Handler> handler)
      : server_(config, std::move(handler)), thread_([this] { server_.run(); }) {}
  ~Running() {
    server_.stop(false);
    thread_.join();
  }
  std::uint16_t port(std::size_t i = 0) const { return server_.addresses().at(i).bind.port; }
  Server& server() { return server_; }
  Client client() const { return Client::tcp(port()); }

 private:
  Server server_;
  std::thread thread_;
};

inline ServerConfig config_for(parser::ParserKind kind) {
  ServerConfig c;
  c.binds = {*parse_bind("127.0.0.1:0")};
  c.parser = kind;
  c.keepalive = Seconds(5);
  c.header_timeout = c.body_timeout = c.write_timeout = Seconds(5);
  return c;
}

inline std::string post(std::string_view body, std::string_view extra = "") {
  return "POST /echo HTTP/1.1\r\nHost: t\r\n" + std::string(extra) +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

}  // namespace anvil::server::test

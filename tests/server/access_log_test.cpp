// --access-log-format: gunicorn's atoms, end to end through an in-process
// server (the format's errors are in config_test.cpp).
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "anvil/server/native.hpp"
#include "anvil/server/server.hpp"
#include "client.hpp"

namespace anvil::server::test {
namespace {

// Serves `requests` on one keep-alive connection with `format`; returns the
// access log's lines.
std::vector<std::string> log_lines(const std::string& format,
                                   const std::vector<std::string>& requests) {
  const std::string path = "/tmp/anvil-access-format-" + std::to_string(::getpid()) + ".log";
  ::unlink(path.c_str());
  ServerConfig config;
  config.binds = {*parse_bind("127.0.0.1:0")};
  config.access_log = path;
  config.access_log_format = format;
  {
    Server server(config, make_native_handler("sleep"));
    std::thread loop([&] { server.run(); });
    Client c = Client::tcp(server.addresses()[0].bind.port);
    for (const auto& r : requests) {
      EXPECT_TRUE(c.send(r));
      EXPECT_TRUE(c.read());
    }
    server.stop(true);
    loop.join();
  }
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ::unlink(path.c_str());
  return lines;
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out(1);
  for (char c : line) {
    if (c == sep) {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

TEST(AccessLog, GunicornAtoms) {
  // "alice:secret" in base64 (RFC 7617 Basic).
  const auto lines = log_lines(
      "%(h)s|%(l)s|%(u)s|%(m)s|%(U)s|%(q)s|%(H)s|%(r)s|%(s)s|%(B)s|%(b)s|%(f)s|%(a)s|%(p)s|"
      "%({x-test}i)s|%({X-Missing}i)s|100%%",
      {"GET /a%20b/?ms=0 HTTP/1.1\r\nHost: t\r\nAuthorization: Basic YWxpY2U6c2VjcmV0\r\n"
       "Referer: http://r/\r\nUser-Agent: ua\r\nX-Test: v\"q\r\n\r\n"});
  ASSERT_EQ(lines.size(), 1u);
  const auto f = split(lines[0], '|');
  ASSERT_EQ(f.size(), 17u) << lines[0];
  const std::string pid = std::to_string(::getpid());
  const std::string body = "slept 0 ms in pid " + pid + "\n";
  const std::vector<std::string> expect = {"127.0.0.1",
                                           "-",
                                           "alice",
                                           "GET",
                                           "/a%20b/",
                                           "ms=0",
                                           "HTTP/1.1",
                                           "GET /a%20b/?ms=0 HTTP/1.1",
                                           "200",
                                           std::to_string(body.size()),
                                           std::to_string(body.size()),
                                           "http://r/",
                                           "ua",
                                           "<" + pid + ">",
                                           "v\\\"q",
                                           "-",
                                           "100%"};
  EXPECT_EQ(f, expect) << lines[0];
}

TEST(AccessLog, RequestTimeAtomsMeasureTheRequest) {
  const auto lines = log_lines(
      "%(T)s %(M)s %(D)s %(L)s",
      {"GET /?ms=120 HTTP/1.1\r\nHost: t\r\n\r\n", "GET /?ms=0 HTTP/1.1\r\nHost: t\r\n\r\n"});
  ASSERT_EQ(lines.size(), 2u);
  const auto slow = split(lines[0], ' ');
  ASSERT_EQ(slow.size(), 4u) << lines[0];
  const long long d = std::stoll(slow[2]);
  EXPECT_GE(d, 120'000) << lines[0];
  EXPECT_LT(d, 10'000'000) << lines[0];
  EXPECT_EQ(std::stoll(slow[0]), d / 1'000'000);
  EXPECT_EQ(std::stoll(slow[1]), d / 1000);
  char decimal[32];
  std::snprintf(decimal, sizeof decimal, "%lld.%06lld", d / 1'000'000, d % 1'000'000);
  EXPECT_EQ(slow[3], decimal);
  EXPECT_LT(std::stoll(split(lines[1], ' ')[2]), d) << lines[1];
}

TEST(AccessLog, UserIsADashWithoutBasicCredentials) {
  const auto lines =
      log_lines("%(u)s", {"GET /?ms=0 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer x\r\n\r\n",
                          "GET /?ms=0 HTTP/1.1\r\nHost: t\r\nAuthorization: Basic !!!!\r\n\r\n",
                          "GET /?ms=0 HTTP/1.1\r\nHost: t\r\n\r\n"});
  EXPECT_EQ(lines, (std::vector<std::string>{"-", "-", "-"}));
}

}  // namespace
}  // namespace anvil::server::test

// Options: --bind forms, the option table, argv parsing.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <sstream>
#include <string_view>
#include <vector>

#include "anvil/server/server.hpp"

namespace anvil::server {
namespace {

TEST(Bind, Forms) {
  struct Case {
    std::string_view text;
    std::string expect;  // to_string(), "" for invalid
  };
  const Case cases[] = {
      {"127.0.0.1:8000", "127.0.0.1:8000"},
      {"[::1]:0", "[::1]:0"},
      {":9000", "0.0.0.0:9000"},
      {"9000", "127.0.0.1:9000"},
      {"localhost:80", "127.0.0.1:80"},
      {"unix:/tmp/a.sock", "unix:/tmp/a.sock"},
      {"::1:80", ""},
      {"[::1]80", ""},
      {"1.2.3.4:99999", ""},
      {"unix:", ""},
      {"host:", ""},
      {"fd://3", "fd://3"},
      {"fd://0", "fd://0"},
      {"fd://", ""},
      {"fd://-1", ""},
      {"fd://3x", ""},
  };
  for (const auto& c : cases) {
    auto b = parse_bind(c.text);
    EXPECT_EQ(b ? b->to_string() : "", c.expect) << c.text;
  }
}

// --parser takes every plug-in by name, http-parser too (issue 11 §1), and
// its table row lists them all.
TEST(Options, ParserTakesEveryKindByName) {
  for (const parser::ParserKind kind : parser::all_parser_kinds()) {
    ServerConfig c;
    EXPECT_EQ(set_option(c, "--parser", parser::name_of(kind)), std::nullopt);
    EXPECT_EQ(c.parser, kind);
  }
  for (const auto& o : option_table()) {
    if (o.name == "parser") {
      EXPECT_EQ(o.metavar, parser::parser_kind_names());
    }
  }
}

TEST(Options, EveryTableRowIsAccepted) {
  for (const auto& o : option_table()) {
    ServerConfig c;
    std::string_view value = o.metavar.empty() ? "true" : "1";
    if (o.name == "bind") value = "127.0.0.1:1";
    if (o.name == "parser") value = "llhttp";
    if (o.name == "access_log") value = "-";
    if (o.name == "log_level") value = "debug";
    if (o.name == "root_path") value = "/app";
    if (o.name == "forwarded_allow_ips") value = "10.0.0.1";
    EXPECT_EQ(set_option(c, o.name, value), std::nullopt) << o.name;
    EXPECT_EQ(set_option(c, o.flag, value), std::nullopt) << o.flag;
    EXPECT_EQ(o.flag.substr(2).find('_'), std::string_view::npos) << o.flag;
  }
}

TEST(Options, RootPath) {
  ServerConfig c;
  EXPECT_EQ(c.root_path, "");
  EXPECT_EQ(set_option(c, "root_path", "/a/b"), std::nullopt);
  EXPECT_EQ(c.root_path, "/a/b");
  EXPECT_EQ(set_option(c, "root_path", ""), std::nullopt);
  EXPECT_EQ(c.root_path, "");
  for (std::string_view bad : {"app", "/app/", "/", "/a?b", "/a\nb"}) {
    auto e = set_option(c, "--root-path", bad);
    ASSERT_TRUE(e) << bad;
    EXPECT_TRUE(e->starts_with("--root-path: not a path prefix")) << *e;
  }
}

TEST(Options, ForwardedAllowIps) {
  ServerConfig c;
  EXPECT_TRUE(c.forwarded_allow_ips.trusts("127.0.0.1"));  // the default
  EXPECT_FALSE(c.forwarded_allow_ips.trusts("127.0.0.2"));
  EXPECT_FALSE(c.forwarded_allow_ips.trusts("::1"));
  EXPECT_EQ(set_option(c, "forwarded_allow_ips", "10.0.0.0/8, ::1,192.0.2.7"), std::nullopt);
  const TrustedPeers& t = c.forwarded_allow_ips;
  EXPECT_TRUE(t.trusts("10.200.3.4"));
  EXPECT_TRUE(t.trusts("::ffff:10.1.1.1"));  // an IPv4 peer on a dual-stack socket
  EXPECT_TRUE(t.trusts("::1"));
  EXPECT_TRUE(t.trusts("192.0.2.7"));
  EXPECT_FALSE(t.trusts("192.0.2.8"));
  EXPECT_FALSE(t.trusts("127.0.0.1"));
  EXPECT_FALSE(t.trusts(""));
  EXPECT_FALSE(t.trusts("unknown"));
  EXPECT_EQ(set_option(c, "forwarded_allow_ips", "*"), std::nullopt);
  EXPECT_TRUE(c.forwarded_allow_ips.trusts("203.0.113.9"));
  for (std::string_view bad :
       {"", "10.0.0.x", "10.0.0.0/33", "10.0.0.0/", "1.2.3.4,,5.6.7.8", "example.com", "::1/129"}) {
    auto e = set_option(c, "--forwarded-allow-ips", bad);
    ASSERT_TRUE(e) << bad;
    EXPECT_TRUE(e->starts_with("--forwarded-allow-ips: not an address, a network or *")) << *e;
  }
}

TEST(ForwardedNode, Forms) {
  struct Case {
    std::string_view text;
    std::string address, port;  // address "" for invalid
  };
  const Case cases[] = {
      {"192.0.2.60", "192.0.2.60", ""},
      {"192.0.2.60:4711", "192.0.2.60", "4711"},
      {"2001:db8::17", "2001:db8::17", ""},
      {"[2001:db8::17]", "2001:db8::17", ""},
      {"[2001:db8::17]:4711", "2001:db8::17", "4711"},
      {"unknown", "", ""},
      {"_hidden", "", ""},
      {"192.0.2.60:", "", ""},
      {"192.0.2.60:99999", "", ""},
      {"[2001:db8::17", "", ""},
      {"[2001:db8::17]x", "", ""},
      {"", "", ""},
  };
  for (const auto& c : cases) {
    auto n = parse_forwarded_node(c.text);
    EXPECT_EQ(n ? n->address.to_string() : "", c.address) << c.text;
    EXPECT_EQ(n ? n->port : "", c.port) << c.text;
  }
}

TEST(Options, MapOntoConfigAndLimits) {
  const std::vector<std::string_view> args = {"--bind",
                                              "127.0.0.1:0",
                                              "--bind=unix:/tmp/x",
                                              "--workers",
                                              "3",
                                              "--parser",
                                              "llhttp",
                                              "--timeout",
                                              "2.5",
                                              "--keepalive",
                                              "0",
                                              "--limit-request-line",
                                              "100",
                                              "--limit-request-fields",
                                              "7",
                                              "--limit-request-field-size",
                                              "999",
                                              "--max-body-size",
                                              "12345",
                                              "--stats",
                                              "--access-log",
                                              "-",
                                              "--access-log-format",
                                              "%(h)s %(D)s",
                                              "--error-log",
                                              "/tmp/e.log",
                                              "--worker-timeout",
                                              "0.5",
                                              "--max-requests",
                                              "1000",
                                              "--max-requests-jitter",
                                              "50",
                                              "app:app"};
  const ParsedArgs p = parse_args(args);
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.config.binds.size(), 2u);
  EXPECT_EQ(p.config.workers, 3);
  EXPECT_EQ(p.config.parser, parser::ParserKind::llhttp);
  EXPECT_EQ(p.config.header_timeout.count(), 2.5);
  EXPECT_EQ(p.config.body_timeout.count(), 2.5);
  EXPECT_EQ(p.config.write_timeout.count(), 2.5);
  EXPECT_EQ(p.config.keepalive.count(), 0.0);
  EXPECT_EQ(p.config.limits.request_line, 100u);
  EXPECT_EQ(p.config.limits.fields, 7u);
  EXPECT_EQ(p.config.limits.header_bytes, 999u);
  EXPECT_EQ(p.config.limits.body, 12345u);
  EXPECT_TRUE(p.config.stats);
  EXPECT_EQ(p.config.access_log, "-");
  EXPECT_EQ(p.config.access_log_format, "%(h)s %(D)s");
  EXPECT_EQ(p.config.error_log, "/tmp/e.log");
  EXPECT_EQ(p.config.worker_timeout.count(), 0.5);
  EXPECT_EQ(p.config.max_requests, 1000u);
  EXPECT_EQ(p.config.max_requests_jitter, 50u);
  EXPECT_EQ(p.positional, std::vector<std::string>{"app:app"});
}

// Issue 8: the body and spool options, and their defaults.
TEST(Options, BodyAndSpoolOptions) {
  const ServerConfig d;
  EXPECT_EQ(d.limits.body, 100ull << 20);
  EXPECT_EQ(d.body_buffer_size, 64u * 1024);
  EXPECT_EQ(d.max_spool_size, 1ull << 30);
  EXPECT_EQ(d.max_connections, 0);  // derived from RLIMIT_NOFILE
  EXPECT_EQ(d.spool_dir, "");
  const std::vector<std::string_view> args = {
      "--body-buffer-size", "4096", "--spool-dir",       "/var/spool/x",
      "--max-spool-size",   "0",    "--max-connections", "0"};
  const ParsedArgs p = parse_args(args);
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.config.body_buffer_size, 4096u);
  EXPECT_EQ(p.config.spool_dir, "/var/spool/x");
  EXPECT_EQ(p.config.max_spool_size, 0u);
  EXPECT_EQ(p.config.max_connections, 0);
  for (const std::vector<std::string_view>& bad :
       {std::vector<std::string_view>{"--body-buffer-size", "0"},
        {"--spool-dir", ""},
        {"--max-connections", "-1"}}) {
    EXPECT_FALSE(parse_args(bad).error.empty()) << bad[0];
  }
}

TEST(Options, ErrorsAreOneLine) {
  const std::vector<std::vector<std::string_view>> bad = {
      {"--workers", "x"}, {"--workers", "-1"}, {"--parser", "nginx"}, {"--bind", "nope"},
      {"--timeout", "0"}, {"--frobnicate"},    {"--backlog"},         {"--log-level", "loud"}};
  for (const auto& args : bad) {
    const ParsedArgs p = parse_args(args);
    EXPECT_FALSE(p.error.empty()) << args[0];
    EXPECT_EQ(p.error.find('\n'), std::string::npos);
  }
}

TEST(Options, Defaults) {
  const ServerConfig c;
  EXPECT_EQ(c.worker_timeout.count(), 30.0);  // gunicorn's --timeout
  EXPECT_EQ(c.max_requests, 0u);
  EXPECT_EQ(c.max_requests_jitter, 0u);
  EXPECT_EQ(c.error_log, "");
  EXPECT_EQ(c.access_log_format, "");
}

// Each bad value: one line that names the flag and says what is wrong.
TEST(Options, BadValuesNameTheFlagAndTheReason) {
  struct Case {
    std::string_view name, value, says;
  };
  const Case cases[] = {
      {"worker_timeout", "x", "--worker-timeout: not a number of seconds: x"},
      {"worker_timeout", "-1", "--worker-timeout: not a number of seconds: -1"},
      {"max_requests", "-1", "--max-requests: not a number >= 0: -1"},
      {"max_requests", "1e3", "--max-requests: not a number >= 0: 1e3"},
      {"max_requests_jitter", "x", "--max-requests-jitter: not a number >= 0: x"},
      {"bind", "fd://x", "--bind: not HOST:PORT, [IPV6]:PORT, unix:PATH or fd://N: fd://x"},
      {"bind", "fd://100000", "--bind: fd 100000 is not open: fd://100000"},
      {"error_log", "", "--error-log: not a file or -: ''"},
      {"access_log_format", "%(x)s", "--access-log-format: unknown atom %(x)s: %(x)s"},
      {"access_log_format", "%({}i)s", "--access-log-format: unknown atom %({}i)s: %({}i)s"},
      {"access_log_format", "%(h)d", "--access-log-format: unclosed atom: a %( with no )s: %(h)d"},
      {"access_log_format", "%(h", "--access-log-format: unclosed atom: a %( with no )s: %(h"},
      {"access_log_format", "% %(h)s",
       "--access-log-format: a % starts %(NAME)s or is written %%: % %(h)s"},
  };
  for (const auto& c : cases) {
    ServerConfig config;
    EXPECT_EQ(set_option(config, c.name, c.value).value_or("accepted"), c.says);
  }
}

TEST(Options, AccessLogFormatAcceptsGunicornsAtoms) {
  ServerConfig c;
  EXPECT_EQ(
      set_option(c, "access_log_format",
                 R"(%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s %(m)s )"
                 R"(%(U)s %(q)s %(H)s %(B)s %(T)s %(M)s %(L)s %(p)s %({X-Request-Id}i)s 100%%)"),
      std::nullopt);
}

// A socket that exists but does not listen, or is not a stream, is refused.
TEST(Options, BindFdMustBeAListeningStreamSocket) {
  const int unbound = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int datagram = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int listening = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_un autobind{AF_UNIX, {}};  // an abstract address of the kernel's choice
  ASSERT_EQ(::bind(listening, reinterpret_cast<const sockaddr*>(&autobind), sizeof(sa_family_t)),
            0);
  ASSERT_EQ(::listen(listening, 1), 0);
  ServerConfig c;
  const std::string u = "fd://" + std::to_string(unbound);
  EXPECT_EQ(set_option(c, "bind", u),
            "--bind: fd " + std::to_string(unbound) + " is not listening: " + u);
  const std::string d = "fd://" + std::to_string(datagram);
  EXPECT_EQ(set_option(c, "bind", d),
            "--bind: fd " + std::to_string(datagram) + " is not a stream socket: " + d);
  EXPECT_EQ(set_option(c, "bind", "fd://" + std::to_string(listening)), std::nullopt);
  ASSERT_EQ(c.binds.size(), 1u);
  EXPECT_EQ(c.binds[0].kind, Bind::Kind::fd);
  EXPECT_EQ(c.binds[0].fd, listening);
  for (int fd : {unbound, datagram, listening}) ::close(fd);
}

TEST(Options, ExtraOptionsAreCollected) {
  const OptionSpec extra[] = {{"native", "--native", "NAME", "handler"}};
  const std::vector<std::string_view> args = {"--native", "echo"};
  const ParsedArgs p = parse_args(args, extra);
  ASSERT_EQ(p.error, "");
  ASSERT_EQ(p.extra.size(), 1u);
  EXPECT_EQ(p.extra[0].first, "native");
  EXPECT_EQ(p.extra[0].second, "echo");
  EXPECT_NE(usage("prog", "X", extra).find("--native NAME"), std::string::npos);
}

// Every help text starts in one column, also after the longest flag
// (--limit-request-field-size BYTES) and for --help itself.
TEST(Options, UsageAlignsTheHelpColumn) {
  const OptionSpec extra[] = {{"native", "--native", "NAME", "handler"}};
  std::istringstream in(usage("prog", "X", extra));
  std::string line;
  std::size_t column = 0, rows = 0;
  while (std::getline(in, line)) {
    if (line.rfind("  --", 0) != 0) continue;
    const std::size_t gap = line.find("  ", 2);
    ASSERT_NE(gap, std::string::npos) << line;
    const std::size_t at = line.find_first_not_of(' ', gap);
    if (column == 0) column = at;
    EXPECT_EQ(at, column) << line;
    ++rows;
  }
  EXPECT_GT(rows, 10u);
}

}  // namespace
}  // namespace anvil::server

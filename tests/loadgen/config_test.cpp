#include "anvil/loadgen/config.hpp"

#include <gtest/gtest.h>

#include <sched.h>

#include <cstdio>
#include <fstream>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

namespace anvil::loadgen {
namespace {

std::variant<Config, ParseError> parse(std::vector<std::string_view> args) {
  return parse_args(args);
}

struct BadCase {
  const char* name;
  std::vector<std::string_view> args;
};

// ctest shows the --gtest_list_tests comment beside each name: the case's
// name, not gtest's byte dump of the struct.
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BadArgs : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadArgs, AreOneLineErrors) {
  auto r = parse(GetParam().args);
  ASSERT_TRUE(std::holds_alternative<ParseError>(r));
  const auto& msg = std::get<ParseError>(r).message;
  EXPECT_FALSE(msg.empty());
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

const char* kUrl = "http://127.0.0.1:8080/";

INSTANTIATE_TEST_SUITE_P(
    Table, BadArgs,
    ::testing::Values(
        BadCase{"no_url", {"-c", "4"}}, BadCase{"unknown_option", {"--frobnicate", kUrl}},
        BadCase{"missing_value", {kUrl, "-c"}}, BadCase{"zero_threads", {"-t", "0", kUrl}},
        BadCase{"threads_not_number", {"-t", "two", kUrl}},
        BadCase{"fewer_connections_than_threads", {"-t", "4", "-c", "2", kUrl}},
        BadCase{"bad_scheme", {"https://127.0.0.1/"}}, BadCase{"bad_port", {"http://127.0.0.1:0/"}},
        BadCase{"port_too_big", {"http://127.0.0.1:70000/"}}, BadCase{"two_urls", {kUrl, kUrl}},
        BadCase{"bad_parser", {"--parser", "picohttp", kUrl}},
        BadCase{"bad_duration", {"--duration", "soon", kUrl}},
        BadCase{"zero_duration", {"--duration", "0", kUrl}},
        BadCase{"requests_and_duration", {"--requests", "10", "--duration", "1s", kUrl}},
        BadCase{"warmup_without_requests", {"--warmup", "10", kUrl}},
        BadCase{"warmup_not_below_requests", {"--requests", "10", "--warmup", "10", kUrl}},
        BadCase{"negative_rate", {"--rate", "-5", kUrl}},
        BadCase{"rate_with_pipeline", {"--rate", "100", "--pipeline", "4", kUrl}},
        BadCase{"bad_header", {"-H", "NoColon", kUrl}},
        BadCase{"header_with_newline", {"-H", "A: b\r\nC: d", kUrl}},
        BadCase{"bad_method", {"-X", "G T", kUrl}},
        BadCase{"bad_status", {"--expect-status", "2xx", kUrl}},
        BadCase{"bad_cpus", {"--cpus", "1,,2", kUrl}},
        BadCase{"cpu_not_on_this_machine", {"--cpus", "1000", kUrl}},
        BadCase{"request_with_header", {"--request", "r.http", "-H", "A: b", kUrl}},
        BadCase{"flag_with_value", {"--close=yes", kUrl}},
        BadCase{"zero_pipeline", {"--pipeline", "0", kUrl}}),
    [](const auto& info) { return std::string(info.param.name); });

// The first CPU this process may run on: --cpus takes only those (the test
// may itself run under taskset).
int first_allowed_cpu() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &allowed)) return cpu;
  return 0;
}

TEST(ParseArgs, ReadsEveryOption) {
  const int cpu = first_allowed_cpu();
  const std::string cpus = std::to_string(cpu) + "," + std::to_string(cpu);
  auto r = parse({"-t",
                  "2",
                  "-c",
                  "64",
                  "--cpus",
                  cpus,
                  "--close",
                  "--requests",
                  "1000",
                  "--warmup",
                  "100",
                  "--rate",
                  "5000",
                  "--parser",
                  "llhttp",
                  "--expect-status",
                  "200,404",
                  "--timeout",
                  "500ms",
                  "--json",
                  "out.json",
                  "-H",
                  "X-A: 1",
                  "--header=X-B: 2",
                  "-X",
                  "POST",
                  "http://[::1]:9000/a?b=c"});
  ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<ParseError>(r).message;
  const auto& c = std::get<Config>(r);
  EXPECT_EQ(c.threads, 2);
  EXPECT_EQ(c.connections, 64);
  EXPECT_EQ(c.cpus, (std::vector<int>{cpu, cpu}));
  EXPECT_TRUE(c.close);
  EXPECT_EQ(c.requests.value_or(0), 1000u);
  EXPECT_EQ(c.warmup, 100u);
  EXPECT_EQ(c.rate, 5000);
  EXPECT_EQ(c.parser, parser::ParserKind::llhttp);
  EXPECT_EQ(c.expect_status, (std::vector<int>{200, 404}));
  EXPECT_EQ(c.timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(c.json_file, "out.json");
  EXPECT_EQ(c.headers, (std::vector<std::string>{"X-A: 1", "X-B: 2"}));
  EXPECT_EQ(c.method, "POST");
  EXPECT_EQ(c.target.host, "::1");
  EXPECT_EQ(c.target.port, 9000);
  EXPECT_EQ(c.target.path, "/a?b=c");
}

TEST(ParseArgs, DefaultsAreWrksAndShortFormsWork) {
  auto r = parse({"-t2", "-c8", "http://localhost"});
  ASSERT_TRUE(std::holds_alternative<Config>(r));
  const auto& c = std::get<Config>(r);
  EXPECT_EQ(c.threads, 2);
  EXPECT_EQ(c.connections, 8);
  EXPECT_FALSE(c.close);
  EXPECT_EQ(c.pipeline, 1);
  EXPECT_EQ(c.duration, std::chrono::seconds(10));
  EXPECT_EQ(c.target.port, 80);
  EXPECT_EQ(c.target.path, "/");
  EXPECT_EQ(c.parser, parser::ParserKind::fast);
}

// hammer parses responses with any plug-in, http-parser too (issue 11 §1).
TEST(ParseArgs, ParserTakesEveryKindByName) {
  for (const parser::ParserKind kind : parser::all_parser_kinds()) {
    auto r = parse({"--parser", parser::name_of(kind), "http://localhost"});
    ASSERT_TRUE(std::holds_alternative<Config>(r)) << parser::name_of(kind);
    EXPECT_EQ(std::get<Config>(r).parser, kind);
  }
}

TEST(ParseArgs, HelpWinsOverEverythingElse) {
  auto r = parse({"--bogus-but-after", "--help"});
  ASSERT_TRUE(std::holds_alternative<ParseError>(r));  // left to right: the bogus option first
  auto h = parse({"--help"});
  ASSERT_TRUE(std::holds_alternative<Config>(h));
  EXPECT_TRUE(std::get<Config>(h).help);
}

TEST(ParseDuration, Units) {
  EXPECT_EQ(parse_duration("10"), std::chrono::seconds(10));
  EXPECT_EQ(parse_duration("10s"), std::chrono::seconds(10));
  EXPECT_EQ(parse_duration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(parse_duration("100us"), std::chrono::microseconds(100));
  EXPECT_EQ(parse_duration("2m"), std::chrono::minutes(2));
  EXPECT_EQ(parse_duration("1.5s"), std::chrono::milliseconds(1500));
  EXPECT_FALSE(parse_duration("-1s"));
  EXPECT_FALSE(parse_duration("s"));
  EXPECT_FALSE(parse_duration("1x"));
}

TEST(BuildRequest, FromTheUrlAndOptions) {
  auto r = parse({"-H", "Accept: */*", "--close", "http://127.0.0.1:8080/x"});
  auto req = build_request(std::get<Config>(r));
  ASSERT_TRUE(std::holds_alternative<std::string>(req));
  EXPECT_EQ(std::get<std::string>(req),
            "GET /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\nConnection: close\r\n\r\n");
}

TEST(BuildRequest, BodyFileAddsContentLength) {
  const std::string path = ::testing::TempDir() + "hammer_body.txt";
  std::ofstream(path) << "a=1&b=2";
  auto r = parse({"-X", "POST", "--body", path, "http://h/"});
  auto req = build_request(std::get<Config>(r));
  EXPECT_EQ(std::get<std::string>(req),
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\na=1&b=2");
  std::remove(path.c_str());
}

TEST(BuildRequest, RequestFileIsSentExactly) {
  const std::string path = ::testing::TempDir() + "hammer_raw.http";
  const std::string raw = "GET / HTTP/1.0\r\nHost: elsewhere:8000\r\nConnection: close\r\n\r\n";
  std::ofstream(path, std::ios::binary) << raw;
  auto r = parse({"--request", path, "--close", "http://127.0.0.1:1/"});
  auto req = build_request(std::get<Config>(r));
  EXPECT_EQ(std::get<std::string>(req), raw);
  std::remove(path.c_str());
  auto missing =
      build_request(std::get<Config>(parse({"--request", "/nonexistent/x", "http://h/"})));
  EXPECT_TRUE(std::holds_alternative<ParseError>(missing));
}

}  // namespace
}  // namespace anvil::loadgen

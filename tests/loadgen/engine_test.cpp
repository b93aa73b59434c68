// hammer's engine against the in-process TestServer: exact counts, every
// framing at every fragmentation, errors of the right kind, warm-up, stalls
// in the percentiles, coordinated-omission correction.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ostream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "anvil/loadgen/config.hpp"
#include "anvil/loadgen/engine.hpp"
#include "test_server.hpp"

namespace anvil::loadgen::testing {
// ctest shows gtest's print of each parameter beside the test name; without
// these it is a byte dump ("4-byte object <00-00 00-00>").
const char* name_of(Framing f) {
  const char* names[] = {"content_length", "chunked", "until_close"};
  return names[static_cast<int>(f)];
}
void PrintTo(Framing f, std::ostream* os) { *os << name_of(f); }
}  // namespace anvil::loadgen::testing

namespace anvil::loadgen {
namespace {

using testing::Framing;
using testing::ServerOptions;
using testing::TestServer;
using namespace std::chrono_literals;

Config parse(std::vector<std::string> args) {
  args.push_back("--no-progress");
  std::vector<std::string_view> views(args.begin(), args.end());
  auto parsed = parse_args(views);
  if (auto* err = std::get_if<ParseError>(&parsed)) ADD_FAILURE() << err->message;
  return std::get<Config>(parsed);
}

Result run_with(const Config& cfg) {
  auto req = build_request(cfg);
  EXPECT_TRUE(std::holds_alternative<std::string>(req));
  return run(cfg, std::get<std::string>(req));
}

std::uint64_t err(const Result& r, ErrorKind k) { return r.errors[static_cast<std::size_t>(k)]; }

// Every measured request is a counted response or a counted error.
void expect_exact(const Result& r) { EXPECT_EQ(r.requests, r.responses + r.error_count()); }

class Framings : public ::testing::TestWithParam<std::tuple<std::string, Framing>> {};

// Keep-alive, responses split at random byte boundaries (1..16 bytes per write).
TEST_P(Framings, EveryResponseCountedAtAnyFragmentation) {
  const auto& [parser, framing] = GetParam();
  ServerOptions opt;
  opt.framing = framing;
  opt.split = true;
  opt.body = std::string(300, 'x') + "end";
  TestServer server(opt);
  const Config cfg =
      parse({"-t", "2", "-c", "4", "--requests", "600", "--parser", parser, server.url()});
  const Result r = run_with(cfg);
  EXPECT_EQ(r.requests, 600u);
  EXPECT_EQ(r.responses, 600u);
  EXPECT_EQ(r.error_count(), 0u);
  EXPECT_EQ(server.requests(), 600u);
  EXPECT_EQ(r.latency.count(), 600u);
  EXPECT_EQ(r.ttfb.count(), 600u);
  if (framing == Framing::until_close) {
    EXPECT_EQ(server.connections(), 600u);  // the body ends with the connection
  } else {
    EXPECT_EQ(server.connections(), 4u);  // kept alive throughout
  }
}

std::string framing_case_name(
    const ::testing::TestParamInfo<std::tuple<std::string, Framing>>& info) {
  std::string parser = std::get<0>(info.param);
  std::replace(parser.begin(), parser.end(), '-', '_');  // a gtest name may not hold "-"
  return parser + "_" + testing::name_of(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(EveryParser, Framings,
                         ::testing::Combine(::testing::Values("fast", "llhttp", "http-parser"),
                                            ::testing::Values(Framing::content_length,
                                                              Framing::chunked,
                                                              Framing::until_close)),
                         framing_case_name);

TEST(Engine, CloseModeOpensAConnectionPerRequest) {
  ServerOptions opt;
  opt.split = true;
  TestServer server(opt);
  const Result r = run_with(parse({"-c", "3", "--close", "--requests", "300", server.url()}));
  EXPECT_EQ(r.responses, 300u);
  EXPECT_EQ(r.error_count(), 0u);
  EXPECT_EQ(server.connections(), 300u);
  EXPECT_EQ(r.connects, 300u);
  EXPECT_EQ(r.connect.count(), 300u);
}

// A server that announces its close (Connection: close) closes first, so the
// TIME_WAIT state stays on its side and hammer's ports are free at once.
TEST(Engine, WaitsForTheCloseTheServerAnnounced) {
  ServerOptions opt;
  opt.close_after = true;
  opt.close_delay = std::chrono::milliseconds(30);
  TestServer server(opt);
  const Result r = run_with(parse({"-c", "4", "--close", "--requests", "40", server.url()}));
  EXPECT_EQ(r.responses, 40u);
  EXPECT_EQ(r.error_count(), 0u);
  EXPECT_EQ(server.client_closes(), 0u);
}

// A keep-alive server is left by hammer in --close mode: hammer closes first.
TEST(Engine, CloseModeClosesAKeepAliveConnectionItself) {
  TestServer server(ServerOptions{});
  const Result r = run_with(parse(
      {"-c", "4", "--close", "--requests", "40", "-H", "Connection: keep-alive", server.url()}));
  EXPECT_EQ(r.responses, 40u);
  // The server notices each close on its own thread, a moment after the run ends.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (server.client_closes() < 40 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(server.client_closes(), 40u);
}

TEST(Engine, PipelinedResponsesAllCounted) {
  ServerOptions opt;
  opt.split = true;
  opt.framing = Framing::chunked;
  TestServer server(opt);
  // 250 is not a multiple of 8: the last batch is short.
  const Result r =
      run_with(parse({"-c", "2", "--pipeline", "8", "--requests", "250", server.url()}));
  EXPECT_EQ(r.responses, 250u);
  EXPECT_EQ(r.error_count(), 0u);
  EXPECT_EQ(server.requests(), 250u);
}

TEST(Engine, ResetsAreCountedAsResets) {
  ServerOptions opt;
  opt.reset_every = 5;
  TestServer server(opt);
  const Result r = run_with(parse({"-c", "4", "--requests", "500", server.url()}));
  EXPECT_EQ(r.requests, 500u);
  EXPECT_EQ(err(r, ErrorKind::reset), 100u);
  EXPECT_EQ(r.responses, 400u);
  EXPECT_EQ(r.error_count(), 100u);
  expect_exact(r);
}

TEST(Engine, UnexpectedStatusIsAnErrorUnlessExpected) {
  ServerOptions opt;
  opt.status = 503;
  TestServer server(opt);
  const Result bad = run_with(parse({"-c", "2", "--requests", "100", server.url()}));
  EXPECT_EQ(err(bad, ErrorKind::unexpected_status), 100u);
  EXPECT_EQ(bad.responses, 0u);
  const Result ok =
      run_with(parse({"-c", "2", "--requests", "100", "--expect-status", "200,503", server.url()}));
  EXPECT_EQ(ok.responses, 100u);
  EXPECT_EQ(ok.error_count(), 0u);
}

struct RawCase {
  const char* name;
  const char* response;
  bool close_after;
  ErrorKind kind;
};

void PrintTo(const RawCase& c, std::ostream* os) { *os << c.name; }

class RawResponses : public ::testing::TestWithParam<RawCase> {};

TEST_P(RawResponses, CountedAsTheRightError) {
  ServerOptions opt;
  opt.raw_response = GetParam().response;
  opt.close_after_raw = GetParam().close_after;
  opt.split = true;
  TestServer server(opt);
  for (const char* parser : {"fast", "llhttp", "http-parser"}) {
    const Result r = run_with(parse(
        {"-c", "2", "--requests", "40", "--timeout", "2s", "--parser", parser, server.url()}));
    EXPECT_EQ(err(r, GetParam().kind), 40u) << parser;
    EXPECT_EQ(r.responses, 0u) << parser;
    expect_exact(r);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, RawResponses,
    ::testing::Values(
        RawCase{"bad_content_length", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", false,
                ErrorKind::malformed},
        RawCase{"body_cut_short", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", true,
                ErrorKind::malformed},
        RawCase{"bad_chunk_end",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n",
                false, ErrorKind::malformed},
        RawCase{"chunked_cut_short",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", true,
                ErrorKind::malformed},
        RawCase{"bad_status_line", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", false,
                ErrorKind::malformed},
        RawCase{"closed_without_answer", "", true, ErrorKind::reset}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Engine, InterimResponsesPrecedeTheFinalOne) {
  ServerOptions opt;
  opt.raw_response = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  opt.split = true;
  TestServer server(opt);
  const Result r = run_with(parse({"-c", "2", "--requests", "100", server.url()}));
  EXPECT_EQ(r.responses, 100u);
  EXPECT_EQ(r.error_count(), 0u);
}

TEST(Engine, HeadResponsesHaveNoBody) {
  ServerOptions opt;
  opt.body = std::string(1000, 'b');  // announced in Content-Length, never sent
  TestServer server(opt);
  const Result r = run_with(
      parse({"-c", "2", "-X", "HEAD", "--requests", "100", "--timeout", "1s", server.url()}));
  EXPECT_EQ(server.head_requests(), 100u);
  EXPECT_EQ(r.responses, 100u);
  EXPECT_EQ(r.error_count(), 0u);
}

TEST(Engine, WarmupExcludesExactlyM) {
  TestServer server(ServerOptions{});
  const Result r =
      run_with(parse({"-c", "3", "--requests", "300", "--warmup", "120", server.url()}));
  EXPECT_EQ(server.requests(), 300u);
  EXPECT_EQ(r.warmup, 120u);
  EXPECT_EQ(r.requests, 180u);
  EXPECT_EQ(r.responses, 180u);
  EXPECT_EQ(r.latency.count(), 180u);
}

TEST(Engine, TimedRunCountsEveryRequestOnce) {
  TestServer server(ServerOptions{});
  const Result r = run_with(parse(
      {"-t", "2", "-c", "4", "--duration", "300ms", "--warmup-duration", "100ms", server.url()}));
  EXPECT_GT(r.warmup, 0u);
  EXPECT_GT(r.requests, 0u);
  expect_exact(r);
  // Requests in flight when the time is up are waited for and counted.
  EXPECT_EQ(server.requests(), r.requests + r.warmup);
  EXPECT_GT(r.duration_s, 0.25);
  EXPECT_LT(r.duration_s, 1.0);
}

TEST(Engine, StallShowsInThePercentiles) {
  ServerOptions opt;
  opt.stall_every = 10;
  opt.stall = 100ms;
  TestServer server(opt);
  const Result r = run_with(parse({"-c", "1", "--requests", "50", server.url()}));
  EXPECT_EQ(r.responses, 50u);
  EXPECT_LT(r.latency.percentile(50), 50'000'000);   // the fast 90%
  EXPECT_GE(r.latency.percentile(99), 100'000'000);  // the stalled 10%
  EXPECT_GE(r.ttfb.percentile(99), 100'000'000);
  EXPECT_GE(r.latency.max(), 100'000'000);
}

TEST(Engine, RateCorrectsForCoordinatedOmission) {
  ServerOptions opt;
  opt.stall_at = {20};
  opt.stall = 300ms;
  TestServer server(opt);
  // 200/s on one connection: a request every 5 ms. The 300 ms stall holds up
  // ~60 requests that were due; only the corrected latency shows them.
  const Result r = run_with(parse({"-c", "1", "--rate", "200", "--requests", "200", server.url()}));
  EXPECT_EQ(r.responses, 200u);
  EXPECT_EQ(r.latency_uncorrected.count(), 200u);
  EXPECT_GE(r.latency.max(), 290'000'000);
  EXPECT_LT(r.latency_uncorrected.percentile(90), 50'000'000);
  EXPECT_GT(r.latency.percentile(90), 50'000'000);
  EXPECT_GT(r.latency.percentile(90), 5 * r.latency_uncorrected.percentile(90));
  EXPECT_GT(r.latency.percentile(99), r.latency_uncorrected.percentile(99));
  // And the pacing holds: 200 requests at 200/s take about a second.
  EXPECT_GT(r.duration_s, 0.9);
}

TEST(Engine, PacedConnectionsStopOnceTheBudgetIsClaimed) {
  TestServer server(ServerOptions{});
  // 4/s over 40 connections: each connection's slots are 10 s apart, the
  // first ones spread over those 10 s. The 2 requests go out in the first
  // 0.25 s; the 38 other connections must not wait out their first slot
  // (up to 9.75 s) to learn that none is left.
  const auto start = std::chrono::steady_clock::now();
  const Result r =
      run_with(parse({"-t", "2", "-c", "40", "--rate", "4", "--requests", "2", server.url()}));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.responses, 2u);
  EXPECT_EQ(server.requests(), 2u);
  EXPECT_EQ(server.connections(), 2u);  // the first two slots; the others never connect
  EXPECT_LT(took, 5s);
}

TEST(Engine, ReadTimeoutsAreCountedAndTheRunGoesOn) {
  ServerOptions opt;
  opt.stall_every = 10;
  opt.stall = 2000ms;
  TestServer server(opt);
  const Result r =
      run_with(parse({"-c", "1", "--requests", "30", "--timeout", "150ms", server.url()}));
  EXPECT_EQ(err(r, ErrorKind::read_timeout), 3u);
  EXPECT_EQ(r.responses, 27u);
  expect_exact(r);
  EXPECT_GE(r.latency.count(), 27u);
}

TEST(Engine, RefusedConnectionsStopTheRun) {
  Config cfg = parse({"-c", "2", "--requests", "100",
                      "http://127.0.0.1:" + std::to_string(testing::closed_port()) + "/"});
  const Result r = run_with(cfg);
  EXPECT_EQ(r.connects, 0u);
  EXPECT_GE(err(r, ErrorKind::connect_refused), 1u);
  EXPECT_FALSE(r.first_connect_error.empty());
  expect_exact(r);
}

TEST(Engine, ConnectTimeoutsWhenTheListenerIsFull) {
  // Backlog 0 and never accepting: once the accept queue holds its one
  // connection, Linux drops further SYNs, so connect() never completes.
  ServerOptions opt;
  opt.backlog = 0;
  opt.accept = false;
  TestServer server(opt);
  std::vector<int> fillers;
  for (int i = 0; i < 2; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server.port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(fd);
  }
  const Result r =
      run_with(parse({"-c", "2", "--requests", "4", "--timeout", "200ms", server.url()}));
  for (int fd : fillers) ::close(fd);
  EXPECT_EQ(r.connects, 0u);
  EXPECT_EQ(err(r, ErrorKind::connect_timeout), 4u);
  expect_exact(r);
}

}  // namespace
}  // namespace anvil::loadgen

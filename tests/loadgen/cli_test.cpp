// The hammer binary itself: exit statuses, the one-line errors, --json.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "process.hpp"
#include "test_server.hpp"

namespace anvil::loadgen {
namespace {

using testing::run_process;

TEST(Cli, BadArgumentsExit2WithOneLine) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {HAMMER_BIN, "--frobnicate", "http://127.0.0.1:1/"},
           {HAMMER_BIN},
           {HAMMER_BIN, "-c", "0", "http://127.0.0.1:1/"},
           {HAMMER_BIN, "--request", "/nonexistent/file.http", "http://127.0.0.1:1/"}}) {
    const auto r = run_process(args);
    EXPECT_EQ(r.status, 2) << args[1];
    EXPECT_TRUE(r.out.empty());
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;  // exactly one line
    EXPECT_EQ(r.err.rfind("hammer: ", 0), 0u) << r.err;
  }
}

TEST(Cli, HelpExits0) {
  const auto r = run_process({HAMMER_BIN, "--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("Usage: hammer"), std::string::npos);
  EXPECT_NE(r.out.find("--rate"), std::string::npos);
}

TEST(Cli, UnreachablePortExits1) {
  const std::string url = "http://127.0.0.1:" + std::to_string(testing::closed_port()) + "/";
  const auto r = run_process({HAMMER_BIN, "-c", "4", "-d", "5s", url});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("could not connect"), std::string::npos) << r.err;
}

TEST(Cli, RunPrintsTheSummaryAndWritesJson) {
  testing::TestServer server(testing::ServerOptions{});
  const std::string json = ::testing::TempDir() + "hammer_cli.json";
  const auto r = run_process(
      {HAMMER_BIN, "-c", "2", "--requests", "200", "--warmup", "50", "--json", json, server.url()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("150 requests in"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Requests/sec:"), std::string::npos);
  EXPECT_NE(r.out.find("99.99%"), std::string::npos);
  EXPECT_NE(r.out.find("CPU/request:"), std::string::npos);
  EXPECT_TRUE(r.err.empty()) << r.err;  // no progress line when stderr is not a terminal
  std::ifstream in(json);
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(doc.find("\"requests\": 150"), std::string::npos) << doc.substr(0, 400);
  EXPECT_NE(doc.find("\"warmup\": 50"), std::string::npos);
  EXPECT_NE(doc.find("\"histogram\": [["), std::string::npos);
  EXPECT_EQ(server.requests(), 200u);
  std::remove(json.c_str());
}

}  // namespace
}  // namespace anvil::loadgen

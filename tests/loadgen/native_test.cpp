// hammer against the real anvil-native server, when the build has it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <variant>

#include "anvil/loadgen/config.hpp"
#include "anvil/loadgen/engine.hpp"
#include "process.hpp"

namespace anvil::loadgen {
namespace {

TEST(Native, HammerCountsEveryAnvilNativeResponse) {
  // anvil-native is built by server/ into the same bin directory as hammer.
  const std::string bin = ANVIL_BIN_DIR "/anvil-native";
  if (::access(bin.c_str(), X_OK) != 0)
    GTEST_SKIP() << bin << " is not built (server/ has no anvil-native yet)";
  testing::Child server({bin, "--bind", "127.0.0.1:0", "--workers", "0", "hello"});
  const std::string line = server.wait_for_line("listening on", std::chrono::seconds(10));
  const auto at = line.find("http://");
  ASSERT_NE(at, std::string::npos) << "no 'listening on http://...' line from anvil-native";
  const std::string url = line.substr(at, line.find_first_of(" \r\n", at) - at) + "/";

  for (const char* mode : {"keep-alive", "close"}) {
    std::vector<std::string> args = {
        "-t", "2", "-c", "8", "--requests", "2000", "--warmup", "200", "--no-progress", url};
    if (std::string(mode) == "close") args.insert(args.begin(), "--close");
    std::vector<std::string_view> views(args.begin(), args.end());
    auto parsed = parse_args(views);
    ASSERT_TRUE(std::holds_alternative<Config>(parsed)) << std::get<ParseError>(parsed).message;
    const Config& cfg = std::get<Config>(parsed);
    const Result r = run(cfg, std::get<std::string>(build_request(cfg)));
    EXPECT_EQ(r.requests, 1800u) << mode;
    EXPECT_EQ(r.responses, 1800u) << mode;
    EXPECT_EQ(r.error_count(), 0u) << mode;
    EXPECT_EQ(r.warmup, 200u) << mode;
  }
}

}  // namespace
}  // namespace anvil::loadgen

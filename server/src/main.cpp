// anvil-native: serves a native handler (hello, echo, sleep) with the same
// options as `python3 -m anvil`, with no Python in the process.
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "anvil/server/native.hpp"
#include "anvil/server/server.hpp"

namespace {

constexpr anvil::server::OptionSpec kExtra[] = {
    {"native", "--native", "hello|echo|sleep", "the native handler (or give it as the argument)"},
};

int fail(const std::string& message) {
  std::fprintf(stderr, "anvil-native: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace anvil::server;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  ParsedArgs parsed = parse_args(args, kExtra);
  if (!parsed.error.empty()) return fail(parsed.error);
  if (parsed.help) {
    std::fputs(usage("anvil-native", "hello|echo|sleep", kExtra).c_str(), stdout);
    return 0;
  }
  std::vector<std::string> names = parsed.positional;
  for (const auto& [name, value] : parsed.extra) names.push_back(value);
  if (names.size() != 1) return fail("give exactly one handler: hello, echo or sleep");
  const std::string name = names.front();
  if (!make_native_handler(name)) return fail("unknown handler: " + name);
  try {
    return serve(parsed.config, [name] { return make_native_handler(name); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "anvil-native: %s\n", e.what());
    return 1;
  }
}

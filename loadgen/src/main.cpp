// hammer: the command line around anvil_loadgen. Exit status: 0 after a run,
// 1 when no connection could be made at all, 2 on bad arguments.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <variant>
#include <vector>

#include "anvil/loadgen/config.hpp"
#include "anvil/loadgen/engine.hpp"
#include "anvil/loadgen/report.hpp"

namespace {

int bad_args(const std::string& message) {
  std::fprintf(stderr, "hammer: %s\n", message.c_str());
  return 2;
}

// "   3.0s  120000/300000  40123 req/s  0 errors", rewritten in place.
void show_progress(const anvil::loadgen::Progress& p, std::uint64_t& last_done) {
  const auto ull = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  const std::uint64_t rate = p.done - last_done;  // called once a second
  last_done = p.done;
  if (p.total > 0) {
    std::fprintf(stderr, "\r\033[K  %6.1fs  %llu/%llu  %llu req/s  %llu errors", p.elapsed_s,
                 ull(p.done), ull(p.total), ull(rate), ull(p.errors));
  } else {
    std::fprintf(stderr, "\r\033[K  %6.1fs  %llu done  %llu req/s  %llu errors", p.elapsed_s,
                 ull(p.done), ull(rate), ull(p.errors));
  }
  std::fflush(stderr);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace anvil::loadgen;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  auto parsed = parse_args(args);
  if (auto* err = std::get_if<ParseError>(&parsed)) return bad_args(err->message);
  const Config& config = std::get<Config>(parsed);
  if (config.help) {
    std::fputs(usage().c_str(), stdout);
    return 0;
  }
  auto request = build_request(config);
  if (auto* err = std::get_if<ParseError>(&request)) return bad_args(err->message);

  std::ofstream json;
  if (!config.json_file.empty()) {
    json.open(config.json_file, std::ios::trunc);
    if (!json) return bad_args("--json: cannot write " + config.json_file);
  }

  const bool live = config.progress && ::isatty(STDERR_FILENO);
  std::uint64_t last_done = 0;
  ProgressFn progress;
  if (live) progress = [&last_done](const Progress& p) { show_progress(p, last_done); };
  const Result result = run(config, std::get<std::string>(request), progress);
  if (live) std::fputs("\r\033[K", stderr);

  if (result.connects == 0) {
    std::fprintf(stderr, "hammer: could not connect to %s: %s\n", config.url.c_str(),
                 result.first_connect_error.empty() ? "no connection was established"
                                                    : result.first_connect_error.c_str());
    return 1;
  }
  std::fputs(format_summary(config, result).c_str(), stdout);
  if (json.is_open()) {
    json << format_json(config, result);
    if (!json.flush()) {
      std::fprintf(stderr, "hammer: --json: cannot write %s\n", config.json_file.c_str());
      return 1;
    }
  }
  return 0;
}

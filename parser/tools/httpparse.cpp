// httpparse: parse a file (or stdin) of HTTP/1.1 requests or responses with
// any parser and print one JSON line per message (format in driver.hpp).
// Exit status: 0 all messages complete, 1 parse error, 2 input ended inside a
// message, 3 the parser broke its contract, 64 bad arguments (EX_USAGE),
// 66 input not readable (EX_NOINPUT).
#include <charconv>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "anvil/parser/driver.hpp"
#include "anvil/parser/parser.hpp"

namespace {

namespace ap = anvil::parser;

constexpr int kExitUsage = 64;
constexpr int kExitNoInput = 66;

constexpr std::string_view kUsage =
    "usage: httpparse [--parser llhttp|fast|http-parser] [--response [--head-response]]\n"
    "                 [--split N | --split-each-byte] [--guard-pages] [--status-only] [FILE]\n"
    "Parses FILE (default: standard input) and prints one JSON line per message.\n"
    "  --parser NAME       llhttp, fast or http-parser (default: fast)\n"
    "  --response          parse responses instead of requests\n"
    "  --head-response     responses answer HEAD requests (no bodies)\n"
    "  --split N           feed the input in pieces of N bytes\n"
    "  --split-each-byte   feed the input one byte at a time (same as --split 1)\n"
    "  --guard-pages       place the buffer flush against an unreadable page\n"
    "  --status-only       print errors as {\"error\": \"-\", \"status\": N}\n"
    "Exit status: 0 complete, 1 parse error, 2 input ended inside a message,\n"
    "3 parser contract violation, 64 bad arguments, 66 unreadable input.\n";

struct Args {
  ap::ParserKind kind = ap::ParserKind::fast;
  ap::Mode mode = ap::Mode::request;
  bool head_response = false;
  std::size_t split = 0;  // 0: whole
  bool guard_pages = false;
  bool error_codes = true;
  std::optional<std::string> file;
  bool help = false;
};

// The parsed arguments, or a one-line reason they are wrong.
struct ParseResult {
  Args args;
  std::string error;
};

std::optional<std::size_t> parse_size(std::string_view s) {
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size() || n == 0) return std::nullopt;
  return n;
}

ParseResult parse_args(const std::vector<std::string_view>& argv) {
  ParseResult r;
  Args& a = r.args;
  bool split_seen = false;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argv.size()) return std::nullopt;
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      a.help = true;
    } else if (arg == "--parser") {
      auto v = value();
      auto kind = v ? ap::parser_kind_from_name(*v) : std::nullopt;
      if (!kind) return {a, "--parser needs llhttp, fast or http-parser"};
      a.kind = *kind;
    } else if (arg == "--response") {
      a.mode = ap::Mode::response;
    } else if (arg == "--head-response") {
      a.head_response = true;
    } else if (arg == "--split" || arg == "--split-each-byte") {
      if (split_seen) return {a, "give --split or --split-each-byte once"};
      split_seen = true;
      if (arg == "--split-each-byte") {
        a.split = 1;
        continue;
      }
      auto v = value();
      auto n = v ? parse_size(*v) : std::nullopt;
      if (!n) return {a, "--split needs a positive number of bytes"};
      a.split = *n;
    } else if (arg == "--guard-pages") {
      a.guard_pages = true;
    } else if (arg == "--status-only") {
      a.error_codes = false;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return {a, "unknown option " + std::string(arg)};
    } else if (a.file) {
      return {a, "give at most one FILE"};
    } else {
      a.file = std::string(arg);
    }
  }
  if (a.head_response && a.mode != ap::Mode::response) {
    return {a, "--head-response needs --response"};
  }
  return r;
}

std::optional<std::string> read_input(const std::optional<std::string>& file) {
  std::ostringstream buffer;
  if (!file || *file == "-") {
    buffer << std::cin.rdbuf();
    return std::move(buffer).str();
  }
  std::ifstream in(*file, std::ios::binary);
  if (!in) return std::nullopt;
  buffer << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(buffer).str();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  ParseResult parsed = parse_args(args);
  if (!parsed.error.empty()) {
    std::cerr << "httpparse: " << parsed.error << " (see --help)\n";
    return kExitUsage;
  }
  const Args& a = parsed.args;
  if (a.help) {
    std::cout << kUsage;
    return 0;
  }
  std::optional<std::string> input = read_input(a.file);
  if (!input) {
    std::cerr << "httpparse: cannot read " << *a.file << "\n";
    return kExitNoInput;
  }
  auto parser = ap::make_parser(a.kind, a.mode);
  std::vector<std::size_t> cuts;
  if (a.split > 0) cuts = ap::cuts_every(a.split, input->size());
  ap::DriveOptions options;
  options.cuts = cuts;
  options.guard_pages = a.guard_pages;
  options.error_codes = a.error_codes;
  options.head_response = a.head_response;
  ap::DriveResult result = ap::drive(*parser, *input, options);
  std::cout << result.json << std::flush;
  return result.exit_code;
}

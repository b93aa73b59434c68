// anvil::loadgen::Config — what one hammer run does, and the command line that sets it.
//
// Contract: parse_args() never throws and never exits; a bad command line is a
// value (ParseError with a one-line message), and `--help` is a flag in the
// result. build_request() turns a Config into the exact bytes sent per request.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "anvil/parser/parser.hpp"

namespace anvil::loadgen {

struct Target {
  std::string host;  // as written in the URL (no brackets for IPv6)
  std::uint16_t port = 80;
  std::string path = "/";  // origin-form, at least "/"
};

struct Config {
  Target target;
  std::string url;
  int threads = 1;
  int connections = 10;
  std::vector<int> cpus;  // thread i runs on cpus[i % size]; empty: not pinned

  // The request: the raw bytes of --request FILE, or built from the URL.
  std::string request_file;
  std::string method = "GET";
  std::vector<std::string> headers;  // "Name: value"
  std::string body_file;

  bool close = false;  // a new connection for every request
  int pipeline = 1;    // requests written together before reading

  // Length: a count of requests (with a warm-up count), or a duration.
  std::optional<std::uint64_t> requests;
  std::uint64_t warmup = 0;
  std::chrono::nanoseconds duration{std::chrono::seconds(10)};
  std::chrono::nanoseconds warmup_duration{0};

  double rate = 0;  // requests/s in total; 0: as fast as possible

  parser::ParserKind parser = parser::ParserKind::fast;
  std::vector<int> expect_status;  // empty: any 2xx
  std::chrono::nanoseconds timeout{std::chrono::seconds(2)};
  std::string json_file;
  bool progress = true;  // live line on stderr (only when it is a terminal)
  bool help = false;
};

struct ParseError {
  std::string message;  // one line, no trailing newline
};

std::variant<Config, ParseError> parse_args(std::span<const std::string_view> args);

// Parses "http://host[:port][/path]"; IPv6 hosts in brackets.
std::optional<Target> parse_url(std::string_view url);

// "10", "10s", "250ms", "2m", "1.5s", "100us" -> duration; nullopt if malformed or negative.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view s);

// The bytes of one request: the file's contents as they are, or
// "METHOD path HTTP/1.1" + Host + -H fields (+ Content-Length and body).
// In --close mode a built request says "Connection: close" unless -H sets a
// Connection field. Returns ParseError if a file cannot be read or is empty.
std::variant<std::string, ParseError> build_request(const Config& config);

std::string usage();

}  // namespace anvil::loadgen

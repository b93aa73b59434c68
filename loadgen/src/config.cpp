#include "anvil/loadgen/config.hpp"

#include <sched.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

namespace anvil::loadgen {
namespace {

template <typename T>
std::optional<T> parse_number(std::string_view s) {
  T value{};
  const auto* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (ec != std::errc{} || ptr != end || s.empty()) return std::nullopt;
  return value;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

std::optional<std::vector<int>> parse_int_list(std::string_view s, int lo, int hi) {
  std::vector<int> out;
  while (!s.empty()) {
    const auto comma = s.find(',');
    const auto part = s.substr(0, comma);
    auto v = parse_number<int>(part);
    if (!v || *v < lo || *v > hi) return std::nullopt;
    out.push_back(*v);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
    if (s.empty()) return std::nullopt;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127 ||
        std::string_view("\"(),/:;<=>?@[\\]{}").find(c) != std::string_view::npos)
      return false;
  }
  return true;
}

// Options that take a value; the rest are flags.
constexpr std::string_view kValued[] = {"-t",
                                        "-c",
                                        "--cpus",
                                        "--request",
                                        "-X",
                                        "-H",
                                        "--body",
                                        "--pipeline",
                                        "--requests",
                                        "--warmup",
                                        "--duration",
                                        "-d",
                                        "--warmup-duration",
                                        "--rate",
                                        "-R",
                                        "--parser",
                                        "--expect-status",
                                        "--timeout",
                                        "--json",
                                        "--threads",
                                        "--connections",
                                        "--method",
                                        "--header"};
constexpr std::string_view kFlags[] = {"--close", "--help", "-h", "--no-progress"};

bool is_valued(std::string_view name) {
  for (auto v : kValued)
    if (v == name) return true;
  return false;
}
bool is_flag(std::string_view name) {
  for (auto f : kFlags)
    if (f == name) return true;
  return false;
}

// Applies one option; returns an error message or empty.
std::string apply(Config& c, std::string_view name, std::string_view value, bool& saw_requests,
                  bool& saw_duration, bool& saw_warmup, bool& saw_warmup_duration) {
  auto bad = [&](std::string_view what) {
    std::string shown(value);
    for (char& ch : shown)  // the message stays one line, whatever was typed
      if (static_cast<unsigned char>(ch) < 0x20) ch = '?';
    return std::string(name) + ": " + std::string(what) + " (got '" + shown + "')";
  };
  if (name == "-t" || name == "--threads") {
    auto v = parse_number<int>(value);
    if (!v || *v < 1 || *v > 1024) return bad("expected a thread count from 1 to 1024");
    c.threads = *v;
  } else if (name == "-c" || name == "--connections") {
    auto v = parse_number<int>(value);
    if (!v || *v < 1 || *v > 1'000'000) return bad("expected a connection count >= 1");
    c.connections = *v;
  } else if (name == "--cpus") {
    auto v = parse_int_list(value, 0, CPU_SETSIZE - 1);
    if (!v) return bad("expected a comma-separated list of CPU numbers");
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
      for (int cpu : *v)
        if (!CPU_ISSET(cpu, &allowed))
          return bad("CPU " + std::to_string(cpu) + " is not available");
    }
    c.cpus = *v;
  } else if (name == "--request") {
    c.request_file = value;
  } else if (name == "-X" || name == "--method") {
    if (!is_token(value)) return bad("expected a method token");
    c.method = value;
  } else if (name == "-H" || name == "--header") {
    const auto colon = value.find(':');
    if (colon == std::string_view::npos || !is_token(value.substr(0, colon)) ||
        value.find_first_of("\r\n") != std::string_view::npos)
      return bad("expected \"Name: value\"");
    c.headers.emplace_back(value);
  } else if (name == "--body") {
    c.body_file = value;
  } else if (name == "--pipeline") {
    auto v = parse_number<int>(value);
    if (!v || *v < 1 || *v > 1024) return bad("expected a depth from 1 to 1024");
    c.pipeline = *v;
  } else if (name == "--requests") {
    auto v = parse_number<std::uint64_t>(value);
    if (!v || *v < 1) return bad("expected a request count >= 1");
    c.requests = *v;
    saw_requests = true;
  } else if (name == "--warmup") {
    auto v = parse_number<std::uint64_t>(value);
    if (!v) return bad("expected a request count");
    c.warmup = *v;
    saw_warmup = true;
  } else if (name == "--duration" || name == "-d") {
    auto v = parse_duration(value);
    if (!v || v->count() <= 0) return bad("expected a duration such as 10s or 500ms");
    c.duration = *v;
    saw_duration = true;
  } else if (name == "--warmup-duration") {
    auto v = parse_duration(value);
    if (!v) return bad("expected a duration such as 2s");
    c.warmup_duration = *v;
    saw_warmup_duration = true;
  } else if (name == "--rate" || name == "-R") {
    auto v = parse_number<double>(value);
    if (!v || !std::isfinite(*v) || *v <= 0) return bad("expected requests per second > 0");
    c.rate = *v;
  } else if (name == "--parser") {
    auto k = parser::parser_kind_from_name(value);
    if (!k) return bad("expected one of " + parser::parser_kind_names());
    c.parser = *k;
  } else if (name == "--expect-status") {
    auto v = parse_int_list(value, 100, 999);
    if (!v) return bad("expected a comma-separated list of status codes");
    c.expect_status = *v;
  } else if (name == "--timeout") {
    auto v = parse_duration(value);
    if (!v || v->count() <= 0) return bad("expected a duration such as 2s");
    c.timeout = *v;
  } else if (name == "--json") {
    if (value.empty()) return bad("expected a file name");
    c.json_file = value;
  }
  return {};
}

std::string check(const Config& c, bool saw_requests, bool saw_duration, bool saw_warmup,
                  bool saw_warmup_duration) {
  if (c.url.empty()) return "missing URL (try --help)";
  if (c.connections < c.threads) return "-c: connections must be at least the number of threads";
  if (saw_requests && (saw_duration || saw_warmup_duration))
    return "--requests and --duration are exclusive";
  if (saw_warmup && !saw_requests) return "--warmup needs --requests (use --warmup-duration)";
  if (c.requests && c.warmup >= *c.requests) return "--warmup must be less than --requests";
  if (c.rate > 0 && c.pipeline > 1) return "--rate and --pipeline are exclusive";
  if (!c.request_file.empty() && (c.method != "GET" || !c.headers.empty() || !c.body_file.empty()))
    return "--request is exclusive with -X, -H and --body";
  return {};
}

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view s) {
  struct Unit {
    std::string_view suffix;
    double ns;
  };
  static constexpr Unit kUnits[] = {
      {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
  double scale = 1e9;
  for (const auto& u : kUnits) {
    if (s.size() > u.suffix.size() && s.ends_with(u.suffix)) {
      const auto rest = s.substr(0, s.size() - u.suffix.size());
      // "ms" also ends with "s": take the longest suffix whose rest is numeric.
      if (!rest.empty() &&
          (std::isdigit(static_cast<unsigned char>(rest.back())) || rest.back() == '.')) {
        scale = u.ns;
        s = rest;
        break;
      }
    }
  }
  auto v = parse_number<double>(s);
  if (!v || !std::isfinite(*v) || *v < 0 || *v * scale > 1e18) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(*v * scale)));
}

std::optional<Target> parse_url(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) return std::nullopt;
  url.remove_prefix(kScheme.size());
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  Target t;
  t.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  if (t.path.find_first_of(" \r\n\t") != std::string::npos) return std::nullopt;
  std::string_view port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    t.host = authority.substr(1, close - 1);
    auto rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return std::nullopt;
      port = rest.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    t.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (t.host.empty()) return std::nullopt;
  if (!port.empty() || authority.ends_with(':')) {
    auto p = parse_number<int>(port);
    if (!p || *p < 1 || *p > 65535) return std::nullopt;
    t.port = static_cast<std::uint16_t>(*p);
  }
  return t;
}

std::variant<Config, ParseError> parse_args(std::span<const std::string_view> args) {
  Config c;
  bool saw_requests = false, saw_duration = false, saw_warmup = false, saw_warmup_duration = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      c.help = true;
      return c;
    }
    if (arg == "--close") {
      c.close = true;
      continue;
    }
    if (arg == "--no-progress") {
      c.progress = false;
      continue;
    }
    if (arg.starts_with('-') && arg.size() > 1) {
      std::string_view name = arg, value;
      bool have_value = false;
      if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
        name = arg.substr(0, eq);
        value = arg.substr(eq + 1);
        have_value = true;
      } else if (!arg.starts_with("--") && arg.size() > 2) {
        name = arg.substr(0, 2);  // -t4, -c100, -HName:value
        value = arg.substr(2);
        have_value = true;
      }
      if (!is_valued(name)) {
        if (is_flag(name)) return ParseError{std::string(name) + ": takes no value"};
        return ParseError{"unknown option " + std::string(arg) + " (try --help)"};
      }
      if (!have_value) {
        if (i + 1 >= args.size()) return ParseError{std::string(name) + ": missing value"};
        value = args[++i];
      }
      if (auto err =
              apply(c, name, value, saw_requests, saw_duration, saw_warmup, saw_warmup_duration);
          !err.empty())
        return ParseError{err};
      continue;
    }
    if (!c.url.empty()) return ParseError{"more than one URL: " + std::string(arg)};
    auto t = parse_url(arg);
    if (!t)
      return ParseError{"bad URL '" + std::string(arg) + "' (expected http://host[:port][/path])"};
    c.url = arg;
    c.target = *t;
  }
  if (auto err = check(c, saw_requests, saw_duration, saw_warmup, saw_warmup_duration);
      !err.empty())
    return ParseError{err};
  if (saw_requests) c.duration = std::chrono::nanoseconds{0};
  return c;
}

std::variant<std::string, ParseError> build_request(const Config& c) {
  if (!c.request_file.empty()) {
    auto bytes = read_file(c.request_file);
    if (!bytes) return ParseError{"--request: cannot read " + c.request_file};
    if (bytes->empty()) return ParseError{"--request: " + c.request_file + " is empty"};
    return *bytes;
  }
  std::string body;
  if (!c.body_file.empty()) {
    auto b = read_file(c.body_file);
    if (!b) return ParseError{"--body: cannot read " + c.body_file};
    body = std::move(*b);
  }
  bool has_host = false, has_connection = false, has_length = false;
  for (const auto& h : c.headers) {
    const auto name = std::string_view(h).substr(0, h.find(':'));
    has_host |= iequals(name, "host");
    has_connection |= iequals(name, "connection");
    has_length |= iequals(name, "content-length") || iequals(name, "transfer-encoding");
  }
  std::ostringstream r;
  r << c.method << ' ' << c.target.path << " HTTP/1.1\r\n";
  if (!has_host) {
    const bool v6 = c.target.host.find(':') != std::string::npos;
    r << "Host: " << (v6 ? "[" : "") << c.target.host << (v6 ? "]" : "");
    if (c.target.port != 80) r << ':' << c.target.port;
    r << "\r\n";
  }
  for (const auto& h : c.headers) r << h << "\r\n";
  if (c.close && !has_connection) r << "Connection: close\r\n";
  if (!body.empty() && !has_length) r << "Content-Length: " << body.size() << "\r\n";
  r << "\r\n" << body;
  return r.str();
}

std::string usage() {
  return R"(Usage: hammer [options] URL        (URL: http://host[:port][/path])

A load generator for HTTP/1.1 that parses every response with anvil's parser.

Load:
  -t, --threads N          threads, each with its own event loop (default 1)
  -c, --connections N      connections in total, spread over the threads (default 10)
      --cpus LIST          pin thread i to CPU LIST[i % len], e.g. --cpus 1,3
      --close              a new connection for every request (default: keep-alive)
      --pipeline N         write N requests together before reading (default 1)
      --rate R             constant throughput, R requests/s in total; latency is
                           measured from each request's intended send time
                           (coordinated-omission correction, as wrk2)
Request (default: GET URL):
      --request FILE       send FILE's exact bytes (a raw HTTP request)
  -X, --method METHOD      request method
  -H, --header "N: v"      add a header field (repeatable)
      --body FILE          request body (adds Content-Length)
Length (default --duration 10s):
      --requests N         send exactly N requests ...
      --warmup M           ... of which the first M responses are not counted
  -d, --duration S         run for S (e.g. 10s, 500ms, 1m) ...
      --warmup-duration S  ... after a warm-up of S that is not counted
Checks:
      --parser NAME        llhttp, fast or http-parser (default fast)
      --expect-status LIST accepted statuses, e.g. 200,204 (default: any 2xx)
      --timeout S          per request; past it the request is a read timeout
                           (or a connect timeout) (default 2s)
Output:
      --json FILE          write every figure, with the latency histograms, to FILE
      --no-progress        no live progress line on stderr
  -h, --help               this text

Exit status: 0 after a run, 1 if no connection could be made at all, 2 on bad arguments.
)";
}

}  // namespace anvil::loadgen

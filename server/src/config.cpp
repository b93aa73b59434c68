// Options: parsing of --bind, the option table shared with the Python CLI,
// and argv parsing for anvil-native.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>

#include "access_format.hpp"
#include "anvil/parser/text.hpp"
#include "anvil/server/server.hpp"

namespace anvil::server {
namespace {

constexpr OptionSpec kOptions[] = {
    {"bind", "--bind", "ADDRESS",
     "listen on HOST:PORT, [IPV6]:PORT, :PORT, unix:PATH or fd://N (an inherited listening "
     "socket) (repeatable; default 127.0.0.1:8000, or systemd's LISTEN_FDS sockets)",
     true},
    {"workers", "--workers", "N",
     "worker processes forked by the master (default 1; 0: no master)"},
    {"threads", "--threads", "N", "Python threads per worker for the app (WSGI only; default 1)"},
    {"parser", "--parser", "llhttp|fast|http-parser", "request parser (default fast)"},
    {"backlog", "--backlog", "N", "listen(2) backlog (default 2048)"},
    {"keepalive", "--keepalive", "SECONDS",
     "idle time between requests on a connection (default 2; 0: close after each)"},
    {"timeout", "--timeout", "SECONDS",
     "time for a whole request head, each wait for body bytes and each wait to write (default 30); "
     "408 when a request was started"},
    {"graceful_timeout", "--graceful-timeout", "SECONDS",
     "on SIGTERM/SIGINT, how long requests in flight may still run (default 30)"},
    {"worker_timeout", "--worker-timeout", "SECONDS",
     "kill and replace a worker whose event loop has not run for this long, e.g. an app spinning "
     "with the GIL held (default 30; 0: off; gunicorn's --timeout)"},
    {"max_requests", "--max-requests", "N",
     "replace a worker gracefully once it has served N requests (default 0: never)"},
    {"max_requests_jitter", "--max-requests-jitter", "N",
     "add a random 0..N, drawn per worker, to --max-requests (default 0)"},
    {"limit_request_line", "--limit-request-line", "BYTES",
     "request line limit, 414 (default 8192)"},
    {"limit_request_fields", "--limit-request-fields", "N",
     "header field count limit, 431 (default 100)"},
    {"limit_request_field_size", "--limit-request-field-size", "BYTES",
     "header section size limit, 431 (default 65536)"},
    {"max_body_size", "--max-body-size", "BYTES", "request body limit, 413 (default 104857600)"},
    {"body_buffer_size", "--body-buffer-size", "BYTES",
     "request bodies up to this size stay in memory, larger ones go to a spool file "
     "(default 65536)"},
    {"spool_dir", "--spool-dir", "DIR",
     "directory of the (unlinked) spool files (default $TMPDIR, else /var/tmp)"},
    {"max_spool_size", "--max-spool-size", "BYTES",
     "bytes of spooled bodies per worker; past it, 503 (default 1073741824)"},
    {"max_connections", "--max-connections", "N",
     "open connections per worker; at the limit idle, then slow, ones are shed "
     "(default 0: RLIMIT_NOFILE - 256, at most 10000)"},
    {"max_pipeline", "--max-pipeline", "N", "pipelined requests answered per batch (default 16)"},
    {"access_log", "--access-log", "FILE|-", "access log file; - is stdout (default off)"},
    {"access_log_format", "--access-log-format", "FORMAT",
     "access log line with gunicorn's atoms, h l u t r s b f a D ... written as in gunicorn "
     "(default: Apache combined)"},
    {"error_log", "--error-log", "FILE|-",
     "where the server's log lines and the rest of stderr go; - is stderr (default -)"},
    {"log_level", "--log-level", "LEVEL", "debug|info|warning|error|critical (default info)"},
    {"stats", "--stats", "", "on exit, print the mean time per request in each stage"},
    {"root_path", "--root-path", "PREFIX",
     "WSGI: SCRIPT_NAME, the path prefix the app is mounted under (/app; a target that starts "
     "with it has it taken off PATH_INFO) (default: $SCRIPT_NAME, else none)"},
    {"forwarded_allow_ips", "--forwarded-allow-ips", "LIST",
     "WSGI: the proxies (addresses or networks, comma-separated; * for all) whose "
     "X-Forwarded-For, X-Forwarded-Proto and Forwarded fields set REMOTE_ADDR and "
     "wsgi.url_scheme; unix socket peers are trusted (default 127.0.0.1)"},
};

template <typename T>
std::optional<T> parse_int(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<double> parse_seconds(std::string_view s) {
  // from_chars for double is in libstdc++ 12.
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  if (!std::isfinite(v) || v < 0) return std::nullopt;
  return v;
}

std::string_view normalize(std::string_view name, std::string& storage) {
  if (name.starts_with("--")) name.remove_prefix(2);
  storage.assign(name);
  for (char& c : storage) {
    if (c == '-') c = '_';
  }
  return storage;
}

std::string error(std::string_view flag, std::string_view what, std::string_view value) {
  std::string e(flag);
  e += ": ";
  e += what;
  e += ": ";
  e += value;
  return e;
}

const OptionSpec* find(std::span<const OptionSpec> table, std::string_view name) {
  for (const auto& o : table) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

}  // namespace

std::string_view name_of(Stage s) noexcept {
  switch (s) {
    case Stage::read:
      return "read";
    case Stage::parse:
      return "parse";
    case Stage::environ:
      return "environ";
    case Stage::app:
      return "app";
    case Stage::write:
      return "write";
  }
  return "?";
}

std::optional<LogLevel> log_level_from_name(std::string_view name) noexcept {
  constexpr LogLevel all[] = {LogLevel::debug, LogLevel::info, LogLevel::warning, LogLevel::error,
                              LogLevel::critical};
  for (LogLevel l : all) {
    if (name_of(l) == name) return l;
  }
  return std::nullopt;
}

std::string_view name_of(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warning:
      return "warning";
    case LogLevel::error:
      return "error";
    case LogLevel::critical:
      return "critical";
  }
  return "?";
}

std::string Bind::to_string() const {
  if (kind == Kind::fd) return "fd://" + std::to_string(fd);
  if (kind == Kind::unix_socket) return "unix:" + path;
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::string BoundAddress::url() const {
  if (bind.kind == Bind::Kind::unix_socket) return bind.to_string();
  return "http://" + bind.to_string();
}

std::optional<Bind> parse_bind(std::string_view text) {
  Bind b;
  if (text.starts_with("fd://")) {
    auto fd = parse_int<int>(text.substr(5));
    if (!fd || *fd < 0) return std::nullopt;
    b.kind = Bind::Kind::fd;
    b.fd = *fd;
    return b;
  }
  if (text.starts_with("unix:")) {
    b.kind = Bind::Kind::unix_socket;
    b.path.assign(text.substr(5));
    // sun_path holds 108 bytes including the NUL (unix(7)).
    if (b.path.empty() || b.path.size() > 107) return std::nullopt;
    return b;
  }
  std::string_view host;
  std::string_view port;
  if (text.starts_with("[")) {
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    auto rest = text.substr(close + 1);
    if (!rest.starts_with(":")) return std::nullopt;
    port = rest.substr(1);
    if (host.find(':') == std::string_view::npos) return std::nullopt;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      port = text;  // "8000"
      host = "127.0.0.1";
    } else {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      if (host.find(':') != std::string_view::npos) return std::nullopt;  // v6 needs []
      if (host.empty()) host = "0.0.0.0";
    }
  }
  if (host == "localhost") host = "127.0.0.1";
  auto p = parse_int<std::uint16_t>(port);
  if (!p || host.empty()) return std::nullopt;
  b.host.assign(host);
  b.port = *p;
  return b;
}

std::span<const OptionSpec> option_table() { return kOptions; }

std::optional<std::string> set_option(ServerConfig& c, std::string_view raw_name,
                                      std::string_view value) {
  std::string storage;
  const std::string_view name = normalize(raw_name, storage);
  const OptionSpec* spec = find(kOptions, name);
  if (spec == nullptr) return "unknown option: " + std::string(raw_name);
  const std::string_view flag = spec->flag;

  auto positive = [&](auto& out, auto min) -> std::optional<std::string> {
    using T = std::remove_reference_t<decltype(out)>;
    auto v = parse_int<T>(value);
    if (!v || *v < min) return error(flag, "not a number >= " + std::to_string(min), value);
    out = *v;
    return std::nullopt;
  };
  auto seconds = [&](Seconds& out) -> std::optional<std::string> {
    auto v = parse_seconds(value);
    if (!v) return error(flag, "not a number of seconds", value);
    out = Seconds(*v);
    return std::nullopt;
  };

  if (name == "bind") {
    auto b = parse_bind(value);
    if (!b) return error(flag, "not HOST:PORT, [IPV6]:PORT, unix:PATH or fd://N", value);
    if (b->kind == Bind::Kind::fd) {
      if (auto e = check_listening_socket(b->fd)) return error(flag, *e, value);
    }
    c.binds.push_back(*b);
    return std::nullopt;
  }
  if (name == "workers") return positive(c.workers, 0);
  if (name == "threads") return positive(c.threads, 1);
  if (name == "parser") {
    auto k = parser::parser_kind_from_name(value);
    if (!k) return error(flag, "not one of " + parser::parser_kind_names(), value);
    c.parser = *k;
    return std::nullopt;
  }
  if (name == "backlog") return positive(c.backlog, 1);
  if (name == "keepalive") return seconds(c.keepalive);
  if (name == "timeout") {
    auto e = seconds(c.header_timeout);
    if (e) return e;
    if (c.header_timeout.count() <= 0) return error(flag, "must be > 0", value);
    c.body_timeout = c.write_timeout = c.header_timeout;
    return std::nullopt;
  }
  if (name == "graceful_timeout") return seconds(c.graceful_timeout);
  if (name == "worker_timeout") return seconds(c.worker_timeout);
  if (name == "max_requests") return positive(c.max_requests, std::uint64_t{0});
  if (name == "max_requests_jitter") return positive(c.max_requests_jitter, std::uint64_t{0});
  if (name == "limit_request_line") return positive(c.limits.request_line, std::size_t{1});
  if (name == "limit_request_fields") return positive(c.limits.fields, std::size_t{1});
  if (name == "limit_request_field_size") return positive(c.limits.header_bytes, std::size_t{1});
  if (name == "max_body_size") return positive(c.limits.body, std::uint64_t{1});
  if (name == "body_buffer_size") return positive(c.body_buffer_size, std::size_t{1});
  if (name == "spool_dir") {
    if (value.empty()) return error(flag, "not a directory", value);
    c.spool_dir.assign(value);
    return std::nullopt;
  }
  if (name == "max_spool_size") return positive(c.max_spool_size, std::uint64_t{0});
  if (name == "max_connections") return positive(c.max_connections, 0);
  if (name == "max_pipeline") return positive(c.max_pipeline, 1);
  if (name == "access_log") {
    c.access_log.assign(value);
    return std::nullopt;
  }
  if (name == "access_log_format") {
    if (auto e = AccessFormat::compile(value).error) return error(flag, *e, value);
    c.access_log_format.assign(value);
    return std::nullopt;
  }
  if (name == "error_log") {
    if (value.empty()) return error(flag, "not a file or -", "''");
    c.error_log.assign(value);
    return std::nullopt;
  }
  if (name == "log_level") {
    auto l = log_level_from_name(value);
    if (!l) return error(flag, "not debug|info|warning|error|critical", value);
    c.log_level = *l;
    return std::nullopt;
  }
  if (name == "root_path") {
    // PEP 3333 / CGI: SCRIPT_NAME is "" or starts with '/' and has no trailing one.
    if (!value.empty() && (value[0] != '/' || value.back() == '/' ||
                           value.find_first_of("?#") != std::string_view::npos ||
                           !parser::text::is_field_text(value))) {
      return error(flag, "not a path prefix like /app (a leading '/', no trailing '/')", value);
    }
    c.root_path.assign(value);
    return std::nullopt;
  }
  if (name == "forwarded_allow_ips") {
    std::string bad;
    auto t = TrustedPeers::parse(value, &bad);
    if (!t)
      return error(flag, "not an address, a network or *",
                   bad.empty() ? value : std::string_view(bad));
    c.forwarded_allow_ips = std::move(*t);
    return std::nullopt;
  }
  if (name == "stats") {
    if (value == "1" || value == "true" || value == "True") {
      c.stats = true;
    } else if (value == "0" || value == "false" || value == "False") {
      c.stats = false;
    } else {
      return error(flag, "not true or false", value);
    }
    return std::nullopt;
  }
  return "unknown option: " + std::string(raw_name);
}

ParsedArgs parse_args(std::span<const std::string_view> args, std::span<const OptionSpec> extra) {
  ParsedArgs out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == "--help" || a == "-h") {
      out.help = true;
      continue;
    }
    if (!a.starts_with("--")) {
      out.positional.emplace_back(a);
      continue;
    }
    std::string_view flag = a;
    std::optional<std::string_view> value;
    if (auto eq = a.find('='); eq != std::string_view::npos) {
      flag = a.substr(0, eq);
      value = a.substr(eq + 1);
    }
    std::string storage;
    std::string_view name = normalize(flag, storage);
    const OptionSpec* spec = find(kOptions, name);
    const OptionSpec* extra_spec = spec ? nullptr : find(extra, name);
    if (spec == nullptr && extra_spec == nullptr) {
      out.error = "unknown option: " + std::string(flag);
      return out;
    }
    const OptionSpec& s = spec ? *spec : *extra_spec;
    if (s.metavar.empty()) {
      if (!value) value = "true";
    } else if (!value) {
      if (i + 1 >= args.size()) {
        out.error = std::string(s.flag) + ": needs a value (" + std::string(s.metavar) + ")";
        return out;
      }
      value = args[++i];
    }
    if (extra_spec != nullptr) {
      out.extra.emplace_back(std::string(name), std::string(*value));
      continue;
    }
    if (auto e = set_option(out.config, name, *value)) {
      out.error = *e;
      return out;
    }
  }
  return out;
}

std::string usage(std::string_view program, std::string_view positional_help,
                  std::span<const OptionSpec> extra) {
  std::string u = "usage: " + std::string(program) + " [options] " + std::string(positional_help) +
                  "\n\noptions:\n";
  // One column for the help texts, wide enough for the longest flag.
  auto left_of = [](std::string_view flag, std::string_view metavar) {
    std::string left(2, ' ');
    left.append(flag);
    if (!metavar.empty()) {
      left += ' ';
      left.append(metavar);
    }
    return left;
  };
  std::size_t width = 0;
  for (const auto& o : kOptions) width = std::max(width, left_of(o.flag, o.metavar).size());
  for (const auto& o : extra) width = std::max(width, left_of(o.flag, o.metavar).size());
  auto row = [&](std::string_view flag, std::string_view metavar, std::string_view help) {
    std::string left = left_of(flag, metavar);
    left.resize(width, ' ');
    u += left;
    u += "  ";
    u.append(help);
    u += '\n';
  };
  for (const auto& o : kOptions) row(o.flag, o.metavar, o.help);
  for (const auto& o : extra) row(o.flag, o.metavar, o.help);
  row("--help", "", "show this help");
  return u;
}

std::string StatsSnapshot::format() const {
  std::string s = "requests " + std::to_string(requests);
  const double n = requests ? static_cast<double>(requests) : 1.0;
  char buf[64];
  for (std::size_t i = 0; i < kStageCount; ++i) {
    std::snprintf(buf, sizeof buf, "%s %s %.2f us", i == 0 ? ";" : ",",
                  std::string(name_of(static_cast<Stage>(i))).c_str(),
                  static_cast<double>(stage_ns[i]) / n / 1000.0);
    s += buf;
  }
  return s;
}

}  // namespace anvil::server

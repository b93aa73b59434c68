// The access log: gunicorn's access_log_format atoms, compiled once into
// pieces; each line is built in one reused string and written with one
// write(2). Nothing here runs when the access log is off.
#include "access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <system_error>

namespace anvil::server {
namespace {

// gunicorn's default: Apache's combined format.
constexpr std::string_view kCombined =
    R"(%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s")";

struct Named {
  std::string_view name;
  AccessFormat::Atom atom;
};
using A = AccessFormat::Atom;
constexpr Named kAtoms[] = {
    {"h", A::remote},       {"l", A::dash},         {"u", A::user},
    {"t", A::time},         {"r", A::request_line}, {"m", A::method},
    {"U", A::path},         {"q", A::query},        {"H", A::protocol},
    {"s", A::status},       {"B", A::bytes},        {"b", A::bytes_or_dash},
    {"f", A::referer},      {"a", A::agent},        {"T", A::seconds},
    {"M", A::milliseconds}, {"D", A::microseconds}, {"L", A::decimal_seconds},
    {"p", A::pid},
};

// Quoted fields must not be able to forge log lines: a quote, backslash or
// control byte is escaped (as Apache's mod_log_config does).
void append_escaped(std::string& out, std::string_view v) {
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
}

void append_or_dash(std::string& out, std::string_view v) {
  append_escaped(out, v.empty() ? std::string_view("-") : v);
}

// s equals lower, which is lower case, ignoring the case of ASCII letters in s.
bool equals_lower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i] >= 'A' && s[i] <= 'Z' ? static_cast<char>(s[i] + ('a' - 'A')) : s[i];
    if (c != lower[i]) return false;
  }
  return true;
}

// name is lower case.
std::string_view find_field(const parser::Message& m, std::string_view name) {
  for (const auto& f : m.fields) {
    if (equals_lower(f.name, name)) return f.value;
  }
  return {};
}

// The path of an origin-form or absolute-form target, without the query.
std::string_view target_path(std::string_view target) {
  if (const auto scheme = target.find("://");
      scheme != std::string_view::npos && target.find('/') == scheme + 1) {
    const auto slash = target.find('/', scheme + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  return target.substr(0, target.find('?'));
}

std::string_view target_query(std::string_view target) {
  const auto q = target.find('?');
  return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

// gunicorn's %(u)s: the user name of `Authorization: Basic base64(user:pass)`.
std::string basic_user(std::string_view authorization) {
  if (authorization.size() < 6 || !equals_lower(authorization.substr(0, 5), "basic") ||
      authorization[5] != ' ') {
    return {};
  }
  std::string_view b64 = authorization.substr(6);
  while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
  while (!b64.empty() && b64.back() == ' ') b64.remove_suffix(1);
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t pad = 0;
  for (char c : b64) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    if (c >= '0' && c <= '9') v = c - '0' + 52;
    if (c == '+') v = 62;
    if (c == '/') v = 63;
    if (c == '=') {
      ++pad;
      continue;
    }
    if (v < 0 || pad > 0) return {};  // not base64, or data after padding
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (pad > 2 || (b64.size() % 4) != 0) return {};
  const auto colon = out.find(':');
  if (colon == std::string::npos) return {};
  out.resize(colon);
  return out;
}

void append_number(std::string& out, std::uint64_t v) {
  std::array<char, 24> buf;
  const int n = std::snprintf(buf.data(), buf.size(), "%llu", static_cast<unsigned long long>(v));
  out.append(buf.data(), static_cast<std::size_t>(n));
}

class TimingHandler final : public Handler {
 public:
  TimingHandler(std::shared_ptr<Handler> inner, AccessLog& log)
      : inner_(std::move(inner)), log_(log) {}
  void handle(std::shared_ptr<Exchange> exchange) override {
    log_.started(exchange.get());
    inner_->handle(std::move(exchange));
  }
  void stop() override { inner_->stop(); }

 private:
  std::shared_ptr<Handler> inner_;
  AccessLog& log_;
};

}  // namespace

AccessFormat AccessFormat::compile(std::string_view format) {
  if (format.empty()) format = kCombined;
  AccessFormat f;
  auto literal = [&f](std::string_view text) {
    if (text.empty()) return;
    if (f.pieces.empty() || f.pieces.back().atom != Atom::literal) f.pieces.push_back({});
    f.pieces.back().text.append(text);
  };
  std::size_t i = 0;
  while (i < format.size()) {
    const auto pct = format.find('%', i);
    literal(format.substr(i, pct == std::string_view::npos ? pct : pct - i));
    if (pct == std::string_view::npos) break;
    if (format.substr(pct).starts_with("%%")) {
      literal("%");
      i = pct + 2;
      continue;
    }
    if (!format.substr(pct).starts_with("%(")) {
      f.error = "a % starts %(NAME)s or is written %%";
      return f;
    }
    const auto close = format.find(")s", pct + 2);
    if (close == std::string_view::npos) {
      f.error = "unclosed atom: a %( with no )s";
      return f;
    }
    const std::string_view name = format.substr(pct + 2, close - pct - 2);
    i = close + 2;
    if (name.size() > 3 && name.front() == '{' && name.ends_with("}i")) {
      std::string header(name.substr(1, name.size() - 3));
      for (char& c : header) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
      }
      f.pieces.push_back({Atom::request_header, std::move(header)});
      continue;
    }
    const Named* found = nullptr;
    for (const auto& n : kAtoms) {
      if (n.name == name) found = &n;
    }
    if (found == nullptr) {
      f.error = "unknown atom %(" + std::string(name) + ")s";
      return f;
    }
    f.pieces.push_back({found->atom, {}});
    const Atom a = found->atom;
    if (a == Atom::seconds || a == Atom::milliseconds || a == Atom::microseconds ||
        a == Atom::decimal_seconds) {
      f.needs_time = true;
    }
  }
  return f;
}

AccessLog::AccessLog(const ServerConfig& config, DateCache& date)
    : format_(AccessFormat::compile(config.access_log_format)), date_(date) {
  if (format_.error) throw std::invalid_argument("--access-log-format: " + *format_.error);
  if (config.access_log == "-") {
    fd_ = STDOUT_FILENO;
  } else {
    fd_ = ::open(config.access_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      throw std::system_error(errno, std::generic_category(),
                              "open access log " + config.access_log);
    }
    own_fd_ = true;
  }
  pid_text_.assign(1, '<');
  pid_text_ += std::to_string(::getpid());
  pid_text_ += '>';
}

AccessLog::~AccessLog() {
  if (own_fd_) ::close(fd_);
}

void AccessLog::forget(const Exchange* ex) noexcept {
  if (!started_.empty()) started_.erase(ex);
}

void AccessLog::write(const Exchange& ex, int status, std::uint64_t bytes) {
  std::optional<std::chrono::nanoseconds> elapsed;
  if (format_.needs_time) {
    if (auto it = started_.find(&ex); it != started_.end()) {
      elapsed = Clock::now() - it->second;
      started_.erase(it);
    }
  }
  line_.clear();
  for (const auto& piece : format_.pieces) append(piece, ex, status, bytes, elapsed);
  line_ += '\n';
  [[maybe_unused]] const ssize_t n = ::write(fd_, line_.data(), line_.size());
}

void AccessLog::append(const AccessFormat::Piece& piece, const Exchange& ex, int status,
                       std::uint64_t bytes, std::optional<std::chrono::nanoseconds> elapsed) {
  const parser::Message& m = ex.request();
  std::string& out = line_;
  const auto us = elapsed ? static_cast<std::uint64_t>(elapsed->count() / 1000) : 0;
  switch (piece.atom) {
    case A::literal:
      out += piece.text;
      return;
    case A::remote:
      append_or_dash(out, ex.unix_socket() ? std::string_view() : ex.remote_address());
      return;
    case A::dash:
      out += '-';
      return;
    case A::user:
      append_or_dash(out, basic_user(find_field(m, "authorization")));
      return;
    case A::time:
      out += date_.log_time();
      return;
    case A::request_line:
      append_escaped(out, m.method);
      out += ' ';
      append_escaped(out, m.target);
      out += ' ';
      [[fallthrough]];
    case A::protocol:
      out += "HTTP/";
      out += static_cast<char>('0' + m.version_major);
      out += '.';
      out += static_cast<char>('0' + m.version_minor);
      return;
    case A::method:
      append_escaped(out, m.method);
      return;
    case A::path:
      append_escaped(out, target_path(m.target));
      return;
    case A::query:
      append_escaped(out, target_query(m.target));
      return;
    case A::status:
      append_number(out, static_cast<std::uint64_t>(status));
      return;
    case A::bytes:
      append_number(out, bytes);
      return;
    case A::bytes_or_dash:
      if (bytes == 0) {
        out += '-';
      } else {
        append_number(out, bytes);
      }
      return;
    case A::referer:
      append_or_dash(out, find_field(m, "referer"));
      return;
    case A::agent:
      append_or_dash(out, find_field(m, "user-agent"));
      return;
    case A::seconds:
      append_number(out, us / 1'000'000);
      return;
    case A::milliseconds:
      append_number(out, us / 1000);
      return;
    case A::microseconds:
      append_number(out, us);
      return;
    case A::decimal_seconds: {
      char buf[48];
      const int n = std::snprintf(buf, sizeof buf, "%llu.%06llu",
                                  static_cast<unsigned long long>(us / 1'000'000),
                                  static_cast<unsigned long long>(us % 1'000'000));
      out.append(buf, static_cast<std::size_t>(n));
      return;
    }
    case A::pid:
      out += pid_text_;
      return;
    case A::request_header:
      append_or_dash(out, find_field(m, piece.text));
      return;
  }
}

std::shared_ptr<Handler> time_requests(std::shared_ptr<Handler> handler, AccessLog& log) {
  return std::make_shared<TimingHandler>(std::move(handler), log);
}

}  // namespace anvil::server

// --access-log-format, compiled: the pieces of a line (no I/O, no Asio), so
// that option parsing can check a format with the same code that runs it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace anvil::server {

// gunicorn's access_log_format: "%(NAME)s" atoms and "%%" in literal text.
// https://docs.gunicorn.org/en/stable/settings.html#access-log-format
struct AccessFormat {
  enum class Atom : std::uint8_t {
    literal,          // text
    remote,           // h: remote address ("-" on a unix socket)
    dash,             // l: "-"
    user,             // u: the user of Basic authorization, else "-"
    time,             // t: [10/Oct/2000:13:55:36 -0700]
    request_line,     // r: GET /path?q HTTP/1.1
    method,           // m
    path,             // U: the path as sent (gunicorn's is PATH_INFO, decoded)
    query,            // q: the query string
    protocol,         // H: HTTP/1.1
    status,           // s
    bytes,            // B: response body bytes
    bytes_or_dash,    // b: the same, "-" for none
    referer,          // f
    agent,            // a
    seconds,          // T: request time, whole seconds
    milliseconds,     // M
    microseconds,     // D
    decimal_seconds,  // L: 0.001234
    pid,              // p: <12345>
    request_header,   // {name}i: text is the lower-case name
  };
  struct Piece {
    Atom atom = Atom::literal;
    std::string text;
  };

  std::vector<Piece> pieces;
  bool needs_time = false;  // a T, M, D or L atom
  // Set (one line, "unknown atom %(x)s") when the format cannot be compiled.
  std::optional<std::string> error;

  // "" is Apache combined, gunicorn's default.
  static AccessFormat compile(std::string_view format);
};

}  // namespace anvil::server

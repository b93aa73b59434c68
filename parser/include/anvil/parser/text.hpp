// anvil::parser::text: the HTTP text rules that the server and the WSGI layer
// share (token characters, field text, ASCII case-insensitive compare, token
// lists, hop-by-hop fields). Header-only, no allocation, no state.
//
// The two parsers keep their own internal copies on purpose: the
// differential fuzzer holds two independent implementations against each
// other. Everything else uses this header (one rule, one place).
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string_view>

#include "anvil/parser/parser.hpp"

namespace anvil::parser::text {

namespace detail {
constexpr std::array<bool, 256> make_tchar_table() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
inline constexpr std::array<bool, 256> kTchar = make_tchar_table();
}  // namespace detail

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-"
// / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
constexpr bool is_tchar(unsigned char c) noexcept { return detail::kTchar[c]; }

// RFC 9110 §5.6.2: token = 1*tchar (field names, methods, codings).
constexpr bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// RFC 9110 §5.5: a field value (or a reason phrase) holds HTAB, SP, VCHAR and
// obs-text only; CR, LF, NUL and the other controls would split or corrupt
// the message.
constexpr bool is_field_text(std::string_view v) noexcept {
  for (char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

constexpr char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

// ASCII case-insensitive equality (field names, tokens: RFC 9110 §5.1).
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// Without leading and trailing OWS (SP / HTAB, RFC 9110 §5.6.3).
constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A comma-separated list (RFC 9110 §5.6.1) holds `token`, case-insensitively.
constexpr bool has_token(std::string_view list, std::string_view token) noexcept {
  for (;;) {
    const std::size_t comma = list.find(',');
    if (iequals(trim_ows(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

// RFC 9110 §7.6.1: fields that belong to one connection (Connection,
// Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade), which a WSGI
// app must not set (PEP 3333): the core frames the response and writes its
// own. "Connection: close" alone is the exception, as in gunicorn: the core
// honours it (response_head.cpp's wants_close). anvil/_pywsgi.py holds the
// same rule for the Python-side path.
constexpr bool is_hop_by_hop(std::string_view name, std::string_view value) noexcept {
  if (iequals(name, "connection")) return !iequals(trim_ows(value), "close");
  return iequals(name, "keep-alive") || iequals(name, "transfer-encoding") ||
         iequals(name, "upgrade") || iequals(name, "te") || iequals(name, "trailer") ||
         (name.size() > 6 && iequals(name.substr(0, 6), "proxy-"));
}

// The value of the first field named `name` (case-insensitive), "" if none.
constexpr std::string_view find_field(std::span<const Field> fields,
                                      std::string_view name) noexcept {
  for (const Field& f : fields) {
    if (iequals(f.name, name)) return f.value;
  }
  return {};
}

}  // namespace anvil::parser::text

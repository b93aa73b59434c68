// Pieces of the `fast` parser shared by every instruction-set variant of its
// head scanner (fast_head_impl.hpp): byte classes, the resumable head state and
// the meaning of the fields that frame a message (parser/RULES.md).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "anvil/parser/parser.hpp"

namespace anvil::parser::detail::fast {

// ---- Byte classes (RFC 9110 §5.6.2 tchar, §5.5 field-vchar / obs-text) ----

enum ByteClass : std::uint8_t {
  kTchar = 1,
  kHex = 2,
  kQdtext = 4,    // RFC 9110 §5.6.4: HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
  kPairable = 8,  // after a backslash in a quoted-string: HTAB / SP / VCHAR / obs-text
};

constexpr bool is_tchar_byte(unsigned c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

constexpr std::array<std::uint8_t, 256> make_class_table() {
  std::array<std::uint8_t, 256> t{};
  for (unsigned c = 0; c < 256; ++c) {
    std::uint8_t v = 0;
    if (is_tchar_byte(c)) v |= kTchar;
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) v |= kHex;
    const bool vchar = c >= 0x21 && c <= 0x7E;
    const bool obs = c >= 0x80;
    if (c == '\t' || c == ' ' || (vchar && c != '"' && c != '\\') || obs) v |= kQdtext;
    if (c == '\t' || c == ' ' || vchar || obs) v |= kPairable;
    t[c] = v;
  }
  return t;
}

inline constexpr std::array<std::uint8_t, 256> kClass = make_class_table();

inline bool has(char c, ByteClass k) { return (kClass[static_cast<unsigned char>(c)] & k) != 0; }
inline bool is_tchar(char c) { return has(c, kTchar); }
inline bool is_ows(char c) { return c == ' ' || c == '\t'; }
// Bytes that end a scan of a field value or reason phrase: controls and DEL.
// HTAB is among them and is checked again by the caller (it is allowed).
inline bool is_ctl(char c) {
  const auto b = static_cast<unsigned char>(c);
  return b <= 0x1F || b == 0x7F;
}
// Bytes that end a request target: controls, SP and DEL.
inline bool is_ctl_or_sp(char c) {
  const auto b = static_cast<unsigned char>(c);
  return b <= 0x20 || b == 0x7F;
}

// Nibble tables for a SIMD tchar test: byte b is a tchar iff
// lo[b & 15] & hi[b >> 4] != 0. Bit k stands for the row of bytes 0x(k+2)0-0x(k+2)F,
// the only rows that hold tchars.
constexpr std::array<std::uint8_t, 16> make_tchar_lo() {
  std::array<std::uint8_t, 16> t{};
  for (unsigned lo = 0; lo < 16; ++lo) {
    for (unsigned k = 0; k < 6; ++k) {
      if (is_tchar_byte(((k + 2) << 4) | lo)) t[lo] |= static_cast<std::uint8_t>(1u << k);
    }
  }
  return t;
}
constexpr std::array<std::uint8_t, 16> make_tchar_hi() {
  std::array<std::uint8_t, 16> t{};
  for (unsigned k = 0; k < 6; ++k) t[k + 2] = static_cast<std::uint8_t>(1u << k);
  return t;
}
alignas(16) inline constexpr std::array<std::uint8_t, 16> kTcharLo = make_tchar_lo();
alignas(16) inline constexpr std::array<std::uint8_t, 16> kTcharHi = make_tchar_hi();

inline std::size_t sat_add(std::size_t a, std::size_t b) {
  return b > SIZE_MAX - a ? SIZE_MAX : a + b;
}

// Plain scans, for the generic variant and for the tails of the SIMD ones.
inline std::size_t scalar_nontchar(const char* b, std::size_t p, std::size_t end) {
  while (p < end && is_tchar(b[p])) ++p;
  return p;
}
inline std::size_t scalar_ctl(const char* b, std::size_t p, std::size_t end) {
  while (p < end && !is_ctl(b[p])) ++p;
  return p;
}
inline std::size_t scalar_ctl_or_sp(const char* b, std::size_t p, std::size_t end) {
  while (p < end && !is_ctl_or_sp(b[p])) ++p;
  return p;
}

// ---- Resumable head state ----

// Where a head (or trailer section) scan stopped. Offsets count from the first
// byte of the head, which stays at buf[0] until the head is consumed whole.
enum HeadPart : std::uint8_t {
  kMethod,
  kTarget,
  kVersion,
  kRequestLf,
  kStatusVersion,
  kStatusCode,
  kStatusAfterCode,
  kReason,
  kStatusLf,
  kLineStart,
  kName,
  kValue,
  kFieldLf,
  kFinalLf,
};

enum class HeadStep : std::uint8_t { need_more, complete, error };

struct HeadState {
  std::size_t pos = 0;      // next byte to examine
  std::size_t mark = 0;     // start of the current part (target, version, name, reason)
  std::size_t colon = 0;    // the current field line's colon
  std::size_t section = 0;  // first byte of the field section
  HeadPart part = kMethod;
  Error error = Error::none;
  // What the fields seen so far say (RULES.md "Fields with meaning").
  std::uint32_t host_count = 0;
  std::uint32_t te_elements = 0;
  std::uint64_t content_length = 0;
  bool content_length_seen = false;
  bool te_seen = false;
  bool te_unknown = false;
  bool te_chunked_misplaced = false;  // `chunked` followed by any coding, itself included
  bool te_last_chunked = false;
  bool close = false;
  bool keep_alive = false;
  bool connection_upgrade = false;
  bool upgrade_field = false;
  bool expect_continue = false;
};

// ---- Fields with meaning ----

inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// Bytes s[at, at + W) with every letter lowered. Field names are all tchars,
// where `| 0x20` lowers a letter and keeps '-' (the only other byte in the
// names below), so no other tchar can alias a letter.
template <class W>
inline W lowered(const char* s, std::size_t at) {
  W w;
  std::memcpy(&w, s + at, sizeof w);
  return w | static_cast<W>(0x2020202020202020ULL);
}

// name equals the lower-case literal, letters compared case-insensitively, in
// two or three overlapping word compares (N >= 4).
template <std::size_t N>
inline bool token_iequals(std::string_view name, const char (&lower)[N]) {
  constexpr std::size_t n = N - 1;
  static_assert(n >= 4);
  if (name.size() != n) return false;
  const char* s = name.data();
  if constexpr (n < 8) {
    return lowered<std::uint32_t>(s, 0) == lowered<std::uint32_t>(lower, 0) &&
           lowered<std::uint32_t>(s, n - 4) == lowered<std::uint32_t>(lower, n - 4);
  } else {
    bool eq = lowered<std::uint64_t>(s, 0) == lowered<std::uint64_t>(lower, 0) &&
              lowered<std::uint64_t>(s, n - 8) == lowered<std::uint64_t>(lower, n - 8);
    if constexpr (n > 16) {
      eq = eq && lowered<std::uint64_t>(s, 8) == lowered<std::uint64_t>(lower, 8);
    }
    return eq;
  }
}

inline bool iequals(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (ascii_lower(s[i]) != lower[i]) return false;
  }
  return true;
}

inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Calls f(element) for each OWS-trimmed, non-empty element of a
// comma-separated list (RFC 9110 §5.6.1); stops early when f returns false.
template <class F>
inline bool for_each_element(std::string_view list, F&& f) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty() && !f(element)) return false;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return true;
}

// RULES.md: 1*DIGIT that fits in 64 bits.
inline bool parse_content_length(std::string_view v, std::uint64_t& out) {
  if (v.empty()) return false;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (n > (UINT64_MAX - d) / 10) return false;
    n = n * 10 + d;
  }
  out = n;
  return true;
}

inline bool known_coding(std::string_view c) {
  return iequals(c, "gzip") || iequals(c, "x-gzip") || iequals(c, "deflate") ||
         iequals(c, "compress") || iequals(c, "x-compress");
}

// Out of line, like on_connection_list: rare, and inlined into the field loop
// it would take registers from it.
[[gnu::noinline]] inline Error on_transfer_encoding(HeadState& st, std::string_view value) {
  st.te_seen = true;
  bool tokens = true;
  for_each_element(value, [&](std::string_view e) {
    if (scalar_nontchar(e.data(), 0, e.size()) != e.size()) return tokens = false;
    ++st.te_elements;
    const bool chunked = iequals(e, "chunked");
    if (st.te_last_chunked) st.te_chunked_misplaced = true;
    st.te_last_chunked = chunked;
    if (!chunked && !known_coding(e)) st.te_unknown = true;
    return true;
  });
  return tokens ? Error::none : Error::bad_transfer_encoding;
}

[[gnu::noinline]] inline void on_connection_list(HeadState& st, std::string_view value) {
  for_each_element(value, [&](std::string_view e) {
    if (iequals(e, "close")) st.close = true;
    if (iequals(e, "keep-alive")) st.keep_alive = true;
    if (iequals(e, "upgrade")) st.connection_upgrade = true;
    return true;
  });
}

// The common values, one token, in word compares first. token_iequals is
// exact here too: a value holds no byte below 0x20 but HTAB (0x09 | 0x20 is
// ')'), so `| 0x20` can only make a letter of its other case, and '-' only
// of itself or CR, which a value cannot hold.
inline void on_connection(HeadState& st, std::string_view value) {
  if (token_iequals(value, "close")) {
    st.close = true;
  } else if (token_iequals(value, "keep-alive")) {
    st.keep_alive = true;
  } else {
    on_connection_list(st, value);
  }
}

inline Error on_content_length(HeadState& st, std::string_view value) {
  std::uint64_t n = 0;
  if (!parse_content_length(value, n)) return Error::bad_content_length;
  if (st.content_length_seen && n != st.content_length) return Error::conflicting_content_length;
  st.content_length_seen = true;
  st.content_length = n;
  return Error::none;
}

// A head field line is complete (checked at its CRLF, RULES.md "Order of
// checks"). Names are told apart by length first, so most fields cost one switch.
inline Error on_head_field(HeadState& st, Mode mode, std::string_view name,
                           std::string_view value) {
  switch (name.size()) {
    case 4:
      // RFC 9112 §3.2: a request with more than one Host is rejected.
      if (token_iequals(name, "host") && ++st.host_count > 1 && mode == Mode::request) {
        return Error::multiple_host;
      }
      return Error::none;
    case 6:
      if (token_iequals(name, "expect") && iequals(value, "100-continue")) {
        st.expect_continue = true;
      }
      return Error::none;
    case 7:
      if (token_iequals(name, "upgrade")) st.upgrade_field = true;
      return Error::none;
    case 10:
      if (token_iequals(name, "connection")) on_connection(st, value);
      return Error::none;
    case 14:
      if (token_iequals(name, "content-length")) return on_content_length(st, value);
      return Error::none;
    case 17:
      if (token_iequals(name, "transfer-encoding")) return on_transfer_encoding(st, value);
      return Error::none;
    default:
      return Error::none;
  }
}

// One instruction-set variant of the head scanner (fast_head_impl.hpp).
struct HeadScanner {
  // A whole head: start line and fields into m, meaning into st.
  HeadStep (*head)(HeadState& st, Message& m, const Limits& limits, Mode mode, const char* b,
                   std::size_t avail);
  // A trailer section: field lines into fields, no meaning.
  HeadStep (*trailers)(HeadState& st, std::vector<Field>& fields, const Limits& limits,
                       const char* b, std::size_t avail);
};

// The best variant this CPU runs (AVX2, SSE4.2 or plain code).
const HeadScanner& best_head_scanner();
// A given variant, for tests and benchmarks: "avx2", "sse42" or "generic";
// nullptr when the CPU lacks it or the name is unknown.
const HeadScanner* head_scanner_named(std::string_view name);

// make_fast_parser() with a chosen variant instead of the best one.
std::unique_ptr<Parser> make_fast_parser_with(Mode mode, const Limits& limits,
                                              const HeadScanner& scanner);

}  // namespace anvil::parser::detail::fast

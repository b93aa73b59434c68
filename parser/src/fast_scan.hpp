// Pieces of the `fast` parser shared by every instruction-set variant of its
// head scanner (fast_head_impl.hpp): byte classes, the resumable head state and
// the meaning of the fields that frame a message (parser/RULES.md).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
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
  // RFC 3986 §3.3, §3.4: a path or query byte other than "%" (pchar, "/", "?").
  kPathByte = 16,
  kRegNameByte = 32,    // RFC 3986 §3.2.2: a reg-name byte other than "%" (unreserved, sub-delims)
  kIpLiteralByte = 64,  // a byte inside "[" "]": unreserved, sub-delims, ":"
};

constexpr bool is_tchar_byte(unsigned c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// RFC 3986 §2.3 unreserved and §2.2 sub-delims.
constexpr bool is_reg_name_byte(unsigned c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("-._~!$&'()*+,;=").find(static_cast<char>(c)) != std::string_view::npos;
}

// RFC 3986 §3.3 pchar (without pct-encoded), "/" and "?" (§3.4).
constexpr bool is_path_byte(unsigned c) {
  return is_reg_name_byte(c) || c == ':' || c == '@' || c == '/' || c == '?';
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
    if (is_path_byte(c)) v |= kPathByte;
    if (is_reg_name_byte(c)) v |= kRegNameByte;
    if (is_reg_name_byte(c) || c == ':') v |= kIpLiteralByte;
    t[c] = v;
  }
  return t;
}

inline constexpr std::array<std::uint8_t, 256> kClass = make_class_table();

inline bool has(char c, ByteClass k) { return (kClass[static_cast<unsigned char>(c)] & k) != 0; }
inline bool is_tchar(char c) { return has(c, kTchar); }
inline bool is_ows(char c) { return c == ' ' || c == '\t'; }
inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
// Bytes that end a scan of a field value or reason phrase: controls and DEL.
// HTAB is among them and is checked again by the caller (it is allowed).
inline bool is_ctl(char c) {
  const auto b = static_cast<unsigned char>(c);
  return b <= 0x1F || b == 0x7F;
}

// Nibble tables for a SIMD class test: byte b is in the class iff
// lo[b & 15] & hi[b >> 4] != 0. Bit k stands for the row of bytes 0x(k+2)0-0x(k+2)F,
// the only rows that hold tchars or path bytes.
template <bool (*kIn)(unsigned)>
constexpr std::array<std::uint8_t, 16> make_class_lo() {
  std::array<std::uint8_t, 16> t{};
  for (unsigned lo = 0; lo < 16; ++lo) {
    for (unsigned k = 0; k < 6; ++k) {
      if (kIn(((k + 2) << 4) | lo)) t[lo] |= static_cast<std::uint8_t>(1u << k);
    }
  }
  return t;
}
constexpr std::array<std::uint8_t, 16> make_class_hi() {
  std::array<std::uint8_t, 16> t{};
  for (unsigned k = 0; k < 6; ++k) t[k + 2] = static_cast<std::uint8_t>(1u << k);
  return t;
}
alignas(16) inline constexpr std::array<std::uint8_t, 16> kTcharLo = make_class_lo<is_tchar_byte>();
alignas(16) inline constexpr std::array<std::uint8_t, 16> kPathLo = make_class_lo<is_path_byte>();
alignas(16) inline constexpr std::array<std::uint8_t, 16> kRowHi = make_class_hi();

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
inline std::size_t scalar_nonpath(const char* b, std::size_t p, std::size_t end) {
  while (p < end && has(b[p], kPathByte)) ++p;
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

// Where a request-target scan stands (RULES.md "Request target"). The state
// is all in the part (and HeadState::port), so that HeadState stays small.
enum TargetPart : std::uint8_t {
  kTargetStart,  // the first byte decides the form
  kPath,         // path and query bytes, origin-form or after an authority
  kPathHex1,     // after "%" in a path: two HEXDIGs due (RFC 3986 §2.1)
  kPathHex2,
  kAsterisk,  // after OPTIONS's "*": only the SP may follow
  kScheme,    // absolute-form: kScheme + n after n bytes of "http" or "https"
  kScheme1,
  kScheme2,
  kScheme3,
  kScheme4,
  kScheme5,
  kSlash1,  // "//" after the scheme's ":"
  kSlash2,
  kHostStart,  // an authority's host: "[" or the first reg-name byte
  kRegName,
  kRegNameHex1,
  kRegNameHex2,
  kIpLiteral,  // inside "[" "]"
  kAfterHost,  // after "]" or the reg-name: ":" port, or the path
  kPort,       // after ":", no digit yet
  kPortDigits,
};

// What the fields seen so far say (RULES.md "Fields with meaning"): all that
// a field line changes, so that whole_fields() can work on a copy.
struct FieldFacts {
  std::uint32_t host_count = 0;
  std::uint32_t te_elements = 0;
  std::uint64_t content_length = 0;
  bool content_length_seen = false;
  bool te_seen = false;
  bool te_unknown = false;
  bool te_other = false;              // a coding other than `chunked` (known or not)
  bool te_chunked_misplaced = false;  // `chunked` followed by any coding, itself included
  bool te_last_chunked = false;
  bool close = false;
  bool keep_alive = false;
  bool connection_upgrade = false;
  bool upgrade_field = false;
  bool expect_continue = false;
  bool connect = false;  // the request's method is CONNECT (set with the target)
};

struct HeadState {
  std::size_t pos = 0;       // next byte to examine
  std::size_t mark = 0;      // start of the current part (target, version, name, reason)
  union {                    // (one word for two uses: HeadState is zeroed per message)
    std::size_t colon = 0;   // field lines: the current line's colon
    std::size_t ip_literal;  // the request-target: first byte after an IP-literal's "["
  };
  std::size_t section = 0;  // first byte of the field section
  HeadPart part = kMethod;
  Error error = Error::none;
  TargetPart target = kTargetStart;  // the request-target (RULES.md "Request target")
  TargetForm form = TargetForm::origin;
  std::uint32_t port = 0;  // the request-target's port so far
  FieldFacts facts;
};

// ---- The request-target (RULES.md "Request target") ----

// RFC 3986 §3.2.2 IPv4address: four dec-octets (0-255, no leading zero).
inline bool is_ipv4(std::string_view s) {
  int octets = 0;
  std::size_t i = 0;
  for (;;) {
    const std::size_t from = i;
    unsigned v = 0;
    while (i < s.size() && i - from < 4 && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + static_cast<unsigned>(s[i++] - '0');
    }
    const std::size_t n = i - from;
    if (n == 0 || n > 3 || v > 255 || (n > 1 && s[from] == '0')) return false;
    if (++octets == 4) return i == s.size();
    if (i == s.size() || s[i] != '.') return false;
    ++i;
  }
}

// RFC 3986 §3.2.2 IPv6address: eight groups of 1-4 HEXDIGs (an IPv4address
// last counts as two), or at most seven with one "::" standing for the rest.
inline bool is_ipv6(std::string_view s) {
  const std::size_t n = s.size();
  std::size_t i = 0;
  unsigned groups = 0;
  bool gap = false;
  if (n >= 2 && s[0] == ':' && s[1] == ':') {
    gap = true;
    i = 2;
  } else if (n >= 1 && s[0] == ':') {
    return false;
  }
  while (i < n) {
    std::size_t j = i;
    while (j < n && j - i < 5 && has(s[j], kHex)) ++j;
    if (j < n && s[j] == '.') {
      if (!is_ipv4(s.substr(i))) return false;
      groups += 2;
      break;
    }
    if (j == i || j - i > 4) return false;
    ++groups;
    if (j == n) break;
    if (s[j] != ':') return false;
    if (j + 1 < n && s[j + 1] == ':') {
      if (gap) return false;
      gap = true;
      i = j + 2;
    } else {
      i = j + 1;
      if (i == n) return false;  // a trailing single ":"
    }
  }
  return gap ? groups <= 7 : groups == 8;
}

// RFC 3986 §3.2.2: IP-literal = "[" ( IPv6address / IPvFuture ) "]", the
// bytes between the brackets (all kIpLiteralByte already).
inline bool is_ip_literal(std::string_view s) {
  if (s.empty() || (s[0] != 'v' && s[0] != 'V')) return is_ipv6(s);
  // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
  std::size_t i = 1;
  while (i < s.size() && has(s[i], kHex)) ++i;
  return i > 1 && i + 1 < s.size() && s[i] == '.';
}

// RFC 9112 §3.2.3: CONNECT's target is host ":" port, and only its. (Any
// other method starts at kTargetStart, HeadState's default.)
inline void start_authority_form(HeadState& st) {
  st.facts.connect = true;
  st.target = kHostStart;
  st.form = TargetForm::authority;
}

// After a host: ":" port, or (absolute-form) the path or query.
inline bool after_host(HeadState& st, char c) {
  if (c == ':') {
    st.target = kPort;
    return true;
  }
  if (st.form == TargetForm::absolute && (c == '/' || c == '?')) {
    st.target = kPath;
    return true;
  }
  return false;
}

// One target byte at b[p] that is not SP, CR or LF: false when it is not
// allowed where it stands (bad_target at that byte).
inline bool target_byte(HeadState& st, std::string_view method, const char* b, std::size_t p) {
  const char c = b[p];
  switch (st.target) {
    case kTargetStart:
      if (c == '/') {
        st.target = kPath;
        return true;
      }
      if (c == '*') {  // RFC 9112 §3.2.4: OPTIONS only, and alone
        st.form = TargetForm::asterisk;
        st.target = kAsterisk;
        return method == "OPTIONS";
      }
      st.form = TargetForm::absolute;
      st.target = kScheme;
      [[fallthrough]];
    case kScheme:
    case kScheme1:
    case kScheme2:
    case kScheme3:
      // RFC 9110 §4.2: the http and https schemes, case-insensitively.
      if (ascii_lower(c) != "http"[st.target - kScheme]) return false;
      st.target = static_cast<TargetPart>(st.target + 1);
      return true;
    case kScheme4:
      if (ascii_lower(c) == 's') {
        st.target = kScheme5;
        return true;
      }
      [[fallthrough]];
    case kScheme5:
      st.target = kSlash1;
      return c == ':';
    case kSlash1:
    case kSlash2:
      st.target = st.target == kSlash1 ? kSlash2 : kHostStart;
      return c == '/';
    case kHostStart:
      if (c == '[') {
        st.ip_literal = p + 1;
        st.target = kIpLiteral;
        return true;
      }
      // RFC 9110 §4.2.1: an empty host is invalid.
      if (c != '%' && !has(c, kRegNameByte)) return false;
      st.target = kRegName;
      [[fallthrough]];
    case kRegName:
      if (c == '%') {
        st.target = kRegNameHex1;
        return true;
      }
      return has(c, kRegNameByte) || after_host(st, c);
    case kIpLiteral:
      if (c != ']') return has(c, kIpLiteralByte);
      st.target = kAfterHost;
      return is_ip_literal(std::string_view(b + st.ip_literal, p - st.ip_literal));
    case kAfterHost:
      return after_host(st, c);
    case kPort:
    case kPortDigits:
      if (c >= '0' && c <= '9') {
        st.port = st.port * 10 + static_cast<std::uint32_t>(c - '0');
        st.target = kPortDigits;
        return st.port <= 65535;
      }
      if (st.form == TargetForm::absolute && (c == '/' || c == '?')) {
        st.target = kPath;
        return true;
      }
      return false;
    case kPath:
      if (c == '%') {
        st.target = kPathHex1;
        return true;
      }
      return has(c, kPathByte);
    case kPathHex1:
    case kRegNameHex1:  // RFC 3986 §2.1: "%" HEXDIG HEXDIG
      st.target = static_cast<TargetPart>(st.target + 1);
      return has(c, kHex);
    case kPathHex2:
    case kRegNameHex2:
      st.target = st.target == kPathHex2 ? kPath : kRegName;
      return has(c, kHex);
    case kAsterisk:
      return false;
  }
  return false;
}

// The SP after the target: true when the target is whole.
inline bool target_complete(const HeadState& st) {
  switch (st.target) {
    case kPath:
    case kAsterisk:
    case kPortDigits:  // RFC 9110 §9.3.6: CONNECT's port is not optional
      return true;
    case kRegName:
    case kAfterHost:
    case kPort:
      return st.form == TargetForm::absolute;
    default:
      return false;
  }
}

// ---- Fields with meaning ----

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
[[gnu::noinline]] inline Error on_transfer_encoding(FieldFacts& st, std::string_view value) {
  st.te_seen = true;
  bool tokens = true;
  for_each_element(value, [&](std::string_view e) {
    if (scalar_nontchar(e.data(), 0, e.size()) != e.size()) return tokens = false;
    ++st.te_elements;
    const bool chunked = iequals(e, "chunked");
    if (st.te_last_chunked) st.te_chunked_misplaced = true;
    st.te_last_chunked = chunked;
    if (!chunked) {
      st.te_other = true;
      if (!known_coding(e)) st.te_unknown = true;
    }
    return true;
  });
  return tokens ? Error::none : Error::bad_transfer_encoding;
}

[[gnu::noinline]] inline void on_connection_list(FieldFacts& st, std::string_view value) {
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
inline void on_connection(FieldFacts& st, std::string_view value) {
  if (token_iequals(value, "close")) {
    st.close = true;
  } else if (token_iequals(value, "keep-alive")) {
    st.keep_alive = true;
  } else {
    on_connection_list(st, value);
  }
}

inline Error on_content_length(FieldFacts& st, std::string_view value) {
  std::uint64_t n = 0;
  if (!parse_content_length(value, n)) return Error::bad_content_length;
  if (st.content_length_seen && n != st.content_length) return Error::conflicting_content_length;
  st.content_length_seen = true;
  st.content_length = n;
  return Error::none;
}

// A head field line is complete (checked at its CRLF, RULES.md "Order of
// checks"). Names are told apart by length first, so most fields cost one switch.
inline Error on_head_field(FieldFacts& st, Mode mode, std::string_view name,
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

// RULES.md "Trailers": the fields RFC 9110 §6.5.1 keeps out of a trailer
// section (framing, routing, request modifiers, authentication, response
// control data, content format), by length and then by name.
[[gnu::noinline]] inline bool forbidden_trailer(std::string_view name) {
  auto any = [name](std::initializer_list<std::string_view> names) {
    for (std::string_view n : names) {
      if (iequals(name, n)) return true;
    }
    return false;
  };
  switch (name.size()) {
    case 2:
      return any({"te"});
    case 3:
      return any({"age"});
    case 4:
      return any({"host", "date", "vary"});
    case 5:
      return any({"range"});
    case 6:
      return any({"expect", "pragma", "cookie"});
    case 7:
      return any({"trailer", "upgrade", "expires", "warning"});
    case 8:
      return any({"if-match", "if-range", "location"});
    case 10:
      return any({"connection", "keep-alive", "set-cookie"});
    case 11:
      return any({"retry-after"});
    case 12:
      return any({"content-type", "max-forwards"});
    case 13:
      return any({"cache-control", "if-none-match", "authorization", "content-range"});
    case 14:
      return any({"content-length"});
    case 16:
      return any({"www-authenticate", "content-encoding"});
    case 17:
      return any({"transfer-encoding", "if-modified-since"});
    case 18:
      return any({"proxy-authenticate"});
    case 19:
      return any({"if-unmodified-since", "proxy-authorization", "authentication-info"});
    case 25:
      return any({"proxy-authentication-info"});
    default:
      return false;
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

// The checking pass shared by the plug-ins that wrap a C parser library
// (llhttp, http-parser): the library tokenizes and frames, the checking pass
// holds it to parser/RULES.md ("Plug-ins that wrap a library" there).
//
// The library tokenizes: it hands out the field names and values, frames and
// delivers the bodies, walks the chunked coding and the trailers. Where it is
// laxer than RULES.md (obs-fold, bare LF, an empty field name, any two bytes
// after chunk data, HTTP/0.9 and 2.0) or stricter (only its own method list
// and URL grammar, duplicate equal Content-Length), the checking pass decides:
//  * a byte-level gate checks the head, chunk-size lines, chunk-data ends and
//    trailers before the library sees them, so errors fall at the byte
//    RULES.md names, limits included ("the first violation in byte order
//    decides");
//  * the start line is checked by the gate and the library gets a fixed one
//    ("GET / HTTP/1.1", "HTTP/1.1 200 X"): any token is a method in RULES.md;
//  * the library's special-field logic is switched off (by the Lib, after
//    each name) and the checking pass applies the field rules at each field
//    line and at the end of the head; the Lib then sets its library's
//    framing from Message::body;
//  * chunk extensions are checked by the gate and never reach the library:
//    it gets the size digits followed by CRLF.
// A rule the library already enforces exactly as RULES.md states it (at the
// same byte, with the same Error) is named in Lib::kEnforced, and the gate
// leaves it out (`Rules` below).
// All kept positions are absolute stream offsets (the buffer may move between
// calls), turned into pointers against the current call's buffer.
//
// A Lib (one per library, in its own translation unit: llhttp.h and
// http_parser.h cannot share one) provides:
//   static constexpr ParserKind kKind;  static constexpr Rules kEnforced;
//   static constexpr uint64_t kMaxChunkSize; string_view kMaxChunkSizeDigits:
//                                      the largest chunk size it takes, and
//                                      what it is fed for a larger one
//   void init(Mode, void* owner);     a new connection; callbacks get owner
//   Fed execute(const char*, size_t); parse bytes (a pause after a complete
//                                      message is lifted at once)
//   Error error() const;              the Error for the library's last failure
//   void finish();                    the input ended (a body until close)
// and calls back the CheckedParser<Lib> methods under "The library's callbacks".
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "anvil/parser/parser.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace anvil::parser::detail::checked {

// ---- Byte classes (RFC 9110 §5.6.2 tchar, §5.5 field-vchar, §5.6.4 qdtext) ----

enum ByteClass : std::uint8_t {
  kTchar = 1,
  kFieldChar = 2,  // HTAB, SP, VCHAR, obs-text: a field value or reason byte
  kPathChar = 4,   // RFC 3986 pchar but pct-encoded, "/", "?": path and query bytes
  kHex = 8,
  kQdtext = 16,
  kQuotable = 32,  // after a backslash in a quoted-string
  kHostChar = 64,  // RFC 3986 unreserved, sub-delims: reg-name bytes but pct-encoded
  kIpChar = 128,   // inside an IP-literal's brackets: kHostChar and ":"
};

constexpr bool tchar_byte(unsigned c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  for (char t : std::string_view("!#$%&'*+-.^_`|~")) {
    if (static_cast<unsigned>(t) == c) return true;
  }
  return false;
}

// RFC 3986 §2.3 unreserved / §2.2 sub-delims.
constexpr bool host_byte(unsigned c) {
  const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  for (char t : std::string_view("-._~!$&'()*+,;=")) {
    if (static_cast<unsigned>(t) == c) return true;
  }
  return alnum;
}

constexpr std::array<std::uint8_t, 256> make_classes() {
  std::array<std::uint8_t, 256> t{};
  for (unsigned c = 0; c < 256; ++c) {
    const bool vchar = c >= 0x21 && c <= 0x7E;
    const bool obs = c >= 0x80;
    const bool ws = c == ' ' || c == '\t';
    std::uint8_t v = 0;
    if (tchar_byte(c)) v |= kTchar;
    if (ws || vchar || obs) v |= kFieldChar | kQuotable;
    if (host_byte(c)) v |= kHostChar | kIpChar | kPathChar;
    if (c == ':') v |= kIpChar | kPathChar;
    if (c == '@' || c == '/' || c == '?') v |= kPathChar;
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) v |= kHex;
    if (ws || c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E) || obs) {
      v |= kQdtext;
    }
    t[c] = v;
  }
  return t;
}

inline constexpr std::array<std::uint8_t, 256> kClasses = make_classes();

inline bool is(char c, ByteClass k) { return (kClasses[static_cast<unsigned char>(c)] & k) != 0; }
inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

// The first byte in [p, end) that is not a field-value byte (HTAB, SP, VCHAR,
// obs-text); end if none. Values are most of a head's bytes: 16 at a time
// with SSE2.
inline const char* skip_field_value(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i flip = _mm_set1_epi8(static_cast<char>(0x80));
  const __m128i low = _mm_set1_epi8(static_cast<char>(0x20 ^ 0x80));
  const __m128i tab = _mm_set1_epi8('\t');
  const __m128i del = _mm_set1_epi8(0x7F);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Unsigned v < low, as a signed compare of both with the top bit flipped.
    __m128i bad = _mm_cmplt_epi8(_mm_xor_si128(v, flip), low);
    bad = _mm_andnot_si128(_mm_cmpeq_epi8(v, tab), bad);
    bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, del));
    const int mask = _mm_movemask_epi8(bad);
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  while (p < end && is(*p, kFieldChar)) ++p;
  return p;
}

// The first CR or LF in [p, end); end if none.
inline const char* skip_to_line_end(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf));
    const int mask = _mm_movemask_epi8(hit);
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  while (p < end && *p != '\r' && *p != '\n') ++p;
  return p;
}

// ---- The request-target (RULES.md "Request target") ----

// RFC 3986 §3.2.2 IP-literal, the bytes between "[" and "]": IPv6address,
// as the C library reads one (inet_pton follows RFC 4291 §2.2, the same
// text forms), or IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ).
inline bool ip_literal_ok(std::string_view s) {
  if (!s.empty() && (s.front() == 'v' || s.front() == 'V')) {
    const std::size_t dot = s.find('.');
    if (dot == std::string_view::npos || dot == 1 || dot + 1 == s.size()) return false;
    return std::all_of(s.begin() + 1, s.begin() + static_cast<std::ptrdiff_t>(dot),
                       [](char c) { return is(c, kHex); });
  }
  char text[INET6_ADDRSTRLEN + 1];
  if (s.size() >= sizeof text) return false;
  std::memcpy(text, s.data(), s.size());
  text[s.size()] = '\0';
  in6_addr addr{};
  return inet_pton(AF_INET6, text, &addr) == 1;
}

// Where a target's check stands, one byte at a time.
enum class TargetGate : std::uint8_t {
  first,       // decides the form
  path,        // path and query (origin-form, or after an absolute-form's authority)
  asterisk,    // OPTIONS *
  scheme,      // "http" / "https", case-insensitive
  slashes,     // "//"
  host,        // the first byte of a host
  reg_name,    //
  ip_literal,  // after "["
  after_host,  // ":" port, or the path
  port,
};

struct TargetCheck {
  TargetGate gate = TargetGate::first;
  TargetForm form = TargetForm::origin;
  unsigned escape = 0;  // HEXDIGs still due after "%"
  unsigned count = 0;   // scheme bytes or slashes so far, port digits
  std::uint32_t port = 0;
  std::uint64_t bracket = 0;  // stream position of the IP-literal's "["
};

// ---- Field values with meaning (RULES.md "Fields with meaning") ----

// s equals `lower` (already lower case), ASCII case-insensitively.
inline bool iequals(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (c != lower[i]) return false;
  }
  return true;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Calls f on every non-empty element of a comma-separated list, OWS trimmed;
// stops (false) when f does.
template <class F>
inline bool each_element(std::string_view list, F&& f) {
  for (;;) {
    const std::size_t comma = list.find(',');
    const std::string_view e = trim(list.substr(0, comma));
    if (!e.empty() && !f(e)) return false;
    if (comma == std::string_view::npos) return true;
    list.remove_prefix(comma + 1);
  }
}

inline bool all_tchar(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return is(c, kTchar); });
}

// 1*DIGIT that fits in 64 bits (RFC 9110 §8.6).
inline bool parse_length(std::string_view v, std::uint64_t& out) {
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

// What the field lines of one head said, gathered field by field.
struct HeadFacts {
  std::uint32_t hosts = 0;
  std::uint32_t codings = 0;  // Transfer-Encoding elements
  std::uint64_t content_length = 0;
  bool has_length = false;
  bool has_te = false;
  bool unknown_coding = false;
  bool other_coding = false;       // a coding other than `chunked` (known or not)
  bool chunked_misplaced = false;  // a coding after `chunked` (itself included)
  bool last_chunked = false;
  bool close = false;
  bool keep_alive = false;
  bool connection_upgrade = false;
  bool upgrade_field = false;
  bool expect_continue = false;
  bool connect = false;  // the request's method is CONNECT
};

inline Error note_transfer_encoding(HeadFacts& h, std::string_view value) {
  h.has_te = true;
  const bool tokens = each_element(value, [&h](std::string_view e) {
    if (!all_tchar(e)) return false;
    ++h.codings;
    const bool chunked = iequals(e, "chunked");
    if (h.last_chunked) h.chunked_misplaced = true;
    h.last_chunked = chunked;
    if (!chunked) {
      h.other_coding = true;
      if (!known_coding(e)) h.unknown_coding = true;
    }
    return true;
  });
  return tokens ? Error::none : Error::bad_transfer_encoding;
}

inline Error note_content_length(HeadFacts& h, std::string_view value) {
  std::uint64_t n = 0;
  if (!parse_length(value, n)) return Error::bad_content_length;
  // RFC 9110 §8.6: equal repeated values may be taken as one; others are an error.
  if (h.has_length && n != h.content_length) return Error::conflicting_content_length;
  h.has_length = true;
  h.content_length = n;
  return Error::none;
}

inline void note_connection(HeadFacts& h, std::string_view value) {
  each_element(value, [&h](std::string_view e) {
    if (iequals(e, "close")) h.close = true;
    if (iequals(e, "keep-alive")) h.keep_alive = true;
    if (iequals(e, "upgrade")) h.connection_upgrade = true;
    return true;
  });
}

// The rules about one field line, applied at its CRLF.
inline Error note_field(HeadFacts& h, Mode mode, std::string_view name, std::string_view value) {
  switch (name.size()) {
    case 4:
      // RFC 9112 §3.2: a request with more than one Host is rejected.
      if (iequals(name, "host") && ++h.hosts > 1 && mode == Mode::request) {
        return Error::multiple_host;
      }
      return Error::none;
    case 6:
      if (iequals(name, "expect") && iequals(value, "100-continue")) h.expect_continue = true;
      return Error::none;
    case 7:
      if (iequals(name, "upgrade")) h.upgrade_field = true;
      return Error::none;
    case 10:
      if (iequals(name, "connection")) note_connection(h, value);
      return Error::none;
    case 14:
      return iequals(name, "content-length") ? note_content_length(h, value) : Error::none;
    case 17:
      return iequals(name, "transfer-encoding") ? note_transfer_encoding(h, value) : Error::none;
    default:
      return Error::none;
  }
}

// RULES.md "Trailers": what RFC 9110 §6.5.1 keeps out of a trailer section,
// because it must be known before the content: framing and connection,
// routing, request modifiers (controls, conditionals), authentication,
// response control data, and the content's format.
inline constexpr std::array<std::string_view, 36> kNotTrailers = {
    // framing and the connection
    "content-length", "transfer-encoding", "trailer", "connection", "keep-alive", "upgrade",
    // routing
    "host",
    // request modifiers: controls and conditionals
    "cache-control", "expect", "max-forwards", "pragma", "range", "te", "if-match", "if-none-match",
    "if-modified-since", "if-unmodified-since", "if-range",
    // authentication
    "authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate",
    "authentication-info", "proxy-authentication-info", "cookie", "set-cookie",
    // response control data
    "age", "date", "expires", "location", "retry-after", "vary", "warning",
    // the content's format
    "content-encoding", "content-type", "content-range"};

inline bool not_a_trailer(std::string_view name) {
  return std::any_of(kNotTrailers.begin(), kNotTrailers.end(),
                     [name](std::string_view n) { return iequals(name, n); });
}

// ---- The gate's states ----

enum class LineGate : std::uint8_t {
  empty_lines,  // requests: CRLFs before the request line (RFC 9112 §2.2)
  empty_lf,
  method,
  target_start,
  target,
  version,  // "HTTP/" DIGIT "." DIGIT, then CR (requests) or SP (responses)
  status_code,
  after_code,
  reason,
  line_lf,
  done,
};

enum class FieldGate : std::uint8_t { line_start, name, value, value_lf, final_lf, done };

enum class ChunkGate : std::uint8_t {
  first_digit,
  digits,
  ext_name_start,
  ext_name,
  ext_value_start,
  ext_token,
  ext_quoted,
  ext_quoted_pair,
  ext_after_quoted,
  lf,
  done,
};

enum class Phase : std::uint8_t {
  head,
  fixed_body,
  chunk_size,
  chunk_data,
  chunk_end,
  trailers,
  until_close,
  complete,  // the library finished the message; the next call reports done
  closed,    // after a request without keep-alive: nothing more (RFC 9112 §9.6)
  failed,
};

// Where a field's name and value lie in the stream.
struct FieldPos {
  std::uint64_t name = 0;
  std::uint64_t name_len = 0;
  std::uint64_t value = 0;
  std::uint64_t value_len = 0;
};

// RULES.md rules that a library may enforce itself, exactly as RULES.md
// states them: at the same byte, with the same Error. A Lib names those its
// library enforces in kEnforced, and the gate leaves them out: the plug-in
// does not pay twice for them (RULES.md "Plug-ins that wrap a C library").
// Each one is held to the other plug-ins by the corpus (whole and split at
// every byte) and the differential fuzzers.
enum class Rule : std::uint32_t {
  // The bytes of a field value, head and trailers (RULES.md "Field lines"):
  // HTAB, SP, VCHAR, obs-text; any other byte but CR and LF is
  // bad_field_value, at that byte. CR and LF (the line's end,
  // bad_line_ending) stay the gate's.
  field_value_bytes = 1U << 0,
};
using Rules = std::uint32_t;
inline constexpr Rules kNoRules = 0;
template <class... R>
constexpr Rules enforced(R... rules) {
  return (kNoRules | ... | static_cast<Rules>(rules));
}
constexpr bool enforces(Rules rules, Rule r) { return (rules & static_cast<Rules>(r)) != 0; }

// What the library parses instead of the real start line (see the file comment).
inline constexpr std::string_view kRequestLine = "GET / HTTP/1.1\r\n";
inline constexpr std::string_view kStatusLine = "HTTP/1.1 200 X\r\n";
inline constexpr std::string_view kCrlf = "\r\n";

// What Lib::execute() did: ok (false: the library stopped on an error), and
// how many bytes it parsed (fewer than given when it stopped after a
// complete message).
struct Fed {
  bool ok;
  std::size_t parsed;
};

template <class Lib>
class CheckedParser final : public Parser {
 public:
  CheckedParser(Mode mode, const Limits& limits) : Parser(Lib::kKind, mode, limits) {
    head_pos_.reserve(limits.fields);
    trailer_pos_.reserve(limits.fields);
    reset();
  }

  Step next(std::string_view buf) override {
    if (phase_ == Phase::failed) return {Event::error, 0};
    attach(buf);
    switch (phase_) {
      case Phase::head:
        return next_head();
      case Phase::fixed_body:
        return next_fixed();
      case Phase::chunk_size:
      case Phase::chunk_data:
      case Phase::chunk_end:
        return next_chunked();
      case Phase::trailers:
        return next_trailers();
      case Phase::until_close:
        return next_until_close();
      case Phase::complete:
        return report_done(msg_end_);
      case Phase::closed:
        return {Event::end, 0};
      case Phase::failed:
        break;
    }
    return {Event::error, 0};
  }

  Step finish(std::string_view buf) override {
    if (phase_ == Phase::failed) return {Event::error, 0};
    attach(buf);
    switch (phase_) {
      case Phase::complete:
        return report_done(msg_end_);
      case Phase::closed:
        return {Event::end, 0};
      case Phase::until_close:
        // RFC 9112 §6.3 (last rule): the body ends with the connection.
        if (fed_ < end_pos()) return next_until_close();
        lib_.finish();
        return report_done(fed_);
      case Phase::head:
        // Between messages (empty lines already consumed) nothing is left.
        if (buf.empty()) return {Event::end, 0};
        return fail(Error::incomplete);
      default:
        return fail(Error::incomplete);
    }
  }

  void reset() override {
    lib_.init(mode_, this);
    error_ = Error::none;
    origin_ = 0;
    body_ = {};
    trailers_.clear();
    start_message();
  }

 private:
  // ---- Positions: absolute stream offsets, origin_ is buf[0] ----

  void attach(std::string_view buf) {
    base_ = buf.data();
    size_ = buf.size();
    body_ = {};
  }
  const char* ptr(std::uint64_t pos) const { return base_ + (pos - origin_); }
  std::uint64_t pos_of(const char* p) const {
    return origin_ + static_cast<std::uint64_t>(p - base_);
  }
  std::uint64_t end_pos() const { return origin_ + size_; }
  bool in_buffer(const char* p) const {
    return base_ != nullptr && p >= base_ && p <= base_ + size_;
  }

  // An event; everything before `upto` may be dropped by the caller.
  Step report(Event e, std::uint64_t upto) {
    const auto consumed = static_cast<std::size_t>(upto - origin_);
    origin_ = upto;
    return {e, consumed};
  }

  Step fail(Error e) {
    error_ = e;
    phase_ = Phase::failed;
    return {Event::error, 0};
  }

  void start_message() {
    phase_ = Phase::head;
    line_ = mode_ == Mode::request ? LineGate::empty_lines : LineGate::version;
    fields_ = FieldGate::line_start;
    scan_ = fed_ = line_start_ = origin_;
    field_count_ = 0;
    version_index_ = 0;
    facts_ = HeadFacts{};
    head_pos_.clear();
    trailer_pos_.clear();
    collecting_ = &head_pos_;
    field_open_ = name_open_ = value_open_ = false;
    headers_done_ = message_done_ = false;
    field_error_ = Error::none;
    body_total_ = 0;
  }

  // ---- Feeding the library ----

  // Feeds the stream bytes [from, to). False when the library stopped on an
  // error; after a complete message fed_ stops where it did.
  bool feed(std::uint64_t from, std::uint64_t to) {
    const Fed r = lib_.execute(ptr(from), static_cast<std::size_t>(to - from));
    if (!r.ok) return false;
    fed_ = from + r.parsed;
    return true;
  }

  bool feed_fixed(std::string_view bytes) {
    const Fed r = lib_.execute(bytes.data(), bytes.size());
    return r.ok && r.parsed == bytes.size();
  }

  // Feeds the library the bytes the gate passed: up to `checked`, or up to
  // the byte `at` where the gate stopped on `gate_error`. Returns the error
  // that comes first in byte order: the library's or a field rule's (both
  // before `at`), else the gate's.
  Error feed_checked(std::uint64_t checked, Error gate_error, std::uint64_t at) {
    const std::uint64_t to = gate_error == Error::none ? checked : at;
    if (to > fed_ && !feed(fed_, to)) {
      return field_error_ != Error::none ? field_error_ : lib_.error();
    }
    if (field_error_ != Error::none) return field_error_;
    if (const Error e = settle_last_line(); e != Error::none) return e;
    return gate_error;
  }

 public:
  // ---- The library's callbacks, in the checking pass's terms ----
  // Each returns false (or an Error) when the library must stop; the reason
  // is kept and reported in byte order by feed_checked().

  // A piece of a field name. A piece that does not continue the open name
  // starts a new field line, and settles the one before it if the library
  // has no callback for a value's end (http-parser).
  bool on_field_name(const char* at, std::size_t n) {
    if (!in_buffer(at)) return true;
    std::vector<FieldPos>& fields = *collecting_;
    if (name_open_) {
      fields.back().name_len += n;
      return true;
    }
    if (field_open_ && !on_field_complete()) return false;
    // Only a line the gate rejects goes past the limit; never allocate.
    if (fields.size() == fields.capacity()) return true;
    fields.push_back(FieldPos{pos_of(at), n, 0, 0});
    field_open_ = name_open_ = true;
    value_open_ = false;
    field_settled_ = false;
    return true;
  }

  // A piece of the open field's value (leading OWS already dropped).
  void on_field_value(const char* at, std::size_t n) {
    if (!field_open_) return;
    name_open_ = false;
    if (n == 0 || !in_buffer(at)) return;
    FieldPos& f = collecting_->back();
    if (value_open_) {
      f.value_len += n;
    } else {
      f.value = pos_of(at);
      f.value_len = n;
      value_open_ = true;
    }
  }

  // The open field's line has ended: its rules apply now.
  bool on_field_complete() {
    if (!field_open_) return true;
    const Error e = settle_field();
    field_open_ = name_open_ = false;
    if (e == Error::none) return true;
    field_error_ = e;
    return false;
  }

  // The empty line ending the head: the rules across fields, then the
  // framing in message().body / content_length for the Lib to set in its
  // library. Error::none, or why the head is rejected (kept for feed_checked).
  Error on_head_complete() {
    // Libraries take a bare LF (or any byte after a CR) as the end of the
    // head; they only get gate-checked bytes, and this holds them to that.
    if (fields_ != FieldGate::done) return field_error_ = Error::bad_line_ending;
    if (!on_field_complete()) return field_error_;
    const Error e = end_of_head();
    if (e != Error::none) field_error_ = e;
    return e;
  }

  void on_body(const char* at, std::size_t n) {
    // A library may hand one fed range out in several pieces: they follow
    // each other in the buffer.
    if (!body_.empty() && body_.data() + body_.size() == at) {
      body_ = std::string_view(body_.data(), body_.size() + n);
    } else {
      body_ = std::string_view(at, n);
    }
  }

  // The library completed the message; the Lib stops it here (one event per call).
  void on_message_complete() { message_done_ = true; }

 private:
  // Trims the open field's value and applies the rules due at its CRLF, once.
  // A library completes a value only on seeing the next line's first byte
  // (it looks for obs-fold), so when the input ends right after a field line
  // the checking pass settles that field itself (see settle_last_line()).
  Error settle_field() {
    if (field_settled_) return Error::none;
    field_settled_ = true;
    FieldPos& f = collecting_->back();
    if (!value_open_) f.value = f.name + f.name_len + 1;  // empty: just after the colon
    // The library drops leading OWS; trailing OWS is not part of the value either.
    while (f.value_len > 0 && is_ows(*ptr(f.value + f.value_len - 1))) --f.value_len;
    const std::string_view name = view(f.name, f.name_len);
    if (collecting_ != &head_pos_)
      return not_a_trailer(name) ? Error::forbidden_trailer : Error::none;
    return note_field(facts_, mode_, name, view(f.value, f.value_len));
  }

  // After feeding: a field line whose LF the gate has passed is settled now,
  // not when the next byte arrives (RULES.md: field rules at the CRLF).
  Error settle_last_line() {
    if (!field_open_ || collecting_->back().name >= line_done_at_) return Error::none;
    return settle_field();
  }

  std::string_view view(std::uint64_t pos, std::uint64_t len) const {
    return {ptr(pos), static_cast<std::size_t>(len)};
  }

  // ---- The head ----

  Step next_head() {
    Error e = Error::none;
    std::uint64_t at = 0;
    if (line_ != LineGate::done) {
      e = mode_ == Mode::request ? gate_request_line(at) : gate_status_line(at);
      if (e != Error::none) return fail(e);
      if (line_ != LineGate::done) return report(Event::need_more, line_start_);
      if (!feed_fixed(mode_ == Mode::request ? kRequestLine : kStatusLine)) {
        return fail(Error::bad_request_line);
      }
      fed_ = scan_;
    }
    e = gate_fields(at);
    e = feed_checked(scan_, e, at);
    if (e != Error::none) return fail(e);
    if (fields_ != FieldGate::done) return report(Event::need_more, line_start_);
    if (!headers_done_) return fail(Error::bad_line_ending);
    build_message();
    if (message_done_) {
      message_done_ = false;
      msg_end_ = fed_;
      phase_ = Phase::complete;
    }
    return report(Event::head, scan_);
  }

  Error end_of_head() {
    headers_done_ = true;
    const HeadFacts& h = facts_;
    const bool request = mode_ == Mode::request;
    const bool http10 = minor_ == 0;
    // RULES.md "Order of checks": Host, CONNECT with content,
    // Transfer-Encoding (HTTP/1.0, then codings), Content-Length vs
    // Transfer-Encoding, body limit.
    if (request && !http10 && h.hosts == 0) return Error::missing_host;
    if (h.connect && (h.has_length || h.has_te)) {
      return Error::connect_with_content;  // RFC 9110 §9.3.6: CONNECT has no content
    }
    if (h.has_te) {
      if (request && http10) return Error::transfer_encoding_http10;
      // RULES.md: a request may use only `chunked` (anvil decodes no other
      // coding); a response any coding known to the parser.
      if (h.unknown_coding || (request && h.other_coding)) return Error::unknown_transfer_coding;
      // A request that gets here has only `chunked` codings, so once and
      // last is RFC 9112 §6.3 item 4's rule (its last coding is chunked).
      if (h.codings == 0 || h.chunked_misplaced) return Error::bad_transfer_encoding;
      if (h.has_length) return Error::content_length_and_transfer_encoding;
    }
    body_kind_ = body_kind();
    if (body_kind_ == BodyKind::content_length && h.content_length > limits_.body) {
      return Error::body_too_large;
    }
    message_.body = body_kind_;
    message_.content_length = body_kind_ == BodyKind::content_length ? h.content_length : 0;
    return Error::none;
  }

  // RFC 9112 §6.3.
  BodyKind body_kind() const {
    if (mode_ == Mode::response &&
        (head_response_ || status_ / 100 == 1 || status_ == 204 || status_ == 304)) {
      return BodyKind::none;
    }
    if (facts_.has_te) return facts_.last_chunked ? BodyKind::chunked : BodyKind::until_close;
    if (facts_.has_length) return BodyKind::content_length;
    return mode_ == Mode::request ? BodyKind::none : BodyKind::until_close;
  }

  void build_message() {
    Message& m = message_;
    const HeadFacts& h = facts_;
    const bool request = mode_ == Mode::request;
    m.version_major = major_;
    m.version_minor = minor_;
    if (request) {
      m.method = view(line_start_, method_len_);
      m.target = view(target_, target_len_);
      m.target_form = target_check_.form;
      m.status = 0;
      m.reason = {};
    } else {
      m.method = m.target = {};
      m.target_form = TargetForm::origin;
      m.status = status_;
      m.reason = view(reason_, reason_len_);
    }
    m.fields.clear();
    for (const FieldPos& f : head_pos_) {
      m.fields.push_back(Field{view(f.name, f.name_len), view(f.value, f.value_len)});
    }
    const bool http10 = minor_ == 0;
    m.keep_alive = !h.close && (!http10 || h.keep_alive) && m.body != BodyKind::until_close;
    m.expect_continue = request && !http10 && h.expect_continue;
    m.upgrade = h.connection_upgrade && h.upgrade_field;
    trailers_.clear();
    switch (m.body) {
      case BodyKind::none:
        break;
      case BodyKind::content_length:
        remaining_ = m.content_length;
        phase_ = Phase::fixed_body;
        break;
      case BodyKind::chunked:
        phase_ = Phase::chunk_size;
        start_chunk_line(scan_);
        break;
      case BodyKind::until_close:
        phase_ = Phase::until_close;
        break;
    }
  }

  // The start line's limit counts the bytes before its CRLF: the byte at the
  // limit is over it unless it is a CR (which the line's rules then judge).
  bool over_line_limit(const char* p) const {
    return pos_of(p) - line_start_ >= limits_.request_line && *p != '\r';
  }

  // The first byte of the buffer over the start line's limit, or end.
  const char* line_limit(const char* end) const {
    const std::uint64_t left = line_start_ + limits_.request_line - origin_;
    return left < size_ ? base_ + left : end;
  }

  // method SP request-target SP HTTP-version CRLF (RFC 9112 §3), from scan_.
  Error gate_request_line(std::uint64_t& at) {
    const char* p = ptr(scan_);
    const char* end = base_ + size_;
    auto bad = [&](Error e) {
      at = pos_of(p);
      return e;
    };
    for (; p < end; ++p) {
      const char c = *p;
      if (line_ >= LineGate::method && line_ < LineGate::line_lf && over_line_limit(p)) {
        return bad(Error::request_line_too_long);
      }
      switch (line_) {
        case LineGate::empty_lines:
          if (c == '\r') {
            line_ = LineGate::empty_lf;
            continue;
          }
          if (c == '\n') return bad(Error::bad_line_ending);
          line_start_ = pos_of(p);
          line_ = LineGate::method;
          --p;  // look at this byte again as the method's first
          continue;
        case LineGate::empty_lf:
          if (c != '\n') return bad(Error::bad_line_ending);
          line_start_ = pos_of(p) + 1;  // consumed at the next need_more
          line_ = LineGate::empty_lines;
          continue;
        case LineGate::method:
          if (is(c, kTchar)) {
            const char* bound = line_limit(end);
            while (p + 1 < bound && is(p[1], kTchar)) ++p;
            continue;
          }
          if (c != ' ' || pos_of(p) == line_start_) return bad(Error::bad_method);
          method_len_ = pos_of(p) - line_start_;
          line_ = LineGate::target_start;
          continue;
        case LineGate::target_start:
          target_ = pos_of(p);
          target_check_ = TargetCheck{};
          if (method() == "CONNECT") {
            // RFC 9112 §3.2.3: CONNECT's target is host ":" port, and only its.
            target_check_.form = TargetForm::authority;
            target_check_.gate = TargetGate::host;
          }
          line_ = LineGate::target;
          [[fallthrough]];
        case LineGate::target:
          if (c == ' ') {
            if (pos_of(p) == target_) return bad(Error::bad_request_line);
            if (!target_whole()) return bad(Error::bad_target);
            target_len_ = pos_of(p) - target_;
            line_ = LineGate::version;
            version_index_ = 0;
            continue;
          }
          // A line that ends after the target is HTTP/0.9.
          if (c == '\r' || c == '\n') return bad(Error::bad_version);
          if (!target_byte(p)) return bad(Error::bad_target);
          if (target_check_.gate == TargetGate::path && target_check_.escape == 0) {
            // Path and query bytes at once, up to the line's limit; the loop
            // then looks at the byte that stopped the run.
            const char* bound = line_limit(end);
            while (p + 1 < bound && is(p[1], kPathChar)) ++p;
          }
          continue;
        case LineGate::version:
          if (whole_version(p, end)) {
            p += 8;  // at the CR
            line_ = LineGate::line_lf;
            continue;
          }
          if (!version_byte(c, '\r')) return bad(Error::bad_version);
          if (version_index_ == 9) line_ = LineGate::line_lf;
          continue;
        case LineGate::line_lf:
          if (c != '\n') return bad(Error::bad_line_ending);
          return end_start_line(p, at);
        default:
          return bad(Error::bad_request_line);
      }
    }
    scan_ = pos_of(p);
    return Error::none;
  }

  // HTTP-version SP 3DIGIT [SP reason-phrase] CRLF (RFC 9112 §4), from scan_.
  Error gate_status_line(std::uint64_t& at) {
    const char* p = ptr(scan_);
    const char* end = base_ + size_;
    auto bad = [&](Error e) {
      at = pos_of(p);
      return e;
    };
    for (; p < end; ++p) {
      const char c = *p;
      if (line_ < LineGate::line_lf && over_line_limit(p)) {
        return bad(Error::request_line_too_long);
      }
      switch (line_) {
        case LineGate::version:
          if (!version_byte(c, ' ')) return bad(Error::bad_status_line);
          if (version_index_ == 9) {
            line_ = LineGate::status_code;
            status_ = 0;
          }
          continue;
        case LineGate::status_code:
          if (c < '0' || c > '9') return bad(Error::bad_status_line);
          status_ = status_ * 10 + (c - '0');
          if (pos_of(p) - line_start_ == 11) line_ = LineGate::after_code;
          continue;
        case LineGate::after_code:
          if (c == ' ') {
            reason_ = pos_of(p) + 1;
            line_ = LineGate::reason;
            continue;
          }
          if (c != '\r') return bad(Error::bad_status_line);
          reason_ = pos_of(p);
          reason_len_ = 0;
          line_ = LineGate::line_lf;
          continue;
        case LineGate::reason:
          if (is(c, kFieldChar)) continue;
          if (c != '\r') return bad(Error::bad_status_line);
          reason_len_ = pos_of(p) - reason_;
          line_ = LineGate::line_lf;
          continue;
        case LineGate::line_lf:
          if (c != '\n') return bad(Error::bad_line_ending);
          return end_start_line(p, at);
        default:
          return bad(Error::bad_status_line);
      }
    }
    scan_ = pos_of(p);
    return Error::none;
  }

  std::string_view method() const { return view(line_start_, method_len_); }

  // One byte of the target, not SP, CR or LF (RULES.md "Request target"):
  // false when it may not stand where it does.
  bool target_byte(const char* p) {
    TargetCheck& t = target_check_;
    const char c = *p;
    if (t.escape > 0) {  // RFC 3986 §2.1: pct-encoded = "%" HEXDIG HEXDIG
      --t.escape;
      return is(c, kHex);
    }
    switch (t.gate) {
      case TargetGate::first:
        if (c == '/') {
          t.gate = TargetGate::path;
          return true;
        }
        if (c == '*') {
          // RFC 9112 §3.2.4: only OPTIONS, and nothing after it.
          t.form = TargetForm::asterisk;
          t.gate = TargetGate::asterisk;
          return method() == "OPTIONS";
        }
        t.form = TargetForm::absolute;
        t.gate = TargetGate::scheme;
        return scheme_byte(c);
      case TargetGate::scheme:
        return scheme_byte(c);
      case TargetGate::slashes:
        if (c != '/') return false;
        if (++t.count == 2) t.gate = TargetGate::host;
        return true;
      case TargetGate::host:
        if (c == '[') {
          t.bracket = pos_of(p);
          t.gate = TargetGate::ip_literal;
          return true;
        }
        // RFC 9110 §4.2.1: no empty host.
        t.gate = TargetGate::reg_name;
        return c == '%' ? (t.escape = 2, true) : is(c, kHostChar);
      case TargetGate::reg_name:
        if (c == '%') {
          t.escape = 2;
          return true;
        }
        return is(c, kHostChar) || host_ends(c);
      case TargetGate::ip_literal:
        if (c == ']') {
          t.gate = TargetGate::after_host;
          return ip_literal_ok(view(t.bracket + 1, pos_of(p) - t.bracket - 1));
        }
        return is(c, kIpChar);
      case TargetGate::after_host:
        return host_ends(c);
      case TargetGate::port:
        if (c >= '0' && c <= '9') {
          ++t.count;
          t.port = t.port * 10 + static_cast<std::uint32_t>(c - '0');
          return t.port < 65536;
        }
        return path_starts(c);
      case TargetGate::path:
        if (c == '%') {
          t.escape = 2;
          return true;
        }
        return is(c, kPathChar);
      case TargetGate::asterisk:
        return false;
    }
    return false;
  }

  // RFC 9110 §4.2: "http" or "https" (any case), then ":".
  bool scheme_byte(char c) {
    TargetCheck& t = target_check_;
    static constexpr std::string_view kHttps = "https";
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    if (c == ':' && t.count >= 4) {
      t.gate = TargetGate::slashes;
      t.count = 0;
      return true;
    }
    return t.count < kHttps.size() && lower == kHttps[t.count++];
  }

  // The byte after a host: ":" and a port, or (absolute-form) "/" or "?".
  bool host_ends(char c) {
    if (c == ':') {
      target_check_.gate = TargetGate::port;
      target_check_.count = 0;
      return true;
    }
    return path_starts(c);
  }

  bool path_starts(char c) {
    if (target_check_.form != TargetForm::absolute || (c != '/' && c != '?')) return false;
    target_check_.gate = TargetGate::path;
    return true;
  }

  // At the SP after the target.
  bool target_whole() const {
    const TargetCheck& t = target_check_;
    if (t.escape > 0) return false;
    const bool absolute = t.form == TargetForm::absolute;
    switch (t.gate) {
      case TargetGate::path:
      case TargetGate::asterisk:
        return true;
      case TargetGate::reg_name:
      case TargetGate::after_host:
        return absolute;
      case TargetGate::port:
        // RFC 9110 §9.3.6: CONNECT needs the port.
        return absolute || t.count > 0;
      default:
        return false;
    }
  }

  // The common case at once: "HTTP/" DIGIT "." DIGIT CR all here, the CR at
  // most at the line's limit.
  bool whole_version(const char* p, const char* end) {
    if (version_index_ != 0 || end - p < 9 || pos_of(p) + 8 - line_start_ > limits_.request_line) {
      return false;
    }
    if (std::memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' || p[6] != '.' || p[7] < '0' ||
        p[7] > '9' || p[8] != '\r') {
      return false;
    }
    major_ = static_cast<std::uint8_t>(p[5] - '0');
    minor_ = static_cast<std::uint8_t>(p[7] - '0');
    version_index_ = 9;
    return true;
  }

  // One byte of "HTTP/" DIGIT "." DIGIT followed by `last`.
  bool version_byte(char c, char last) {
    const unsigned i = version_index_++;
    if (i < 5) return c == "HTTP/"[i];
    if (i == 6) return c == '.';
    if (i == 8) return c == last;
    if (c < '0' || c > '9') return false;
    (i == 5 ? major_ : minor_) = static_cast<std::uint8_t>(c - '0');
    return true;
  }

  // The start line's LF at p: the version is judged here (505).
  Error end_start_line(const char* p, std::uint64_t& at) {
    if (major_ != 1 || minor_ > 1) {
      at = pos_of(p);
      return Error::unsupported_version;
    }
    line_ = LineGate::done;
    scan_ = pos_of(p) + 1;
    start_fields(scan_);
    facts_.connect = mode_ == Mode::request && method() == "CONNECT";
    return Error::none;
  }

  void start_fields(std::uint64_t at) {
    fields_ = FieldGate::line_start;
    section_ = at;
    line_done_at_ = at;
    field_count_ = 0;
  }

  // Field lines and the empty line (RULES.md "Field lines"), from scan_. The
  // byte at section_ + header_bytes is over the limit, whatever it is.
  Error gate_fields(std::uint64_t& at) {
    const char* p = ptr(scan_);
    const char* end = base_ + size_;
    const std::uint64_t used = scan_ - section_;  // section bytes already checked
    const std::uint64_t left = limits_.header_bytes > used ? limits_.header_bytes - used : 0;
    const char* stop = left < static_cast<std::uint64_t>(end - p) ? p + left : end;
    auto bad = [&](Error e) {
      at = pos_of(p);
      scan_ = at;
      return e;
    };
    while (p < stop) {
      switch (fields_) {
        case FieldGate::line_start:
          if (*p == '\r') {
            fields_ = FieldGate::final_lf;
            ++p;
            continue;
          }
          if (++field_count_ > limits_.fields) return bad(Error::too_many_fields);
          // RFC 9112 §5.2: obs-fold is rejected.
          if (is_ows(*p)) return bad(Error::obs_fold);
          if (!is(*p, kTchar)) return bad(Error::bad_field_name);
          fields_ = FieldGate::name;
          ++p;
          continue;
        case FieldGate::name:
          while (p < stop && is(*p, kTchar)) ++p;
          if (p == stop) continue;
          // RFC 9112 §5.1: no whitespace between the name and the colon.
          if (*p != ':') return bad(Error::bad_field_name);
          fields_ = FieldGate::value;
          ++p;
          continue;
        case FieldGate::value:
          if constexpr (enforces(Lib::kEnforced, Rule::field_value_bytes)) {
            // The library rejects a bad byte before the line's end, at that
            // byte; feed_checked() puts its error before any the gate finds later.
            p = skip_to_line_end(p, stop);
          } else {
            p = skip_field_value(p, stop);
          }
          if (p == stop) continue;
          if (*p == '\n') return bad(Error::bad_line_ending);
          if (*p != '\r') return bad(Error::bad_field_value);
          fields_ = FieldGate::value_lf;
          ++p;
          continue;
        case FieldGate::value_lf:
          // CVE-2023-30589: a CR must be followed by LF.
          if (*p != '\n') return bad(Error::bad_line_ending);
          fields_ = FieldGate::line_start;
          line_done_at_ = pos_of(++p);
          continue;
        case FieldGate::final_lf:
          if (*p != '\n') return bad(Error::bad_line_ending);
          fields_ = FieldGate::done;
          scan_ = pos_of(p) + 1;
          return Error::none;
        case FieldGate::done:
          scan_ = pos_of(p);
          return Error::none;
      }
    }
    if (p < end) return bad(Error::header_too_large);
    scan_ = pos_of(p);
    return Error::none;
  }

  // ---- Bodies ----

  Step next_fixed() {
    const std::uint64_t n = std::min(remaining_, end_pos() - fed_);
    if (n == 0) return report(Event::need_more, fed_);
    if (!feed(fed_, fed_ + n)) return fail(lib_.error());
    remaining_ -= n;
    if (message_done_) complete_at(fed_);
    return report(Event::body, fed_);
  }

  Step next_until_close() {
    const std::uint64_t avail = end_pos() - fed_;
    if (avail == 0) return report(Event::need_more, fed_);
    // Limits::body holds for every body: the first byte past it is 413.
    const std::uint64_t room = limits_.body - body_total_;
    if (room == 0) return fail(Error::body_too_large);
    const std::uint64_t n = std::min(avail, room);
    if (!feed(fed_, fed_ + n)) return fail(lib_.error());
    body_total_ += n;
    return report(Event::body, fed_);
  }

  void complete_at(std::uint64_t end) {
    message_done_ = false;
    msg_end_ = end;
    phase_ = Phase::complete;
  }

  // done; then the next message, or none after a request that closes the
  // connection (RFC 9112 §9.6; parser.hpp).
  Step report_done(std::uint64_t end) {
    const Step s = report(Event::done, end);
    start_message();
    if (mode_ == Mode::request && !message_.keep_alive) phase_ = Phase::closed;
    return s;
  }

  Step next_chunked() {
    for (;;) {
      switch (phase_) {
        case Phase::chunk_size: {
          std::uint64_t at = 0;
          const Error e = gate_chunk_line(at);
          if (e != Error::none) return fail(e);
          if (chunk_ != ChunkGate::done) return report(Event::need_more, line_start_);
          // RULES.md: 413 at the chunk-size line that takes the body over the limit.
          if (chunk_size_ > limits_.body - body_total_) return fail(Error::body_too_large);
          body_total_ += chunk_size_;
          // The library gets the size digits and a CRLF: the extensions were
          // checked above and are skipped (RFC 9112 §7.1.1).
          const bool fed = chunk_size_ <= Lib::kMaxChunkSize ? feed(line_start_, size_end_)
                                                             : feed_fixed(Lib::kMaxChunkSizeDigits);
          if (!fed || !feed_fixed(kCrlf)) return fail(Error::bad_chunk_size);
          fed_ = scan_;
          line_start_ = scan_;
          if (chunk_size_ == 0) {
            phase_ = Phase::trailers;
            collecting_ = &trailer_pos_;
            start_fields(scan_);
            return next_trailers();
          }
          remaining_ = chunk_size_;
          phase_ = Phase::chunk_data;
          continue;
        }
        case Phase::chunk_data: {
          const std::uint64_t n = std::min(remaining_, end_pos() - fed_);
          if (n == 0) return report(Event::need_more, fed_);
          if (!feed(fed_, fed_ + n)) return fail(lib_.error());
          remaining_ -= n;
          if (remaining_ == 0) phase_ = Phase::chunk_end;
          return report(Event::body, fed_);
        }
        case Phase::chunk_end: {
          // The gate's: llhttp 8.1.0 skips any two bytes here; RFC 9112 §7.1 wants CRLF.
          const std::uint64_t avail = end_pos() - fed_;
          if (avail == 0) return report(Event::need_more, fed_);
          if (*ptr(fed_) != '\r') return fail(Error::bad_chunk_end);
          if (avail == 1) return report(Event::need_more, fed_);
          if (*ptr(fed_ + 1) != '\n') return fail(Error::bad_chunk_end);
          if (!feed(fed_, fed_ + 2)) return fail(Error::bad_chunk_end);
          phase_ = Phase::chunk_size;
          start_chunk_line(fed_);
          continue;
        }
        default:
          return fail(Error::bad_chunk_size);
      }
    }
  }

  void start_chunk_line(std::uint64_t at) {
    chunk_ = ChunkGate::first_digit;
    line_start_ = scan_ = at;
    chunk_size_ = 0;
  }

  static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    return (c | 0x20) - 'a' + 10;
  }

  // chunk-size [chunk-ext] CRLF (RFC 9112 §7.1.1), from scan_.
  Error gate_chunk_line(std::uint64_t& at) {
    const char* p = ptr(scan_);
    const char* end = base_ + size_;
    auto bad = [&](Error e) {
      at = pos_of(p);
      return e;
    };
    for (; p < end; ++p) {
      const char c = *p;
      if (chunk_ >= ChunkGate::ext_name_start && chunk_ < ChunkGate::lf && c != '\r' &&
          pos_of(p) - size_end_ >= limits_.chunk_extension) {
        return bad(Error::bad_chunk_extension);
      }
      switch (chunk_) {
        case ChunkGate::first_digit:
        case ChunkGate::digits:
          if (is(c, kHex)) {
            if (chunk_size_ > (UINT64_MAX >> 4)) return bad(Error::bad_chunk_size);
            chunk_size_ = chunk_size_ << 4 | static_cast<std::uint64_t>(hex_value(c));
            chunk_ = ChunkGate::digits;
            continue;
          }
          if (chunk_ == ChunkGate::first_digit) return bad(Error::bad_chunk_size);
          size_end_ = pos_of(p);
          if (c == ';') {
            chunk_ = ChunkGate::ext_name_start;
          } else if (c == '\r') {
            chunk_ = ChunkGate::lf;
          } else {
            return bad(Error::bad_chunk_size);
          }
          continue;
        case ChunkGate::ext_name_start:
          if (!is(c, kTchar)) return bad(Error::bad_chunk_extension);
          chunk_ = ChunkGate::ext_name;
          continue;
        case ChunkGate::ext_name:
        case ChunkGate::ext_token:
          if (is(c, kTchar)) continue;
          if (c == '=' && chunk_ == ChunkGate::ext_name) {
            chunk_ = ChunkGate::ext_value_start;
          } else if (c == ';') {
            chunk_ = ChunkGate::ext_name_start;
          } else if (c == '\r') {
            chunk_ = ChunkGate::lf;
          } else {
            return bad(Error::bad_chunk_extension);
          }
          continue;
        case ChunkGate::ext_value_start:
          if (c == '"') {
            chunk_ = ChunkGate::ext_quoted;
          } else if (is(c, kTchar)) {
            chunk_ = ChunkGate::ext_token;
          } else {
            return bad(Error::bad_chunk_extension);
          }
          continue;
        case ChunkGate::ext_quoted:
          if (c == '"') {
            chunk_ = ChunkGate::ext_after_quoted;
          } else if (c == '\\') {
            chunk_ = ChunkGate::ext_quoted_pair;
          } else if (!is(c, kQdtext)) {
            return bad(Error::bad_chunk_extension);
          }
          continue;
        case ChunkGate::ext_quoted_pair:
          if (!is(c, kQuotable)) return bad(Error::bad_chunk_extension);
          chunk_ = ChunkGate::ext_quoted;
          continue;
        case ChunkGate::ext_after_quoted:
          if (c == ';') {
            chunk_ = ChunkGate::ext_name_start;
          } else if (c == '\r') {
            chunk_ = ChunkGate::lf;
          } else {
            return bad(Error::bad_chunk_extension);
          }
          continue;
        case ChunkGate::lf:
          if (c != '\n') return bad(Error::bad_chunk_size);
          chunk_ = ChunkGate::done;
          scan_ = pos_of(p) + 1;
          return Error::none;
        case ChunkGate::done:
          return Error::none;
      }
    }
    scan_ = pos_of(p);
    return Error::none;
  }

  // The trailer section (RFC 9112 §7.1.2): field lines with the head's rules
  // and limits, counted on their own; consumed only whole.
  Step next_trailers() {
    std::uint64_t at = 0;
    Error e = gate_fields(at);
    e = feed_checked(scan_, e, at);
    if (e != Error::none) return fail(e);
    if (fields_ != FieldGate::done) return report(Event::need_more, line_start_);
    if (!message_done_) return fail(Error::bad_line_ending);
    trailers_.clear();
    for (const FieldPos& f : trailer_pos_) {
      trailers_.push_back(Field{view(f.name, f.name_len), view(f.value, f.value_len)});
    }
    return report_done(scan_);
  }

  Lib lib_;

  // The current call's buffer; origin_ is the stream offset of base_[0].
  const char* base_ = nullptr;
  std::size_t size_ = 0;
  std::uint64_t origin_ = 0;

  Phase phase_ = Phase::head;
  std::uint64_t scan_ = 0;        // the gate has checked the bytes before this
  std::uint64_t fed_ = 0;         // the library has parsed the real bytes before this
  std::uint64_t line_start_ = 0;  // first byte not to consume yet (head, chunk line)

  // Start line.
  LineGate line_ = LineGate::empty_lines;
  unsigned version_index_ = 0;
  std::uint64_t method_len_ = 0;
  std::uint64_t target_ = 0;
  std::uint64_t target_len_ = 0;
  TargetCheck target_check_;
  std::uint64_t reason_ = 0;
  std::uint64_t reason_len_ = 0;
  int status_ = 0;
  std::uint8_t major_ = 1;
  std::uint8_t minor_ = 1;

  // Field section (head or trailers).
  FieldGate fields_ = FieldGate::line_start;
  std::uint64_t section_ = 0;
  std::uint64_t line_done_at_ = 0;  // just past the last field line's LF
  std::size_t field_count_ = 0;
  std::vector<FieldPos> head_pos_;
  std::vector<FieldPos> trailer_pos_;
  std::vector<FieldPos>* collecting_ = &head_pos_;
  bool field_open_ = false;  // a field line's callbacks have begun, not yet complete
  bool name_open_ = false;   // the last piece was a name piece
  bool value_open_ = false;
  bool field_settled_ = false;
  HeadFacts facts_;
  Error field_error_ = Error::none;  // a field rule failed inside a callback
  bool headers_done_ = false;
  bool message_done_ = false;  // the library completed the message
  BodyKind body_kind_ = BodyKind::none;

  // Bodies.
  std::uint64_t remaining_ = 0;  // of the fixed body or the current chunk
  std::uint64_t body_total_ = 0;
  std::uint64_t msg_end_ = 0;
  ChunkGate chunk_ = ChunkGate::first_digit;
  std::uint64_t chunk_size_ = 0;
  std::uint64_t size_end_ = 0;  // first byte after the chunk size
};

}  // namespace anvil::parser::detail::checked

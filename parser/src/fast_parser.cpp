// The hand-rolled `fast` parser: parser/RULES.md over the Parser contract of
// parser.hpp. The head is scanned by a state machine that resumes where the
// previous call stopped (offsets only: the buffer may move between calls), with
// SIMD scans chosen at run time (fast_head_impl.hpp); bodies, chunk-size lines
// and the rest of the framing are plain code here.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "anvil/parser/parser.hpp"
#include "fast_scan.hpp"
#include "internal.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ANVIL_FAST_X86 1
#endif

namespace anvil::parser::detail::fast {

// One copy of the head scanner per instruction set (see fast_head_impl.hpp).
namespace generic {
namespace {
#define FAST_TARGET
#define FAST_WIDTH 0
#include "fast_head_impl.hpp"
#undef FAST_WIDTH
#undef FAST_TARGET
}  // namespace
}  // namespace generic

#ifdef ANVIL_FAST_X86
namespace sse42 {
namespace {
#define FAST_TARGET __attribute__((target("sse4.2")))
#define FAST_WIDTH 16
#include "fast_head_impl.hpp"
#undef FAST_WIDTH
#undef FAST_TARGET
}  // namespace
}  // namespace sse42

namespace avx2 {
namespace {
#define FAST_TARGET __attribute__((target("avx2,bmi,bmi2")))
#define FAST_WIDTH 32
#include "fast_head_impl.hpp"
#undef FAST_WIDTH
#undef FAST_TARGET
}  // namespace
}  // namespace avx2
#endif

namespace {
constexpr HeadScanner kGeneric{generic::scan_head, generic::scan_trailers};
#ifdef ANVIL_FAST_X86
constexpr HeadScanner kSse42{sse42::scan_head, sse42::scan_trailers};
constexpr HeadScanner kAvx2{avx2::scan_head, avx2::scan_trailers};
#endif
}  // namespace

const HeadScanner* head_scanner_named(std::string_view name) {
  if (name == "generic") return &kGeneric;
#ifdef ANVIL_FAST_X86
  if (name == "sse42") return __builtin_cpu_supports("sse4.2") ? &kSse42 : nullptr;
  // Every AVX2 CPU has BMI1 and BMI2 (shrx and tzcnt in the window scans).
  if (name == "avx2") {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2") ? &kAvx2 : nullptr;
  }
#endif
  return nullptr;
}

const HeadScanner& best_head_scanner() {
  for (std::string_view name : {"avx2", "sse42"}) {
    if (const HeadScanner* s = head_scanner_named(name)) return *s;
  }
  return kGeneric;
}

namespace {

// Moves a span kept from an earlier call to where the caller's buffer is now.
// Integer arithmetic: the old buffer may be gone.
void rebase(std::string_view& s, std::uintptr_t from, std::uintptr_t to) {
  if (s.data() == nullptr) return;
  const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(s.data()) - from + to;
  s = std::string_view(reinterpret_cast<const char*>(at), s.size());
}

void rebase(std::vector<Field>& fields, std::uintptr_t from, std::uintptr_t to) {
  for (Field& f : fields) {
    rebase(f.name, from, to);
    rebase(f.value, from, to);
  }
}

// Resumable scan of `chunk-size [chunk-ext] CRLF` (RFC 9112 §7.1.1), at most
// a few dozen bytes in practice, so plain code.
struct ChunkLine {
  enum Part : std::uint8_t {
    kFirstDigit,
    kDigits,
    kExtNameStart,
    kExtName,
    kExtValueStart,
    kExtToken,
    kExtQuoted,
    kExtQuotedPair,
    kExtAfterQuoted,
    kLf,
  };
  std::size_t pos = 0;
  std::size_t ext_start = 0;  // the first byte after the size
  std::uint64_t size = 0;
  Part part = kFirstDigit;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return ascii_lower(c) - 'a' + 10;
}

class FastParser final : public Parser {
 public:
  FastParser(Mode mode, const Limits& limits, const HeadScanner& scanner)
      : Parser(ParserKind::fast, mode, limits), scanner_(scanner) {
    start_head();
  }

  Step next(std::string_view buf) override {
    std::size_t off = 0;
    for (;;) {
      switch (state_) {
        case State::head:
          return next_head(buf);
        case State::fixed_body:
          return next_fixed(buf);
        case State::until_close:
          return next_until_close(buf);
        case State::complete:
          end_message();
          return {Event::done, off};
        case State::chunk_size:
          if (!next_chunk_size(buf, off)) return stop(off);
          continue;
        case State::chunk_data:
          return next_chunk_data(buf, off);
        case State::chunk_cr:
        case State::chunk_lf:
          if (!next_chunk_end(buf, off)) return stop(off);
          continue;
        case State::trailers:
          return next_trailers(buf, off);
        case State::closed:
          return {Event::end, 0};
        case State::failed:
          return {Event::error, 0};
      }
    }
  }

  Step finish(std::string_view buf) override {
    switch (state_) {
      case State::failed:
        return {Event::error, 0};
      case State::closed:
        return {Event::end, 0};
      case State::complete:
        return next(buf);
      case State::until_close:
        // The body ends with the connection (RFC 9112 §6.3, last rule).
        if (!buf.empty()) return next(buf);
        start_head();
        return {Event::done, 0};
      case State::head:
        if (head_.pos == 0 && only_empty_lines(buf)) return {Event::end, buf.size()};
        return fail(Error::incomplete);
      default:
        return fail(Error::incomplete);
    }
  }

  void reset() override {
    error_ = Error::none;
    body_ = {};
    begin_message();
    start_head();
  }

 private:
  enum class State : std::uint8_t {
    head,
    fixed_body,
    until_close,
    chunk_size,
    chunk_data,
    chunk_cr,
    chunk_lf,
    trailers,
    complete,  // the message ended; the next call reports done
    closed,    // after a request without keep-alive: nothing more (RFC 9112 §9.6)
    failed,
  };

  Step fail(Error e) {
    error_ = e;
    state_ = State::failed;
    return {Event::error, 0};
  }

  // need_more, or the error that stopped a step.
  Step stop(std::size_t off) {
    if (state_ == State::failed) return {Event::error, 0};
    return {Event::need_more, off};
  }

  void start_head() {
    state_ = State::head;
    head_ = HeadState{};
    head_.part = mode_ == Mode::request ? kMethod : kStatusVersion;
  }

  // done was reported: the next message, or none after a request that
  // closes the connection (RFC 9112 §9.6; parser.hpp).
  void end_message() {
    if (mode_ == Mode::request && !message_.keep_alive) {
      state_ = State::closed;
    } else {
      start_head();
    }
  }

  bool only_empty_lines(std::string_view buf) const {
    if (mode_ != Mode::request || buf.size() % 2 != 0) return buf.empty();
    for (std::size_t i = 0; i < buf.size(); i += 2) {
      if (buf[i] != '\r' || buf[i + 1] != '\n') return false;
    }
    return true;
  }

  // A new message begins: forget the previous one (keeping capacity).
  void begin_message() {
    message_.fields.clear();
    message_.method = {};
    message_.target = {};
    message_.target_form = TargetForm::origin;
    message_.reason = {};
    message_.status = 0;
    message_.version_major = 1;
    message_.version_minor = 1;
    message_.body = BodyKind::none;
    message_.content_length = 0;
    message_.keep_alive = false;
    message_.expect_continue = false;
    message_.upgrade = false;
    trailers_.clear();
    body_ = {};
    body_total_ = 0;
  }

  Step next_head(std::string_view buf) {
    std::size_t skip = 0;
    const auto base = reinterpret_cast<std::uintptr_t>(buf.data());
    if (head_.pos == 0) {
      begin_message();
      // RFC 9112 §2.2: empty lines before a request line are ignored.
      if (mode_ == Mode::request) {
        while (skip < buf.size() && buf[skip] == '\r') {
          if (skip + 1 == buf.size()) return {Event::need_more, skip};
          if (buf[skip + 1] != '\n') return fail(Error::bad_line_ending);
          skip += 2;
        }
        if (skip < buf.size() && buf[skip] == '\n') return fail(Error::bad_line_ending);
      }
    } else if (base != views_base_) {
      rebase_head(views_base_, base);
    }
    views_base_ = base + skip;
    const char* head = buf.data() + skip;
    const HeadStep s = scanner_.head(head_, message_, limits_, mode_, head, buf.size() - skip);
    if (s == HeadStep::need_more) return {Event::need_more, skip};
    if (s == HeadStep::error) return fail(head_.error);
    const Error e = end_of_head();
    if (e != Error::none) return fail(e);
    return {Event::head, skip + head_.pos};
  }

  void rebase_head(std::uintptr_t from, std::uintptr_t to) {
    rebase(message_.method, from, to);
    rebase(message_.target, from, to);
    rebase(message_.reason, from, to);
    rebase(message_.fields, from, to);
  }

  // RULES.md "Order of checks": the rules across fields, at the empty line,
  // in the order Host, CONNECT with content, Transfer-Encoding,
  // Content-Length vs Transfer-Encoding, body limit. Then the framing (RFC
  // 9112 §6.3).
  Error end_of_head() {
    const FieldFacts& h = head_.facts;
    Message& m = message_;
    const bool request = mode_ == Mode::request;
    const bool http10 = m.version_minor == 0;
    if (request && !http10 && h.host_count == 0) return Error::missing_host;
    if (h.te_seen) {
      // RFC 9110 §9.3.6: a CONNECT request has no content.
      if (h.connect) return Error::connect_with_content;
      if (request && http10) return Error::transfer_encoding_http10;
      // RULES.md: a request may use only `chunked` (anvil decodes no other
      // coding); a response any coding known to the parser.
      if (h.te_unknown || (request && h.te_other)) return Error::unknown_transfer_coding;
      // A request that gets here has only `chunked` codings, so once and
      // last is RFC 9112 §6.3 item 4's rule (its last coding is chunked).
      if (h.te_elements == 0 || h.te_chunked_misplaced) return Error::bad_transfer_encoding;
    }
    if (h.te_seen && h.content_length_seen) {
      return Error::content_length_and_transfer_encoding;
    }
    m.body = body_kind();
    if (m.body == BodyKind::content_length) {
      if (h.connect) return Error::connect_with_content;
      if (h.content_length > limits_.body) return Error::body_too_large;
      m.content_length = h.content_length;
    }
    m.keep_alive = !h.close && (!http10 || h.keep_alive) && m.body != BodyKind::until_close;
    m.expect_continue = request && !http10 && h.expect_continue;
    m.upgrade = h.connection_upgrade && h.upgrade_field;
    switch (m.body) {
      case BodyKind::none:
        state_ = State::complete;
        break;
      case BodyKind::content_length:
        remaining_ = m.content_length;
        state_ = remaining_ == 0 ? State::complete : State::fixed_body;
        break;
      case BodyKind::chunked:
        chunk_ = ChunkLine{};
        state_ = State::chunk_size;
        break;
      case BodyKind::until_close:
        state_ = State::until_close;
        break;
    }
    return Error::none;
  }

  BodyKind body_kind() const {
    const Message& m = message_;
    if (mode_ == Mode::response) {
      // RFC 9112 §6.3 item 1: no body for 1xx, 204, 304 and answers to HEAD.
      if (head_response_ || m.status / 100 == 1 || m.status == 204 || m.status == 304) {
        return BodyKind::none;
      }
    }
    const FieldFacts& h = head_.facts;
    if (h.te_seen) return h.te_last_chunked ? BodyKind::chunked : BodyKind::until_close;
    if (h.content_length_seen) return BodyKind::content_length;
    return mode_ == Mode::request ? BodyKind::none : BodyKind::until_close;
  }

  Step next_fixed(std::string_view buf) {
    if (buf.empty()) return {Event::need_more, 0};
    const std::size_t n =
        remaining_ < buf.size() ? static_cast<std::size_t>(remaining_) : buf.size();
    body_ = buf.substr(0, n);
    remaining_ -= n;
    if (remaining_ == 0) state_ = State::complete;
    return {Event::body, n};
  }

  Step next_until_close(std::string_view buf) {
    if (buf.empty()) return {Event::need_more, 0};
    // Limits::body holds for every body: the first byte past it is 413.
    const std::uint64_t room = limits_.body - body_total_;
    if (room == 0) return fail(Error::body_too_large);
    const std::size_t n = room < buf.size() ? static_cast<std::size_t>(room) : buf.size();
    body_ = buf.substr(0, n);
    body_total_ += n;
    return {Event::body, n};
  }

  Step next_chunk_data(std::string_view buf, std::size_t off) {
    if (off == buf.size()) return {Event::need_more, off};
    const std::size_t avail = buf.size() - off;
    const std::size_t n = remaining_ < avail ? static_cast<std::size_t>(remaining_) : avail;
    body_ = buf.substr(off, n);
    remaining_ -= n;
    if (remaining_ == 0) state_ = State::chunk_cr;
    return {Event::body, off + n};
  }

  // The CRLF after chunk-data; false when more bytes are needed or it failed.
  bool next_chunk_end(std::string_view buf, std::size_t& off) {
    if (off == buf.size()) return false;
    const char want = state_ == State::chunk_cr ? '\r' : '\n';
    if (buf[off] != want) {
      fail(Error::bad_chunk_end);
      return false;
    }
    ++off;
    if (state_ == State::chunk_cr) {
      state_ = State::chunk_lf;
    } else {
      state_ = State::chunk_size;
      chunk_ = ChunkLine{};
    }
    return true;
  }

  // A chunk-size line, consumed whole; false when more bytes are needed or it failed.
  bool next_chunk_size(std::string_view buf, std::size_t& off) {
    Error e = Error::none;
    if (!scan_chunk_line(buf.substr(off), e)) {
      if (e != Error::none) fail(e);
      return false;
    }
    off += chunk_.pos;
    // RULES.md: 413 at the chunk-size line that takes the body over the limit.
    if (chunk_.size > limits_.body - body_total_) {
      fail(Error::body_too_large);
      return false;
    }
    body_total_ += chunk_.size;
    if (chunk_.size != 0) {
      remaining_ = chunk_.size;
      state_ = State::chunk_data;
      return true;
    }
    // The last chunk: trailer fields follow (RFC 9112 §7.1.2).
    state_ = State::trailers;
    // What a trailer scan reads (scan_fields<false>); the rest of head_ is
    // the head's, unused here.
    head_.pos = 0;
    head_.section = 0;
    head_.part = kLineStart;
    head_.error = Error::none;
    trailers_.clear();
    return true;
  }

  // Scans line on from chunk_.pos. True once the line is whole (chunk_.pos
  // is then one past its LF); false when more bytes are needed or on error (e).
  bool scan_chunk_line(std::string_view line, Error& e);

  Step next_trailers(std::string_view buf, std::size_t off) {
    const auto base = reinterpret_cast<std::uintptr_t>(buf.data()) + off;
    if (head_.pos != 0 && base != views_base_) rebase(trailers_, views_base_, base);
    views_base_ = base;
    const HeadStep s =
        scanner_.trailers(head_, trailers_, limits_, buf.data() + off, buf.size() - off);
    if (s == HeadStep::need_more) return {Event::need_more, off};
    if (s == HeadStep::error) return fail(head_.error);
    const std::size_t end = off + head_.pos;
    end_message();
    return {Event::done, end};
  }

  const HeadScanner& scanner_;
  State state_ = State::head;
  HeadState head_;                 // the head or trailer section being scanned
  ChunkLine chunk_;                // the chunk-size line being scanned
  std::uintptr_t views_base_ = 0;  // where buf was when the kept spans were made
  std::uint64_t remaining_ = 0;    // bytes left in the fixed body or the current chunk
  std::uint64_t body_total_ = 0;   // decoded body bytes so far (chunked, until close)
};

bool FastParser::scan_chunk_line(std::string_view line, Error& e) {
  ChunkLine& c = chunk_;
  auto bad = [&e](Error why) {
    e = why;
    return false;
  };
  for (std::size_t p = c.pos; p < line.size(); ++p) {
    const char ch = line[p];
    // RULES.md: more than chunk_extension bytes between the size and the CR.
    if (c.part >= ChunkLine::kExtNameStart && c.part < ChunkLine::kLf && ch != '\r' &&
        p - c.ext_start >= limits_.chunk_extension) {
      return bad(Error::bad_chunk_extension);
    }
    switch (c.part) {
      case ChunkLine::kFirstDigit:
        if (!has(ch, kHex)) return bad(Error::bad_chunk_size);
        c.size = static_cast<std::uint64_t>(hex_value(ch));
        c.part = ChunkLine::kDigits;
        break;
      case ChunkLine::kDigits:
        if (has(ch, kHex)) {
          if (c.size > (UINT64_MAX >> 4)) return bad(Error::bad_chunk_size);
          c.size = c.size << 4 | static_cast<std::uint64_t>(hex_value(ch));
        } else if (ch == ';') {
          c.ext_start = p;
          c.part = ChunkLine::kExtNameStart;
        } else if (ch == '\r') {
          c.part = ChunkLine::kLf;
        } else {
          return bad(Error::bad_chunk_size);
        }
        break;
      case ChunkLine::kExtNameStart:
        if (!is_tchar(ch)) return bad(Error::bad_chunk_extension);
        c.part = ChunkLine::kExtName;
        break;
      case ChunkLine::kExtName:
      case ChunkLine::kExtToken:
        if (is_tchar(ch)) break;
        if (ch == '=' && c.part == ChunkLine::kExtName) {
          c.part = ChunkLine::kExtValueStart;
        } else if (ch == ';') {
          c.part = ChunkLine::kExtNameStart;
        } else if (ch == '\r') {
          c.part = ChunkLine::kLf;
        } else {
          return bad(Error::bad_chunk_extension);
        }
        break;
      case ChunkLine::kExtValueStart:
        if (ch == '"') {
          c.part = ChunkLine::kExtQuoted;
        } else if (is_tchar(ch)) {
          c.part = ChunkLine::kExtToken;
        } else {
          return bad(Error::bad_chunk_extension);
        }
        break;
      case ChunkLine::kExtQuoted:
        if (ch == '"') {
          c.part = ChunkLine::kExtAfterQuoted;
        } else if (ch == '\\') {
          c.part = ChunkLine::kExtQuotedPair;
        } else if (!has(ch, kQdtext)) {
          return bad(Error::bad_chunk_extension);
        }
        break;
      case ChunkLine::kExtQuotedPair:
        if (!has(ch, kPairable)) return bad(Error::bad_chunk_extension);
        c.part = ChunkLine::kExtQuoted;
        break;
      case ChunkLine::kExtAfterQuoted:
        if (ch == ';') {
          c.part = ChunkLine::kExtNameStart;
        } else if (ch == '\r') {
          c.part = ChunkLine::kLf;
        } else {
          return bad(Error::bad_chunk_extension);
        }
        break;
      case ChunkLine::kLf:
        if (ch != '\n') return bad(Error::bad_chunk_size);
        c.pos = p + 1;
        return true;
    }
  }
  c.pos = line.size();
  return false;
}

}  // namespace

std::unique_ptr<Parser> make_fast_parser_with(Mode mode, const Limits& limits,
                                              const HeadScanner& scanner) {
  return std::make_unique<FastParser>(mode, limits, scanner);
}

}  // namespace anvil::parser::detail::fast

namespace anvil::parser::detail {

std::unique_ptr<Parser> make_fast_parser(Mode mode, const Limits& limits) {
  return fast::make_fast_parser_with(mode, limits, fast::best_head_scanner());
}

}  // namespace anvil::parser::detail

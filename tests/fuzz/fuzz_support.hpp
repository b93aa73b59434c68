// What every fuzz target under tests/fuzz/ needs besides its own checks:
//  * fail(): print a finding and trap (libFuzzer saves the input);
//  * printable(): bytes as text for a finding's dump; append(): parts to a string;
//  * make_cuts(): a fragmentation of n bytes chosen by the input (a few or
//    many random cuts, every n bytes, every byte), and Pieces, which feeds
//    the input in those pieces;
//  * small_limits(): parser Limits made small by the input;
//  * is_tchar(), is_token(), is_text(): the RFC 9110 text rules, the oracle's
//    own copy;
//  * GuardedBuffer: bytes placed flush against an unreadable page, with the
//    previous placement made unreadable;
//  * read_response(): one response as the project's parser reads it, for the
//    targets that hold the server's output to it (chunk_fuzz, head_fuzz).
// Header-only, no state outside the objects; the same in the libFuzzer build
// (clang, ASan) and the replay build (ctest, any compiler).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "anvil/parser/parser.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ANVIL_FUZZ_SUPPORT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ANVIL_FUZZ_SUPPORT_ASAN 1
#endif
#ifdef ANVIL_FUZZ_SUPPORT_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace anvil::fuzz {

// RFC 9110 §5.6.2 tchar, and the bytes RFC 9110 §5.5 allows in a field value
// (and RFC 9112 §4 in a reason phrase): HTAB, SP, VCHAR, obs-text. Written
// here on purpose, apart from the parsers' own tables and parser/text.hpp
// (which the server uses), as the oracle they are held against.
inline bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

inline bool is_text(unsigned char c) { return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f); }

inline bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

inline bool is_text(std::string_view s) {
  for (unsigned char c : s) {
    if (!is_text(c)) return false;
  }
  return true;
}

// Appends each part (g++ 12 warns falsely, -Wrestrict, on `"literal" + string`).
inline void append(std::string& out, std::initializer_list<std::string_view> parts) {
  for (std::string_view p : parts) out += p;
}

inline std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n\n";
    } else if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

// `target` names the fuzz target in the message ("response_fuzz FINDING: ...").
[[noreturn]] inline void fail(std::string_view target, std::string_view what,
                              std::string_view detail) {
  std::fprintf(stderr, "\n=== %.*s FINDING: %.*s\n%.*s\n", static_cast<int>(target.size()),
               target.data(), static_cast<int>(what.size()), what.data(),
               static_cast<int>(detail.size()), detail.data());
  std::fflush(stderr);
  __builtin_trap();
}

inline std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Sorted, distinct cut points in (0, n). style & 3: 0 a few random cuts,
// 1 every 1 + seed % 32 bytes, 2 every byte, 3 many random cuts.
inline std::vector<std::size_t> make_cuts(std::uint8_t style, std::uint16_t seed, std::size_t n) {
  std::vector<std::size_t> cuts;
  if (n < 2) return cuts;
  std::size_t step = 0;
  switch (style & 3) {
    case 0:
    case 3: {
      std::uint64_t state = seed * 0x100000001b3ULL + n;
      const std::size_t count = (style & 3) == 0 ? 1 + seed % 4 : 1 + seed % 64;
      for (std::size_t i = 0; i < count; ++i) cuts.push_back(1 + splitmix(state) % (n - 1));
      std::sort(cuts.begin(), cuts.end());
      cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
      return cuts;
    }
    case 1:
      step = 1 + seed % 32;
      break;
    case 2:
      step = 1;  // one byte at a time, as picohttpparser's tests do
      break;
  }
  for (std::size_t at = step; at < n; at += step) cuts.push_back(at);
  return cuts;
}

// The input in the pieces that the cuts make: each feed() appends the next
// piece to the caller's unconsumed bytes; false once the input is used up.
class Pieces {
 public:
  Pieces(std::string_view input, std::span<const std::size_t> cuts) : input_(input), cuts_(cuts) {}

  bool feed(std::string& pending) {
    if (fed_ == input_.size()) return false;
    const std::size_t to = next_cut_ < cuts_.size() ? cuts_[next_cut_++] : input_.size();
    pending.append(input_.substr(fed_, to - fed_));
    fed_ = to;
    return true;
  }

 private:
  std::string_view input_;
  std::span<const std::size_t> cuts_;
  std::size_t fed_ = 0;
  std::size_t next_cut_ = 0;
};

// The Limits members whose bit is set in mask (declaration order) made small.
inline parser::Limits small_limits(std::uint8_t mask, std::uint8_t v) {
  parser::Limits l;
  if (mask & 1) l.request_line = 1 + v % 128;
  if (mask & 2) l.header_bytes = 1 + std::size_t{v} * 2;
  if (mask & 4) l.fields = 1 + v % 16;
  if (mask & 8) l.body = v;
  if (mask & 16) l.chunk_extension = 1 + v % 32;
  return l;
}

// Two regions, each ending at a PROT_NONE page. place() copies bytes flush
// against the guard page of one region and makes the other unreadable, so a
// read past the end, or through a pointer kept from the previous placement
// (the buffer "may have moved"), fails at once. Under ASan the regions are
// poisoned (no system call per placement); without it, mprotect does the same.
class GuardedBuffer {
 public:
  explicit GuardedBuffer(std::size_t capacity) {
    page_ = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    usable_ = (capacity + page_) / page_ * page_;
    for (char*& base : bases_) {
      void* p = mmap(nullptr, usable_ + page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
      if (p == MAP_FAILED) fail("fuzz_support", "mmap failed", "");
      base = static_cast<char*>(p);
      mprotect(base + usable_, page_, PROT_NONE);
      hide(base, usable_);
    }
  }
  ~GuardedBuffer() {
    for (char* base : bases_) {
      show(base, usable_);
      munmap(base, usable_ + page_);
    }
  }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  // bytes.size() must not exceed the capacity given to the constructor.
  std::string_view place(std::string_view bytes) {
    char* to = bases_[next_];
    char* from = bases_[next_ ^ 1];
    next_ ^= 1;
    char* start = to + usable_ - bytes.size();
    show(start, bytes.size());
    if (!bytes.empty()) std::memcpy(start, bytes.data(), bytes.size());
    hide(from, usable_);
    return {start, bytes.size()};
  }

 private:
#ifdef ANVIL_FUZZ_SUPPORT_ASAN
  static void show(char* p, std::size_t n) { ASAN_UNPOISON_MEMORY_REGION(p, n); }
  static void hide(char* p, std::size_t n) { ASAN_POISON_MEMORY_REGION(p, n); }
#else
  void show(char* p, std::size_t n) {
    // mprotect works on whole pages.
    const auto page_mask = ~static_cast<std::uintptr_t>(page_ - 1);
    auto* first = reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(p) & page_mask);
    mprotect(first, static_cast<std::size_t>(p + n - first), PROT_READ | PROT_WRITE);
  }
  static void hide(char* p, std::size_t n) { mprotect(p, n, PROT_NONE); }
#endif

  char* bases_[2] = {nullptr, nullptr};
  std::size_t usable_ = 0;
  std::size_t page_ = 0;
  int next_ = 0;
};

// One response as a parser read it: the head, the decoded body, and where
// and how the message ended.
struct ReadResponse {
  bool has_head = false;
  int status = 0;
  std::string reason;
  int version = 0;  // 10 or 11
  std::vector<std::pair<std::string, std::string>> fields;
  parser::BodyKind body_kind = parser::BodyKind::none;
  std::uint64_t content_length = 0;
  bool keep_alive = false;
  std::string body;
  bool done = false;        // the message ended (Event::done)
  std::size_t done_at = 0;  // bytes of the input consumed when it did
  bool by_finish = false;   // done came from finish() (an until-close body)
  parser::Error error = parser::Error::none;
  std::string problem;  // a break of parser.hpp's contract, if any
};

// Feeds `input` in the pieces `cuts` make to a reset parser until its first
// message is done, an error, or the input is used up; then, when
// `finish_at_end`, calls finish() as a peer that closed would.
inline ReadResponse read_response(parser::Parser& p, std::string_view input,
                                  std::span<const std::size_t> cuts, bool finish_at_end) {
  using parser::Event;
  p.reset();
  ReadResponse r;
  Pieces pieces(input, cuts);
  std::string pending;
  pieces.feed(pending);
  std::size_t consumed_total = 0;
  bool finishing = false;
  std::size_t budget = 4 * input.size() + 4 * cuts.size() + 16;
  for (;;) {
    if (budget-- == 0) {
      r.problem = "no progress: more parser calls than the input can justify";
      return r;
    }
    const std::string_view buf = pending;
    const parser::Step step = finishing ? p.finish(buf) : p.next(buf);
    if (step.consumed > buf.size()) {
      r.problem = "consumed > buf.size()";
      return r;
    }
    consumed_total += step.consumed;
    switch (step.event) {
      case Event::need_more:
        if (finishing) {
          r.problem = "finish() returned need_more";
          return r;
        }
        if (!pieces.feed(pending)) {
          if (!finish_at_end) return r;
          finishing = true;
        }
        break;
      case Event::head: {
        const parser::Message& m = p.message();
        r.has_head = true;
        r.status = m.status;
        r.reason.assign(m.reason);
        r.version = m.version_major * 10 + m.version_minor;
        for (const parser::Field& f : m.fields) r.fields.emplace_back(f.name, f.value);
        r.body_kind = m.body;
        r.content_length = m.content_length;
        r.keep_alive = m.keep_alive;
        break;
      }
      case Event::body:
        r.body.append(p.body());
        break;
      case Event::done:
        r.done = true;
        r.done_at = consumed_total;
        r.by_finish = finishing;
        return r;
      case Event::end:
        return r;
      case Event::error:
        r.error = p.error();
        return r;
    }
    pending.erase(0, step.consumed);
  }
}

}  // namespace anvil::fuzz

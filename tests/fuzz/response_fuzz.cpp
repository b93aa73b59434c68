// Response fuzz target: parses a stream of responses as hammer does
// (loadgen/src/engine.cpp), with llhttp and with fast, whole and in pieces.
// A client reads the responses to its requests in order: set_head_response()
// says whether the next final response answers a HEAD request (chosen per
// request by the input), a 1xx other than 101 is interim and precedes the
// final response to the same request (RFC 9110 §15.2), the client stops
// reading after a final response that does not keep the connection alive,
// and finish() runs when the input (the server's side) ends.
//
// It stops with `response_fuzz FINDING` and a dump when
//  * two of llhttp, fast and http-parser disagree (every message in full, how the stream ended,
//    the HTTP status of an error), or one parser answers differently fed in
//    pieces than fed whole (error code included);
//  * a parser breaks parser.hpp's contract (consumed > buf.size(), spans
//    outside buf, no progress, need_more after which the same bytes still
//    make progress, an error that is not sticky);
//  * a parser hands out what the response rules (parser/RULES.md, RFC 9112
//    §4, §5, §6.3) forbid: a status over 999, a version other than 1.0/1.1,
//    a body for a HEAD answer, 1xx, 204 or 304, a body of another length
//    than its Content-Length, an until-close body that keeps the connection
//    alive or ends before the connection does, trailers without chunked, or
//    a field name that is not a token, a value or reason with a control byte
//    or with surrounding whitespace;
//  * ASan/UBSan find anything; every call gets its bytes flush against an
//    unreadable page (fuzz_support.hpp).
//
// Input layout (tests/fuzz/make_response_corpus.py writes seeds in it):
//   [0] flags: bit0 small limits, bits 1-2 the fast parser's head scanner
//       (best, avx2, sse42, generic)
//   [1] HEAD pattern: bit i set = the i-th request (mod 8) was a HEAD
//   [2] which limits are small (one bit per Limits member)  [3] their value seed
//   [4] fragmentation style (low 2 bits)   [5..6] fragmentation seed
//   [7..] the bytes the server sent
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "anvil/parser/parser.hpp"
#include "fast_scan.hpp"  // parser/src: the fast parser's scanner variants
#include "fuzz_support.hpp"

namespace {

using anvil::fuzz::GuardedBuffer;
using anvil::parser::BodyKind;
using anvil::parser::Error;
using anvil::parser::Event;
using anvil::parser::Field;
using anvil::parser::Limits;
using anvil::parser::Message;
using anvil::parser::Mode;
using anvil::parser::Parser;
using anvil::parser::ParserKind;
using anvil::parser::Step;

constexpr std::string_view kTarget = "response_fuzz";
constexpr std::size_t kHeaderBytes = 7;
constexpr std::string_view kFastVariants[] = {"best", "avx2", "sse42", "generic"};

struct Setup {
  std::string_view fast_variant = "best";
  std::uint8_t head_pattern = 0;
  Limits limits;
  std::vector<std::size_t> cuts;
  std::string_view input;

  bool answers_head(std::size_t request) const { return (head_pattern >> (request % 8)) & 1; }
};

bool decode(const std::uint8_t* data, std::size_t size, Setup& setup) {
  if (size < kHeaderBytes) return false;
  const std::uint8_t flags = data[0];
  setup.fast_variant = kFastVariants[(flags >> 1) & 3];
  setup.head_pattern = data[1];
  if (flags & 1) setup.limits = anvil::fuzz::small_limits(data[2], data[3]);
  setup.input = {reinterpret_cast<const char*>(data) + kHeaderBytes, size - kHeaderBytes};
  const auto seed = static_cast<std::uint16_t>(data[5] << 8 | data[6]);
  setup.cuts = anvil::fuzz::make_cuts(data[4], seed, setup.input.size());
  return true;
}

using anvil::fuzz::append;

std::string describe(const Setup& setup) {
  const Limits& l = setup.limits;
  std::string s;
  append(s, {"head_pattern=", std::to_string(setup.head_pattern), " fast=", setup.fast_variant});
  append(s, {" limits{request_line=", std::to_string(l.request_line),
             " header_bytes=", std::to_string(l.header_bytes), " fields=", std::to_string(l.fields),
             " body=", std::to_string(l.body),
             " chunk_extension=", std::to_string(l.chunk_extension), "}\ncuts:"});
  for (std::size_t c : setup.cuts) append(s, {" ", std::to_string(c)});
  append(s, {"\n--- input ---\n", anvil::fuzz::printable(setup.input)});
  return s;
}

// What the client made of the stream: every message in full, and how it ended.
struct Outcome {
  std::string log;
  Error error = Error::none;
  bool ended = false;   // finish() returned end: the server closed between responses
  bool closed = false;  // a final response ended the connection; the client stopped there
};

std::string describe(const Outcome& o) {
  std::string s = o.log;
  append(s, {"error=", anvil::parser::code_of(o.error),
             " status=", std::to_string(anvil::parser::status_of(o.error))});
  if (o.ended) s += " ended";
  if (o.closed) s += " closed";
  s += '\n';
  return s;
}

void put(std::string& out, std::string_view key, std::string_view value) {
  append(out, {key, "[", std::to_string(value.size()), "]=", value, " "});
}

void put(std::string& out, std::string_view key, std::uint64_t value) {
  append(out, {key, "=", std::to_string(value), " "});
}

bool inside(std::string_view part, std::string_view buf) {
  if (part.empty()) return true;
  return part.data() >= buf.data() && part.data() + part.size() <= buf.data() + buf.size();
}

bool is_field_value(std::string_view v) {
  if (!anvil::fuzz::is_text(v)) return false;
  if (v.empty()) return true;
  auto ows = [](char c) { return c == ' ' || c == '\t'; };
  return !ows(v.front()) && !ows(v.back());
}

// The one response being read: what its head said, and the body so far.
struct Current {
  int status = 0;
  BodyKind body_kind = BodyKind::none;
  std::uint64_t content_length = 0;
  bool keep_alive = false;
  std::string body;
};

class Client {
 public:
  Client(Parser& parser, GuardedBuffer& guarded, const Setup& setup, std::string_view name)
      : parser_(parser), guarded_(guarded), setup_(setup), name_(name) {}

  Outcome run(std::span<const std::size_t> cuts) {
    parser_.reset();
    out_ = Outcome{};
    std::size_t finals = 0;  // final responses read: the index of the next request
    parser_.set_head_response(setup_.answers_head(finals));
    Current cur;
    std::string pending;  // unconsumed bytes
    anvil::fuzz::Pieces pieces(setup_.input, cuts);
    pieces.feed(pending);
    bool finishing = setup_.input.empty();
    std::size_t budget = 4 * setup_.input.size() + 4 * cuts.size() + 16;
    for (;;) {
      if (budget-- == 0) broken("no progress: more parser calls than the input can justify");
      const std::string_view buf = guarded_.place(pending);
      const Step step = finishing ? parser_.finish(buf) : parser_.next(buf);
      if (step.consumed > buf.size()) broken("consumed > buf.size()");
      switch (step.event) {
        case Event::need_more:
          if (finishing) broken("finish() returned need_more");
          check_idle(std::string_view(pending).substr(step.consumed));
          if (!pieces.feed(pending)) finishing = true;
          break;
        case Event::head:
          if (step.consumed == 0) broken("head consumed nothing (a head is consumed whole)");
          cur = on_head(parser_.message(), buf, setup_.answers_head(finals));
          break;
        case Event::body:
          if (!inside(parser_.body(), buf)) broken("body span outside buf");
          if (step.consumed == 0 && parser_.body().empty()) broken("empty body event");
          if (cur.body_kind == BodyKind::none) broken("body bytes for a response without a body");
          cur.body.append(parser_.body());
          if (cur.body_kind == BodyKind::content_length && cur.body.size() > cur.content_length) {
            broken("more body than Content-Length");
          }
          break;
        case Event::done: {
          on_done(cur, buf, finishing);
          const bool interim = cur.status >= 100 && cur.status < 200 && cur.status != 101;
          if (interim) break;
          parser_.set_head_response(setup_.answers_head(++finals));
          if (!cur.keep_alive) {
            out_.closed = true;  // hammer closes here; later bytes are nobody's
            return out_;
          }
          break;
        }
        case Event::end:
          if (!finishing) broken("next() returned end (only finish() ends the input)");
          if (step.consumed != buf.size()) broken("end with bytes left");
          out_.ended = true;
          return out_;
        case Event::error:
          out_.error = parser_.error();
          if (out_.error == Error::none) broken("error event with Error::none");
          check_sticky(std::string_view(pending).substr(step.consumed));
          return out_;
      }
      pending.erase(0, step.consumed);
    }
  }

 private:
  [[noreturn]] void broken(std::string_view what) {
    std::string detail = describe(setup_);
    append(detail, {"\n--- ", name_, " so far ---\n", anvil::fuzz::printable(out_.log)});
    std::string title(name_);
    append(title, {": ", what});
    anvil::fuzz::fail(kTarget, title, detail);
  }

  void check_fields(std::span<const Field> fields, std::string_view buf, std::string_view what) {
    for (const Field& f : fields) {
      if (!inside(f.name, buf) || !inside(f.value, buf)) broken("a field span points outside buf");
      if (!anvil::fuzz::is_token(f.name)) broken(std::string(what) + " name is not a token");
      if (!is_field_value(f.value)) {
        broken(std::string(what) + " value has a control byte or surrounding whitespace");
      }
      put(out_.log, "  field", f.name);
      put(out_.log, ":", f.value);
      out_.log += '\n';
    }
  }

  Current on_head(const Message& m, std::string_view buf, bool head_request) {
    if (!inside(m.reason, buf)) broken("reason span outside buf");
    if (m.status < 0 || m.status > 999) broken("status is not 3DIGIT");
    if (m.version_major != 1 || m.version_minor > 1) broken("version other than 1.0/1.1 accepted");
    if (!anvil::fuzz::is_text(m.reason)) broken("reason has a control byte");
    const bool bodiless = head_request || m.status / 100 == 1 || m.status == 204 || m.status == 304;
    // RFC 9112 §6.3 ¶1-2: these responses end at the end of their head.
    if (bodiless && m.body != BodyKind::none) broken("a body for HEAD, 1xx, 204 or 304");
    if (!bodiless && m.body == BodyKind::none) broken("no body kind for a response with a body");
    if (m.body == BodyKind::until_close && m.keep_alive) broken("until-close body kept alive");
    out_.log += "HEAD ";
    put(out_.log, "status", static_cast<std::uint64_t>(m.status));
    put(out_.log, "reason", m.reason);
    put(out_.log, "version", m.version_major * 10u + m.version_minor);
    put(out_.log, "body", static_cast<std::uint64_t>(m.body));
    if (m.body == BodyKind::content_length) put(out_.log, "content_length", m.content_length);
    put(out_.log, "keep_alive", m.keep_alive);
    put(out_.log, "upgrade", m.upgrade);
    out_.log += '\n';
    check_fields(m.fields, buf, "field");
    return Current{m.status, m.body, m.content_length, m.keep_alive, {}};
  }

  void on_done(const Current& cur, std::string_view buf, bool finishing) {
    if (cur.body_kind == BodyKind::content_length && cur.body.size() != cur.content_length) {
      broken("done with a body shorter than Content-Length");
    }
    // RFC 9112 §6.3 ¶8: only the end of the connection ends such a body.
    if ((cur.body_kind == BodyKind::until_close) != finishing) {
      broken(finishing ? "finish() gave done for a body that does not end with the connection"
                       : "an until-close body ended before the connection did");
    }
    if (cur.body_kind != BodyKind::chunked && !parser_.trailers().empty()) {
      broken("trailers without a chunked body");
    }
    put(out_.log, "BODY", cur.body);
    out_.log += '\n';
    check_fields(parser_.trailers(), buf, "trailer");
    out_.log += "DONE\n";
  }

  // parser.hpp: need_more means "all of buf that could be used is consumed".
  void check_idle(std::string_view rest) {
    const std::string_view buf = guarded_.place(rest);
    const Step again = parser_.next(buf);
    if (again.event != Event::need_more || again.consumed != 0) {
      broken("need_more, but the same bytes again still make progress");
    }
  }

  // parser.hpp: "every later call returns error until reset()".
  void check_sticky(std::string_view rest) {
    const std::string_view buf = guarded_.place(rest);
    const Step again = parser_.next(buf);
    if (again.event != Event::error || parser_.error() != out_.error ||
        again.consumed > buf.size()) {
      broken("error is not sticky");
    }
  }

  Parser& parser_;
  GuardedBuffer& guarded_;
  const Setup& setup_;
  std::string_view name_;
  Outcome out_;
};

[[noreturn]] void report(std::string_view what, const Setup& setup, std::string_view left_name,
                         const Outcome& left, std::string_view right_name, const Outcome& right) {
  std::string detail = describe(setup);
  append(detail, {"\n--- ", left_name, " ---\n", anvil::fuzz::printable(describe(left))});
  append(detail, {"\n--- ", right_name, " ---\n", anvil::fuzz::printable(describe(right))});
  anvil::fuzz::fail(kTarget, what, detail);
}

bool same(const Outcome& a, const Outcome& b) {
  return a.log == b.log && a.ended == b.ended && a.closed == b.closed;
}

// Every SIMD variant of the fast parser's head scanner must answer as the
// plain one does; inputs choose the variant (the CPU may lack some: best then).
std::unique_ptr<Parser> make(ParserKind kind, const Setup& setup) {
  namespace fast = anvil::parser::detail::fast;
  if (kind == ParserKind::fast && setup.fast_variant != "best") {
    if (const fast::HeadScanner* scanner = fast::head_scanner_named(setup.fast_variant)) {
      return fast::make_fast_parser_with(Mode::response, setup.limits, *scanner);
    }
  }
  return anvil::parser::make_parser(kind, Mode::response, setup.limits);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Setup setup;
  if (!decode(data, size, setup)) return 0;
  GuardedBuffer guarded(setup.input.size());
  // Every plug-in (llhttp, fast, http-parser), each held to the first.
  const auto kinds = anvil::parser::all_parser_kinds();
  std::vector<Outcome> whole(kinds.size());
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    const std::string_view name = anvil::parser::name_of(kinds[i]);
    auto parser = make(kinds[i], setup);
    Client client(*parser, guarded, setup, name);
    whole[i] = client.run({});
    // The same parser object again, after reset(): also checks reset().
    const Outcome pieces = client.run(setup.cuts);
    if (!same(whole[i], pieces) || whole[i].error != pieces.error) {
      std::string what(name), left(name), right(name);
      what += " answers differently when the input is fragmented";
      left += " fed whole";
      right += " fed in pieces";
      report(what, setup, left, whole[i], right, pieces);
    }
  }
  // Two may name an error differently (RULES.md), so only its status counts.
  for (std::size_t i = 1; i < kinds.size(); ++i) {
    if (same(whole[0], whole[i]) &&
        anvil::parser::status_of(whole[0].error) == anvil::parser::status_of(whole[i].error)) {
      continue;
    }
    const std::string left(anvil::parser::name_of(kinds[0]));
    const std::string right(anvil::parser::name_of(kinds[i]));
    report(left + " and " + right + " disagree", setup, left, whole[0], right, whole[i]);
  }
  return 0;
}

// Differential fuzz target: llhttp, fast and http-parser must give the same answer for every
// input, and each must give the same answer at every fragmentation
// (parser/RULES.md, first paragraph). Any disagreement, or a broken contract of
// parser.hpp (consumed > buf.size(), spans outside buf, no progress, an error
// that is not sticky), ends the process with a message and __builtin_trap().
//
// Input layout (tests/fuzz/make_corpus.py writes seeds in it):
//   [0] flags: bit0 response mode, bit1 responses answer HEAD, bit2 small limits,
//       bits 3-4 the fast parser's head scanner (best, avx2, sse42, generic)
//   [1] which limits are small (one bit per Limits member, in declaration order)
//   [2] the small limits' value seed
//   [3] fragmentation style (low 2 bits)   [4..5] fragmentation seed
//   [6..] the bytes fed to both parsers

#include <algorithm>
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

using anvil::fuzz::append;
using anvil::fuzz::GuardedBuffer;
using anvil::fuzz::make_cuts;
using anvil::fuzz::printable;
using anvil::fuzz::small_limits;

constexpr std::size_t kHeaderBytes = 6;

[[noreturn]] void fail(std::string_view what, std::string_view detail) {
  anvil::fuzz::fail("parser_fuzz", what, detail);
}

constexpr std::string_view kFastVariants[] = {"best", "avx2", "sse42", "generic"};

struct Setup {
  Mode mode = Mode::request;
  std::string_view fast_variant = "best";
  bool head_response = false;
  Limits limits;
  std::vector<std::size_t> cuts;
  std::string_view input;
};

bool decode(const std::uint8_t* data, std::size_t size, Setup& setup) {
  if (size < kHeaderBytes) return false;
  const std::uint8_t flags = data[0];
  setup.mode = (flags & 1) ? Mode::response : Mode::request;
  setup.head_response = (flags & 2) != 0;
  setup.fast_variant = kFastVariants[(flags >> 3) & 3];
  if (flags & 4) setup.limits = small_limits(data[1], data[2]);
  setup.input = {reinterpret_cast<const char*>(data) + kHeaderBytes, size - kHeaderBytes};
  const auto seed = static_cast<std::uint16_t>(data[4] << 8 | data[5]);
  setup.cuts = make_cuts(data[3], seed, setup.input.size());
  return true;
}

// What one parser made of one input: every completed message rendered in
// full, heads as they came, and how it ended.
struct Outcome {
  std::string log;
  Error error = Error::none;
  bool ended = false;  // finish() returned end, or next() after a closing request
};

void put(std::string& out, std::string_view key, std::string_view value) {
  out += key;
  out += '[';
  out += std::to_string(value.size());
  out += "]=";
  out += value;
  out += ' ';
}

void put(std::string& out, std::string_view key, std::uint64_t value) {
  out += key;
  out += '=';
  out += std::to_string(value);
  out += ' ';
}

bool inside(std::string_view part, std::string_view buf) {
  if (part.empty()) return true;
  return part.data() >= buf.data() && part.data() + part.size() <= buf.data() + buf.size();
}

void check_fields_inside(std::span<const Field> fields, std::string_view buf, const char* what) {
  for (const Field& f : fields) {
    if (!inside(f.name, buf) || !inside(f.value, buf)) {
      fail(what, "a field span points outside buf (parser.hpp: spans point into buf)");
    }
  }
}

void render_head(const Message& m, Mode mode, std::string_view buf, std::string& out) {
  if (!inside(m.method, buf) || !inside(m.target, buf) || !inside(m.reason, buf)) {
    fail("span outside buf", "method/target/reason does not point into buf");
  }
  check_fields_inside(m.fields, buf, "head field outside buf");
  out += "HEAD ";
  if (mode == Mode::request) {
    put(out, "method", m.method);
    put(out, "target", m.target);
  } else {
    put(out, "status", static_cast<std::uint64_t>(m.status));
    put(out, "reason", m.reason);
  }
  if (mode == Mode::request) put(out, "target_form", anvil::parser::name_of(m.target_form));
  put(out, "version", m.version_major * 10u + m.version_minor);
  put(out, "body", static_cast<std::uint64_t>(m.body));
  if (m.body == BodyKind::content_length) put(out, "content_length", m.content_length);
  put(out, "keep_alive", m.keep_alive);
  put(out, "expect_continue", m.expect_continue);
  put(out, "upgrade", m.upgrade);
  out += '\n';
  for (const Field& f : m.fields) {
    put(out, "  field", f.name);
    put(out, ":", f.value);
    out += '\n';
  }
}

class Feeder {
 public:
  Feeder(Parser& parser, GuardedBuffer& guarded) : parser_(parser), guarded_(guarded) {}

  Outcome run(const Setup& setup, std::span<const std::size_t> cuts) {
    parser_.reset();
    parser_.set_head_response(setup.head_response);
    Outcome out;
    std::string pending;  // the connection's unconsumed bytes
    std::string body;     // the current message's decoded body so far
    std::size_t fed = 0;
    std::size_t next_cut = 0;
    const std::string_view input = setup.input;
    auto feed_piece = [&]() {
      if (fed == input.size()) return false;
      const std::size_t to = next_cut < cuts.size() ? cuts[next_cut++] : input.size();
      pending.append(input.substr(fed, to - fed));
      fed = to;
      return true;
    };
    feed_piece();
    bool finishing = input.empty();
    // parser.hpp: after a request without keep-alive, only end.
    bool closing = false;
    bool keep_alive = false;
    // Every event but need_more consumes bytes or ends a message, and a
    // message takes at least a few bytes; this bound is generous.
    std::size_t budget = 4 * input.size() + 4 * cuts.size() + 16;
    for (;;) {
      if (budget-- == 0) fail("no progress", "more parser calls than the input can justify");
      const std::string_view buf = guarded_.place(pending);
      const Step step = finishing ? parser_.finish(buf) : parser_.next(buf);
      if (step.consumed > buf.size()) fail("consumed > buf.size()", "");
      if (closing && step.event != Event::end) {
        fail("parsed past a closing request", "parser.hpp: after its done, only end");
      }
      switch (step.event) {
        case Event::need_more:
          if (finishing) fail("finish() returned need_more", "");
          check_idle(std::string_view(pending).substr(step.consumed));
          if (!feed_piece()) finishing = true;
          break;
        case Event::head:
          if (step.consumed == 0) fail("head consumed nothing", "a head is consumed whole");
          render_head(parser_.message(), setup.mode, buf, out.log);
          keep_alive = parser_.message().keep_alive;
          body.clear();
          break;
        case Event::body:
          if (!inside(parser_.body(), buf)) fail("body span outside buf", "");
          if (step.consumed == 0 && parser_.body().empty()) fail("empty body event", "");
          body.append(parser_.body());
          break;
        case Event::done:
          check_fields_inside(parser_.trailers(), buf, "trailer outside buf");
          put(out.log, "BODY", body);
          out.log += '\n';
          for (const Field& f : parser_.trailers()) {
            put(out.log, "  trailer", f.name);
            put(out.log, ":", f.value);
            out.log += '\n';
          }
          out.log += "DONE\n";
          body.clear();
          closing = setup.mode == Mode::request && !keep_alive;
          break;
        case Event::end:
          if (closing) {
            if (step.consumed != 0) fail("end after a closing request consumed bytes", "");
            check_closed(std::string_view(pending));
            out.ended = true;
            return out;
          }
          if (!finishing) fail("next() returned end", "only finish() ends the input");
          if (step.consumed != buf.size()) fail("end with bytes left", "");
          out.ended = true;
          return out;
        case Event::error:
          out.error = parser_.error();
          if (out.error == Error::none) fail("error event with Error::none", "");
          check_sticky(pending.substr(step.consumed), out.error);
          return out;
      }
      pending.erase(0, step.consumed);
    }
  }

 private:
  // parser.hpp: need_more means "all of buf that could be used is consumed", so
  // the same bytes again must give need_more and consume nothing. A parser that
  // could still go on would leave a connection waiting for bytes that never
  // come (a client that pipelines its requests and then waits for answers).
  void check_idle(std::string_view rest) {
    const std::string_view buf = guarded_.place(rest);
    const Step again = parser_.next(buf);
    if (again.event != Event::need_more || again.consumed != 0) {
      std::string detail = "unconsumed: ";
      detail += printable(rest);
      fail("need_more, but the same bytes again still make progress", detail);
    }
  }

  // parser.hpp: after a closing request, next() and finish() keep saying end.
  void check_closed(std::string_view rest) {
    const std::string_view buf = guarded_.place(rest);
    const Step again = parser_.next(buf);
    const Step last = parser_.finish(buf);
    if (again.event != Event::end || again.consumed != 0 || last.event != Event::end ||
        last.consumed != 0) {
      fail("end after a closing request is not sticky", "parser.hpp: {end, 0} until reset()");
    }
  }

  // parser.hpp: "every later call returns error until reset()".
  void check_sticky(std::string_view rest, Error first) {
    const std::string_view buf = guarded_.place(rest);
    const Step again = parser_.next(buf);
    if (again.event != Event::error || parser_.error() != first || again.consumed > buf.size()) {
      fail("error is not sticky", "a call after an error did not return the same error");
    }
  }

  Parser& parser_;
  GuardedBuffer& guarded_;
};

std::string describe(const Outcome& o) {
  std::string s = o.log;
  s += "error=";
  s += anvil::parser::code_of(o.error);
  append(s, {" status=", std::to_string(anvil::parser::status_of(o.error))});
  s += o.ended ? " ended\n" : "\n";
  return s;
}

[[noreturn]] void report(std::string_view what, const Setup& setup, std::string_view left_name,
                         const Outcome& left, std::string_view right_name, const Outcome& right) {
  const Limits& l = setup.limits;
  std::string detail;
  append(detail, {"mode=", setup.mode == Mode::request ? "request" : "response",
                  setup.head_response ? " head_response" : "", " fast=", setup.fast_variant});
  append(detail, {" limits{request_line=", std::to_string(l.request_line),
                  " header_bytes=", std::to_string(l.header_bytes),
                  " fields=", std::to_string(l.fields), " body=", std::to_string(l.body),
                  " chunk_extension=", std::to_string(l.chunk_extension), "}\ncuts:"});
  for (std::size_t c : setup.cuts) append(detail, {" ", std::to_string(c)});
  append(detail, {"\n--- input ---\n", printable(setup.input)});
  append(detail, {"\n--- ", left_name, " ---\n", printable(describe(left))});
  append(detail, {"\n--- ", right_name, " ---\n", printable(describe(right))});
  fail(what, detail);
}

void compare_same_parser(const Setup& setup, std::string_view name, const Outcome& whole,
                         const Outcome& pieces) {
  if (whole.log == pieces.log && whole.error == pieces.error && whole.ended == pieces.ended) return;
  std::string what(name), left(name), right(name);
  what += " answers differently when the input is fragmented";
  left += " fed whole";
  right += " fed in pieces";
  report(what, setup, left, whole, right, pieces);
}

void compare_parsers(const Setup& setup, std::string_view left_name, const Outcome& left,
                     std::string_view right_name, const Outcome& right) {
  // The two may name an error differently (RULES.md: "or an error with the
  // same HTTP status"), so only the status is compared.
  if (left.log == right.log && left.ended == right.ended &&
      anvil::parser::status_of(left.error) == anvil::parser::status_of(right.error)) {
    return;
  }
  std::string what(left_name);
  what += " and ";
  what += right_name;
  what += " disagree";
  report(what, setup, left_name, left, right_name, right);
}

}  // namespace

namespace {

// Every SIMD variant of the fast parser's head scanner must answer as the
// plain one does; inputs choose the variant (the CPU may lack some: best then).
std::unique_ptr<Parser> make(ParserKind kind, const Setup& setup) {
  namespace fast = anvil::parser::detail::fast;
  if (kind == ParserKind::fast && setup.fast_variant != "best") {
    if (const fast::HeadScanner* scanner = fast::head_scanner_named(setup.fast_variant)) {
      return fast::make_fast_parser_with(setup.mode, setup.limits, *scanner);
    }
  }
  return anvil::parser::make_parser(kind, setup.mode, setup.limits);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Setup setup;
  if (!decode(data, size, setup)) return 0;
  GuardedBuffer guarded(setup.input.size());
  // Every plug-in (llhttp, fast, http-parser), each held to the first.
  const auto kinds = anvil::parser::all_parser_kinds();
  Outcome first;
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    auto parser = make(kinds[i], setup);
    Feeder feeder(*parser, guarded);
    const Outcome whole = feeder.run(setup, {});
    // The same parser object again, after reset(): also checks reset().
    const Outcome pieces = feeder.run(setup, setup.cuts);
    compare_same_parser(setup, anvil::parser::name_of(kinds[i]), whole, pieces);
    if (i == 0) {
      first = whole;
      continue;
    }
    compare_parsers(setup, anvil::parser::name_of(kinds[0]), first,
                    anvil::parser::name_of(kinds[i]), whole);
  }
  return 0;
}

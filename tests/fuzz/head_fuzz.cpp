// Response-head fuzz target: what a handler gives Exchange::start() (a
// status line and fields, any bytes) through build_head(), decide_framing()
// and append_head() (server/src/response_head.cpp), then back through the
// project's response parsers (llhttp, fast and http-parser, fed whole and in pieces).
//
// It stops with `head_fuzz FINDING` and a dump when
//  * build_head() accepts what the rules below reject, or rejects what they
//    accept, or names another reason than the first fault they find (the
//    rules are written here again on purpose, apart from response_head.cpp,
//    as the oracle it is held against):
//      status: 3 digits, 100-999, then nothing or SP and a reason; HTAB, SP,
//        VCHAR and obs-text only (bad_status); not 1xx (interim_status);
//      each field in order: the name a token (bad_header_name), the value
//        HTAB, SP, VCHAR and obs-text only (bad_header_value); a
//        Content-Length 1*DIGIT within 64 bits and equal to an earlier one
//        (bad_content_length), not sent in a 204;
//      then across fields (bad_framing): Content-Length with
//        Transfer-Encoding, Transfer-Encoding twice, or a Transfer-Encoding
//        that is not a list of known codings with chunked at most once and
//        last (RFC 9112 §6.1, §6.3);
//  * what it accepted, serialised, holds a NUL, a bare CR or LF, more lines
//    than fields, two Content-Length or two Transfer-Encoding fields or one
//    of each;
//  * the parsers read it back to another status or reason, other fields
//    (each handler field, a repeated Content-Length once, its value without
//    surrounding whitespace, then the core's Date, Server,
//    Transfer-Encoding and Connection), another keep-alive than the framing
//    says, another body than the one framed after it, or an error;
//  * the core's own heads break the same rules: internal_error_head() (500,
//    Content-Length: 0, through decide_framing() and append_head() as a
//    handler's head), and append_error_response() (each status the core
//    answers with, a detail of any bytes): other fields than Date, Server,
//    Content-Type, Content-Length and Connection: close, another body than
//    "Reason (detail)\n", or no end exactly at its Content-Length;
//  * ASan/UBSan find anything.
//
// Input layout (tests/fuzz/make_server_corpora.py writes seeds in it):
//   [0] the request: bit 0 HTTP/1.1, bit 1 HEAD, bit 2 keep-alive,
//       bit 3 the server closes anyway; bits 4-7 body writes after the head
//   [1] bits 0-1 fragmentation style; bit 6 internal_error_head() in place of
//       build_head(); bit 7 append_error_response() instead, the status
//       chosen by [2] and the detail the first line
//   [2..3] fragmentation seed
//   [4..] lines split at LF: the status, then one field per line, the name
//       before the first colon, the value after it. Escapes: \r CR, \n LF,
//       \0 NUL, \ and any other byte that byte (\: a colon in a name, \\ a
//       backslash); every other byte, controls included, is itself.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "anvil/parser/parser.hpp"
#include "fuzz_support.hpp"
#include "output.hpp"         // server/src
#include "response_head.hpp"  // server/src

namespace {

using anvil::fuzz::append;
using anvil::fuzz::ReadResponse;
using anvil::parser::BodyKind;
using anvil::parser::Error;
using anvil::parser::ParserKind;
using anvil::server::Framing;
using anvil::server::Header;
using anvil::server::RequestFacts;
using anvil::server::ResponseHead;
using anvil::server::StartError;

constexpr std::string_view kTarget = "head_fuzz";
constexpr std::size_t kHeaderBytes = 4;
constexpr std::string_view kDate = "Thu, 26 Nov 2026 04:00:00 GMT";
// The statuses the core answers with on its own (parse errors, timeouts,
// shedding, a handler that failed), and one it has no reason phrase for.
constexpr int kErrorStatuses[] = {400, 405, 408, 413, 414, 431, 500, 501, 503, 505, 418};

struct Setup {
  RequestFacts request;
  bool server_closes = false;
  int body_writes = 0;
  std::uint8_t cut_style = 0;
  std::uint16_t cut_seed = 0;
  bool core_error = false;  // append_error_response() instead of a handler's head
  bool core_500 = false;    // internal_error_head() instead of build_head()
  int error_status = 0;     // core_error: the status
  std::string status;
  std::vector<std::pair<std::string, std::string>> fields;
};

void decode(const std::uint8_t* data, std::size_t size, Setup& setup) {
  setup.request.http11 = data[0] & 1;
  setup.request.head = data[0] & 2;
  setup.request.keep_alive = data[0] & 4;
  setup.server_closes = data[0] & 8;
  setup.body_writes = data[0] >> 4;
  setup.cut_style = data[1] & 3;
  setup.core_error = data[1] & 0x80;
  setup.core_500 = data[1] & 0x40;
  setup.error_status = kErrorStatuses[data[2] % std::size(kErrorStatuses)];
  setup.cut_seed = static_cast<std::uint16_t>(data[2] << 8 | data[3]);
  std::vector<std::pair<std::string, std::string>> lines(1);
  bool in_value = false;  // past the first colon of this line
  for (std::size_t i = kHeaderBytes; i < size; ++i) {
    char c = static_cast<char>(data[i]);
    if (c == '\n') {
      lines.emplace_back();
      in_value = false;
      continue;
    }
    if (c == ':' && !in_value && lines.size() > 1) {  // the status line keeps its colons
      in_value = true;
      continue;
    }
    if (c == '\\' && i + 1 < size) {
      c = static_cast<char>(data[++i]);
      c = c == 'r' ? '\r' : c == 'n' ? '\n' : c == '0' ? '\0' : c;
    }
    (in_value ? lines.back().second : lines.back().first) += c;
  }
  setup.status = lines[0].first;
  setup.fields.assign(lines.begin() + 1, lines.end());
}

// ---- the oracle's own rules (RFC 9110 §5.1, §5.5, §5.6.2, §8.6; RFC 9112 §4, §6) ----

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// 1*DIGIT within 64 bits.
bool decimal(std::string_view s, std::uint64_t& v) {
  if (s.empty() || s.size() > 20) return false;
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  return true;
}

std::vector<std::string> list_elements(std::string_view s) {
  std::vector<std::string> out;
  for (;;) {
    const std::size_t comma = s.find(',');
    const std::string_view e = trim(s.substr(0, comma));
    if (!e.empty()) out.push_back(lower(e));
    if (comma == std::string_view::npos) return out;
    s.remove_prefix(comma + 1);
  }
}

bool transfer_codings_ok(std::string_view value) {
  const std::vector<std::string> codings = list_elements(value);
  if (codings.empty()) return false;
  for (std::size_t i = 0; i < codings.size(); ++i) {
    const std::string& c = codings[i];
    if (c == "chunked" && i + 1 != codings.size()) return false;
    if (c != "chunked" && c != "gzip" && c != "x-gzip" && c != "deflate" && c != "compress" &&
        c != "x-compress") {
      return false;
    }
  }
  return true;
}

// What the oracle expects of build_head(): the error, and on success the
// facts and the fields as they go on the wire.
struct Expected {
  StartError error = StartError::none;
  int status = 0;
  bool has_length = false;
  std::uint64_t length = 0;
  bool has_date = false, has_server = false, has_te = false, wants_close = false;
  std::vector<std::pair<std::string, std::string>> wire;  // the handler's fields as sent
};

Expected expect(const Setup& s) {
  Expected e;
  const std::string_view st = s.status;
  if (st.size() < 3 ||
      !std::all_of(st.begin(), st.begin() + 3, [](char c) { return c >= '0' && c <= '9'; }) ||
      (st.size() > 3 && st[3] != ' ') || !anvil::fuzz::is_text(st) || st.substr(0, 3) < "100") {
    e.error = StartError::bad_status;
    return e;
  }
  e.status = (st[0] - '0') * 100 + (st[1] - '0') * 10 + (st[2] - '0');
  if (e.status < 200) {
    e.error = StartError::interim_status;
    return e;
  }
  int te_fields = 0;
  bool te_ok = true;
  for (const auto& [name, value] : s.fields) {
    if (!anvil::fuzz::is_token(name)) {
      e.error = StartError::bad_header_name;
      return e;
    }
    if (!anvil::fuzz::is_text(value)) {
      e.error = StartError::bad_header_value;
      return e;
    }
    const std::string n = lower(name);
    if (n == "content-length") {
      std::uint64_t v = 0;
      if (!decimal(value, v) || (e.has_length && v != e.length)) {
        e.error = StartError::bad_content_length;
        return e;
      }
      if (e.has_length) continue;  // the same length again: sent once
      e.has_length = true;
      e.length = v;
      if (e.status == 204) continue;  // RFC 9110 §8.6: never in a 204
    } else if (n == "transfer-encoding") {
      e.has_te = true;
      ++te_fields;
      te_ok = te_ok && transfer_codings_ok(value);
    } else if (n == "date") {
      e.has_date = true;
    } else if (n == "server") {
      e.has_server = true;
    } else if (n == "connection") {
      for (const std::string& t : list_elements(value))
        e.wants_close = e.wants_close || t == "close";
    }
    e.wire.emplace_back(name, value);
  }
  if (te_fields > 1 || (e.has_te && (e.has_length || !te_ok))) e.error = StartError::bad_framing;
  return e;
}

std::string_view name_of(StartError e) {
  switch (e) {
    case StartError::none:
      return "none";
    case StartError::bad_status:
      return "bad_status";
    case StartError::interim_status:
      return "interim_status";
    case StartError::bad_content_length:
      return "bad_content_length";
    case StartError::bad_header_name:
      return "bad_header_name";
    case StartError::bad_header_value:
      return "bad_header_value";
    case StartError::bad_framing:
      return "bad_framing";
    case StartError::already_sent:
      return "already_sent";
  }
  return "?";
}

std::string describe(const Setup& s) {
  std::string out;
  append(out, {"request: http11=", std::to_string(s.request.http11), " head=",
               std::to_string(s.request.head), " keep_alive=", std::to_string(s.request.keep_alive),
               " server_closes=", std::to_string(s.server_closes),
               " body_writes=", std::to_string(s.body_writes), "\nstatus: "});
  out += anvil::fuzz::printable(s.status);
  for (const auto& [name, value] : s.fields) {
    append(out,
           {"\nfield: [", anvil::fuzz::printable(name), "] [", anvil::fuzz::printable(value), "]"});
  }
  return out;
}

[[noreturn]] void finding(const Setup& setup, std::string_view what, std::string_view wire) {
  std::string detail = describe(setup);
  detail += "\n--- on the wire ---\n";
  detail += anvil::fuzz::printable(wire);
  anvil::fuzz::fail(kTarget, what, detail);
}

// No NUL, every CR followed by LF and every LF preceded by CR; returns the
// number of lines (CRLFs).
std::size_t crlf_lines(const Setup& setup, std::string_view head) {
  std::size_t lines = 0;
  for (std::size_t i = 0; i < head.size(); ++i) {
    const char c = head[i];
    if (c == '\0') finding(setup, "a NUL in the head", head);
    if (c == '\r' && (i + 1 == head.size() || head[i + 1] != '\n')) {
      finding(setup, "a bare CR in the head", head);
    }
    if (c == '\n') {
      if (i == 0 || head[i - 1] != '\r') finding(setup, "a bare LF in the head", head);
      ++lines;
    }
  }
  return lines;
}

// The core's own error response (append_error_response()), with the first
// line of the input as its detail: a head of fixed fields, a text/plain body
// "Reason (detail)\n" of its Content-Length, and the end of the connection.
void check_error_response(const Setup& setup) {
  std::string input;
  anvil::server::append_error_response(input, setup.error_status, setup.status, kDate);
  const std::string_view reason = anvil::server::reason_of(setup.error_status);
  if (reason.empty() || !anvil::fuzz::is_text(reason)) finding(setup, "a bad reason", input);
  const std::string body = std::string(reason) + " (" + setup.status + ")\n";
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"Date", std::string(kDate)},
      {"Server", "anvil"},
      {"Content-Type", "text/plain"},
      {"Content-Length", std::to_string(body.size())},
      {"Connection", "close"}};
  const std::vector<std::size_t> cuts =
      anvil::fuzz::make_cuts(setup.cut_style, setup.cut_seed, input.size());
  for (const ParserKind kind : anvil::parser::all_parser_kinds()) {
    auto parser = anvil::parser::make_parser(kind, anvil::parser::Mode::response);
    parser->set_head_response(false);
    for (const bool whole : {true, false}) {
      const ReadResponse r = anvil::fuzz::read_response(
          *parser, input, whole ? std::span<const std::size_t>() : cuts, false);
      std::string who(anvil::parser::name_of(kind));
      who += whole ? " fed whole: error response: " : " fed in pieces: error response: ";
      if (!r.problem.empty()) finding(setup, who + r.problem, input);
      if (r.error != Error::none) {
        finding(setup, who + "parse error " + std::string(anvil::parser::code_of(r.error)), input);
      }
      if (r.status != setup.error_status || r.reason != reason || r.version != 11) {
        finding(setup, who + "another status line", input);
      }
      if (r.fields != fields) finding(setup, who + "other fields", input);
      if (r.keep_alive) finding(setup, who + "kept alive", input);
      if (r.body != body) finding(setup, who + "another body", input);
      if (!r.done || r.done_at != input.size()) finding(setup, who + "no end at the end", input);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < kHeaderBytes) return 0;
  Setup setup;
  decode(data, size, setup);
  std::vector<Header> headers;
  for (const auto& [name, value] : setup.fields) headers.push_back({name, value});

  if (setup.core_error) {
    check_error_response(setup);
    return 0;
  }
  Expected want;
  ResponseHead h;
  std::string_view reason;
  if (setup.core_500) {  // the core's answer for a handler that produced none
    anvil::server::internal_error_head(h);
    want.status = 500;
    want.has_length = true;
    want.wire.emplace_back("Content-Length", "0");
    reason = "Internal Server Error";
  } else {
    want = expect(setup);
    const StartError got = anvil::server::build_head(setup.status, headers, h);
    if (got != want.error) {
      finding(setup,
              "build_head() answered " + std::string(name_of(got)) + ", the rules say " +
                  std::string(name_of(want.error)),
              "");
    }
    if (got != StartError::none) return 0;
    if (setup.status.size() > 4) reason = std::string_view(setup.status).substr(4);
  }
  if (h.status != want.status || h.has_length != want.has_length || h.length != want.length ||
      h.has_date != want.has_date || h.has_server != want.has_server || h.has_te != want.has_te ||
      h.wants_close != want.wants_close) {
    finding(setup, "build_head() got the facts of the head wrong", h.text);
  }

  const Framing f = anvil::server::decide_framing(h, setup.request, setup.server_closes);
  std::string head;
  anvil::server::append_head(head, h, f, setup.request, kDate);

  // The fields the parser must see, in order.
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& [name, value] : want.wire) fields.emplace_back(name, trim(value));
  if (!h.has_date) fields.emplace_back("Date", kDate);
  if (!h.has_server) fields.emplace_back("Server", "anvil");
  if (f.chunked) fields.emplace_back("Transfer-Encoding", "chunked");
  if (f.close && !h.wants_close) fields.emplace_back("Connection", "close");
  if (!f.close && !setup.request.http11) fields.emplace_back("Connection", "keep-alive");

  if (crlf_lines(setup, head) != fields.size() + 2) {
    finding(setup, "the head has other lines than its fields", head);
  }
  int lengths = 0, codings = 0;
  for (const auto& [name, value] : fields) {
    lengths += lower(name) == "content-length";
    codings += lower(name) == "transfer-encoding";
  }
  if (lengths > 1 || codings > 1 || lengths + codings > 1) {
    finding(setup, "two framing fields in the head", head);
  }

  // A body after the head, framed as the connection frames it; a handler that
  // sent Transfer-Encoding frames its own, so only its head is read back.
  std::vector<std::string> writes;
  std::string body;
  for (int i = 0; i < setup.body_writes; ++i) {
    writes.push_back(std::string(static_cast<std::size_t>(i % 3 * 7), static_cast<char>('a' + i)));
    body += writes.back();
  }
  const std::vector<std::string_view> views(writes.begin(), writes.end());
  const std::string framed =
      h.has_te ? "" : anvil::server::frame_body(f, h.has_length, h.length, views, true);
  const bool interim = h.status < 200;  // a complete message of its own (RULES.md)
  std::string expected_body;
  if (!f.no_body && !h.has_te) expected_body = h.has_length ? body.substr(0, h.length) : body;
  const bool ends =
      f.no_body || interim || (!h.has_te && (!h.has_length || body.size() >= h.length));
  const std::string input = head + framed;
  // Only the end of the connection ends such a body: the client calls finish().
  const bool until_close = !f.no_body && !interim && !h.has_te && !h.has_length && !f.chunked;

  anvil::parser::Limits big;
  big.fields = 1 << 16;
  big.header_bytes = 1 << 20;
  big.request_line = 1 << 20;
  const std::vector<std::size_t> cuts =
      anvil::fuzz::make_cuts(setup.cut_style, setup.cut_seed, input.size());
  for (const ParserKind kind : anvil::parser::all_parser_kinds()) {
    auto parser = anvil::parser::make_parser(kind, anvil::parser::Mode::response, big);
    parser->set_head_response(setup.request.head);
    for (const bool whole : {true, false}) {
      const ReadResponse r = anvil::fuzz::read_response(
          *parser, input, whole ? std::span<const std::size_t>() : cuts, until_close);
      std::string who(anvil::parser::name_of(kind));
      who += whole ? " fed whole: " : " fed in pieces: ";
      if (!r.problem.empty()) finding(setup, who + r.problem, input);
      if (r.error != Error::none) {
        finding(setup, who + "parse error " + std::string(anvil::parser::code_of(r.error)), input);
      }
      if (!r.has_head) finding(setup, who + "no head", input);
      if (r.status != h.status) finding(setup, who + "another status", input);
      if (r.reason != reason) finding(setup, who + "another reason", input);
      if (r.version != 11) finding(setup, who + "another version", input);
      if (r.fields != fields) finding(setup, who + "other fields", input);
      if (!interim && r.keep_alive == f.close) finding(setup, who + "another keep-alive", input);
      if (h.has_te) continue;
      if (r.body != expected_body) finding(setup, who + "another body", input);
      if (r.done != ends) finding(setup, who + (ends ? "no end" : "an end too early"), input);
      if (r.done && r.done_at != input.size()) finding(setup, who + "bytes after the end", input);
    }
  }
  return 0;
}

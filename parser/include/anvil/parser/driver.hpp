// Feeds a whole input to a parser in pieces, as a connection would, and
// renders each complete message as one JSON line (the format httpparse prints).
// Used by httpparse, the corpus tests and the fuzzer. Never throws on bad input.
//
// Output, one JSON object per line (keys always in this order):
//   request:  {"method": "GET", "target": "/", "version": "1.1",
//              "headers": [["Host", "a"]], "body": "", "keep_alive": true}
//             plus "trailers": [[name, value], ...] after "body" only when a
//             chunked body had trailer fields;
//   response: {"version": "1.1", "status": 200, "reason": "OK", "headers": [...],
//              "body": "...", "keep_alive": true} (+ "trailers" as above);
//   after a request without keep-alive, nothing: the parser stops there
//             (parser.hpp) and the rest of the input is not parsed;
//   error:    {"error": "bad_chunk_size", "status": 400} and nothing after it;
//             with error_codes off: {"error": "-", "status": 400};
//   input ended inside a message: {"incomplete": true};
//   parser broke its contract (consumed past the end, no progress):
//             {"contract_violation": "<what>"}.
// Strings are ASCII-only JSON: every byte is the code point of the same value
// (latin-1); `"` `\` \n \r \t are escaped as such, other bytes below 0x20 and
// 0x7F-0xFF as \u00XX. Separators are ", " and ": ".
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "anvil/parser/parser.hpp"

namespace anvil::parser {

struct DriveOptions {
  // Offsets where the input is cut into pieces (strictly increasing, each in
  // (0, size)); empty feeds it whole. Offsets out of order or range are ignored.
  std::span<const std::size_t> cuts;
  // Before every call, copy the unconsumed bytes so they end flush against an
  // unreadable page (mprotect), alternating between two such areas and
  // zeroing the old one, so that a read past the end crashes and a pointer
  // kept from an earlier call reads zeros.
  bool guard_pages = false;
  // Print the error's code beside its status; off, only the status is printed,
  // so that two parsers that reject for different reasons still compare equal.
  bool error_codes = true;
  // Response mode: the responses answer HEAD requests (set after reset()).
  bool head_response = false;
  // Called at every `head` event, while message() is valid (for tests that
  // check framing flags that the JSON does not show).
  std::function<void(const Message&)> on_head;
};

struct DriveResult {
  std::string json;  // one JSON object per line, each line ending in '\n'
  // 0 all complete, 1 parse error, 2 input ended inside a message,
  // 3 the parser broke its contract.
  int exit_code = 0;
};

// Runs the parser (reset first) over input.
DriveResult drive(Parser& parser, std::string_view input, const DriveOptions& options = {});

// Cut points for pieces of n bytes (n >= 1).
std::vector<std::size_t> cuts_every(std::size_t n, std::size_t input_size);

// Appends s as a JSON string literal (quotes included), as described above.
void append_json_string(std::string& out, std::string_view s);

}  // namespace anvil::parser

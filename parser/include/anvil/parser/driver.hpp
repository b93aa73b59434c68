// Feeds a whole input to a parser in pieces, as a connection would, and
// renders each complete message as one JSON line (the format httpparse prints;
// see README.md). Used by httpparse, the corpus tests and the fuzzer.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "anvil/parser/parser.hpp"

namespace anvil::parser {

struct DriveOptions {
  // Offsets where the input is cut into pieces (strictly increasing, each in
  // (0, size)); empty feeds it whole.
  std::span<const std::size_t> cuts;
  // Place the unconsumed bytes flush against an unreadable page (mprotect)
  // before every call, so that a read past the end crashes.
  bool guard_pages = false;
  // Print the error's code beside its status; off, only the status is printed,
  // so that two parsers that reject for different reasons still compare equal.
  bool error_codes = true;
};

struct DriveResult {
  std::string json;  // one JSON object per line, each line ending in '\n'
  int exit_code = 0;  // 0 all complete, 1 parse error, 2 input ended inside a message
};

// Runs the parser (reset first) over input. Never throws on bad input.
DriveResult drive(Parser& parser, std::string_view input, const DriveOptions& options = {});

// Cut points for pieces of n bytes (n >= 1).
std::vector<std::size_t> cuts_every(std::size_t n, std::size_t input_size);

}  // namespace anvil::parser

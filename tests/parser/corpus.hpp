// The parser corpus: named cases read from tests/parser/cases/*.txt.
//
// File format (one file holds many cases; lines starting with '#' are comments):
//   === case_name                     starts a case; [A-Za-z0-9_]+, unique
//   ref: RFC 9112 §6.3                where the rule comes from (shown on failure)
//   mode: request|response            default request
//   head_response: true               response mode: the responses answer HEAD
//   limits: request_line=N header_bytes=N fields=N body=N chunk_extension=N
//   flags: body=chunked content_length=N keep_alive=true expect_continue=false upgrade=true
//          target_form=origin|absolute|authority|asterisk
//                                     one line per message head, in order; only the
//                                     keys given are checked, at the head event
//   input:                            the raw bytes follow, one or more lines; the
//                                     file's line breaks are NOT part of the input,
//                                     C escapes are: \r \n \t \0 \\ \xHH; trailing
//                                     blanks are dropped (write \x20)
//   expect:                           the JSON lines httpparse prints (driver.hpp),
//                                     up to the next "===" or the end of the file;
//                                     an error line may give "-" as its code to
//                                     check only the status; the single line
//                                     "(no output)" expects nothing (exit 0)
// In input and expect lines, {{N*text}} stands for text repeated N times (text
// is taken before escapes are applied, so {{3*\r\n}} is three CRLFs).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "anvil/parser/parser.hpp"

namespace anvil::parser::testing {

struct CorpusCase {
  std::string name;
  std::string file;  // where it came from, for failure messages
  int line = 0;
  std::string ref;
  Mode mode = Mode::request;
  bool head_response = false;
  Limits limits;
  std::vector<std::map<std::string, std::string>> flags;
  std::string input;
  std::vector<std::string> expect;  // JSON lines without their '\n'; may be empty
};

struct Corpus {
  std::vector<CorpusCase> cases;
  std::vector<std::string> errors;  // "file:line: what" for each malformed line
};

// Reads every *.txt in dir, in file-name order.
Corpus load_corpus(const std::string& dir);

// Parses one file's text (exposed for the loader's own tests).
void parse_corpus_text(const std::string& text, const std::string& file, Corpus& out);

// Expands {{N*text}}; nullopt when malformed.
std::optional<std::string> expand_repeats(const std::string& line);
// Applies the C escapes listed above; nullopt when malformed.
std::optional<std::string> unescape(const std::string& line);

}  // namespace anvil::parser::testing

// Raw http-parser 2.9.4 (Debian libhttp-parser-dev), the parser of bjoern
// and of Node.js before llhttp, driven the way Node.js drove it: its own API
// and rules, the callbacks of node_sink.hpp. http_parser.h and llhttp.h
// cannot share a translation unit (their enumerators clash), so the parser
// lives behind this small class, in raw_http_parser.cpp.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "node_sink.hpp"

namespace anvil::bench::raw {

class HttpParser {
 public:
  HttpParser();  // request mode, a new connection
  ~HttpParser();
  HttpParser(const HttpParser&) = delete;
  HttpParser& operator=(const HttpParser&) = delete;

  // One whole request on a keep-alive connection: one http_parser_execute,
  // then a new connection (http_parser_init) after a request without
  // keep-alive. True when it completed exactly one message.
  bool parse_one(std::string_view request);
  // A new connection (http_parser_init), as before the first request.
  void new_connection();

  // The shoot-out's verdict on one whole input: every message it completed
  // (method, target, body) into `out`, then the end of the input
  // (http_parser_execute with no bytes). How it ended, and why in `detail`
  // (the error, or a note).
  enum class End { ok, error, incomplete };
  End run(std::string_view input, std::vector<Message>& out, std::string& detail);

  const NodeSink& sink() const noexcept;
  // The last error's name and description ("HPE_INVALID_METHOD: invalid HTTP method").
  std::string error() const;
  static std::string version();  // "2.9.4", from the library itself

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace anvil::bench::raw

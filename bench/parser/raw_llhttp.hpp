// Raw llhttp 8.1.0 (Debian node-llhttp) as Node.js drives it: its own API
// and rules, the callbacks of node_sink.hpp. Shared by parser_bench (issue 11
// §2 and §7) and the shoot-out's parsers_c (bench/parsers/).
#pragma once

#include <llhttp.h>

#include <string>
#include <string_view>

#include "node_sink.hpp"

namespace anvil::bench::raw {

inline int llhttp_message_complete(llhttp_t* p) {
  return message_complete(sink_of(p),
                          llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(p))),
                          llhttp_should_keep_alive(p) != 0);
}

inline llhttp_settings_t llhttp_node_settings() {
  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  set_node_callbacks<llhttp_t>(settings);
  settings.on_message_complete = llhttp_message_complete;
  return settings;
}

// The same interface as HttpParser (raw_http_parser.hpp), for parser_bench.
class Llhttp {
 public:
  Llhttp() {
    llhttp_init(&parser_, HTTP_REQUEST, &settings_);
    parser_.data = &sink_;
  }
  Llhttp(const Llhttp&) = delete;
  Llhttp& operator=(const Llhttp&) = delete;

  // One whole request on a keep-alive connection: one llhttp_execute, then
  // llhttp_reset (a new connection) after a request without keep-alive. True
  // when it completed exactly one message.
  bool parse_one(std::string_view request) {
    sink_.completed = 0;
    if (llhttp_execute(&parser_, request.data(), request.size()) != HPE_OK) return false;
    if (!sink_.keep_alive) llhttp_reset(&parser_);  // keeps `data`
    return sink_.completed == 1;
  }
  const NodeSink& sink() const noexcept { return sink_; }
  std::string error() const { return llhttp_errno_name(llhttp_get_errno(&parser_)); }

 private:
  llhttp_settings_t settings_ = llhttp_node_settings();
  llhttp_t parser_;
  NodeSink sink_;
};

}  // namespace anvil::bench::raw

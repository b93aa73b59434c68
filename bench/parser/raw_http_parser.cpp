#include "raw_http_parser.hpp"

#include <http_parser.h>

namespace anvil::bench::raw {

namespace {

int http_parser_message_complete(http_parser* p) {
  return message_complete(sink_of(p), http_method_str(static_cast<http_method>(p->method)),
                          http_should_keep_alive(p) != 0);
}

http_parser_settings node_settings() {
  http_parser_settings settings;
  http_parser_settings_init(&settings);
  set_node_callbacks<http_parser>(settings);
  settings.on_message_complete = http_parser_message_complete;
  return settings;
}

}  // namespace

struct HttpParser::State {
  http_parser_settings settings = node_settings();
  http_parser parser;
  NodeSink sink;
};

HttpParser::HttpParser() : s_(std::make_unique<State>()) {
  http_parser_init(&s_->parser, HTTP_REQUEST);
  s_->parser.data = &s_->sink;
}

HttpParser::~HttpParser() = default;

bool HttpParser::parse_one(std::string_view request) {
  http_parser& p = s_->parser;
  s_->sink.completed = 0;
  const std::size_t n = http_parser_execute(&p, &s_->settings, request.data(), request.size());
  if (n != request.size() || HTTP_PARSER_ERRNO(&p) != HPE_OK) return false;
  if (!s_->sink.keep_alive) http_parser_init(&p, HTTP_REQUEST);  // keeps `data`
  return s_->sink.completed == 1;
}

void HttpParser::new_connection() { http_parser_init(&s_->parser, HTTP_REQUEST); }

HttpParser::End HttpParser::run(std::string_view input, std::vector<Message>& out,
                                std::string& detail) {
  new_connection();
  NodeSink& sink = s_->sink;
  sink.keep_body = true;
  sink.messages = &out;
  http_parser& p = s_->parser;
  End end = End::ok;
  const std::size_t n = http_parser_execute(&p, &s_->settings, input.data(), input.size());
  if (HTTP_PARSER_ERRNO(&p) != HPE_OK) {
    end = End::error;
    detail = error();
  } else if (p.upgrade) {
    detail = "stopped at an upgrade: the rest is not HTTP";
  } else if (n != input.size()) {
    end = End::error;
    detail = "stopped before the end of the input";
  } else {
    // The end of the input: http-parser's EOF is an execute with no bytes.
    http_parser_execute(&p, &s_->settings, nullptr, 0);
    if (HTTP_PARSER_ERRNO(&p) != HPE_OK) {
      end = End::incomplete;
      detail = error();
    }
  }
  sink.keep_body = false;
  sink.messages = nullptr;
  return end;
}

const NodeSink& HttpParser::sink() const noexcept { return s_->sink; }

std::string HttpParser::error() const {
  const auto e = static_cast<http_errno>(s_->parser.http_errno);
  return std::string(http_errno_name(e)) + ": " + http_errno_description(e);
}

std::string HttpParser::version() {
  const unsigned long v = http_parser_version();
  return std::to_string((v >> 16) & 255) + "." + std::to_string((v >> 8) & 255) + "." +
         std::to_string(v & 255);
}

}  // namespace anvil::bench::raw

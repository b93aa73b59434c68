// The `http-parser` parser: http-parser 2.9.4 (Debian libhttp-parser-dev),
// the parser of bjoern and of Node.js before llhttp, held to parser/RULES.md
// by the checking pass of checked_parser.hpp, as llhttp is.
#include <http_parser.h>

#include <algorithm>
#include <cstdint>

#include "checked_parser.hpp"
#include "internal.hpp"

namespace anvil::parser::detail {

// http-parser behind the checking pass (the Lib of checked_parser.hpp).
class HttpParserLib {
 public:
  static constexpr ParserKind kKind = ParserKind::http_parser;
  // RULES.md "Plug-ins that wrap a C library": http-parser enforces none
  // of checked::Rule exactly (it skips a field value's first byte, and
  // Debian's build takes SP inside a field name), so the gate checks all.
  static constexpr checked::Rules kEnforced = checked::kNoRules;
  // http-parser rejects a chunk size of 0xFFFFFFFFFFFFFFF0 or more (its
  // overflow test is conservative) and takes a Content-Length of
  // ULLONG_MAX for "none": the checking pass gives it these at most. They
  // differ from the real size only after 2^64 - 17 bytes, which no stream
  // reaches; the checking pass counts the real size.
  static constexpr std::uint64_t kMaxChunkSize = 0xFFFFFFFFFFFFFFEFULL;
  static constexpr std::string_view kMaxChunkSizeDigits = "FFFFFFFFFFFFFFEF";
  static constexpr std::uint64_t kMaxContentLength = ULLONG_MAX - 1;

  HttpParserLib() {
    http_parser_settings_init(&settings_);
    settings_.on_header_field = on_header_field;
    settings_.on_header_value = on_header_value;
    settings_.on_headers_complete = on_headers_complete;
    settings_.on_body = on_body;
    settings_.on_message_complete = on_message_complete;
  }

  void init(Mode mode, void* owner) {
    http_parser_init(&hp_, mode == Mode::request ? HTTP_REQUEST : HTTP_RESPONSE);
    hp_.data = owner;
  }

  // http-parser counts head bytes against a process-wide limit (80 KiB)
  // within one http_parser_execute; the gate enforces Limits::header_bytes,
  // so the bytes go in slices with the count set back before each.
  checked::Fed execute(const char* p, std::size_t n) {
    std::size_t parsed = 0;
    while (parsed < n) {
      const std::size_t slice = std::min(n - parsed, kSlice);
      hp_.nread = 0;
      const std::size_t k = http_parser_execute(&hp_, &settings_, p + parsed, slice);
      parsed += k;
      const auto e = static_cast<http_errno>(hp_.http_errno);
      if (e == HPE_PAUSED) {
        // on_message_complete: the message is complete; lift the pause at once.
        http_parser_pause(&hp_, 0);
        return {true, parsed};
      }
      if (e != HPE_OK || k != slice) return {false, 0};
    }
    return {true, n};
  }

  // The end of the input: an execute with no bytes completes a body until close.
  void finish() {
    http_parser_execute(&hp_, &settings_, nullptr, 0);
    if (static_cast<http_errno>(hp_.http_errno) == HPE_PAUSED) http_parser_pause(&hp_, 0);
  }

  // http-parser rejected bytes the gate let through: name the closest rule.
  Error error() const {
    switch (static_cast<http_errno>(hp_.http_errno)) {
      case HPE_INVALID_CHUNK_SIZE:
        return Error::bad_chunk_size;
      case HPE_INVALID_HEADER_TOKEN:
        return Error::bad_field_value;
      default:
        return Error::bad_line_ending;
    }
  }

 private:
  static constexpr std::size_t kSlice = 16 * 1024;

  using Owner = checked::CheckedParser<HttpParserLib>;
  static Owner& owner(http_parser* p) { return *static_cast<Owner*>(p->data); }

  static int on_header_field(http_parser* p, const char* at, std::size_t n) {
    // Parse every value as a plain value (h_general, 0 in http_parser.c):
    // Content-Length, Transfer-Encoding, Connection and Upgrade follow
    // RULES.md, applied by the checking pass. http-parser matches the name
    // byte by byte and calls this at the colon (or at the end of the bytes).
    p->header_state = 0;
    p->uses_transfer_encoding = 0;
    return owner(p).on_field_name(at, n) ? 0 : -1;
  }

  // http-parser has no callback for a value's end: the next name, the end of
  // the head, or the checking pass (at the line's LF) settles the field.
  static int on_header_value(http_parser* p, const char* at, std::size_t n) {
    owner(p).on_field_value(at, n);
    return 0;
  }

  static int on_headers_complete(http_parser* p) {
    Owner& s = owner(p);
    if (s.on_head_complete() != Error::none) return -1;
    // The framing decided by RULES.md, in http-parser's terms (s_headers_done
    // in http_parser.c); it saw no special field and a fixed start line.
    p->flags &=
        ~static_cast<unsigned>(F_CHUNKED | F_CONTENTLENGTH | F_UPGRADE | F_CONNECTION_CLOSE |
                               F_CONNECTION_KEEP_ALIVE | F_CONNECTION_UPGRADE);
    p->uses_transfer_encoding = 0;
    p->upgrade = 0;
    switch (s.message().body) {
      case BodyKind::none:
        return 1;  // no body: the message is complete
      case BodyKind::content_length:
        p->content_length = std::min(s.message().content_length, kMaxContentLength);
        return 0;
      case BodyKind::chunked:
        p->flags |= F_CHUNKED;
        return 0;
      case BodyKind::until_close:
        p->content_length = ULLONG_MAX;  // a response without length: until EOF
        return 0;
    }
    return 0;
  }

  static int on_body(http_parser* p, const char* at, std::size_t n) {
    owner(p).on_body(at, n);
    return 0;
  }

  static int on_message_complete(http_parser* p) {
    owner(p).on_message_complete();
    // Stop before the next message's bytes: one event per call.
    http_parser_pause(p, 1);
    return 0;
  }

  http_parser hp_{};
  http_parser_settings settings_{};
};

std::unique_ptr<Parser> make_http_parser_parser(Mode mode, const Limits& limits) {
  return std::make_unique<checked::CheckedParser<HttpParserLib>>(mode, limits);
}

}  // namespace anvil::parser::detail

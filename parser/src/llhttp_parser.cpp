// The `llhttp` parser: llhttp 8.1.0 (Debian node-llhttp) held to
// parser/RULES.md by the checking pass of checked_parser.hpp.
#include <llhttp.h>

#include "checked_parser.hpp"
#include "internal.hpp"

namespace anvil::parser::detail {

// llhttp behind the checking pass (the Lib of checked_parser.hpp).
class LlhttpLib {
 public:
  static constexpr ParserKind kKind = ParserKind::llhttp;
  // RULES.md "Plug-ins that wrap a C library": llhttp checks every byte of
  // a field value as RULES.md does (HPE_INVALID_HEADER_TOKEN at that byte),
  // so the gate only looks for the line's end there.
  static constexpr checked::Rules kEnforced = checked::enforced(checked::Rule::field_value_bytes);
  static constexpr std::uint64_t kMaxChunkSize = UINT64_MAX;  // llhttp takes every 64-bit size
  static constexpr std::string_view kMaxChunkSizeDigits = "FFFFFFFFFFFFFFFF";

  LlhttpLib() {
    llhttp_settings_init(&settings_);
    settings_.on_header_field = on_header_field;
    settings_.on_header_field_complete = on_header_field_complete;
    settings_.on_header_value = on_header_value;
    settings_.on_header_value_complete = on_header_value_complete;
    settings_.on_headers_complete = on_headers_complete;
    settings_.on_body = on_body;
    settings_.on_message_complete = on_message_complete;
  }

  void init(Mode mode, void* owner) {
    llhttp_init(&hp_, mode == Mode::request ? HTTP_REQUEST : HTTP_RESPONSE, &settings_);
    hp_.data = owner;
    // The checking pass decides keep-alive; llhttp must not refuse a next message.
    llhttp_set_lenient_keep_alive(&hp_, 1);
  }

  // A pause (on_message_complete: the message is complete) is lifted at once.
  checked::Fed execute(const char* p, std::size_t n) {
    const llhttp_errno_t r = llhttp_execute(&hp_, p, n);
    if (r == HPE_OK) return {true, n};
    if (r != HPE_PAUSED) return {false, 0};
    const auto parsed = static_cast<std::size_t>(llhttp_get_error_pos(&hp_) - p);
    llhttp_resume(&hp_);
    return {true, parsed};
  }

  void finish() { llhttp_finish(&hp_); }

  // llhttp rejected bytes the gate let through: only llhttp's own
  // strictness can do that; name the closest rule.
  Error error() const {
    switch (llhttp_get_errno(&hp_)) {
      case HPE_INVALID_CONTENT_LENGTH:
      case HPE_UNEXPECTED_CONTENT_LENGTH:
        return Error::bad_content_length;
      case HPE_INVALID_TRANSFER_ENCODING:
        return Error::bad_transfer_encoding;
      case HPE_INVALID_CHUNK_SIZE:
        return Error::bad_chunk_size;
      case HPE_INVALID_HEADER_TOKEN:
        // Name bytes are the gate's: only a value byte (kEnforced) gets here.
        return Error::bad_field_value;
      default:
        return Error::bad_line_ending;
    }
  }

 private:
  using Owner = checked::CheckedParser<LlhttpLib>;
  static Owner& owner(llhttp_t* p) { return *static_cast<Owner*>(p->data); }

  static int on_header_field(llhttp_t* p, const char* at, std::size_t n) {
    return owner(p).on_field_name(at, n) ? 0 : -1;
  }

  static int on_header_field_complete(llhttp_t* p) {
    // Parse every value as a plain value: Content-Length, Transfer-Encoding,
    // Connection and Upgrade follow RULES.md, applied by the checking pass.
    p->header_state = 0;
    return 0;
  }

  static int on_header_value(llhttp_t* p, const char* at, std::size_t n) {
    owner(p).on_field_value(at, n);
    return 0;
  }

  static int on_header_value_complete(llhttp_t* p) { return owner(p).on_field_complete() ? 0 : -1; }

  static int on_headers_complete(llhttp_t* p) {
    Owner& s = owner(p);
    if (s.on_head_complete() != Error::none) return -1;
    // The framing decided by RULES.md, in llhttp's terms (see
    // llhttp__after_headers_complete in llhttp's http.c).
    p->flags &= static_cast<std::uint16_t>(~(F_CHUNKED | F_CONTENT_LENGTH | F_TRANSFER_ENCODING));
    p->content_length = 0;
    switch (s.message().body) {
      case BodyKind::none:
        return 1;  // no body: the message is complete
      case BodyKind::content_length:
        p->flags |= F_CONTENT_LENGTH;
        p->content_length = s.message().content_length;
        return 0;
      case BodyKind::chunked:
        p->flags |= F_CHUNKED;
        return 0;
      case BodyKind::until_close:
        return 0;  // a response without length: llhttp reads until EOF
    }
    return 0;
  }

  static int on_body(llhttp_t* p, const char* at, std::size_t n) {
    owner(p).on_body(at, n);
    return 0;
  }

  static int on_message_complete(llhttp_t* p) {
    owner(p).on_message_complete();
    // Stop before the next message's bytes: one event per call.
    return HPE_PAUSED;
  }

  llhttp_t hp_{};
  llhttp_settings_t settings_{};
};

std::unique_ptr<Parser> make_llhttp_parser(Mode mode, const Limits& limits) {
  return std::make_unique<checked::CheckedParser<LlhttpLib>>(mode, limits);
}

}  // namespace anvil::parser::detail

// anvil::parser — one HTTP/1.1 message parser interface, three implementations.
//
// Contract (the rules themselves are in parser/RULES.md):
//  * The caller owns the bytes. `next(buf)` is given every byte not yet
//    consumed, starting where the previous call's `consumed` stopped. After
//    `need_more`, the caller appends bytes and calls again with the same
//    unconsumed prefix followed by the new bytes; the buffer may have moved.
//  * A head (start line + fields), a chunk-size line and a trailer section are
//    consumed only whole, so they are always contiguous in `buf`.
//  * Every span handed out (Message, body(), trailers()) points into the
//    `buf` of the call that returned it, and stays valid as long as the caller
//    leaves those bytes where they are, unchanged. The parser never copies
//    message bytes and never allocates after construction.
//  * Not thread-safe; one parser per connection. No exceptions after
//    construction: failures are `Event::error` with an `Error` value.
//  * A request whose `keep_alive` is false (Connection: close, or HTTP/1.0
//    without keep-alive) is the connection's last (RFC 9112 §9.6): after its
//    `done`, next() and finish() return `{end, 0}` until reset(), and the
//    bytes after it are neither consumed nor looked at.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace anvil::parser {

// `--parser llhttp|fast|http-parser`; see name_of / parser_kind_from_name.
// `http_parser` is named "http-parser" (the library's own name).
enum class ParserKind : std::uint8_t { llhttp, fast, http_parser };

enum class Mode : std::uint8_t { request, response };

// Why a message was rejected. status_of() gives the HTTP status to answer with.
enum class Error : std::uint8_t {
  none,
  incomplete,                  // The input ended inside a message (finish()).
  bad_method,                  // 400: the method is empty or not a token.
  bad_request_line,            // 400: not exactly single spaces between the parts.
  bad_target,                  // 400: a target byte or form RFC 9112 §3.2 does not allow.
  bad_version,                 // 400: not HTTP/<digit>.<digit> (or none: HTTP/0.9).
  bad_status_line,             // 400: response status line is not "HTTP/x.y NNN reason".
  bad_line_ending,             // 400: NUL, bare CR or bare LF in the head.
  obs_fold,                    // 400: a field line starts with space or tab (RFC 9112 §5.2).
  bad_field_name,              // 400: empty, non-token, or whitespace before the colon.
  bad_field_value,             // 400: a control character or DEL in a field value.
  bad_content_length,          // 400: Content-Length is not 1*DIGIT or overflows 64 bits.
  conflicting_content_length,  // 400: Content-Length fields that differ.
  content_length_and_transfer_encoding,  // 400: both present (RFC 9112 §6.3).
  bad_transfer_encoding,                 // 400: empty, not tokens, or `chunked` not last / twice.
  transfer_encoding_http10,              // 400: Transfer-Encoding in an HTTP/1.0 request.
  missing_host,             // 400: HTTP/1.1 request without a Host field (RFC 9112 §3.2).
  multiple_host,            // 400: more than one Host field (RFC 9112 §3.2).
  bad_chunk_size,           // 400: chunk size empty, not hex, 0x-prefixed or over 64 bits.
  bad_chunk_extension,      // 400: malformed chunk extension, or longer than the limit.
  bad_chunk_end,            // 400: chunk data not followed by CRLF.
  forbidden_trailer,        // 400: a trailer field RFC 9110 §6.5.1 keeps in the head.
  connect_with_content,     // 400: CONNECT with Content-Length or Transfer-Encoding.
  request_line_too_long,    // 414: start line longer than Limits::request_line.
  header_too_large,         // 431: field section longer than Limits::header_bytes.
  too_many_fields,          // 431: more fields than Limits::fields.
  body_too_large,           // 413: body longer than Limits::body.
  unknown_transfer_coding,  // 501: a transfer coding this parser does not implement.
  unsupported_version,      // 505: well-formed version other than 1.0 and 1.1.
};

// The HTTP status to answer an error with (400, 413, 414, 431, 501, 505);
// 0 for Error::none, 400 for Error::incomplete.
int status_of(Error e) noexcept;
// A short snake_case code, as printed by httpparse ("bad_chunk_size").
std::string_view code_of(Error e) noexcept;

std::string_view name_of(ParserKind k) noexcept;
std::optional<ParserKind> parser_kind_from_name(std::string_view name) noexcept;
// Every kind this build offers, in a stable order (for tests and benchmarks).
std::span<const ParserKind> all_parser_kinds() noexcept;
// Their names joined by "|" ("llhttp|fast|http-parser"), for usage and errors.
std::string parser_kind_names();

struct Limits {
  std::size_t request_line = 8 * 1024;   // bytes before the start line's CRLF; 414
  std::size_t header_bytes = 64 * 1024;  // field section incl. its final CRLF; 431
  std::size_t fields = 100;              // field lines in the head or trailers; 431
  std::uint64_t body = UINT64_MAX;       // decoded body bytes; 413
  std::size_t chunk_extension = 4096;    // bytes between chunk size and CRLF; 400
};

struct Field {
  std::string_view name;   // exactly as received
  std::string_view value;  // leading/trailing SP and HTAB removed
};

// Which of RFC 9112 §3.2's forms a request-target has (RULES.md "Request
// target"): origin-form "/p?q"; absolute-form "http://host:port/p?q" (any
// method but CONNECT); authority-form "host:port" (CONNECT only); asterisk-form
// "*" (OPTIONS only).
enum class TargetForm : std::uint8_t { origin, absolute, authority, asterisk };
// "origin", "absolute", "authority", "asterisk".
std::string_view name_of(TargetForm f) noexcept;

enum class BodyKind : std::uint8_t {
  none,            // no body (also 1xx/204/304 and responses to HEAD)
  content_length,  // Message::content_length bytes (possibly 0)
  chunked,         // chunked transfer coding; trailers may follow
  until_close,     // responses only: the body ends when the connection does
};

// The head of one message. Spans point into the caller's buffer (see above).
struct Message {
  std::string_view method;                      // requests
  std::string_view target;                      // requests
  TargetForm target_form = TargetForm::origin;  // requests; origin for responses
  int status = 0;                               // responses
  std::string_view reason;                      // responses
  std::uint8_t version_major = 1;
  std::uint8_t version_minor = 1;
  std::vector<Field> fields;  // in order; capacity reserved once, reused
  BodyKind body = BodyKind::none;
  std::uint64_t content_length = 0;  // valid when body == content_length
  bool keep_alive = false;           // the connection may carry another message after this
  bool expect_continue = false;      // HTTP/1.1 request with "Expect: 100-continue"
  bool upgrade = false;              // Upgrade field + "Connection: upgrade"
};

enum class Event : std::uint8_t {
  need_more,  // all of buf that could be used is consumed; call again with more
  head,       // message() holds a new head; `consumed` covers the whole head
  body,       // body() is the next piece of decoded body
  done,       // the message is complete; trailers() holds trailer fields
  end,        // no more messages: finish() between messages, or after a closing request
  error,      // error() says why; every later call returns error until reset()
};

struct Step {
  Event event;
  std::size_t consumed;  // bytes of buf the caller may now drop
};

class Parser {
 public:
  virtual ~Parser() = default;
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Advance by at most one event over buf (the unconsumed bytes).
  virtual Step next(std::string_view buf) = 0;

  // The peer closed; buf is what is still unconsumed. Returns done for a
  // body that ends with the connection, end at a message boundary with
  // nothing pending (or after a closing request), error (Error::incomplete)
  // inside a message.
  virtual Step finish(std::string_view buf) = 0;

  // Back to the start state (a new connection), keeping limits and mode.
  virtual void reset() = 0;

  // Response mode: the next responses answer a HEAD request (no body).
  void set_head_response(bool on) noexcept { head_response_ = on; }

  const Message& message() const noexcept { return message_; }
  std::string_view body() const noexcept { return body_; }
  std::span<const Field> trailers() const noexcept { return trailers_; }
  Error error() const noexcept { return error_; }
  ParserKind kind() const noexcept { return kind_; }
  Mode mode() const noexcept { return mode_; }
  const Limits& limits() const noexcept { return limits_; }

 protected:
  Parser(ParserKind kind, Mode mode, const Limits& limits);

  Message message_;
  std::string_view body_;
  std::vector<Field> trailers_;
  Error error_ = Error::none;
  bool head_response_ = false;
  ParserKind kind_;
  Mode mode_;
  Limits limits_;
};

// Make a parser of the given kind. Throws std::invalid_argument for limits of 0.
std::unique_ptr<Parser> make_parser(ParserKind kind, Mode mode, const Limits& limits = {});

}  // namespace anvil::parser

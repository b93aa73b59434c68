// Response heads: checking what a handler gives to Exchange::start(), and the
// head the core writes. Pure functions (no socket, no connection, no clock),
// so that a fuzz target can call them directly:
//
//   ResponseHead h;
//   if (build_head("200 OK", headers, h) == StartError::none) {
//     const Framing f = decide_framing(h, request, /*server_closes=*/false);
//     append_head(out, h, f, date);   // "HTTP/1.1 200 OK\r\n...\r\n\r\n"
//   }
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "anvil/server/handler.hpp"

namespace anvil::server {

// What start() accepted: the status line and the handler's fields as text,
// and the facts about them the core needs.
struct ResponseHead {
  std::string text;  // "HTTP/1.1 NNN reason\r\n" then "name: value\r\n" per field
  int status = 0;
  bool has_length = false;  // a Content-Length field (all equal)
  std::uint64_t length = 0;
  bool has_date = false;
  bool has_server = false;
  bool has_te = false;       // the handler framed the body itself
  bool wants_close = false;  // "Connection: close" among the fields
};

// Checks status ("NNN reason": 3 digits, 200-999, no control characters; 1xx
// is interim_status) and headers (names are tokens, RFC 9110 §5.1; values are
// field text, §5.5; Content-Length is 1*DIGIT, and repeated ones agree and go
// out once, bad_content_length; a 204's is checked but not written, RFC 9110
// §8.6; at most one framing field: no Transfer-Encoding with a Content-Length
// or twice, and a Transfer-Encoding lists registered codings with chunked only
// last, RFC 9112 §6) and fills `out`, reusing its capacity. The first fault in
// order decides the error (bad_status or interim_status, bad_header_name,
// bad_header_value or bad_content_length; bad_framing once every field
// passed). On an error `out` is left unspecified.
StartError build_head(std::string_view status, std::span<const Header> headers, ResponseHead& out);

// Adds "Content-Length: n" to a head that build_head() accepted, for a
// handler that learns its whole body only after start() (PEP 3333's one-item
// list), without building the head again: the field goes last, as if the
// handler had given it last. A head with the same length is left as it is;
// another length is bad_content_length, a Transfer-Encoding bad_framing. A
// 204's length is recorded but not written (RFC 9110 §8.6, as build_head).
StartError add_length(ResponseHead& h, std::uint64_t n);

// The fixed 500 answer for a handler that produced no response.
void internal_error_head(ResponseHead& out);

// What the request says about its response.
struct RequestFacts {
  bool http11 = true;      // HTTP/1.1 (else 1.0)
  bool head = false;       // HEAD: no body bytes
  bool keep_alive = true;  // the request allows another request after it
};
RequestFacts facts_of(const parser::Message& request) noexcept;

// How the body of a response is framed, decided when its head goes out.
struct Framing {
  bool no_body = false;  // HEAD, 1xx, 204, 304 (RFC 9110 §6.4.1)
  bool chunked = false;  // no length on HTTP/1.1 (RFC 9112 §7.1)
  bool close = false;    // the connection ends after this response
};
// server_closes: the core ends the connection anyway (draining, no
// keep-alive, a request body left unread).
Framing decide_framing(const ResponseHead& h, const RequestFacts& r, bool server_closes) noexcept;

// Appends the whole head to out: h.text, then Date (unless given), Server
// (unless given), Transfer-Encoding: chunked, the Connection field, CRLF.
void append_head(std::string& out, const ResponseHead& h, const Framing& f, const RequestFacts& r,
                 std::string_view date);

// The reason phrase the core uses for its own answers (400, 408, 413, ...).
std::string_view reason_of(int status) noexcept;

// A whole error response the core sends on its own (parse errors, timeouts,
// shedding): text/plain body "Reason (detail)\n", Connection: close.
void append_error_response(std::string& out, int status, std::string_view detail,
                           std::string_view date);

}  // namespace anvil::server

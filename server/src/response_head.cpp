#include "response_head.hpp"

#include <charconv>

#include "anvil/parser/text.hpp"

namespace anvil::server {

namespace text = parser::text;

namespace {

void append_decimal(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// RFC 9112 §6.1, §7: a Transfer-Encoding the handler framed its body with
// is a list of registered codings (the IANA registry; a client knows no
// other) with chunked at most once and last; without chunked the body runs
// until the connection closes (§6.3).
bool transfer_codings_ok(std::string_view list) noexcept {
  bool any = false;
  bool chunked = false;  // the last element seen was chunked
  for (;;) {
    const std::size_t comma = list.find(',');
    const std::string_view coding = text::trim_ows(list.substr(0, comma));
    if (!coding.empty()) {
      if (chunked) return false;  // chunked before another coding, or twice
      chunked = text::iequals(coding, "chunked");
      if (!chunked && !text::iequals(coding, "gzip") && !text::iequals(coding, "x-gzip") &&
          !text::iequals(coding, "deflate") && !text::iequals(coding, "compress") &&
          !text::iequals(coding, "x-compress")) {
        return false;
      }
      any = true;
    }
    if (comma == std::string_view::npos) return any;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

StartError build_head(std::string_view status, std::span<const Header> headers, ResponseHead& out) {
  if (status.size() < 3 || (status.size() > 3 && status[3] != ' ') ||
      !text::is_field_text(status)) {
    return StartError::bad_status;
  }
  int code = 0;
  for (int i = 0; i < 3; ++i) {
    if (status[i] < '0' || status[i] > '9') return StartError::bad_status;
    code = code * 10 + (status[i] - '0');
  }
  if (code < 100) return StartError::bad_status;
  // A handler answers with a final response; the core sends 100 Continue itself.
  if (code < 200) return StartError::interim_status;
  // RFC 9110 §8.6: no Content-Length in a 204 (a 304's is the handler's to give).
  const bool length_allowed = code != 204;
  out.text.assign("HTTP/1.1 ");
  out.text.append(status);
  if (status.size() == 3) out.text += ' ';  // RFC 9112 §4: SP before an empty reason
  out.text += "\r\n";
  out.status = code;
  out.has_length = out.has_date = out.has_server = out.has_te = out.wants_close = false;
  out.length = 0;
  bool te_ok = true;  // at most one Transfer-Encoding, and a list we can stand behind
  for (const Header& h : headers) {
    if (!text::is_token(h.name)) return StartError::bad_header_name;
    if (!text::is_field_text(h.value)) return StartError::bad_header_value;
    if (text::iequals(h.name, "content-length")) {
      std::uint64_t v = 0;
      const char* end = h.value.data() + h.value.size();
      const auto [p, ec] = std::from_chars(h.value.data(), end, v);
      if (h.value.empty() || ec != std::errc() || p != end || (out.has_length && v != out.length)) {
        return StartError::bad_content_length;
      }
      if (out.has_length) continue;  // the same length again: one field on the wire
      out.has_length = true;
      out.length = v;
      if (!length_allowed) continue;
    } else if (text::iequals(h.name, "date")) {
      out.has_date = true;
    } else if (text::iequals(h.name, "server")) {
      out.has_server = true;
    } else if (text::iequals(h.name, "transfer-encoding")) {
      // One framing field only (RFC 9112 §6.2, §6.3: a recipient that sees
      // two may read another body than the one sent).
      if (out.has_te || !transfer_codings_ok(h.value)) te_ok = false;
      out.has_te = true;
    } else if (text::iequals(h.name, "connection")) {
      out.wants_close = out.wants_close || text::has_token(h.value, "close");
    }
    out.text.append(h.name);
    out.text += ": ";
    out.text.append(h.value);
    out.text += "\r\n";
  }
  if (out.has_te && (out.has_length || !te_ok)) return StartError::bad_framing;
  return StartError::none;
}

StartError add_length(ResponseHead& h, std::uint64_t n) {
  if (h.has_length) return h.length == n ? StartError::none : StartError::bad_content_length;
  if (h.has_te) return StartError::bad_framing;
  h.has_length = true;
  h.length = n;
  if (h.status == 204) return StartError::none;
  h.text += "Content-Length: ";
  append_decimal(h.text, n);
  h.text += "\r\n";
  return StartError::none;
}

void internal_error_head(ResponseHead& out) {
  out.text.assign("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n");
  out.status = 500;
  out.has_length = true;
  out.length = 0;
  out.has_date = out.has_server = out.has_te = out.wants_close = false;
}

RequestFacts facts_of(const parser::Message& m) noexcept {
  RequestFacts f;
  f.http11 = m.version_major == 1 && m.version_minor >= 1;
  f.head = m.method == "HEAD";
  f.keep_alive = m.keep_alive;
  return f;
}

Framing decide_framing(const ResponseHead& h, const RequestFacts& r, bool server_closes) noexcept {
  Framing f;
  f.no_body = r.head || (h.status >= 100 && h.status < 200) || h.status == 204 || h.status == 304;
  f.close = server_closes || !r.keep_alive || h.wants_close;
  if (!f.no_body && !h.has_length) {
    if (h.has_te) {
      f.close = true;  // the handler framed the body itself; its end is unknown to us
    } else if (r.http11) {
      f.chunked = true;
    } else {
      f.close = true;  // HTTP/1.0: the body ends with the connection
    }
  }
  return f;
}

void append_head(std::string& out, const ResponseHead& h, const Framing& f, const RequestFacts& r,
                 std::string_view date) {
  out += h.text;
  if (!h.has_date) {
    out += "Date: ";
    out += date;
    out += "\r\n";
  }
  if (!h.has_server) out += "Server: anvil\r\n";
  if (f.chunked) out += "Transfer-Encoding: chunked\r\n";
  if (f.close) {
    if (!h.wants_close) out += "Connection: close\r\n";
  } else if (!r.http11) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
}

std::string_view reason_of(int status) noexcept {
  switch (status) {
    case 400:
      return "Bad Request";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";  // RFC 9110 §15.5.14
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";  // RFC 6585 §5
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

void append_error_response(std::string& out, int status, std::string_view detail,
                           std::string_view date) {
  const std::string_view reason = reason_of(status);
  out += "HTTP/1.1 ";
  append_decimal(out, static_cast<std::uint64_t>(status));
  out += ' ';
  out += reason;
  out += "\r\nDate: ";
  out += date;
  out += "\r\nServer: anvil\r\nContent-Type: text/plain\r\nContent-Length: ";
  append_decimal(out, reason.size() + detail.size() + 4);
  out += "\r\nConnection: close\r\n\r\n";
  out += reason;
  out += " (";
  out += detail;
  out += ")\n";
}

std::string_view describe(StartError e) noexcept {
  switch (e) {
    case StartError::none:
      return "";
    case StartError::bad_status:
      return "invalid status line (expected 'NNN reason')";
    case StartError::interim_status:
      return "a 1xx status is an interim response, not a final one (RFC 9110 §15.2)";
    case StartError::bad_header_name:
      return "invalid header name";
    case StartError::bad_header_value:
      return "invalid header value (control character)";
    case StartError::bad_content_length:
      return "invalid Content-Length (not a decimal number, or two different values)";
    case StartError::bad_framing:
      return "conflicting framing fields (Content-Length with Transfer-Encoding, or a bad "
             "Transfer-Encoding)";
    case StartError::already_sent:
      return "the response head has already been sent";
  }
  return "invalid response head";
}

std::string_view describe(BodyError e) noexcept {
  switch (e) {
    case BodyError::timeout:
      return "request body: timed out";
    case BodyError::spool:
      return "request body: no room to store it (--max-spool-size or the disk)";
    case BodyError::none:
    case BodyError::closed:
    case BodyError::bad_body:
    case BodyError::aborted:
      break;
  }
  return "request body: connection lost or body invalid";
}

}  // namespace anvil::server

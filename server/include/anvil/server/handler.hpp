// anvil::server handler interface: what the core hands to a native or WSGI handler.
//
// Contract:
//  * Handler::handle() runs on the worker's loop thread once a request head is
//    parsed and, unless the request has `Expect: 100-continue`, its whole body
//    has been read: into the connection's buffer up to --body-buffer-size,
//    else into an unlinked spool file. It must not block the loop for long
//    unless the worker is single-threaded by design (WSGI, threads=1).
//  * Nothing a handler throws leaves the core: an exception out of handle(),
//    a write callback or a posted function ends that connection (500 when
//    nothing of the response went out) and is logged in one line.
//  * Exchange is one request/response. Every method may be called from any
//    thread; response methods post to the loop when called elsewhere, and the
//    calls of one exchange take effect in the order they were made (make them
//    from one thread at a time). Spans in request() and buffered_body() stay
//    valid until finish() or abort() has been called.
//  * A response is start() (may be repeated until the first write; then
//    add_length() when the body's length is known late), then any number of
//    write()/send_file(), then finish() (or a write with last=true),
//    or abort() at any time. Data passed by span must stay alive until its
//    callback; callbacks run on the loop thread, never inside the call that
//    queued them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include <boost/asio/buffer.hpp>

#include "anvil/parser/parser.hpp"

namespace anvil::server {

struct Header {
  std::string_view name;
  std::string_view value;
};

// Where request time goes, for `--stats`. The core times read, parse and
// write; a handler adds environ and app (or whatever maps onto them).
enum class Stage : std::uint8_t { read, parse, environ, app, write };
inline constexpr std::size_t kStageCount = 5;
std::string_view name_of(Stage s) noexcept;

// Why start() refused a response head; the caller answers 500 instead.
enum class StartError : std::uint8_t {
  none,
  bad_status,          // not "NNN reason" with 3 digits and no control characters
  interim_status,      // 1xx: an interim response cannot be the final one (RFC 9110 §15.2)
  bad_header_name,     // empty or not a token (RFC 9110 §5.1)
  bad_header_value,    // CR, LF, NUL or another control character (RFC 9110 §5.5)
  bad_content_length,  // Content-Length not 1*DIGIT, or repeated with another value
  bad_framing,         // Content-Length with Transfer-Encoding, Transfer-Encoding twice, or
                       // one that is not known codings with chunked only last (RFC 9112 §6)
  already_sent,        // the head has already gone out (first write() was made)
};
// What an app is told when start() refuses its head ("invalid header name");
// a NUL-terminated literal.
std::string_view describe(StartError e) noexcept;

// Why read_body() stopped early.
enum class BodyError : std::uint8_t {
  none,
  timeout,   // no body bytes within the body timeout
  closed,    // the peer closed (or reset) before the body's end
  bad_body,  // the chunked framing was invalid (the connection will close)
  aborted,   // the exchange finished or the server is shutting down
  spool,     // the body could not be stored: no room in --max-spool-size or on disk
};

// What an app is told when read_body() failed ("request body: timed out");
// a NUL-terminated literal.
std::string_view describe(BodyError e) noexcept;

struct BodyRead {
  std::size_t n = 0;  // bytes copied to dst; 0 with error none means end of body
  BodyError error = BodyError::none;
};

// Completion of a write/send_file: empty error code when it was handed to the
// kernel; an error when the connection failed (the exchange is then over).
using WriteCallback = std::function<void(std::error_code)>;

class Exchange {
 public:
  virtual ~Exchange() = default;

  // --- request -------------------------------------------------------------
  virtual const parser::Message& request() const noexcept = 0;
  // Peer and local addresses as text ("127.0.0.1", "::1"); for unix sockets
  // the remote address is "" (port 0) and the local address is the path.
  virtual std::string_view remote_address() const = 0;
  virtual std::uint16_t remote_port() const noexcept = 0;
  virtual std::string_view local_address() const = 0;
  virtual std::uint16_t local_port() const noexcept = 0;
  virtual bool unix_socket() const noexcept = 0;

  // True when the whole body is in memory (no body, or one that fits
  // --body-buffer-size; not a spooled one, not one still to come after 100
  // Continue); buffered_body() is then all of it, de-chunked, zero copy.
  virtual bool body_buffered() const noexcept = 0;
  virtual std::string_view buffered_body() const noexcept = 0;
  // Copies up to n body bytes to dst: from memory, or with pread from the
  // spool file; neither waits on the network. Only a 100-continue body still
  // to come waits: the first call sends "HTTP/1.1 100 Continue"; on the loop
  // thread it then reads the whole body in before returning (one deadline,
  // --timeout, for all of it), on another thread it waits for each piece
  // (the loop times each wait out). Returns n == 0, error none at the end of
  // the body; after finish()/abort(), error aborted.
  virtual BodyRead read_body(char* dst, std::size_t n) = 0;

  // --- response ------------------------------------------------------------
  // status is "200 OK" (3 digits, space, reason). The core adds Date, Server
  // (unless given), Connection, and Transfer-Encoding: chunked when there is
  // no Content-Length on HTTP/1.1 (HTTP/1.0: the body ends with the
  // connection). Thread-safe; copies what it needs.
  virtual StartError start(std::string_view status, std::span<const Header> headers) = 0;
  // Adds Content-Length: n, as the last field, to the head of the last
  // successful start(), without building the head again: for a handler that
  // knows its whole body only after start() (PEP 3333's one-item list).
  // already_sent after the first write; bad_status before any start();
  // bad_content_length or bad_framing when the head has another length or a
  // Transfer-Encoding (the same length again changes nothing). Thread-safe
  // as start().
  virtual StartError add_length(std::uint64_t n) = 0;
  // True once the head is queued for the wire (after the first write/finish).
  virtual bool headers_sent() const noexcept = 0;
  // Body pieces (gathered into one writev with the head when it is still
  // pending). last=true also ends the response, as finish() does.
  virtual void write(std::span<const boost::asio::const_buffer> pieces, WriteCallback done,
                     bool last = false) = 0;
  // Same, for bytes the core owns from now on.
  virtual void write(std::string data, WriteCallback done, bool last = false) = 0;
  // count bytes of fd from offset, with sendfile(2). fd stays the caller's and
  // must stay open until done runs. Fewer bytes in the file is an error.
  virtual void send_file(int fd, std::uint64_t offset, std::uint64_t count, WriteCallback done,
                         bool last = false) = 0;
  // Ends the response (chunked: the last chunk). Without a start(), 500.
  virtual void finish() = 0;
  // Response bytes this connection has handed to the kernel so far (any
  // thread): a thread waiting for a write's callback can tell a slow client
  // that still takes bytes from one that stopped.
  virtual std::uint64_t sent_bytes() const noexcept = 0;
  // Closes the connection now (the app failed after the head went out).
  virtual void abort() = 0;

  // --- loop and statistics -------------------------------------------------
  virtual bool on_loop_thread() const noexcept = 0;
  // Runs fn on the loop thread (later, never inline).
  virtual void post(std::function<void()> fn) = 0;
  // True under --stats; then add_stage_time is counted (thread-safe).
  virtual bool stats_enabled() const noexcept = 0;
  virtual void add_stage_time(Stage stage, std::chrono::nanoseconds t) noexcept = 0;
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Called on the loop thread for each request; see the contract above.
  virtual void handle(std::shared_ptr<Exchange> exchange) = 0;
  // Called on the loop thread when the worker stops (after the last request).
  virtual void stop() {}
};

// Called once in each worker process (after fork) to make its handler.
using HandlerFactory = std::function<std::shared_ptr<Handler>()>;

}  // namespace anvil::server

// The output side of a connection: a queue of pieces written with one writev
// per batch (sendfile for file ranges), and the body framing of one response
// (Content-Length with the excess dropped, chunked, or until close).
//
// Contract:
//  * Loop thread only. Pieces are copied (copy()), referenced (reference():
//    the caller keeps the bytes alive until the queue has been flushed or
//    cleared), kept (keep()) or file ranges (file(): the descriptor stays the
//    caller's and must stay open as long).
//  * flush() writes as much as the descriptor takes, never blocks, and
//    clears the queue once everything is out. Callbacks queued with
//    after_flush() are handed back, in order, when the queue empties or fails.
//  * frame_body() is the same framing without a socket: a fuzz target calls
//    it with any writes and checks the bytes with the response parser.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>

#include "anvil/server/handler.hpp"
#include "response_head.hpp"

namespace anvil::server {

class OutputQueue {
 public:
  enum class Flush : std::uint8_t { done, blocked, failed };

  OutputQueue();
  bool empty() const noexcept { return next_ == segments_.size(); }
  // Bytes copied into the queue's own storage; adjacent copies become one iovec.
  void copy(std::string_view bytes);
  // Bytes the caller keeps alive until the queue is flushed or cleared.
  void reference(const void* data, std::size_t size);
  // Bytes the queue owns from now on, until it is flushed or cleared; the
  // reference stays valid as long (a body write then references them).
  const std::string& keep(std::string bytes);
  // Bytes that fill(std::string&) appends to the queue's own storage.
  template <typename F>
  void copy_with(F&& fill) {
    const std::size_t at = scratch_.size();
    fill(scratch_);
    add_scratch(at, scratch_.size() - at);
  }
  // count bytes of fd from offset, with sendfile(2).
  void file(int fd, std::uint64_t offset, std::uint64_t count);
  // done runs (with the flush's outcome) once what is queued now has gone out.
  void after_flush(WriteCallback done);

  // Writes to fd; done: everything is out (the queue is empty again);
  // blocked: the socket is full; failed: ec says why (EPIPE, a short file...).
  // written grows by the bytes the kernel took.
  Flush flush(int fd, std::error_code& ec, std::uint64_t& written);
  // Hands each callback that is due (after a done or failed flush, or
  // clear()) to take(WriteCallback&&); the caller runs them later.
  template <typename F>
  void take_callbacks(F&& take) {
    for (auto& cb : due_) take(std::move(cb));
    due_.clear();
  }
  // Drops everything queued; callbacks stay for take_callbacks().
  void clear();
  // Everything queued, as bytes (file ranges read with pread): for tests.
  std::string contents() const;

 private:
  struct Segment {
    enum class Kind : std::uint8_t { scratch, memory, file };
    Kind kind = Kind::memory;
    int fd = -1;
    const char* data = nullptr;
    std::uint64_t offset = 0;  // scratch offset or file offset
    std::uint64_t size = 0;
  };
  void reset();
  void add_scratch(std::uint64_t at, std::uint64_t size);

  std::string scratch_;
  std::vector<Segment> segments_;
  std::vector<iovec> iov_;
  std::deque<std::string> owned_;
  std::vector<WriteCallback> callbacks_;
  std::vector<WriteCallback> due_;
  std::size_t next_ = 0;         // first segment not fully written
  std::uint64_t next_done_ = 0;  // bytes of it already written
};

// The body of one response on the wire.
class BodyFramer {
 public:
  void start(const Framing& f, bool has_length, std::uint64_t length) noexcept;
  // Queues one write of body bytes (referenced, not copied): with chunked
  // framing as one chunk; with a Content-Length at most the bytes still owed
  // (RFC 9112 §6.3: more would be read as the next response).
  void write(OutputQueue& q, std::span<const boost::asio::const_buffer> pieces);
  void write_file(OutputQueue& q, int fd, std::uint64_t offset, std::uint64_t count);
  // Queues the end of the body (the last chunk).
  void finish(OutputQueue& q);
  // Body bytes given so far (the excess over a Content-Length included; none
  // for a response without a body, whose writes are dropped).
  std::uint64_t given() const noexcept { return given_; }
  // Body bytes that went to the queue.
  std::uint64_t sent() const noexcept;
  // False when the bytes given differ from the Content-Length: the client
  // cannot find the end of the body, so the connection must close.
  bool length_kept() const noexcept;

 private:
  std::uint64_t room(std::uint64_t n) const noexcept;
  void chunk_size(OutputQueue& q, std::uint64_t n);

  Framing framing_;
  bool has_length_ = false;
  std::uint64_t length_ = 0;
  std::uint64_t given_ = 0;
};

// The framed bytes of a body written as `writes`, then finished when
// `finish`: what the connection would put on the wire after the head.
std::string frame_body(const Framing& f, bool has_length, std::uint64_t length,
                       std::span<const std::string_view> writes, bool finish);

}  // namespace anvil::server

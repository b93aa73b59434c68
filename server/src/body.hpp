// Request bodies: where the decoded body of the request in progress is kept.
// Up to --body-buffer-size it stays in the connection's input buffer
// (de-chunked in place); past that, the whole body goes to an unlinked
// temporary file (waitress's inbuf_overflow), so that what a client sends or
// declares never decides how much memory the server holds.
//
// The connection's body methods (read ahead by the loop, read_body() for the
// handler) are in body.cpp; SpoolFile and BodyState are their parts.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>

#include "anvil/server/handler.hpp"

namespace anvil::server {

// An unlinked temporary file: O_TMPFILE in dir (or mkstemp + unlink where
// the file system has no O_TMPFILE). Closed (and its blocks freed) by close()
// or the destructor. append() on the loop thread; read_at() from any thread
// for bytes already appended.
class SpoolFile {
 public:
  SpoolFile() = default;
  ~SpoolFile() { close(); }
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;

  std::error_code open(const std::string& dir);
  std::error_code append(const char* data, std::size_t n);
  // Up to n bytes at offset; the count, or -1 with errno set.
  ssize_t read_at(char* dst, std::size_t n, std::uint64_t offset) const;
  bool is_open() const noexcept { return fd_ >= 0; }
  std::uint64_t size() const noexcept { return size_; }
  void close() noexcept;

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// The body of the exchange in progress, as its reader sees it. Written by the
// loop thread, under `m` whenever a reader may run (the exchange is
// dispatched); readers take `m`. `stage` is atomic so that the loop can ask
// where the body is without the lock.
enum class BodyStage : std::uint8_t {
  none,      // the request has no body
  deferred,  // Expect: 100-continue, the handler has not asked for it yet
  reading,   // bytes are arriving (read ahead before dispatch, or after the 100)
  complete,  // every byte is stored
  failed,    // error says why; what was stored can still be read
  ended,     // the exchange is over: reads are aborted
};

struct BodyState {
  std::atomic<BodyStage> stage{BodyStage::none};
  BodyError error = BodyError::none;
  std::uint64_t stored = 0;    // decoded bytes stored (memory or spool)
  std::uint64_t consumed = 0;  // bytes handed to the reader
  bool spooled = false;        // the bytes are in `spool`, not in memory
  SpoolFile spool;
  std::mutex m;
  std::condition_variable cv;
};

}  // namespace anvil::server

// Request bodies: read ahead by the loop before dispatch (memory up to
// --body-buffer-size, then a spool file), read on demand after a 100 Continue,
// and served to the handler by read_body().
//
// Locking: body_.m guards the body state and its in-memory bytes whenever a
// reader may run on another thread, that is while the exchange is
// dispatched. Before dispatch (phase body) the loop is alone with them.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <optional>

#include <boost/asio/post.hpp>

#include "connection.hpp"
#include "wall.hpp"

namespace anvil::server {

namespace {

Clock::time_point after(Seconds s) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(s);
}

}  // namespace

// ---------------------------------------------------------------------------
// SpoolFile.

std::error_code SpoolFile::open(const std::string& dir) {
  close();
  // O_TMPFILE: the file has no name at all, so nothing is left behind
  // whatever happens to the process.
  fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd_ < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    // A file system without O_TMPFILE: a named file, unlinked at once.
    std::string path = dir + "/anvil-body-XXXXXX";
    fd_ = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd_ >= 0) ::unlink(path.c_str());
  }
  if (fd_ < 0) return {errno, std::generic_category()};
  size_ = 0;
  return {};
}

std::error_code SpoolFile::append(const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t k = ::pwrite(fd_, data, n, static_cast<off_t>(size_));
    if (k < 0) {
      if (errno == EINTR) continue;
      return {errno, std::generic_category()};
    }
    data += k;
    n -= static_cast<std::size_t>(k);
    size_ += static_cast<std::uint64_t>(k);
  }
  return {};
}

ssize_t SpoolFile::read_at(char* dst, std::size_t n, std::uint64_t offset) const {
  for (;;) {
    const ssize_t k = ::pread(fd_, dst, n, static_cast<off_t>(offset));
    if (k >= 0 || errno != EINTR) return k;
  }
}

void SpoolFile::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  size_ = 0;
}

// ---------------------------------------------------------------------------
// The loop's side: storing decoded body bytes.

// Before dispatch: no reader yet.
void Connection::begin_body(BodyStage stage) {
  body_.error = BodyError::none;
  body_.stored = body_.consumed = 0;
  body_.spooled = false;
  body_.stage.store(stage, std::memory_order_release);
}

bool Connection::body_unfinished() noexcept {
  const BodyStage s = body_.stage.load(std::memory_order_relaxed);  // loop thread: its own writes
  return s == BodyStage::deferred || s == BodyStage::reading || s == BodyStage::failed;
}

// Stores one decoded piece (it lies in the unconsumed input): in memory, de-
// chunked in place, while the body fits --body-buffer-size; else in the
// spool file. False when it could not be stored (the body has failed).
bool Connection::store_piece(std::string_view piece) {
  if (piece.empty()) return true;
  if (!body_.spooled && (body_end_ - body_begin_) + piece.size() > srv_.config.body_buffer_size) {
    if (!spool_memory()) return false;
  }
  if (body_.spooled) {
    if (!srv_.reserve_spool(piece.size())) {
      return store_failed(std::make_error_code(std::errc::no_space_on_device),
                          "the worker's spool is full (--max-spool-size)");
    }
    if (const std::error_code ec = body_.spool.append(piece.data(), piece.size())) {
      srv_.release_spool(piece.size());
      return store_failed(ec, "spool write");
    }
  } else {
    char* dst = in_ + body_end_;
    if (piece.data() != dst) std::memmove(dst, piece.data(), piece.size());
    body_end_ += piece.size();
  }
  body_.stored += piece.size();
  return true;
}

// The body outgrew memory: it moves to a new spool file, and the memory it
// held is free for the bytes still to come.
bool Connection::spool_memory() {
  if (const std::error_code ec = body_.spool.open(srv_.spool_dir())) {
    return store_failed(ec, "spool open");
  }
  const std::size_t held = body_end_ - body_begin_;
  if (!srv_.reserve_spool(held)) {
    body_.spool.close();
    return store_failed(std::make_error_code(std::errc::no_space_on_device),
                        "the worker's spool is full (--max-spool-size)");
  }
  if (const std::error_code ec = body_.spool.append(in_ + body_begin_, held)) {
    srv_.release_spool(held);
    body_.spool.close();
    return store_failed(ec, "spool write");
  }
  body_end_ = body_begin_;
  body_.spooled = true;
  return true;
}

// Before dispatch the client gets the answer (503 when there is no room, 500
// for another error); after it (100-continue) the handler's read fails.
bool Connection::store_failed(std::error_code ec, std::string_view what) {
  const bool no_room = ec == std::errc::no_space_on_device || ec.value() == EDQUOT;
  if (phase_ == Phase::body) {
    std::string detail(what);
    detail += ": ";
    detail += ec.message();
    respond_error(no_room ? 503 : 500, detail);
  } else {
    set_body_failed(BodyError::spool);
  }
  return false;
}

// Read ahead before dispatch: no reader yet.
void Connection::body_done() {
  if (body_.stage.load(std::memory_order_relaxed) == BodyStage::reading) {
    body_.stage.store(BodyStage::complete, std::memory_order_release);
  }
}

// The caller holds body_.m when a reader may run (dispatched).
void Connection::set_body_failed(BodyError e) {
  if (body_.stage != BodyStage::reading && body_.stage != BodyStage::deferred) return;
  body_.stage = BodyStage::failed;
  body_.error = e;
  close_after();  // the rest of the body is still on its way: no next request
}

void Connection::body_failed(BodyError e) {
  {
    std::lock_guard lk(body_.m);
    set_body_failed(e);
  }
  body_.cv.notify_all();
}

// The exchange is over (or the connection): the spool file goes, readers
// still waiting are woken with `aborted`.
void Connection::end_body_state() {
  if (body_.stage.load(std::memory_order_relaxed) == BodyStage::none) {
    // No body: no reader to wake, no file, nothing stored (the common GET).
    body_.stage.store(BodyStage::ended, std::memory_order_release);
    return;
  }
  bool wake = false;
  {
    std::lock_guard lk(body_.m);
    wake = body_.stage == BodyStage::deferred || body_.stage == BodyStage::reading;
    if (body_.spool.is_open()) {
      srv_.release_spool(body_.spool.size());
      body_.spool.close();
    }
    body_.stage = BodyStage::ended;
    body_.spooled = false;
    body_.stored = body_.consumed = 0;
  }
  if (wake) body_.cv.notify_all();
}

// ---------------------------------------------------------------------------
// Reading on demand (100-continue).

void Connection::queue_continue() {
  // RFC 9110 §15.2.1: no 100 once a final response has started.
  if (!head_emitted_) r_->out.copy("HTTP/1.1 100 Continue\r\n\r\n");
}

// Parses the buffered input of the body in progress and stores its pieces.
// True when the body is over (complete or failed); false when more bytes
// are needed. The caller holds body_.m.
bool Connection::pump_buffered() {
  for (;;) {
    if (body_.stage != BodyStage::reading) return true;
    const parser::Step st = parse();
    switch (st.event) {
      case parser::Event::body:
        if (!store_piece(r_->parser->body())) return true;
        begin_ += st.consumed;
        continue;
      case parser::Event::done:
        begin_ += st.consumed;
        body_.stage = BodyStage::complete;
        return true;
      case parser::Event::need_more:
        begin_ += st.consumed;
        return false;
      case parser::Event::head:
      case parser::Event::end:
      case parser::Event::error:
        break;
    }
    set_body_failed(BodyError::bad_body);
    return true;
  }
}

// Parses what is buffered, then reads what the socket has, until the body
// is over or the socket is empty. The caller holds body_.m.
Connection::Fill Connection::fill_body() {
  for (;;) {
    if (pump_buffered()) return Fill::over;
    if (!ensure_space()) {
      set_body_failed(BodyError::bad_body);
      return Fill::over;
    }
    const ssize_t k = ::recv(fd_, in_ + end_, r_->in_cap - end_, 0);
    if (k > 0) {
      end_ += static_cast<std::size_t>(k);
      continue;
    }
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Fill::blocked;
    set_body_failed(BodyError::closed);
    return Fill::over;
  }
}

// The loop reads a body on demand without blocking: what is there now, then
// a wait for readable (each wait bounded by the body timeout).
void Connection::pump_body() {
  if (phase_ != Phase::dispatched || !r_) return;
  {
    std::lock_guard lk(body_.m);
    if (body_.stage != BodyStage::reading) return;
  }
  // What is queued (the 100, earlier responses) goes out first: the reads
  // below may move the input buffer, which queued pieces could point into.
  if (!r_->out.empty() && (writing_ || !flush_now())) return;  // the writable wait calls again
  Fill f;
  {
    std::lock_guard lk(body_.m);
    f = fill_body();
  }
  body_.cv.notify_all();  // what arrived so far can be read
  if (f == Fill::blocked) {
    set_read_deadline(srv_.config.body_timeout);
    wait_readable();
    return;
  }
  read_deadline_ = Clock::time_point::max();
}

// The handler runs on the loop thread (threads=1), so the loop waits here:
// it sends 100 Continue, then takes the whole body in (memory, then spool)
// under one deadline for all of it (not one per read, which a client could
// stretch a byte at a time). See server/README.md.
void Connection::pump_blocking(Clock::time_point limit) {
  if (!r_->out.empty() && !flush_blocking(limit)) return;  // closed: the body has ended
  for (;;) {
    Fill f;
    {
      std::lock_guard lk(body_.m);
      f = fill_body();
    }
    if (f == Fill::over) break;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(limit - Clock::now()).count();
    if (left <= 0) {
      body_failed(BodyError::timeout);
      break;
    }
    pollfd p{fd_, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(std::min<long long>(left, INT_MAX)));
  }
  body_.cv.notify_all();
}

void Connection::request_body() {
  if (phase_ != Phase::dispatched || !r_) return;
  queue_continue();
  pump_body();
}

// ---------------------------------------------------------------------------
// Exchange: request body (any thread).

// `complete` is stored after `spooled` and the bytes: no lock needed.
bool Connection::body_buffered() const noexcept {
  const BodyStage s = body_.stage.load(std::memory_order_acquire);
  return s == BodyStage::none || (s == BodyStage::complete && !body_.spooled);
}

std::string_view Connection::buffered_body() const noexcept {
  std::lock_guard lk(const_cast<std::mutex&>(body_.m));
  if (body_.stage != BodyStage::complete || body_.spooled) return {};
  return {in_ + body_begin_, body_end_ - body_begin_};
}

// The caller holds body_.m. Copies up to n stored bytes not read yet.
BodyRead Connection::copy_out(char* dst, std::size_t n) {
  auto k = static_cast<std::size_t>(std::min<std::uint64_t>(n, body_.stored - body_.consumed));
  if (k == 0) return {0, body_.stage == BodyStage::failed ? body_.error : BodyError::none};
  if (!body_.spooled) {
    std::memcpy(dst, in_ + body_begin_ + body_.consumed, k);
  } else {
    const ssize_t got = body_.spool.read_at(dst, k, body_.consumed);
    if (got <= 0) return {0, BodyError::spool};
    k = static_cast<std::size_t>(got);
  }
  body_.consumed += k;
  return {k, BodyError::none};
}

// What a read can return without waiting, if anything. The caller holds
// body_.m.
std::optional<BodyRead> Connection::read_now(char* dst, std::size_t n) {
  switch (body_.stage) {
    case BodyStage::none:
      return BodyRead{};  // no body: at its end at once
    case BodyStage::ended:
      return BodyRead{0, BodyError::aborted};
    case BodyStage::complete:
    case BodyStage::failed:
      return copy_out(dst, n);
    case BodyStage::deferred:
    case BodyStage::reading:
      if (body_.stored > body_.consumed) return copy_out(dst, n);
      break;
  }
  return std::nullopt;
}

BodyRead Connection::read_body(char* dst, std::size_t n) {
  if (n == 0) return {};
  {
    std::lock_guard lk(body_.m);
    if (const auto r = read_now(dst, n)) return *r;
  }
  return on_loop_thread() ? read_body_here(dst, n) : read_body_waiting(dst, n);
}

BodyRead Connection::read_body_here(char* dst, std::size_t n) {
  if (phase_ != Phase::dispatched || !r_) return {0, BodyError::aborted};
  bool first = false;
  {
    std::lock_guard lk(body_.m);
    if (body_.stage == BodyStage::deferred) {
      body_.stage = BodyStage::reading;
      first = true;
    }
  }
  if (first) queue_continue();
  pump_blocking(after(srv_.config.body_timeout));
  std::lock_guard lk(body_.m);
  if (body_.stage == BodyStage::ended) return {0, BodyError::aborted};
  return copy_out(dst, n);
}

// The handler runs on another thread: the loop reads, this thread waits for
// the bytes (the loop times out each of its waits; the limit here only
// guards against a wake-up that never comes).
BodyRead Connection::read_body_waiting(char* dst, std::size_t n) {
  std::unique_lock lk(body_.m);
  if (body_.stage == BodyStage::deferred) {
    body_.stage = BodyStage::reading;
    asio::post(srv_.io, [self = shared_from_this()] {
      contain([&] { self->request_body(); }, [&](std::string_view w) { self->fail(w); });
    });
  }
  const auto limit = after(srv_.config.body_timeout) + std::chrono::seconds(1);
  for (;;) {
    if (const auto r = read_now(dst, n)) return *r;
    if (dead_.load(std::memory_order_acquire)) return {0, BodyError::aborted};
    if (body_.cv.wait_until(lk, limit) == std::cv_status::timeout) {
      return {0, BodyError::timeout};
    }
  }
}

}  // namespace anvil::server

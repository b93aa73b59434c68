#include "connection.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdint>
#include <cstring>

#include <boost/asio/post.hpp>

namespace anvil::server {
namespace {

constexpr std::size_t kMaxIov = 1024;  // IOV_MAX on Linux
constexpr Seconds kLingerTime{2.0};    // how long to drain input after an error response

bool is_tchar(unsigned char c) {
  // RFC 9110 §5.6.2.
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

// RFC 9110 §5.5: field values (and reason phrases) may hold HTAB, SP, VCHAR
// and obs-text; CR, LF and NUL would split or corrupt the response.
bool is_text(std::string_view v) {
  for (unsigned char c : v) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
  }
  return true;
}

// A comma-separated list holds the token (case-insensitive).
bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view reason_of(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
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
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

std::error_code aborted_error() { return std::make_error_code(std::errc::connection_aborted); }

}  // namespace

Connection::Connection(Server::Impl& server, int fd, const Listener& listener,
                       const sockaddr_storage& peer)
    : srv_(server),
      sock_(server.io),
      fd_(fd),
      listener_(listener),
      peer_(peer),
      r_(server.acquire()),
      stats_(server.config.stats) {
  in_ = r_->in.get();
}

Connection::~Connection() {
  if (!closed_ && !sock_.is_open()) ::close(fd_);  // else sock_ closes it
  if (linked) srv_.unlink(this);
  srv_.release(std::move(r_));
}

void Connection::start() {
  srv_.link(this);
  resume();
}

// ---------------------------------------------------------------------------
// The state machine: parse what is buffered, dispatch, flush, read more.

void Connection::resume() {
  if (in_resume_) {
    resume_again_ = true;
    return;
  }
  in_resume_ = true;
  do {
    resume_again_ = false;
    step();
  } while (resume_again_ && !closed_);
  in_resume_ = false;
}

void Connection::step() {
  for (;;) {
    if (closed_ || lingering_) return;
    if (live_) {
      if (pending_output() && !writing_) flush();
      return;
    }
    if (close_after_) {
      if (pending_output() && (writing_ || !flush())) return;
      finish_close();
      return;
    }
    // Bounded pipelining: answer a batch before parsing further requests.
    if (batch_ >= srv_.config.max_pipeline && pending_output()) {
      if (writing_ || !flush()) return;
    }
    const parser::Step st = parse();
    switch (st.event) {
      case parser::Event::head:
        on_head(st.consumed);
        break;
      case parser::Event::body:
        on_body(st.consumed);
        break;
      case parser::Event::done:
        begin_ += st.consumed;
        body_complete_ = true;
        if (!live_) dispatch();
        break;
      case parser::Event::error: {
        const parser::Error e = r_->parser->error();
        respond_error(parser::status_of(e), parser::code_of(e));
        break;
      }
      case parser::Event::need_more:
        begin_ += st.consumed;
        // Responses go out before we wait: one writev per batch of requests.
        if (pending_output() && (writing_ || !flush())) return;
        if (!read_more()) return;
        break;
      case parser::Event::end:
        return;
    }
  }
}

parser::Step Connection::parse() {
  const auto t0 = now_if_stats();
  const parser::Step st = r_->parser->next({in_ + begin_, end_ - begin_});
  add_since(Stage::parse, t0);
  return st;
}

bool Connection::read_more() {
  if (!head_live_ && begin_ == end_) begin_ = end_ = 0;
  ensure_space();
  if (sock_.is_open() && !stats_) {
    // Registered: let Asio read. Its reactor reads when epoll reports the
    // socket and skips the speculative recv after one that drained it, so a
    // keep-alive request costs one recv and one writev; our own recv then
    // async_wait would add an EAGAIN recv and an epoll_ctl(MOD) re-arm per
    // wait. (--stats keeps the direct path below to time every recv.)
    arm_read_deadline();
    async_read();
    return false;
  }
  const auto t0 = now_if_stats();
  ssize_t n;
  do {
    n = ::recv(fd_, in_ + end_, r_->in_cap - end_, 0);
  } while (n < 0 && errno == EINTR);
  add_since(Stage::read, t0);
  if (n > 0) {
    on_bytes(static_cast<std::size_t>(n));
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    arm_read_deadline();
    wait_readable();
    return false;
  }
  // End of input (or reset): every complete request has been answered; a
  // partial one is dropped.
  close_now();
  return false;
}

void Connection::on_bytes(std::size_t n) {
  end_ += n;
  if (!head_live_ && !request_started_) {
    request_started_ = true;
    head_deadline_ =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(srv_.config.header_timeout);
  }
}

void Connection::arm_read_deadline() {
  if (head_live_) {
    set_deadline(Wait::body, srv_.config.body_timeout);  // each wait for body bytes
  } else if (request_started_) {
    wait_ = Wait::header;  // the whole head shares one deadline (slowloris)
    deadline_ = head_deadline_;
  } else {
    set_deadline(Wait::idle, served_ ? srv_.config.keepalive : srv_.config.header_timeout);
  }
}

void Connection::async_read() {
  if (reading_) return;
  reading_ = true;
  sock_.async_read_some(
      asio::buffer(in_ + end_, r_->in_cap - end_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        self->reading_ = false;
        if (self->closed_) return;
        if (self->lingering_) {
          self->linger_read();
          return;
        }
        if (ec) {
          // EOF or reset: as in read_more().
          if (ec != asio::error::operation_aborted) self->close_now();
          return;
        }
        self->on_bytes(n);
        self->resume();
      });
}

void Connection::wait_readable() {
  if (reading_ || !register_socket()) return;
  reading_ = true;
  sock_.async_wait(asio::posix::stream_descriptor::wait_read,
                   [self = shared_from_this()](const boost::system::error_code& ec) {
                     self->reading_ = false;
                     if (ec || self->closed_) return;
                     if (self->lingering_) {
                       self->linger_read();
                     } else if (self->live_ && self->on_demand_) {
                       self->fetch_body();
                     } else {
                       self->resume();
                     }
                   });
}

// The socket joins epoll only when we first have to wait for it: a request
// that arrives whole (TCP_DEFER_ACCEPT) and ends with the connection is served
// with accept4, recv, writev and close alone, no epoll_ctl at all.
bool Connection::register_socket() {
  if (sock_.is_open()) return true;
  boost::system::error_code ec;
  sock_.assign(fd_, ec);
  if (!ec) return true;
  close_now();
  return false;
}

void Connection::on_head(std::size_t consumed) {
  head_begin_ = begin_;
  begin_ += consumed;
  body_begin_ = body_end_ = body_read_ = begin_;
  r_->request = r_->parser->message();  // reuses the fields' capacity
  head_live_ = true;
  request_started_ = false;
  body_complete_ = false;
  on_demand_ = false;
  continue_sent_ = false;
  body_error_ = BodyError::none;
  if (r_->request.body == parser::BodyKind::none) return;  // `done` follows
  if (r_->request.expect_continue) {
    // RFC 9110 §10.1.1: the client waits for 100 before sending the body;
    // the app decides whether it wants it.
    on_demand_ = true;
    dispatch();
    return;
  }
  set_deadline(Wait::body, srv_.config.body_timeout);
}

void Connection::on_body(std::size_t consumed) {
  // De-chunk in place: the body stays contiguous in in_[body_begin_, body_end_).
  const std::string_view piece = r_->parser->body();
  char* dst = in_ + body_end_;
  if (piece.data() != dst) std::memmove(dst, piece.data(), piece.size());
  body_end_ += piece.size();
  begin_ += consumed;
}

void Connection::dispatch() {
  live_ = true;
  started_ = false;
  head_emitted_ = false;
  chunked_ = false;
  no_body_ = false;
  body_bytes_ = 0;
  status_ = 0;
  headers_sent_.store(false, std::memory_order_relaxed);
  if (!on_demand_) set_deadline(Wait::none, {});
  std::shared_ptr<Exchange> exchange(shared_from_this(), static_cast<Exchange*>(this));
  try {
    srv_.handler->handle(std::move(exchange));
  } catch (const std::exception&) {
    // Handlers report failures as responses; an escaped exception ends the
    // connection rather than the worker.
    do_abort();
  }
}

void Connection::end_exchange() {
  srv_.count_request();
  srv_.log_access(*this, status_,
                  has_length_ && !no_body_ ? std::min(body_bytes_, length_) : body_bytes_);
  live_ = false;
  head_live_ = false;
  served_ = true;
  if (!body_complete_ || srv_.draining()) close_after_ = true;
  ++batch_;
  if (on_demand_) {
    {
      std::lock_guard lk(body_m_);
      if (body_error_ == BodyError::none && !body_complete_) body_error_ = BodyError::aborted;
    }
    body_cv_.notify_all();
  }
  on_demand_ = false;
  if (begin_ < end_) {
    // Pipelined bytes are the start of the next request.
    request_started_ = true;
    head_deadline_ =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(srv_.config.header_timeout);
  }
  resume();
}

void Connection::respond_error(int status, std::string_view detail) {
  close_after_ = true;
  linger_ = true;  // the rest of the request may still be on its way
  request_started_ = false;
  head_live_ = false;
  status_ = status;
  const std::string_view reason = reason_of(status);
  char head[256];
  const std::size_t body_size = reason.size() + detail.size() + 4;
  const int n =
      std::snprintf(head, sizeof head,
                    "HTTP/1.1 %d %.*s\r\nDate: %.*s\r\nServer: anvil\r\n"
                    "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
                    "Connection: close\r\n\r\n",
                    status, static_cast<int>(reason.size()), reason.data(),
                    static_cast<int>(srv_.date.get().size()), srv_.date.get().data(), body_size);
  push_scratch({head, static_cast<std::size_t>(n)});
  push_scratch(reason);
  push_scratch(" (");
  push_scratch(detail);
  push_scratch(")\n");
}

void Connection::finish_close() {
  if (!linger_) {
    close_now();
    return;
  }
  // Half-close and read what the client still sends, so that closing with
  // unread data does not send a RST that destroys the error response before
  // the client reads it (RFC 9112 §9.6).
  ::shutdown(fd_, SHUT_WR);
  lingering_ = true;
  set_deadline(Wait::linger, std::min(kLingerTime, srv_.config.header_timeout));
  linger_read();
}

void Connection::linger_read() {
  for (int i = 0; i < 64; ++i) {
    const ssize_t n = ::recv(fd_, in_, r_->in_cap, 0);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      wait_readable();
      return;
    }
    break;
  }
  close_now();
}

// Makes room after end_ for a read: drops consumed bytes, else grows.
void Connection::ensure_space() {
  if (head_live_ && begin_ > body_end_) {
    // Consumed chunk framing between the body and the unconsumed bytes.
    std::memmove(in_ + body_end_, in_ + begin_, end_ - begin_);
    end_ -= begin_ - body_end_;
    begin_ = body_end_;
  }
  if (end_ < r_->in_cap) return;
  const std::size_t keep = head_live_ ? head_begin_ : begin_;
  if (keep > 0) {
    move_input(keep, in_, 0);
    return;
  }
  std::size_t cap = r_->in_cap * 2;
  const auto& req = r_->request;
  if (head_live_ && req.body == parser::BodyKind::content_length) {
    // Grow once to the whole body rather than doubling through it.
    const std::uint64_t want = (body_begin_ - head_begin_) + req.content_length + 4096;
    if (want > cap && want < (std::uint64_t{1} << 40)) cap = static_cast<std::size_t>(want);
  }
  std::unique_ptr<char[]> bigger(new char[cap]);
  move_input(0, bigger.get(), 0);
  r_->in = std::move(bigger);
  r_->in_cap = cap;
  in_ = r_->in.get();
}

// Moves in_[from, end_) to to_base + to, shifting offsets and request spans.
void Connection::move_input(std::size_t from, char* to_base, std::size_t to) {
  const std::size_t len = end_ - from;
  const auto old_lo = reinterpret_cast<std::uintptr_t>(in_ + from);
  const auto old_hi = old_lo + len;
  char* const dst = to_base + to;
  std::memmove(dst, in_ + from, len);
  if (head_live_) {
    auto fix = [&](std::string_view& s) {
      const auto p = reinterpret_cast<std::uintptr_t>(s.data());
      if (s.data() == nullptr || p < old_lo || p > old_hi) return;
      s = std::string_view(dst + (p - old_lo), s.size());
    };
    auto& m = r_->request;
    fix(m.method);
    fix(m.target);
    for (auto& f : m.fields) {
      fix(f.name);
      fix(f.value);
    }
    head_begin_ = head_begin_ - from + to;
    body_begin_ = body_begin_ - from + to;
    body_end_ = body_end_ - from + to;
    body_read_ = body_read_ - from + to;
  }
  begin_ = begin_ - from + to;
  end_ = end_ - from + to;
}

// ---------------------------------------------------------------------------
// Timeouts and closing.

void Connection::set_deadline(Wait kind, Seconds after) {
  wait_ = kind;
  deadline_ = kind == Wait::none
                  ? Clock::time_point::max()
                  : Clock::now() + std::chrono::duration_cast<Clock::duration>(after);
}

void Connection::check_timeout(Clock::time_point now) {
  if (wait_ == Wait::none || now < deadline_ || closed_) return;
  const Wait w = wait_;
  set_deadline(Wait::none, {});
  switch (w) {
    case Wait::none:
      return;
    case Wait::idle:
    case Wait::linger:
      close_now();
      return;
    case Wait::header:
    case Wait::body:
      // RFC 9110 §15.5.9: 408 when the request was started but not finished.
      respond_error(408, w == Wait::header ? "header timeout" : "body timeout");
      resume();
      return;
    case Wait::body_on_demand:
      close_after_ = true;
      {
        std::lock_guard lk(body_m_);
        if (body_error_ == BodyError::none) body_error_ = BodyError::timeout;
        fetch_pending_ = false;
      }
      body_cv_.notify_all();
      return;
    case Wait::write:
      fail_output(std::make_error_code(std::errc::timed_out));
      return;
  }
}

void Connection::drain() {
  if (closed_) return;
  // Idle: close now. Otherwise end_exchange/emit_head see draining() and
  // close after the response in progress.
  if (live_ || head_live_ || request_started_ || pending_output()) return;
  // A request already in the kernel's buffer was sent before the stop: serve
  // it (then close), rather than drop it unread.
  int queued = 0;
  if (::ioctl(fd_, FIONREAD, &queued) == 0 && queued > 0) return;
  close_now();
}

void Connection::close_now() {
  if (closed_) return;
  closed_ = true;
  dead_.store(true, std::memory_order_release);
  if (sock_.is_open()) {
    boost::system::error_code ignored;
    sock_.close(ignored);
  } else {
    ::close(fd_);
  }
  for (auto& [index, cb] : r_->callbacks) {
    asio::post(srv_.io, [cb = std::move(cb)] { cb(aborted_error()); });
  }
  r_->callbacks.clear();
  r_->segments.clear();
  {
    std::lock_guard lk(body_m_);
    if (body_error_ == BodyError::none && !body_complete_) body_error_ = BodyError::aborted;
  }
  body_cv_.notify_all();
  if (linked) srv_.unlink(this);
}

// ---------------------------------------------------------------------------
// Output.

void Connection::push_scratch(std::string_view text) {
  if (text.empty()) return;
  Segment s;
  s.kind = Segment::Kind::scratch;
  s.offset = r_->scratch.size();
  s.size = text.size();
  r_->scratch.append(text);
  // Adjacent scratch pieces become one iovec.
  auto& segs = r_->segments;
  if (!segs.empty() && segs.back().kind == Segment::Kind::scratch &&
      segs.back().offset + segs.back().size == s.offset && segs.size() > seg_i_ + 1) {
    segs.back().size += s.size;
    return;
  }
  segs.push_back(s);
}

void Connection::push_memory(const void* data, std::size_t size) {
  if (size == 0) return;
  const auto p = reinterpret_cast<std::uintptr_t>(data);
  const auto lo = reinterpret_cast<std::uintptr_t>(in_);
  if (p >= lo && p < lo + r_->in_cap) refs_input_ = true;
  Segment s;
  s.kind = Segment::Kind::memory;
  s.data = static_cast<const char*>(data);
  s.size = size;
  r_->segments.push_back(s);
}

// Writes as much as the socket takes. True when everything queued is out;
// false when waiting for the socket (wait: an async wait was started) or the
// connection failed.
bool Connection::flush(bool wait) {
  auto& segs = r_->segments;
  const auto t0 = now_if_stats();
  while (seg_i_ < segs.size()) {
    ssize_t n;
    const Segment& first = segs[seg_i_];
    if (first.kind == Segment::Kind::file) {
      off_t off = static_cast<off_t>(first.offset + seg_done_);
      const std::size_t want =
          static_cast<std::size_t>(std::min<std::uint64_t>(first.size - seg_done_, 1u << 30));
      n = ::sendfile(fd_, first.fd, &off, want);
      if (n == 0) {  // the file is shorter than promised
        fail_output(std::make_error_code(std::errc::io_error));
        return false;
      }
    } else {
      auto& iov = r_->iov;
      iov.clear();
      for (std::size_t i = seg_i_; i < segs.size() && iov.size() < kMaxIov; ++i) {
        const Segment& s = segs[i];
        if (s.kind == Segment::Kind::file) break;
        const char* p = s.kind == Segment::Kind::scratch ? r_->scratch.data() + s.offset : s.data;
        const std::uint64_t skip = i == seg_i_ ? seg_done_ : 0;
        iov.push_back({const_cast<char*>(p + skip), static_cast<std::size_t>(s.size - skip)});
      }
      n = ::writev(fd_, iov.data(), static_cast<int>(iov.size()));
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      add_since(Stage::write, t0);
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (wait) wait_writable();
        return false;
      }
      fail_output(std::error_code(errno, std::generic_category()));
      return false;
    }
    std::uint64_t left = static_cast<std::uint64_t>(n);
    while (seg_i_ < segs.size()) {
      const std::uint64_t rest = segs[seg_i_].size - seg_done_;
      if (left < rest) {
        seg_done_ += left;
        break;
      }
      left -= rest;
      ++seg_i_;
      seg_done_ = 0;
    }
  }
  add_since(Stage::write, t0);
  segs.clear();
  r_->scratch.clear();
  r_->owned.clear();
  seg_i_ = 0;
  seg_done_ = 0;
  refs_input_ = false;
  batch_ = 0;
  if (wait_ == Wait::write) set_deadline(Wait::none, {});
  for (auto& [index, cb] : r_->callbacks) {
    asio::post(srv_.io, [cb = std::move(cb)] { cb({}); });
  }
  r_->callbacks.clear();
  return true;
}

bool Connection::flush_blocking() {
  const auto limit =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(srv_.config.write_timeout);
  for (;;) {
    if (flush(false)) return true;
    if (closed_) return false;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(limit - Clock::now()).count();
    if (left <= 0) {
      fail_output(std::make_error_code(std::errc::timed_out));
      return false;
    }
    pollfd p{fd_, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(std::min<long long>(left, INT_MAX)));
  }
}

void Connection::wait_writable() {
  set_deadline(Wait::write, srv_.config.write_timeout);
  if (writing_) return;
  writing_ = true;
  if (!register_socket()) return;  // (writing_ was set: close_now ends it all)
  sock_.async_wait(asio::posix::stream_descriptor::wait_write,
                   [self = shared_from_this()](const boost::system::error_code& ec) {
                     self->writing_ = false;
                     if (ec || self->closed_) return;
                     if (!self->flush()) return;
                     if (self->live_ && self->on_demand_) self->fetch_body();
                     self->resume();
                   });
}

void Connection::fail_output(std::error_code ec) {
  for (auto& [index, cb] : r_->callbacks) {
    asio::post(srv_.io, [cb = std::move(cb), ec] { cb(ec); });
  }
  r_->callbacks.clear();
  close_now();
}

void Connection::emit_head() {
  head_emitted_ = true;
  if (!started_) {
    // finish() or write() without start(): the app produced no response.
    head_ = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n";
    status_ = 500;
    has_length_ = true;
    length_ = 0;
    has_date_ = has_server_ = has_te_ = app_close_ = false;
    started_ = true;
  }
  const auto& req = r_->request;
  const bool http11 = req.version_major == 1 && req.version_minor >= 1;
  no_body_ =
      req.method == "HEAD" || (status_ >= 100 && status_ < 200) || status_ == 204 || status_ == 304;
  if (!req.keep_alive || app_close_ || srv_.draining() || srv_.config.keepalive.count() <= 0 ||
      !body_complete_) {
    close_after_ = true;
  }
  if (!no_body_ && !has_length_) {
    if (has_te_) {
      close_after_ = true;  // the app framed the body itself; we cannot know its end
    } else if (http11) {
      chunked_ = true;  // RFC 9112 §7.1
    } else {
      close_after_ = true;  // HTTP/1.0: the body ends with the connection
    }
  }
  std::string& s = r_->scratch;
  const std::size_t offset = s.size();
  s += head_;
  if (!has_date_) {
    s += "Date: ";
    s += srv_.date.get();
    s += "\r\n";
  }
  if (!has_server_) s += "Server: anvil\r\n";
  if (chunked_) s += "Transfer-Encoding: chunked\r\n";
  if (close_after_) {
    if (!app_close_) s += "Connection: close\r\n";
  } else if (!http11) {
    s += "Connection: keep-alive\r\n";
  }
  s += "\r\n";
  Segment seg;
  seg.kind = Segment::Kind::scratch;
  seg.offset = offset;
  seg.size = s.size() - offset;
  r_->segments.push_back(seg);
}

void Connection::queue_callback(WriteCallback done) {
  if (done) r_->callbacks.emplace_back(r_->segments.size(), std::move(done));
}

void Connection::end_body(bool last) {
  if (!last) {
    if (!writing_) flush();
    return;
  }
  if (chunked_ && !no_body_) push_scratch("0\r\n\r\n");  // last-chunk, no trailers
  // A body shorter or longer than its Content-Length leaves the framing
  // unknown to the client: do not reuse the connection.
  if (has_length_ && !no_body_ && body_bytes_ != length_) close_after_ = true;
  end_exchange();
}

// How many of the next n body bytes may go out. With a Content-Length the
// client takes exactly that many bytes as the body (RFC 9112 §6.3); more from
// an app that declared fewer would be read as the start of the next response,
// so the excess is dropped (as gunicorn does) and end_body closes.
std::uint64_t Connection::body_room(std::uint64_t n) const {
  if (!has_length_) return n;
  if (body_bytes_ >= length_) return 0;
  return std::min(n, length_ - body_bytes_);
}

void Connection::do_write(std::span<const asio::const_buffer> pieces, WriteCallback done,
                          bool last) {
  if (closed_ || !live_) {
    if (done) asio::post(srv_.io, [done = std::move(done)] { done(aborted_error()); });
    return;
  }
  if (!head_emitted_) emit_head();
  std::size_t total = 0;
  for (const auto& p : pieces) total += p.size();
  if (total > 0 && !no_body_) {
    char size_line[24];
    if (chunked_) {
      auto [end, ec] = std::to_chars(size_line, size_line + 20, total, 16);
      *end++ = '\r';
      *end++ = '\n';
      push_scratch({size_line, static_cast<std::size_t>(end - size_line)});
    }
    std::uint64_t left = body_room(total);
    for (const auto& p : pieces) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(p.size(), left));
      if (n > 0) push_memory(p.data(), n);
      left -= n;
    }
    if (chunked_) push_scratch("\r\n");
    body_bytes_ += total;
  }
  queue_callback(std::move(done));
  end_body(last);
}

void Connection::do_send_file(int fd, std::uint64_t offset, std::uint64_t count, WriteCallback done,
                              bool last) {
  if (closed_ || !live_) {
    if (done) asio::post(srv_.io, [done = std::move(done)] { done(aborted_error()); });
    return;
  }
  if (!head_emitted_) emit_head();
  if (count > 0 && !no_body_) {
    if (chunked_) {
      char size_line[24];
      auto [end, ec] = std::to_chars(size_line, size_line + 20, count, 16);
      *end++ = '\r';
      *end++ = '\n';
      push_scratch({size_line, static_cast<std::size_t>(end - size_line)});
    }
    Segment s;
    s.kind = Segment::Kind::file;
    s.fd = fd;
    s.offset = offset;
    s.size = body_room(count);
    if (s.size > 0) r_->segments.push_back(s);
    if (chunked_) push_scratch("\r\n");
    body_bytes_ += count;
  }
  queue_callback(std::move(done));
  end_body(last);
}

void Connection::do_abort() {
  if (closed_ || !live_) return;
  // What is queued goes out (earlier pipelined responses, part of this one);
  // then the connection closes, which tells the client this response is cut.
  close_after_ = true;
  end_exchange();
}

// ---------------------------------------------------------------------------
// Exchange: request side.

std::string_view Connection::remote_address() const {
  if (listener_.address.bind.kind == Bind::Kind::unix_socket) return {};
  std::string& text = r_->remote_text;
  if (!text.empty()) return text;
  char buf[INET6_ADDRSTRLEN] = {};
  if (peer_.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&peer_);
    ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&peer_);
    ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
  }
  text = buf;
  return text;
}

std::uint16_t Connection::remote_port() const noexcept {
  if (peer_.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&peer_)->sin6_port);
  }
  if (peer_.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&peer_)->sin_port);
  }
  return 0;
}

std::string_view Connection::local_address() const {
  const Bind& b = listener_.address.bind;
  return b.kind == Bind::Kind::unix_socket ? std::string_view(b.path) : std::string_view(b.host);
}

std::uint16_t Connection::local_port() const noexcept { return listener_.address.bind.port; }

bool Connection::unix_socket() const noexcept {
  return listener_.address.bind.kind == Bind::Kind::unix_socket;
}

std::string_view Connection::buffered_body() const noexcept {
  if (on_demand_) return {};
  return {in_ + body_begin_, body_end_ - body_begin_};
}

BodyRead Connection::copy_body(char* dst, std::size_t n) {
  const std::size_t k = std::min(n, body_end_ - body_read_);
  if (k > 0) std::memcpy(dst, in_ + body_read_, k);
  body_read_ += k;
  if (k == 0 && !body_complete_) return {0, body_error_};
  return {k, BodyError::none};
}

BodyRead Connection::read_body(char* dst, std::size_t n) {
  if (n == 0) return {};
  if (!on_demand_) {
    // The whole body is in memory and does not change until the exchange ends.
    std::lock_guard lk(body_m_);
    return copy_body(dst, n);
  }
  if (on_loop_thread()) return read_body_sync(dst, n);
  return read_body_async(dst, n);
}

void Connection::queue_continue() {
  // RFC 9110 §15.2.1: no 100 once a final response has started.
  if (!continue_sent_ && !head_emitted_) push_scratch("HTTP/1.1 100 Continue\r\n\r\n");
  continue_sent_ = true;
}

Connection::Pump Connection::pump() {
  if (body_read_ == body_end_ && body_end_ != body_begin_) {
    body_read_ = body_end_ = body_begin_;  // drained: reuse the body region
  }
  const parser::Step st = parse();
  switch (st.event) {
    case parser::Event::body:
      on_body(st.consumed);
      return Pump::progress;
    case parser::Event::done:
      begin_ += st.consumed;
      body_complete_ = true;
      return Pump::done;
    case parser::Event::need_more:
      begin_ += st.consumed;
      return Pump::need_more;
    case parser::Event::head:
    case parser::Event::end:
    case parser::Event::error:
      break;
  }
  body_error_ = BodyError::bad_body;
  close_after_ = true;
  return Pump::error;
}

// The app runs on the loop thread (threads=1): block right here, with poll().
BodyRead Connection::read_body_sync(char* dst, std::size_t n) {
  if (closed_ || !live_) return {0, BodyError::aborted};
  queue_continue();
  if (pending_output() && !flush_blocking()) return {0, BodyError::closed};
  auto limit = Clock::now() + std::chrono::duration_cast<Clock::duration>(srv_.config.body_timeout);
  for (;;) {
    if (body_read_ < body_end_) return copy_body(dst, n);
    if (body_complete_) return {};
    if (body_error_ != BodyError::none) return {0, body_error_};
    if (pump() != Pump::need_more) continue;
    ensure_space();
    const ssize_t k = ::recv(fd_, in_ + end_, r_->in_cap - end_, 0);
    if (k > 0) {
      end_ += static_cast<std::size_t>(k);
      limit = Clock::now() + std::chrono::duration_cast<Clock::duration>(srv_.config.body_timeout);
      continue;
    }
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(limit - Clock::now()).count();
      if (left <= 0) {
        body_error_ = BodyError::timeout;
        close_after_ = true;
        continue;
      }
      pollfd p{fd_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(std::min<long long>(left, INT_MAX)));
      continue;
    }
    body_error_ = BodyError::closed;
    close_after_ = true;
  }
}

// The app runs on another thread: ask the loop for bytes and wait.
BodyRead Connection::read_body_async(char* dst, std::size_t n) {
  std::unique_lock lk(body_m_);
  const auto limit = Clock::now() +
                     std::chrono::duration_cast<Clock::duration>(srv_.config.body_timeout) +
                     std::chrono::seconds(1);
  for (;;) {
    if (body_read_ < body_end_) return copy_body(dst, n);
    if (body_complete_) return {};
    if (body_error_ != BodyError::none) return {0, body_error_};
    if (dead_.load(std::memory_order_acquire)) return {0, BodyError::aborted};
    if (!fetch_pending_) {
      fetch_pending_ = true;
      asio::post(srv_.io, [self = shared_from_this()] { self->fetch_body(); });
    }
    if (body_cv_.wait_until(lk, limit) == std::cv_status::timeout) {
      return {0, BodyError::timeout};
    }
  }
}

// Loop thread: read and parse until some body bytes (or the end) are there
// for a reader waiting in read_body_async().
void Connection::fetch_body() {
  if (closed_ || !live_ || !on_demand_) return;
  queue_continue();
  if (pending_output() && (writing_ || !flush())) return;  // wait_writable calls us again
  std::unique_lock lk(body_m_);
  for (;;) {
    if (body_read_ < body_end_ || body_complete_ || body_error_ != BodyError::none) break;
    if (pump() != Pump::need_more) continue;
    ensure_space();
    const ssize_t k = ::recv(fd_, in_ + end_, r_->in_cap - end_, 0);
    if (k > 0) {
      end_ += static_cast<std::size_t>(k);
      continue;
    }
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      lk.unlock();
      set_deadline(Wait::body_on_demand, srv_.config.body_timeout);
      wait_readable();
      return;
    }
    body_error_ = BodyError::closed;
    close_after_ = true;
  }
  fetch_pending_ = false;
  if (wait_ == Wait::body_on_demand) set_deadline(Wait::none, {});
  lk.unlock();
  body_cv_.notify_all();
}

// ---------------------------------------------------------------------------
// Exchange: response side.

StartError Connection::start(std::string_view status, std::span<const Header> headers) {
  if (headers_sent()) return StartError::already_sent;
  if (status.size() < 3 || (status.size() > 3 && status[3] != ' ') || !is_text(status)) {
    return StartError::bad_status;
  }
  int code = 0;
  for (int i = 0; i < 3; ++i) {
    if (status[i] < '0' || status[i] > '9') return StartError::bad_status;
    code = code * 10 + (status[i] - '0');
  }
  if (code < 100) return StartError::bad_status;
  bool has_length = false, has_date = false, has_server = false, has_te = false, close = false;
  std::uint64_t length = 0;
  head_.assign("HTTP/1.1 ");
  head_.append(status);
  if (status.size() == 3) head_ += ' ';  // RFC 9112 §4: SP before an empty reason
  head_ += "\r\n";
  for (const Header& h : headers) {
    if (h.name.empty() || !std::all_of(h.name.begin(), h.name.end(), [](char c) {
          return is_tchar(static_cast<unsigned char>(c));
        })) {
      return StartError::bad_header_name;
    }
    if (!is_text(h.value)) return StartError::bad_header_value;
    if (iequals(h.name, "content-length")) {
      std::uint64_t v = 0;
      auto [p, ec] = std::from_chars(h.value.data(), h.value.data() + h.value.size(), v);
      if (ec != std::errc() || p != h.value.data() + h.value.size() ||
          (has_length && v != length)) {
        return StartError::bad_header_value;
      }
      has_length = true;
      length = v;
    } else if (iequals(h.name, "date")) {
      has_date = true;
    } else if (iequals(h.name, "server")) {
      has_server = true;
    } else if (iequals(h.name, "transfer-encoding")) {
      has_te = true;
    } else if (iequals(h.name, "connection")) {
      close = close || has_token(h.value, "close");
    }
    head_.append(h.name);
    head_ += ": ";
    head_.append(h.value);
    head_ += "\r\n";
  }
  status_ = code;
  has_length_ = has_length;
  length_ = length;
  has_date_ = has_date;
  has_server_ = has_server;
  has_te_ = has_te;
  app_close_ = close;
  started_ = true;
  return StartError::none;
}

void Connection::write(std::span<const asio::const_buffer> pieces, WriteCallback done, bool last) {
  headers_sent_.store(true, std::memory_order_release);
  if (on_loop_thread()) {
    do_write(pieces, std::move(done), last);
    return;
  }
  asio::post(srv_.io, [self = shared_from_this(),
                       copy = std::vector<asio::const_buffer>(pieces.begin(), pieces.end()),
                       done = std::move(done),
                       last]() mutable { self->do_write(copy, std::move(done), last); });
}

void Connection::write(std::string data, WriteCallback done, bool last) {
  headers_sent_.store(true, std::memory_order_release);
  auto run = [this](std::string&& d, WriteCallback&& cb, bool l) {
    r_->owned.push_back(std::move(d));
    const std::string& s = r_->owned.back();
    const asio::const_buffer b(s.data(), s.size());
    do_write({&b, 1}, std::move(cb), l);
  };
  if (on_loop_thread()) {
    run(std::move(data), std::move(done), last);
    return;
  }
  asio::post(srv_.io,
             [self = shared_from_this(), run, data = std::move(data), done = std::move(done),
              last]() mutable { run(std::move(data), std::move(done), last); });
}

void Connection::send_file(int fd, std::uint64_t offset, std::uint64_t count, WriteCallback done,
                           bool last) {
  headers_sent_.store(true, std::memory_order_release);
  if (on_loop_thread()) {
    do_send_file(fd, offset, count, std::move(done), last);
    return;
  }
  asio::post(srv_.io,
             [self = shared_from_this(), fd, offset, count, done = std::move(done),
              last]() mutable { self->do_send_file(fd, offset, count, std::move(done), last); });
}

void Connection::finish() { write(std::span<const asio::const_buffer>{}, {}, true); }

void Connection::abort() {
  headers_sent_.store(true, std::memory_order_release);
  if (on_loop_thread()) {
    do_abort();
    return;
  }
  asio::post(srv_.io, [self = shared_from_this()] { self->do_abort(); });
}

bool Connection::on_loop_thread() const noexcept {
  return srv_.io.get_executor().running_in_this_thread();
}

void Connection::post(std::function<void()> fn) { asio::post(srv_.io, std::move(fn)); }

void Connection::add_stage_time(Stage stage, std::chrono::nanoseconds t) noexcept {
  if (stats_) srv_.add_stage(stage, t);
}

void Connection::add_since(Stage s, Clock::time_point t0) noexcept {
  if (stats_) srv_.add_stage(s, Clock::now() - t0);
}

}  // namespace anvil::server

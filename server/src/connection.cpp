// The connection's loop: read, parse, dispatch, answer, time out, close.
// Bodies are in body.cpp; the output queue and framing in output.cpp; the
// response head in response_head.cpp.
#include "connection.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <boost/asio/post.hpp>

#include "wall.hpp"

namespace anvil::server {
namespace {

constexpr Seconds kLingerTime{2.0};  // how long to drain input after an error response
// An idle connection that keeps its buffer for this many ticks gives it back.
constexpr std::uint8_t kParkAfterTicks = 2;

std::error_code aborted_error() { return std::make_error_code(std::errc::connection_aborted); }

Clock::time_point after(Seconds s) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(s);
}

// Resets a flag when the scope ends, also by an exception (the wall catches it
// further up; the connection must not be left thinking it is mid-advance).
class FlagScope {
 public:
  explicit FlagScope(bool& flag) : flag_(flag) { flag_ = true; }
  ~FlagScope() { flag_ = false; }
  FlagScope(const FlagScope&) = delete;
  FlagScope& operator=(const FlagScope&) = delete;

 private:
  bool& flag_;
};

}  // namespace

Connection::Connection(Server::Impl& server, int fd, const Listener& listener,
                       const sockaddr_storage& peer)
    : srv_(server),
      sock_(server.io),
      fd_(fd),
      listener_(listener),
      peer_(peer),
      stats_(server.config.stats) {}

Connection::~Connection() {
  if (phase_ != Phase::closed && !sock_.is_open()) ::close(fd_);  // else sock_ closes it
  if (linked) srv_.unlink(this);
  if (body_.spool.is_open()) {
    srv_.release_spool(body_.spool.size());
    body_.spool.close();
  }
  if (r_) srv_.release(std::move(r_));
}

void Connection::start() {
  srv_.link(this);
  enter(Phase::idle);
  resume();
}

void Connection::refuse() {
  srv_.link(this);
  acquire_buffer();
  respond_error(503, "too many connections");
  resume();
}

// ---------------------------------------------------------------------------
// The machine.

void Connection::enter(Phase p) {
  phase_ = p;
  switch (p) {
    case Phase::idle:
      idle_ticks_ = 0;
      srv_.relist(this, Server::Impl::List::idle);
      return;
    case Phase::head:
      srv_.relist(this, Server::Impl::List::head);
      return;
    case Phase::lingering:
      srv_.relist(this, Server::Impl::List::idle);  // nothing in progress: shed first
      return;
    case Phase::body:
    case Phase::dispatched:
    case Phase::closing:
    case Phase::closed:
      srv_.relist(this, Server::Impl::List::none);
      return;
  }
}

void Connection::resume() {
  if (in_advance_) {
    advance_again_ = true;
    return;
  }
  FlagScope scope(in_advance_);
  do {
    advance_again_ = false;
    advance();
  } while (advance_again_ && phase_ != Phase::closed);
}

// The whole machine: what each phase does when something happened.
void Connection::advance() {
  for (;;) {
    switch (phase_) {
      case Phase::idle:
      case Phase::head:
      case Phase::body:
        if (!parse_next()) return;
        break;
      case Phase::dispatched:
        // The handler has the exchange; its writes flush as they come.
        if (!r_->out.empty() && !writing_) flush_now();
        return;
      case Phase::closing:
        if (!r_->out.empty() && (writing_ || !flush_now())) return;
        finish_close();
        return;
      case Phase::lingering:
      case Phase::closed:
        return;
    }
  }
}

// One parser event in idle, head or body; false when waiting (for bytes or
// for the socket to take responses).
bool Connection::parse_next() {
  if (!r_) acquire_buffer();  // a parked connection woke up
  // Bounded pipelining: answer a batch before parsing further requests.
  if (batch_ >= srv_.config.max_pipeline && !r_->out.empty()) {
    if (writing_ || !flush_now()) return false;
  }
  const parser::Step st = parse();
  switch (st.event) {
    case parser::Event::head:
      on_head(st.consumed);
      return true;
    case parser::Event::body:
      if (store_piece(r_->parser->body())) begin_ += st.consumed;
      return true;
    case parser::Event::done:
      begin_ += st.consumed;
      body_done();
      dispatch();
      return true;
    case parser::Event::error: {
      const parser::Error e = r_->parser->error();
      respond_error(parser::status_of(e), parser::code_of(e));
      return true;
    }
    case parser::Event::need_more:
      begin_ += st.consumed;
      // Responses go out before we wait: one writev per batch of requests.
      if (!r_->out.empty() && (writing_ || !flush_now())) return false;
      return read_more();
    case parser::Event::end:
      return false;
  }
  return false;
}

parser::Step Connection::parse() {
  const auto t0 = now_if_stats();
  const parser::Step st = r_->parser->next({in_ + begin_, end_ - begin_});
  add_since(Stage::parse, t0);
  return st;
}

void Connection::on_head(std::size_t consumed) {
  head_begin_ = begin_;
  begin_ += consumed;
  body_begin_ = body_end_ = begin_;
  r_->request = r_->parser->message();  // reuses the fields' capacity
  const parser::Message& m = r_->request;
  enter(Phase::body);
  if (m.method == "CONNECT") {
    // RFC 9110 §9.3.6 asks a proxy to open a tunnel; this server is an origin
    // server and tunnels to nowhere. §9.1: a method it does not implement is
    // 501 (405 would need an Allow field listing what the app takes, which the
    // core cannot know). See server/README.md.
    respond_error(501, "CONNECT: this server is not a proxy");
    return;
  }
  if (m.body == parser::BodyKind::none) {
    begin_body(BodyStage::none);
    return;  // `done` follows
  }
  if (m.expect_continue) {
    // RFC 9110 §10.1.1: the client waits for 100 before it sends the body;
    // the handler decides whether it wants it.
    begin_body(BodyStage::deferred);
    dispatch();
    return;
  }
  begin_body(BodyStage::reading);
}

void Connection::dispatch() {
  enter(Phase::dispatched);
  handler_holds_ = true;
  started_ = false;
  head_emitted_ = false;
  r_->head.status = 0;
  framing_ = Framing{};
  framer_.start(framing_, false, 0);
  headers_sent_.store(false, std::memory_order_relaxed);
  read_deadline_ = Clock::time_point::max();
  std::shared_ptr<Exchange> exchange(shared_from_this(), static_cast<Exchange*>(this));
  contain([&] { srv_.handler->handle(std::move(exchange)); },
          [this](std::string_view what) { fail(what); });
}

void Connection::end_exchange() {
  if (phase_ != Phase::dispatched) return;
  srv_.count_request();
  srv_.log_access(*this, r_->head.status, framer_.sent());
  // A body the handler left unread (100-continue) is still on its way: the
  // next bytes are not a request.
  const bool body_left = body_unfinished();
  end_body_state();
  served_ = true;
  ++batch_;
  if (body_left || srv_.draining()) close_after();
  if (after_ != After::next_request) {
    enter(Phase::closing);
  } else if (begin_ < end_) {
    // Pipelined bytes are the start of the next request.
    enter(Phase::head);
    read_deadline_ = after(srv_.config.header_timeout);
  } else {
    enter(Phase::idle);
  }
  resume();
}

void Connection::respond_error(int status, std::string_view detail) {
  if (phase_ == Phase::closed) return;
  end_body_state();
  after_ = After::linger;  // the rest of the request may still be on its way
  r_->head.status = status;
  enter(Phase::closing);
  const std::string_view date = srv_.date.get();
  r_->out.copy_with([&](std::string& s) { append_error_response(s, status, detail, date); });
}

void Connection::finish_close() {
  if (after_ != After::linger) {
    close_now();
    return;
  }
  // Half-close and read what the client still sends, so that closing with
  // unread data does not send a RST that destroys the error response before
  // the client reads it (RFC 9112 §9.6).
  ::shutdown(fd_, SHUT_WR);
  enter(Phase::lingering);
  if (reading_ == ReadOp::read) {
    // A read into the buffer is pending: cancel it (its completion, aborted,
    // goes on lingering) so that the buffer can go back to the pool now.
    boost::system::error_code ignored;
    sock_.cancel(ignored);
  }
  if (r_) srv_.release(std::move(r_));  // lingering reads into the stack
  in_ = nullptr;
  begin_ = end_ = 0;
  read_deadline_ = after(std::min(kLingerTime, srv_.config.header_timeout));
  linger_read();
}

void Connection::linger_read() {
  char sink[4096];
  for (int i = 0; i < 64; ++i) {
    const ssize_t n = ::recv(fd_, sink, sizeof sink, 0);
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

// ---------------------------------------------------------------------------
// Reading.

void Connection::acquire_buffer() {
  r_ = srv_.acquire();
  in_ = r_->in.get();
  begin_ = end_ = 0;
}

// An idle connection gives its buffer, parser and output queue back to the
// pool and waits for readable: it then costs its socket and this object.
void Connection::park() {
  if (phase_ != Phase::idle || !r_ || begin_ != end_ || !r_->out.empty()) return;
  if (reading_ == ReadOp::read) {
    // The pending read targets the buffer: cancel it; its completion parks.
    park_asked_ = true;
    boost::system::error_code ignored;
    sock_.cancel(ignored);
    return;
  }
  srv_.release(std::move(r_));
  in_ = nullptr;
  begin_ = end_ = 0;
  wait_readable();
}

void Connection::set_read_deadline(Seconds s) { read_deadline_ = after(s); }

bool Connection::read_more() {
  if (begin_ == end_ && !head_live()) begin_ = end_ = 0;
  if (!ensure_space()) {
    // Only a head that no limit stopped could fill the bounded buffer.
    respond_error(phase_ == Phase::body ? 413 : 431, "input buffer full");
    return true;
  }
  switch (phase_) {
    case Phase::idle:
      set_read_deadline(served_ ? srv_.config.keepalive : srv_.config.header_timeout);
      break;
    case Phase::body:
      set_read_deadline(srv_.config.body_timeout);  // each wait for body bytes
      break;
    default:
      break;  // head: the whole head shares one deadline (slowloris)
  }
  if (sock_.is_open() && !stats_) {
    // Registered: let Asio read. Its reactor reads when epoll reports the
    // socket and skips the speculative recv after one that drained it, so a
    // keep-alive request costs one recv and one writev; our own recv then
    // async_wait would add an EAGAIN recv and an epoll_ctl(MOD) re-arm per
    // wait. (--stats keeps the direct path below to time every recv.)
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
    if (phase_ == Phase::idle) {
      park();  // nothing to read: wait without a buffer
    } else {
      wait_readable();
    }
    return false;
  }
  // End of input (or reset): every complete request has been answered; a
  // partial one is dropped.
  close_now();
  return false;
}

void Connection::on_bytes(std::size_t n) {
  end_ += n;
  if (phase_ == Phase::idle) {
    enter(Phase::head);
    set_read_deadline(srv_.config.header_timeout);
  }
}

void Connection::async_read() {
  if (reading_ != ReadOp::none) return;
  reading_ = ReadOp::read;
  sock_.async_read_some(
      asio::buffer(in_ + end_, r_->in_cap - end_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        contain([&] { self->on_read(ec, n); }, [&](std::string_view w) { self->fail(w); });
      });
}

void Connection::on_read(const boost::system::error_code& ec, std::size_t n) {
  reading_ = ReadOp::none;
  if (phase_ == Phase::closed) return;
  if (phase_ == Phase::lingering) {
    linger_read();
    return;
  }
  if (ec == asio::error::operation_aborted) {
    if (park_asked_) {
      park_asked_ = false;
      park();
    }
    return;
  }
  park_asked_ = false;
  if (ec) {
    close_now();  // EOF or reset, as in read_more()
    return;
  }
  on_bytes(n);
  resume();
}

void Connection::wait_readable() {
  if (reading_ != ReadOp::none || !register_socket()) return;
  reading_ = ReadOp::wait;
  sock_.async_wait(asio::posix::stream_descriptor::wait_read,
                   [self = shared_from_this()](const boost::system::error_code& ec) {
                     contain([&] { self->on_readable(ec); },
                             [&](std::string_view w) { self->fail(w); });
                   });
}

void Connection::on_readable(const boost::system::error_code& ec) {
  reading_ = ReadOp::none;
  if (ec || phase_ == Phase::closed) return;
  switch (phase_) {
    case Phase::lingering:
      linger_read();
      return;
    case Phase::dispatched:
      pump_body();  // a body read on demand
      return;
    default:
      resume();
      return;
  }
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

// Makes room after end_ for a read: drops consumed bytes, else grows the
// buffer, never past Server::Impl::max_input(). False when it is full there.
bool Connection::ensure_space() {
  if (head_live() && begin_ > body_end_) {
    // Consumed chunk framing between the body and the unconsumed bytes.
    std::memmove(in_ + body_end_, in_ + begin_, end_ - begin_);
    end_ -= begin_ - body_end_;
    begin_ = body_end_;
  }
  if (end_ < r_->in_cap) return true;
  const std::size_t keep = head_live() ? head_begin_ : begin_;
  if (keep > 0) {
    move_input(keep, in_, 0);
    return true;
  }
  if (r_->in_cap >= srv_.max_input()) return false;
  // Grown by doubling as bytes arrive: a declared length decides nothing.
  const std::size_t cap = std::min(r_->in_cap * 2, srv_.max_input());
  std::unique_ptr<char[]> bigger(new char[cap]);
  move_input(0, bigger.get(), 0);
  r_->in = std::move(bigger);
  r_->in_cap = cap;
  in_ = r_->in.get();
  return true;
}

// Moves in_[from, end_) to to_base + to, shifting offsets and request spans.
void Connection::move_input(std::size_t from, char* to_base, std::size_t to) {
  const std::size_t len = end_ - from;
  const auto old_lo = reinterpret_cast<std::uintptr_t>(in_ + from);
  const auto old_hi = old_lo + len;
  char* const dst = to_base + to;
  std::memmove(dst, in_ + from, len);
  if (head_live()) {
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
  }
  begin_ = begin_ - from + to;
  end_ = end_ - from + to;
}

// ---------------------------------------------------------------------------
// Timeouts, drain, shedding, closing.

void Connection::on_tick(Clock::time_point now) {
  if (phase_ == Phase::closed) return;
  if (now >= write_deadline_) {
    // The client stopped taking the response.
    write_deadline_ = Clock::time_point::max();
    if (r_) r_->out.clear();
    run_callbacks(std::make_error_code(std::errc::timed_out));
    close_now();
    return;
  }
  if (now >= read_deadline_) {
    read_deadline_ = Clock::time_point::max();
    switch (phase_) {
      case Phase::head:
      case Phase::body:
        // RFC 9110 §15.5.9: 408 when the request was started but not finished.
        respond_error(408, phase_ == Phase::head ? "header timeout" : "body timeout");
        resume();
        return;
      case Phase::dispatched:
        body_failed(BodyError::timeout);  // a body read on demand stalled
        return;
      case Phase::idle:
      case Phase::closing:
      case Phase::lingering:
      case Phase::closed:
        close_now();
        return;
    }
  }
  if (phase_ == Phase::idle && r_ && ++idle_ticks_ >= kParkAfterTicks) park();
}

// An idle connection is not closed at once: a request already in the
// kernel's buffer, or on its way, was sent before the client could know of
// the stop, and closing now would reset it. The connection lives out its
// keep-alive timeout; a request in that time is answered with Connection:
// close (end_exchange sees draining()). Others close after their response.
void Connection::drain() {
  if (phase_ != Phase::idle) return;
  read_deadline_ = std::min(read_deadline_, after(srv_.config.keepalive));
}

void Connection::shed() {
  if (phase_ == Phase::head && r_) {
    // A head in progress, cut to make room: tell it why if the socket takes it.
    respond_error(503, "too many connections");
    flush_now(/*wait=*/false);
  }
  close_now();
}

void Connection::close_now() {
  if (phase_ == Phase::closed) return;
  enter(Phase::closed);
  dead_.store(true, std::memory_order_release);
  if (sock_.is_open()) {
    boost::system::error_code ignored;
    sock_.close(ignored);
  } else {
    ::close(fd_);
  }
  if (r_) {
    r_->out.clear();
    run_callbacks(aborted_error());
  }
  end_body_state();
  if (linked) srv_.unlink(this);
  // A handler that has not finished may still read request() and
  // buffered_body(): their bytes stay until the connection is destroyed.
  if (r_ && !handler_holds_) {
    srv_.release(std::move(r_));
    in_ = nullptr;
  }
}

void Connection::fail(std::string_view what) noexcept {
  contain(
      [&] {
        srv_.log_failure(this, what);
        if (phase_ == Phase::closed) return;
        if (phase_ == Phase::closing || phase_ == Phase::lingering || !r_) {
          close_now();  // failed again while ending: no second try
          return;
        }
        if (phase_ == Phase::dispatched && head_emitted_) {
          // Part of the response went out: cutting the connection tells the
          // client it is incomplete.
          after_ = After::close;
          end_exchange();
          return;
        }
        // Nothing of this response went out: 500, then close.
        respond_error(500, "internal error");
        resume();
      },
      [&](std::string_view) { close_now(); });
}

// ---------------------------------------------------------------------------
// Output.

// Writes what is queued. True when all of it is out; false when waiting for
// the socket (wait: a wait for writable was started) or the connection failed.
bool Connection::flush_now(bool wait) {
  const auto t0 = now_if_stats();
  std::error_code ec;
  std::uint64_t sent = sent_.load(std::memory_order_relaxed);
  const OutputQueue::Flush f = r_->out.flush(fd_, ec, sent);
  sent_.store(sent, std::memory_order_relaxed);
  add_since(Stage::write, t0);
  switch (f) {
    case OutputQueue::Flush::done:
      batch_ = 0;
      write_deadline_ = Clock::time_point::max();
      run_callbacks({});
      return true;
    case OutputQueue::Flush::blocked:
      if (wait) wait_writable();
      return false;
    case OutputQueue::Flush::failed:
      run_callbacks(ec);
      close_now();
      return false;
  }
  return false;
}

// The loop thread waits here (poll) while an app on it needs the socket to
// take bytes first, never past limit.
bool Connection::flush_blocking(Clock::time_point limit) {
  for (;;) {
    if (flush_now(/*wait=*/false)) return true;
    if (phase_ == Phase::closed) return false;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(limit - Clock::now()).count();
    if (left <= 0) {
      if (r_) r_->out.clear();
      run_callbacks(std::make_error_code(std::errc::timed_out));
      close_now();
      return false;
    }
    pollfd p{fd_, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(std::min<long long>(left, INT_MAX)));
  }
}

void Connection::wait_writable() {
  write_deadline_ = after(srv_.config.write_timeout);
  if (writing_ || !register_socket()) return;
  writing_ = true;
  sock_.async_wait(asio::posix::stream_descriptor::wait_write,
                   [self = shared_from_this()](const boost::system::error_code& ec) {
                     contain(
                         [&] {
                           self->writing_ = false;
                           if (ec || self->phase_ == Phase::closed) return;
                           if (!self->flush_now()) return;
                           if (self->phase_ == Phase::dispatched) self->pump_body();
                           self->resume();
                         },
                         [&](std::string_view w) { self->fail(w); });
                   });
}

// Callbacks run later, on the loop thread, each behind the wall: one that
// throws ends its own connection.
void Connection::run_callbacks(std::error_code ec) {
  if (!r_) return;
  r_->out.take_callbacks([&](WriteCallback&& cb) {
    asio::post(srv_.io, [self = shared_from_this(), cb = std::move(cb), ec] {
      contain([&] { cb(ec); }, [&](std::string_view w) { self->fail(w); });
    });
  });
}

void Connection::emit_head() {
  head_emitted_ = true;
  if (!started_) {
    // finish() or write() without start(): the handler produced no response.
    internal_error_head(r_->head);
    started_ = true;
  }
  const RequestFacts facts = facts_of(r_->request);
  const bool server_closes = srv_.draining() || srv_.config.keepalive.count() <= 0 ||
                             body_unfinished() || after_ != After::next_request;
  framing_ = decide_framing(r_->head, facts, server_closes);
  if (framing_.close) close_after();
  framer_.start(framing_, r_->head.has_length, r_->head.length);
  const std::string_view date = srv_.date.get();
  r_->out.copy_with([&](std::string& s) { append_head(s, r_->head, framing_, facts, date); });
}

void Connection::end_body(bool last) {
  if (!last) {
    if (!writing_) flush_now();
    return;
  }
  framer_.finish(r_->out);
  handler_holds_ = false;
  // A body shorter or longer than its Content-Length leaves the framing
  // unknown to the client: do not reuse the connection.
  if (!framer_.length_kept()) close_after();
  end_exchange();
}

void Connection::do_write(std::span<const asio::const_buffer> pieces, WriteCallback done,
                          bool last) {
  if (phase_ != Phase::dispatched) {
    if (last) handler_holds_ = false;
    if (done) asio::post(srv_.io, [done = std::move(done)] { done(aborted_error()); });
    return;
  }
  if (!head_emitted_) emit_head();
  framer_.write(r_->out, pieces);
  r_->out.after_flush(std::move(done));
  end_body(last);
}

void Connection::do_send_file(int fd, std::uint64_t offset, std::uint64_t count, WriteCallback done,
                              bool last) {
  if (phase_ != Phase::dispatched) {
    if (done) asio::post(srv_.io, [done = std::move(done)] { done(aborted_error()); });
    return;
  }
  if (!head_emitted_) emit_head();
  framer_.write_file(r_->out, fd, offset, count);
  r_->out.after_flush(std::move(done));
  end_body(last);
}

void Connection::do_abort() {
  handler_holds_ = false;
  if (phase_ != Phase::dispatched) return;
  // What is queued goes out (earlier pipelined responses, part of this one);
  // then the connection closes, which tells the client this response is cut.
  after_ = After::close;
  end_exchange();
}

// ---------------------------------------------------------------------------
// Exchange: addresses.

namespace {

void format_address(const sockaddr_storage& peer, char (&buf)[INET6_ADDRSTRLEN]) {
  if (peer.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&peer);
    ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&peer);
    ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
  }
}

}  // namespace

std::string_view Connection::remote_address() const {
  if (unix_socket()) return {};
  std::string& text = r_->remote_text;
  if (!text.empty()) return text;
  char buf[INET6_ADDRSTRLEN] = {};
  format_address(peer_, buf);
  text = buf;
  return text;
}

std::string Connection::peer_text() const {
  if (unix_socket()) return "unix:" + listener_.address.bind.path;
  char buf[INET6_ADDRSTRLEN] = {};
  format_address(peer_, buf);
  const std::string port = std::to_string(remote_port());
  return peer_.ss_family == AF_INET6 ? "[" + std::string(buf) + "]:" + port
                                     : std::string(buf) + ":" + port;
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

// ---------------------------------------------------------------------------
// Exchange: response side (any thread; the work happens on the loop).

StartError Connection::start(std::string_view status, std::span<const Header> headers) {
  if (headers_sent()) return StartError::already_sent;
  const StartError e = build_head(status, headers, r_->pending_head);
  if (e != StartError::none) return e;
  std::swap(r_->head, r_->pending_head);
  started_ = true;
  return StartError::none;
}

StartError Connection::add_length(std::uint64_t n) {
  if (headers_sent()) return StartError::already_sent;
  if (!started_) return StartError::bad_status;  // no head to add to
  return server::add_length(r_->head, n);
}

template <typename F>
void Connection::on_loop(F&& f) {
  if (on_loop_thread()) {
    f();
    return;
  }
  asio::post(srv_.io, [self = shared_from_this(), f = std::forward<F>(f)]() mutable {
    contain([&] { f(); }, [&](std::string_view w) { self->fail(w); });
  });
}

void Connection::write(std::span<const asio::const_buffer> pieces, WriteCallback done, bool last) {
  headers_sent_.store(true, std::memory_order_release);
  if (on_loop_thread()) {
    do_write(pieces, std::move(done), last);
    return;
  }
  on_loop([this, copy = std::vector<asio::const_buffer>(pieces.begin(), pieces.end()),
           done = std::move(done), last]() mutable { do_write(copy, std::move(done), last); });
}

void Connection::write(std::string data, WriteCallback done, bool last) {
  headers_sent_.store(true, std::memory_order_release);
  on_loop([this, data = std::move(data), done = std::move(done), last]() mutable {
    if (phase_ != Phase::dispatched || !r_) {
      do_write({}, std::move(done), last);
      return;
    }
    const std::string& kept = r_->out.keep(std::move(data));
    const asio::const_buffer b(kept.data(), kept.size());
    do_write({&b, 1}, std::move(done), last);
  });
}

void Connection::send_file(int fd, std::uint64_t offset, std::uint64_t count, WriteCallback done,
                           bool last) {
  headers_sent_.store(true, std::memory_order_release);
  on_loop([this, fd, offset, count, done = std::move(done), last]() mutable {
    do_send_file(fd, offset, count, std::move(done), last);
  });
}

void Connection::finish() { write(std::span<const asio::const_buffer>{}, {}, true); }

void Connection::abort() {
  headers_sent_.store(true, std::memory_order_release);
  on_loop([this] { do_abort(); });
}

bool Connection::on_loop_thread() const noexcept {
  return srv_.io.get_executor().running_in_this_thread();
}

void Connection::post(std::function<void()> fn) {
  asio::post(srv_.io, [self = shared_from_this(), fn = std::move(fn)] {
    contain([&] { fn(); }, [&](std::string_view w) { self->fail(w); });
  });
}

void Connection::add_stage_time(Stage stage, std::chrono::nanoseconds t) noexcept {
  if (stats_) srv_.add_stage(stage, t);
}

void Connection::add_since(Stage s, Clock::time_point t0) noexcept {
  if (stats_) srv_.add_stage(s, Clock::now() - t0);
}

}  // namespace anvil::server

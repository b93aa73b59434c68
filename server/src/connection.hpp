// One HTTP/1.1 connection: reads and parses requests, reads their bodies,
// runs the handler, writes the responses in request order. It is also the
// Exchange of its current request (one at a time), handed out as an aliasing
// shared_ptr: no allocation per request. It owns itself through
// shared_from_this() while an operation is pending. Loop thread only, except
// the Exchange methods (see handler.hpp).
//
// Its state is one Phase (the switch in Connection::advance() is the whole
// machine); the output queue and the body have their own small states
// (output.hpp, body.hpp). The phases, and the events that move between them:
//
//   idle ──bytes──► head ──head parsed──► body ──body done──► dispatched
//     ▲               │    (no body, or 100-continue) ──────────►  │
//     │               │                                            │ finish()/abort()
//     └── response out, keep-alive (pipelined bytes: head) ◄───────┘
//   any ──error, timeout, close wanted──► closing ──queue empty──► lingering ──► closed
//                                                   (or at once) ──────────────► closed
//
// Files: connection.cpp (the loop: read, parse, dispatch, timeouts, closing),
// body.cpp (reading bodies ahead and read_body()), output.cpp (the queue and
// body framing), response_head.cpp (start()'s checks and the head).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "body.hpp"
#include "impl.hpp"
#include "output.hpp"
#include "response_head.hpp"

namespace anvil::server {

class Connection final : public Exchange, public std::enable_shared_from_this<Connection> {
 public:
  enum class Phase : std::uint8_t {
    idle,        // no byte of a request yet (new, or between requests); a parked
                 // idle connection holds no buffer at all
    head,        // a request head is arriving; the whole head has one deadline
    body,        // the head is parsed; the body is read ahead before dispatch
    dispatched,  // the handler has the exchange, until finish() or abort()
    closing,     // no more requests: what is queued goes out, then close or linger
    lingering,   // half-closed after an error answer: input is read and dropped
    closed,
  };

  Connection(Server::Impl& server, int fd, const Listener& listener, const sockaddr_storage& peer);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  // Over the connection limit with nothing to shed: 503, then close.
  void refuse();
  // Deadlines (timeouts) and parking of long-idle connections.
  void on_tick(Clock::time_point now);
  // Graceful stop: an idle connection closes at its keep-alive timeout, or
  // after answering one more request; others close after the response in
  // progress.
  void drain();
  // At the connection limit: ends this connection (idle: silently; a head in
  // progress: a 503 if the socket takes it).
  void shed();
  void close_now();
  // Contains a failure (an exception out of the connection's own code or a
  // handler's callback): logs one line, answers 500 if nothing was sent for
  // the exchange in progress, closes.
  void fail(std::string_view what) noexcept;

  Phase phase() const noexcept { return phase_; }
  // False once an idle connection has parked (or a lingering one let go of
  // its buffer): it costs only this object and its socket.
  bool holds_buffer() const noexcept { return r_ != nullptr; }
  // "127.0.0.1:54321", "[::1]:54321" or "unix:PATH", for log lines.
  std::string peer_text() const;

  // Server::Impl's lists: every open connection, and the idle or head list.
  Connection* prev = nullptr;
  Connection* next = nullptr;
  Connection* lru_prev = nullptr;
  Connection* lru_next = nullptr;
  std::uint8_t list = 0;  // Server::Impl::List the connection is in
  bool linked = false;

  // Exchange
  const parser::Message& request() const noexcept override { return r_->request; }
  std::string_view remote_address() const override;
  std::uint16_t remote_port() const noexcept override;
  std::string_view local_address() const override;
  std::uint16_t local_port() const noexcept override;
  bool unix_socket() const noexcept override;
  bool body_buffered() const noexcept override;
  std::string_view buffered_body() const noexcept override;
  BodyRead read_body(char* dst, std::size_t n) override;
  StartError start(std::string_view status, std::span<const Header> headers) override;
  StartError add_length(std::uint64_t n) override;
  bool headers_sent() const noexcept override {
    return headers_sent_.load(std::memory_order_acquire);
  }
  void write(std::span<const asio::const_buffer> pieces, WriteCallback done, bool last) override;
  void write(std::string data, WriteCallback done, bool last) override;
  void send_file(int fd, std::uint64_t offset, std::uint64_t count, WriteCallback done,
                 bool last) override;
  void finish() override;
  std::uint64_t sent_bytes() const noexcept override {
    return sent_.load(std::memory_order_relaxed);
  }
  void abort() override;
  bool on_loop_thread() const noexcept override;
  void post(std::function<void()> fn) override;
  bool stats_enabled() const noexcept override { return stats_; }
  void add_stage_time(Stage stage, std::chrono::nanoseconds t) noexcept override;

 private:
  // What happens once the current response is out.
  enum class After : std::uint8_t { next_request, close, linger };

  // --- the machine (connection.cpp) -----------------------------------------
  void enter(Phase p);
  void resume();
  void advance();
  bool parse_next();
  parser::Step parse();
  void on_head(std::size_t consumed);
  void dispatch();
  void end_exchange();
  void respond_error(int status, std::string_view detail);
  void finish_close();
  void linger_read();

  // --- reading ---------------------------------------------------------------
  void acquire_buffer();
  void park();
  bool read_more();
  void on_bytes(std::size_t n);
  void async_read();
  void on_read(const boost::system::error_code& ec, std::size_t n);
  void wait_readable();
  void on_readable(const boost::system::error_code& ec);
  bool register_socket();
  bool ensure_space();
  void move_input(std::size_t from, char* to_base, std::size_t to);
  void set_read_deadline(Seconds after);

  void close_after() noexcept {
    if (after_ == After::next_request) after_ = After::close;
  }

  // --- output ------------------------------------------------------------------
  bool flush_now(bool wait = true);
  bool flush_blocking(Clock::time_point limit);
  void wait_writable();
  void run_callbacks(std::error_code ec);
  void emit_head();
  void do_write(std::span<const asio::const_buffer> pieces, WriteCallback done, bool last);
  void do_send_file(int fd, std::uint64_t offset, std::uint64_t count, WriteCallback done,
                    bool last);
  void do_abort();
  void end_body(bool last);
  template <typename F>
  void on_loop(F&& f);

  // --- bodies (body.cpp) -------------------------------------------------------
  void begin_body(BodyStage stage);
  bool body_unfinished() noexcept;
  bool store_piece(std::string_view piece);
  bool spool_memory();
  bool store_failed(std::error_code ec, std::string_view what);
  void body_done();
  void set_body_failed(BodyError e);
  void body_failed(BodyError e);
  void end_body_state();
  BodyRead copy_out(char* dst, std::size_t n);
  std::optional<BodyRead> read_now(char* dst, std::size_t n);
  BodyRead read_body_here(char* dst, std::size_t n);
  BodyRead read_body_waiting(char* dst, std::size_t n);
  void request_body();
  bool pump_buffered();
  enum class Fill : std::uint8_t { over, blocked };  // the body ended / the socket is empty
  Fill fill_body();
  void pump_body();
  void pump_blocking(Clock::time_point limit);
  void queue_continue();

  Clock::time_point now_if_stats() const noexcept {
    return stats_ ? Clock::now() : Clock::time_point{};
  }
  void add_since(Stage s, Clock::time_point t0) noexcept;

  Server::Impl& srv_;
  asio::posix::stream_descriptor sock_;
  const int fd_;
  const Listener& listener_;
  sockaddr_storage peer_;
  std::unique_ptr<Resources> r_;  // null while parked (idle with no buffer)
  const bool stats_;

  Phase phase_ = Phase::idle;
  After after_ = After::next_request;
  // Deadlines: reading (idle, head, body, on-demand body, linger) and writing.
  Clock::time_point read_deadline_ = Clock::time_point::max();
  Clock::time_point write_deadline_ = Clock::time_point::max();
  // The pending read operation: an async read into the buffer, or a wait
  // for readable (no buffer).
  enum class ReadOp : std::uint8_t { none, read, wait };
  ReadOp reading_ = ReadOp::none;
  bool writing_ = false;         // a wait for writable is pending
  bool park_asked_ = false;      // the pending read was cancelled to park
  std::uint8_t idle_ticks_ = 0;  // ticks seen while idle with a buffer (parked at 2)
  bool served_ = false;          // a response went out: idle waits use --keepalive
  bool in_advance_ = false;
  bool advance_again_ = false;
  std::atomic<bool> dead_{false};       // phase closed, readable from app threads
  std::atomic<std::uint64_t> sent_{0};  // bytes handed to the kernel (sent_bytes())
  int batch_ = 0;                       // responses queued since the last flush

  // Input: unconsumed bytes are in_[begin_, end_). While a request is live
  // its head is in_[head_begin_, body_begin_) and its in-memory body in
  // in_[body_begin_, body_end_).
  char* in_ = nullptr;
  std::size_t begin_ = 0, end_ = 0;
  std::size_t head_begin_ = 0, body_begin_ = 0, body_end_ = 0;
  // request() spans point into in_.
  bool head_live() const noexcept { return phase_ == Phase::body || phase_ == Phase::dispatched; }

  BodyState body_;

  // The response (start() may run on an app thread before the first write;
  // the loop reads it from then on). Its head is r_->head.
  bool started_ = false;
  // From dispatch until the handler's finish() or abort() is processed; the
  // exchange may end earlier (a failure, a closed connection), but the
  // handler may still read request() until then, so r_ stays.
  bool handler_holds_ = false;
  std::atomic<bool> headers_sent_{false};
  bool head_emitted_ = false;  // the head is in the output queue
  Framing framing_;
  BodyFramer framer_;
};

}  // namespace anvil::server

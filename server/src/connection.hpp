// One HTTP/1.1 connection: reads and parses requests, runs the handler, writes
// responses in request order. It is also the Exchange of its current request
// (one at a time), handed out as an aliasing shared_ptr: no allocation per
// request. Owns itself through shared_from_this() while an operation is
// pending. Loop-thread only, except the Exchange methods (see handler.hpp).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "impl.hpp"

namespace anvil::server {

class Connection final : public Exchange, public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server::Impl& server, int fd, const Listener& listener, const sockaddr_storage& peer);
  ~Connection() override;

  void start();
  // Ends the connection when its current deadline has passed.
  void check_timeout(Clock::time_point now);
  // Graceful stop: close now when idle, else after the response in progress.
  void drain();
  void close_now();

  Connection* prev = nullptr;  // Server::Impl's list
  Connection* next = nullptr;
  bool linked = false;

  // Exchange
  const parser::Message& request() const noexcept override { return r_->request; }
  std::string_view remote_address() const override;
  std::uint16_t remote_port() const noexcept override;
  std::string_view local_address() const override;
  std::uint16_t local_port() const noexcept override;
  bool unix_socket() const noexcept override;
  bool body_buffered() const noexcept override { return !on_demand_; }
  std::string_view buffered_body() const noexcept override;
  BodyRead read_body(char* dst, std::size_t n) override;
  StartError start(std::string_view status, std::span<const Header> headers) override;
  bool headers_sent() const noexcept override {
    return headers_sent_.load(std::memory_order_acquire);
  }
  void write(std::span<const asio::const_buffer> pieces, WriteCallback done, bool last) override;
  void write(std::string data, WriteCallback done, bool last) override;
  void send_file(int fd, std::uint64_t offset, std::uint64_t count, WriteCallback done,
                 bool last) override;
  void finish() override;
  void abort() override;
  bool on_loop_thread() const noexcept override;
  void post(std::function<void()> fn) override;
  bool stats_enabled() const noexcept override { return stats_; }
  void add_stage_time(Stage stage, std::chrono::nanoseconds t) noexcept override;

 private:
  enum class Wait : std::uint8_t { none, idle, header, body, body_on_demand, write, linger };
  enum class Pump : std::uint8_t { progress, need_more, done, error };

  // Main state machine (loop thread).
  void resume();
  void step();
  parser::Step parse();
  bool read_more();
  void wait_readable();
  void async_read();
  void on_bytes(std::size_t n);
  void arm_read_deadline();
  bool register_socket();
  void on_head(std::size_t consumed);
  void on_body(std::size_t consumed);
  void dispatch();
  void end_exchange();
  void respond_error(int status, std::string_view detail);
  void finish_close();
  void linger_read();
  void ensure_space();
  void move_input(std::size_t from, char* to_base, std::size_t to);

  // Output (loop thread).
  bool pending_output() const noexcept { return !r_->segments.empty(); }
  bool flush(bool wait = true);
  bool flush_blocking();
  void wait_writable();
  void fail_output(std::error_code ec);
  void push_scratch(std::string_view text);
  void push_memory(const void* data, std::size_t size);
  std::uint64_t body_room(std::uint64_t n) const;
  void emit_head();
  void do_write(std::span<const asio::const_buffer> pieces, WriteCallback done, bool last);
  void do_send_file(int fd, std::uint64_t offset, std::uint64_t count, WriteCallback done,
                    bool last);
  void do_abort();
  void queue_callback(WriteCallback done);
  void end_body(bool last);

  // Body on demand (Expect: 100-continue).
  Pump pump();
  BodyRead copy_body(char* dst, std::size_t n);
  BodyRead read_body_sync(char* dst, std::size_t n);
  BodyRead read_body_async(char* dst, std::size_t n);
  void fetch_body();
  void queue_continue();

  void set_deadline(Wait kind, Seconds after);
  Clock::time_point now_if_stats() const noexcept {
    return stats_ ? Clock::now() : Clock::time_point{};
  }
  void add_since(Stage s, Clock::time_point t0) noexcept;

  Server::Impl& srv_;
  asio::posix::stream_descriptor sock_;
  const int fd_;
  const Listener& listener_;
  sockaddr_storage peer_;
  std::unique_ptr<Resources> r_;
  const bool stats_;

  // Input: unconsumed bytes are in_[begin_, end_). While an exchange is live
  // its head is in_[head_begin_, body_begin_) and its body in_[body_begin_,
  // body_end_); read_body() reads from body_read_.
  char* in_ = nullptr;
  std::size_t begin_ = 0, end_ = 0;
  std::size_t head_begin_ = 0, body_begin_ = 0, body_end_ = 0, body_read_ = 0;
  bool head_live_ = false;        // request spans point into in_
  bool request_started_ = false;  // bytes of a not yet complete request arrived
  bool closed_ = false;
  std::atomic<bool> dead_{false};      // closed_, readable from app threads
  bool close_after_ = false;           // no request after the current response
  bool linger_ = false;                // input may still come: half-close, drain, close
  bool lingering_ = false;             // half-closed, draining input before close
  bool served_ = false;                // a response was sent: idle waits use keepalive
  Clock::time_point head_deadline_{};  // the whole head must arrive by then
  bool reading_ = false;               // a wait for readable is pending
  bool writing_ = false;               // a wait for writable is pending
  bool in_resume_ = false;
  bool resume_again_ = false;
  int batch_ = 0;  // responses queued since the last flush
  Wait wait_ = Wait::none;
  Clock::time_point deadline_ = Clock::time_point::max();

  // The exchange.
  bool live_ = false;
  bool on_demand_ = false;  // body read when the app asks (100-continue)
  bool body_complete_ = false;
  bool continue_sent_ = false;
  bool fetch_pending_ = false;  // fetch_body() queued for an app thread
  BodyError body_error_ = BodyError::none;
  std::mutex body_m_;
  std::condition_variable body_cv_;

  // Response head as built by start() (caller's thread, before the first
  // write; then read by the loop).
  std::string head_;
  bool started_ = false;
  int status_ = 0;
  bool has_length_ = false;
  std::uint64_t length_ = 0;
  bool has_date_ = false, has_server_ = false, has_te_ = false, app_close_ = false;
  std::atomic<bool> headers_sent_{false};

  // Response as written (loop thread).
  bool head_emitted_ = false;
  bool chunked_ = false;
  bool no_body_ = false;
  std::uint64_t body_bytes_ = 0;
  bool refs_input_ = false;  // queued memory segments point into in_
  std::size_t seg_i_ = 0;    // first segment not fully written
  std::uint64_t seg_done_ = 0;
};

}  // namespace anvil::server

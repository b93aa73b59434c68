// The native handlers: the no-Python baseline (hello, echo) and `sleep`, a
// test handler that answers from another thread after a delay (exercises the
// cross-thread Exchange path and graceful drain).
#include "anvil/server/native.hpp"

#include <unistd.h>

#include <array>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace anvil::server {
namespace {

namespace asio = boost::asio;

constexpr std::string_view kHello = "Hello, World!";

class HelloHandler final : public Handler {
 public:
  void handle(std::shared_ptr<Exchange> ex) override {
    static constexpr Header kHeaders[] = {{"Content-Type", "text/plain"}, {"Content-Length", "13"}};
    ex->start("200 OK", kHeaders);
    const asio::const_buffer body(kHello.data(), kHello.size());
    ex->write({&body, 1}, {}, true);
  }
};

class EchoHandler final : public Handler {
 public:
  void handle(std::shared_ptr<Exchange> ex) override {
    if (ex->body_buffered()) {
      // The body stays in the connection's buffer until the response is out.
      const std::string_view body = ex->buffered_body();
      respond(*ex, body.size());
      const asio::const_buffer b(body.data(), body.size());
      ex->write({&b, 1}, {}, true);
      return;
    }
    // A spooled body, or one sent after 100 Continue: streamed back a piece
    // at a time, each read after the previous write has gone out, so memory
    // stays at one piece. (On the loop thread the first read of a
    // 100-continue body waits for all of it: see server/README.md.)
    const parser::Message& m = ex->request();
    if (m.body == parser::BodyKind::content_length) {
      respond(*ex, m.content_length);
    } else {
      static constexpr Header kChunked[] = {{"Content-Type", "application/octet-stream"}};
      ex->start("200 OK", kChunked);  // no length: the core sends it chunked
    }
    pump(std::move(ex), std::make_shared<std::vector<char>>(kPiece));
  }

 private:
  static constexpr std::size_t kPiece = 64 * 1024;

  static void respond(Exchange& ex, std::uint64_t size) {
    char length[24];
    auto [end, ec] = std::to_chars(length, length + sizeof length, size);
    const Header headers[] = {{"Content-Type", "application/octet-stream"},
                              {"Content-Length", std::string_view(length, end - length)}};
    ex.start("200 OK", headers);
  }

  static void pump(std::shared_ptr<Exchange> ex, std::shared_ptr<std::vector<char>> buf) {
    const BodyRead r = ex->read_body(buf->data(), buf->size());
    if (r.error != BodyError::none) {
      ex->abort();
      return;
    }
    if (r.n == 0) {
      ex->finish();
      return;
    }
    const asio::const_buffer b(buf->data(), r.n);
    Exchange* raw = ex.get();
    raw->write({&b, 1}, [ex = std::move(ex), buf = std::move(buf)](std::error_code ec) mutable {
      if (!ec) pump(std::move(ex), std::move(buf));
    });
  }
};

// GET /?ms=N: waits N milliseconds (default 1000, at most 60000) on a helper
// thread, then answers "slept N ms in pid P\n" from that thread.
class SleepHandler final : public Handler {
 public:
  SleepHandler() : thread_([this] { loop(); }) {}
  ~SleepHandler() override { stop(); }

  void handle(std::shared_ptr<Exchange> ex) override {
    const auto ms = parse_ms(ex->request().target);
    {
      std::lock_guard lk(m_);
      queue_.push_back({std::move(ex), ms});
    }
    cv_.notify_one();
  }

  void stop() override {
    {
      std::lock_guard lk(m_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Job {
    std::shared_ptr<Exchange> ex;
    int ms;
  };

  static int parse_ms(std::string_view target) {
    const auto q = target.find("ms=");
    int ms = 1000;
    if (q != std::string_view::npos) {
      const char* b = target.data() + q + 3;
      std::from_chars(b, target.data() + target.size(), ms);
    }
    return std::clamp(ms, 0, 60000);
  }

  void loop() {
    std::unique_lock lk(m_);
    for (;;) {
      cv_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      Job job = std::move(queue_.front());
      queue_.pop_front();
      lk.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(job.ms));
      answer(*job.ex, job.ms);
      job.ex.reset();
      lk.lock();
    }
  }

  static void answer(Exchange& ex, int ms) {
    std::string body =
        "slept " + std::to_string(ms) + " ms in pid " + std::to_string(::getpid()) + "\n";
    const std::string length = std::to_string(body.size());
    const Header headers[] = {{"Content-Type", "text/plain"}, {"Content-Length", length}};
    ex.start("200 OK", headers);
    ex.write(std::move(body), {}, true);
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

constexpr std::array<std::string_view, 3> kNames = {"hello", "echo", "sleep"};

}  // namespace

std::shared_ptr<Handler> make_native_handler(std::string_view name) {
  if (name == "hello") return std::make_shared<HelloHandler>();
  if (name == "echo") return std::make_shared<EchoHandler>();
  if (name == "sleep") return std::make_shared<SleepHandler>();
  return nullptr;
}

std::span<const std::string_view> native_handler_names() noexcept { return kNames; }

}  // namespace anvil::server

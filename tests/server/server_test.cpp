// The core over real sockets: servers in this process on port 0, with the
// native handlers and a few test handlers, for each parser.
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "anvil/server/native.hpp"
#include "anvil/server/server.hpp"
#include "client.hpp"
#include "running.hpp"

namespace anvil::server::test {
namespace {

using namespace std::chrono_literals;
using parser::ParserKind;

// Answers with `pieces` blocks of 1 MiB, each written from the previous one's
// completion callback, with no Content-Length (chunked). Counts failures.
class StreamHandler final : public Handler {
 public:
  explicit StreamHandler(int pieces) : pieces_(pieces), block_(1 << 20, 'x') {}
  void handle(std::shared_ptr<Exchange> ex) override {
    ex->start("200 OK", {});
    next(std::move(ex), 0);
  }
  std::atomic<int> failures{0};
  std::atomic<int> completed{0};

 private:
  void next(std::shared_ptr<Exchange> ex, int i) {
    if (i == pieces_) {
      ex->finish();
      completed++;
      return;
    }
    const boost::asio::const_buffer b(block_.data(), block_.size());
    Exchange* raw = ex.get();
    raw->write({&b, 1}, [this, ex = std::move(ex), i](std::error_code ec) mutable {
      if (ec) {
        failures++;
        return;
      }
      next(std::move(ex), i + 1);
    });
  }
  int pieces_;
  std::string block_;
};

// Reads the body and answers from a thread of its own (as WSGI --threads does).
class ThreadEchoHandler final : public Handler {
 public:
  ~ThreadEchoHandler() override { stop(); }
  void handle(std::shared_ptr<Exchange> ex) override {
    std::lock_guard lk(m_);
    threads_.emplace_back([ex = std::move(ex)] {
      EXPECT_FALSE(ex->on_loop_thread());
      std::string body;
      char buf[1000];
      for (int i = 0; i < 100000; ++i) {
        const BodyRead r = ex->read_body(buf, sizeof buf);
        if (r.error != BodyError::none) {
          ex->abort();
          return;
        }
        if (r.n == 0) break;
        body.append(buf, r.n);
      }
      const std::string length = std::to_string(body.size());
      const Header headers[] = {{"Content-Length", length}};
      EXPECT_EQ(ex->start("200 OK", headers), StartError::none);
      ex->write(std::move(body), {}, true);
    });
  }
  void stop() override {
    std::vector<std::thread> threads;
    {
      std::lock_guard lk(m_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

 private:
  std::mutex m_;
  std::vector<std::thread> threads_;
};

// Declares Content-Length: 3, then writes more: "abc" + "def" in one write,
// "ghi" in another (or, for /file, sends a 10-byte file).
class OverlongHandler final : public Handler {
 public:
  explicit OverlongHandler(int file_fd) : file_fd_(file_fd) {}
  void handle(std::shared_ptr<Exchange> ex) override {
    const Header headers[] = {{"Content-Length", "3"}};
    EXPECT_EQ(ex->start("200 OK", headers), StartError::none);
    if (ex->request().target == "/file") {
      ex->send_file(file_fd_, 0, 10, {}, true);
      return;
    }
    const std::string_view a = "abc", b = "def";
    const boost::asio::const_buffer pieces[] = {{a.data(), a.size()}, {b.data(), b.size()}};
    ex->write(pieces, {});
    ex->write(std::string("ghi"), {}, true);
  }

 private:
  int file_fd_;
};

// Checks what start() accepts, then answers with the outcome's name.
class StartCheckHandler final : public Handler {
 public:
  void handle(std::shared_ptr<Exchange> ex) override {
    const Header bad_value[] = {{"X-A", "a\r\nInjected: yes"}};
    const Header bad_name[] = {{"X A", "b"}};
    const Header ok[] = {{"Content-Length", "2"}, {"Connection", "close"}};
    const Header bad_length[] = {{"Content-Length", "abc"}};
    const Header two_lengths[] = {{"Content-Length", "2"}, {"Content-Length", "3"}};
    std::string result;
    result += ex->start("20", {}) == StartError::bad_status ? "s" : "-";
    result += ex->start("103 Early Hints", {}) == StartError::interim_status ? "i" : "-";
    result += ex->start("200 OK", bad_length) == StartError::bad_content_length ? "c" : "-";
    result += ex->start("200 OK", two_lengths) == StartError::bad_content_length ? "c" : "-";
    result += ex->start("200 OK", bad_value) == StartError::bad_header_value ? "v" : "-";
    result += ex->start("200 OK", bad_name) == StartError::bad_header_name ? "n" : "-";
    EXPECT_EQ(ex->start("201 Created", ok), StartError::none);
    ex->write(std::string("ok"), {}, true);
    EXPECT_EQ(ex->start("200 OK", ok), StartError::already_sent);
    std::lock_guard lk(m);
    outcome = result;
  }
  std::mutex m;
  std::string outcome;
};

// Learns its body's length after start(), as a WSGI app's one-item list:
// add_length() before start() and after the first write is refused.
class LateLengthHandler final : public Handler {
 public:
  void handle(std::shared_ptr<Exchange> ex) override {
    const Header h[] = {{"X-A", "b"}};
    std::string result;
    result += ex->add_length(5) == StartError::bad_status ? "s" : "-";
    EXPECT_EQ(ex->start("200 OK", h), StartError::none);
    result += ex->add_length(5) == StartError::none ? "l" : "-";
    result += ex->add_length(6) == StartError::bad_content_length ? "c" : "-";
    ex->write(std::string("hello"), {}, true);
    result += ex->add_length(5) == StartError::already_sent ? "a" : "-";
    std::lock_guard lk(m);
    outcome = result;
  }
  std::mutex m;
  std::string outcome;
};

// Answers 204 with the handler's own Content-Length, which RFC 9110 §8.6 keeps
// off the wire.
class NoContentHandler final : public Handler {
 public:
  void handle(std::shared_ptr<Exchange> ex) override {
    const Header h[] = {{"Content-Length", "0"}, {"X-Kept", "yes"}};
    EXPECT_EQ(ex->start("204 No Content", h), StartError::none);
    ex->finish();
  }
};

class Core : public ::testing::TestWithParam<ParserKind> {
 protected:
  ServerConfig config() const { return config_for(GetParam()); }
};

INSTANTIATE_TEST_SUITE_P(Parsers, Core, ::testing::ValuesIn(parser::all_parser_kinds()),
                         [](const auto& info) { return parser::test_name(info.param); });

TEST_P(Core, HelloHasBodyLengthDateAndServer) {
  Running s(config(), make_native_handler("hello"));
  Client c = s.client();
  ASSERT_TRUE(c.send(kGet));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "Hello, World!");
  EXPECT_EQ(r->field("Content-Length"), "13");
  EXPECT_EQ(r->field("Content-Type"), "text/plain");
  EXPECT_EQ(r->field("Server"), "anvil");
  EXPECT_EQ(r->field("Date").size(), 29u);  // "Sun, 06 Nov 1994 08:49:37 GMT"
  EXPECT_TRUE(r->keep_alive);
}

TEST_P(Core, KeepAliveServesSeveralRequestsOnOneConnection) {
  Running s(config(), make_native_handler("hello"));
  Client c = s.client();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.send(kGet));
    auto r = c.read();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->body, "Hello, World!");
    EXPECT_FALSE(r->has("Connection"));
  }
}

TEST_P(Core, TenPipelinedRequestsAreAnsweredInOrder) {
  auto cfg = config();
  cfg.max_pipeline = 4;  // several batches
  Running s(cfg, make_native_handler("echo"));
  Client c = s.client();
  std::string all;
  for (int i = 0; i < 10; ++i) all += post("request-" + std::to_string(i));
  ASSERT_TRUE(c.send(all));
  for (int i = 0; i < 10; ++i) {
    auto r = c.read();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->body, "request-" + std::to_string(i));
  }
}

TEST_P(Core, ChunkedUploadWithTrailersIsEchoedDechunked) {
  Running s(config(), make_native_handler("echo"));
  Client c = s.client();
  ASSERT_TRUE(
      c.send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n1;ext=1\r\n,\r\n6\r\n world\r\n0\r\nX-Checksum: 42\r\n\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello, world");
  EXPECT_EQ(r->field("Content-Length"), "12");
  // The connection goes on after the trailers.
  ASSERT_TRUE(c.send(post("again")));
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "again");
}

TEST_P(Core, LargeBodyArrivingInPiecesIsEchoed) {
  Running s(config(), make_native_handler("echo"));
  Client c = s.client();
  std::string body(3 << 20, 'a');
  for (std::size_t i = 0; i < body.size(); i += 997) body[i] = static_cast<char>('a' + i % 26);
  ASSERT_TRUE(c.send(post(body)));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.size(), body.size());
  EXPECT_TRUE(r->body == body);
}

TEST_P(Core, ExpectContinueSends100ThenReadsTheBody) {
  Running s(config(), make_native_handler("echo"));
  Client c = s.client();
  ASSERT_TRUE(
      c.send("POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  auto interim = c.read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.send("ping"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ping");
  ASSERT_TRUE(c.send(kGet));  // still usable: the body was read whole
  ASSERT_TRUE(c.read());
}

TEST_P(Core, ExpectContinueChunkedReadFromAnotherThread) {
  Running s(config(), std::make_shared<ThreadEchoHandler>());
  Client c = s.client();
  ASSERT_TRUE(c.send(
      "POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"));
  auto interim = c.read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    const std::string piece(700, static_cast<char>('a' + i % 26));
    expected += piece;
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
    ASSERT_TRUE(c.send(size + piece + "\r\n"));
  }
  ASSERT_TRUE(c.send("0\r\n\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, expected);
}

TEST_P(Core, BufferedBodyReadFromAnotherThread) {
  Running s(config(), std::make_shared<ThreadEchoHandler>());
  Client c = s.client();
  ASSERT_TRUE(c.send(post("from a thread")));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "from a thread");
}

TEST_P(Core, HeadGetsHeadersWithoutBody) {
  Running s(config(), make_native_handler("hello"));
  Client c = s.client();
  ASSERT_TRUE(c.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.read(/*head_request=*/true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->field("Content-Length"), "13");
  EXPECT_EQ(r->body, "");
  // No body bytes were sent: the next response parses from the first byte.
  ASSERT_TRUE(c.send(kGet));
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "Hello, World!");
}

TEST_P(Core, Http10ClosesAfterTheResponse) {
  Running s(config(), make_native_handler("hello"));
  Client c = s.client();
  ASSERT_TRUE(c.send("GET / HTTP/1.0\r\n\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "Hello, World!");
  EXPECT_EQ(r->field("Connection"), "close");
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_P(Core, Http10KeepAliveIsHonoured) {
  Running s(config(), make_native_handler("hello"));
  Client c = s.client();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->field("Connection"), "keep-alive");
  }
}

TEST_P(Core, ConnectionCloseFromTheClientIsHonoured) {
  Running s(config(), make_native_handler("hello"));
  Client c = s.client();
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->field("Connection"), "close");
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_P(Core, UnknownLengthIsChunkedOn11AndUntilCloseOn10) {
  Running s(config(), std::make_shared<StreamHandler>(2));
  Client c11 = s.client();
  ASSERT_TRUE(c11.send(kGet));
  auto r = c11.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->field("Transfer-Encoding"), "chunked");
  EXPECT_EQ(r->body.size(), 2u << 20);
  Client c10 = s.client();
  ASSERT_TRUE(c10.send("GET / HTTP/1.0\r\n\r\n"));
  r = c10.read();
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has("Transfer-Encoding"));
  EXPECT_EQ(r->body.size(), 2u << 20);
}

TEST_P(Core, StartValidatesStatusAndHeaders) {
  auto h = std::make_shared<StartCheckHandler>();
  Running s(config(), h);
  Client c = s.client();
  ASSERT_TRUE(c.send(kGet));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_FALSE(r->has("Injected"));
  EXPECT_EQ(r->body, "ok");
  EXPECT_TRUE(c.closed_by_peer());  // the app's Connection: close
  std::lock_guard lk(h->m);
  EXPECT_EQ(h->outcome, "siccvn");
}

// On HTTP/1.1 and 1.0 alike, a length added after start() frames the body
// (not chunked, not ended by the connection's close).
TEST_P(Core, LengthAddedAfterStartFramesTheBody) {
  auto h = std::make_shared<LateLengthHandler>();
  Running s(config(), h);
  for (std::string_view req : {kGet, std::string_view("GET / HTTP/1.0\r\n\r\n")}) {
    Client c = s.client();
    ASSERT_TRUE(c.send(req));
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->field("Content-Length"), "5");
    EXPECT_EQ(r->field("X-A"), "b");
    EXPECT_FALSE(r->has("Transfer-Encoding"));
    EXPECT_EQ(r->body, "hello");
    std::lock_guard lk(h->m);
    EXPECT_EQ(h->outcome, "slca");
  }
}

TEST_P(Core, NoContentLengthOn204) {
  Running s(config(), std::make_shared<NoContentHandler>());
  Client c = s.client();
  ASSERT_TRUE(c.send(kGet));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_FALSE(r->has("Content-Length"));
  EXPECT_FALSE(r->has("Transfer-Encoding"));
  EXPECT_EQ(r->field("X-Kept"), "yes");
}

// RFC 9112 §6.3: the client takes exactly Content-Length bytes as the body.
// Bytes past it would be read as the next response (a desync), so they never
// reach the wire, and the connection closes after the response.
TEST_P(Core, BodyBeyondContentLengthIsNotSent) {
  char path[] = "/tmp/anvil-overlong-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::unlink(path);
  ASSERT_EQ(::write(fd, "0123456789", 10), 10);
  Running s(config(), std::make_shared<OverlongHandler>(fd));
  for (const std::string target : {"/", "/file"}) {
    Client c = s.client();
    ASSERT_TRUE(
        c.send("GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto r = c.read();
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->body, target == "/" ? "abc" : "012") << target;
    // Nothing follows: no stray bytes, no second response on this connection.
    EXPECT_TRUE(c.closed_by_peer()) << target;
    EXPECT_EQ(c.unread(), "") << target;
  }
  ::close(fd);
}

struct BadCase {
  const char* name;
  std::string request;
  int status;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BadInput : public ::testing::TestWithParam<std::tuple<ParserKind, BadCase>> {};

TEST_P(BadInput, GetsItsStatusAndCloseWhileOthersAreServed) {
  const auto& [kind, bad] = GetParam();
  auto cfg = config_for(kind);
  cfg.limits.request_line = 64;
  cfg.limits.fields = 5;
  cfg.limits.header_bytes = 256;
  cfg.limits.body = 100;
  Running s(cfg, make_native_handler("echo"));
  Client other = s.client();  // a keep-alive connection in progress
  ASSERT_TRUE(other.send(post("before")));
  ASSERT_TRUE(other.read());
  Client c = s.client();
  ASSERT_TRUE(c.send(bad.request));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, bad.status);
  EXPECT_EQ(r->field("Connection"), "close");
  EXPECT_FALSE(r->body.empty());
  EXPECT_TRUE(c.closed_by_peer());
  ASSERT_TRUE(other.send(post("after")));
  auto again = other.read();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body, "after");
}

const BadCase kBadCases[] = {
    {"bad_method", "G(T / HTTP/1.1\r\nHost: t\r\n\r\n", 400},
    {"bare_lf", "GET / HTTP/1.1\nHost: t\r\n\r\n", 400},
    {"missing_host", "GET / HTTP/1.1\r\n\r\n", 400},
    {"bad_chunk", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
    {"line_too_long", "GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n", 414},
    {"too_many_fields", "GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n",
     431},
    {"header_too_large", "GET / HTTP/1.1\r\nHost: t\r\nA: " + std::string(300, 'a') + "\r\n\r\n",
     431},
    {"body_too_large", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n", 413},
    {"unknown_coding", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: foo, chunked\r\n\r\n",
     501},
    {"http_2_0", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505},
};

INSTANTIATE_TEST_SUITE_P(Cases, BadInput,
                         ::testing::Combine(::testing::ValuesIn(parser::all_parser_kinds()),
                                            ::testing::ValuesIn(kBadCases)),
                         [](const auto& info) {
                           return parser::test_name(std::get<0>(info.param)) + "_" +
                                  std::get<1>(info.param).name;
                         });

TEST(Timeouts, SlowlorisIsCutOffByTheWholeHeadTimeoutWith408) {
  auto cfg = config_for(ParserKind::fast);
  cfg.header_timeout = Seconds(0.6);
  Running s(cfg, make_native_handler("hello"));
  Client c = s.client();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\n"));
  // A header line every 150 ms: each line is progress, the head never ends.
  bool answered = false;
  for (int i = 0; i < 40 && !answered; ++i) {
    answered = c.readable_within(150);
    if (!answered) c.send("X-Slow-" + std::to_string(i) + ": 1\r\n");
  }
  ASSERT_TRUE(answered);
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(c.closed_by_peer());
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 2s);  // 0.6 s plus the tick, not reset by each line
}

TEST(Timeouts, IdleKeepAliveConnectionIsClosedWithoutAResponse) {
  auto cfg = config_for(ParserKind::fast);
  cfg.keepalive = Seconds(0.3);
  Running s(cfg, make_native_handler("hello"));
  Client c = s.client();
  ASSERT_TRUE(c.send(kGet));
  ASSERT_TRUE(c.read());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST(Timeouts, StalledBodyGets408) {
  auto cfg = config_for(ParserKind::llhttp);
  cfg.body_timeout = Seconds(0.3);
  Running s(cfg, make_native_handler("echo"));
  Client c = s.client();
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(Core, ClientDisconnectMidResponseLeavesTheServerServing) {
  auto h = std::make_shared<StreamHandler>(64);  // 64 MiB: more than socket buffers
  Running s(config_for(ParserKind::fast), h);
  {
    Client c = s.client();
    ASSERT_TRUE(c.send(kGet));
    ASSERT_TRUE(c.readable_within(5000));
    char tmp[1024];
    ASSERT_GT(::recv(c.fd(), tmp, sizeof tmp, 0), 0);
  }  // closed with most of the response unread
  for (int i = 0; i < 500 && h->failures.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(h->failures.load(), 1);  // the pending write's callback got the error
  Client c = s.client();
  ASSERT_TRUE(c.send("GET / HTTP/1.0\r\n\r\n"));
  ASSERT_TRUE(c.read());
  EXPECT_EQ(h->completed.load(), 1);
}

TEST(Timeouts, ClientThatStopsReadingIsCutOffByTheWriteTimeout) {
  auto cfg = config_for(ParserKind::fast);
  cfg.write_timeout = Seconds(0.3);
  auto h = std::make_shared<StreamHandler>(64);
  Running s(cfg, h);
  Client c = s.client();
  ASSERT_TRUE(c.send(kGet));  // and never read
  for (int i = 0; i < 300 && h->failures.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(h->failures.load(), 1);
  EXPECT_EQ(s.server().connection_count(), 0u);
}

// Issue 8 §4: at --max-connections a new connection is still accepted; the
// cheapest one makes room: idle keep-alive connections first, oldest first.
TEST(Limits, AtTheLimitTheOldestIdleConnectionIsShed) {
  auto cfg = config_for(ParserKind::fast);
  cfg.max_connections = 2;
  Running s(cfg, make_native_handler("hello"));
  Client a = s.client();
  ASSERT_TRUE(a.send(kGet));
  ASSERT_TRUE(a.read());
  Client b = s.client();
  ASSERT_TRUE(b.send(kGet));
  ASSERT_TRUE(b.read());
  Client c = s.client();  // over the limit: a, idle longest, goes
  ASSERT_TRUE(c.send(kGet));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "Hello, World!");
  EXPECT_TRUE(a.closed_by_peer());
  ASSERT_TRUE(b.send(kGet));  // b was idle for less time: still served
  ASSERT_TRUE(b.read());
  EXPECT_EQ(s.server().connection_count(), 2u);
}

// Slow heads (slowloris) are shed after idle connections, the one that has
// been arriving longest first, with a 503; an honest client never waits.
TEST(Limits, SlowHeadsAreShedOldestFirstAndHonestClientsAreServed) {
  auto cfg = config_for(ParserKind::fast);
  cfg.max_connections = 3;
  cfg.header_timeout = Seconds(60);  // shed, never timed out, however loaded the machine
  Running s(cfg, make_native_handler("hello"));
  std::vector<Client> slow;
  auto add_slow = [&] {
    const std::size_t before = s.server().connection_count();
    slow.push_back(s.client());
    ASSERT_TRUE(slow.back().send("GET / HTTP/1.1\r\nX-Slow: 1\r\n"));
    // Accepted in order (TCP_DEFER_ACCEPT lets each through with its bytes).
    for (int k = 0; k < 400 && s.server().connection_count() == before; ++k) {
      std::this_thread::sleep_for(5ms);
    }
  };
  for (int i = 0; i < 3; ++i) add_slow();
  ASSERT_EQ(s.server().connection_count(), 3u);
  for (std::size_t round = 0; round < 3; ++round) {
    Client honest = s.client();
    ASSERT_TRUE(honest.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    auto r = honest.read();
    ASSERT_TRUE(r) << round;
    EXPECT_EQ(r->body, "Hello, World!");
    // The oldest slow head went, with a 503 when it could take one.
    auto shed = slow[round].read();
    if (shed) {
      EXPECT_EQ(shed->status, 503);
    }
    EXPECT_TRUE(slow[round].closed_by_peer()) << round;
    EXPECT_TRUE(slow[round + 1].send("X-More: 1\r\n")) << round;  // the next is still there
    ASSERT_TRUE(honest.closed_by_peer());
    add_slow();  // back at the limit
  }
}

// With nothing to shed (every connection busy with a request), a newcomer
// is answered 503 at once instead of waiting in the backlog.
TEST(Limits, WhenNothingCanBeShedANewcomerGets503) {
  auto cfg = config_for(ParserKind::fast);
  cfg.max_connections = 1;
  Running s(cfg, make_native_handler("sleep"));
  Client busy = s.client();
  ASSERT_TRUE(busy.send("GET /?ms=1500 HTTP/1.1\r\nHost: t\r\n\r\n"));
  for (int k = 0; k < 200 && s.server().connection_count() < 1; ++k) {
    std::this_thread::sleep_for(5ms);
  }
  Client late = s.client();
  ASSERT_TRUE(late.send("GET /?ms=0 HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = late.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  auto first = busy.read();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->body.rfind("slept 1500 ms", 0), 0u);
}

TEST(Core, UnixSocket) {
  const std::string path = "/tmp/anvil-test-" + std::to_string(::getpid()) + ".sock";
  auto cfg = config_for(ParserKind::fast);
  cfg.binds = {*parse_bind("unix:" + path)};
  Running s(cfg, make_native_handler("hello"));
  Client c = Client::unix_socket(path);
  ASSERT_GE(c.fd(), 0);
  ASSERT_TRUE(c.send(kGet));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "Hello, World!");
  ::unlink(path.c_str());
}

TEST(Core, Ipv6Loopback) {
  auto cfg = config_for(ParserKind::fast);
  cfg.binds = {*parse_bind("[::1]:0")};
  std::unique_ptr<Running> s;
  try {
    s = std::make_unique<Running>(cfg, make_native_handler("hello"));
  } catch (const std::system_error& e) {
    GTEST_SKIP() << "::1 unavailable: " << e.what();
  }
  EXPECT_EQ(s->server().addresses()[0].url(), "http://[::1]:" + std::to_string(s->port()));
  Client c = Client::tcp(s->port(), "::1");
  ASSERT_TRUE(c.send(kGet));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "Hello, World!");
}

TEST(Core, TwoServersInOneProcess) {
  Running hello(config_for(ParserKind::fast), make_native_handler("hello"));
  Running echo(config_for(ParserKind::llhttp), make_native_handler("echo"));
  Client a = hello.client();
  Client b = echo.client();
  ASSERT_TRUE(a.send(kGet));
  ASSERT_TRUE(b.send(post("two")));
  EXPECT_EQ(a.read()->body, "Hello, World!");
  EXPECT_EQ(b.read()->body, "two");
}

TEST(Core, GracefulStopFinishesTheRequestInFlight) {
  auto cfg = config_for(ParserKind::fast);
  Server server(cfg, make_native_handler("sleep"));
  std::thread t([&] { server.run(); });
  Client c = Client::tcp(server.addresses()[0].bind.port);
  ASSERT_TRUE(c.send("GET /?ms=0 HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(c.read());
  ASSERT_TRUE(c.send("GET /?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n"));
  server.stop(true);
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.rfind("slept 300 ms", 0), 0u);
  EXPECT_EQ(r->field("Connection"), "close");
  t.join();  // run() returns once drained
}

TEST(Core, StatsCountRequestsAndStages) {
  auto cfg = config_for(ParserKind::fast);
  cfg.stats = true;
  Running s(cfg, make_native_handler("hello"));
  Client c = s.client();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(kGet));
    ASSERT_TRUE(c.read());
  }
  const StatsSnapshot st = s.server().stats();
  EXPECT_EQ(st.requests, 3u);
  EXPECT_GT(st.stage_ns[static_cast<int>(Stage::parse)], 0u);
  EXPECT_GT(st.stage_ns[static_cast<int>(Stage::write)], 0u);
  EXPECT_NE(st.format().find("requests 3; read "), std::string::npos);
}

TEST(Core, AccessLogUsesCombinedFormat) {
  const std::string path = "/tmp/anvil-access-" + std::to_string(::getpid()) + ".log";
  ::unlink(path.c_str());
  auto cfg = config_for(ParserKind::fast);
  cfg.access_log = path;
  {
    Running s(cfg, make_native_handler("hello"));
    Client c = s.client();
    ASSERT_TRUE(c.send("GET /x?y=1 HTTP/1.1\r\nHost: t\r\nUser-Agent: t\"q\r\n\r\n"));
    ASSERT_TRUE(c.read());
  }
  std::ifstream in(path);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line.rfind("127.0.0.1 - - [", 0), 0u) << line;
  EXPECT_NE(line.find("] \"GET /x?y=1 HTTP/1.1\" 200 13 \"-\" \"t\\\"q\""), std::string::npos)
      << line;
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace anvil::server::test

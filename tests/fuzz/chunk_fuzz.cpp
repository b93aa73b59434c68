// Body framing fuzz target: the server's BodyFramer and OutputQueue
// (server/src/output.cpp), the code the connection writes every response
// body with, driven by a sequence of writes the input chooses (memory writes
// of one or several pieces, file ranges, empty writes, large fills) and
// optionally a finish().
//
// It stops with `chunk_fuzz FINDING` and a dump when
//  * chunked: the bytes are not exactly one chunk per non-empty write and,
//    after finish(), one last chunk `0\r\n\r\n` at the very end (an
//    independent strict decoder below), or the project's response parsers
//    (llhttp, fast and http-parser, fed whole and in pieces) decode another body, end the
//    message before the bytes end, or do not end it after finish() (or do
//    before it);
//  * Content-Length: the bytes are not the writes cut at the length, or the
//    parsers do not end the message exactly at the length;
//  * until close (HTTP/1.0): the bytes are not the writes, or the parsers
//    read another body;
//  * no body (HEAD, 1xx, 204, 304): any byte at all;
//  * given(), sent() or length_kept() disagree with the writes;
//  * flushing the queue through a socket pair (a small send buffer, so that
//    writev stops part-way) delivers other bytes than contents() showed,
//    counts other bytes as written, or hands back the after_flush()
//    callbacks other than once each, in order; with the file one byte
//    shorter than promised, the flush does not fail (io_error) where the
//    last file range was queued whole, or delivers other than a prefix;
//    without a flush, clear() does not hand the callbacks back;
//  * ASan/UBSan find anything.
//
// Input layout (tests/fuzz/make_server_corpora.py writes seeds in it):
//   [0] bits 0-1 framing (chunked, Content-Length, until close, no body),
//       bit 2 finish(), bit 3 flush through a socket pair,
//       bits 4-5 fragmentation style for the parsers,
//       bit 6 the file is one byte short when the queue is flushed
//   [1..2] the Content-Length (big-endian)   [3..4] fragmentation seed
//   [5..] writes, each an op byte o then its operands, o & 3:
//     0  a memory write of one piece: n (1 byte), then n bytes of content;
//        bytes the queue keeps (keep()) when o & 0x80
//     1  a gather write of 1 + (o >> 2 & 3) pieces, each n (1 byte) + n bytes
//     2  a fill: count (2 bytes) * (1 + (o >> 2 & 15)) copies of one byte
//        (1 byte); from a file range when o & 0x40, else from memory
//     3  an empty write: from a file range when o & 4, else from memory
//   Content that runs past the input is cut short; the body stops growing
//   at kMaxBody bytes.
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/asio/buffer.hpp>

#include "anvil/parser/parser.hpp"
#include "fuzz_support.hpp"
#include "output.hpp"  // server/src

namespace {

using anvil::fuzz::append;
using anvil::fuzz::ReadResponse;
using anvil::parser::BodyKind;
using anvil::parser::Error;
using anvil::parser::ParserKind;
using anvil::server::BodyFramer;
using anvil::server::Framing;
using anvil::server::OutputQueue;

constexpr std::string_view kTarget = "chunk_fuzz";
constexpr std::size_t kHeaderBytes = 5;
constexpr std::size_t kMaxBody = 1 << 17;  // 5 hex digits; more only slows the fuzzer
constexpr std::string_view kModeNames[] = {"chunked", "content-length", "until-close", "no-body"};

enum class Mode : std::uint8_t { chunked, content_length, until_close, no_body };

// One write as the framer got it.
struct Write {
  std::string bytes;  // the content, whatever its source
  bool file = false;  // a file range (sendfile) rather than memory
  bool kept = false;  // handed to the queue to own (keep())
  int pieces = 1;     // memory pieces it was gathered from
};

struct Setup {
  Mode mode = Mode::chunked;
  bool finish = false;
  bool flush = false;
  bool short_file = false;
  std::uint64_t length = 0;
  std::uint8_t cut_style = 0;
  std::uint16_t cut_seed = 0;
  std::vector<Write> writes;
};

// Reads operands from the input; past its end, 0 and nothing.
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool done() const { return at_ == size_; }
  std::uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
  std::string bytes(std::size_t n) {
    n = std::min(n, size_ - at_);
    std::string s(reinterpret_cast<const char*>(data_ + at_), n);
    at_ += n;
    return s;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

bool decode(const std::uint8_t* data, std::size_t size, Setup& setup) {
  if (size < kHeaderBytes) return false;
  setup.mode = static_cast<Mode>(data[0] & 3);
  setup.finish = data[0] & 4;
  setup.flush = data[0] & 8;
  setup.cut_style = static_cast<std::uint8_t>(data[0] >> 4 & 3);
  setup.short_file = data[0] & 0x40;
  setup.length = static_cast<std::uint64_t>(data[1] << 8 | data[2]);
  setup.cut_seed = static_cast<std::uint16_t>(data[3] << 8 | data[4]);
  Reader in(data + kHeaderBytes, size - kHeaderBytes);
  std::size_t total = 0;
  while (!in.done() && total < kMaxBody) {
    const std::uint8_t op = in.byte();
    Write w;
    switch (op & 3) {
      case 0:
        w.bytes = in.bytes(in.byte());
        w.kept = op & 0x80;
        break;
      case 1: {
        w.pieces = 1 + (op >> 2 & 3);
        for (int i = 0; i < w.pieces; ++i) w.bytes += in.bytes(in.byte());
        break;
      }
      case 2: {
        const std::size_t count = static_cast<std::size_t>(in.byte() << 8 | in.byte());
        const char fill = static_cast<char>(in.byte());
        w.bytes.assign(std::min(count * (1 + (op >> 2 & 15)), kMaxBody - total), fill);
        w.file = op & 0x40;
        break;
      }
      case 3:
        w.file = op & 4;
        w.pieces = 1 + (op >> 3 & 3);  // several empty pieces
        break;
    }
    total += w.bytes.size();
    setup.writes.push_back(std::move(w));
  }
  return true;
}

std::string describe(const Setup& s) {
  std::string out = "mode=";
  out += kModeNames[static_cast<int>(s.mode)];
  append(out, {" finish=", std::to_string(s.finish), " flush=", std::to_string(s.flush),
               " short_file=", std::to_string(s.short_file), " length=", std::to_string(s.length),
               "\nwrites:"});
  for (const Write& w : s.writes) {
    append(out, {" ", std::to_string(w.bytes.size())});
    if (w.file) out += "(file)";
    if (w.kept) out += "(kept)";
    if (w.pieces > 1) append(out, {"(", std::to_string(w.pieces), " pieces)"});
  }
  return out;
}

[[noreturn]] void finding(const Setup& setup, std::string_view what, std::string_view framed) {
  std::string detail = describe(setup);
  append(detail, {"\n--- framed (", std::to_string(framed.size()), " bytes, first 2048) ---\n"});
  detail += anvil::fuzz::printable(framed.substr(0, 2048));
  anvil::fuzz::fail(kTarget, what, detail);
}

// An anonymous file holding every file write's bytes, one after another.
class MemFile {
 public:
  MemFile() : fd_(memfd_create("chunk_fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) anvil::fuzz::fail(kTarget, "memfd_create failed", "");
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  int fd() const { return fd_; }
  std::uint64_t append(std::string_view bytes) {
    const std::uint64_t at = size_;
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n =
          ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(at + done));
      if (n <= 0) anvil::fuzz::fail(kTarget, "memfd write failed", "");
      done += static_cast<std::size_t>(n);
    }
    size_ += bytes.size();
    return at;
  }
  void shorten() {
    if (size_ > 0 && ::ftruncate(fd_, static_cast<off_t>(--size_)) != 0) {
      anvil::fuzz::fail(kTarget, "memfd truncate failed", "");
    }
  }

 private:
  int fd_;
  std::uint64_t size_ = 0;
};

// The independent decoder: chunk-size in lower-case hex without leading
// zeros or extensions, CRLF, the data, CRLF; then `0\r\n\r\n` and nothing
// after it. Returns what is wrong, or "" with the decoded chunks.
std::string strict_chunks(std::string_view s, bool finished, std::vector<std::string>& chunks) {
  for (;;) {
    if (s.empty()) return finished ? "the last chunk is missing" : "";
    std::size_t i = 0;
    std::uint64_t size = 0;
    while (i < s.size() && i < 16 && std::string_view("0123456789abcdef").find(s[i]) != s.npos) {
      size = size * 16 + static_cast<std::uint64_t>(s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10);
      ++i;
    }
    if (i == 0) return "no chunk size";
    if (i > 1 && s[0] == '0') return "a chunk size with a leading zero";
    if (s.substr(i, 2) != "\r\n") return "no CRLF after the chunk size";
    s.remove_prefix(i + 2);
    if (size == 0) {
      if (!finished) return "a last chunk (0) before finish(): the body ended early";
      if (s != "\r\n") return "the last chunk is not followed by exactly CRLF and the end";
      return "";
    }
    if (s.size() < size + 2) return "chunk data shorter than its size";
    chunks.emplace_back(s.substr(0, size));
    if (s.substr(size, 2) != "\r\n") return "no CRLF after the chunk data";
    s.remove_prefix(size + 2);
  }
}

// Flushes q through a socket pair whose send buffer is small, reading the
// other end as it goes; returns the bytes that arrived, and in ec why the
// flush failed, if it did.
std::string flush_through_socket(const Setup& setup, OutputQueue& q, std::size_t expected,
                                 std::error_code& failure) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
    anvil::fuzz::fail(kTarget, "socketpair failed", "");
  }
  const int small = 4096;
  ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  std::string got;
  std::uint64_t written = 0;
  std::size_t rounds = 0;
  for (;;) {
    const OutputQueue::Flush f = q.flush(sv[0], failure, written);
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(sv[1], buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
    if (f != OutputQueue::Flush::blocked) break;
    if (++rounds > 4 * expected + 16) finding(setup, "flush makes no progress", got);
  }
  ::close(sv[0]);
  ::close(sv[1]);
  if (!q.empty()) finding(setup, "the queue is not empty after a done or failed flush", got);
  if (written != got.size()) finding(setup, "flush counted other bytes than it wrote", got);
  return got;
}

void check_parsed(const Setup& setup, std::string_view head, std::string_view framed,
                  std::string_view expected, bool must_end) {
  const std::string input = std::string(head) + std::string(framed);
  // Byte by byte over a megabyte is slow and finds nothing new: few cuts then.
  const std::uint8_t style =
      input.size() > 16384 && (setup.cut_style & 3) != 0 ? 0 : setup.cut_style;
  const std::vector<std::size_t> cuts = anvil::fuzz::make_cuts(style, setup.cut_seed, input.size());
  for (const ParserKind kind : anvil::parser::all_parser_kinds()) {
    auto parser = anvil::parser::make_parser(kind, anvil::parser::Mode::response);
    for (const bool whole : {true, false}) {
      const bool until_close = setup.mode == Mode::until_close;
      const ReadResponse r = anvil::fuzz::read_response(
          *parser, input, whole ? std::span<const std::size_t>() : cuts, until_close);
      std::string who(anvil::parser::name_of(kind));
      who += whole ? " fed whole: " : " fed in pieces: ";
      if (!r.problem.empty()) finding(setup, who + r.problem, framed);
      if (r.error != Error::none) {
        finding(setup, who + "parse error " + std::string(anvil::parser::code_of(r.error)), framed);
      }
      if (!r.has_head) finding(setup, who + "no head", framed);
      if (r.body != expected)
        finding(setup, who + "the decoded body differs from the writes", framed);
      if (r.done != must_end) {
        finding(setup, who + (must_end ? "the message did not end" : "the message ended early"),
                framed);
      }
      if (r.done && r.done_at != input.size()) {
        finding(setup,
                who + "the message ended before the bytes did (" +
                    std::to_string(input.size() - r.done_at) + " bytes after it)",
                framed);
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Setup setup;
  if (!decode(data, size, setup)) return 0;
  Framing f;
  f.chunked = setup.mode == Mode::chunked;
  f.no_body = setup.mode == Mode::no_body;
  f.close = setup.mode == Mode::until_close;
  const bool has_length = setup.mode == Mode::content_length;

  OutputQueue q;
  BodyFramer framer;
  framer.start(f, has_length, setup.length);
  MemFile file;
  std::string all;            // every byte written, in order
  std::size_t non_empty = 0;  // writes with at least one byte
  // The last non-empty file write went to the queue whole, so its range
  // ends where the file does (a shortened file then fails the flush).
  bool last_file_whole = false;
  std::vector<std::size_t> called;  // after_flush() callbacks run, by write
  std::size_t index = 0;
  for (const Write& w : setup.writes) {
    all += w.bytes;
    if (!w.bytes.empty()) ++non_empty;
    q.after_flush([&called, i = index++](std::error_code) { called.push_back(i); });
    if (w.file) {
      const std::uint64_t before = framer.sent();
      framer.write_file(q, file.fd(), file.append(w.bytes), w.bytes.size());
      if (!w.bytes.empty()) last_file_whole = framer.sent() - before == w.bytes.size();
      continue;
    }
    if (w.kept) {
      const std::string& mine = q.keep(w.bytes);
      const boost::asio::const_buffer b(mine.data(), mine.size());
      framer.write(q, {&b, 1});
      continue;
    }
    // The pieces: the content cut evenly (the last takes the rest); the
    // queue references them, so they live in w until the checks are done.
    std::vector<boost::asio::const_buffer> pieces;
    const std::size_t each = w.bytes.size() / static_cast<std::size_t>(w.pieces);
    for (int i = 0; i < w.pieces; ++i) {
      const std::size_t at = each * static_cast<std::size_t>(i);
      const std::size_t n = i + 1 == w.pieces ? w.bytes.size() - at : each;
      pieces.emplace_back(w.bytes.data() + at, n);
    }
    framer.write(q, pieces);
  }
  if (setup.finish) framer.finish(q);
  const std::string framed = q.contents();

  if (framer.given() != (f.no_body ? 0 : all.size())) {
    finding(setup, "given() is not the bytes written", framed);
  }
  const std::uint64_t kept =
      has_length ? std::min<std::uint64_t>(all.size(), setup.length) : all.size();
  if (framer.sent() != (f.no_body ? 0 : kept)) finding(setup, "sent() is wrong", framed);
  if (framer.length_kept() != (!has_length || all.size() == setup.length)) {
    finding(setup, "length_kept() is wrong", framed);
  }

  switch (setup.mode) {
    case Mode::chunked: {
      std::vector<std::string> chunks;
      const std::string wrong = strict_chunks(framed, setup.finish, chunks);
      if (!wrong.empty()) finding(setup, wrong, framed);
      if (chunks.size() != non_empty) finding(setup, "not one chunk per non-empty write", framed);
      std::size_t i = 0;
      for (const Write& w : setup.writes) {
        if (!w.bytes.empty() && chunks[i++] != w.bytes) {
          finding(setup, "a chunk is not its write", framed);
        }
      }
      check_parsed(setup, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", framed, all,
                   setup.finish);
      break;
    }
    case Mode::content_length: {
      const std::string_view expected = std::string_view(all).substr(0, kept);
      if (framed != expected) finding(setup, "not the writes cut at the Content-Length", framed);
      check_parsed(
          setup, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(setup.length) + "\r\n\r\n",
          framed, expected, all.size() >= setup.length);
      break;
    }
    case Mode::until_close:
      if (framed != all) finding(setup, "an until-close body is not the writes", framed);
      check_parsed(setup, "HTTP/1.0 200 OK\r\n\r\n", framed, all, true);
      break;
    case Mode::no_body:
      if (!framed.empty()) finding(setup, "body bytes for a response without a body", framed);
      break;
  }

  if (setup.flush) {
    if (setup.short_file) file.shorten();
    std::error_code failure;
    const std::string got = flush_through_socket(setup, q, framed.size(), failure);
    if (setup.short_file && last_file_whole) {
      if (failure != std::errc::io_error)
        finding(setup, "a short file did not fail the flush", got);
      if (got.size() >= framed.size() || framed.compare(0, got.size(), got) != 0) {
        finding(setup, "a failed flush sent other than a prefix of the queue", got);
      }
    } else {
      if (failure) finding(setup, "the flush failed: " + failure.message(), got);
      if (got != framed) finding(setup, "the socket got other bytes than the queue held", got);
    }
  } else {
    q.clear();
    if (!q.empty()) finding(setup, "the queue is not empty after clear()", framed);
  }
  q.take_callbacks([](anvil::server::WriteCallback&& cb) { cb(std::error_code()); });
  bool in_order = called.size() == setup.writes.size();
  for (std::size_t i = 0; in_order && i < called.size(); ++i) in_order = called[i] == i;
  if (!in_order) {
    finding(setup, "the after_flush() callbacks were not handed back once each, in order", framed);
  }
  return 0;
}

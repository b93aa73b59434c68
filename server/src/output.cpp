#include "output.hpp"

#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

namespace anvil::server {

namespace {
constexpr std::size_t kMaxIov = 1024;  // IOV_MAX on Linux
}  // namespace

OutputQueue::OutputQueue() {
  segments_.reserve(16);
  iov_.reserve(16);
}

void OutputQueue::copy(std::string_view bytes) {
  if (bytes.empty()) return;
  const std::uint64_t at = scratch_.size();
  scratch_.append(bytes);
  add_scratch(at, bytes.size());
}

void OutputQueue::add_scratch(std::uint64_t at, std::uint64_t size) {
  if (size == 0) return;
  if (!segments_.empty()) {
    Segment& last = segments_.back();
    if (last.kind == Segment::Kind::scratch && last.offset + last.size == at) {
      last.size += size;
      return;
    }
  }
  Segment s;
  s.kind = Segment::Kind::scratch;
  s.offset = at;
  s.size = size;
  segments_.push_back(s);
}

void OutputQueue::reference(const void* data, std::size_t size) {
  if (size == 0) return;
  Segment s;
  s.kind = Segment::Kind::memory;
  s.data = static_cast<const char*>(data);
  s.size = size;
  segments_.push_back(s);
}

const std::string& OutputQueue::keep(std::string bytes) {
  owned_.push_back(std::move(bytes));
  return owned_.back();
}

void OutputQueue::file(int fd, std::uint64_t offset, std::uint64_t count) {
  if (count == 0) return;
  Segment s;
  s.kind = Segment::Kind::file;
  s.fd = fd;
  s.offset = offset;
  s.size = count;
  segments_.push_back(s);
}

void OutputQueue::after_flush(WriteCallback done) {
  if (done) callbacks_.push_back(std::move(done));
}

OutputQueue::Flush OutputQueue::flush(int fd, std::error_code& ec, std::uint64_t& written) {
  while (next_ < segments_.size()) {
    const Segment& first = segments_[next_];
    ssize_t n;
    if (first.kind == Segment::Kind::file) {
      off_t off = static_cast<off_t>(first.offset + next_done_);
      const auto want =
          static_cast<std::size_t>(std::min<std::uint64_t>(first.size - next_done_, 1u << 30));
      n = ::sendfile(fd, first.fd, &off, want);
      if (n == 0) {  // the file is shorter than promised
        ec = std::make_error_code(std::errc::io_error);
        clear();
        return Flush::failed;
      }
    } else {
      iov_.clear();
      for (std::size_t i = next_; i < segments_.size() && iov_.size() < kMaxIov; ++i) {
        const Segment& s = segments_[i];
        if (s.kind == Segment::Kind::file) break;
        const char* p = s.kind == Segment::Kind::scratch ? scratch_.data() + s.offset : s.data;
        const std::uint64_t skip = i == next_ ? next_done_ : 0;
        iov_.push_back({const_cast<char*>(p + skip), static_cast<std::size_t>(s.size - skip)});
      }
      n = ::writev(fd, iov_.data(), static_cast<int>(iov_.size()));
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Flush::blocked;
      ec = std::error_code(errno, std::generic_category());
      clear();
      return Flush::failed;
    }
    auto left = static_cast<std::uint64_t>(n);
    written += left;
    while (next_ < segments_.size()) {
      const std::uint64_t rest = segments_[next_].size - next_done_;
      if (left < rest) {
        next_done_ += left;
        break;
      }
      left -= rest;
      ++next_;
      next_done_ = 0;
    }
  }
  reset();
  for (auto& cb : callbacks_) due_.push_back(std::move(cb));
  callbacks_.clear();
  return Flush::done;
}

void OutputQueue::clear() {
  reset();
  for (auto& cb : callbacks_) due_.push_back(std::move(cb));
  callbacks_.clear();
}

void OutputQueue::reset() {
  segments_.clear();
  scratch_.clear();
  owned_.clear();
  next_ = 0;
  next_done_ = 0;
}

std::string OutputQueue::contents() const {
  std::string out;
  for (std::size_t i = next_; i < segments_.size(); ++i) {
    const Segment& s = segments_[i];
    const std::uint64_t skip = i == next_ ? next_done_ : 0;
    if (s.kind == Segment::Kind::file) {
      std::string piece(static_cast<std::size_t>(s.size - skip), '\0');
      const ssize_t n =
          ::pread(s.fd, piece.data(), piece.size(), static_cast<off_t>(s.offset + skip));
      piece.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
      out += piece;
      continue;
    }
    const char* p = s.kind == Segment::Kind::scratch ? scratch_.data() + s.offset : s.data;
    out.append(p + skip, static_cast<std::size_t>(s.size - skip));
  }
  return out;
}

// ---------------------------------------------------------------------------

void BodyFramer::start(const Framing& f, bool has_length, std::uint64_t length) noexcept {
  framing_ = f;
  has_length_ = has_length;
  length_ = length;
  given_ = 0;
}

std::uint64_t BodyFramer::room(std::uint64_t n) const noexcept {
  if (!has_length_) return n;
  if (given_ >= length_) return 0;
  return std::min(n, length_ - given_);
}

std::uint64_t BodyFramer::sent() const noexcept {
  if (framing_.no_body) return 0;
  return has_length_ ? std::min(given_, length_) : given_;
}

bool BodyFramer::length_kept() const noexcept {
  return framing_.no_body || !has_length_ || given_ == length_;
}

void BodyFramer::chunk_size(OutputQueue& q, std::uint64_t n) {
  char line[24];
  auto [end, ec] = std::to_chars(line, line + 20, n, 16);
  *end++ = '\r';
  *end++ = '\n';
  q.copy({line, static_cast<std::size_t>(end - line)});
}

void BodyFramer::write(OutputQueue& q, std::span<const boost::asio::const_buffer> pieces) {
  std::uint64_t total = 0;
  for (const auto& p : pieces) total += p.size();
  if (total == 0 || framing_.no_body) return;
  // RFC 9112 §7.1: a chunk of size 0 would end the body: empty writes send nothing.
  if (framing_.chunked) chunk_size(q, total);
  std::uint64_t left = room(total);
  for (const auto& p : pieces) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(p.size(), left));
    q.reference(p.data(), n);
    left -= n;
  }
  if (framing_.chunked) q.copy("\r\n");
  given_ += total;
}

void BodyFramer::write_file(OutputQueue& q, int fd, std::uint64_t offset, std::uint64_t count) {
  if (count == 0 || framing_.no_body) return;
  if (framing_.chunked) chunk_size(q, count);
  q.file(fd, offset, room(count));
  if (framing_.chunked) q.copy("\r\n");
  given_ += count;
}

void BodyFramer::finish(OutputQueue& q) {
  if (framing_.chunked && !framing_.no_body) q.copy("0\r\n\r\n");  // last-chunk, no trailers
}

std::string frame_body(const Framing& f, bool has_length, std::uint64_t length,
                       std::span<const std::string_view> writes, bool finish) {
  OutputQueue q;
  BodyFramer framer;
  framer.start(f, has_length, length);
  for (std::string_view w : writes) {
    const boost::asio::const_buffer b(w.data(), w.size());
    framer.write(q, {&b, 1});
  }
  if (finish) framer.finish(q);
  return q.contents();
}

}  // namespace anvil::server

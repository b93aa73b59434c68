#include "wsgi_input.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "wsgi.hpp"

namespace anvil::python {

namespace {

constexpr std::size_t kReadPiece = 64 * 1024;
constexpr std::size_t kAll = std::numeric_limits<std::size_t>::max();

// None or a negative number means "everything" (io.RawIOBase semantics).
std::size_t size_arg(const py::object& size) {
  if (size.is_none()) return kAll;
  const auto n = size.cast<long long>();
  return n < 0 ? kAll : static_cast<std::size_t>(n);
}

}  // namespace

std::size_t Input::available() const noexcept {
  return buffered_ ? view_.size() : pending_.size() - pos_;
}

const char* Input::data() const noexcept {
  return buffered_ ? view_.data() : pending_.data() + pos_;
}

bool Input::fill(std::size_t want) {
  Exchange* ex = t_->exchange();
  if (ex == nullptr) {  // the response is over: the body spans are gone
    view_ = {};
    pending_.clear();
    pos_ = 0;
    return false;
  }
  if (!started_) {
    started_ = true;
    buffered_ = ex->body_buffered();
    if (buffered_) view_ = ex->buffered_body();
  }
  if (buffered_ || eof_) return available() > 0;
  while (available() < want && !eof_) {
    if (pos_ > 0) {
      pending_.erase(0, pos_);
      pos_ = 0;
    }
    const std::size_t old = pending_.size();
    const std::size_t piece = std::min(kReadPiece, want == kAll ? kReadPiece : want - available());
    pending_.resize(old + piece);
    server::BodyRead r;
    {
      // The read may wait for the client (and sends 100 Continue first).
      py::gil_scoped_release unlocked;
      r = ex->read_body(pending_.data() + old, piece);
    }
    pending_.resize(old + r.n);
    if (r.error != server::BodyError::none) {
      eof_ = true;
      PyErr_SetString(PyExc_OSError, server::describe(r.error).data());
      throw py::error_already_set();
    }
    if (r.n == 0) eof_ = true;
  }
  return available() > 0;
}

py::bytes Input::take(std::size_t n) {
  n = std::min(n, available());
  py::bytes out(data(), n);
  if (buffered_) {
    view_.remove_prefix(n);
  } else {
    pos_ += n;
  }
  return out;
}

py::bytes Input::read(py::object size) {
  const std::size_t n = size_arg(size);
  if (n == 0) return py::bytes();
  fill(n);
  return take(n);
}

py::bytes Input::readline(py::object size) {
  const std::size_t limit = size_arg(size);
  if (limit == 0) return py::bytes();
  std::size_t scanned = 0;
  for (;;) {
    const std::size_t have = available();
    const char* base = data();
    const void* nl = have > scanned ? std::memchr(base + scanned, '\n', have - scanned) : nullptr;
    if (nl != nullptr) {
      const auto end = static_cast<std::size_t>(static_cast<const char*>(nl) - base) + 1;
      return take(std::min(end, limit));
    }
    if (have >= limit) return take(limit);
    scanned = have;
    const std::size_t want = limit == kAll ? have + kReadPiece : std::min(limit, have + kReadPiece);
    if (!fill(want) || available() == have) return take(available());
  }
}

py::list Input::readlines(py::object hint) {
  const std::size_t limit = size_arg(hint);
  py::list lines;
  std::size_t total = 0;
  for (std::size_t i = 0; i < kAll; ++i) {
    py::bytes line = readline(py::none());
    const auto n = static_cast<std::size_t>(PyBytes_Size(line.ptr()));
    if (n == 0) break;
    lines.append(std::move(line));
    total += n;
    if (limit != kAll && total >= limit) break;
  }
  return lines;
}

}  // namespace anvil::python

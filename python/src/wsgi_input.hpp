// wsgi.input: the request body as a file-like object (PEP 3333 "Input and
// Error Streams"). Reads never block past the body's end: at the end they
// return b"". A body in memory is served from the exchange's buffer; one
// spooled to disk (past --body-buffer-size) or still to come (Expect:
// 100-continue) through read_body(), with the GIL released.
// After the response has finished, every read returns b"".
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <pybind11/pybind11.h>

namespace anvil::python {

namespace py = pybind11;
class Transaction;

class Input {
 public:
  explicit Input(std::shared_ptr<Transaction> t) : t_(std::move(t)) {}

  py::bytes read(py::object size);
  py::bytes readline(py::object size);
  py::list readlines(py::object hint);

 private:
  // Makes at least `want` bytes available in [data(), size()) unless the body
  // ends first; returns false at the end of the body with nothing left.
  bool fill(std::size_t want);
  std::size_t available() const noexcept;
  const char* data() const noexcept;
  py::bytes take(std::size_t n);

  std::shared_ptr<Transaction> t_;
  bool started_ = false;   // the buffered body view has been taken
  bool buffered_ = false;  // serving from the exchange's buffer
  bool eof_ = false;       // read_body() said the body ended
  std::string_view view_;  // buffered: the unread part of the body
  std::string pending_;    // streamed: bytes read ahead, from pos_
  std::size_t pos_ = 0;
};

}  // namespace anvil::python

// Transaction: one request through a WSGI app (PEP 3333 "The start_response()
// Callable", "Handling the Content-Length Header", "Error Handling"), the one
// send path both WSGI paths write through (Transaction::send), and the
// FileWrapper type handed to the app.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <vector>

#include "anvil/parser/text.hpp"
#include "wsgi.hpp"
#include "wsgi_types.hpp"

namespace anvil::python {

namespace {

using Clock = std::chrono::steady_clock;

// Bodies up to this size are copied into the core's own buffer, so no Python
// reference has to outlive the call (and no GIL is needed on completion).
constexpr std::size_t kCopyLimit = 64 * 1024;
constexpr std::string_view kErrorBody = "Internal Server Error\n";

void noop(std::error_code) {}

// obj.name, or a null object when obj has no such attribute; any other error
// of the lookup is raised (py::hasattr would swallow it).
py::object optional_attr(py::handle obj, const char* name) {
  PyObject* a = PyObject_GetAttrString(obj.ptr(), name);
  if (a != nullptr) return py::reinterpret_steal<py::object>(a);
  if (PyErr_ExceptionMatches(PyExc_AttributeError) == 0) throw py::error_already_set();
  PyErr_Clear();
  return py::object();
}

void set_error(PyObject* type, const std::string& text) { PyErr_SetString(type, text.c_str()); }

// A str whose code points are all below 256, as bytes (PEP 3333: "native
// strings" for status and headers are latin-1).
bool to_latin1(PyObject* s, std::string& out, const char* what) {
  if (!PyUnicode_Check(s)) {
    set_error(PyExc_TypeError, std::string(what) + " must be str, not " + Py_TYPE(s)->tp_name);
    return false;
  }
#ifndef PYPY_VERSION
  // CPython keeps ASCII strings as bytes already (PEP 393): no encoding step.
  if (PyUnicode_IS_ASCII(s)) {
    out.assign(static_cast<const char*>(PyUnicode_DATA(s)),
               static_cast<std::size_t>(PyUnicode_GET_LENGTH(s)));
    return true;
  }
#endif
  PyObject* b = PyUnicode_AsLatin1String(s);
  if (b == nullptr) return false;
  out.assign(PyBytes_AS_STRING(b), static_cast<std::size_t>(PyBytes_GET_SIZE(b)));
  Py_DECREF(b);
  return true;
}

using parser::text::iequals;

}  // namespace

std::string_view start_error_text(server::StartError e) { return server::describe(e); }

std::error_code Transaction::send(Output out, bool last, After after) {
  auto issue = [&](server::WriteCallback done) {
    if (auto* copy = std::get_if<std::string>(&out)) {
      ex_->write(std::move(*copy), std::move(done), last);
    } else if (auto* pieces = std::get_if<Pieces>(&out)) {
      ex_->write(*pieces, std::move(done), last);
    } else {
      const FileRange& f = std::get<FileRange>(out);
      ex_->send_file(f.fd, f.offset, f.count, std::move(done), last);
    }
  };
  if (after == nullptr && (async_ || last)) {
    issue(noop);  // the core owns the bytes: nothing to wait for
    return {};
  }
  if (async_) {
    issue([self = shared_from_this(), after](std::error_code ec) {
      py::gil_scoped_acquire gil;
      ((*self).*after)(ec);
    });
    return {};
  }
  std::error_code ec;
  {
    py::gil_scoped_release unlocked;  // issue() touches no Python object
    ec = wait_for_write(*ex_, handler_.options().write_wait, issue);
  }
  if (after != nullptr) (this->*after)(ec);
  return ec;
}

// The response's last output has gone (or the client has): PEP 3333's close()
// on the iterable (a file wrapper: its file), then the Python references go.
void Transaction::sent(std::error_code) {
  close_iterable();
  if (PyErr_Occurred() != nullptr) handler_.log_error("closing the response iterable");
  release();
}

void Transaction::write_bytes(PyObject* data, bool last) {
  wrote_ = true;
  if (last) finished_ = true;
  const std::error_code ec = send(
      std::string(PyBytes_AS_STRING(data), static_cast<std::size_t>(PyBytes_GET_SIZE(data))), last);
  if (ec) {
    PyErr_SetString(PyExc_OSError, ("write(): " + ec.message()).c_str());
    throw py::error_already_set();
  }
}

// --- Python types ------------------------------------------------------------

struct FileWrapper {
  py::object filelike;
  py::ssize_t blksize;
};

// --- Transaction -------------------------------------------------------------

Transaction::Transaction(WsgiHandler& handler, std::shared_ptr<Exchange> ex, bool async)
    : handler_(handler), ex_(std::move(ex)), async_(async) {}

Transaction::~Transaction() {
  // The exchange is the connection: its last reference must go on the loop
  // thread, which owns the connection's resources.
  if (ex_ && !ex_->on_loop_thread()) {
    Exchange* ex = ex_.get();
    ex->post([keep = std::move(ex_)] {});
  }
  if (!result_ && !iterator_ && !in_flight_) return;
  if (Py_IsInitialized() == 0) return;
  py::gil_scoped_acquire gil;
  release();
}

void Transaction::release() {
  result_ = py::object();
  iterator_ = py::object();
  in_flight_ = py::object();
}

void Transaction::run() {
  // Nothing may escape into the loop: a failure here is the app's 500.
  if (!succeeds([&] { run_unguarded(); })) fail("serving the request");
}

void Transaction::run_unguarded() {
  const bool stats = ex_->stats_enabled();
  const auto t0 = stats ? Clock::now() : Clock::time_point{};
  py::object environ;
  if (!succeeds([&] { environ = handler_.environ().build(*ex_, make_input(shared_from_this())); }))
    return fail("building environ");
  const auto t1 = stats ? Clock::now() : Clock::time_point{};
  if (stats) ex_->add_stage_time(server::Stage::environ, t1 - t0);

  py::object sr = make_start_response(shared_from_this());
  PyObject* args[2] = {environ.ptr(), sr.ptr()};
  PyObject* r = PyObject_Vectorcall(handler_.app().ptr(), args, 2, nullptr);
  environ = py::object();
  sr = py::object();
  if (r == nullptr) return fail("calling the app");
  result_ = py::reinterpret_steal<py::object>(r);

  if (PyList_CheckExact(r) || PyTuple_CheckExact(r)) {
    send_list(result_);
  } else if (!try_send_file(result_)) {
    if (PyErr_Occurred() != nullptr) return fail("sending a file");
    PyObject* it = PyObject_GetIter(r);
    if (it == nullptr) return fail("iterating the response");
    iterator_ = py::reinterpret_steal<py::object>(it);
    pump();
  }
  if (stats) ex_->add_stage_time(server::Stage::app, Clock::now() - t1);
}

bool Transaction::check_head_set() {
  if (!called_) {
    set_error(PyExc_RuntimeError, "the app returned without calling start_response");
    return false;
  }
  if (head_error_) {
    set_error(PyExc_ValueError, "start_response: " + head_error_text_);
    return false;
  }
  return true;
}

// PEP 3333 lets a server add the Content-Length of a body it knows whole,
// within RFC 9110 §8.6: never on 204 or 304 (a 304's length would be the
// 200's, which only the app knows), and never 0 on HEAD, where an empty body
// is what the app left out, not the length a GET would have.
bool Transaction::may_add_length(std::uint64_t length) const {
  const std::string_view code = std::string_view(status_).substr(0, 3);  // the core checked it
  if (code == "204" || code == "304") return false;
  return length > 0 || ex_->request().method != "HEAD";
}

// The head start_response gave the core gets the field; it is not built again.
bool Transaction::add_length(std::uint64_t length) {
  const server::StartError e = ex_->add_length(length);
  if (e != server::StartError::none) {
    head_error_text_ = std::string(start_error_text(e));
    return false;
  }
  has_length_ = true;
  length_ = length;
  return true;
}

void Transaction::start_response(py::handle status, py::handle headers, py::handle exc_info) {
  if (finished_) throw py::value_error("start_response called after the response has finished");
  if (!exc_info.is_none()) {
    if (ex_->headers_sent() || wrote_) {
      // PEP 3333: too late to change the head; re-raise so the app unwinds.
      if (!PyTuple_Check(exc_info.ptr()) || PyTuple_GET_SIZE(exc_info.ptr()) != 3) {
        throw py::type_error("exc_info must be a (type, value, traceback) tuple");
      }
      PyObject* parts[3];
      for (Py_ssize_t i = 0; i < 3; ++i) {
        parts[i] = PyTuple_GET_ITEM(exc_info.ptr(), i);
        Py_INCREF(parts[i]);
      }
      PyErr_Restore(parts[0], parts[1], parts[2]);
      throw py::error_already_set();
    }
  } else if (called_) {
    throw py::value_error("start_response called a second time without exc_info");
  }
  std::string new_status;
  if (!to_latin1(status.ptr(), new_status, "status")) throw py::error_already_set();
  if (!PyList_Check(headers.ptr())) {
    throw py::type_error(std::string("headers must be a list, not ") +
                         Py_TYPE(headers.ptr())->tp_name);
  }
  std::vector<std::pair<std::string, std::string>> new_headers;
  bool has_length = false;
  std::uint64_t length = 0;
  const Py_ssize_t n = PyList_GET_SIZE(headers.ptr());
  new_headers.reserve(static_cast<std::size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = PyList_GET_ITEM(headers.ptr(), i);
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
      throw py::type_error("each header must be a (name, value) tuple");
    }
    std::string name, value;
    if (!to_latin1(PyTuple_GET_ITEM(item, 0), name, "header name") ||
        !to_latin1(PyTuple_GET_ITEM(item, 1), value, "header value")) {
      throw py::error_already_set();
    }
    if (parser::text::is_hop_by_hop(name, value)) {
      throw py::value_error("start_response: hop-by-hop header field '" + name +
                            "' (PEP 3333: the server frames the response)");
    }
    if (iequals(name, "content-length") && !has_length) {
      has_length = true;
      // A value that is not a number leaves 0: start() refuses it below.
      std::from_chars(value.data(), value.data() + value.size(), length);
    }
    new_headers.emplace_back(std::move(name), std::move(value));
  }
  HeaderViews fields;
  for (const auto& [name, value] : new_headers) fields.add(name, value);
  const server::StartError e = ex_->start(new_status, fields.all());
  called_ = true;
  status_ = std::move(new_status);
  has_length_ = has_length;
  length_ = length;
  head_error_ = e != server::StartError::none;
  if (head_error_) {
    head_error_text_ = std::string(start_error_text(e));
    throw py::value_error("start_response: " + head_error_text_);
  }
}

void Transaction::write_callable(py::handle data) {
  if (!check_head_set()) throw py::error_already_set();
  if (finished_) throw py::value_error("write() after the response has finished");
  if (!PyBytes_Check(data.ptr())) {
    throw py::type_error(std::string("write() takes bytes, not ") + Py_TYPE(data.ptr())->tp_name);
  }
  if (PyBytes_GET_SIZE(data.ptr()) == 0) return;
  write_bytes(data.ptr(), false);
}

void Transaction::send_list(py::handle seq) {
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq.ptr());
  PyObject** items = PySequence_Fast_ITEMS(seq.ptr());
  std::size_t total = 0;
  for (Py_ssize_t i = 0; i < n; ++i) {
    if (!PyBytes_Check(items[i])) {
      set_error(PyExc_TypeError, std::string("the app's response items must be bytes, not ") +
                                     Py_TYPE(items[i])->tp_name);
      return fail("checking the response");
    }
    total += static_cast<std::size_t>(PyBytes_GET_SIZE(items[i]));
  }
  if (!check_head_set()) return fail("sending the response");
  // PEP 3333: a server may add Content-Length when the app's whole body is
  // known and none was given (here: a list of at most one item).
  if (!has_length_ && !wrote_ && n <= 1 && may_add_length(total) && !add_length(total)) {
    head_error_ = true;
    return fail("sending the response");
  }
  finished_ = true;
  if (total <= kCopyLimit) {
    std::string body;
    body.reserve(total);
    for (Py_ssize_t i = 0; i < n; ++i) {
      body.append(PyBytes_AS_STRING(items[i]),
                  static_cast<std::size_t>(PyBytes_GET_SIZE(items[i])));
    }
    release();
    send(std::move(body), /*last=*/true);
    return;
  }
  std::vector<boost::asio::const_buffer> pieces;
  pieces.reserve(static_cast<std::size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    if (PyBytes_GET_SIZE(items[i]) > 0) {
      pieces.emplace_back(PyBytes_AS_STRING(items[i]),
                          static_cast<std::size_t>(PyBytes_GET_SIZE(items[i])));
    }
  }
  // The pieces point into result_, which sent() drops once they are written.
  send(Pieces(pieces), /*last=*/true, &Transaction::sent);
}

// wsgi.file_wrapper around a regular file with a descriptor: sendfile(2).
bool Transaction::try_send_file(py::handle result) {
  if (!handler_.file_wrapper_type() ||
      Py_TYPE(result.ptr()) !=
          reinterpret_cast<PyTypeObject*>(handler_.file_wrapper_type().ptr())) {
    return false;
  }
  auto& w = result.cast<FileWrapper&>();
  int fd = -1;
  std::int64_t offset = 0;
  try {
    const py::object fileno = optional_attr(w.filelike, "fileno");
    if (!fileno) return false;
    fd = fileno().cast<int>();
    const py::object tell = optional_attr(w.filelike, "tell");
    offset =
        tell ? tell().cast<std::int64_t>() : static_cast<std::int64_t>(::lseek(fd, 0, SEEK_CUR));
  } catch (py::error_already_set&) {
    PyErr_Clear();  // io.UnsupportedOperation etc.: iterate it instead
    return false;
  } catch (const py::cast_error&) {
    return false;
  }
  struct stat st {};
  if (fd < 0 || offset < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if (!check_head_set()) {
    fail("sending a file");
    return true;
  }
  std::uint64_t count = st.st_size > offset ? static_cast<std::uint64_t>(st.st_size - offset) : 0;
  if (has_length_) {
    count = std::min(count, length_);
  } else if (!wrote_ && may_add_length(count) && !add_length(count)) {
    head_error_ = true;
    fail("sending a file");
    return true;
  }
  finished_ = true;
  // result_ keeps the descriptor open until sent() closes it.
  send(FileRange{fd, static_cast<std::uint64_t>(offset), count}, /*last=*/true, &Transaction::sent);
  return true;
}

void Transaction::on_written(std::error_code ec) {
  in_flight_ = py::object();
  if (ec) {
    // The client went away: nobody to answer, but close() is still owed.
    finished_ = true;
    close_iterable();
    release();
    return;
  }
  if (async_) pump();  // a Python thread goes on in pump()'s own loop
}

// Sends the iterator's items one by one (PEP 3333: a block is fully
// transmitted before the next one is asked for).
void Transaction::pump() {
  for (;;) {
    PyObject* item = chan_ != nullptr ? py_next() : PyIter_Next(iterator_.ptr());
    if (item == nullptr) {
      if (PyErr_Occurred() != nullptr) return fail("iterating the response");
      if (chan_ == nullptr) return finish_ok();
      // The Python side has finished (or aborted) the response itself.
      if (!finished_) {
        finished_ = true;
        ex_->finish();
      }
      return release();
    }
    py::object piece = py::reinterpret_steal<py::object>(item);
    if (!PyBytes_Check(item)) {
      set_error(PyExc_TypeError, std::string("the app's response items must be bytes, not ") +
                                     Py_TYPE(item)->tp_name);
      return fail("iterating the response");
    }
    if (PyBytes_GET_SIZE(item) == 0)
      continue;  // PEP 3333: empty items send nothing, not even the head
    if (chan_ == nullptr && !check_head_set()) return fail("iterating the response");
    wrote_ = true;
    const std::array<boost::asio::const_buffer, 1> bytes{boost::asio::const_buffer(
        PyBytes_AS_STRING(item), static_cast<std::size_t>(PyBytes_GET_SIZE(item)))};
    in_flight_ = std::move(piece);  // until on_written()
    send(Pieces(bytes), /*last=*/false, &Transaction::on_written);
    if (async_ || finished_) return;  // on the loop thread on_written() goes on
  }
}

void Transaction::finish_ok() {
  if (!check_head_set()) return fail("finishing the response");
  if (!has_length_ && !wrote_ && may_add_length(0) && !add_length(0)) {
    head_error_ = true;
    return fail("finishing the response");
  }
  close_iterable();
  if (PyErr_Occurred() != nullptr) return fail("closing the response iterable");
  finished_ = true;
  release();
  ex_->finish();
}

// PEP 3333: the iterable's close(), if it has one. A close() that raises,
// or a close attribute that raises on lookup, leaves the error set for the
// caller; only a missing attribute is not an error.
void Transaction::close_iterable() {
  if (!result_) return;
  py::object r = std::move(result_);
  PyObject* close = PyObject_GetAttrString(r.ptr(), "close");
  if (close == nullptr) {
    if (PyErr_ExceptionMatches(PyExc_AttributeError) != 0) PyErr_Clear();
    return;
  }
  PyObject* out = PyObject_CallNoArgs(close);
  Py_DECREF(close);
  Py_XDECREF(out);
}

// An exception in the app, its iteration or close(): 500 when nothing has
// gone out yet, else the connection is closed mid-response. The worker goes on.
void Transaction::fail(std::string_view where) {
  {
    std::string context(where);
    if (!finished_) {  // after finish() the request spans may belong to the next request
      const parser::Message& m = ex_->request();
      context.append(" for ").append(m.method).append(" ").append(m.target);
    }
    handler_.log_error(context);
  }
  close_iterable();
  if (PyErr_Occurred() != nullptr) handler_.log_error("closing the response iterable");
  const bool was_finished = finished_;
  finished_ = true;
  release();
  if (was_finished) return;
  if (ex_->headers_sent() || wrote_) {
    ex_->abort();
    return;
  }
  // The app failed: its connection ends after the 500 (issue 8 §3).
  static constexpr std::array<server::Header, 3> kHead{{
      {"Content-Type", "text/plain"},
      {"Content-Length", "22"},
      {"Connection", "close"},
  }};
  static_assert(kErrorBody.size() == 22);
  if (ex_->start("500 Internal Server Error", kHead) != server::StartError::none) {
    ex_->abort();
    return;
  }
  send(std::string(kErrorBody), /*last=*/true);
}

// --- registration ------------------------------------------------------------

void register_wsgi_types(py::module_& m) {
  register_request_types(m);
  register_channel_type(m);

  py::class_<FileWrapper>(
      m, "FileWrapper",
      "wsgi.file_wrapper: sent with sendfile(2) when the file has a descriptor, "
      "else read in blksize pieces.")
      .def(py::init([](py::object filelike, py::ssize_t blksize) {
             if (blksize <= 0) blksize = 8192;
             return FileWrapper{std::move(filelike), blksize};
           }),
           py::arg("filelike"), py::arg("blksize") = 8192)
      .def_readonly("filelike", &FileWrapper::filelike)
      .def_readonly("blksize", &FileWrapper::blksize)
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__",
           [](FileWrapper& w) {
             py::object data = w.filelike.attr("read")(w.blksize);
             if (!py::isinstance<py::bytes>(data) || PyBytes_GET_SIZE(data.ptr()) == 0)
               throw py::stop_iteration();
             return data;
           })
      .def("close", [](FileWrapper& w) {
        if (const py::object close = optional_attr(w.filelike, "close")) close();
      });
}

}  // namespace anvil::python

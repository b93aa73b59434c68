// The Python-side WSGI path (default on PyPy): one call per request into the
// pure-Python dispatcher of anvil/_pywsgi.py, which does environ,
// start_response, wsgi.input and the PEP 3333 rules itself. On PyPy each
// C-API call goes through cpyext's emulation (objects are mirrored between
// the two worlds), so the handler crosses the boundary as few times as it
// can: the request head goes over as one bytes object, and the common
// response (a list of bytes) comes back as one bytes object (head, NUL, body).
// Rarer work calls back through a channel object (one per Python thread).
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "wsgi.hpp"
#include "wsgi_environ.hpp"
#include "wsgi_types.hpp"

// PyVarObject_HEAD_INIT initializes the head only, as C extensions do.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace anvil::python {

namespace {

using Clock = std::chrono::steady_clock;

// --- the channel ---------------------------------------------------------------

struct ChannelObject {
  PyObject_HEAD Transaction* current;  // set only while C++ runs Python for it
};

Transaction* current_of(PyObject* self) {
  Transaction* t = reinterpret_cast<ChannelObject*>(self)->current;
  if (t == nullptr) PyErr_SetString(PyExc_ValueError, "no request in progress on this channel");
  return t;
}

// f(the channel's transaction), returning None to Python.
template <typename F>
PyObject* on_current(PyObject* self, F&& f) noexcept {
  Transaction* t = current_of(self);
  if (t == nullptr) return nullptr;
  return guarded([&] {
    f(*t);
    Py_RETURN_NONE;
  });
}

PyObject* chan_start(PyObject* self, PyObject* head) {
  if (!PyBytes_Check(head)) {
    PyErr_SetString(PyExc_TypeError, "start(head): head must be bytes");
    return nullptr;
  }
  return on_current(self, [&](Transaction& t) {
    t.py_start({PyBytes_AS_STRING(head), static_cast<std::size_t>(PyBytes_GET_SIZE(head))});
  });
}

PyObject* chan_write(PyObject* self, PyObject* args) {
  PyObject* data = nullptr;
  int last = 0;
  if (PyArg_ParseTuple(args, "Op:write", &data, &last) == 0) return nullptr;
  if (!PyBytes_Check(data)) {
    PyErr_SetString(PyExc_TypeError, "write(data, last): data must be bytes");
    return nullptr;
  }
  return on_current(self, [&](Transaction& t) { t.py_write(data, last != 0); });
}

PyObject* chan_finish(PyObject* self, PyObject*) {
  return on_current(self, [](Transaction& t) { t.py_finish(); });
}

PyObject* chan_abort(PyObject* self, PyObject*) {
  return on_current(self, [](Transaction& t) { t.py_abort(); });
}

PyObject* chan_send_file(PyObject* self, PyObject* args) {
  PyObject* owner = nullptr;
  int fd = -1;
  long long offset = 0;
  unsigned long long count = 0;
  if (PyArg_ParseTuple(args, "OiLK:send_file", &owner, &fd, &offset, &count) == 0) return nullptr;
  return on_current(self, [&](Transaction& t) {
    t.py_send_file(owner, fd, static_cast<std::int64_t>(offset), count);
  });
}

PyObject* chan_stat(PyObject* self, PyObject* ns) {
  const long long v = PyLong_AsLongLong(ns);
  if (v == -1 && PyErr_Occurred() != nullptr) return nullptr;
  return on_current(self, [&](Transaction& t) { t.py_stat(v); });
}

void chan_dealloc(PyObject* self) { Py_TYPE(self)->tp_free(self); }

PyMethodDef chan_methods[] = {
    {"start", chan_start, METH_O, "start(head): commit the packed response head."},
    {"write", chan_write, METH_VARARGS, "write(data, last): send body bytes."},
    {"finish", chan_finish, METH_NOARGS, "finish(): end the response."},
    {"abort", chan_abort, METH_NOARGS, "abort(): close the connection now."},
    {"send_file", chan_send_file, METH_VARARGS,
     "send_file(owner, fd, offset, count): sendfile(2), then owner.close()."},
    {"stat", chan_stat, METH_O, "stat(ns): --stats, the time spent building environ."},
    {nullptr, nullptr, 0, nullptr},
};

PyTypeObject channel_type = [] {
  PyTypeObject t{PyVarObject_HEAD_INIT(nullptr, 0)};
  t.tp_name = "anvil._core.Channel";
  t.tp_basicsize = sizeof(ChannelObject);
  t.tp_dealloc = chan_dealloc;
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_doc = "The Python-side WSGI path's way back to the request in progress.";
  t.tp_methods = chan_methods;
  return t;
}();

// Makes t the channel's current transaction for a scope (nesting restores).
class Current {
 public:
  Current(PyObject* chan, Transaction* t)
      : chan_(reinterpret_cast<ChannelObject*>(chan)), saved_(chan_->current) {
    chan_->current = t;
  }
  ~Current() { chan_->current = saved_; }
  Current(const Current&) = delete;
  Current& operator=(const Current&) = delete;

 private:
  ChannelObject* chan_;
  Transaction* saved_;
};

py::object bytes_of(std::string_view s) {
  PyObject* o = PyBytes_FromStringAndSize(s.data(), static_cast<Py_ssize_t>(s.size()));
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(o);
}

}  // namespace

std::optional<bool> python_side_from_env() {
  const char* v = std::getenv("ANVIL_WSGI_PATH");
  if (v == nullptr || *v == '\0') {
#ifdef PYPY_VERSION
    return true;
#else
    return false;
#endif
  }
  if (std::strcmp(v, "python") == 0) return true;
  if (std::strcmp(v, "capi") == 0) return false;
  return std::nullopt;
}

py::object WsgiHandler::make_channel() {
  PyObject* o = channel_type.tp_alloc(&channel_type, 0);
  if (o == nullptr) throw py::error_already_set();
  reinterpret_cast<ChannelObject*>(o)->current = nullptr;
  return py::reinterpret_steal<py::object>(o);
}

void register_channel_type(py::module_& m) {
  if (PyType_Ready(&channel_type) != 0) throw py::error_already_set();
  Py_INCREF(&channel_type);
  m.add_object("Channel", py::handle(reinterpret_cast<PyObject*>(&channel_type)));
}

// --- Transaction: the Python-side path ---------------------------------------------

void Transaction::run_py(PyObject* dispatch, PyObject* chan) {
  chan_ = chan;
  if (!succeeds([&] { run_py_unguarded(dispatch); })) fail("serving the request");
}

void Transaction::run_py_unguarded(PyObject* dispatch) {
  const bool stats = ex_->stats_enabled();
  const auto t0 = stats ? Clock::now() : Clock::time_point{};
  py::object head = bytes_of(pack_request(*ex_, handler_.options().origin));
  py::object body = py::none();  // no body: one object fewer to mirror (cpyext)
  if (ex_->body_buffered()) {
    if (!ex_->buffered_body().empty()) body = bytes_of(ex_->buffered_body());
  } else {
    body = make_input(shared_from_this());  // 100-continue: reads call read_body()
  }
  const auto t1 = stats ? Clock::now() : Clock::time_point{};
  PyObject* r = nullptr;
  {
    Current current(chan_, this);
    r = PyObject_CallFunctionObjArgs(dispatch, chan_, head.ptr(), body.ptr(), nullptr);
  }
  head = body = py::object();
  if (r == nullptr) return fail("calling the dispatcher");
  py::object response = py::reinterpret_steal<py::object>(r);
  if (PyBytes_Check(r)) {
    send_packed(r);
  } else if (r != Py_None) {
    result_ = iterator_ = response;  // closing it closes the app's iterable
    pump();
  }
  if (stats) {
    const auto env = std::chrono::nanoseconds(py_environ_ns_);
    ex_->add_stage_time(server::Stage::environ, (t1 - t0) + env);
    ex_->add_stage_time(server::Stage::app, (Clock::now() - t1) - env);
  }
}

// head, NUL, body: the whole response of a list app.
void Transaction::send_packed(PyObject* response) {
  const std::string_view all(PyBytes_AS_STRING(response),
                             static_cast<std::size_t>(PyBytes_GET_SIZE(response)));
  const std::size_t nul = all.find('\0');
  if (nul == std::string_view::npos) {
    PyErr_SetString(PyExc_RuntimeError, "dispatcher: a response without its head");
    return fail("sending the response");
  }
  if (!succeeds([&] { py_start(all.substr(0, nul)); })) return fail("sending the response");
  finished_ = true;
  send(std::string(all.substr(nul + 1)), /*last=*/true);
}

PyObject* Transaction::py_next() {
  Current current(chan_, this);
  return PyIter_Next(iterator_.ptr());
}

void Transaction::py_start(std::string_view packed) {
  const server::StartError e = start_packed(*ex_, packed);
  if (e != server::StartError::none) {
    throw py::value_error("start_response: " + std::string(start_error_text(e)));
  }
  called_ = true;
}

void Transaction::py_write(PyObject* data, bool last) {
  if (finished_) throw py::value_error("write() after the response has finished");
  write_bytes(data, last);
}

void Transaction::py_finish() {
  if (finished_) return;
  finished_ = true;
  ex_->finish();
}

void Transaction::py_abort() {
  if (finished_) return;
  finished_ = true;
  ex_->abort();
}

void Transaction::py_send_file(py::handle owner, int fd, std::int64_t offset, std::uint64_t count) {
  if (finished_) throw py::value_error("send_file after the response has finished");
  finished_ = true;
  wrote_ = true;
  result_ = py::reinterpret_borrow<py::object>(owner);  // sent() closes it
  send(FileRange{fd, static_cast<std::uint64_t>(offset), count}, /*last=*/true, &Transaction::sent);
}

}  // namespace anvil::python

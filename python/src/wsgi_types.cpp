// start_response and wsgi.input as plain C-API types: two objects are made
// per request, and pybind11's instance bookkeeping (registration, holder,
// dispatcher) cost more than the rest of the app call for a small app. The
// type objects are immutable after PyType_Ready, like any extension type.
#include "wsgi_types.hpp"

#include <new>

#include "wsgi.hpp"
#include "wsgi_input.hpp"

// PyVarObject_HEAD_INIT initializes the head only, as C extensions do; the
// other slots are zero.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace anvil::python {

namespace {

// --- start_response ------------------------------------------------------------

struct StartResponseObject {
  PyObject_HEAD std::shared_ptr<Transaction> t;
};

void start_response_dealloc(PyObject* self) {
  auto* o = reinterpret_cast<StartResponseObject*>(self);
  o->t.~shared_ptr();
  Py_TYPE(self)->tp_free(self);
}

PyObject* start_response_call(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* names[] = {"status", "headers", "exc_info", nullptr};
  PyObject* status = nullptr;
  PyObject* headers = nullptr;
  PyObject* exc_info = Py_None;
  if (kwargs == nullptr && PyTuple_GET_SIZE(args) >= 2 && PyTuple_GET_SIZE(args) <= 3) {
    status = PyTuple_GET_ITEM(args, 0);
    headers = PyTuple_GET_ITEM(args, 1);
    if (PyTuple_GET_SIZE(args) == 3) exc_info = PyTuple_GET_ITEM(args, 2);
  } else if (PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O:start_response",
                                         const_cast<char**>(names), &status, &headers,
                                         &exc_info) == 0) {
    return nullptr;
  }
  auto* o = reinterpret_cast<StartResponseObject*>(self);
  return guarded([&] {
    o->t->start_response(status, headers, exc_info);
    // PEP 3333: start_response returns the write(body_data) callable.
    return PyObject_GetAttrString(self, "write");
  });
}

PyObject* start_response_write(PyObject* self, PyObject* data) {
  auto* o = reinterpret_cast<StartResponseObject*>(self);
  return guarded([&] {
    o->t->write_callable(data);
    Py_RETURN_NONE;
  });
}

PyMethodDef start_response_methods[] = {
    {"write", start_response_write, METH_O, "write(data): PEP 3333's imperative body output."},
    {nullptr, nullptr, 0, nullptr},
};

PyTypeObject start_response_type = [] {
  PyTypeObject t{PyVarObject_HEAD_INIT(nullptr, 0)};
  t.tp_name = "anvil._core.StartResponse";
  t.tp_basicsize = sizeof(StartResponseObject);
  t.tp_dealloc = start_response_dealloc;
  t.tp_call = start_response_call;
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_doc = "start_response(status, headers, exc_info=None) for one request (PEP 3333).";
  t.tp_methods = start_response_methods;
  return t;
}();

// --- wsgi.input ----------------------------------------------------------------

struct InputObject {
  PyObject_HEAD Input* input;
};

void input_dealloc(PyObject* self) {
  auto* o = reinterpret_cast<InputObject*>(self);
  delete o->input;
  Py_TYPE(self)->tp_free(self);
}

Input& input_of(PyObject* self) { return *reinterpret_cast<InputObject*>(self)->input; }

// The optional size/hint argument; None when absent.
bool one_optional(PyObject* args, const char* name, py::object& out) {
  PyObject* arg = Py_None;
  if (PyArg_ParseTuple(args, name, &arg) == 0) return false;
  out = py::reinterpret_borrow<py::object>(arg);
  return true;
}

PyObject* input_read(PyObject* self, PyObject* args) {
  py::object size;
  if (!one_optional(args, "|O:read", size)) return nullptr;
  return guarded([&] { return input_of(self).read(size).release().ptr(); });
}

PyObject* input_readline(PyObject* self, PyObject* args) {
  py::object size;
  if (!one_optional(args, "|O:readline", size)) return nullptr;
  return guarded([&] { return input_of(self).readline(size).release().ptr(); });
}

PyObject* input_readlines(PyObject* self, PyObject* args) {
  py::object hint;
  if (!one_optional(args, "|O:readlines", hint)) return nullptr;
  return guarded([&] { return input_of(self).readlines(hint).release().ptr(); });
}

PyObject* input_iternext(PyObject* self) {
  return guarded([&]() -> PyObject* {
    py::bytes line = input_of(self).readline(py::none());
    if (PyBytes_GET_SIZE(line.ptr()) == 0) return nullptr;  // StopIteration, no error set
    return line.release().ptr();
  });
}

PyObject* input_iter(PyObject* self) {
  Py_INCREF(self);
  return self;
}

PyMethodDef input_methods[] = {
    {"read", input_read, METH_VARARGS,
     "read(size=-1): at most size bytes; b'' at the end of the body."},
    {"readline", input_readline, METH_VARARGS, "readline(size=-1): one line, with its newline."},
    {"readlines", input_readlines, METH_VARARGS, "readlines(hint=-1): the remaining lines."},
    {nullptr, nullptr, 0, nullptr},
};

PyTypeObject input_type = [] {
  PyTypeObject t{PyVarObject_HEAD_INIT(nullptr, 0)};
  t.tp_name = "anvil._core.Input";
  t.tp_basicsize = sizeof(InputObject);
  t.tp_dealloc = input_dealloc;
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_doc = "wsgi.input: the request body; reads never block past its end.";
  t.tp_iter = input_iter;
  t.tp_iternext = input_iternext;
  t.tp_methods = input_methods;
  return t;
}();

}  // namespace

py::object make_start_response(std::shared_ptr<Transaction> t) {
  PyObject* o = start_response_type.tp_alloc(&start_response_type, 0);
  if (o == nullptr) throw py::error_already_set();
  new (&reinterpret_cast<StartResponseObject*>(o)->t) std::shared_ptr<Transaction>(std::move(t));
  return py::reinterpret_steal<py::object>(o);
}

py::object make_input(std::shared_ptr<Transaction> t) {
  auto input = std::make_unique<Input>(std::move(t));
  PyObject* o = input_type.tp_alloc(&input_type, 0);
  if (o == nullptr) throw py::error_already_set();
  reinterpret_cast<InputObject*>(o)->input = input.release();
  return py::reinterpret_steal<py::object>(o);
}

void register_request_types(py::module_& m) {
  for (PyTypeObject* t : {&start_response_type, &input_type}) {
    if (PyType_Ready(t) != 0) throw py::error_already_set();
    Py_INCREF(t);
    m.add_object(t->tp_name + sizeof("anvil._core.") - 1,
                 py::handle(reinterpret_cast<PyObject*>(t)));
  }
}

}  // namespace anvil::python

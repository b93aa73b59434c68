// The per-request objects handed to a WSGI app: start_response and
// wsgi.input (plain C-API types, see wsgi_types.cpp). GIL held for all calls.
#pragma once

#include <exception>
#include <memory>

#include <pybind11/pybind11.h>

namespace anvil::python {

namespace py = pybind11;
class Transaction;

// Runs f(); false when it threw, the exception then set as the Python error
// (nothing C++ leaves into Python or into the loop).
template <typename F>
bool succeeds(F&& f) noexcept {
  try {
    f();
    return true;
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (py::builtin_exception& e) {
    e.set_error();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return false;
}

// A C-API method's body: what f() returns; nullptr with the error set when it
// throws.
template <typename F>
PyObject* guarded(F&& f) noexcept {
  PyObject* r = nullptr;
  return succeeds([&] { r = f(); }) ? r : nullptr;
}

py::object make_start_response(std::shared_ptr<Transaction> t);
py::object make_input(std::shared_ptr<Transaction> t);
// Readies the types and adds StartResponse and Input to the module.
void register_request_types(py::module_& m);
// Readies the Python-side path's Channel type (wsgi_pyside.cpp).
void register_channel_type(py::module_& m);

}  // namespace anvil::python

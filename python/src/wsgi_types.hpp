// The per-request objects handed to a WSGI app: start_response and
// wsgi.input (plain C-API types, see wsgi_types.cpp). GIL held for all calls.
#pragma once

#include <memory>

#include <pybind11/pybind11.h>

namespace anvil::python {

namespace py = pybind11;
class Transaction;

py::object make_start_response(std::shared_ptr<Transaction> t);
py::object make_input(std::shared_ptr<Transaction> t);
// Readies the types and adds StartResponse and Input to the module.
void register_request_types(py::module_& m);
// Readies the Python-side path's Channel type (wsgi_pyside.cpp).
void register_channel_type(py::module_& m);

}  // namespace anvil::python

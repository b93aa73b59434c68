// anvil._core.serve(app, **options): the process model of anvil::server::serve
// with a WSGI (or native) handler, called from Python with the GIL held; the
// GIL is released while the server runs. Returns the process exit code.
// Instead of an app, `load_app=f` has each worker call f() after fork, with
// the GIL, for its app (an exception there is the worker's boot failure).
#pragma once

#include <pybind11/pybind11.h>

namespace anvil::python {

namespace py = pybind11;

int serve(py::object app, const py::kwargs& options);
// {name: (flag, metavar, help, repeatable)} of every option serve() takes.
py::list option_table();

}  // namespace anvil::python

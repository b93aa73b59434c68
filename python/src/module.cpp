// anvil._core: the WSGI server (serve, option_table, the PEP 3333 types) and
// the parser bindings (anvil.parser, registered by parser_bindings.cpp).
#include <pybind11/pybind11.h>

#include "parser_bindings.hpp"
#include "serve.hpp"
#include "wsgi.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  m.doc() = "anvil's C++ core: the HTTP/1.1 server hosting WSGI apps, and the request parsers.";
  anvil::python::register_wsgi_types(m);
  m.def(
      "serve", &anvil::python::serve, py::arg("app"),
      "serve(app, **options) -> exit code. Runs the server (forking workers) until it stops; "
      "options are option_table()'s names; native='hello'|'echo' serves a C++ handler (app=None); "
      "load_app=f (app=None): each worker calls f() after fork to get its app.");
  m.def("option_table", &anvil::python::option_table,
        "[(name, flag, metavar, help, repeatable)] for every server option, as anvil-native has "
        "them.");
#if ANVIL_HAVE_PARSER_BINDINGS
  anvil::python::register_parser_bindings(m);
#endif
}

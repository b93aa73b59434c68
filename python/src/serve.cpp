#include "serve.hpp"

#include <cerrno>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include "anvil/server/native.hpp"
#include "anvil/server/server.hpp"
#include "wsgi.hpp"

namespace anvil::python {

namespace {

// Raises OSError(errno, message) in Python. The instance is made first, so
// that OSError's constructor picks the errno's subclass (FileNotFoundError...),
// and the error is set with that type: PyPy converts an OSError set with a
// tuple into the subclass later, which pybind11 reports as a type mismatch.
[[noreturn]] void raise_os_error(const std::system_error& e) {
  py::object exc = py::reinterpret_borrow<py::object>(PyExc_OSError)(e.code().value(), e.what());
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  throw py::error_already_set();
}

// Options given as Python values become the option table's text form, so
// that one validation (server::set_option) serves the C++ and Python CLIs.
std::string option_text(py::handle value) {
  if (PyBool_Check(value.ptr())) return value.ptr() == Py_True ? "true" : "false";
  return py::str(value).cast<std::string>();
}

void apply_option(server::ServerConfig& config, const std::string& name, py::handle value) {
  if (name == "bind" && !py::isinstance<py::str>(value)) {
    for (py::handle b : value) apply_option(config, name, b);
    return;
  }
  if (auto e = server::set_option(config, name, option_text(value))) throw py::value_error(*e);
}

// CPython needs to know about fork() to reset its locks and run
// os.register_at_fork hooks (PyOS_BeforeFork and friends, PEP 3.7+);
// PyPy's cpyext only offers PyOS_AfterFork for the child.
server::ProcessHooks fork_hooks() {
  auto state = std::make_shared<PyGILState_STATE>();
  server::ProcessHooks h;
  h.before_fork = [state] {
    *state = PyGILState_Ensure();
#ifndef PYPY_VERSION
    PyOS_BeforeFork();
#endif
  };
  h.after_fork_parent = [state] {
#ifndef PYPY_VERSION
    PyOS_AfterFork_Parent();
#endif
    PyGILState_Release(*state);
  };
  h.after_fork_child = [state] {
#ifndef PYPY_VERSION
    PyOS_AfterFork_Child();
#else
    PyOS_AfterFork();
#endif
    PyGILState_Release(*state);
  };
  return h;
}

// server::serve() takes systemd's LISTEN_* variables out of the C environment;
// take them here first, so that os.environ (which the app and its children
// see) loses them too.
void take_systemd_listeners(server::ServerConfig& config) {
  std::vector<server::Bind> binds;
  try {
    binds = server::take_systemd_listeners();
  } catch (const std::system_error& e) {
    raise_os_error(e);
  }
  py::object environ = py::module_::import("os").attr("environ");
  for (const char* name : {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"}) {
    environ.attr("pop")(name, py::none());
  }
  for (auto& b : binds) config.binds.push_back(std::move(b));
}

}  // namespace

int serve(py::object app, const py::kwargs& options) {
  server::ServerConfig config;
  std::string native;
  py::object load_app;
  for (auto [key, value] : options) {
    const auto name = key.cast<std::string>();
    if (value.is_none()) continue;
    if (name == "native") {
      native = value.cast<std::string>();
      continue;
    }
    if (name == "load_app") {
      load_app = py::reinterpret_borrow<py::object>(value);
      continue;
    }
    apply_option(config, name, value);
  }
  take_systemd_listeners(config);
  server::HandlerFactory factory;
  if (!native.empty()) {
    if (!app.is_none()) throw py::value_error("give either an app or native, not both");
    if (!server::make_native_handler(native))
      throw py::value_error("native: not hello or echo: " + native);
    factory = [native] { return server::make_native_handler(native); };
  } else {
    if (load_app) {
      if (!app.is_none()) throw py::value_error("give either an app or load_app, not both");
      if (PyCallable_Check(load_app.ptr()) == 0) throw py::type_error("load_app must be callable");
    } else if (app.is_none() || PyCallable_Check(app.ptr()) == 0) {
      throw py::type_error("app must be a WSGI callable");
    }
    WsgiOptions wsgi;
    const std::optional<bool> python_side = python_side_from_env();
    if (!python_side) throw py::value_error("ANVIL_WSGI_PATH: not python or capi");
    wsgi.python_side = *python_side;
    wsgi.threads = config.threads;
    wsgi.origin.root_path = config.root_path;
    wsgi.origin.forwarded_allow = config.forwarded_allow_ips;
    wsgi.multiprocess = config.workers > 1;
    wsgi.join_timeout = config.graceful_timeout + std::chrono::duration<double>(1.0);
    wsgi.write_wait = config.write_timeout + std::chrono::duration<double>(1.0);
    // The handler is made in each worker after fork; it holds Python objects,
    // so it is made (and later destroyed) with the GIL. With load_app, each
    // worker gets its app there (gunicorn without --preload); an error is a
    // boot failure, which stops the master instead of a restart loop.
    const bool in_worker = static_cast<bool>(load_app);
    auto held = std::make_shared<py::object>(in_worker ? load_app : app);
    factory = [held, wsgi, in_worker]() -> std::shared_ptr<server::Handler> {
      py::gil_scoped_acquire gil;
      if (!in_worker) return std::make_shared<WsgiHandler>(*held, wsgi);
      py::object loaded;
      try {
        loaded = (*held)();
      } catch (py::error_already_set& e) {
        throw std::runtime_error(std::string("load_app: ") + e.what());
      }
      if (PyCallable_Check(loaded.ptr()) == 0)
        throw std::runtime_error("load_app: did not return a WSGI callable");
      return std::make_shared<WsgiHandler>(std::move(loaded), wsgi);
    };
    // `held` must be dropped under the GIL too: keep it alive here, where we
    // hold it again after the server stops.
    int rc = 0;
    try {
      py::gil_scoped_release unlocked;
      rc = server::serve(config, factory, fork_hooks());
      factory = nullptr;
    } catch (const std::system_error& e) {
      raise_os_error(e);
    }
    return rc;
  }
  try {
    py::gil_scoped_release unlocked;
    return server::serve(config, factory, fork_hooks());
  } catch (const std::system_error& e) {
    raise_os_error(e);
  }
}

py::list option_table() {
  py::list out;
  for (const server::OptionSpec& o : server::option_table()) {
    out.append(py::make_tuple(std::string(o.name), std::string(o.flag), std::string(o.metavar),
                              std::string(o.help), o.repeatable));
  }
  return out;
}

}  // namespace anvil::python

// WsgiHandler: the dispatch of requests to the loop thread or to Python
// threads, and each worker's WSGI state.
#include <cstdio>
#include <optional>

#include "wsgi.hpp"
#include "wsgi_environ.hpp"
#include "wsgi_types.hpp"

namespace anvil::python {

WsgiHandler::WsgiHandler(py::object app, const WsgiOptions& options)
    : app_(std::move(app)),
      options_(options),
      file_wrapper_(py::module_::import("anvil._core").attr("FileWrapper")),
      environ_(options_.origin, options_.threads > 1, options_.multiprocess, file_wrapper_) {
  if (options_.python_side) {
    py::object make = py::module_::import("anvil._pywsgi").attr("make_dispatcher");
    const bool multithread = options_.threads > 1;
    const py::object script_name = latin1(options_.origin.root_path);
    dispatch_ = make(app_, multithread, options_.multiprocess, false, script_name);
    dispatch_stats_ = make(app_, multithread, options_.multiprocess, true, script_name);
    loop_chan_ = make_channel();
  }
  if (options_.threads > 1) {
#ifdef PYPY_VERSION
    // PyPy creates its GIL lazily, on the first thread started from Python;
    // threads started from C need it made first (PyPy issue #2274).
    PyEval_InitThreads();
#endif
    threads_.start(options_.threads, [this] { thread_main(); });
  }
}

WsgiHandler::~WsgiHandler() {
  stop();
  // Members are Python objects: drop them with the GIL, whatever thread this is.
  py::gil_scoped_acquire gil;
  environ_.clear();
  app_ = file_wrapper_ = py::object();
  dispatch_ = dispatch_stats_ = loop_chan_ = py::object();
}

// --- dispatch ----------------------------------------------------------------

void WsgiHandler::handle(std::shared_ptr<Exchange> exchange) {
  if (options_.threads <= 1) {
    py::gil_scoped_acquire gil;
    serve(std::move(exchange), /*async=*/true, loop_chan_);
    return;
  }
  threads_.push(std::move(exchange));
}

void WsgiHandler::serve(std::shared_ptr<Exchange> ex, bool async, const py::object& chan) {
  auto t = std::make_shared<Transaction>(*this, std::move(ex), async);
  if (options_.python_side) {
    const bool stats = t->exchange()->stats_enabled();
    t->run_py((stats ? dispatch_stats_ : dispatch_).ptr(), chan.ptr());
  } else {
    t->run();
  }
}

void WsgiHandler::thread_main() {
  py::gil_scoped_acquire gil;  // a thread state for this thread, for its lifetime
  // The Python-side path: this thread's channel to its transaction.
  py::object chan = options_.python_side ? make_channel() : py::object();
  for (;;) {
    std::shared_ptr<Exchange> ex;
    {
      py::gil_scoped_release unlocked;
      ex = threads_.next();
    }
    if (!ex) return;
    serve(std::move(ex), /*async=*/false, chan);
  }
}

void WsgiHandler::stop() {
  {
    // The threads need the GIL to finish; wait without it.
    std::optional<py::gil_scoped_release> unlocked;
    if (options_.threads > 1 && PyGILState_Check() != 0) unlocked.emplace();
    if (!threads_.stop(options_.join_timeout)) return;
  }
  // Workers leave with _exit(): what the app printed must be flushed now.
  py::gil_scoped_acquire gil;
  for (const char* name : {"stdout", "stderr"}) {
    try {
      py::object stream = py::module_::import("sys").attr(name);
      if (!stream.is_none()) stream.attr("flush")();
    } catch (py::error_already_set&) {
      PyErr_Clear();  // a closed or replaced stream: nothing to flush
    }
  }
}

void WsgiHandler::log_error(std::string_view context) {
  std::fprintf(stderr, "anvil: error: %.*s\n", static_cast<int>(context.size()), context.data());
  if (PyErr_Occurred() != nullptr) PyErr_PrintEx(0);
  std::fflush(stderr);
}

}  // namespace anvil::python

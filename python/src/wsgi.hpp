// anvil's WSGI handler (PEP 3333): builds environ from the parser's spans,
// calls the app, and writes what it returns through anvil::server::Exchange.
//
// A request's way through python/src (threads == 1; with --threads N,
// handle() only queues the exchange and a Python thread takes it from there):
//   WsgiHandler::handle (wsgi_handler.cpp): the core hands over an Exchange;
//   C-API path (CPython's default), Transaction::run (wsgi_response.cpp):
//     Environ::build (wsgi_environ.cpp; where it came from: wsgi_origin.cpp),
//     app(environ, start_response), start_response -> Exchange::start,
//     then send_list, try_send_file or pump, as the app's result asks;
//   Python-side path (PyPy's), Transaction::run_py (wsgi_pyside.cpp):
//     pack_request (wsgi_environ.cpp) -> anvil/_pywsgi.py's dispatcher, which
//     does the PEP 3333 part in Python and answers with one packed response
//     (send_packed), an iterator (pump), or through the channel (py_*);
//   every byte out: Transaction::send -> Exchange::write / send_file; its
//     completion runs on_written (pump goes on) or sent (close(), references
//     dropped); a failure anywhere: Transaction::fail (500, or abort).
//
// Contract:
//  * Every Python object is created, copied and destroyed with the GIL held.
//    Python objects are cached per WsgiHandler (one per worker), never in
//    statics.
//  * threads == 1: handle() runs the app on the loop thread (taking the GIL);
//    a response whose body is produced piece by piece is pumped from write
//    completions, so the loop keeps serving other connections meanwhile.
//    threads > 1: handle() only queues the exchange (no GIL on the loop
//    thread); N Python threads run the app and block (GIL released) on writes.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include <pybind11/pybind11.h>

#include "anvil/server/handler.hpp"
#include "host_common.hpp"
#include "wsgi_environ.hpp"
#include "wsgi_origin.hpp"

namespace anvil::python {

namespace py = pybind11;
using server::Exchange;

struct WsgiOptions {
  int threads = 1;
  bool multiprocess = false;
  // How long stop() waits for the Python threads (--graceful-timeout + 1 s).
  std::chrono::duration<double> join_timeout{31.0};
  // threads > 1: how long a Python thread waits for a write's completion
  // while the connection takes no bytes (--timeout + 1 s; the core times the
  // client out first, this only bounds a completion that never comes).
  std::chrono::duration<double> write_wait{31.0};
  // The Python-side path (anvil/_pywsgi.py, one call per request): the
  // default on PyPy, where every C-API call is emulated (cpyext).
  bool python_side = false;
  // --root-path and --forwarded-allow-ips.
  OriginOptions origin;
};

// For a direct call of _core.serve: ANVIL_WSGI_PATH=python|capi picks one of
// this module's two paths; unset: python on PyPy, capi on CPython. nullopt: a
// bad value. anvil.serve and the CLI choose first (anvil.wsgi_path(): cffi,
// the default on PyPy, is served by libanvil_host, not by this module).
std::optional<bool> python_side_from_env();

class WsgiHandler;

// The state of one request, shared by the StartResponse and Input objects
// handed to the app and by the response pump. Its Python references are
// dropped by release() under the GIL; the destructor takes the GIL only if
// some were left (a callback dropped without being run).
class Transaction : public std::enable_shared_from_this<Transaction> {
 public:
  Transaction(WsgiHandler& handler, std::shared_ptr<Exchange> ex, bool async);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // GIL held. Builds environ, calls the app, and starts sending its answer.
  void run();

  // --- start_response and write() (GIL held) --------------------------------
  // Returns the write() callable; throws (py::error_already_set or a
  // pybind11 exception) as PEP 3333 asks: a second call without exc_info, or
  // exc_info after the head went out (re-raised).
  void start_response(py::handle status, py::handle headers, py::handle exc_info);
  void write_callable(py::handle data);

  // --- wsgi.input (GIL held) --------------------------------------------------
  Exchange* exchange() const noexcept { return finished_ ? nullptr : ex_.get(); }

  // --- the Python-side path (wsgi_pyside.cpp; GIL held) -----------------------
  // One call of dispatch(chan, head, body) per request; chan is the calling
  // thread's channel, whose methods below act on this transaction while it
  // is the channel's current one. They throw as the channel reports to Python.
  void run_py(PyObject* dispatch, PyObject* chan);
  void py_start(std::string_view packed);
  void py_write(PyObject* data, bool last);
  void py_finish();
  void py_abort();
  void py_send_file(py::handle owner, int fd, std::int64_t offset, std::uint64_t count);
  void py_stat(std::int64_t environ_ns) noexcept { py_environ_ns_ = environ_ns; }

 private:
  friend class WsgiHandler;
  void run_unguarded();
  void run_py_unguarded(PyObject* dispatch);
  void send_packed(PyObject* response);
  PyObject* py_next();  // the next item of the dispatcher's iterator
  bool check_head_set();
  void send_list(py::handle seq);
  bool try_send_file(py::handle result);
  void pump();
  void on_written(std::error_code ec);

  // --- the one send path ------------------------------------------------------
  // What goes to the core: bytes it takes over, views into Python bytes that
  // the transaction keeps alive (result_, in_flight_) until the completion,
  // or a range of a file (result_ keeps it open).
  using Pieces = std::span<const boost::asio::const_buffer>;
  struct FileRange {
    int fd;
    std::uint64_t offset, count;
  };
  using Output = std::variant<std::string, Pieces, FileRange>;
  using After = void (Transaction::*)(std::error_code);
  // Hands `out` to the core. With `after`: on the loop thread (threads == 1)
  // the completion runs after(ec) later, GIL taken; on a Python thread send()
  // waits for it (GIL released, wait_for_write, WsgiOptions::write_wait) and
  // runs after(ec) itself. Without: nothing waits, except a Python thread for
  // bytes that are not the last (write()'s pace is the client's). Returns the
  // completion's error when it waited, else none.
  std::error_code send(Output out, bool last, After after = nullptr);
  void sent(std::error_code ec);
  void write_bytes(PyObject* data, bool last);  // write() on both paths
  void fail(std::string_view where);
  void finish_ok();
  void close_iterable();
  void release();
  bool may_add_length(std::uint64_t length) const;
  bool add_length(std::uint64_t length);

  WsgiHandler& handler_;
  std::shared_ptr<Exchange> ex_;
  bool async_;
  bool finished_ = false;
  bool called_ = false;       // start_response was called
  bool head_error_ = false;   // status/headers rejected: answer 500
  bool has_length_ = false;   // the head has a Content-Length: length_
  bool wrote_ = false;        // write() or a body piece has gone to the core
  PyObject* chan_ = nullptr;  // Python-side path: the channel (borrowed)
  std::int64_t py_environ_ns_ = 0;
  std::uint64_t length_ = 0;
  std::string status_;
  std::string head_error_text_;

  py::object result_;     // what the app returned (close() target)
  py::object iterator_;   // iter(result_)
  py::object in_flight_;  // bytes of the write not yet completed
};

// handler.Handler for WSGI; one per worker, made after fork.
class WsgiHandler : public server::Handler, public std::enable_shared_from_this<WsgiHandler> {
 public:
  // GIL held.
  WsgiHandler(py::object app, const WsgiOptions& options);
  ~WsgiHandler() override;

  void handle(std::shared_ptr<Exchange> exchange) override;
  void stop() override;

  // GIL held: the C-API path's environ maker.
  Environ& environ() noexcept { return environ_; }
  const py::object& app() const noexcept { return app_; }
  const py::object& file_wrapper_type() const noexcept { return file_wrapper_; }
  // GIL held: log the current Python error (traceback) to stderr, with context.
  void log_error(std::string_view context);
  // GIL held: a new channel object for the Python-side path.
  static py::object make_channel();
  const WsgiOptions& options() const noexcept { return options_; }

 private:
  // GIL held: one request through a Transaction, on the C-API or the
  // Python-side path (chan: the calling thread's channel).
  void serve(std::shared_ptr<Exchange> ex, bool async, const py::object& chan);
  void thread_main();

  py::object app_;
  WsgiOptions options_;
  py::object file_wrapper_;
  Environ environ_;
  // Python-side path: the dispatchers (plain and timing for --stats) and the
  // loop thread's channel.
  py::object dispatch_, dispatch_stats_, loop_chan_;

  // --threads N: requests handed from the loop thread to Python threads.
  RequestThreads threads_;
};

// Registers StartResponse, Input and FileWrapper in the module.
void register_wsgi_types(py::module_& m);

// The message a failed Exchange::start() becomes in Python (both WSGI paths).
std::string_view start_error_text(server::StartError e);

}  // namespace anvil::python

// What both hosts of the core share: _core's WsgiHandler (pybind11 and the C
// API) and libanvil_host's HostHandler (the C ABI of anvil/host.h, the cffi
// path). No Python here: the caller takes and drops its interpreter lock.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "anvil/server/handler.hpp"

namespace anvil::python {

// The fields of a head for Exchange::start(), as views; up to 32 without
// allocating.
class HeaderViews {
 public:
  void add(std::string_view name, std::string_view value);
  std::span<const server::Header> all() const noexcept;

 private:
  std::array<server::Header, 32> small_;
  std::vector<server::Header> big_;
  std::size_t n_ = 0;
};

// Exchange::start() with a head packed by _pywsgi as "status\nname\nvalue..."
// (it checked that no part holds a line break); a name without its value is
// bad_header_value.
server::StartError start_packed(server::Exchange& ex, std::string_view packed);

// Issues one write (issue(done)) from a thread that is not the loop's and
// waits for its completion. When the client takes no bytes for `patience`,
// the exchange is aborted and timed_out returned, but only once the
// completion has run (the abort makes it come): the write's bytes are the
// caller's until then.
std::error_code wait_for_write(server::Exchange& ex, std::chrono::duration<double> patience,
                               const std::function<void(server::WriteCallback)>& issue);

// --threads N: exchanges handed from the loop thread to N request threads.
// Its owner calls stop() before destroying it.
class RequestThreads {
 public:
  RequestThreads() = default;
  RequestThreads(const RequestThreads&) = delete;
  RequestThreads& operator=(const RequestThreads&) = delete;

  // Starts n threads running body(), which takes its exchanges with next().
  void start(int n, const std::function<void()>& body);
  // Loop thread: queues an exchange for the first free request thread.
  void push(std::shared_ptr<server::Exchange> ex);
  // Request thread: the next exchange, waiting for one; nullptr once stop()
  // was called and the queue is empty (the thread then returns from body()).
  std::shared_ptr<server::Exchange> next();
  // Wakes the threads, which serve what is queued and leave; joins them, or
  // detaches those still in an app after `timeout` (the worker is exiting).
  // True for the first call only.
  bool stop(std::chrono::duration<double> timeout);

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<server::Exchange>> queue_;
  bool stopping_ = false;
  std::size_t exited_ = 0;  // threads that have had their nullptr from next()
  std::vector<std::thread> threads_;
};

}  // namespace anvil::python

// anvil::loadgen::run — one hammer run: threads, connections, counting.
//
// Contract: run() blocks until the run is over and returns every figure; it
// throws nothing for network failures (they are counted in Result::errors),
// only std::system_error if threads or event loops cannot be created.
// Counting is exact: measured requests == responses + sum of errors. The
// `progress` callback, if set, is called about once a second from the calling
// thread with figures so far.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "anvil/loadgen/config.hpp"
#include "anvil/loadgen/histogram.hpp"

namespace anvil::loadgen {

// One kind per way a request can fail; every failed request counts in one.
enum class ErrorKind : std::uint8_t {
  connect_refused,    // connect() failed: refused, or unreachable
  connect_timeout,    // the connection was not established within --timeout
  reset,              // reset, or closed by the peer before the response began
  read_timeout,       // no complete response within --timeout of sending
  malformed,          // the parser rejected the response, or it was cut short
  unexpected_status,  // complete, but the status is not the expected one
};
inline constexpr std::size_t kErrorKinds = 6;
std::string_view name_of(ErrorKind k) noexcept;

struct Progress {
  double elapsed_s = 0;
  std::uint64_t done = 0;   // responses + errors so far (warm-up included)
  std::uint64_t total = 0;  // --requests N, or 0 for a duration
  std::uint64_t errors = 0;
};

struct Result {
  std::uint64_t requests = 0;   // measured: responses + errors
  std::uint64_t responses = 0;  // complete, with an expected status
  std::array<std::uint64_t, kErrorKinds> errors{};
  std::uint64_t warmup = 0;         // requests finished during the warm-up, not counted
  std::uint64_t connects = 0;       // connections established (warm-up included)
  std::uint64_t bytes_read = 0;     // measured
  std::uint64_t bytes_written = 0;  // measured
  double duration_s = 0;            // the measured window
  double cpu_user_s = 0;            // client process CPU in the measured window
  double cpu_sys_s = 0;
  std::string first_connect_error;  // strerror of the first failed connect, if any

  Histogram latency;              // send (or connect, with --close) to complete;
                                  // with --rate, from the intended send time
  Histogram latency_uncorrected;  // with --rate: from the actual send time
  Histogram ttfb;                 // send to the first byte of the response
  Histogram connect;              // connect() to established

  std::uint64_t error_count() const noexcept;
  double requests_per_s() const noexcept;
};

using ProgressFn = std::function<void(const Progress&)>;

// `request` is the exact bytes of one request (build_request()).
Result run(const Config& config, std::string_view request, const ProgressFn& progress = {});

}  // namespace anvil::loadgen

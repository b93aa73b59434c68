// The access log: --access-log-format compiled once, at start, into a list of
// pieces (gunicorn's atoms), and the file the lines go to. Loop thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "access_format.hpp"
#include "impl.hpp"

namespace anvil::server {

class AccessLog {
 public:
  // Opens config.access_log ("-": stdout). Throws std::system_error.
  AccessLog(const ServerConfig& config, DateCache& date);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  bool needs_time() const noexcept { return format_.needs_time; }
  // The handler was given ex (for the request time atoms).
  void started(const Exchange* ex) { started_[ex] = Clock::now(); }
  // ex's connection closed: forget its start (keeps the map to live connections).
  void forget(const Exchange* ex) noexcept;
  // One line for a finished exchange; one write(2) with O_APPEND, so lines of
  // several workers never mix.
  void write(const Exchange& ex, int status, std::uint64_t bytes);

 private:
  void append(const AccessFormat::Piece& piece, const Exchange& ex, int status, std::uint64_t bytes,
              std::optional<std::chrono::nanoseconds> elapsed);

  AccessFormat format_;
  DateCache& date_;
  int fd_ = -1;
  bool own_fd_ = false;
  std::string pid_text_;
  std::string line_;
  std::unordered_map<const Exchange*, Clock::time_point> started_;
};

// Wraps handler so that log.started() sees each request as it is handed over:
// gunicorn's request time also starts once the head is parsed.
std::shared_ptr<Handler> time_requests(std::shared_ptr<Handler> handler, AccessLog& log);

}  // namespace anvil::server

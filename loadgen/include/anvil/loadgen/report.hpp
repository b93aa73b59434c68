// anvil::loadgen reports: the human summary (wrk's shape) and the --json document.
//
// Contract: pure functions of (Config, Result); they write text and nothing else.
#pragma once

#include <string>

#include "anvil/loadgen/config.hpp"
#include "anvil/loadgen/engine.hpp"

namespace anvil::loadgen {

// The percentiles every report shows.
inline constexpr double kPercentiles[] = {50, 75, 90, 99, 99.9, 99.99};

std::string format_summary(const Config& config, const Result& result);
std::string format_json(const Config& config, const Result& result);
// "1.23ms", "456.00us", "2.00s"
std::string format_latency(std::int64_t ns);
// "12.34MB", "1.00KB"
std::string format_bytes(double bytes);

}  // namespace anvil::loadgen

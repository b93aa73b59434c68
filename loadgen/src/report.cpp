#include "anvil/loadgen/report.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <sstream>

namespace anvil::loadgen {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string pct_label(double p) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%g%%", p);
  return buf;
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

std::string num(double v) {
  if (!std::isfinite(v)) return "null";
  return fmt("%.6g", v);
}

void stats_line(std::ostringstream& o, const char* name, const Histogram& h) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "    %-10s%10s%10s%10s%9.2f%%\n", name,
                format_latency(std::llround(h.mean())).c_str(),
                format_latency(std::llround(h.stdev())).c_str(), format_latency(h.max()).c_str(),
                h.within_stdev());
  o << buf;
}

void distribution(std::ostringstream& o, const char* title, const Histogram& h) {
  o << "  " << title << "\n";
  for (double p : kPercentiles) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "  %7s %10s\n", pct_label(p).c_str(),
                  format_latency(h.percentile(p)).c_str());
    o << buf;
  }
}

void histogram_json(std::ostringstream& o, const Histogram& h) {
  o << "{\"count\": " << h.count() << ", \"min_us\": " << num(h.min() / 1e3)
    << ", \"mean_us\": " << num(h.mean() / 1e3) << ", \"stdev_us\": " << num(h.stdev() / 1e3)
    << ", \"max_us\": " << num(h.max() / 1e3) << ", \"clamped\": " << h.clamped()
    << ", \"percentiles_us\": {";
  bool first = true;
  for (double p : kPercentiles) {
    o << (first ? "" : ", ") << "\"" << fmt("%g", p) << "\": " << num(h.percentile(p) / 1e3);
    first = false;
  }
  o << "}, \"histogram\": [";
  first = true;
  for (const auto& b : h.buckets()) {
    o << (first ? "" : ", ") << "[" << num(b.low / 1e3) << ", " << num(b.high / 1e3) << ", "
      << b.count << "]";
    first = false;
  }
  o << "]}";
}

std::string describe_length(const Config& c) {
  if (c.requests) {
    return std::to_string(*c.requests) + " requests (" + std::to_string(c.warmup) + " warm-up)";
  }
  return fmt("%gs", c.duration.count() / 1e9) + " test" +
         (c.warmup_duration.count() > 0
              ? fmt(" after a %gs warm-up", c.warmup_duration.count() / 1e9)
              : "");
}

}  // namespace

std::string format_latency(std::int64_t ns) {
  const double v = static_cast<double>(ns);
  if (v >= 1e9) return fmt("%.2fs", v / 1e9);
  if (v >= 1e6) return fmt("%.2fms", v / 1e6);
  return fmt("%.2fus", v / 1e3);
}

std::string format_bytes(double b) {
  if (b >= 1024.0 * 1024 * 1024) return fmt("%.2fGB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return fmt("%.2fMB", b / (1024.0 * 1024));
  if (b >= 1024.0) return fmt("%.2fKB", b / 1024.0);
  return fmt("%.0fB", b);
}

std::string format_summary(const Config& c, const Result& r) {
  std::ostringstream o;
  o << "Running " << describe_length(c) << " @ " << c.url << "\n";
  o << "  " << c.threads << (c.threads == 1 ? " thread" : " threads") << " and " << c.connections
    << (c.connections == 1 ? " connection" : " connections") << " ("
    << (c.close ? "a new connection per request" : "keep-alive");
  if (c.pipeline > 1) o << ", pipeline " << c.pipeline;
  if (c.rate > 0) o << ", rate " << fmt("%g", c.rate) << "/s";
  o << ", parser " << parser::name_of(c.parser) << ")\n";
  o << "  Thread Stats   Avg      Stdev     Max   +/- Stdev\n";
  stats_line(o, "Latency", r.latency);
  if (c.rate > 0) stats_line(o, "Uncorr.", r.latency_uncorrected);
  stats_line(o, "TTFB", r.ttfb);
  if (r.connect.count() > 0) stats_line(o, "Connect", r.connect);
  distribution(o,
               c.rate > 0 ? "Latency Distribution (corrected for coordinated omission)"
                          : "Latency Distribution",
               r.latency);
  if (c.rate > 0) distribution(o, "Latency Distribution (uncorrected)", r.latency_uncorrected);
  o << "  " << r.requests << " requests in " << fmt("%.2fs", r.duration_s) << ", "
    << format_bytes(static_cast<double>(r.bytes_read)) << " read";
  if (r.warmup > 0) o << " (after " << r.warmup << " warm-up)";
  o << "\n";
  o << "  " << r.responses << " responses, " << r.error_count() << " errors, " << r.connects
    << " connections\n";
  if (r.error_count() > 0) {
    o << "  Errors:";
    const char* sep = " ";
    for (std::size_t k = 0; k < kErrorKinds; ++k) {
      if (r.errors[k] == 0) continue;
      o << sep << name_of(static_cast<ErrorKind>(k)) << " " << r.errors[k];
      sep = ", ";
    }
    o << "\n";
  }
  o << "Requests/sec: " << fmt("%10.2f", r.requests_per_s()) << "\n";
  char transfer[32];
  std::snprintf(transfer, sizeof transfer, "%10s",
                format_bytes(r.duration_s > 0 ? r.bytes_read / r.duration_s : 0).c_str());
  o << "Transfer/sec: " << transfer << "\n";
  if (r.requests > 0) {
    const double per = 1e6 / static_cast<double>(r.requests);
    o << "CPU/request:  " << fmt("%7.2fus", (r.cpu_user_s + r.cpu_sys_s) * per) << " (user "
      << fmt("%.2fus", r.cpu_user_s * per) << ", sys " << fmt("%.2fus", r.cpu_sys_s * per) << ")\n";
  }
  return o.str();
}

std::string format_json(const Config& c, const Result& r) {
  std::ostringstream o;
  o << "{\n  \"url\": \"" << json_escape(c.url) << "\",\n";
  o << "  \"config\": {\"threads\": " << c.threads << ", \"connections\": " << c.connections
    << ", \"close\": " << (c.close ? "true" : "false") << ", \"pipeline\": " << c.pipeline
    << ", \"rate\": " << num(c.rate) << ", \"parser\": \"" << parser::name_of(c.parser)
    << "\", \"requests\": " << (c.requests ? std::to_string(*c.requests) : "null")
    << ", \"warmup\": " << c.warmup << ", \"duration_s\": " << num(c.duration.count() / 1e9)
    << ", \"warmup_duration_s\": " << num(c.warmup_duration.count() / 1e9)
    << ", \"timeout_s\": " << num(c.timeout.count() / 1e9) << "},\n";
  o << "  \"requests\": " << r.requests << ",\n  \"responses\": " << r.responses
    << ",\n  \"errors\": {";
  for (std::size_t k = 0; k < kErrorKinds; ++k)
    o << (k ? ", " : "") << "\"" << name_of(static_cast<ErrorKind>(k)) << "\": " << r.errors[k];
  o << "},\n  \"error_total\": " << r.error_count() << ",\n  \"warmup\": " << r.warmup
    << ",\n  \"connects\": " << r.connects << ",\n  \"duration_s\": " << num(r.duration_s)
    << ",\n  \"requests_per_s\": " << num(r.requests_per_s())
    << ",\n  \"bytes_read\": " << r.bytes_read << ",\n  \"bytes_written\": " << r.bytes_written
    << ",\n  \"transfer_per_s\": " << num(r.duration_s > 0 ? r.bytes_read / r.duration_s : 0)
    << ",\n  \"cpu\": {\"user_s\": " << num(r.cpu_user_s) << ", \"sys_s\": " << num(r.cpu_sys_s)
    << ", \"per_request_us\": "
    << num(r.requests > 0 ? (r.cpu_user_s + r.cpu_sys_s) * 1e6 / r.requests : 0) << "},\n";
  o << "  \"latency\": ";
  histogram_json(o, r.latency);
  if (c.rate > 0) {
    o << ",\n  \"latency_uncorrected\": ";
    histogram_json(o, r.latency_uncorrected);
  }
  o << ",\n  \"ttfb\": ";
  histogram_json(o, r.ttfb);
  o << ",\n  \"connect\": ";
  histogram_json(o, r.connect);
  o << "\n}\n";
  return o.str();
}

}  // namespace anvil::loadgen

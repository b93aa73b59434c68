// Parser microbenchmark: the time to parse one whole request, for each parser
// on each workload, both parsers in the same run (STYLE.md, habit 9), and
// llhttp and http-parser raw beside them (issue 11 §2): each through its own
// API and rules, with Node.js's callbacks (node_sink.hpp), so that a reader
// sees what anvil's checking pass adds to llhttp and how `fast` compares with
// the C parsers as their users run them.
//
// Each iteration hands one complete request to next() until `done`, as a
// keep-alive connection would: the parser fills in the whole Message (method,
// target, version, every field, framing) and, for the chunked POST, delivers
// every body piece. Workloads are bench/requests/*.http, read at run time
// (--requests_dir=DIR overrides the source tree's folder), plus two generated
// here: a request with a 4 KiB Cookie and a chunked POST.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "anvil/parser/parser.hpp"
#include "fast_scan.hpp"  // parser/src: the fast parser's scanner variants
#include "raw_http_parser.hpp"
#include "raw_llhttp.hpp"

namespace {

using anvil::parser::Event;
using anvil::parser::Mode;
using anvil::parser::Parser;
using anvil::parser::ParserKind;
using anvil::parser::Step;

struct Workload {
  std::string name;
  std::string bytes;
};

// Upper bound on next() calls per request; a parser that needs more is broken.
constexpr int kMaxCalls = 1000;

// Parses one request starting at the front of `request`. Returns false if the
// parser did not reach `done` exactly at its end. `fields` gets the field count.
bool parse_one(Parser& parser, std::string_view request, std::size_t& fields) {
  std::size_t at = 0;
  for (int call = 0; call < kMaxCalls; ++call) {
    const Step step = parser.next(request.substr(at));
    at += step.consumed;
    switch (step.event) {
      case Event::head:
        fields = parser.message().fields.size();
        benchmark::DoNotOptimize(parser.message().fields.data());
        break;
      case Event::body:
        benchmark::DoNotOptimize(parser.body().data());
        break;
      case Event::done:
        // A server closes the connection after a message without keep-alive
        // (chrome-2013 says "Connection: close"); the next one is a new connection.
        if (!parser.message().keep_alive) parser.reset();
        return at == request.size();
      case Event::need_more:
      case Event::end:
      case Event::error:
        return false;
    }
  }
  return false;
}

// One parser to measure: a kind, or a named head-scanner variant of `fast`.
struct Contender {
  std::string name;
  ParserKind kind;
  const anvil::parser::detail::fast::HeadScanner* scanner = nullptr;
};

std::unique_ptr<Parser> make(const Contender& c) {
  if (c.scanner)
    return anvil::parser::detail::fast::make_fast_parser_with(Mode::request, {}, *c.scanner);
  return anvil::parser::make_parser(c.kind, Mode::request);
}

// Both parsers, then the fast parser's narrower scanners where this CPU runs
// them, to show how much of its speed comes from SIMD.
std::vector<Contender> contenders() {
  std::vector<Contender> out;
  for (ParserKind kind : anvil::parser::all_parser_kinds()) {
    out.push_back({std::string(anvil::parser::name_of(kind)), kind});
  }
  for (const char* variant : {"sse42", "generic"}) {
    if (const auto* scanner = anvil::parser::detail::fast::head_scanner_named(variant)) {
      out.push_back({std::string("fast-") + variant, ParserKind::fast, scanner});
    }
  }
  return out;
}

void bm_parse(benchmark::State& state, const Contender* contender, const Workload* workload) {
  auto parser = make(*contender);
  const std::string_view request = workload->bytes;
  std::size_t fields = 0;
  // Check once, outside the timing, that the parser accepts the whole request.
  if (!parse_one(*parser, request, fields)) {
    const std::string why = "did not reach `done` on " + workload->name +
                            " (error: " + std::string(anvil::parser::code_of(parser->error())) +
                            ")";
    state.SkipWithError(why.c_str());
    return;
  }
  for (auto _ : state) {
    if (!parse_one(*parser, request, fields)) {
      state.SkipWithError("parse failed inside the timed loop");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(request.size()));
  state.SetLabel(std::to_string(request.size()) + " B, " + std::to_string(fields) + " fields");
}

// A C parser raw (issue 11 §2): raw::Llhttp or raw::HttpParser, on a
// keep-alive connection as parse_one() runs the plug-ins (a new connection
// after a request without keep-alive).
template <class Raw>
void bm_parse_raw(benchmark::State& state, const Workload* workload) {
  Raw parser;
  const std::string_view request = workload->bytes;
  if (!parser.parse_one(request)) {
    const std::string why = "did not complete " + workload->name + " (" + parser.error() + ")";
    state.SkipWithError(why.c_str());
    return;
  }
  for (auto _ : state) {
    if (!parser.parse_one(request)) {
      state.SkipWithError("parse failed inside the timed loop");
      break;
    }
    benchmark::DoNotOptimize(parser.sink().fields);
    benchmark::DoNotOptimize(parser.sink().body_bytes);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(request.size()));
  state.SetLabel(std::to_string(request.size()) + " B, " + std::to_string(parser.sink().fields) +
                 " fields");
}

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

// A browser-like request whose Cookie field alone is 4 KiB: the SIMD scan of a
// long field value dominates.
std::string big_cookie_request() {
  std::string cookie;
  for (int i = 0; cookie.size() < 4096; ++i) {
    cookie += 'c';
    cookie += std::to_string(i);
    cookie += "=0123456789abcdef0123456789abcdef; ";
  }
  cookie.resize(4096);
  std::string out =
      "GET /account HTTP/1.1\r\nHost: localhost:8000\r\n"
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\nCookie: ";
  out += cookie;
  out += "\r\n\r\n";
  return out;
}

// A chunked upload: 8 chunks of 512 bytes, one with an extension, and a trailer.
std::string chunked_post_request() {
  std::string out =
      "POST /upload HTTP/1.1\r\nHost: localhost:8000\r\n"
      "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string data(512, 'x');
  for (int i = 0; i < 8; ++i) out += (i == 3 ? "200;part=4\r\n" : "200\r\n") + data + "\r\n";
  return out + "0\r\nChecksum: 1234\r\n\r\n";
}

double min_of(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }
double max_of(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }

// ns per request, with min and max beside the median of the repetitions.
void with_statistics(benchmark::internal::Benchmark* b) {
  b->Unit(benchmark::kNanosecond)
      ->ComputeStatistics("min", min_of)
      ->ComputeStatistics("max", max_of);
}

// Strips --requests_dir=DIR from argv (Google Benchmark rejects unknown flags).
std::string take_requests_dir(int& argc, char** argv) {
  std::string dir = ANVIL_BENCH_REQUESTS_DIR;
  const std::string_view flag = "--requests_dir=";
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.substr(0, flag.size()) == flag) {
      dir = std::string(arg.substr(flag.size()));
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  return dir;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = take_requests_dir(argc, argv);
  std::vector<Workload> workloads;
  for (const char* name : {"chrome-2013", "chrome-2025", "ab", "curl"}) {
    Workload w{name, {}};
    if (!read_file(dir + "/" + name + ".http", w.bytes)) {
      std::fprintf(stderr, "parser_bench: cannot read %s/%s.http\n", dir.c_str(), name);
      return 1;
    }
    workloads.push_back(std::move(w));
  }
  workloads.push_back({"cookie-4k", big_cookie_request()});
  workloads.push_back({"chunked-post", chunked_post_request()});

  const std::vector<Contender> parsers = contenders();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  for (const Workload& w : workloads) {
    const std::string raw = "parse/" + w.name + "/";
    with_statistics(benchmark::RegisterBenchmark((raw + "llhttp-raw").c_str(),
                                                 bm_parse_raw<anvil::bench::raw::Llhttp>, &w));
    with_statistics(benchmark::RegisterBenchmark((raw + "http-parser-raw").c_str(),
                                                 bm_parse_raw<anvil::bench::raw::HttpParser>, &w));
    for (const Contender& c : parsers) {
      const std::string name = "parse/" + w.name + "/" + c.name;
      with_statistics(benchmark::RegisterBenchmark(name.c_str(), bm_parse, &c, &w));
    }
  }
  benchmark::AddCustomContext("requests_dir", dir);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

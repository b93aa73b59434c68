// parsers_c: the C and C++ parsers of the parser shoot-out (bench/parsers/),
// each driven through its own API the way its users drive it, on the request
// files of bench/requests/ (CPU ns per request) and on the corpus of
// tests/parser/cases/ (what each one makes of every request case).
//
// Contenders:
//   llhttp           llhttp 8.1.0 (Debian node-llhttp) raw: its own rules and
//                    Node.js-style callbacks (zero-copy spans of the URL and of
//                    each field name and value, body pieces), llhttp_init per
//                    connection, as Node's HTTP server runs it;
//   http-parser      http-parser 2.9.4 (Debian libhttp-parser-dev) raw, the
//                    parser of bjoern and of Node.js before llhttp: the same
//                    callbacks, http_parser_init per connection;
//   anvil-<kind>     each anvil plug-in (all_parser_kinds(): llhttp, fast, and
//                    any kind added later) with anvil's rules, reset() per
//                    connection, next() until done, as anvil's server runs it.
// A raw parser is added by writing one Contender (see raw_llhttp()).
//
// The JSON it writes is described in bench/parsers/README.md ("parsers_c").
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "anvil/parser/driver.hpp"
#include "anvil/parser/parser.hpp"
#include "corpus.hpp"
#include "llhttp.h"
#include "raw_http_parser.hpp"
#include "raw_llhttp.hpp"

namespace {

using anvil::bench::raw::llhttp_node_settings;
using anvil::bench::raw::Message;
using anvil::bench::raw::NodeSink;
using anvil::parser::append_json_string;

// How the input ended for the parser: every message delivered and nothing
// pending (ok), rejected (error), or still waiting for bytes when the input
// ended (incomplete).
enum class End { ok, error, incomplete };

struct Verdict {
  std::vector<Message> messages;
  End end = End::ok;
  std::string detail;  // the parser's own error name, or a note
};

struct Contender {
  std::string name;
  std::string label;
  std::string kind;  // "raw": its own rules; "plugin": anvil's rules
  std::string version;
  std::string how;  // how it is driven, one sentence
  // Parses one whole request as the first on a new connection; returns the
  // number of body bytes delivered, or -1 when the request did not complete.
  std::function<long(std::string_view)> parse_one;
  // The whole input, then the end of the input.
  std::function<Verdict(std::string_view)> run;
};

// ---------------------------------------------------------------------------
// Raw llhttp (bench/parser/raw_llhttp.hpp: Node.js-style callbacks).

std::string llhttp_error_text(llhttp_t* p, llhttp_errno_t err) {
  std::string text = llhttp_errno_name(err);
  const char* reason = llhttp_get_error_reason(p);
  if (reason != nullptr) text += std::string(": ") + reason;
  return text;
}

Contender raw_llhttp() {
  Contender c;
  c.name = "llhttp";
  c.label = "llhttp 8.1.0 (raw)";
  c.kind = "raw";
  c.version = std::to_string(LLHTTP_VERSION_MAJOR) + "." + std::to_string(LLHTTP_VERSION_MINOR) +
              "." + std::to_string(LLHTTP_VERSION_PATCH);
  c.how =
      "llhttp_init per connection, one llhttp_execute over the request, Node.js-style callbacks "
      "(zero-copy spans of URL, field names and values; body pieces), no lenient flags";
  // One sink per contender, reused like a connection's parser state.
  c.parse_one = [settings = llhttp_node_settings(),
                 sink = std::make_shared<NodeSink>()](std::string_view in) {
    llhttp_t parser;
    llhttp_init(&parser, HTTP_REQUEST, &settings);
    parser.data = sink.get();
    sink->completed = 0;
    llhttp_errno_t err = llhttp_execute(&parser, in.data(), in.size());
    if (err != HPE_OK || sink->completed != 1) return -1L;
    return sink->body_bytes + static_cast<long>(sink->fields);
  };
  c.run = [settings = llhttp_node_settings()](std::string_view in) {
    Verdict v;
    NodeSink sink;
    sink.keep_body = true;
    sink.messages = &v.messages;
    llhttp_t parser;
    llhttp_init(&parser, HTTP_REQUEST, &settings);
    parser.data = &sink;
    llhttp_errno_t err = llhttp_execute(&parser, in.data(), in.size());
    if (err == HPE_PAUSED_UPGRADE) {
      v.detail = "paused for an upgrade: the rest is not HTTP";
      return v;
    }
    if (err != HPE_OK) {
      v.end = End::error;
      v.detail = llhttp_error_text(&parser, err);
      return v;
    }
    err = llhttp_finish(&parser);
    if (err != HPE_OK) {
      v.end = End::incomplete;
      v.detail = llhttp_error_text(&parser, err);
    }
    return v;
  };
  return c;
}

// ---------------------------------------------------------------------------
// Raw http-parser 2.9.4 (bench/parser/raw_http_parser.hpp: the same callbacks).

Contender raw_http_parser() {
  using anvil::bench::raw::HttpParser;
  Contender c;
  c.name = "http-parser";
  c.label = "http-parser " + HttpParser::version() + " (raw)";
  c.kind = "raw";
  c.version = HttpParser::version();
  c.how =
      "http_parser_init per connection, one http_parser_execute over the request, Node.js-style "
      "callbacks (zero-copy spans of URL, field names and values; body pieces), as bjoern and "
      "Node.js before llhttp ran it";
  auto parser = std::make_shared<HttpParser>();
  c.parse_one = [parser](std::string_view in) {
    parser->new_connection();
    if (!parser->parse_one(in)) return -1L;
    return parser->sink().body_bytes + static_cast<long>(parser->sink().fields);
  };
  c.run = [parser](std::string_view in) {
    Verdict v;
    switch (parser->run(in, v.messages, v.detail)) {
      case HttpParser::End::ok:
        v.end = End::ok;
        break;
      case HttpParser::End::error:
        v.end = End::error;
        break;
      case HttpParser::End::incomplete:
        v.end = End::incomplete;
        break;
    }
    return v;
  };
  return c;
}

// ---------------------------------------------------------------------------
// anvil's plug-ins, through parser.hpp.

long anvil_parse_one(anvil::parser::Parser& p, std::string_view in) {
  using anvil::parser::Event;
  p.reset();
  long body = 0;
  std::size_t pos = 0;
  for (;;) {
    auto step = p.next(in.substr(pos));
    pos += step.consumed;
    switch (step.event) {
      case Event::head:
        body += static_cast<long>(p.message().fields.size());
        break;
      case Event::body:
        body += static_cast<long>(p.body().size());
        break;
      case Event::done:
        return body;
      default:
        return -1;
    }
  }
}

Verdict anvil_run(anvil::parser::Parser& p, std::string_view in) {
  using anvil::parser::Event;
  Verdict v;
  p.reset();
  std::size_t pos = 0;
  Message current;
  for (;;) {
    auto step = p.next(in.substr(pos));
    pos += step.consumed;
    if (step.event == Event::need_more) step = p.finish(in.substr(pos));
    switch (step.event) {
      case Event::head:
        current = {std::string(p.message().method), std::string(p.message().target), {}};
        break;
      case Event::body:
        current.body.append(p.body());
        break;
      case Event::done:
        v.messages.push_back(std::move(current));
        current = {};
        break;
      case Event::end:
        return v;
      case Event::error:
        v.end = p.error() == anvil::parser::Error::incomplete ? End::incomplete : End::error;
        v.detail = std::string(anvil::parser::code_of(p.error()));
        return v;
      case Event::need_more:
        v.end = End::incomplete;
        return v;
    }
  }
}

Contender anvil_plugin(anvil::parser::ParserKind kind) {
  Contender c;
  c.name = "anvil-" + std::string(anvil::parser::name_of(kind));
  c.label = "anvil " + std::string(anvil::parser::name_of(kind)) + " (C++ plug-in)";
  c.kind = "plugin";
  c.version = "this tree";
  c.how =
      "anvil::parser::make_parser once, reset() per connection, next() until done, every field "
      "and body piece delivered (anvil's server path, no Python)";
  std::shared_ptr<anvil::parser::Parser> parser =
      anvil::parser::make_parser(kind, anvil::parser::Mode::request);
  c.parse_one = [parser](std::string_view in) { return anvil_parse_one(*parser, in); };
  c.run = [parser](std::string_view in) { return anvil_run(*parser, in); };
  return c;
}

std::vector<Contender> contenders() {
  std::vector<Contender> out;
  out.push_back(raw_llhttp());
  out.push_back(raw_http_parser());
  for (anvil::parser::ParserKind kind : anvil::parser::all_parser_kinds()) {
    out.push_back(anvil_plugin(kind));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Timing: CPU time of this thread (a shared machine's other work is not
// counted), `runs` runs of a count calibrated to about min_time seconds each.

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

volatile long g_sink = 0;  // keeps the parse loops from being optimised away

double time_batch(const Contender& c, std::string_view request, long n) {
  long sum = 0;
  const double start = thread_cpu_seconds();
  for (long i = 0; i < n; ++i) sum += c.parse_one(request);
  const double elapsed = thread_cpu_seconds() - start;
  g_sink = g_sink + sum;
  return elapsed;
}

struct Timing {
  long iterations = 0;
  std::vector<double> ns;  // per request, one per run
};

Timing measure(const Contender& c, std::string_view request, int runs, double min_time) {
  long n = 1;
  double elapsed = time_batch(c, request, n);  // also the warm-up
  while (elapsed < min_time / 4 && n < (1L << 40)) {
    n *= 2;
    elapsed = time_batch(c, request, n);
  }
  Timing t;
  t.iterations =
      std::max(1L, static_cast<long>(static_cast<double>(n) * min_time / std::max(elapsed, 1e-9)));
  for (int r = 0; r < runs; ++r) {
    t.ns.push_back(time_batch(c, request, t.iterations) * 1e9 / static_cast<double>(t.iterations));
  }
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// ---------------------------------------------------------------------------
// Output.

std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

std::string json_number(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", x);
  return buf;
}

const char* end_name(End e) {
  switch (e) {
    case End::ok:
      return "ok";
    case End::error:
      return "error";
    case End::incomplete:
      return "incomplete";
  }
  return "?";
}

struct Workload {
  std::string name;
  std::string bytes;
};

std::string speed_json(const Contender& c, const std::vector<Workload>& workloads, int runs,
                       double min_time) {
  std::string out = "{";
  for (std::size_t i = 0; i < workloads.size(); ++i) {
    const Workload& w = workloads[i];
    out += i ? ", " : "";
    out += json_string(w.name) + ": {";
    if (c.parse_one(w.bytes) < 0) {
      out += "\"error\": \"the request did not parse to completion\"}";
      continue;
    }
    Timing t = measure(c, w.bytes, runs, min_time);
    out += "\"bytes\": " + std::to_string(w.bytes.size());
    out += ", \"iterations\": " + std::to_string(t.iterations) + ", \"runs_ns\": [";
    for (std::size_t r = 0; r < t.ns.size(); ++r) out += (r ? ", " : "") + json_number(t.ns[r]);
    out += "], \"median_ns\": " + json_number(median(t.ns));
    out += ", \"min_ns\": " + json_number(*std::min_element(t.ns.begin(), t.ns.end()));
    out += ", \"max_ns\": " + json_number(*std::max_element(t.ns.begin(), t.ns.end())) + "}";
  }
  return out + "}";
}

std::string verdicts_json(const Contender& c,
                          const std::vector<anvil::parser::testing::CorpusCase>& cases) {
  std::string out = "{";
  bool first = true;
  for (const auto& k : cases) {
    if (k.mode != anvil::parser::Mode::request) continue;
    Verdict v = c.run(k.input);
    out += first ? "\n" : ",\n";
    first = false;
    out += "      " + json_string(k.name) + ": {\"end\": \"" + end_name(v.end) + "\"";
    out += ", \"detail\": " + json_string(v.detail) + ", \"messages\": [";
    for (std::size_t i = 0; i < v.messages.size(); ++i) {
      const Message& m = v.messages[i];
      out += (i ? ", " : "") + std::string("{\"method\": ") + json_string(m.method);
      out += ", \"target\": " + json_string(m.target) + ", \"body\": " + json_string(m.body) + "}";
    }
    out += "]}";
  }
  return out + "}";
}

bool read_file(const std::filesystem::path& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

// Every *.http file of dir, by name ("chrome-2013" for chrome-2013.http).
bool read_workloads(const std::string& dir, std::vector<Workload>& out, std::string& error) {
  std::error_code ec;
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".http") paths.push_back(entry.path());
  }
  if (ec) {
    error = dir + ": " + ec.message();
    return false;
  }
  std::sort(paths.begin(), paths.end());
  for (const auto& path : paths) {
    Workload w{path.stem().string(), {}};
    if (!read_file(path, w.bytes)) {
      error = path.string() + ": cannot read";
      return false;
    }
    out.push_back(std::move(w));
  }
  return true;
}

struct Options {
  std::string requests_dir;
  std::string cases_dir;
  std::string json_path;
  std::vector<std::string> only;
  int runs = 5;
  double min_time = 0.2;
  bool list = false;
};

const char* kUsage =
    "usage: parsers_c [--requests DIR] [--cases DIR] [--runs N] [--min-time SECONDS]\n"
    "                 [--parsers NAME,...] [--json FILE] [--list]\n";

bool parse_args(int argc, char** argv, Options& o, std::string& error) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (arg == "--list") {
      o.list = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if ((v = value()) == nullptr) {
      error = std::string(arg) + ": missing value or unknown option";
      return false;
    }
    if (arg == "--requests") {
      o.requests_dir = v;
    } else if (arg == "--cases") {
      o.cases_dir = v;
    } else if (arg == "--json") {
      o.json_path = v;
    } else if (arg == "--runs") {
      o.runs = std::atoi(v);
      if (o.runs < 1) {
        error = "--runs: a positive count";
        return false;
      }
    } else if (arg == "--min-time") {
      o.min_time = std::atof(v);
      if (!(o.min_time > 0)) {
        error = "--min-time: a positive number of seconds";
        return false;
      }
    } else if (arg == "--parsers") {
      std::string list = v;
      for (std::size_t pos = 0; pos <= list.size();) {
        std::size_t comma = std::min(list.find(',', pos), list.size());
        if (comma > pos) o.only.push_back(list.substr(pos, comma - pos));
        pos = comma + 1;
      }
    } else {
      error = std::string("unknown option ") + std::string(arg);
      return false;
    }
  }
  return true;
}

int fail(const std::string& what) {
  std::fprintf(stderr, "parsers_c: %s\n", what.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string error;
  if (!parse_args(argc, argv, o, error)) return fail(error + "\n" + kUsage);
  std::vector<Contender> all = contenders();
  if (o.list) {
    for (const Contender& c : all)
      std::printf("%s\t%s\t%s\n", c.name.c_str(), c.kind.c_str(), c.label.c_str());
    return 0;
  }
  std::vector<Contender> chosen;
  for (const std::string& name : o.only) {
    auto it =
        std::find_if(all.begin(), all.end(), [&](const Contender& c) { return c.name == name; });
    if (it == all.end()) return fail("unknown parser " + name + " (--list shows them)");
    chosen.push_back(*it);
  }
  if (o.only.empty()) chosen = all;

  std::vector<Workload> workloads;
  if (!o.requests_dir.empty() && !read_workloads(o.requests_dir, workloads, error)) {
    return fail(error);
  }
  anvil::parser::testing::Corpus corpus;
  if (!o.cases_dir.empty()) {
    corpus = anvil::parser::testing::load_corpus(o.cases_dir);
    if (!corpus.errors.empty()) return fail("corpus: " + corpus.errors.front());
  }

  std::string out = "{\"format\": \"parsers_c/1\", \"clock\": \"CLOCK_THREAD_CPUTIME_ID\"";
  out += ", \"runs\": " + std::to_string(o.runs) + ", \"min_time_s\": " + json_number(o.min_time);
  out += ", \"parsers\": [";
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    const Contender& c = chosen[i];
    out += i ? ",\n  {" : "\n  {";
    out += "\"name\": " + json_string(c.name) + ", \"label\": " + json_string(c.label);
    out += ", \"kind\": " + json_string(c.kind) + ", \"version\": " + json_string(c.version);
    out += ", \"how\": " + json_string(c.how);
    out += ",\n    \"speed\": " + speed_json(c, workloads, o.runs, o.min_time);
    out += ",\n    \"verdicts\": " + verdicts_json(c, corpus.cases) + "}";
  }
  out += "\n]}\n";

  if (o.json_path.empty()) {
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  std::ofstream file(o.json_path, std::ios::binary);
  if (!(file << out)) return fail(o.json_path + ": cannot write");
  return 0;
}

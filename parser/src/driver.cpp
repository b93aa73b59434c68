// drive(): feeds an input to a parser the way a connection does, and renders
// the messages as JSON lines (format in driver.hpp).
#include "anvil/parser/driver.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <optional>

namespace anvil::parser {

namespace {

// Two areas, each followed by a PROT_NONE page. place() copies bytes so they
// end flush against the next area's guard page and zeroes what the previous
// call used: a parser that reads past the end of its buffer crashes, and one
// that keeps a pointer from an earlier call reads zeros (the contract lets the
// buffer move between calls; picohttpparser's tests do the same).
class GuardedArena {
 public:
  explicit GuardedArena(std::size_t capacity) {
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    usable_ = (capacity + page - 1) / page * page + page;
    stride_ = usable_ + page;
    void* p =
        mmap(nullptr, 2 * stride_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    base_ = static_cast<char*>(p);
    for (int i = 0; i < 2; ++i) {
      if (mprotect(area(i) + usable_, page, PROT_NONE) != 0) {
        release();
        return;
      }
    }
  }
  ~GuardedArena() { release(); }
  GuardedArena(const GuardedArena&) = delete;
  GuardedArena& operator=(const GuardedArena&) = delete;

  bool ok() const noexcept { return base_ != nullptr; }

  // bytes.size() must not exceed the capacity given to the constructor.
  std::string_view place(std::string_view bytes) noexcept {
    if (last_size_ > 0) std::memset(last_, 0, last_size_);
    current_ ^= 1;
    last_ = area(current_) + usable_ - bytes.size();
    last_size_ = bytes.size();
    if (!bytes.empty()) std::memcpy(last_, bytes.data(), bytes.size());
    return {last_, last_size_};
  }

 private:
  char* area(int i) const noexcept { return base_ + static_cast<std::size_t>(i) * stride_; }
  void release() noexcept {
    if (base_ != nullptr) munmap(base_, 2 * stride_);
    base_ = nullptr;
  }

  char* base_ = nullptr;
  std::size_t usable_ = 0;
  std::size_t stride_ = 0;
  int current_ = 0;
  char* last_ = nullptr;  // what the previous place() handed out
  std::size_t last_size_ = 0;
};

// A parser that returns this many events in a row without consuming a byte is
// looping; legitimate runs need at most two (head then done for an empty body).
constexpr int kMaxEventsWithoutProgress = 16;

void append_version(std::string& out, const Message& m) {
  out += "\"version\": \"";
  out += std::to_string(m.version_major);
  out += '.';
  out += std::to_string(m.version_minor);
  out += '"';
}

void append_fields(std::string& out, std::span<const Field> fields) {
  out += '[';
  bool first = true;
  for (const Field& f : fields) {
    if (!first) out += ", ";
    first = false;
    out += '[';
    append_json_string(out, f.name);
    out += ", ";
    append_json_string(out, f.value);
    out += ']';
  }
  out += ']';
}

// Everything of a message's line up to (not including) its body, rendered at
// the head event while the spans are valid.
std::string render_head(const Message& m, Mode mode) {
  std::string out = "{";
  if (mode == Mode::request) {
    out += "\"method\": ";
    append_json_string(out, m.method);
    out += ", \"target\": ";
    append_json_string(out, m.target);
    out += ", ";
    append_version(out, m);
  } else {
    append_version(out, m);
    out += ", \"status\": ";
    out += std::to_string(m.status);
    out += ", \"reason\": ";
    append_json_string(out, m.reason);
  }
  out += ", \"headers\": ";
  append_fields(out, m.fields);
  return out;
}

class Run {
 public:
  Run(Parser& parser, const DriveOptions& options, std::size_t input_size)
      : parser_(parser), options_(options) {
    if (options.guard_pages) arena_.emplace(input_size);
  }

  void append(std::string_view piece) { pending_.append(piece); }

  // Calls next() until need_more; false once the run is over (error).
  bool pump() {
    for (;;) {
      std::string_view buf = view();
      Step step = parser_.next(buf);
      if (!accept(step, buf)) return false;
      switch (step.event) {
        case Event::need_more:
          drop(step.consumed);
          return true;
        case Event::head:
          on_head();
          break;
        case Event::body:
          body_.append(parser_.body());
          break;
        case Event::done:
          on_done();
          break;
        case Event::error:
          on_error();
          return false;
        case Event::end:
          // parser.hpp: only after a request that closes the connection,
          // and then the run is over: nothing after it is parsed.
          if (!closing_) return violation("next() returned end");
          if (step.consumed != 0) return violation("end consumed bytes");
          return false;
      }
      drop(step.consumed);
    }
  }

  // The input has ended: finish() until the parser says how it ended.
  void finish() {
    for (int i = 0; i < kMaxEventsWithoutProgress; ++i) {
      std::string_view buf = view();
      Step step = parser_.finish(buf);
      if (!accept(step, buf)) return;
      switch (step.event) {
        case Event::body:
          body_.append(parser_.body());
          drop(step.consumed);
          continue;
        case Event::done:
          if (!in_message_) return void(violation("finish() returned done between messages"));
          on_done();
          return;
        case Event::end:
          if (in_message_) return void(violation("finish() returned end inside a message"));
          return;
        case Event::error:
          on_error();
          return;
        case Event::need_more:
        case Event::head:
          return void(violation("finish() returned need_more or head"));
      }
    }
    violation("finish() made no progress");
  }

  DriveResult result() && { return {std::move(json_), exit_code_}; }

 private:
  std::string_view view() {
    if (arena_ && arena_->ok()) return arena_->place(pending_);
    return pending_;
  }

  void drop(std::size_t n) { pending_.erase(0, n); }

  // Checks the step against the contract before it is acted upon.
  bool accept(const Step& step, std::string_view buf) {
    if (step.consumed > buf.size()) return violation("consumed past the end of the buffer");
    if (step.consumed > 0 || step.event == Event::need_more) {
      stalled_ = 0;
      return true;
    }
    if (++stalled_ > kMaxEventsWithoutProgress) return violation("no progress");
    return true;
  }

  void on_head() {
    const Message& m = parser_.message();
    if (options_.on_head) options_.on_head(m);
    head_ = render_head(m, parser_.mode());
    keep_alive_ = m.keep_alive;
    body_.clear();
    in_message_ = true;
  }

  void on_done() {
    if (!in_message_) {
      violation("done without a head");
      return;
    }
    json_ += head_;
    json_ += ", \"body\": ";
    append_json_string(json_, body_);
    if (!parser_.trailers().empty()) {
      json_ += ", \"trailers\": ";
      append_fields(json_, parser_.trailers());
    }
    json_ += keep_alive_ ? ", \"keep_alive\": true}\n" : ", \"keep_alive\": false}\n";
    in_message_ = false;
    closing_ = parser_.mode() == Mode::request && !keep_alive_;
  }

  void on_error() {
    const Error e = parser_.error();
    if (e == Error::incomplete) {
      json_ += "{\"incomplete\": true}\n";
      exit_code_ = 2;
      return;
    }
    json_ += "{\"error\": \"";
    json_ += options_.error_codes ? code_of(e) : std::string_view("-");
    json_ += "\", \"status\": ";
    json_ += std::to_string(status_of(e));
    json_ += "}\n";
    exit_code_ = 1;
  }

  bool violation(std::string_view what) {
    json_ += "{\"contract_violation\": ";
    append_json_string(json_, what);
    json_ += "}\n";
    exit_code_ = 3;
    return false;
  }

  Parser& parser_;
  const DriveOptions& options_;
  std::optional<GuardedArena> arena_;
  std::string pending_;  // bytes handed to the parser and not yet consumed
  std::string head_;     // the current message, rendered up to its body
  std::string body_;     // its decoded body so far
  bool keep_alive_ = false;
  bool in_message_ = false;
  bool closing_ = false;  // the last message was a request without keep-alive
  int stalled_ = 0;
  std::string json_;
  int exit_code_ = 0;
};

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    switch (b) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      default:
        break;
    }
    if (b >= 0x20 && b < 0x7F) {
      out += c;
      continue;
    }
    out += "\\u00";
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
  out += '"';
}

DriveResult drive(Parser& parser, std::string_view input, const DriveOptions& options) {
  parser.reset();
  parser.set_head_response(options.head_response);
  Run run(parser, options, input.size());
  std::size_t start = 0;
  auto feed = [&](std::size_t end) {
    run.append(input.substr(start, end - start));
    start = end;
    return run.pump();
  };
  for (std::size_t cut : options.cuts) {
    if (cut <= start || cut >= input.size()) continue;
    if (!feed(cut)) return std::move(run).result();
  }
  if (!feed(input.size())) return std::move(run).result();
  run.finish();
  return std::move(run).result();
}

std::vector<std::size_t> cuts_every(std::size_t n, std::size_t input_size) {
  std::vector<std::size_t> cuts;
  if (n == 0) return cuts;
  for (std::size_t k = n; k < input_size; k += n) cuts.push_back(k);
  return cuts;
}

}  // namespace anvil::parser

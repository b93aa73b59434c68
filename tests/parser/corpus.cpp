// Reader for the corpus files; the format is described in corpus.hpp.
#include "corpus.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace anvil::parser::testing {

namespace {

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::string trim_right(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}

std::optional<std::uint64_t> parse_number(std::string_view s) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return n;
}

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

bool valid_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(),
                                      [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

// "key=value" words into a map; false on a word without '='.
bool parse_pairs(const std::string& s, std::map<std::string, std::string>& out) {
  for (const std::string& w : split_words(s)) {
    auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0) return false;
    out[w.substr(0, eq)] = w.substr(eq + 1);
  }
  return true;
}

bool apply_limits(const std::string& s, Limits& limits) {
  std::map<std::string, std::string> pairs;
  if (!parse_pairs(s, pairs)) return false;
  for (const auto& [key, value] : pairs) {
    auto n = parse_number(value);
    if (!n) return false;
    if (key == "request_line") {
      limits.request_line = *n;
    } else if (key == "header_bytes") {
      limits.header_bytes = *n;
    } else if (key == "fields") {
      limits.fields = *n;
    } else if (key == "body") {
      limits.body = *n;
    } else if (key == "chunk_extension") {
      limits.chunk_extension = *n;
    } else {
      return false;
    }
  }
  return true;
}

bool valid_flags(const std::map<std::string, std::string>& flags) {
  static const std::set<std::string> kKeys = {
      "body", "content_length", "keep_alive", "expect_continue", "upgrade", "target_form"};
  return std::all_of(flags.begin(), flags.end(),
                     [](const auto& kv) { return kKeys.count(kv.first) == 1; });
}

enum class Section { none, header, input, expect };

class Reader {
 public:
  Reader(const std::string& file, Corpus& out) : file_(file), out_(out) {}

  void line(const std::string& raw, int number) {
    number_ = number;
    std::string text = trim_right(raw);
    if (starts_with(text, "===")) return start_case(text.substr(3), number);
    if (text.empty() || text[0] == '#') return;
    if (section_ == Section::none) return error("text outside a case");
    if (section_ == Section::input) {
      if (text == "expect:") return void(section_ = Section::expect);
      return input_line(text);
    }
    if (section_ == Section::expect) return expect_line(text);
    header_line(text);
  }

  void end() { close_case(); }

 private:
  void start_case(const std::string& rest, int number) {
    close_case();
    CorpusCase c;
    auto words = split_words(rest);
    c.name = words.empty() ? "" : words[0];
    c.file = file_;
    c.line = number;
    if (words.size() != 1 || !valid_name(c.name)) error("bad case name");
    current_ = std::move(c);
    section_ = Section::header;
  }

  void close_case() {
    if (!current_) return;
    if (section_ != Section::expect || (current_->expect.empty() && !no_output_)) {
      error_at(current_->line, "case " + current_->name + " has no input: and expect: lines");
    } else {
      out_.cases.push_back(std::move(*current_));
    }
    current_.reset();
    section_ = Section::none;
    no_output_ = false;
  }

  void header_line(const std::string& text) {
    CorpusCase& c = *current_;
    auto colon = text.find(':');
    if (colon == std::string::npos) return error("expected key: value");
    std::string key = text.substr(0, colon);
    std::string value = text.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' ') == std::string::npos
                       ? value.size()
                       : value.find_first_not_of(' '));
    if (key == "input") {
      if (!value.empty()) return error("input: takes no value; the bytes start on the next line");
      section_ = Section::input;
    } else if (key == "ref") {
      c.ref = value;
    } else if (key == "mode") {
      if (value != "request" && value != "response") return error("mode is request or response");
      c.mode = value == "request" ? Mode::request : Mode::response;
    } else if (key == "head_response") {
      if (value != "true" && value != "false") return error("head_response is true or false");
      c.head_response = value == "true";
    } else if (key == "limits") {
      if (!apply_limits(value, c.limits)) return error("bad limits");
    } else if (key == "flags") {
      std::map<std::string, std::string> flags;
      if (!parse_pairs(value, flags) || !valid_flags(flags)) return error("bad flags");
      c.flags.push_back(std::move(flags));
    } else {
      error("unknown key " + key);
    }
  }

  void input_line(const std::string& text) {
    auto expanded = expand_repeats(text);
    auto bytes = expanded ? unescape(*expanded) : std::nullopt;
    if (!bytes) return error("bad escape or {{N*text}} in input");
    current_->input += *bytes;
  }

  void expect_line(const std::string& text) {
    if (text == "(no output)") {
      if (no_output_ || !current_->expect.empty()) return error("(no output) must be alone");
      no_output_ = true;
      return;
    }
    if (no_output_) return error("(no output) must be alone");
    auto expanded = expand_repeats(text);
    if (!expanded) return error("bad {{N*text}} in expect");
    current_->expect.push_back(*expanded);
  }

  void error(const std::string& what) { error_at(number_, what); }
  void error_at(int number, const std::string& what) {
    out_.errors.push_back(file_ + ":" + std::to_string(number) + ": " + what);
  }

  std::string file_;
  Corpus& out_;
  std::optional<CorpusCase> current_;
  Section section_ = Section::none;
  bool no_output_ = false;  // the current case expects no lines
  int number_ = 0;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> expand_repeats(const std::string& line) {
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    auto open = line.find("{{", pos);
    if (open == std::string::npos) break;
    auto close = line.find("}}", open);
    auto star = line.find('*', open);
    if (close == std::string::npos || star == std::string::npos || star > close) {
      return std::nullopt;
    }
    auto count = parse_number(std::string_view(line).substr(open + 2, star - open - 2));
    if (!count || *count > 10'000'000) return std::nullopt;
    out.append(line, pos, open - pos);
    const std::string text = line.substr(star + 1, close - star - 1);
    for (std::uint64_t i = 0; i < *count; ++i) out += text;
    pos = close + 2;
  }
  out.append(line, pos);
  return out;
}

std::optional<std::string> unescape(const std::string& line) {
  std::string out;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] != '\\') {
      out += line[i];
      continue;
    }
    if (++i == line.size()) return std::nullopt;
    switch (line[i]) {
      case 'r':
        out += '\r';
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case '0':
        out += '\0';
        break;
      case '\\':
        out += '\\';
        break;
      case 'x': {
        int hi = i + 1 < line.size() ? hex_value(line[i + 1]) : -1;
        int lo = i + 2 < line.size() ? hex_value(line[i + 2]) : -1;
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        break;
      }
      default:
        return std::nullopt;
    }
  }
  return out;
}

void parse_corpus_text(const std::string& text, const std::string& file, Corpus& out) {
  Reader reader(file, out);
  std::istringstream in(text);
  int number = 0;
  for (std::string line; std::getline(in, line);) reader.line(line, ++number);
  reader.end();
}

Corpus load_corpus(const std::string& dir) {
  Corpus corpus;
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".txt") files.push_back(entry.path());
  }
  if (ec) corpus.errors.push_back(dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    parse_corpus_text(text.str(), path.filename().string(), corpus);
  }
  std::set<std::string> names;
  for (const CorpusCase& c : corpus.cases) {
    if (!names.insert(c.name).second) {
      corpus.errors.push_back(c.file + ":" + std::to_string(c.line) + ": duplicate name " + c.name);
    }
  }
  return corpus;
}

}  // namespace anvil::parser::testing

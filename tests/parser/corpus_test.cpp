// Runs every corpus case (tests/parser/cases/*.txt, format in corpus.hpp) with
// every parser, whole, cut once at every byte, and in one-byte pieces, with the
// buffer flush against an unreadable page each call (picohttpparser's and
// Beast's parsegrind's habits). Both parsers must print the expected lines and
// must agree with each other (errors compared by status).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "anvil/parser/driver.hpp"
#include "anvil/parser/parser.hpp"
#include "corpus.hpp"

namespace anvil::parser::testing {
namespace {

// Inputs up to this size are cut at every byte and fed one byte at a time;
// longer ones (the default-limit cases, 8-64 KiB) at a sample of cuts and in
// pieces of size/1024 bytes, which keeps the suite quadratic only in small n.
constexpr std::size_t kFullSplitMax = 4096;

const Corpus& corpus() {
  static const Corpus loaded = load_corpus(ANVIL_PARSER_CASES_DIR);
  return loaded;
}

struct Fragmentation {
  std::string what;
  std::vector<std::size_t> cuts;
};

std::vector<std::size_t> single_cut_positions(std::size_t n) {
  std::vector<std::size_t> ks;
  if (n <= kFullSplitMax) {
    for (std::size_t k = 1; k < n; ++k) ks.push_back(k);
    return ks;
  }
  const std::size_t edge = 300;  // every cut near both ends, where limits bite
  const std::size_t stride = n / 512;
  for (std::size_t k = 1; k < n; ++k) {
    if (k < edge || k + edge > n || k % stride == 0) ks.push_back(k);
  }
  return ks;
}

std::vector<Fragmentation> fragmentations(std::size_t n) {
  std::vector<Fragmentation> out;
  out.push_back({"whole", {}});
  for (std::size_t k : single_cut_positions(n)) {
    out.push_back({"cut at byte " + std::to_string(k), {k}});
  }
  const std::size_t piece = n <= kFullSplitMax ? 1 : n / 1024 + 1;
  out.push_back({"pieces of " + std::to_string(piece) + " bytes", cuts_every(piece, n)});
  return out;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

constexpr std::string_view kErrorPrefix = "{\"error\": \"";

bool status_only(const std::vector<std::string>& expect) {
  return !expect.empty() && expect.back().rfind(std::string(kErrorPrefix) + "-\"", 0) == 0;
}

// Replaces the error code in an error line by "-".
std::string mask_error_code(const std::string& json) {
  std::istringstream in(json);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(kErrorPrefix, 0) == 0) {
      auto end = line.find('"', kErrorPrefix.size());
      if (end != std::string::npos) {
        line = std::string(kErrorPrefix) + "-" + line.substr(end);
      }
    }
    out += line + "\n";
  }
  return out;
}

int expected_exit_code(const std::vector<std::string>& expect) {
  if (expect.empty()) return 0;
  if (expect.back().rfind(kErrorPrefix, 0) == 0) return 1;
  if (expect.back() == "{\"incomplete\": true}") return 2;
  return 0;
}

std::string_view body_kind_name(BodyKind k) {
  switch (k) {
    case BodyKind::none:
      return "none";
    case BodyKind::content_length:
      return "content_length";
    case BodyKind::chunked:
      return "chunked";
    case BodyKind::until_close:
      return "until_close";
  }
  return "?";
}

// The framing a head event announced, as the strings a flags: line uses.
std::map<std::string, std::string> flags_of(const Message& m) {
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  return {{"body", std::string(body_kind_name(m.body))},
          {"content_length", std::to_string(m.content_length)},
          {"keep_alive", b(m.keep_alive)},
          {"expect_continue", b(m.expect_continue)},
          {"upgrade", b(m.upgrade)},
          {"target_form", std::string(name_of(m.target_form))}};
}

// Empty when every flags: line matches its head, else what differs.
std::string check_flags(const CorpusCase& c,
                        const std::vector<std::map<std::string, std::string>>& heads) {
  std::string diff;
  for (std::size_t i = 0; i < c.flags.size(); ++i) {
    if (i >= heads.size())
      return "flags given for head " + std::to_string(i) + ", which never came";
    for (const auto& [key, want] : c.flags[i]) {
      const std::string& got = heads[i].at(key);
      if (got != want) {
        diff +=
            "head " + std::to_string(i) + ": " + key + " expected " + want + ", got " + got + "\n";
      }
    }
  }
  return diff;
}

struct Param {
  std::size_t index;
  ParserKind kind;
};

// gtest prints a failing parameter with this instead of its bytes.
void PrintTo(const Param& p, std::ostream* os) {
  *os << corpus().cases[p.index].name << " with " << name_of(p.kind);
}

std::vector<Param> all_params() {
  std::vector<Param> params;
  for (std::size_t i = 0; i < corpus().cases.size(); ++i) {
    for (ParserKind k : all_parser_kinds()) params.push_back({i, k});
  }
  return params;
}

std::vector<std::size_t> all_indexes() {
  std::vector<std::size_t> out(corpus().cases.size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = i;
  return out;
}

std::string describe(const CorpusCase& c) {
  return c.name + " (" + c.file + ":" + std::to_string(c.line) +
         (c.ref.empty() ? "" : ", " + c.ref) + ")";
}

class ParserCorpus : public ::testing::TestWithParam<Param> {};

TEST_P(ParserCorpus, MatchesExpected) {
  const CorpusCase& c = corpus().cases[GetParam().index];
  const ParserKind kind = GetParam().kind;
  auto parser = make_parser(kind, c.mode, c.limits);
  const std::string expected = joined(c.expect);
  const int expected_exit = expected_exit_code(c.expect);
  for (const Fragmentation& f : fragmentations(c.input.size())) {
    std::vector<std::map<std::string, std::string>> heads;
    DriveOptions options;
    options.cuts = f.cuts;
    options.guard_pages = true;
    options.head_response = c.head_response;
    options.on_head = [&heads](const Message& m) { heads.push_back(flags_of(m)); };
    DriveResult result = drive(*parser, c.input, options);
    const std::string got = status_only(c.expect) ? mask_error_code(result.json) : result.json;
    if (got != expected || result.exit_code != expected_exit) {
      ADD_FAILURE() << describe(c) << "\nparser " << name_of(kind) << ", " << f.what
                    << "\nexpected (exit " << expected_exit << "):\n"
                    << expected << "got (exit " << result.exit_code << "):\n"
                    << result.json;
      return;  // one report per case and parser; the other cuts usually say the same
    }
    if (std::string diff = check_flags(c, heads); !diff.empty()) {
      ADD_FAILURE() << describe(c) << "\nparser " << name_of(kind) << ", " << f.what << "\n"
                    << diff;
      return;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, ParserCorpus, ::testing::ValuesIn(all_params()),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           // A gtest name may not hold "-" ("http-parser").
                           std::string kind(name_of(info.param.kind));
                           std::replace(kind.begin(), kind.end(), '-', '_');
                           return corpus().cases[info.param.index].name + "_" + kind;
                         });

// Both parsers give the same answer (errors by status), whole and byte by byte;
// this holds even where a case only pins the status.
class ParserAgreement : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ParserAgreement, SameOutput) {
  const CorpusCase& c = corpus().cases[GetParam()];
  const auto kinds = all_parser_kinds();
  const std::size_t piece = c.input.size() <= kFullSplitMax ? 1 : c.input.size() / 1024 + 1;
  const std::vector<std::size_t> pieces = cuts_every(piece, c.input.size());
  for (bool split : {false, true}) {
    std::string first;
    for (std::size_t i = 0; i < kinds.size(); ++i) {
      auto parser = make_parser(kinds[i], c.mode, c.limits);
      DriveOptions options;
      options.error_codes = false;
      options.head_response = c.head_response;
      if (split) options.cuts = pieces;
      std::string json = drive(*parser, c.input, options).json;
      if (i == 0) {
        first = json;
        continue;
      }
      EXPECT_EQ(first, json) << describe(c) << "\n"
                             << name_of(kinds[0]) << " vs " << name_of(kinds[i])
                             << (split ? ", split" : ", whole");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, ParserAgreement, ::testing::ValuesIn(all_indexes()),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                           return corpus().cases[info.param].name;
                         });

TEST(CorpusFiles, LoadWithoutErrors) {
  const Corpus& c = corpus();
  for (const std::string& e : c.errors) ADD_FAILURE() << e;
  EXPECT_GE(c.cases.size(), 150u);
}

// Every error the parsers can report is pinned by at least one case, by code.
TEST(CorpusFiles, EveryErrorHasACase) {
  for (auto e = static_cast<int>(Error::bad_method);
       e <= static_cast<int>(Error::unsupported_version); ++e) {
    const std::string needle =
        std::string(kErrorPrefix) + std::string(code_of(static_cast<Error>(e))) + "\"";
    const bool found =
        std::any_of(corpus().cases.begin(), corpus().cases.end(), [&](const CorpusCase& c) {
          return !c.expect.empty() && c.expect.back().rfind(needle, 0) == 0;
        });
    EXPECT_TRUE(found) << "no case expects " << code_of(static_cast<Error>(e));
  }
}

}  // namespace
}  // namespace anvil::parser::testing

// The fast parser's head scanner is compiled three times (AVX2, SSE4.2, plain
// code) and the best one is chosen at run time, so the corpus tests exercise
// only one of them on a given CPU. This runs every corpus case through each
// variant the CPU has, whole, in one-byte pieces and cut once at a sample of
// bytes, with guard pages, and checks the expected output.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "anvil/parser/driver.hpp"
#include "corpus.hpp"
#include "fast_scan.hpp"

namespace anvil::parser::testing {
namespace {

const Corpus& corpus() {
  static const Corpus loaded = load_corpus(ANVIL_PARSER_CASES_DIR);
  return loaded;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

// Cases that pin only the status print "-" as the error code.
std::string masked(const CorpusCase& c, const std::string& json) {
  if (joined(c.expect).find("\"error\": \"-\"") == std::string::npos) return json;
  std::string out;
  std::size_t start = 0;
  while (start < json.size()) {
    std::size_t end = json.find('\n', start);
    std::string line = json.substr(start, end - start);
    if (line.rfind("{\"error\": \"", 0) == 0) {
      const std::size_t close = line.find('"', 11);
      line = "{\"error\": \"-\"" + line.substr(close + 1);
    }
    out += line + "\n";
    start = end + 1;
  }
  return out;
}

std::vector<std::vector<std::size_t>> fragmentations(std::size_t n) {
  std::vector<std::vector<std::size_t>> out{{}};
  if (n > 4096) return out;  // the large limit cases run whole here
  out.push_back(cuts_every(1, n));
  for (std::size_t k = 1; k < n; k += 7) out.push_back({k});
  return out;
}

class ScannerVariant : public ::testing::TestWithParam<const char*> {};

TEST_P(ScannerVariant, EveryCorpusCase) {
  const detail::fast::HeadScanner* scanner = detail::fast::head_scanner_named(GetParam());
  if (scanner == nullptr) GTEST_SKIP() << "this CPU lacks " << GetParam();
  int failures = 0;
  for (const CorpusCase& c : corpus().cases) {
    auto parser = detail::fast::make_fast_parser_with(c.mode, c.limits, *scanner);
    for (const auto& cuts : fragmentations(c.input.size())) {
      DriveOptions options;
      options.cuts = cuts;
      options.guard_pages = true;
      options.head_response = c.head_response;
      const std::string got = masked(c, drive(*parser, c.input, options).json);
      if (got == joined(c.expect)) continue;
      ADD_FAILURE() << c.name << " (" << c.file << ":" << c.line << ") with " << GetParam() << ", "
                    << cuts.size() << " cut(s)\nexpected:\n"
                    << joined(c.expect) << "got:\n"
                    << got;
      ++failures;
      break;
    }
    if (failures > 10) return;
  }
}

INSTANTIATE_TEST_SUITE_P(Fast, ScannerVariant, ::testing::Values("avx2", "sse42", "generic"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param);
                         });

}  // namespace
}  // namespace anvil::parser::testing

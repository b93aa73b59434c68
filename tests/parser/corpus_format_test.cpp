// The corpus reader: a typo in a case file must fail loudly, not drop a case.
#include <gtest/gtest.h>

#include "corpus.hpp"

namespace anvil::parser::testing {
namespace {

TEST(CorpusFormat, ReadsACase) {
  Corpus c;
  parse_corpus_text(
      "# comment\n"
      "=== one_case\n"
      "ref: RFC 9112 §2.2\n"
      "mode: response\n"
      "limits: fields=3 body=9\n"
      "flags: body=chunked keep_alive=false\n"
      "input:\n"
      "HTTP/1.1 200 OK\\r\\n   \n"
      "{{3*a\\x20}}\\0\n"
      "expect:\n"
      "{\"x\": \"{{2*b}}\"}\n",
      "f.txt", c);
  ASSERT_TRUE(c.errors.empty()) << c.errors.front();
  ASSERT_EQ(c.cases.size(), 1u);
  const CorpusCase& k = c.cases[0];
  EXPECT_EQ(k.name, "one_case");
  EXPECT_EQ(k.ref, "RFC 9112 §2.2");
  EXPECT_EQ(k.mode, Mode::response);
  EXPECT_EQ(k.limits.fields, 3u);
  EXPECT_EQ(k.limits.body, 9u);
  EXPECT_EQ(k.limits.request_line, Limits{}.request_line);
  ASSERT_EQ(k.flags.size(), 1u);
  EXPECT_EQ(k.flags[0].at("body"), "chunked");
  EXPECT_EQ(k.input, std::string("HTTP/1.1 200 OK\r\na a a \0", 24));
  EXPECT_EQ(k.expect, (std::vector<std::string>{"{\"x\": \"bb\"}"}));
}

TEST(CorpusFormat, RejectsMalformedCases) {
  for (const char* text : {
           "=== bad name\ninput:\nx\nexpect:\n{}\n",
           "=== no_expect\ninput:\nx\n",
           "=== bad_escape\ninput:\nx\\q\nexpect:\n{}\n",
           "=== bad_hex\ninput:\nx\\xg1\nexpect:\n{}\n",
           "=== bad_repeat\ninput:\n{{x*a}}\nexpect:\n{}\n",
           "=== bad_key\nmodes: request\ninput:\nx\nexpect:\n{}\n",
           "=== bad_flag\nflags: keepalive=true\ninput:\nx\nexpect:\n{}\n",
           "=== bad_limit\nlimits: body=x\ninput:\nx\nexpect:\n{}\n",
           "stray\n",
           "=== two_kinds\ninput:\nx\nexpect:\n(no output)\n{}\n",
       }) {
    Corpus c;
    parse_corpus_text(text, "f.txt", c);
    EXPECT_FALSE(c.errors.empty()) << text;
  }
}

TEST(CorpusFormat, NoOutput) {
  Corpus c;
  parse_corpus_text("=== empty\ninput:\n\\r\\n\nexpect:\n(no output)\n", "f.txt", c);
  ASSERT_TRUE(c.errors.empty()) << c.errors.front();
  ASSERT_EQ(c.cases.size(), 1u);
  EXPECT_EQ(c.cases[0].input, "\r\n");
  EXPECT_TRUE(c.cases[0].expect.empty());
}

TEST(CorpusFormat, Escapes) {
  EXPECT_EQ(unescape("\\r\\n\\t\\\\\\x41\\xff"), "\r\n\t\\A\xff");
  EXPECT_FALSE(unescape("\\x4").has_value());
  EXPECT_FALSE(unescape("end\\").has_value());
  EXPECT_EQ(expand_repeats("a{{0*b}}c{{2*de}}"), "acdede");
  EXPECT_FALSE(expand_repeats("{{2*a").has_value());
}

}  // namespace
}  // namespace anvil::parser::testing

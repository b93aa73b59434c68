// The driver on its own, against a scripted parser: its JSON, its exit codes,
// the guard pages, and the contract checks that catch a broken parser.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "anvil/parser/driver.hpp"

namespace anvil::parser {
namespace {

// Each call runs the script with the call's number (0, 1, ...) and buffer.
class ScriptedParser : public Parser {
 public:
  using Script = std::function<Step(ScriptedParser&, int, std::string_view)>;
  ScriptedParser(Script next, Script finish)
      : Parser(ParserKind::fast, Mode::request, Limits{}),
        next_(std::move(next)),
        finish_(std::move(finish)) {}

  Step next(std::string_view buf) override {
    seen.emplace_back(buf);
    seen_at.push_back(reinterpret_cast<std::uintptr_t>(buf.data()));
    return next_(*this, calls_++, buf);
  }
  Step finish(std::string_view buf) override { return finish_(*this, finishes_++, buf); }
  void reset() override { resets++; }

  Message& message_mut() { return message_; }
  void set_body(std::string_view b) { body_ = b; }
  void add_trailer(Field f) { trailers_.push_back(f); }
  void set_error(Error e) { error_ = e; }

  std::vector<std::string> seen;        // a copy of every buffer next() was given
  std::vector<std::uintptr_t> seen_at;  // and where it was
  int resets = 0;

 private:
  Script next_;
  Script finish_;
  int calls_ = 0;
  int finishes_ = 0;
};

Step end_step(ScriptedParser&, int, std::string_view) { return {Event::end, 0}; }

TEST(Driver, RendersARequestWithItsBodyAndTrailers) {
  ScriptedParser p(
      [](ScriptedParser& self, int call, std::string_view buf) -> Step {
        switch (call) {
          case 0: {
            Message& m = self.message_mut();
            m.method = buf.substr(0, 3);
            m.target = "/\x80q";
            m.fields = {{"Host", "a\"b\\"}, {"X", "\t\x01\x7f"}};
            m.keep_alive = true;
            return {Event::head, 3};
          }
          case 1:
            self.set_body("\r\n\xff");
            return {Event::body, 1};
          case 2:
            self.add_trailer({"T", "v"});
            return {Event::done, 0};
          default:
            return {Event::need_more, buf.size()};
        }
      },
      end_step);
  DriveResult r = drive(p, "GETxyz");
  EXPECT_EQ(r.json,
            "{\"method\": \"GET\", \"target\": \"/\\u0080q\", \"version\": \"1.1\", "
            "\"headers\": [[\"Host\", \"a\\\"b\\\\\"], [\"X\", \"\\t\\u0001\\u007f\"]], "
            "\"body\": \"\\r\\n\\u00ff\", \"trailers\": [[\"T\", \"v\"]], \"keep_alive\": true}\n");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(p.resets, 1);
}

TEST(Driver, ErrorLineWithAndWithoutCode) {
  auto script = [](ScriptedParser& self, int, std::string_view) -> Step {
    self.set_error(Error::bad_chunk_size);
    return {Event::error, 0};
  };
  ScriptedParser p(script, end_step);
  EXPECT_EQ(drive(p, "x").json, "{\"error\": \"bad_chunk_size\", \"status\": 400}\n");
  DriveOptions options;
  options.error_codes = false;
  DriveResult r = drive(p, "x", options);
  EXPECT_EQ(r.json, "{\"error\": \"-\", \"status\": 400}\n");
  EXPECT_EQ(r.exit_code, 1);
}

TEST(Driver, IncompleteAtTheEndExitsTwo) {
  ScriptedParser p(
      [](ScriptedParser&, int, std::string_view) -> Step {
        return {Event::need_more, 0};
      },
      [](ScriptedParser& self, int, std::string_view) -> Step {
        self.set_error(Error::incomplete);
        return {Event::error, 0};
      });
  DriveResult r = drive(p, "GET /");
  EXPECT_EQ(r.json, "{\"incomplete\": true}\n");
  EXPECT_EQ(r.exit_code, 2);
}

TEST(Driver, FeedsEveryPieceWithTheUnconsumedPrefix) {
  // Consumes one byte per call: each buffer is the rest of what arrived so far.
  ScriptedParser p(
      [](ScriptedParser&, int, std::string_view buf) -> Step {
        return {Event::need_more, static_cast<std::size_t>(buf.empty() ? 0 : 1)};
      },
      end_step);
  const std::vector<std::size_t> cuts = {2, 3};
  DriveOptions options;
  options.cuts = cuts;
  drive(p, "abcdef", options);
  EXPECT_EQ(p.seen, (std::vector<std::string>{"ab", "bc", "cdef"}));
}

TEST(Driver, GuardPagesPutTheBufferFlushAgainstAPageAndMoveIt) {
  ScriptedParser p(
      [](ScriptedParser&, int, std::string_view) -> Step {
        return {Event::need_more, 0};
      },
      end_step);
  const std::vector<std::size_t> cuts = cuts_every(1, 5);
  DriveOptions options;
  options.cuts = cuts;
  options.guard_pages = true;
  drive(p, "hello", options);
  ASSERT_EQ(p.seen.size(), 5u);
  const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  for (std::size_t i = 0; i < p.seen.size(); ++i) {
    EXPECT_EQ((p.seen_at[i] + p.seen[i].size()) % page, 0u) << "call " << i;
    if (i > 0) {
      EXPECT_NE(p.seen_at[i], p.seen_at[i - 1]) << "call " << i;
    }
  }
  EXPECT_EQ(p.seen.back(), "hello");
}

TEST(DriverDeathTest, ReadingPastTheEndCrashesWithGuardPages) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ScriptedParser p(
      [](ScriptedParser&, int, std::string_view buf) -> Step {
        volatile const char* past = buf.data() + buf.size();
        return {*past == 'x' ? Event::end : Event::need_more, 0};
      },
      end_step);
  DriveOptions options;
  options.guard_pages = true;
  EXPECT_DEATH(drive(p, "GET", options), "");
}

TEST(Driver, ConsumingPastTheEndIsAContractViolation) {
  ScriptedParser p(
      [](ScriptedParser&, int, std::string_view buf) -> Step {
        return {Event::need_more, buf.size() + 1};
      },
      end_step);
  DriveResult r = drive(p, "abc");
  EXPECT_EQ(r.json, "{\"contract_violation\": \"consumed past the end of the buffer\"}\n");
  EXPECT_EQ(r.exit_code, 3);
}

TEST(Driver, EventsWithoutProgressAreAContractViolation) {
  ScriptedParser p(
      [](ScriptedParser&, int, std::string_view) -> Step {
        return {Event::body, 0};
      },
      end_step);
  DriveResult r = drive(p, "abc");
  EXPECT_EQ(r.json, "{\"contract_violation\": \"no progress\"}\n");
  EXPECT_EQ(r.exit_code, 3);
}

TEST(Driver, FinishEndingInsideAMessageIsAContractViolation) {
  ScriptedParser p(
      [](ScriptedParser&, int call, std::string_view buf) -> Step {
        return {call == 0 ? Event::head : Event::need_more, call == 0 ? buf.size() : 0};
      },
      end_step);
  DriveResult r = drive(p, "abc");
  EXPECT_EQ(r.exit_code, 3);
}

// A request head (keep_alive as given) at call 0, done at call 1, then end.
ScriptedParser::Script head_done_end(bool keep_alive) {
  return [keep_alive](ScriptedParser& self, int call, std::string_view) -> Step {
    switch (call) {
      case 0:
        self.message_mut().method = "GET";
        self.message_mut().target = "/";
        self.message_mut().keep_alive = keep_alive;
        return {Event::head, 4};
      case 1:
        return {Event::done, 0};
      default:
        return {Event::end, 0};
    }
  };
}

TEST(Driver, EndAfterAClosingRequestEndsTheRunQuietly) {
  ScriptedParser p(head_done_end(false), end_step);
  DriveResult r = drive(p, "GET garbage that is never parsed");
  EXPECT_EQ(r.json,
            "{\"method\": \"GET\", \"target\": \"/\", \"version\": \"1.1\", \"headers\": [], "
            "\"body\": \"\", \"keep_alive\": false}\n");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(p.seen.size(), 3u);  // head, done, end: nothing after
}

TEST(Driver, EndFromNextAfterAKeepAliveRequestIsAContractViolation) {
  ScriptedParser p(head_done_end(true), end_step);
  DriveResult r = drive(p, "GET more");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.json.find("{\"contract_violation\": \"next() returned end\"}"), std::string::npos);
}

TEST(Driver, BodyUntilCloseEndsAtFinish) {
  ScriptedParser p(
      [](ScriptedParser& self, int call, std::string_view buf) -> Step {
        if (call == 0) {
          self.message_mut() = Message{};
          self.message_mut().status = 200;
          self.message_mut().reason = "OK";
          return {Event::head, 2};
        }
        if (buf.empty()) return {Event::need_more, 0};
        self.set_body(buf);
        return {Event::body, buf.size()};
      },
      [](ScriptedParser&, int, std::string_view) -> Step {
        return {Event::done, 0};
      });
  DriveResult r = drive(p, "hhbody");
  // The scripted parser is a request parser, so the line is rendered as one.
  EXPECT_EQ(r.json,
            "{\"method\": \"\", \"target\": \"\", \"version\": \"1.1\", \"headers\": [], "
            "\"body\": \"body\", \"keep_alive\": false}\n");
  EXPECT_EQ(r.exit_code, 0);
}

TEST(Driver, CutsEvery) {
  EXPECT_EQ(cuts_every(2, 7), (std::vector<std::size_t>{2, 4, 6}));
  EXPECT_EQ(cuts_every(3, 3), (std::vector<std::size_t>{}));
  EXPECT_TRUE(cuts_every(0, 3).empty());
}

}  // namespace
}  // namespace anvil::parser

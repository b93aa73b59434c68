// build_head() and add_length(): the framing rules a handler's head must keep
// (one framing field on the wire), the regression tests of what head_fuzz found.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "response_head.hpp"  // server/src

namespace anvil::server {
namespace {

StartError build(std::initializer_list<Header> headers, ResponseHead& h) {
  const std::vector<Header> hs(headers);
  return build_head("200 OK", hs, h);
}

TEST(BuildHead, ContentLengthWithTransferEncodingIsRefused) {
  ResponseHead h;
  EXPECT_EQ(build({{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}}, h),
            StartError::bad_framing);
  EXPECT_EQ(build({{"transfer-encoding", "chunked"}, {"content-length", "5"}}, h),
            StartError::bad_framing);
}

TEST(BuildHead, TransferEncodingTwiceIsRefused) {
  ResponseHead h;
  EXPECT_EQ(build({{"Transfer-Encoding", "gzip"}, {"Transfer-Encoding", "chunked"}}, h),
            StartError::bad_framing);
}

TEST(BuildHead, TransferEncodingMustBeRegisteredCodingsWithChunkedLast) {
  ResponseHead h;
  for (const char* good : {"chunked", "gzip, chunked", "GZIP ,\tChunked", "gzip", "x-gzip,deflate",
                           "compress, x-compress, chunked", ", chunked,"}) {
    EXPECT_EQ(build({{"Transfer-Encoding", good}}, h), StartError::none) << good;
    EXPECT_TRUE(h.has_te) << good;
  }
  for (const char* bad : {"chunked, gzip", "chunked, chunked", "br", "identity", "", " , ",
                          "gzip;q=1, chunked", "chunked x"}) {
    EXPECT_EQ(build({{"Transfer-Encoding", bad}}, h), StartError::bad_framing) << bad;
  }
}

TEST(BuildHead, FieldFaultsComeBeforeFramingFaults) {
  ResponseHead h;
  EXPECT_EQ(build({{"Transfer-Encoding", "br"}, {"X A", "b"}}, h), StartError::bad_header_name);
  EXPECT_EQ(build({{"Transfer-Encoding", "br"}, {"X", "a\r\nb"}}, h), StartError::bad_header_value);
}

TEST(BuildHead, RepeatedContentLengthGoesOutOnce) {
  ResponseHead h;
  ASSERT_EQ(build({{"Content-Length", "7"}, {"X-A", "b"}, {"content-length", "7"}}, h),
            StartError::none);
  EXPECT_EQ(h.text, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nX-A: b\r\n");
  EXPECT_TRUE(h.has_length);
  EXPECT_EQ(h.length, 7u);
  EXPECT_EQ(build({{"Content-Length", "7"}, {"Content-Length", "8"}}, h),
            StartError::bad_content_length);
  EXPECT_EQ(build({{"Content-Length", "abc"}}, h), StartError::bad_content_length);
}

// RFC 9110 §15.2: a 1xx is interim, never a handler's final answer; §8.6: no
// Content-Length in a 204 (checked, then left out).
TEST(BuildHead, InterimStatusAnd204Length) {
  ResponseHead h;
  for (const char* s : {"100 Continue", "101 Switching Protocols", "103 Early Hints", "199"}) {
    EXPECT_EQ(build_head(s, {}, h), StartError::interim_status) << s;
  }
  const Header fields[] = {{"Content-Length", "0"}, {"X-A", "b"}};
  ASSERT_EQ(build_head("204 No Content", fields, h), StartError::none);
  EXPECT_EQ(h.text, "HTTP/1.1 204 No Content\r\nX-A: b\r\n");
  const Header bad[] = {{"Content-Length", "x"}};
  EXPECT_EQ(build_head("204 No Content", bad, h), StartError::bad_content_length);
  ASSERT_EQ(build_head("304 Not Modified", fields, h), StartError::none);
  EXPECT_EQ(h.text, "HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\nX-A: b\r\n");
}

// add_length(): the head a handler gets when it learns its length after
// start() is the one it would have got giving the field last.
TEST(AddLength, EqualsTheFieldGivenLast) {
  ResponseHead late, given;
  ASSERT_EQ(build({{"Content-Type", "text/plain"}, {"X-A", "b"}}, late), StartError::none);
  ASSERT_EQ(add_length(late, 12), StartError::none);
  ASSERT_EQ(build({{"Content-Type", "text/plain"}, {"X-A", "b"}, {"Content-Length", "12"}}, given),
            StartError::none);
  EXPECT_EQ(late.text, given.text);
  EXPECT_EQ(late.text,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: b\r\n"
            "Content-Length: 12\r\n");
  EXPECT_TRUE(late.has_length);
  EXPECT_EQ(late.length, 12u);
}

TEST(AddLength, KeepsOneFramingField) {
  ResponseHead h;
  ASSERT_EQ(build({{"Content-Length", "7"}}, h), StartError::none);
  EXPECT_EQ(add_length(h, 7), StartError::none);  // the same length: one field still
  EXPECT_EQ(h.text, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n");
  EXPECT_EQ(add_length(h, 8), StartError::bad_content_length);
  ASSERT_EQ(build({{"Transfer-Encoding", "gzip"}}, h), StartError::none);
  EXPECT_EQ(add_length(h, 3), StartError::bad_framing);
  EXPECT_FALSE(h.has_length);
}

// RFC 9110 §8.6, as build_head: a 204's length is recorded, not written.
TEST(AddLength, NotWrittenOn204) {
  ResponseHead h;
  ASSERT_EQ(build_head("204 No Content", {}, h), StartError::none);
  ASSERT_EQ(add_length(h, 0), StartError::none);
  EXPECT_EQ(h.text, "HTTP/1.1 204 No Content\r\n");
  EXPECT_TRUE(h.has_length);
}

}  // namespace
}  // namespace anvil::server

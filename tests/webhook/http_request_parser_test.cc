// Unit tests of the webhook's HTTP/1.x request parser: whole requests, byte-by-byte feeding,
// chunked bodies, limits and every refusal with its status and text.
#include "webhook/internal/http_request_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace driftguard::webhook::internal {
namespace {

HttpLimits SmallLimits() {
  HttpLimits limits;
  limits.max_line_bytes = 64;
  limits.max_header_bytes = 256;
  limits.max_headers = 5;
  limits.max_body_bytes = 100;
  return limits;
}

// Feeds `input` in one call, or in pieces of `step` bytes (keeping what the parser leaves
// unconsumed, as the server does), until the parser reports completion or an error.
struct Outcome {
  ParseProgress progress = ParseProgress::kNeedMore;
  size_t consumed = 0;  // of `input`
  int headers_complete_events = 0;
};

Outcome Feed(HttpRequestParser& parser, const std::string& input, size_t step = 0) {
  Outcome out;
  std::string pending;
  size_t offset = 0;
  size_t total_consumed = 0;
  while (true) {
    if (step == 0) {
      pending += input.substr(offset);
      offset = input.size();
    } else if (offset < input.size()) {
      pending += input.substr(offset, step);
      offset = std::min(input.size(), offset + step);
    }
    size_t used = 0;
    ParseProgress p = parser.Parse(pending, &used);
    pending.erase(0, used);
    total_consumed += used;
    if (p == ParseProgress::kHeadersComplete) {
      ++out.headers_complete_events;
      continue;
    }
    if (p != ParseProgress::kNeedMore || offset == input.size()) {
      out.progress = p;
      out.consumed = total_consumed;
      return out;
    }
  }
}

TEST(HttpRequestParserTest, ParsesRequestWithContentLength) {
  HttpRequestParser parser(SmallLimits());
  const std::string input =
      "POST /validate?timeout=5s HTTP/1.1\r\nHost: x\r\ncontent-TYPE: \t application/json  "
      "\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
  Outcome o = Feed(parser, input);
  ASSERT_EQ(o.progress, ParseProgress::kComplete);
  EXPECT_EQ(o.consumed, input.size());
  EXPECT_EQ(o.headers_complete_events, 1);
  const HttpRequest& r = parser.request();
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/validate?timeout=5s");
  EXPECT_EQ(r.path(), "/validate");
  EXPECT_EQ(r.minor_version, 1);
  ASSERT_NE(r.FindHeader("Content-Type"), nullptr);
  EXPECT_EQ(*r.FindHeader("Content-Type"), "application/json");
  EXPECT_EQ(*r.FindHeader("host"), "x");
  EXPECT_EQ(r.FindHeader("Accept"), nullptr);
  EXPECT_EQ(r.content_length, 7u);
  EXPECT_EQ(r.body, "{\"a\":1}");
  EXPECT_TRUE(r.keep_alive);
  EXPECT_FALSE(r.expect_continue);
  EXPECT_FALSE(r.chunked);
}

TEST(HttpRequestParserTest, ByteByByteGivesTheSameRequest) {
  HttpRequestParser parser(SmallLimits());
  const std::string input =
      "POST /mutate HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
  Outcome o = Feed(parser, input, 1);
  ASSERT_EQ(o.progress, ParseProgress::kComplete);
  EXPECT_EQ(o.consumed, input.size());
  EXPECT_EQ(parser.request().body, "hello");
  EXPECT_FALSE(parser.request().keep_alive);
}

TEST(HttpRequestParserTest, RequestWithoutBodyCompletesAtTheEmptyLine) {
  HttpRequestParser parser(SmallLimits());
  EXPECT_FALSE(parser.started());
  Outcome o = Feed(parser, "GET /healthz HTTP/1.1\n\n");  // bare LF line ends are accepted
  ASSERT_EQ(o.progress, ParseProgress::kComplete);
  EXPECT_EQ(o.headers_complete_events, 0);
  EXPECT_TRUE(parser.started());
  EXPECT_EQ(parser.request().method, "GET");
  EXPECT_EQ(parser.request().body, "");
}

TEST(HttpRequestParserTest, PipelinedRequestsAreParsedOneAtATime) {
  HttpRequestParser parser(SmallLimits());
  const std::string first = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
  const std::string second = "GET /b HTTP/1.1\r\n\r\n";
  std::string both = first + second;
  size_t used = 0;
  ASSERT_EQ(parser.Parse(both, &used), ParseProgress::kHeadersComplete);
  size_t total = used;
  ASSERT_EQ(parser.Parse(std::string_view(both).substr(total), &used), ParseProgress::kComplete);
  total += used;
  EXPECT_EQ(total, first.size());
  EXPECT_EQ(parser.request().body, "abc");
  // Without Reset the parser stays complete and consumes nothing.
  EXPECT_EQ(parser.Parse(std::string_view(both).substr(total), &used), ParseProgress::kComplete);
  EXPECT_EQ(used, 0u);
  parser.Reset();
  EXPECT_FALSE(parser.started());
  ASSERT_EQ(parser.Parse(std::string_view(both).substr(total), &used), ParseProgress::kComplete);
  EXPECT_EQ(used, second.size());
  EXPECT_EQ(parser.request().target, "/b");
  EXPECT_EQ(parser.request().header_count, 0u);
  EXPECT_EQ(parser.request().FindHeader("Content-Length"), nullptr);
  EXPECT_EQ(parser.request().body, "");
}

TEST(HttpRequestParserTest, OneLeadingEmptyLineIsIgnored) {
  HttpRequestParser parser(SmallLimits());
  EXPECT_EQ(Feed(parser, "\r\nGET / HTTP/1.1\r\n\r\n").progress, ParseProgress::kComplete);
  HttpRequestParser twice(SmallLimits());
  Outcome o = Feed(twice, "\r\n\r\nGET / HTTP/1.1\r\n\r\n");
  ASSERT_EQ(o.progress, ParseProgress::kError);
  EXPECT_EQ(twice.error_status(), 400);
  EXPECT_EQ(twice.error_text(), "malformed request line \"\"");
}

TEST(HttpRequestParserTest, ConnectionSemanticsByVersion) {
  struct Case {
    std::string headers;
    int minor;
    bool keep_alive;
  };
  for (const Case& c : {Case{"", 1, true}, Case{"Connection: close\r\n", 1, false},
                        Case{"Connection: Keep-Alive, CLOSE\r\n", 1, false}, Case{"", 0, false},
                        Case{"Connection: keep-alive\r\n", 0, true},
                        Case{"Connection: foo,  keep-alive \r\n", 0, true}}) {
    HttpRequestParser parser(SmallLimits());
    std::string input = "GET / HTTP/1." + std::to_string(c.minor) + "\r\n" + c.headers + "\r\n";
    ASSERT_EQ(Feed(parser, input).progress, ParseProgress::kComplete) << input;
    EXPECT_EQ(parser.request().minor_version, c.minor) << input;
    EXPECT_EQ(parser.request().keep_alive, c.keep_alive) << input;
  }
}

TEST(HttpRequestParserTest, ExpectContinueIsReportedAfterTheHeaders) {
  HttpRequestParser parser(SmallLimits());
  size_t used = 0;
  std::string head = "POST /v HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n";
  ASSERT_EQ(parser.Parse(head, &used), ParseProgress::kHeadersComplete);
  EXPECT_EQ(used, head.size());
  EXPECT_TRUE(parser.request().expect_continue);
  ASSERT_EQ(parser.Parse("body", &used), ParseProgress::kComplete);
  EXPECT_EQ(parser.request().body, "body");

  HttpRequestParser http10(SmallLimits());  // HTTP/1.0 clients get no 100 Continue
  ASSERT_EQ(Feed(http10, "POST /v HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx")
                .progress,
            ParseProgress::kComplete);
  EXPECT_FALSE(http10.request().expect_continue);

  HttpRequestParser other(SmallLimits());
  ASSERT_EQ(Feed(other, "POST /v HTTP/1.1\r\nExpect: magic\r\n\r\n").progress,
            ParseProgress::kError);
  EXPECT_EQ(other.error_status(), 417);
  EXPECT_EQ(other.error_text(), "Expect \"magic\" is not supported");
}

TEST(HttpRequestParserTest, ChunkedBodyIsDecoded) {
  const std::string input =
      "POST /v HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "0006\r\n world\r\n"
      "A \r\n0123456789\r\n"
      "0\r\nX-Trailer: t\r\n\r\n"
      "GET /next HTTP/1.1\r\n\r\n";
  for (size_t step : {size_t{0}, size_t{1}, size_t{7}}) {
    HttpRequestParser parser(SmallLimits());
    Outcome o = Feed(parser, input, step);
    ASSERT_EQ(o.progress, ParseProgress::kComplete) << step;
    EXPECT_EQ(o.consumed, input.size() - std::string("GET /next HTTP/1.1\r\n\r\n").size()) << step;
    EXPECT_TRUE(parser.request().chunked);
    EXPECT_EQ(parser.request().body, "hello world0123456789") << step;
    EXPECT_EQ(parser.request().FindHeader("X-Trailer"), nullptr);  // trailers are dropped
  }
}

TEST(HttpRequestParserTest, ChunkedBodyLimitAppliesToTheDecodedSize) {
  HttpRequestParser parser(SmallLimits());  // max_body_bytes = 100
  std::string input = "POST /v HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  input += "32\r\n" + std::string(50, 'a') + "\r\n";  // 50
  input += "32\r\n" + std::string(50, 'b') + "\r\n";  // 100: still fine
  input += "1\r\nc\r\n";                              // 101
  Outcome o = Feed(parser, input);
  ASSERT_EQ(o.progress, ParseProgress::kError);
  EXPECT_EQ(parser.error_status(), 413);
  EXPECT_EQ(parser.error_text(), "request body exceeds the limit of 100 bytes");

  HttpRequestParser exact(SmallLimits());
  std::string fits = "POST /v HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" +
                     std::string(100, 'x') + "\r\n0\r\n\r\n";
  ASSERT_EQ(Feed(exact, fits).progress, ParseProgress::kComplete);
  EXPECT_EQ(exact.request().body.size(), 100u);

  HttpRequestParser huge(SmallLimits());
  ASSERT_EQ(Feed(huge,
                 "POST /v HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "ffffffffffffffffffff\r\n")
                .progress,
            ParseProgress::kError);
  EXPECT_EQ(huge.error_status(), 413);
}

TEST(HttpRequestParserTest, MalformedChunksAreRefused) {
  struct Case {
    std::string chunks;
    std::string text;
  };
  for (const Case& c :
       {Case{"xyz\r\n", "malformed chunk size \"xyz\""}, Case{"\r\n", "malformed chunk size \"\""},
        Case{"3\r\nabcX\r\n", "chunk data is not followed by CRLF"}}) {
    HttpRequestParser parser(SmallLimits());
    Outcome o = Feed(parser, "POST /v HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + c.chunks);
    ASSERT_EQ(o.progress, ParseProgress::kError) << c.chunks;
    EXPECT_EQ(parser.error_status(), 400) << c.chunks;
    EXPECT_EQ(parser.error_text(), c.text);
  }
}

TEST(HttpRequestParserTest, ContentLengthRules) {
  struct Case {
    std::string headers;
    int status;  // 0: accepted
    std::string text;
  };
  for (const Case& c : {
           Case{"Content-Length: 3\r\ncontent-length: 3\r\n", 0, ""},
           Case{"Content-Length: 003\r\n", 0, ""},
           Case{"Content-Length: 3\r\nContent-Length: 4\r\n", 400,
                "conflicting Content-Length headers"},
           Case{"Content-Length: 3x\r\n", 400, "Content-Length \"3x\" is not a number"},
           Case{"Content-Length: -1\r\n", 400, "Content-Length \"-1\" is not a number"},
           Case{"Content-Length:\r\n", 400, "Content-Length \"\" is not a number"},
           Case{"Content-Length: 3, 3\r\n", 400, "Content-Length \"3, 3\" is not a number"},
           Case{"Content-Length: 101\r\n", 413, "request body exceeds the limit of 100 bytes"},
           Case{"Content-Length: 99999999999999999999999\r\n", 413,
                "request body exceeds the limit of 100 bytes"},
           Case{"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", 400,
                "both Content-Length and Transfer-Encoding are set"},
       }) {
    HttpRequestParser parser(SmallLimits());
    Outcome o = Feed(parser, "POST /v HTTP/1.1\r\n" + c.headers + "\r\nabc");
    if (c.status == 0) {
      ASSERT_EQ(o.progress, ParseProgress::kComplete) << c.headers;
      EXPECT_EQ(parser.request().body, "abc");
    } else {
      ASSERT_EQ(o.progress, ParseProgress::kError) << c.headers;
      EXPECT_EQ(parser.error_status(), c.status) << c.headers;
      EXPECT_EQ(parser.error_text(), c.text) << c.headers;
    }
  }
}

TEST(HttpRequestParserTest, TransferEncodingOtherThanChunkedIs501) {
  for (const std::string te : {"gzip", "gzip, chunked", "identity"}) {
    HttpRequestParser parser(SmallLimits());
    ASSERT_EQ(Feed(parser, "POST /v HTTP/1.1\r\nTransfer-Encoding: " + te + "\r\n\r\n").progress,
              ParseProgress::kError);
    EXPECT_EQ(parser.error_status(), 501);
    EXPECT_EQ(parser.error_text(),
              "Transfer-Encoding \"" + te + "\" is not supported (only \"chunked\")");
  }
  HttpRequestParser twice(SmallLimits());
  ASSERT_EQ(Feed(twice,
                 "POST /v HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
                 "\r\n")
                .progress,
            ParseProgress::kError);
  EXPECT_EQ(twice.error_status(), 501);

  HttpRequestParser http10(SmallLimits());
  ASSERT_EQ(Feed(http10, "POST /v HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").progress,
            ParseProgress::kError);
  EXPECT_EQ(http10.error_status(), 400);
  EXPECT_EQ(http10.error_text(), "Transfer-Encoding is not allowed in HTTP/1.0");
}

TEST(HttpRequestParserTest, MalformedRequestLinesAndHeaders) {
  struct Case {
    std::string input;
    int status;
    std::string text;
  };
  for (const Case& c : {
           Case{"GET /\r\n\r\n", 400, "malformed request line \"GET /\""},
           Case{"GET  / HTTP/1.1\r\n\r\n", 400, "malformed request line \"GET  / HTTP/1.1\""},
           Case{"G(T / HTTP/1.1\r\n\r\n", 400, "malformed method \"G(T\""},
           Case{"GET / HTTP/1.1 \r\n\r\n", 400, "malformed request line \"GET / HTTP/1.1 \""},
           Case{"GET / HTTP/11\r\n\r\n", 400, "malformed HTTP version \"HTTP/11\""},
           Case{"GET / HTTP/2.0\r\n\r\n", 505, "HTTP version 2.0 is not supported"},
           Case{"GET / HTTP/1.2\r\n\r\n", 505, "HTTP version 1.2 is not supported"},
           Case{"GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400, "malformed header line \"No colon\""},
           Case{"GET / HTTP/1.1\r\nBad name: x\r\n\r\n", 400,
                "malformed header line \"Bad name: x\""},
           Case{"GET / HTTP/1.1\r\n: x\r\n\r\n", 400, "malformed header line \": x\""},
           Case{"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400,
                "obsolete header line folding is not supported"},
           Case{"GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", 400, "control character in header \"A\""},
       }) {
    HttpRequestParser parser(SmallLimits());
    Outcome o = Feed(parser, c.input);
    ASSERT_EQ(o.progress, ParseProgress::kError) << c.input;
    EXPECT_EQ(parser.error_status(), c.status) << c.input;
    EXPECT_EQ(parser.error_text(), c.text) << c.input;
    // Further input changes nothing.
    size_t used = 1;
    EXPECT_EQ(parser.Parse("GET / HTTP/1.1\r\n\r\n", &used), ParseProgress::kError);
    EXPECT_EQ(used, 0u);
  }
}

TEST(HttpRequestParserTest, SizeLimits) {
  // Request line over max_line_bytes (64): 414, even before its end arrives.
  HttpRequestParser long_line(SmallLimits());
  Outcome o = Feed(long_line, "GET /" + std::string(100, 'a'), 10);
  ASSERT_EQ(o.progress, ParseProgress::kError);
  EXPECT_EQ(long_line.error_status(), 414);
  EXPECT_EQ(long_line.error_text(), "request line longer than 64 bytes");

  // A line of exactly max_line_bytes is fine.
  HttpRequestParser exact(SmallLimits());
  std::string line = "GET /" + std::string(64 - 14, 'a') + " HTTP/1.1";
  ASSERT_EQ(line.size(), 64u);
  EXPECT_EQ(Feed(exact, line + "\r\n\r\n").progress, ParseProgress::kComplete);

  HttpRequestParser long_header(SmallLimits());
  ASSERT_EQ(Feed(long_header, "GET / HTTP/1.1\r\nX: " + std::string(70, 'v') + "\r\n\r\n").progress,
            ParseProgress::kError);
  EXPECT_EQ(long_header.error_status(), 431);
  EXPECT_EQ(long_header.error_text(), "header line longer than 64 bytes");

  HttpRequestParser many(SmallLimits());  // max_headers = 5
  std::string six;
  for (int i = 0; i < 6; ++i) six += "H" + std::to_string(i) + ": v\r\n";
  ASSERT_EQ(Feed(many, "GET / HTTP/1.1\r\n" + six + "\r\n").progress, ParseProgress::kError);
  EXPECT_EQ(many.error_status(), 431);
  EXPECT_EQ(many.error_text(), "more than 5 header lines");

  HttpLimits wide = SmallLimits();
  wide.max_headers = 100;
  HttpRequestParser big(wide);  // max_header_bytes = 256
  std::string headers;
  for (int i = 0; i < 10; ++i)
    headers += "Header-" + std::to_string(i) + ": " + std::string(20, 'v') + "\r\n";
  ASSERT_EQ(Feed(big, "GET / HTTP/1.1\r\n" + headers + "\r\n").progress, ParseProgress::kError);
  EXPECT_EQ(big.error_status(), 431);
  EXPECT_EQ(big.error_text(), "header section larger than 256 bytes");
}

TEST(HttpRequestParserTest, ResetReleasesAnUnusuallyLargeBody) {
  HttpLimits limits;
  limits.max_body_bytes = 1 << 20;
  HttpRequestParser parser(limits);
  std::string body(600 * 1024, 'x');
  ASSERT_EQ(Feed(parser, "POST / HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) +
                             "\r\n\r\n" + body)
                .progress,
            ParseProgress::kComplete);
  EXPECT_EQ(parser.request().body.size(), body.size());
  parser.Reset();
  EXPECT_LT(parser.request().body.capacity(), 256u * 1024);
}

TEST(HttpRequestParserTest, ReasonPhrases) {
  EXPECT_EQ(HttpReasonPhrase(200), "OK");
  EXPECT_EQ(HttpReasonPhrase(100), "Continue");
  EXPECT_EQ(HttpReasonPhrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(HttpReasonPhrase(299), "Unknown");
}

}  // namespace
}  // namespace driftguard::webhook::internal

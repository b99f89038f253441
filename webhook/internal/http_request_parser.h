// An incremental HTTP/1.x request parser for the webhook's event-loop server.
//
// Bytes are fed as they arrive; the parser consumes complete lines (request line, header lines,
// chunk-size lines) and body bytes, and leaves an incomplete line unconsumed for the next call,
// so the caller's buffer never holds more than one partial line plus what is still unread.
//
//   HttpRequestParser parser(limits);
//   size_t used = 0;
//   switch (parser.Parse(input, &used)) {   // input.substr(used) is kept for the next call
//     case ParseProgress::kNeedMore: ...           // read more
//     case ParseProgress::kHeadersComplete: ...    // a body follows: maybe send 100 Continue
//     case ParseProgress::kComplete: Serve(parser.request()); parser.Reset(); ...
//     case ParseProgress::kError: Answer(parser.error_status(), parser.error_text()); close
//   }
//
// Understood: request line "METHOD target HTTP/1.0|1.1" (up to one empty line before it is
// ignored), header names case-insensitive with surrounding whitespace trimmed from values,
// Content-Length (digits only; repeated headers must agree), Transfer-Encoding: chunked (decoded;
// trailers read and dropped), Connection: close / keep-alive, Expect: 100-continue. Refused:
//   400 malformed syntax, conflicting Content-Length, both Content-Length and Transfer-Encoding,
//       chunked on HTTP/1.0
//   413 a body (announced or decoded) over max_body_bytes
//   414 a request line over max_line_bytes
//   417 an Expect other than 100-continue
//   431 a header line over max_line_bytes, a header section over max_header_bytes, more than
//       max_headers header lines
//   501 a Transfer-Encoding other than chunked
//   505 an HTTP version other than 1.0 and 1.1
// After kError the connection must be closed once the error is answered.
//
// Not thread-safe; one parser per connection. Reset() keeps allocated capacity, so a keep-alive
// connection reuses the request's strings.
#ifndef DRIFTGUARD_WEBHOOK_INTERNAL_HTTP_REQUEST_PARSER_H_
#define DRIFTGUARD_WEBHOOK_INTERNAL_HTTP_REQUEST_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace driftguard::webhook::internal {

struct HttpLimits {
  size_t max_line_bytes = 8 * 1024;         // request line, one header line, one chunk-size line
  size_t max_header_bytes = 64 * 1024;      // the whole header section (trailers count as well)
  size_t max_headers = 100;                 // header lines (trailer lines included)
  size_t max_body_bytes = 3 * 1024 * 1024;  // after chunked decoding
};

struct HttpHeader {
  std::string name;   // as sent
  std::string value;  // leading and trailing spaces and tabs removed
};

struct HttpRequest {
  std::string method;
  std::string target;               // as sent, query included
  int minor_version = 1;            // HTTP/1.<minor_version>
  std::vector<HttpHeader> headers;  // only the first header_count entries are valid
  size_t header_count = 0;
  std::optional<uint64_t> content_length;
  bool chunked = false;
  bool expect_continue = false;  // "Expect: 100-continue" on HTTP/1.1
  // Whether the connection may serve another request: HTTP/1.1 unless "Connection: close",
  // HTTP/1.0 only with "Connection: keep-alive".
  bool keep_alive = true;
  std::string body;  // decoded

  // The target up to '?' or '#'.
  std::string_view path() const;
  // The value of the first header named `name` (case-insensitive), or null.
  const std::string* FindHeader(std::string_view name) const;
};

enum class ParseProgress {
  kNeedMore,         // every complete line was consumed; feed more bytes
  kHeadersComplete,  // the header section is in request(); a body follows (once per request)
  kComplete,         // request() is whole; call Reset() before parsing the next one
  kError,            // see error_status() / error_text()
};

class HttpRequestParser {
 public:
  explicit HttpRequestParser(HttpLimits limits) : limits_(limits) {}

  // Consumes a prefix of `input` and sets *consumed to its length. Stops after the header section
  // when a body follows (kHeadersComplete), after a whole request (kComplete; bytes of a pipelined
  // next request stay unconsumed) and at an error. Calling Parse again after kComplete or kError
  // without Reset() returns the same result and consumes nothing.
  ParseProgress Parse(std::string_view input, size_t* consumed);

  // Starts the next request; keeps buffers.
  void Reset();

  const HttpRequest& request() const { return request_; }
  HttpRequest& mutable_request() { return request_; }
  // True while part of a request has been consumed (a request is in progress).
  bool started() const { return phase_ != Phase::kRequestLine || skipped_empty_line_; }
  int error_status() const { return error_status_; }
  // One-line reason without a trailing newline, e.g. "Content-Length \"12x\" is not a number".
  const std::string& error_text() const { return error_text_; }

 private:
  enum class Phase {
    kRequestLine,
    kHeaders,
    kBody,       // Content-Length body
    kChunkSize,  // a chunk-size line
    kChunkData,  // chunk bytes
    kChunkCrlf,  // the CRLF after chunk bytes
    kTrailers,
    kComplete,
    kError,
  };

  ParseProgress Fail(int status, std::string text);
  bool ParseRequestLine(std::string_view line);
  bool ParseHeaderLine(std::string_view line);
  // Interprets the header section; returns false after Fail().
  bool FinishHeaders();
  bool ParseChunkSize(std::string_view line);

  const HttpLimits limits_;
  HttpRequest request_;
  Phase phase_ = Phase::kRequestLine;
  bool skipped_empty_line_ = false;
  size_t header_bytes_ = 0;
  size_t header_lines_ = 0;
  uint64_t remaining_ = 0;  // body or chunk bytes still to read
  int error_status_ = 0;
  std::string error_text_;
};

// The standard reason phrase of `status` ("OK", "Not Found", ...); "Unknown" for others.
std::string_view HttpReasonPhrase(int status);

}  // namespace driftguard::webhook::internal

#endif  // DRIFTGUARD_WEBHOOK_INTERNAL_HTTP_REQUEST_PARSER_H_

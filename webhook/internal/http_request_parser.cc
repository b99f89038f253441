#include "webhook/internal/http_request_parser.h"

#include <algorithm>

namespace driftguard::webhook::internal {
namespace {

// A request body buffer grown past this by one large request is released by Reset().
constexpr size_t kKeptBodyCapacity = 256 * 1024;

// RFC 9110 tchar: the characters of a method or a header name.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Quotes a client-supplied value for an error text, cut to a readable length.
std::string Quote(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out = "\"";
  out.append(s.substr(0, kMax));
  if (s.size() > kMax) out += "...";
  out += '"';
  return out;
}

}  // namespace

std::string_view HttpRequest::path() const {
  std::string_view t(target);
  return t.substr(0, t.find_first_of("?#"));
}

const std::string* HttpRequest::FindHeader(std::string_view name) const {
  for (size_t i = 0; i < header_count; ++i) {
    if (EqualsIgnoreCase(headers[i].name, name)) return &headers[i].value;
  }
  return nullptr;
}

void HttpRequestParser::Reset() {
  request_.method.clear();
  request_.target.clear();
  request_.minor_version = 1;
  request_.header_count = 0;
  request_.content_length.reset();
  request_.chunked = false;
  request_.expect_continue = false;
  request_.keep_alive = true;
  if (request_.body.capacity() > kKeptBodyCapacity) {
    std::string().swap(request_.body);
  } else {
    request_.body.clear();
  }
  phase_ = Phase::kRequestLine;
  skipped_empty_line_ = false;
  header_bytes_ = 0;
  header_lines_ = 0;
  remaining_ = 0;
  error_status_ = 0;
  error_text_.clear();
}

ParseProgress HttpRequestParser::Fail(int status, std::string text) {
  phase_ = Phase::kError;
  error_status_ = status;
  error_text_ = std::move(text);
  return ParseProgress::kError;
}

ParseProgress HttpRequestParser::Parse(std::string_view input, size_t* consumed) {
  size_t pos = 0;
  *consumed = 0;
  while (true) {
    switch (phase_) {
      case Phase::kComplete:
        return ParseProgress::kComplete;
      case Phase::kError:
        return ParseProgress::kError;

      case Phase::kBody:
      case Phase::kChunkData: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, input.size() - pos));
        request_.body.append(input.data() + pos, n);
        pos += n;
        remaining_ -= n;
        *consumed = pos;
        if (remaining_ > 0) return ParseProgress::kNeedMore;
        if (phase_ == Phase::kBody) {
          phase_ = Phase::kComplete;
          return ParseProgress::kComplete;
        }
        phase_ = Phase::kChunkCrlf;
        continue;
      }

      case Phase::kRequestLine:
      case Phase::kHeaders:
      case Phase::kChunkSize:
      case Phase::kChunkCrlf:
      case Phase::kTrailers:
        break;
    }

    // Every other phase consumes one whole line.
    size_t newline = input.find('\n', pos);
    size_t line_length = (newline == std::string_view::npos ? input.size() : newline) - pos;
    if (line_length > limits_.max_line_bytes + 1) {  // +1: the line's '\r'
      switch (phase_) {
        case Phase::kRequestLine:
          return Fail(
              414, "request line longer than " + std::to_string(limits_.max_line_bytes) + " bytes");
        case Phase::kHeaders:
        case Phase::kTrailers:
          return Fail(
              431, "header line longer than " + std::to_string(limits_.max_line_bytes) + " bytes");
        default:
          return Fail(400, "chunk size line longer than " + std::to_string(limits_.max_line_bytes) +
                               " bytes");
      }
    }
    if (newline == std::string_view::npos) {
      *consumed = pos;
      return ParseProgress::kNeedMore;
    }
    std::string_view line = input.substr(pos, line_length);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = newline + 1;
    *consumed = pos;

    switch (phase_) {
      case Phase::kRequestLine:
        if (line.empty() && !skipped_empty_line_) {
          skipped_empty_line_ = true;
          continue;
        }
        if (!ParseRequestLine(line)) return ParseProgress::kError;
        phase_ = Phase::kHeaders;
        continue;

      case Phase::kHeaders:
      case Phase::kTrailers: {
        if (line.empty()) {
          if (phase_ == Phase::kTrailers) {
            phase_ = Phase::kComplete;
            return ParseProgress::kComplete;
          }
          if (!FinishHeaders()) return ParseProgress::kError;
          if (phase_ == Phase::kComplete) return ParseProgress::kComplete;
          return ParseProgress::kHeadersComplete;
        }
        header_bytes_ += line.size() + 2;
        if (header_bytes_ > limits_.max_header_bytes) {
          return Fail(431, "header section larger than " +
                               std::to_string(limits_.max_header_bytes) + " bytes");
        }
        if (++header_lines_ > limits_.max_headers) {
          return Fail(431, "more than " + std::to_string(limits_.max_headers) + " header lines");
        }
        if (phase_ == Phase::kTrailers) continue;  // trailers are counted, not kept
        if (!ParseHeaderLine(line)) return ParseProgress::kError;
        continue;
      }

      case Phase::kChunkSize:
        if (!ParseChunkSize(line)) return ParseProgress::kError;
        continue;

      case Phase::kChunkCrlf:
        if (!line.empty()) return Fail(400, "chunk data is not followed by CRLF");
        phase_ = Phase::kChunkSize;
        continue;

      default:
        return Fail(500, "parser in an impossible state");
    }
  }
}

bool HttpRequestParser::ParseRequestLine(std::string_view line) {
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    Fail(400, "malformed request line " + Quote(line));
    return false;
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method)) {
    Fail(400, "malformed method " + Quote(method));
    return false;
  }
  if (target.empty() || std::any_of(target.begin(), target.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
      })) {
    Fail(400, "malformed request target " + Quote(target));
    return false;
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    Fail(400, "malformed HTTP version " + Quote(version));
    return false;
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    Fail(505, "HTTP version " + std::string(version.substr(5)) + " is not supported");
    return false;
  }
  request_.method.assign(method);
  request_.target.assign(target);
  request_.minor_version = version[7] - '0';
  return true;
}

bool HttpRequestParser::ParseHeaderLine(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') {
    Fail(400, "obsolete header line folding is not supported");
    return false;
  }
  size_t colon = line.find(':');
  std::string_view name = line.substr(0, colon);
  if (colon == std::string_view::npos || !IsToken(name)) {
    Fail(400, "malformed header line " + Quote(line));
    return false;
  }
  std::string_view value = Trim(line.substr(colon + 1));
  if (std::any_of(value.begin(), value.end(), [](char c) {
        return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
      })) {
    Fail(400, "control character in header " + Quote(name));
    return false;
  }
  if (request_.header_count == request_.headers.size()) request_.headers.emplace_back();
  HttpHeader& h = request_.headers[request_.header_count++];
  h.name.assign(name);
  h.value.assign(value);
  return true;
}

bool HttpRequestParser::FinishHeaders() {
  HttpRequest& r = request_;
  bool close = false;
  bool keep_alive = false;
  std::string_view transfer_encoding;
  bool has_transfer_encoding = false;
  for (size_t i = 0; i < r.header_count; ++i) {
    const std::string& name = r.headers[i].name;
    std::string_view value = r.headers[i].value;
    if (EqualsIgnoreCase(name, "content-length")) {
      if (value.empty() || value.find_first_not_of("0123456789") != std::string_view::npos) {
        Fail(400, "Content-Length " + Quote(value) + " is not a number");
        return false;
      }
      value.remove_prefix(std::min(value.find_first_not_of('0'), value.size() - 1));
      uint64_t length = UINT64_MAX;  // more digits than fit: certainly over any limit
      if (value.size() <= 19) {
        length = 0;
        for (char c : value) length = length * 10 + static_cast<uint64_t>(c - '0');
      }
      if (r.content_length && *r.content_length != length) {
        Fail(400, "conflicting Content-Length headers");
        return false;
      }
      r.content_length = length;
    } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
      if (has_transfer_encoding) {
        Fail(501, "Transfer-Encoding other than a single \"chunked\" is not supported");
        return false;
      }
      has_transfer_encoding = true;
      transfer_encoding = value;
    } else if (EqualsIgnoreCase(name, "connection")) {
      while (!value.empty()) {
        size_t comma = value.find(',');
        std::string_view option = Trim(value.substr(0, comma));
        if (EqualsIgnoreCase(option, "close")) close = true;
        if (EqualsIgnoreCase(option, "keep-alive")) keep_alive = true;
        value.remove_prefix(comma == std::string_view::npos ? value.size() : comma + 1);
      }
    } else if (EqualsIgnoreCase(name, "expect")) {
      if (!EqualsIgnoreCase(value, "100-continue")) {
        Fail(417, "Expect " + Quote(value) + " is not supported");
        return false;
      }
      r.expect_continue = r.minor_version == 1;
    }
  }
  if (has_transfer_encoding) {
    if (!EqualsIgnoreCase(transfer_encoding, "chunked")) {
      Fail(501, "Transfer-Encoding " + Quote(transfer_encoding) +
                    " is not supported (only \"chunked\")");
      return false;
    }
    if (r.content_length) {
      Fail(400, "both Content-Length and Transfer-Encoding are set");
      return false;
    }
    if (r.minor_version == 0) {
      Fail(400, "Transfer-Encoding is not allowed in HTTP/1.0");
      return false;
    }
    r.chunked = true;
  }
  r.keep_alive = !close && (r.minor_version == 1 || keep_alive);
  if (r.content_length && *r.content_length > limits_.max_body_bytes) {
    Fail(413,
         "request body exceeds the limit of " + std::to_string(limits_.max_body_bytes) + " bytes");
    return false;
  }
  if (r.chunked) {
    phase_ = Phase::kChunkSize;
  } else if (r.content_length.value_or(0) > 0) {
    remaining_ = *r.content_length;
    r.body.reserve(static_cast<size_t>(remaining_));
    phase_ = Phase::kBody;
  } else {
    phase_ = Phase::kComplete;
  }
  return true;
}

bool HttpRequestParser::ParseChunkSize(std::string_view line) {
  std::string_view size = Trim(line.substr(0, line.find(';')));
  if (size.empty() || size.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos) {
    Fail(400, "malformed chunk size " + Quote(size));
    return false;
  }
  size.remove_prefix(std::min(size.find_first_not_of('0'), size.size() - 1));
  if (size.size() > 15) {
    Fail(413,
         "request body exceeds the limit of " + std::to_string(limits_.max_body_bytes) + " bytes");
    return false;
  }
  uint64_t n = 0;
  for (char c : size) {
    char l = Lower(c);
    n = n * 16 + static_cast<uint64_t>(l <= '9' ? l - '0' : l - 'a' + 10);
  }
  if (n == 0) {
    phase_ = Phase::kTrailers;
    return true;
  }
  if (request_.body.size() + n > limits_.max_body_bytes) {
    Fail(413,
         "request body exceeds the limit of " + std::to_string(limits_.max_body_bytes) + " bytes");
    return false;
  }
  remaining_ = n;
  phase_ = Phase::kChunkData;
  return true;
}

std::string_view HttpReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace driftguard::webhook::internal

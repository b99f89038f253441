#include "core/yaml.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <utility>

#include "core/internal/yaml_parser.h"

namespace driftguard::core {
namespace {

// ---------------------------------------------------------------------------------------------
// Stream splitting: documents are cut at `---` / `...` lines before parsing, so that size and
// encoding limits are enforced before the parser sees a byte. YAML forbids these markers at column
// 0 inside a document's content, so the cut agrees with a full parse.

struct Chunk {
  size_t begin = 0;
  size_t end = 0;
  int first_line = 0;  // 0-based line of `begin`
  int doc_line = 0;    // 0-based line of the marker or first content line
  bool has_document = false;
};

bool IsMarker(std::string_view line, char ch) {
  if (line.size() < 3 || line[0] != ch || line[1] != ch || line[2] != ch) return false;
  return line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r';
}

std::vector<Chunk> SplitStream(std::string_view text) {
  std::vector<Chunk> chunks;
  Chunk cur;
  size_t pos = 0;
  int line = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t line_end = nl == std::string_view::npos ? text.size() : nl + 1;
    std::string_view content =
        text.substr(pos, (nl == std::string_view::npos ? text.size() : nl) - pos);
    if (IsMarker(content, '-')) {
      if (cur.has_document) {
        cur.end = pos;
        chunks.push_back(cur);
        cur = Chunk{pos, pos, line, line, false};
      }
      if (!cur.has_document) cur.doc_line = line;
      cur.has_document = true;
    } else if (IsMarker(content, '.')) {
      cur.end = line_end;
      chunks.push_back(cur);
      cur = Chunk{line_end, line_end, line + 1, line + 1, false};
      pos = line_end;
      ++line;
      continue;
    } else if (!cur.has_document) {
      size_t i = content.find_first_not_of(" \t\r");
      if (i != std::string_view::npos && content[i] != '#' && content[i] != '%') {
        cur.has_document = true;
        cur.doc_line = line;
      }
    }
    pos = line_end;
    ++line;
  }
  cur.end = text.size();
  if (cur.end > cur.begin) chunks.push_back(cur);
  return chunks;
}

// Returns the offset of the first byte that is not valid UTF-8 (or is NUL) in `s`, or npos.
size_t FindInvalidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    // Eight ASCII bytes without NUL at a time (the common case).
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      constexpr uint64_t kLow = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
      if (((w & kHigh) | ((w - kLow) & ~w & kHigh)) == 0) {
        i += 8;
        continue;
      }
    }
    unsigned char c = p[i];
    if (c >= 0x01 && c < 0x80) {
      ++i;
      continue;
    }
    if (c == 0) return i;
    size_t len;
    uint32_t min;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000, cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

// ---------------------------------------------------------------------------------------------
// Emitter.

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Decodes the UTF-8 sequence at s[i] (valid or not); returns its length and sets *cp.
size_t DecodeUtf8(std::string_view s, size_t i, uint32_t* cp) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80             ? 1
               : (c & 0xE0) == 0xC0 ? 2
               : (c & 0xF0) == 0xE0 ? 3
               : (c & 0xF8) == 0xF0 ? 4
                                    : 1;
  if (i + len > s.size()) len = 1;
  uint32_t v = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < len; ++k) v = (v << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  *cp = v;
  return len;
}

// Characters that YAML cannot carry unescaped (or that YAML 1.1 readers take as line breaks).
bool NeedsEscape(uint32_t cp) {
  if (cp < 0x20) return cp != '\t' && cp != '\n';
  return cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF;
}

enum class StringStyle { kPlain, kDoubleQuoted, kLiteral };

bool IsNumberLikeChar(char c) {
  return IsDigit(c) || std::strchr("+-._: eExXoObBaAcCdDfFtTzZ", c) != nullptr;
}

// True when `s` (a single line without special characters) would be read as something other
// than this string by a YAML 1.1 or 1.2 reader if written plain.
bool PlainIsAmbiguous(std::string_view s) {
  const char c = s[0];
  if (c == ' ' || std::strchr("?:,[]{}#&*!|>'\"%@`", c) != nullptr) return true;
  if (c == '-' && (s.size() == 1 || s[1] == ' ')) return true;
  if (s.back() == ' ' || s.back() == ':') return true;
  if (s.find(": ") != std::string_view::npos || s.find(" #") != std::string_view::npos) {
    return true;
  }
  if (s.rfind("---", 0) == 0 || s.rfind("...", 0) == 0) return true;
  if (s.size() <= 6) {
    std::string lower(s);
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    static constexpr std::string_view kWords[] = {"y",     "n",     "yes",  "no", "on",   "off",
                                                  "true",  "false", "null", "~",  ".inf", ".nan",
                                                  "+.inf", "-.inf", "=",    "<<"};
    for (std::string_view w : kWords) {
      if (lower == w) return true;
    }
  }
  const bool starts_numeric = IsDigit(c) || ((c == '+' || c == '-' || c == '.') && s.size() > 1 &&
                                             (IsDigit(s[1]) || s[1] == '.'));
  if (starts_numeric && std::all_of(s.begin(), s.end(), IsNumberLikeChar)) return true;
  return false;
}

StringStyle ChooseStyle(std::string_view s, bool is_key) {
  if (s.empty()) return StringStyle::kDoubleQuoted;
  bool has_newline = false;
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    const size_t len = DecodeUtf8(s, i, &cp);
    if (cp == '\n') {
      has_newline = true;
    } else if (NeedsEscape(cp)) {
      return StringStyle::kDoubleQuoted;
    }
    i += len;
  }
  if (!has_newline) {
    if (s.find('\t') != std::string_view::npos) return StringStyle::kDoubleQuoted;
    return PlainIsAmbiguous(s) ? StringStyle::kDoubleQuoted : StringStyle::kPlain;
  }
  if (is_key) return StringStyle::kDoubleQuoted;
  // A literal block cannot hold trailing blanks on a line, a first line that starts with a blank
  // (indentation is detected from it), or nothing but line breaks.
  size_t first = s.find_first_not_of('\n');
  if (first == std::string_view::npos || s[first] == ' ' || s[first] == '\t') {
    return StringStyle::kDoubleQuoted;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    if ((s[i] == ' ' || s[i] == '\t') && (i + 1 == s.size() || s[i + 1] == '\n')) {
      return StringStyle::kDoubleQuoted;
    }
  }
  return StringStyle::kLiteral;
}

constexpr size_t kMaxImplicitKeyBytes = 1000;

class Emitter {
 public:
  explicit Emitter(std::string* out) : out_(*out) {}

  void Root(const Json& v) {
    if (v.is_object() && !v.empty()) {
      MapMembers(v, 0, false);
    } else if (v.is_array() && !v.empty()) {
      SeqItems(v, 0, false);
    } else if (v.is_string() &&
               ChooseStyle(v.get_ref<const std::string&>(), false) == StringStyle::kLiteral) {
      Literal(v.get_ref<const std::string&>(), 2);
    } else {
      Scalar(v);
      out_.push_back('\n');
    }
  }

 private:
  void Indent(int n) { out_.append(static_cast<size_t>(n), ' '); }

  void MapMembers(const Json& obj, int indent, bool first_inline) {
    bool first = true;
    for (const auto& [key, value] : obj.items()) {
      if (!(first && first_inline)) Indent(indent);
      first = false;
      const size_t key_start = out_.size();
      String(key, /*is_key=*/true);
      if (out_.size() - key_start > kMaxImplicitKeyBytes) {
        // Implicit keys are limited to 1024 characters; longer ones need the explicit form, whose
        // value continues on the ":" line like a sequence item's.
        out_.insert(key_start, "? ");
        out_.push_back('\n');
        Indent(indent);
        out_.push_back(':');
        AfterIndicator(value, indent, /*in_sequence=*/true);
        continue;
      }
      out_.push_back(':');
      AfterIndicator(value, indent, /*in_sequence=*/false);
    }
  }

  void SeqItems(const Json& arr, int indent, bool first_inline) {
    bool first = true;
    for (const Json& item : arr) {
      if (!(first && first_inline)) Indent(indent);
      first = false;
      out_.push_back('-');
      AfterIndicator(item, indent, /*in_sequence=*/true);
    }
  }

  // Writes a value after "key:" (sequences stay at the key's indentation, as kubectl prints
  // them) or after "-" (nested collections continue on the same line).
  void AfterIndicator(const Json& v, int indent, bool in_sequence) {
    if (v.is_object() && !v.empty()) {
      if (in_sequence) {
        out_.push_back(' ');
        MapMembers(v, indent + 2, true);
      } else {
        out_.push_back('\n');
        MapMembers(v, indent + 2, false);
      }
      return;
    }
    if (v.is_array() && !v.empty()) {
      if (in_sequence) {
        out_.push_back(' ');
        SeqItems(v, indent + 2, true);
      } else {
        out_.push_back('\n');
        SeqItems(v, indent, false);
      }
      return;
    }
    out_.push_back(' ');
    if (v.is_string()) {
      const std::string& s = v.get_ref<const std::string&>();
      if (ChooseStyle(s, false) == StringStyle::kLiteral) {
        Literal(s, indent + 2);
        return;
      }
    }
    Scalar(v);
    out_.push_back('\n');
  }

  void Literal(std::string_view s, int indent) {
    size_t trailing = 0;
    while (trailing < s.size() && s[s.size() - 1 - trailing] == '\n') ++trailing;
    out_.append(trailing == 0 ? "|-\n" : trailing == 1 ? "|\n" : "|+\n");
    if (trailing > 0) s.remove_suffix(1);
    size_t pos = 0;
    while (true) {
      size_t nl = s.find('\n', pos);
      std::string_view line =
          s.substr(pos, nl == std::string_view::npos ? s.size() - pos : nl - pos);
      if (!line.empty()) {
        Indent(indent);
        out_.append(line);
      }
      out_.push_back('\n');
      if (nl == std::string_view::npos) break;
      pos = nl + 1;
    }
  }

  void Scalar(const Json& v) {
    char buf[64];
    switch (v.type()) {
      case Json::value_t::null:
        out_.append("null");
        return;
      case Json::value_t::boolean:
        out_.append(v.get<bool>() ? "true" : "false");
        return;
      case Json::value_t::number_integer: {
        auto r = std::to_chars(buf, buf + sizeof(buf), v.get<int64_t>());
        out_.append(buf, r.ptr);
        return;
      }
      case Json::value_t::number_unsigned: {
        auto r = std::to_chars(buf, buf + sizeof(buf), v.get<uint64_t>());
        out_.append(buf, r.ptr);
        return;
      }
      case Json::value_t::number_float:
        Double(v.get<double>());
        return;
      case Json::value_t::string:
        String(v.get_ref<const std::string&>(), false);
        return;
      case Json::value_t::binary:
        DoubleQuoted("<binary>");
        return;
      case Json::value_t::object:
        out_.append("{}");
        return;
      case Json::value_t::array:
        out_.append("[]");
        return;
      case Json::value_t::discarded:
        out_.append("null");
        return;
    }
  }

  void Double(double d) {
    if (std::isnan(d)) {
      out_.append(".nan");
      return;
    }
    if (std::isinf(d)) {
      out_.append(d < 0 ? "-.inf" : ".inf");
      return;
    }
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof(buf), d);
    std::string_view text(buf, static_cast<size_t>(r.ptr - buf));
    out_.append(text);
    // Keep it a float when read back: "1" would be an integer.
    if (text.find_first_of(".e") == std::string_view::npos) out_.append(".0");
  }

  void String(std::string_view s, bool is_key) {
    if (ChooseStyle(s, is_key) == StringStyle::kPlain) {
      out_.append(s);
    } else {
      DoubleQuoted(s);
    }
  }

  void DoubleQuoted(std::string_view s) {
    out_.push_back('"');
    for (size_t i = 0; i < s.size();) {
      uint32_t cp;
      const size_t len = DecodeUtf8(s, i, &cp);
      const char c = s[i];
      if (c == '"' || c == '\\') {
        out_.push_back('\\');
        out_.push_back(c);
      } else if (c == '\n') {
        out_.append("\\n");
      } else if (c == '\t') {
        out_.append("\\t");
      } else if (c == '\r') {
        out_.append("\\r");
      } else if (NeedsEscape(cp)) {
        char buf[16];
        if (cp <= 0xFF) {
          std::snprintf(buf, sizeof(buf), "\\x%02X", static_cast<unsigned>(cp));
        } else {
          std::snprintf(buf, sizeof(buf), "\\u%04X", static_cast<unsigned>(cp));
        }
        out_.append(buf);
      } else {
        out_.append(s.substr(i, len));
      }
      i += len;
    }
    out_.push_back('"');
  }

  std::string& out_;
};

std::string FormatError(std::string_view source, int doc, SourcePosition pos,
                        std::string_view what) {
  std::string out(source);
  out += ": document ";
  out += std::to_string(doc);
  out += ", line ";
  out += std::to_string(pos.line);
  out += ", column ";
  out += std::to_string(pos.column);
  out += ": ";
  out += what;
  return out;
}

SourcePosition OffsetToPosition(std::string_view text, size_t begin, int first_line,
                                size_t offset) {
  int line = first_line;
  size_t line_start = begin;
  for (size_t i = begin; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return {line + 1, static_cast<int>(offset - line_start) + 1};
}

StatusOr<std::vector<YamlDocument>> ParseChunks(std::string_view text, std::string_view source,
                                                const YamlParseOptions& options);

}  // namespace

StatusOr<std::vector<YamlDocument>> ParseYamlStream(std::string_view text, std::string_view source,
                                                    const YamlParseOptions& options) {
  try {
    return ParseChunks(text, source, options);
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError(std::string(source) + ": out of memory while parsing YAML");
  }
}

namespace {

StatusOr<std::vector<YamlDocument>> ParseChunks(std::string_view text, std::string_view source,
                                                const YamlParseOptions& options) {
  std::vector<YamlDocument> docs;
  internal::YamlDocumentParser parser(options);
  int doc_count = 0;  // documents seen, including dropped empty ones
  for (const Chunk& chunk : SplitStream(text)) {
    std::string_view body = text.substr(chunk.begin, chunk.end - chunk.begin);
    if (chunk.has_document && body.size() > options.limits.max_document_bytes) {
      return InvalidArgumentError(
          FormatError(source, doc_count + 1, {chunk.doc_line + 1, 1},
                      "document is " + std::to_string(body.size()) + " bytes, over the limit of " +
                          std::to_string(options.limits.max_document_bytes) +
                          " bytes (YamlLimits::max_document_bytes)"));
    }
    if (size_t bad = FindInvalidUtf8(body); bad != std::string_view::npos) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02X", static_cast<unsigned char>(body[bad]));
      return InvalidArgumentError(
          FormatError(source, doc_count + 1,
                      OffsetToPosition(text, chunk.begin, chunk.first_line, chunk.begin + bad),
                      std::string(body[bad] == 0 ? "NUL byte" : "invalid UTF-8 byte ") +
                          (body[bad] == 0 ? "" : hex)));
    }
    if (!chunk.has_document) continue;

    ++doc_count;
    YamlDocument doc;
    if (!parser.Parse(body, chunk.first_line, &doc)) {
      std::string message = FormatError(source, doc_count, parser.error_position(), parser.error());
      if (parser.out_of_memory()) return ResourceExhaustedError(std::move(message));
      return InvalidArgumentError(std::move(message));
    }
    doc.index = doc_count - 1;
    if (doc.value.is_null() && !options.keep_empty_documents) continue;
    docs.push_back(std::move(doc));
  }
  return docs;
}

}  // namespace

StatusOr<Json> ParseYaml(std::string_view text, std::string_view source,
                         const YamlParseOptions& options) {
  ASSIGN_OR_RETURN(std::vector<YamlDocument> docs, ParseYamlStream(text, source, options));
  if (docs.empty()) return Json();
  if (docs.size() > 1) {
    return InvalidArgumentError(std::string(source) + ": expected one YAML document, found " +
                                std::to_string(docs.size()));
  }
  return std::move(docs.front().value);
}

std::string EmitYaml(const Json& value) {
  std::string out;
  Emitter(&out).Root(value);
  return out;
}

std::string EmitYamlStream(const std::vector<Json>& docs) {
  std::string out;
  Emitter emitter(&out);
  for (size_t i = 0; i < docs.size(); ++i) {
    if (i > 0) out.append("---\n");
    emitter.Root(docs[i]);
  }
  return out;
}

}  // namespace driftguard::core

#include "core/yaml.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <istream>
#include <limits>
#include <new>
#include <streambuf>
#include <utility>

namespace driftguard::core {
namespace {

// ---------------------------------------------------------------------------------------------
// Plain scalar resolution. Mirrors go-yaml v3 (what kustomize/kyaml and `kubectl kustomize` use):
// the YAML 1.2 core schema plus Go's integer syntax (0x/0o/0b prefixes, legacy 0777 octal,
// underscores), except that plain timestamps stay strings (YAML 1.2 has no timestamp type).

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Go's ParseInt/ParseUint with base 0 on `s` (underscores already removed).
// Returns false when `s` is not an integer literal or overflows uint64.
bool ParseGoInteger(std::string_view s, bool* negative, bool* plus_sign, uint64_t* magnitude) {
  *negative = false;
  *plus_sign = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    *negative = s[0] == '-';
    *plus_sign = s[0] == '+';
    s.remove_prefix(1);
  }
  if (s.empty()) return false;
  int base = 10;
  if (s.size() >= 2 && s[0] == '0') {
    char p = s[1];
    if (p == 'x' || p == 'X') {
      base = 16;
      s.remove_prefix(2);
    } else if (p == 'o' || p == 'O') {
      base = 8;
      s.remove_prefix(2);
    } else if (p == 'b' || p == 'B') {
      base = 2;
      s.remove_prefix(2);
    } else {
      base = 8;
      s.remove_prefix(1);
    }
    if (s.empty()) return false;
  }
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (IsDigit(c)) {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    if (d >= base) return false;
    if (v > (std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(d)) /
                static_cast<uint64_t>(base)) {
      return false;
    }
    v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  *magnitude = v;
  return true;
}

// ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ (go-yaml's yamlStyleFloat).
bool IsYamlStyleFloat(std::string_view s) {
  size_t i = 0, n = s.size();
  if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
  if (i < n && s[i] == '.') {
    ++i;
    size_t d = i;
    while (i < n && IsDigit(s[i])) ++i;
    if (i == d) return false;
  } else {
    size_t d = i;
    while (i < n && IsDigit(s[i])) ++i;
    if (i == d) return false;
    if (i < n && s[i] == '.') {
      ++i;
      while (i < n && IsDigit(s[i])) ++i;
    }
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    size_t d = i;
    while (i < n && IsDigit(s[i])) ++i;
    if (i == d) return false;
  }
  return i == n;
}

// Parses a float already matched by IsYamlStyleFloat. False on overflow (go-yaml then keeps the
// text as a string); underflow yields the nearest representable value as Go does.
bool ParseFloatText(std::string_view s, double* out) {
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) {
    std::string copy(s);
    v = std::strtod(copy.c_str(), nullptr);
    if (std::isinf(v)) return false;
  } else if (ec != std::errc() || ptr != s.data() + s.size()) {
    return false;
  }
  *out = neg ? -v : v;
  return true;
}

enum class ScalarKind { kString, kNull, kBool, kInt, kFloat };

// Resolves a plain (untagged, unquoted) scalar into `out`. Never fails: anything that is not a
// null, bool, integer or float is a string.
ScalarKind ResolvePlain(const std::string& text, Json* out) {
  if (text.empty()) {
    *out = nullptr;
    return ScalarKind::kNull;
  }
  const char c = text[0];
  switch (c) {
    case '~':
    case 'n':
    case 'N':
      if (text == "~" || text == "null" || text == "Null" || text == "NULL") {
        *out = nullptr;
        return ScalarKind::kNull;
      }
      break;
    case 't':
    case 'T':
      if (text == "true" || text == "True" || text == "TRUE") {
        *out = true;
        return ScalarKind::kBool;
      }
      break;
    case 'f':
    case 'F':
      if (text == "false" || text == "False" || text == "FALSE") {
        *out = false;
        return ScalarKind::kBool;
      }
      break;
    case '.':
      if (text == ".inf" || text == ".Inf" || text == ".INF") {
        *out = std::numeric_limits<double>::infinity();
        return ScalarKind::kFloat;
      }
      if (text == ".nan" || text == ".NaN" || text == ".NAN") {
        *out = std::numeric_limits<double>::quiet_NaN();
        return ScalarKind::kFloat;
      }
      if (double d; IsYamlStyleFloat(text) && ParseFloatText(text, &d)) {
        *out = d;
        return ScalarKind::kFloat;
      }
      break;
    default:
      break;
  }
  if (!(IsDigit(c) || c == '+' || c == '-')) {
    *out = text;
    return ScalarKind::kString;
  }
  if (text.size() == 5 && text[1] == '.' && (c == '+' || c == '-')) {
    std::string_view rest(text.data() + 1, 4);
    if (rest == ".inf" || rest == ".Inf" || rest == ".INF") {
      *out = c == '-' ? -std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::infinity();
      return ScalarKind::kFloat;
    }
  }
  std::string stripped;
  std::string_view plain = text;
  if (text.find('_') != std::string::npos) {
    stripped.reserve(text.size());
    for (char ch : text) {
      if (ch != '_') stripped.push_back(ch);
    }
    plain = stripped;
  }
  bool negative = false, plus_sign = false;
  uint64_t mag = 0;
  if (ParseGoInteger(plain, &negative, &plus_sign, &mag)) {
    constexpr uint64_t kMaxInt64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    if (negative && mag <= kMaxInt64 + 1) {
      *out =
          mag == kMaxInt64 + 1 ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(mag);
      return ScalarKind::kInt;
    }
    if (!negative && mag <= kMaxInt64) {
      *out = static_cast<int64_t>(mag);
      return ScalarKind::kInt;
    }
    if (!negative && !plus_sign) {
      *out = mag;
      return ScalarKind::kInt;
    }
  }
  if (double d; IsYamlStyleFloat(plain) && ParseFloatText(plain, &d)) {
    *out = d;
    return ScalarKind::kFloat;
  }
  *out = text;
  return ScalarKind::kString;
}

constexpr std::string_view kCoreTagPrefix = "tag:yaml.org,2002:";

// ---------------------------------------------------------------------------------------------
// Stream splitting: documents are cut at `---` / `...` lines before parsing, so that size and
// encoding limits are enforced before yaml-cpp sees a byte. YAML forbids these markers at column
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

// A read-only streambuf over memory, so yaml-cpp reads the caller's text without a copy.
class MemoryBuf : public std::streambuf {
 public:
  MemoryBuf(const char* data, size_t size) {
    char* p = const_cast<char*>(data);  // never written: the buffer has no put area
    setg(p, p, p + size);
  }
};

// ---------------------------------------------------------------------------------------------
// The event handler: builds Json directly from yaml-cpp's events.

// Thrown by the handler to stop yaml-cpp; the reason is kept in ParseState.
struct AbortParse {};

struct PositionEntry {
  std::string pointer;
  SourcePosition position;
};

struct Anchor {
  bool complete = false;
  Json value;
  size_t nodes = 0;
  int height = 0;
  // Positions of the anchored subtree: entries [pos_begin, pos_end) whose pointers start with
  // the first `prefix_len` bytes of the anchored node's pointer.
  size_t pos_begin = 0;
  size_t pos_end = 0;
  size_t prefix_len = 0;
};

// Never a real pointer segment: "~m" is not a valid JSON pointer escape.
constexpr std::string_view kMergeSegment = "/~merge";

struct Frame {
  Json* node = nullptr;
  bool is_map = false;
  // Mapping state: a key has been read and its value is pending.
  bool have_key = false;
  bool key_is_merge = false;
  bool saw_merge = false;
  std::string key;
  SourcePosition key_position;
  // Merge sources (`<<: *a` or `<<: [*a, *b]`), applied at the end of the mapping.
  Json merge_value;
  SourcePosition merge_position;
  // Bookkeeping for anchors and positions.
  YAML::anchor_t anchor = 0;
  size_t nodes_at_start = 0;
  size_t pos_begin = 0;
  size_t path_len = 0;  // length of path_ for this node itself
  int child_height = 0;
  bool complex_key = false;
  YAML::Mark start;
};

class JsonBuilder : public YAML::EventHandler {
 public:
  JsonBuilder(const YamlParseOptions& options, int first_line, size_t chunk_size)
      : options_(options), first_line_(first_line), chunk_size_(chunk_size) {}

  void Reset() {
    root_ = Json();
    stack_.clear();
    key_scratch_.clear();
    anchors_.clear();
    positions_.clear();
    path_.clear();
    nodes_ = 0;
    have_root_ = false;
  }

  Json& root() { return root_; }
  SourcePosition doc_start() const { return doc_start_; }
  const std::string& error() const { return error_; }
  SourcePosition error_position() const { return error_position_; }

  void TakePositions(std::unordered_map<std::string, SourcePosition>* out) {
    out->reserve(positions_.size());
    for (PositionEntry& e : positions_) {
      if (e.pointer.find(kMergeSegment) != std::string::npos) continue;
      (*out)[std::move(e.pointer)] = e.position;
    }
  }

  SourcePosition ToPosition(const YAML::Mark& m) const {
    if (m.is_null()) return {};
    return {first_line_ + m.line + 1, m.column + 1};
  }

  void OnDocumentStart(const YAML::Mark& mark) override { doc_start_ = ToPosition(mark); }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    CheckOffset(mark);
    if (ExpectingKey()) {
      SetKey("null", mark, false);
      return;
    }
    Json* slot = BeginValue(mark);
    *slot = nullptr;
    CountNodes(1, mark);
    FinishScalar(slot, anchor);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    CheckOffset(mark);
    if (ExpectingKey()) {
      Json k;
      ResolveTagged(mark, tag, value, &k);
      bool merge = (tag == "?" && value == "<<") ||
                   (tag.size() > kCoreTagPrefix.size() && tag.rfind(kCoreTagPrefix, 0) == 0 &&
                    std::string_view(tag).substr(kCoreTagPrefix.size()) == "merge");
      SetKey(KeyText(k, value), mark, merge);
      if (anchor != 0) StoreScalarAnchor(anchor, std::move(k));
      return;
    }
    Json* slot = BeginValue(mark);
    ResolveTagged(mark, tag, value, slot);
    CountNodes(1, mark);
    FinishScalar(slot, anchor);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    CheckOffset(mark);
    if (anchor >= anchors_.size() || !anchors_[anchor].complete) {
      Fail(mark, "alias refers to a node that contains it (recursive alias)");
    }
    const Anchor& a = anchors_[anchor];
    if (ExpectingKey()) {
      if (a.value.is_structured()) Fail(mark, "mapping keys must be scalars");
      SetKey(KeyText(a.value, a.value.is_string() ? a.value.get_ref<const std::string&>() : ""),
             mark, false);
      return;
    }
    CountNodes(a.nodes, mark);
    if (static_cast<int>(stack_.size()) + a.height > options_.limits.max_depth) {
      FailDepth(mark);
    }
    Json* slot = BeginValue(mark);
    *slot = a.value;
    if (options_.record_positions && a.pos_end > a.pos_begin) {
      // The alias root keeps the position BeginValue recorded; descendants keep the positions
      // where the anchored node declared them.
      const size_t begin = a.pos_begin + 1, end = a.pos_end;
      const size_t prefix_len = a.prefix_len;
      positions_.reserve(positions_.size() + (end - begin));
      for (size_t i = begin; i < end; ++i) {
        std::string p = path_;
        p.append(positions_[i].pointer, prefix_len);
        SourcePosition pos = positions_[i].position;
        positions_.push_back({std::move(p), pos});
      }
    }
    EndValue(a.height);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    StartCollection(mark, anchor, /*is_map=*/false);
  }
  void OnSequenceEnd() override { EndCollection(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    StartCollection(mark, anchor, /*is_map=*/true);
  }
  void OnMapEnd() override { EndCollection(); }

  [[noreturn]] void Fail(const YAML::Mark& mark, std::string what) {
    error_ = std::move(what);
    error_position_ = ToPosition(mark);
    throw AbortParse{};
  }

 private:
  bool ExpectingKey() const {
    return !stack_.empty() && stack_.back().is_map && !stack_.back().have_key;
  }

  void CheckOffset(const YAML::Mark& mark) {
    // Chunks are size-checked before parsing; this only guards against a parser reading past.
    if (!mark.is_null() && static_cast<size_t>(mark.pos) > chunk_size_) {
      Fail(mark, "parser read past the end of the document");
    }
  }

  void CountNodes(size_t n, const YAML::Mark& mark) {
    nodes_ += n;
    if (nodes_ > options_.limits.max_nodes) {
      Fail(mark, "document expands to more than " + std::to_string(options_.limits.max_nodes) +
                     " nodes (YamlLimits::max_nodes); aliases expand too much");
    }
  }

  [[noreturn]] void FailDepth(const YAML::Mark& mark) {
    Fail(mark, "nesting deeper than " + std::to_string(options_.limits.max_depth) +
                   " levels (YamlLimits::max_depth)");
  }

  static std::string KeyText(const Json& k, const std::string& raw) {
    switch (k.type()) {
      case Json::value_t::string:
        return k.get<std::string>();
      case Json::value_t::null:
        return "null";
      case Json::value_t::boolean:
        return k.get<bool>() ? "true" : "false";
      case Json::value_t::number_integer:
      case Json::value_t::number_unsigned:
        return k.dump();
      default:
        return raw;
    }
  }

  void SetKey(std::string key, const YAML::Mark& mark, bool merge) {
    Frame& f = stack_.back();
    if (merge) {
      if (f.saw_merge) Fail(mark, "duplicate key \"<<\"");
      f.saw_merge = true;
    } else if (f.node->contains(key)) {
      Fail(mark, "duplicate key " + Json(key).dump());
    }
    f.key = std::move(key);
    f.key_is_merge = merge;
    f.have_key = true;
    f.key_position = ToPosition(mark);
  }

  void ResolveTagged(const YAML::Mark& mark, const std::string& tag, const std::string& value,
                     Json* out) {
    if (tag == "?") {
      ResolvePlain(value, out);
      return;
    }
    if (tag.size() <= kCoreTagPrefix.size() || tag.rfind(kCoreTagPrefix, 0) != 0) {
      // "!" (quoted or block scalar) and custom tags: the text itself.
      *out = value;
      return;
    }
    std::string_view name = std::string_view(tag).substr(kCoreTagPrefix.size());
    if (name == "str" || name == "binary" || name == "timestamp" || name == "merge") {
      *out = value;
      return;
    }
    ScalarKind kind = ResolvePlain(value, out);
    bool ok = true;
    if (name == "int") {
      ok = kind == ScalarKind::kInt;
    } else if (name == "float") {
      if (kind == ScalarKind::kInt) {
        *out = out->is_number_unsigned() ? static_cast<double>(out->get<uint64_t>())
                                         : static_cast<double>(out->get<int64_t>());
      } else {
        ok = kind == ScalarKind::kFloat;
      }
    } else if (name == "bool") {
      ok = kind == ScalarKind::kBool;
    } else if (name == "null") {
      ok = kind == ScalarKind::kNull;
    } else {
      *out = value;
    }
    if (!ok) Fail(mark, "cannot read " + Json(value).dump() + " as !!" + std::string(name));
  }

  // Returns the slot the next node goes to, records its position and extends path_.
  Json* BeginValue(const YAML::Mark& mark) {
    if (stack_.empty()) {
      if (have_root_) Fail(mark, "more than one root node");
      have_root_ = true;
      if (options_.record_positions) positions_.push_back({std::string(), ToPosition(mark)});
      return &root_;
    }
    Frame& f = stack_.back();
    Json* slot;
    SourcePosition pos;
    if (f.is_map) {
      if (f.key_is_merge) {
        if (options_.record_positions) path_.append(kMergeSegment);
        f.merge_position = f.key_position;
        return &f.merge_value;
      }
      slot = &(*f.node)[f.key];
      pos = f.key_position;
      if (options_.record_positions) {
        path_.push_back('/');
        AppendEscaped(f.key);
      }
    } else {
      auto& arr = f.node->get_ref<Json::array_t&>();
      if (options_.record_positions) {
        path_.push_back('/');
        path_.append(std::to_string(arr.size()));
      }
      arr.emplace_back();
      slot = &arr.back();
      pos = ToPosition(mark);
    }
    if (options_.record_positions) positions_.push_back({path_, pos});
    return slot;
  }

  void AppendEscaped(const std::string& key) {
    if (key.find_first_of("~/") == std::string::npos) {
      path_.append(key);
    } else {
      path_.append(EscapePointerToken(key));
    }
  }

  // Called when a value (scalar, alias or collection) is complete in the current parent.
  void EndValue(int height) {
    if (stack_.empty()) return;
    Frame& f = stack_.back();
    f.child_height = std::max(f.child_height, height);
    if (f.is_map) {
      if (f.key_is_merge) {
        if (!f.merge_value.is_object() &&
            !(f.merge_value.is_array() &&
              std::all_of(f.merge_value.begin(), f.merge_value.end(),
                          [](const Json& j) { return j.is_object(); }))) {
          error_ = "the value of a merge key \"<<\" must be a mapping or a sequence of mappings";
          error_position_ = f.key_position;
          throw AbortParse{};
        }
      }
      f.have_key = false;
      f.key_is_merge = false;
    }
    if (options_.record_positions) path_.resize(f.path_len);
  }

  void FinishScalar(Json* slot, YAML::anchor_t anchor) {
    if (anchor != 0) {
      Anchor& a = AnchorSlot(anchor);
      a.value = *slot;
      a.nodes = 1;
      a.height = 0;
      a.pos_begin = a.pos_end = 0;
      if (options_.record_positions && !positions_.empty()) {
        a.pos_begin = positions_.size() - 1;
        a.pos_end = positions_.size();
        a.prefix_len = path_.size();
      }
      a.complete = true;
    }
    EndValue(0);
  }

  void StoreScalarAnchor(YAML::anchor_t anchor, Json value) {
    Anchor& a = AnchorSlot(anchor);
    a.value = std::move(value);
    a.nodes = 1;
    a.height = 0;
    a.pos_begin = a.pos_end = 0;
    a.complete = true;
  }

  Anchor& AnchorSlot(YAML::anchor_t anchor) {
    if (anchor >= anchors_.size()) anchors_.resize(anchor + 1);
    return anchors_[anchor];
  }

  void StartCollection(const YAML::Mark& mark, YAML::anchor_t anchor, bool is_map) {
    CheckOffset(mark);
    if (static_cast<int>(stack_.size()) + 1 > options_.limits.max_depth) FailDepth(mark);
    CountNodes(1, mark);
    if (anchor != 0) AnchorSlot(anchor).complete = false;
    // A collection used as a mapping key is built aside and rejected when it ends, so that an
    // unterminated flow collection still reports yaml-cpp's syntax error or the depth limit.
    const bool complex_key = ExpectingKey();
    Json* slot = complex_key ? &key_scratch_.emplace_back() : BeginValue(mark);
    *slot = is_map ? Json::object() : Json::array();
    Frame& f = stack_.emplace_back();
    f.node = slot;
    f.is_map = is_map;
    f.anchor = anchor;
    f.nodes_at_start = nodes_ - 1;
    f.pos_begin = positions_.empty() ? 0 : positions_.size() - 1;
    f.path_len = path_.size();
    f.complex_key = complex_key;
    f.start = mark;
  }

  void EndCollection() {
    Frame& f = stack_.back();
    if (f.complex_key) Fail(f.start, "mapping keys must be scalars");
    if (f.saw_merge) ApplyMerge(f);
    const int height = f.child_height + 1;
    if (f.anchor != 0) {
      Anchor& a = AnchorSlot(f.anchor);
      a.value = *f.node;
      a.nodes = nodes_ - f.nodes_at_start;
      a.height = height;
      a.pos_begin = a.pos_end = 0;
      if (options_.record_positions) {
        a.pos_begin = f.pos_begin;
        a.pos_end = positions_.size();
        a.prefix_len = f.path_len;
      }
      a.complete = true;
    }
    stack_.pop_back();
    EndValue(height);
  }

  // Merge keys as go-yaml applies them: keys written in the mapping win over merged ones, and
  // among several merged mappings the first one that has a key wins.
  void ApplyMerge(Frame& f) {
    auto& obj = f.node->get_ref<Json::object_t&>();
    std::vector<Json*> sources;
    if (f.merge_value.is_object()) {
      sources.push_back(&f.merge_value);
    } else {
      for (Json& j : f.merge_value) sources.push_back(&j);
    }
    const bool positions = options_.record_positions;
    std::string base = positions ? path_.substr(0, f.path_len) : std::string();
    for (size_t s = 0; s < sources.size(); ++s) {
      for (auto& [k, v] : sources[s]->get_ref<Json::object_t&>()) {
        if (obj.count(k) != 0) continue;
        if (positions) {
          std::string from = base;
          from.append(kMergeSegment);
          if (f.merge_value.is_array()) from.append("/" + std::to_string(s));
          from.append("/" + EscapePointerToken(k));
          std::string to = base + "/" + EscapePointerToken(k);
          const size_t end = positions_.size();
          for (size_t i = f.pos_begin; i < end; ++i) {
            const std::string& p = positions_[i].pointer;
            if (p.compare(0, from.size(), from) == 0 &&
                (p.size() == from.size() || p[from.size()] == '/')) {
              std::string q = to + p.substr(from.size());
              SourcePosition pos = positions_[i].position;
              positions_.push_back({std::move(q), pos});
            }
          }
        }
        obj.emplace(k, std::move(v));
      }
    }
    f.merge_value = Json();
  }

  const YamlParseOptions& options_;
  const int first_line_;
  const size_t chunk_size_;
  Json root_;
  bool have_root_ = false;
  std::vector<Frame> stack_;
  std::deque<Json> key_scratch_;
  std::vector<Anchor> anchors_;
  std::vector<PositionEntry> positions_;
  std::string path_;
  size_t nodes_ = 0;
  SourcePosition doc_start_;
  std::string error_;
  SourcePosition error_position_;
};

// ---------------------------------------------------------------------------------------------
// Emitter.

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

}  // namespace

StatusOr<std::vector<YamlDocument>> ParseYamlStream(std::string_view text, std::string_view source,
                                                    const YamlParseOptions& options) {
  std::vector<YamlDocument> docs;
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

    MemoryBuf buf(body.data(), body.size());
    std::istream in(&buf);
    JsonBuilder builder(options, chunk.first_line, body.size());
    try {
      YAML::Parser parser(in);
      while (true) {
        builder.Reset();
        if (!parser.HandleNextDocument(builder)) break;
        ++doc_count;
        YamlDocument doc;
        doc.value = std::move(builder.root());
        doc.index = doc_count - 1;
        doc.start = builder.doc_start();
        if (doc.value.is_null() && !options.keep_empty_documents) continue;
        if (options.record_positions) builder.TakePositions(&doc.positions);
        docs.push_back(std::move(doc));
      }
    } catch (const AbortParse&) {
      return InvalidArgumentError(
          FormatError(source, doc_count + 1, builder.error_position(), builder.error()));
    } catch (const YAML::Exception& e) {
      SourcePosition pos = builder.ToPosition(e.mark);
      std::string what = e.msg;
      if (dynamic_cast<const YAML::DeepRecursion*>(&e) != nullptr) {
        what = "nesting deeper than the YAML parser supports";
      }
      return InvalidArgumentError(FormatError(source, doc_count + 1, pos, what));
    } catch (const std::bad_alloc&) {
      return ResourceExhaustedError(
          FormatError(source, doc_count + 1, {chunk.doc_line + 1, 1}, "out of memory"));
    } catch (const std::exception& e) {
      return InternalError(FormatError(source, doc_count + 1, {chunk.doc_line + 1, 1}, e.what()));
    }
  }
  return docs;
}

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

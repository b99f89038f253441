#include "core/internal/yaml_parser.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <new>
#include <unordered_map>
#include <utility>
#include <vector>

namespace driftguard::core::internal {
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

bool IsOneOf3(std::string_view t, std::string_view a, std::string_view b, std::string_view c) {
  return t == a || t == b || t == c;
}

}  // namespace

ScalarKind ResolvePlainScalar(std::string_view text, Json* out) {
  if (text.empty()) {
    *out = nullptr;
    return ScalarKind::kNull;
  }
  const char c = text[0];
  switch (c) {
    case '~':
    case 'n':
    case 'N':
      if (text == "~" || IsOneOf3(text, "null", "Null", "NULL")) {
        *out = nullptr;
        return ScalarKind::kNull;
      }
      break;
    case 't':
    case 'T':
      if (IsOneOf3(text, "true", "True", "TRUE")) {
        *out = true;
        return ScalarKind::kBool;
      }
      break;
    case 'f':
    case 'F':
      if (IsOneOf3(text, "false", "False", "FALSE")) {
        *out = false;
        return ScalarKind::kBool;
      }
      break;
    case '.':
      if (IsOneOf3(text, ".inf", ".Inf", ".INF")) {
        *out = std::numeric_limits<double>::infinity();
        return ScalarKind::kFloat;
      }
      if (IsOneOf3(text, ".nan", ".NaN", ".NAN")) {
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
    std::string_view rest = text.substr(1);
    if (IsOneOf3(rest, ".inf", ".Inf", ".INF")) {
      *out = c == '-' ? -std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::infinity();
      return ScalarKind::kFloat;
    }
  }
  std::string stripped;
  std::string_view plain = text;
  if (text.find('_') != std::string_view::npos) {
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

namespace {

constexpr std::string_view kCoreTagPrefix = "tag:yaml.org,2002:";
// Never a real pointer segment: "~m" is not a valid JSON pointer escape.
constexpr std::string_view kMergeSegment = "/~merge";

// 0-based line (within the parsed body) and byte column.
struct Mark {
  int line = 0;
  int col = 0;
};

// Thrown inside the parser only; Parse() catches it.
struct Failure {
  Mark mark;
  std::string what;
};

enum class TagKind : uint8_t { kNone, kNonSpecific, kCore, kOther };

struct Tag {
  TagKind kind = TagKind::kNone;
  std::string_view name;  // kCore: the part after "tag:yaml.org,2002:"
};

// Node properties (`&anchor`, `!tag`) seen before a node's content.
struct Props {
  bool has = false;
  Mark mark;  // the first property
  std::string_view anchor;
  Tag tag;
};

enum class Kind : uint8_t { kBlockSeq, kBlockMap, kFlowSeq, kFlowMap, kFlowPair };

// Frame states.
enum : uint8_t {
  kEntry,          // sequences: expecting an entry or the end; maps: expecting a key or the end
  kAfterKey,       // maps: a key is done; `:` and the value follow (the value may be empty)
  kExplicitValue,  // block maps: the `? key` is done; an optional `: value` follows
  kAfterEntry,     // flow collections: expecting `,` or the end
  kDone,           // single-pair mapping in a flow sequence: complete
};

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

// One open collection: parser state and Json-building state together.
struct Frame {
  // Parser.
  Kind kind = Kind::kBlockMap;
  uint8_t state = kEntry;
  bool indentless = false;    // block sequence at its parent mapping's indentation
  bool fresh = true;          // block collection whose first entry has not been read
  bool parent_block = false;  // flow collection written in a block context
  bool parent_flow_seq = false;
  int indent = 0;
  // Builder.
  Json* node = nullptr;
  bool is_map = false;
  bool have_key = false;
  bool key_is_merge = false;
  bool saw_merge = false;
  bool complex_key = false;
  Json* value_slot = nullptr;
  const std::string* key_text = nullptr;
  SourcePosition key_position;
  Json merge_value;
  uint32_t anchor = 0;  // 1-based index into anchors_, 0 = none
  size_t nodes_at_start = 0;
  size_t pos_begin = 0;
  size_t path_len = 0;
  int child_height = 0;
  Mark start;
};

struct NodeArgs {
  int limit = -1;            // indentation of the enclosing block collection (-1 at the root)
  bool flow = false;         // inside a flow collection
  bool compact = false;      // a block collection may start on the current line
  int map_indent = INT_MIN;  // value of a block mapping at this indentation (indentless seqs)
  bool flow_seq_entry = false;
};

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsFlowIndicator(char c) { return c == ',' || c == '[' || c == ']' || c == '{' || c == '}'; }

}  // namespace

class YamlDocumentParser::Impl {
 public:
  explicit Impl(const YamlParseOptions& options) : options_(options) {}

  bool Parse(std::string_view body, int first_line, YamlDocument* doc) {
    Reset(body, first_line);
    try {
      ParseDocument();
      doc->value = std::move(root_);
      doc->start = ToPosition(doc_start_);
      if (options_.record_positions) TakePositions(&doc->positions);
      return true;
    } catch (Failure& f) {
      error_ = std::move(f.what);
      error_position_ = ToPosition(f.mark);
    } catch (const std::bad_alloc&) {
      error_ = "out of memory";
      error_position_ = {first_line_ + 1, 1};
      out_of_memory_ = true;
    } catch (const std::exception& e) {
      error_ = e.what();
      error_position_ = ToPosition(Here());
    }
    return false;
  }

  const std::string& error() const { return error_; }
  SourcePosition error_position() const { return error_position_; }
  bool out_of_memory() const { return out_of_memory_; }

 private:
  // ===========================================================================================
  // Setup and document structure.

  void Reset(std::string_view body, int first_line) {
    first_line_ = first_line;
    // Only '\n' breaks lines below: CRLF becomes LF (same lines and columns for every other
    // byte). A lone CR stays an ordinary character, as in yaml-cpp and the stream splitter
    // (which count lines by LF).
    if (body.find('\r') != std::string_view::npos) {
      normalized_.clear();
      normalized_.reserve(body.size());
      for (size_t i = 0; i < body.size(); ++i) {
        if (body[i] != '\r' || i + 1 >= body.size() || body[i + 1] != '\n') {
          normalized_.push_back(body[i]);
        }
      }
      body = normalized_;
    }
    s_ = body.data();
    n_ = body.size();
    pos_ = 0;
    line_ = 0;
    line_start_ = 0;
    if (n_ >= 3 && std::memcmp(s_, "\xEF\xBB\xBF", 3) == 0) {
      pos_ = 3;
      line_start_ = 3;
    }
    root_ = Json();
    frames_.clear();
    // Frames hold pointers into their parents (merge values), so the stack never reallocates:
    // depth is bounded by max_depth (+1 for the depth-limit probe).
    const size_t max_frames = static_cast<size_t>(std::max(options_.limits.max_depth, 0)) + 2;
    if (frames_.capacity() < max_frames) frames_.reserve(max_frames);
    key_scratch_.clear();
    anchors_.clear();
    anchor_ids_.clear();
    positions_.clear();
    path_.clear();
    nodes_ = 0;
    have_root_ = false;
    doc_start_ = Mark{};
    doc_start_set_ = false;
    tag_handles_.clear();
    error_.clear();
    out_of_memory_ = false;
  }

  void ParseDocument() {
    bool saw_yaml_directive = false;
    bool saw_directive = false;
    while (true) {
      SkipBlank();
      if (pos_ < n_ && pos_ == line_start_ && s_[pos_] == '%') {
        ParseDirective(&saw_yaml_directive);
        saw_directive = true;
        continue;
      }
      break;
    }
    NodeArgs root;
    root.limit = -1;
    root.compact = true;
    if (AtMarker('-')) {
      doc_start_ = Here();
      doc_start_set_ = true;
      pos_ += 3;
      root.compact = false;  // a block collection cannot start on the `---` line
    } else if (saw_directive) {
      Fail(Here(), "did not find expected <document start> after directives");
    }
    ParseNode(root);
    while (!frames_.empty()) Step();
    SkipBlank();
    if (AtMarker('.')) {
      pos_ += 3;
      SkipBlank();
    }
    if (pos_ < n_) {
      if (AtMarker('-') || AtMarker('.')) Fail(Here(), "unexpected document marker");
      Fail(Here(), "did not find expected <document end>: content after the root node");
    }
  }

  void ParseDirective(bool* saw_yaml) {
    const Mark m = Here();
    size_t e = pos_;
    while (e < n_ && s_[e] != '\n') ++e;
    std::string_view line(s_ + pos_, e - pos_);
    if (size_t hash = line.find(" #"); hash != std::string_view::npos) line = line.substr(0, hash);
    auto words = SplitWords(line);
    if (!words.empty() && words[0] == "%YAML") {
      if (*saw_yaml) Fail(m, "found duplicate %YAML directive");
      *saw_yaml = true;
      if (words.size() != 2 || words[1].size() < 3 || words[1][0] != '1' || words[1][1] != '.') {
        Fail(m, "found incompatible YAML document (only YAML 1.x is supported)");
      }
    } else if (!words.empty() && words[0] == "%TAG") {
      if (words.size() != 3 || words[1].empty() || words[1].front() != '!' ||
          words[1].back() != '!') {
        Fail(m, "did not find a tag handle and prefix in the %TAG directive");
      }
      for (const auto& [h, p] : tag_handles_) {
        if (h == words[1]) Fail(m, "found duplicate %TAG directive");
      }
      tag_handles_.emplace_back(words[1], words[2]);
    }  // Other (reserved) directives are ignored, as YAML 1.2 asks.
    pos_ = e;
  }

  static std::vector<std::string_view> SplitWords(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && IsBlank(s[i])) ++i;
      size_t b = i;
      while (i < s.size() && !IsBlank(s[i])) ++i;
      if (i > b) out.push_back(s.substr(b, i - b));
    }
    return out;
  }

  // ===========================================================================================
  // Scanning primitives.

  Mark Here() const { return {line_, static_cast<int>(pos_ - line_start_)}; }
  int Col() const { return static_cast<int>(pos_ - line_start_); }
  SourcePosition ToPosition(const Mark& m) const { return {first_line_ + m.line + 1, m.col + 1}; }

  [[noreturn]] void Fail(const Mark& m, std::string what) { throw Failure{m, std::move(what)}; }

  bool BlankOrEndAt(size_t p) const {
    return p >= n_ || s_[p] == ' ' || s_[p] == '\t' || s_[p] == '\n';
  }

  // `---` or `...` at column 0 followed by a blank or the end.
  bool AtMarker(char c) const {
    return pos_ == line_start_ && n_ - pos_ >= 3 && s_[pos_] == c && s_[pos_ + 1] == c &&
           s_[pos_ + 2] == c && BlankOrEndAt(pos_ + 3);
  }
  bool AtAnyMarker() const { return AtMarker('-') || AtMarker('.'); }

  // Skips blanks, comments and line breaks.
  void SkipBlank() {
    while (pos_ < n_) {
      const char c = s_[pos_];
      if (c == ' ' || c == '\t') {
        ++pos_;
      } else if (c == '\n') {
        ++pos_;
        ++line_;
        line_start_ = pos_;
      } else if (c == '#' && (pos_ == line_start_ || IsBlank(s_[pos_ - 1]))) {
        const void* nl = std::memchr(s_ + pos_, '\n', n_ - pos_);
        pos_ = nl == nullptr ? n_ : static_cast<size_t>(static_cast<const char*>(nl) - s_);
      } else {
        break;
      }
    }
  }

  // Skips blanks on the current line only.
  void SkipLineBlanks() {
    while (pos_ < n_ && IsBlank(s_[pos_])) ++pos_;
  }

  // True when only blanks precede pos_ on its line; *tab tells whether one of them is a tab.
  bool FirstOnLine(bool* tab = nullptr) const {
    bool t = false;
    for (size_t p = line_start_; p < pos_; ++p) {
      if (s_[p] == '\t') {
        t = true;
      } else if (s_[p] != ' ') {
        return false;
      }
    }
    if (tab != nullptr) *tab = t;
    return true;
  }

  void CheckNoTabIndent() {
    bool tab = false;
    if (FirstOnLine(&tab) && tab) {
      Fail(Here(), "found a tab character where an indentation space is expected");
    }
  }

  // ===========================================================================================
  // Nodes.

  // Parses one node at pos_: a scalar or alias is delivered at once; a collection is opened
  // (its frame pushed) and filled by Step().
  void ParseNode(const NodeArgs& a) {
    if (frames_.empty() && have_root_) Fail(Here(), "more than one root node");
    Props props;
    SkipBlank();
    while (true) {
      if (NodeEndsHere(a)) {
        EmitEmpty(props, props.has ? props.mark : Here());
        return;
      }
      const char c = s_[pos_];
      if (c != '&' && c != '!') break;
      if (!props.has) {
        props.has = true;
        props.mark = Here();
      }
      ScanProperty(&props, a.flow);
      SkipBlank();
    }
    const Mark content = Here();
    bool tab = false;
    const bool first_on_line = FirstOnLine(&tab);
    const bool line_start = first_on_line || a.compact;
    const bool props_inline = props.has && props.mark.line == line_;
    const Mark mark = props.has ? props.mark : content;
    if (!doc_start_set_) {
      doc_start_ = mark;
      doc_start_set_ = true;
    }
    const char c = s_[pos_];
    if (!a.flow) {
      if (first_on_line && tab) {
        Fail(content, "found a tab character where an indentation space is expected");
      }
      if ((c == '-' || c == '?' || c == ':') && BlankOrEndAt(pos_ + 1)) {
        if (!line_start || props_inline) {
          Fail(content, c == '-' ? "block sequence entries are not allowed here"
                                 : "mapping values are not allowed here");
        }
        OpenBlock(mark, props, c == '-' ? Kind::kBlockSeq : Kind::kBlockMap, Col(),
                  c == '-' && Col() == a.map_indent);
        return;
      }
      if (c == '|' || c == '>') {
        std::string_view text = ScanBlockScalar(a.limit);
        OnScalar(mark, props.tag, props.anchor, text, /*plain=*/false);
        return;
      }
    }
    if (c == '[' || c == '{') {
      OpenFlow(mark, props, c == '{' ? Kind::kFlowMap : Kind::kFlowSeq, !a.flow, a.flow_seq_entry);
      ++pos_;
      return;
    }
    // A scalar or an alias; it may turn out to be an implicit key.
    bool is_alias = false, plain = false, multi_line = false, json_like = false;
    std::string_view text;
    if (c == '*') {
      if (props.has) Fail(props.mark, "an alias node cannot have an anchor or a tag");
      text = ScanAliasName();
      is_alias = true;
    } else if (c == '"' || c == '\'') {
      text = ScanQuoted(&multi_line);
      json_like = true;
    } else if (IsPlainStart(a.flow)) {
      text = ScanPlain(a, &multi_line);
      plain = true;
    } else {
      FailUnexpected(a.flow);
    }
    if (!a.flow) {
      size_t p = pos_;
      while (p < n_ && IsBlank(s_[p])) ++p;
      if (p < n_ && s_[p] == ':' && BlankOrEndAt(p + 1)) {
        const Mark colon{line_, static_cast<int>(p - line_start_)};
        if (multi_line)
          Fail(colon, "mapping values are not allowed here (implicit keys are one line)");
        if (!line_start) Fail(colon, "mapping values are not allowed here");
        Props map_props, key_props;
        if (props.has && !props_inline) {
          map_props = props;
        } else {
          key_props = props;
        }
        const Mark key_mark = key_props.has ? key_props.mark : content;
        OpenBlock(props.has ? props.mark : content, map_props, Kind::kBlockMap, key_mark.col,
                  false);
        Frame& f = frames_.back();
        f.fresh = false;
        f.state = kAfterKey;
        EmitScalarOrAlias(key_mark, key_props, text, is_alias, plain);
        pos_ = p;
        return;
      }
    } else if (a.flow_seq_entry) {
      SkipBlank();
      if (pos_ < n_ && s_[pos_] == ':' &&
          (json_like || is_alias || BlankOrEndAt(pos_ + 1) ||
           (pos_ + 1 < n_ && IsFlowIndicator(s_[pos_ + 1])))) {
        // A single-pair mapping inside a flow sequence: [a: 1].
        OpenFlowPair(mark);
        EmitScalarOrAlias(mark, props, text, is_alias, plain);
        return;
      }
    }
    EmitScalarOrAlias(mark, props, text, is_alias, plain);
  }

  bool NodeEndsHere(const NodeArgs& a) const {
    if (pos_ >= n_) return true;
    if (pos_ == line_start_ && AtAnyMarker()) return true;
    const char c = s_[pos_];
    if (a.flow) {
      return c == ',' || c == ']' || c == '}' ||
             (c == ':' && (BlankOrEndAt(pos_ + 1) || IsFlowIndicator(s_[pos_ + 1])));
    }
    if (Col() <= a.limit && FirstOnLine()) {
      // `key:\n- item`: a sequence may sit at its mapping's indentation.
      return !(Col() == a.map_indent && c == '-' && BlankOrEndAt(pos_ + 1));
    }
    return false;
  }

  void EmitEmpty(const Props& props, const Mark& mark) {
    if (props.tag.kind == TagKind::kNone) {
      OnNull(mark, props.anchor);
    } else {
      OnScalar(mark, props.tag, props.anchor, std::string_view(), /*plain=*/false);
    }
  }

  void EmitScalarOrAlias(const Mark& mark, const Props& props, std::string_view text, bool is_alias,
                         bool plain) {
    if (is_alias) {
      OnAlias(mark, text);
    } else {
      OnScalar(mark, props.tag, props.anchor, text, plain);
    }
  }

  [[noreturn]] void FailUnexpected(bool flow) {
    const char c = s_[pos_];
    if (c == '|' || c == '>') Fail(Here(), "block scalars are not allowed inside flow collections");
    if (c == '-' || c == '?' || c == ':') {
      Fail(Here(), std::string("found unexpected '") + c + "' inside a flow collection");
    }
    if (c == '}' || c == ']' || c == ',') {
      Fail(Here(), flow ? "did not find expected node content"
                        : std::string("found unexpected '") + c + "' outside a flow collection");
    }
    Fail(Here(), std::string("found character '") + c + "' that cannot start any token");
  }

  bool IsPlainStart(bool flow) const {
    const char c = s_[pos_];
    switch (c) {
      case '-':
      case '?':
      case ':': {
        if (BlankOrEndAt(pos_ + 1)) return false;
        return !(flow && IsFlowIndicator(s_[pos_ + 1]));
      }
      case ',':
      case '[':
      case ']':
      case '{':
      case '}':
      case '#':
      case '&':
      case '*':
      case '!':
      case '|':
      case '>':
      case '\'':
      case '"':
      case '%':
      case '@':
      case '`':
        return false;
      default:
        return true;
    }
  }

  void ScanProperty(Props* props, bool flow) {
    const Mark m = Here();
    const size_t begin = pos_;
    if (s_[pos_] == '&') {
      if (!props->anchor.empty()) Fail(m, "found more than one anchor on a node");
      ++pos_;
      const size_t b = pos_;
      while (pos_ < n_ && !BlankOrEndAt(pos_) && !IsFlowIndicator(s_[pos_])) ++pos_;
      if (pos_ == b) Fail(m, "did not find expected anchor name");
      props->anchor = std::string_view(s_ + b, pos_ - b);
    } else {
      if (props->tag.kind != TagKind::kNone) Fail(m, "found more than one tag on a node");
      ScanTag(&props->tag, flow);
    }
    if (!BlankOrEndAt(pos_) && !(flow && IsFlowIndicator(s_[pos_]))) {
      Fail(Here(), std::string("did not find expected whitespace after ") +
                       (s_[begin] == '&' ? "an anchor" : "a tag"));
    }
  }

  void ScanTag(Tag* tag, bool flow) {
    const Mark m = Here();
    const size_t b = pos_;  // at '!'
    if (pos_ + 1 < n_ && s_[pos_ + 1] == '<') {
      const void* gt = std::memchr(s_ + pos_, '>', n_ - pos_);
      const size_t nl = FindLineEnd(pos_);
      if (gt == nullptr || static_cast<size_t>(static_cast<const char*>(gt) - s_) > nl) {
        Fail(m, "did not find the expected '>' of a verbatim tag");
      }
      const size_t e = static_cast<size_t>(static_cast<const char*>(gt) - s_);
      std::string_view uri(s_ + pos_ + 2, e - pos_ - 2);
      pos_ = e + 1;
      if (uri.empty()) Fail(m, "found an empty verbatim tag");
      ClassifyTag(uri, tag);
      return;
    }
    while (pos_ < n_ && !BlankOrEndAt(pos_) && !(flow && IsFlowIndicator(s_[pos_]))) ++pos_;
    std::string_view full(s_ + b, pos_ - b);
    if (full == "!") {
      tag->kind = TagKind::kNonSpecific;
      return;
    }
    std::string_view handle, suffix;
    const size_t second = full.find('!', 1);
    if (second != std::string_view::npos) {
      handle = full.substr(0, second + 1);
      suffix = full.substr(second + 1);
    } else {
      handle = full.substr(0, 1);
      suffix = full.substr(1);
    }
    for (const auto& [h, prefix] : tag_handles_) {
      if (h == handle) {
        tag_storage_.assign(prefix);
        tag_storage_.append(suffix);
        ClassifyTag(tag_storage_, tag);
        return;
      }
    }
    if (handle == "!!") {
      tag->kind = TagKind::kCore;
      tag->name = suffix;
      return;
    }
    tag->kind = TagKind::kOther;  // local or unknown: the text is kept
  }

  static void ClassifyTag(std::string_view uri, Tag* tag) {
    if (uri.substr(0, kCoreTagPrefix.size()) == kCoreTagPrefix) {
      tag->kind = TagKind::kCore;
      tag->name = uri.substr(kCoreTagPrefix.size());
    } else if (uri == "!") {
      tag->kind = TagKind::kNonSpecific;
    } else {
      tag->kind = TagKind::kOther;
    }
  }

  size_t FindLineEnd(size_t p) const {
    const void* nl = std::memchr(s_ + p, '\n', n_ - p);
    return nl == nullptr ? n_ : static_cast<size_t>(static_cast<const char*>(nl) - s_);
  }

  std::string_view ScanAliasName() {
    const Mark m = Here();
    ++pos_;
    const size_t b = pos_;
    while (pos_ < n_ && !BlankOrEndAt(pos_) && !IsFlowIndicator(s_[pos_]) &&
           !(s_[pos_] == ':' && (BlankOrEndAt(pos_ + 1) || IsFlowIndicator(s_[pos_ + 1])))) {
      ++pos_;
    }
    if (pos_ == b) Fail(m, "did not find expected alias name");
    return std::string_view(s_ + b, pos_ - b);
  }

  // Scans one line of a plain scalar from p. Returns the end of its text (after the last
  // non-blank); *stop is where scanning stopped (a line break, the end, ": ", " #" or, in flow
  // context, a flow indicator).
  size_t ScanPlainLine(size_t p, bool flow, size_t* stop) const {
    size_t last = p;
    while (p < n_) {
      const char c = s_[p];
      if (c == '\n') break;
      if (c == ' ' || c == '\t') {
        ++p;
        continue;
      }
      if (c == ':') {
        if (BlankOrEndAt(p + 1) || (flow && IsFlowIndicator(s_[p + 1]))) break;
      } else if (c == '#') {
        if (IsBlank(s_[p - 1])) break;
      } else if (flow && IsFlowIndicator(c)) {
        break;
      }
      ++p;
      last = p;
    }
    *stop = p;
    return last;
  }

  std::string_view ScanPlain(const NodeArgs& a, bool* multi_line) {
    const size_t start = pos_;
    size_t stop;
    size_t end = ScanPlainLine(pos_, a.flow, &stop);
    pos_ = end;
    bool copied = false;
    // Continuation lines: folded into the value while they are indented past the parent block
    // (any indentation in flow context) and are not comments or document markers.
    while (stop < n_ && s_[stop] == '\n') {
      size_t r = stop;
      int breaks = 0;
      size_t ls = r;
      size_t t = r;
      bool found = false;
      while (r < n_ && s_[r] == '\n') {
        ++r;
        ++breaks;
        ls = r;
        t = r;
        while (t < n_ && IsBlank(s_[t])) ++t;
        if (t < n_ && s_[t] != '\n') {
          found = true;
          break;
        }
        r = t;
      }
      if (!found) break;
      if (s_[t] == '#') break;
      if (t == ls && n_ - t >= 3 &&
          ((s_[t] == '-' && s_[t + 1] == '-' && s_[t + 2] == '-') ||
           (s_[t] == '.' && s_[t + 1] == '.' && s_[t + 2] == '.')) &&
          BlankOrEndAt(t + 3)) {
        break;
      }
      if (!a.flow && static_cast<int>(t - ls) <= a.limit) break;
      size_t stop2;
      const size_t end2 = ScanPlainLine(t, a.flow, &stop2);
      if (end2 == t) break;  // the line starts with ": " or a flow indicator
      if (!copied) {
        scratch_.assign(s_ + start, end - start);
        copied = true;
      }
      if (breaks == 1) {
        scratch_.push_back(' ');
      } else {
        scratch_.append(static_cast<size_t>(breaks - 1), '\n');
      }
      scratch_.append(s_ + t, end2 - t);
      line_ += breaks;
      line_start_ = ls;
      pos_ = end2;
      stop = stop2;
    }
    *multi_line = copied;
    if (copied) return scratch_;
    return std::string_view(s_ + start, end - start);
  }

  // Folds the line break at pos_ and the empty lines after it (quoted scalars); returns the
  // number of breaks and leaves pos_ at the next line's first non-blank.
  int FoldBreaks(const Mark& open) {
    int breaks = 0;
    while (pos_ < n_ && s_[pos_] == '\n') {
      ++pos_;
      ++line_;
      line_start_ = pos_;
      ++breaks;
      if (AtAnyMarker()) Fail(Here(), "found a document marker inside a quoted scalar");
      while (pos_ < n_ && IsBlank(s_[pos_])) ++pos_;
    }
    if (pos_ >= n_) Fail(open, "found unclosed quoted scalar");
    return breaks;
  }

  void TrimTrailingBlanks(size_t keep) {
    while (scratch_.size() > keep && IsBlank(scratch_.back())) scratch_.pop_back();
  }

  std::string_view ScanQuoted(bool* multi_line) {
    const Mark open = Here();
    const char q = s_[pos_];
    ++pos_;
    const size_t start = pos_;
    const int start_line = line_;
    // Fast path: no escape and no line break.
    size_t p = pos_;
    while (p < n_ && s_[p] != q && s_[p] != '\n' && !(q == '"' && s_[p] == '\\')) ++p;
    if (p >= n_) Fail(open, "found unclosed quoted scalar");
    if (s_[p] == q && !(q == '\'' && p + 1 < n_ && s_[p + 1] == '\'')) {
      pos_ = p + 1;
      *multi_line = false;
      return std::string_view(s_ + start, p - start);
    }
    scratch_.assign(s_ + start, p - start);
    pos_ = p;
    size_t keep = 0;  // escaped text is never trimmed by folding
    while (true) {
      if (pos_ >= n_) Fail(open, "found unclosed quoted scalar");
      const char c = s_[pos_];
      if (c == q) {
        if (q == '\'' && pos_ + 1 < n_ && s_[pos_ + 1] == '\'') {
          scratch_.push_back('\'');
          pos_ += 2;
          continue;
        }
        ++pos_;
        break;
      }
      if (c == '\n') {
        TrimTrailingBlanks(keep);
        const int breaks = FoldBreaks(open);
        if (breaks == 1) {
          scratch_.push_back(' ');
        } else {
          scratch_.append(static_cast<size_t>(breaks - 1), '\n');
        }
        continue;
      }
      if (q == '"' && c == '\\') {
        ScanEscape(open);
        keep = scratch_.size();
        continue;
      }
      scratch_.push_back(c);
      ++pos_;
    }
    *multi_line = line_ != start_line;
    return scratch_;
  }

  void ScanEscape(const Mark& open) {
    const Mark m = Here();
    if (pos_ + 1 >= n_) Fail(open, "found unclosed quoted scalar");
    const char e = s_[pos_ + 1];
    pos_ += 2;
    int hex = 0;
    switch (e) {
      case '0':
        scratch_.push_back('\0');
        return;
      case 'a':
        scratch_.push_back('\a');
        return;
      case 'b':
        scratch_.push_back('\b');
        return;
      case 't':
      case '\t':
        scratch_.push_back('\t');
        return;
      case 'n':
        scratch_.push_back('\n');
        return;
      case 'v':
        scratch_.push_back('\v');
        return;
      case 'f':
        scratch_.push_back('\f');
        return;
      case 'r':
        scratch_.push_back('\r');
        return;
      case 'e':
        scratch_.push_back('\x1B');
        return;
      case ' ':
        scratch_.push_back(' ');
        return;
      case '"':
        scratch_.push_back('"');
        return;
      case '/':
        scratch_.push_back('/');
        return;
      case '\\':
        scratch_.push_back('\\');
        return;
      case 'N':
        AppendUtf8(0x85);
        return;
      case '_':
        AppendUtf8(0xA0);
        return;
      case 'L':
        AppendUtf8(0x2028);
        return;
      case 'P':
        AppendUtf8(0x2029);
        return;
      case 'x':
        hex = 2;
        break;
      case 'u':
        hex = 4;
        break;
      case 'U':
        hex = 8;
        break;
      case '\n': {
        // An escaped line break joins the lines; empty lines after it still count.
        ++line_;
        line_start_ = pos_;
        if (AtAnyMarker()) Fail(Here(), "found a document marker inside a quoted scalar");
        while (pos_ < n_ && IsBlank(s_[pos_])) ++pos_;
        while (pos_ < n_ && s_[pos_] == '\n') {
          scratch_.push_back('\n');
          ++pos_;
          ++line_;
          line_start_ = pos_;
          if (AtAnyMarker()) Fail(Here(), "found a document marker inside a quoted scalar");
          while (pos_ < n_ && IsBlank(s_[pos_])) ++pos_;
        }
        return;
      }
      default:
        Fail(m, std::string("found unknown escape character '") + e + "'");
    }
    uint32_t cp = 0;
    for (int i = 0; i < hex; ++i) {
      if (pos_ >= n_) Fail(m, "did not find expected hexadecimal number");
      const char h = s_[pos_];
      uint32_t d;
      if (IsDigit(h)) {
        d = static_cast<uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        d = static_cast<uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        d = static_cast<uint32_t>(h - 'A' + 10);
      } else {
        Fail(m, "did not find expected hexadecimal number");
      }
      cp = cp * 16 + d;
      ++pos_;
    }
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      Fail(m, "found invalid Unicode character escape code");
    }
    AppendUtf8(cp);
  }

  void AppendUtf8(uint32_t cp) {
    if (cp < 0x80) {
      scratch_.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      scratch_.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      scratch_.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      scratch_.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      scratch_.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      scratch_.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      scratch_.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      scratch_.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      scratch_.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      scratch_.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // Literal (|) and folded (>) block scalars; `n` is the enclosing block's indentation.
  std::string_view ScanBlockScalar(int n) {
    const bool folded = s_[pos_] == '>';
    ++pos_;
    int chomp = 0;  // -1 strip, 0 clip, +1 keep
    int explicit_indent = 0;
    for (int i = 0; i < 2 && pos_ < n_; ++i) {
      const char c = s_[pos_];
      if ((c == '+' || c == '-') && chomp == 0) {
        chomp = c == '+' ? 1 : -1;
        ++pos_;
      } else if (c >= '1' && c <= '9' && explicit_indent == 0) {
        explicit_indent = c - '0';
        ++pos_;
      } else if (c == '0') {
        Fail(Here(), "found an indentation indicator equal to 0");
      } else {
        break;
      }
    }
    SkipLineBlanks();
    if (pos_ < n_ && s_[pos_] == '#' && IsBlank(s_[pos_ - 1])) pos_ = FindLineEnd(pos_);
    if (pos_ < n_ && s_[pos_] != '\n') {
      Fail(Here(), "did not find expected comment or line break after a block scalar header");
    }
    scratch_.clear();
    if (pos_ >= n_) return scratch_;
    ++pos_;
    ++line_;
    line_start_ = pos_;

    const int min_indent = n + 1 < 0 ? 0 : n + 1;
    int ind;
    if (explicit_indent > 0) {
      ind = (n < 0 ? 0 : n) + explicit_indent;
    } else {
      ind = -1;
      int max_empty = 0;
      size_t p = pos_;
      while (p < n_) {
        size_t q = p;
        while (q < n_ && s_[q] == ' ') ++q;
        const int sp = static_cast<int>(q - p);
        if (q >= n_ || s_[q] == '\n') {
          max_empty = std::max(max_empty, sp);
          if (q >= n_) break;
          p = q + 1;
          continue;
        }
        ind = sp;
        break;
      }
      // Leading empty lines count too: a first text line indented less than them ends the
      // scalar (as in libyaml and yaml-cpp).
      ind = std::max({ind, max_empty, min_indent});
    }

    int pending = 0;  // empty lines since the last text line
    bool have_text = false, prev_more = false, trailing_break = false;
    while (pos_ < n_) {
      if (AtAnyMarker()) break;
      size_t p = pos_;
      int sp = 0;
      while (p < n_ && s_[p] == ' ' && sp < ind) {
        ++p;
        ++sp;
      }
      if (sp < ind) {
        if (p < n_ && s_[p] != '\n') break;  // less indented: the scalar ends
        if (p >= n_) {
          pos_ = p;
          break;
        }
        ++pending;
        pos_ = p + 1;
        ++line_;
        line_start_ = pos_;
        continue;
      }
      const size_t e = FindLineEnd(p);
      if (e == p) {
        ++pending;
        if (e >= n_) {
          pos_ = e;
          --pending;
          break;
        }
        pos_ = e + 1;
        ++line_;
        line_start_ = pos_;
        continue;
      }
      const bool more = folded && (s_[p] == ' ' || s_[p] == '\t');
      if (!have_text) {
        scratch_.append(static_cast<size_t>(pending), '\n');
      } else if (folded && !prev_more && !more) {
        if (pending == 0) {
          scratch_.push_back(' ');
        } else {
          scratch_.append(static_cast<size_t>(pending), '\n');
        }
      } else {
        scratch_.append(static_cast<size_t>(pending) + 1, '\n');
      }
      scratch_.append(s_ + p, e - p);
      have_text = true;
      prev_more = more;
      pending = 0;
      if (e < n_) {
        pos_ = e + 1;
        ++line_;
        line_start_ = pos_;
        trailing_break = true;
      } else {
        pos_ = e;
        trailing_break = false;
        break;
      }
    }
    if (chomp == 1) {
      scratch_.append(static_cast<size_t>(pending) + (have_text && trailing_break ? 1 : 0), '\n');
    } else if (chomp == 0 && have_text && trailing_break) {
      scratch_.push_back('\n');
    }
    return scratch_;
  }

  // ===========================================================================================
  // Collections.

  void OpenBlock(const Mark& mark, const Props& props, Kind kind, int indent, bool indentless) {
    StartCollection(mark, props.anchor, kind == Kind::kBlockMap, kind);
    Frame& f = frames_.back();
    f.indent = indent;
    f.indentless = indentless;
  }

  void OpenFlow(const Mark& mark, const Props& props, Kind kind, bool parent_block,
                bool flow_seq_entry) {
    StartCollection(mark, props.anchor, kind == Kind::kFlowMap, kind);
    Frame& f = frames_.back();
    f.parent_block = parent_block;
    f.parent_flow_seq = flow_seq_entry;
  }

  void OpenFlowPair(const Mark& mark) {
    StartCollection(mark, std::string_view(), /*is_map=*/true, Kind::kFlowPair);
    frames_.back().state = kAfterKey;
  }

  // Advances the innermost open collection by one entry (or closes it).
  void Step() {
    Frame& f = frames_.back();
    switch (f.kind) {
      case Kind::kBlockSeq:
        StepBlockSeq(f);
        return;
      case Kind::kBlockMap:
        StepBlockMap(f);
        return;
      case Kind::kFlowSeq:
        StepFlowSeq(f);
        return;
      case Kind::kFlowMap:
        StepFlowMap(f);
        return;
      case Kind::kFlowPair:
        StepFlowPair(f);
        return;
    }
  }

  void StepBlockSeq(Frame& f) {
    SkipBlank();
    if (pos_ >= n_ || AtAnyMarker()) {
      EndCollection();
      return;
    }
    const bool first = FirstOnLine();
    if (!first && !f.fresh) Fail(Here(), "did not find expected '-' indicator");
    f.fresh = false;
    const int col = Col();
    const bool dash = s_[pos_] == '-' && BlankOrEndAt(pos_ + 1);
    if (first && (col < f.indent || (col == f.indent && f.indentless && !dash))) {
      EndCollection();
      return;
    }
    if (col != f.indent || !dash) Fail(Here(), "did not find expected '-' indicator");
    CheckNoTabIndent();
    ++pos_;
    NodeArgs a;
    a.limit = f.indent;
    a.compact = true;
    ParseNode(a);
  }

  void StepBlockMap(Frame& f) {
    if (f.state == kAfterKey) {
      ++pos_;  // the ':' (checked when the key was read)
      f.state = kEntry;
      NodeArgs a;
      a.limit = f.indent;
      a.map_indent = f.indent;
      ParseNode(a);
      return;
    }
    SkipBlank();
    const bool at_end = pos_ >= n_ || AtAnyMarker();
    if (f.state == kExplicitValue) {
      f.state = kEntry;
      if (!at_end && FirstOnLine() && Col() == f.indent && s_[pos_] == ':' &&
          BlankOrEndAt(pos_ + 1)) {
        CheckNoTabIndent();
        ++pos_;
        NodeArgs a;
        a.limit = f.indent;
        a.compact = true;
        a.map_indent = f.indent;
        ParseNode(a);
      } else {
        OnNull(Here(), std::string_view());
      }
      return;
    }
    if (at_end) {
      EndCollection();
      return;
    }
    const bool first = FirstOnLine();
    if (!first && !f.fresh) Fail(Here(), "did not find expected key");
    f.fresh = false;
    if (first && Col() < f.indent) {
      EndCollection();
      return;
    }
    if (Col() != f.indent) Fail(Here(), "did not find expected key");
    CheckNoTabIndent();
    const char c = s_[pos_];
    if (c == '?' && BlankOrEndAt(pos_ + 1)) {
      ++pos_;
      f.state = kExplicitValue;
      NodeArgs a;
      a.limit = f.indent;
      a.compact = true;
      ParseNode(a);
      return;
    }
    if (c == ':' && BlankOrEndAt(pos_ + 1)) {
      OnNull(Here(), std::string_view());  // empty key
      f.state = kAfterKey;
      return;
    }
    if ((c == '-' && BlankOrEndAt(pos_ + 1)) || c == '|' || c == '>') {
      Fail(Here(), "did not find expected key");
    }
    ParseKey(f);
  }

  // An implicit key of a block mapping, at its indentation.
  void ParseKey(Frame& f) {
    const size_t frames = frames_.size();
    const Mark key_mark = Here();
    Props props;
    while (pos_ < n_ && (s_[pos_] == '&' || s_[pos_] == '!')) {
      if (!props.has) {
        props.has = true;
        props.mark = Here();
      }
      ScanProperty(&props, false);
      SkipLineBlanks();
    }
    if (pos_ >= n_ || s_[pos_] == '\n' || (s_[pos_] == '#' && IsBlank(s_[pos_ - 1]))) {
      Fail(key_mark, "could not find expected ':' after a mapping key");
    }
    const char c = s_[pos_];
    if (c == '[' || c == '{') {
      // A collection as a key: rejected when it is complete (mapping keys must be scalars).
      OpenFlow(key_mark, props, c == '{' ? Kind::kFlowMap : Kind::kFlowSeq, true, false);
      ++pos_;
      (void)frames;
      return;
    }
    bool is_alias = false, plain = false, multi_line = false;
    std::string_view text;
    if (c == '*') {
      if (props.has) Fail(props.mark, "an alias node cannot have an anchor or a tag");
      text = ScanAliasName();
      is_alias = true;
    } else if (c == '"' || c == '\'') {
      text = ScanQuoted(&multi_line);
    } else if (IsPlainStart(false)) {
      NodeArgs a;
      a.limit = f.indent;
      text = ScanPlain(a, &multi_line);
      plain = true;
    } else {
      FailUnexpected(false);
    }
    size_t p = pos_;
    while (p < n_ && IsBlank(s_[p])) ++p;
    const Mark colon{line_, static_cast<int>(p - line_start_)};
    if (p >= n_ || s_[p] != ':' || !BlankOrEndAt(p + 1)) {
      Fail(multi_line ? colon : key_mark, "could not find expected ':' after a mapping key");
    }
    if (multi_line) Fail(colon, "mapping values are not allowed here (implicit keys are one line)");
    EmitScalarOrAlias(key_mark, props, text, is_alias, plain);
    frames_.back().state = kAfterKey;
    pos_ = p;
  }

  void StepFlowSeq(Frame& f) {
    SkipBlank();
    CheckFlowContinues(f);
    const char c = s_[pos_];
    if (f.state == kAfterEntry) {
      if (c == ',') {
        ++pos_;
        f.state = kEntry;
        return;
      }
      if (c == ']') {
        CloseFlow(f);
        return;
      }
      Fail(Here(), "did not find expected ',' or ']'");
    }
    if (c == ']') {
      CloseFlow(f);
      return;
    }
    if (c == ',' || c == '}') {
      Fail(Here(),
           c == ',' ? "did not find expected node content" : "did not find expected ',' or ']'");
    }
    f.state = kAfterEntry;
    if (c == '?' && BlankOrEndAt(pos_ + 1)) {
      const Mark m = Here();
      ++pos_;
      OpenFlowPair(m);
      NodeArgs a;
      a.flow = true;
      ParseNode(a);
      return;
    }
    NodeArgs a;
    a.flow = true;
    a.flow_seq_entry = true;
    ParseNode(a);
  }

  void StepFlowMap(Frame& f) {
    SkipBlank();
    CheckFlowContinues(f);
    const char c = s_[pos_];
    switch (f.state) {
      case kEntry: {
        if (c == '}') {
          CloseFlow(f);
          return;
        }
        if (c == ',' || c == ']') {
          Fail(Here(), c == ',' ? "did not find expected node content"
                                : "did not find expected ',' or '}'");
        }
        f.state = kAfterKey;
        if (c == '?' && BlankOrEndAt(pos_ + 1)) ++pos_;
        NodeArgs a;
        a.flow = true;
        ParseNode(a);
        return;
      }
      case kAfterKey: {
        f.state = kAfterEntry;
        if (c == ':') {
          ++pos_;
          NodeArgs a;
          a.flow = true;
          ParseNode(a);
          return;
        }
        if (c == ',' || c == '}') {
          OnNull(Here(), std::string_view());
          return;
        }
        Fail(Here(), "did not find expected ',' or '}'");
      }
      default: {
        if (c == ',') {
          ++pos_;
          f.state = kEntry;
          return;
        }
        if (c == '}') {
          CloseFlow(f);
          return;
        }
        Fail(Here(), "did not find expected ',' or '}'");
      }
    }
  }

  void StepFlowPair(Frame& f) {
    if (f.state == kDone) {
      EndCollection();
      return;
    }
    SkipBlank();
    CheckFlowContinues(f);
    f.state = kDone;
    if (s_[pos_] == ':') {
      ++pos_;
      NodeArgs a;
      a.flow = true;
      ParseNode(a);
      return;
    }
    OnNull(Here(), std::string_view());
  }

  void CheckFlowContinues(const Frame& f) {
    if (pos_ < n_ && !AtAnyMarker()) return;
    EmulateUnclosedFlowDepth(f.kind);
    const Frame* seq = nullptr;
    for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
      if (it->kind == Kind::kFlowSeq || it->kind == Kind::kFlowMap) {
        seq = &*it;
        break;
      }
    }
    const bool is_seq = seq != nullptr && seq->kind == Kind::kFlowSeq;
    Fail(Here(), is_seq ? "did not find expected ',' or ']'" : "did not find expected ',' or '}'");
  }

  void CloseFlow(Frame& f) {
    const Mark start = f.start;
    const bool check_key = f.parent_block || f.parent_flow_seq;
    const bool parent_block = f.parent_block;
    ++pos_;
    if (check_key && !f.complex_key) {
      size_t p = pos_;
      if (parent_block) {
        while (p < n_ && IsBlank(s_[p])) ++p;
        if (p < n_ && s_[p] == ':' && BlankOrEndAt(p + 1)) {
          Fail(start, "mapping keys must be scalars");
        }
      } else {
        const size_t save_pos = pos_, save_ls = line_start_;
        const int save_line = line_;
        SkipBlank();
        const bool colon = pos_ < n_ && s_[pos_] == ':';
        pos_ = save_pos;
        line_start_ = save_ls;
        line_ = save_line;
        if (colon) Fail(start, "mapping keys must be scalars");
      }
    }
    EndCollection();
  }

  // yaml-cpp (whose behaviour the depth limit's error position follows) reads a flow collection
  // that is still open at the end of the input, inside a flow sequence, as the key of a
  // single-pair mapping: one more level per such collection. Fails with the depth error at the
  // collection that crosses the limit counted that way, if any; returns otherwise.
  void EmulateUnclosedFlowDepth(Kind /*kind*/) {
    size_t flow_frames = 0;
    for (const Frame& f : frames_) {
      if (f.kind == Kind::kFlowSeq || f.kind == Kind::kFlowMap) ++flow_frames;
    }
    // How many of the open flow collections close later in the text (innermost first).
    long level = 0, min_level = 0;
    for (size_t p = pos_; p < n_; ++p) {
      const char c = s_[p];
      if (c == '[' || c == '{') {
        ++level;
      } else if (c == ']' || c == '}') {
        min_level = std::min(min_level, --level);
      } else if (c == '"' || c == '\'') {
        for (++p; p < n_ && s_[p] != c; ++p) {
          if (c == '"' && s_[p] == '\\') ++p;
        }
      } else if (c == '#' && (p == 0 || IsBlank(s_[p - 1]) || s_[p - 1] == '\n')) {
        while (p < n_ && s_[p] != '\n') ++p;
      }
    }
    const size_t closed = std::min(static_cast<size_t>(-min_level), flow_frames);
    size_t unclosed = flow_frames - closed;
    long depth = 0;
    for (const Frame& f : frames_) {
      ++depth;
      const bool flow = f.kind == Kind::kFlowSeq || f.kind == Kind::kFlowMap;
      if (flow && unclosed > 0) {
        --unclosed;
        if (f.parent_flow_seq) ++depth;
      }
      if (depth > options_.limits.max_depth) FailDepth(f.start);
    }
  }

  // ===========================================================================================
  // Json building (the semantics of the former yaml-cpp event handler).

  bool ExpectingKey() const {
    return !frames_.empty() && frames_.back().is_map && !frames_.back().have_key;
  }

  void CountNodes(size_t n, const Mark& mark) {
    nodes_ += n;
    if (nodes_ > options_.limits.max_nodes) {
      Fail(mark, "document expands to more than " + std::to_string(options_.limits.max_nodes) +
                     " nodes (YamlLimits::max_nodes); aliases expand too much");
    }
  }

  [[noreturn]] void FailDepth(const Mark& mark) {
    Fail(mark, "nesting deeper than " + std::to_string(options_.limits.max_depth) +
                   " levels (YamlLimits::max_depth)");
  }

  static std::string KeyText(const Json& k, std::string_view raw) {
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
        return std::string(raw);
    }
  }

  // True when a plain scalar starting with `c` always resolves to a string equal to its text.
  static bool PlainIsAlwaysString(std::string_view text) {
    if (text.empty()) return false;
    const char c = text[0];
    return !(IsDigit(c) || c == '+' || c == '-' || c == '.' || c == '~' || c == 'n' || c == 'N' ||
             c == 't' || c == 'T' || c == 'f' || c == 'F');
  }

  void SetKey(std::string_view key, const Mark& mark, bool merge) {
    Frame& f = frames_.back();
    if (merge) {
      if (f.saw_merge) Fail(mark, "duplicate key \"<<\"");
      f.saw_merge = true;
      f.key_is_merge = true;
      f.value_slot = &f.merge_value;
      f.key_text = nullptr;
    } else {
      auto& obj = f.node->get_ref<Json::object_t&>();
      auto [it, inserted] = obj.emplace(std::string(key), nullptr);
      if (!inserted) Fail(mark, "duplicate key " + Json(std::string(key)).dump());
      f.key_is_merge = false;
      f.value_slot = &it->second;
      f.key_text = &it->first;
    }
    f.have_key = true;
    f.key_position = ToPosition(mark);
  }

  void OnNull(const Mark& mark, std::string_view anchor) {
    if (ExpectingKey()) {
      SetKey("null", mark, false);
      if (!anchor.empty()) StoreScalarAnchor(anchor, Json());
      return;
    }
    Json* slot = BeginValue(mark);
    *slot = nullptr;
    CountNodes(1, mark);
    FinishScalar(slot, anchor);
  }

  void Resolve(const Mark& mark, const Tag& tag, std::string_view value, bool plain, Json* out) {
    switch (tag.kind) {
      case TagKind::kNone:
        if (plain) {
          ResolvePlainScalar(value, out);
        } else {
          *out = value;
        }
        return;
      case TagKind::kNonSpecific:
      case TagKind::kOther:
        *out = value;
        return;
      case TagKind::kCore:
        break;
    }
    const std::string_view name = tag.name;
    if (name.empty() || name == "str" || name == "binary" || name == "timestamp" ||
        name == "merge") {
      *out = value;
      return;
    }
    bool ok = true;
    if (name == "int" || name == "float" || name == "bool" || name == "null") {
      const ScalarKind kind = ResolvePlainScalar(value, out);
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
      } else {
        ok = kind == ScalarKind::kNull;
      }
    } else {
      *out = value;
    }
    if (!ok) {
      Fail(mark, "cannot read " + Json(std::string(value)).dump() + " as !!" + std::string(name));
    }
  }

  void OnScalar(const Mark& mark, const Tag& tag, std::string_view anchor, std::string_view value,
                bool plain) {
    if (ExpectingKey()) {
      const bool merge = (tag.kind == TagKind::kNone && plain && value == "<<") ||
                         (tag.kind == TagKind::kCore && tag.name == "merge");
      if (tag.kind == TagKind::kNone && (!plain || PlainIsAlwaysString(value)) && anchor.empty()) {
        SetKey(value, mark, merge);
        return;
      }
      Json k;
      Resolve(mark, tag, value, plain, &k);
      SetKey(KeyText(k, value), mark, merge);
      if (!anchor.empty()) StoreScalarAnchor(anchor, std::move(k));
      return;
    }
    Json* slot = BeginValue(mark);
    Resolve(mark, tag, value, plain, slot);
    CountNodes(1, mark);
    FinishScalar(slot, anchor);
  }

  void OnAlias(const Mark& mark, std::string_view name) {
    auto it = anchor_ids_.find(name);
    if (it == anchor_ids_.end()) Fail(mark, "the referenced anchor is not defined");
    if (!anchors_[it->second].complete) {
      Fail(mark, "alias refers to a node that contains it (recursive alias)");
    }
    const size_t index = it->second;
    if (ExpectingKey()) {
      const Json& v = anchors_[index].value;
      if (v.is_structured()) Fail(mark, "mapping keys must be scalars");
      SetKey(KeyText(v, v.is_string() ? v.get_ref<const std::string&>() : ""), mark, false);
      return;
    }
    CountNodes(anchors_[index].nodes, mark);
    if (static_cast<int>(frames_.size()) + anchors_[index].height > options_.limits.max_depth) {
      FailDepth(mark);
    }
    Json* slot = BeginValue(mark);
    const Anchor& a = anchors_[index];
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

  // Returns the slot the next node goes to, records its position and extends path_.
  Json* BeginValue(const Mark& mark) {
    if (frames_.empty()) {
      if (have_root_) Fail(mark, "more than one root node");
      have_root_ = true;
      if (options_.record_positions) positions_.push_back({std::string(), ToPosition(mark)});
      return &root_;
    }
    Frame& f = frames_.back();
    Json* slot;
    SourcePosition pos;
    if (f.is_map) {
      if (f.key_is_merge) {
        if (options_.record_positions) path_.append(kMergeSegment);
        return &f.merge_value;
      }
      slot = f.value_slot;
      pos = f.key_position;
      if (options_.record_positions) {
        path_.push_back('/');
        AppendEscaped(*f.key_text);
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
    if (frames_.empty()) return;
    Frame& f = frames_.back();
    f.child_height = std::max(f.child_height, height);
    if (f.is_map) {
      if (f.key_is_merge) {
        if (!f.merge_value.is_object() &&
            !(f.merge_value.is_array() &&
              std::all_of(f.merge_value.begin(), f.merge_value.end(),
                          [](const Json& j) { return j.is_object(); }))) {
          throw Failure{FromPosition(f.key_position),
                        "the value of a merge key \"<<\" must be a mapping or a sequence of "
                        "mappings"};
        }
      }
      f.have_key = false;
      f.key_is_merge = false;
    }
    if (options_.record_positions) path_.resize(f.path_len);
  }

  Mark FromPosition(const SourcePosition& p) const {
    return {p.line - first_line_ - 1, p.column - 1};
  }

  void FinishScalar(Json* slot, std::string_view anchor) {
    if (!anchor.empty()) {
      Anchor& a = DefineAnchor(anchor);
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

  void StoreScalarAnchor(std::string_view anchor, Json value) {
    Anchor& a = DefineAnchor(anchor);
    a.value = std::move(value);
    a.nodes = 1;
    a.height = 0;
    a.pos_begin = a.pos_end = 0;
    a.complete = true;
  }

  // A (re)definition: later aliases refer to the newest node with this name.
  Anchor& DefineAnchor(std::string_view name) {
    anchors_.emplace_back();
    anchor_ids_[name] = anchors_.size() - 1;
    return anchors_.back();
  }

  void StartCollection(const Mark& mark, std::string_view anchor, bool is_map, Kind kind) {
    if (static_cast<int>(frames_.size()) + 1 > options_.limits.max_depth) {
      if (kind == Kind::kFlowSeq || kind == Kind::kFlowMap) {
        // Count the new collection as open too, as the emulation expects.
        Frame probe;
        probe.kind = kind;
        probe.start = mark;
        probe.parent_flow_seq = !frames_.empty() && frames_.back().kind == Kind::kFlowSeq;
        frames_.push_back(probe);
        ++pos_;
        EmulateUnclosedFlowDepth(kind);
        --pos_;
        frames_.pop_back();
      }
      FailDepth(mark);
    }
    CountNodes(1, mark);
    uint32_t anchor_index = 0;
    if (!anchor.empty()) {
      DefineAnchor(anchor).complete = false;
      anchor_index = static_cast<uint32_t>(anchors_.size());
    }
    // A collection used as a mapping key is built aside and rejected when it ends, so that an
    // unterminated flow collection still reports its syntax error or the depth limit.
    const bool complex_key = ExpectingKey();
    Json* slot = complex_key ? &key_scratch_.emplace_back() : BeginValue(mark);
    if (is_map) {
      *slot = Json::object();
    } else {
      *slot = Json::array();
    }
    const bool parent_flow_seq = !frames_.empty() && frames_.back().kind == Kind::kFlowSeq;
    Frame& f = frames_.emplace_back();
    f.kind = kind;
    f.parent_flow_seq = parent_flow_seq;
    f.node = slot;
    f.is_map = is_map;
    f.anchor = anchor_index;
    f.nodes_at_start = nodes_ - 1;
    f.pos_begin = positions_.empty() ? 0 : positions_.size() - 1;
    f.path_len = path_.size();
    f.complex_key = complex_key;
    f.start = mark;
  }

  void EndCollection() {
    Frame& f = frames_.back();
    if (f.complex_key) Fail(f.start, "mapping keys must be scalars");
    if (f.saw_merge) ApplyMerge(f);
    const int height = f.child_height + 1;
    if (f.anchor != 0) {
      Anchor& a = anchors_[f.anchor - 1];
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
    frames_.pop_back();
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

  void TakePositions(std::unordered_map<std::string, SourcePosition>* out) {
    out->reserve(positions_.size());
    for (PositionEntry& e : positions_) {
      if (e.pointer.find(kMergeSegment) != std::string::npos) continue;
      (*out)[std::move(e.pointer)] = e.position;
    }
  }

  const YamlParseOptions options_;
  // Input.
  std::string normalized_;
  const char* s_ = nullptr;
  size_t n_ = 0;
  size_t pos_ = 0;
  int line_ = 0;
  size_t line_start_ = 0;
  int first_line_ = 0;
  std::string scratch_;
  std::string tag_storage_;
  std::vector<std::pair<std::string_view, std::string_view>> tag_handles_;
  // Output.
  Json root_;
  bool have_root_ = false;
  Mark doc_start_;
  bool doc_start_set_ = false;
  std::vector<Frame> frames_;
  std::deque<Json> key_scratch_;
  std::vector<Anchor> anchors_;
  std::unordered_map<std::string_view, size_t> anchor_ids_;
  std::vector<PositionEntry> positions_;
  std::string path_;
  size_t nodes_ = 0;
  // Failure.
  std::string error_;
  SourcePosition error_position_;
  bool out_of_memory_ = false;
};

YamlDocumentParser::YamlDocumentParser(const YamlParseOptions& options)
    : impl_(std::make_unique<Impl>(options)) {}
YamlDocumentParser::~YamlDocumentParser() = default;

bool YamlDocumentParser::Parse(std::string_view body, int first_line, YamlDocument* doc) {
  return impl_->Parse(body, first_line, doc);
}
const std::string& YamlDocumentParser::error() const { return impl_->error(); }
SourcePosition YamlDocumentParser::error_position() const { return impl_->error_position(); }
bool YamlDocumentParser::out_of_memory() const { return impl_->out_of_memory(); }

}  // namespace driftguard::core::internal

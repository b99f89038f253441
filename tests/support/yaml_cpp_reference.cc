// The former yaml-cpp 0.7 implementation of core::ParseYamlStream, kept as a TEST ORACLE for
// core/internal/yaml_parser (differential tests, fuzzing, benchmarks). It is never linked into
// the driftguard binary. Same contract as core/yaml.h, with yaml-cpp's syntax-error wording and
// its leniencies (e.g. a quoted scalar left open at the end of the input is accepted).
#include "tests/support/yaml_cpp_reference.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <istream>
#include <new>
#include <streambuf>
#include <utility>

#include "core/internal/yaml_parser.h"

namespace driftguard::testing {
namespace {

using core::EscapePointerToken;
using core::Json;
using core::SourcePosition;
using core::YamlDocument;
using core::YamlParseOptions;
using core::internal::ScalarKind;

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
      : options_(options), first_line_(first_line), chunk_size_(chunk_size) {
    // Frames point into their parents (merge values): the stack must never reallocate. (The
    // original implementation lacked this and read freed memory on `<<: [...]` after nesting.)
    stack_.reserve(static_cast<size_t>(std::max(options.limits.max_depth, 0)) + 2);
  }

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
      core::internal::ResolvePlainScalar(value, out);
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
    ScalarKind kind = core::internal::ResolvePlainScalar(value, out);
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

core::StatusOr<std::vector<YamlDocument>> ParseYamlStreamWithYamlCpp(
    std::string_view text, std::string_view source, const YamlParseOptions& options) {
  std::vector<YamlDocument> docs;
  int doc_count = 0;  // documents seen, including dropped empty ones
  for (const Chunk& chunk : SplitStream(text)) {
    std::string_view body = text.substr(chunk.begin, chunk.end - chunk.begin);
    if (chunk.has_document && body.size() > options.limits.max_document_bytes) {
      return core::InvalidArgumentError(
          FormatError(source, doc_count + 1, {chunk.doc_line + 1, 1},
                      "document is " + std::to_string(body.size()) + " bytes, over the limit of " +
                          std::to_string(options.limits.max_document_bytes) +
                          " bytes (YamlLimits::max_document_bytes)"));
    }
    if (size_t bad = FindInvalidUtf8(body); bad != std::string_view::npos) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02X", static_cast<unsigned char>(body[bad]));
      return core::InvalidArgumentError(
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
      return core::InvalidArgumentError(
          FormatError(source, doc_count + 1, builder.error_position(), builder.error()));
    } catch (const YAML::Exception& e) {
      SourcePosition pos = builder.ToPosition(e.mark);
      std::string what = e.msg;
      if (dynamic_cast<const YAML::DeepRecursion*>(&e) != nullptr) {
        what = "nesting deeper than the YAML parser supports";
      }
      return core::InvalidArgumentError(FormatError(source, doc_count + 1, pos, what));
    } catch (const std::bad_alloc&) {
      return core::ResourceExhaustedError(
          FormatError(source, doc_count + 1, {chunk.doc_line + 1, 1}, "out of memory"));
    } catch (const std::exception& e) {
      return core::InternalError(
          FormatError(source, doc_count + 1, {chunk.doc_line + 1, 1}, e.what()));
    }
  }
  return docs;
}

}  // namespace driftguard::testing

#include "core/field_diff.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdint>
#include <string>
#include <utility>

#include "core/json_doc.h"

namespace driftguard::core {
namespace {

// V is core::Json (HumanPathToPointer, EnumerateLeaves) or core::JsonRef (DiffObjects): both
// answer is_null/is_object/is_array/is_string/size/empty/operator[] alike.
template <typename V>
bool IsEmptyValue(const V& v) {
  return v.is_null() || ((v.is_object() || v.is_array()) && v.empty());
}

// Null, [], {} or a map holding only such values (`metadata: {labels: {}}`).
bool IsDeepEmpty(const JsonRef& v) {
  if (!v.is_object()) return IsEmptyValue(v);
  for (size_t i = 0; i < v.size(); ++i) {
    if (!IsDeepEmpty(v.value(i))) return false;
  }
  return true;
}

bool IsPlainField(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '$';
    if (!ok) return false;
  }
  return true;
}

bool IsPlainKeyValue(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c == ',' || c == '=' || c == '[' || c == ']' || c == '"' || c == '\\' ||
        static_cast<unsigned char>(c) < 0x20) {
      return false;
    }
  }
  return true;
}

void AppendJsonString(std::string& out, std::string_view s) { out += Json(s).dump(); }

void AppendKeyString(std::string& out, std::string_view s) {
  if (IsPlainKeyValue(s)) {
    out += s;
  } else {
    AppendJsonString(out, s);
  }
}

void AppendKeyValue(std::string& out, const Json& v) {
  if (v.is_string()) {
    AppendKeyString(out, v.get_ref<const std::string&>());
  } else {
    out += v.dump();
  }
}

void AppendKeyValue(std::string& out, const JsonRef& v) {
  if (v.is_string()) {
    AppendKeyString(out, v.string());
  } else {
    out += v.ToJson().dump();
  }
}

// A schema default as JSON text (`"TCP"`, `0`), rendered like AppendKeyValue renders a value.
void AppendDefault(std::string& out, std::string_view literal) {
  if (literal.size() >= 2 && literal.front() == '"' &&
      literal.find('\\') == std::string_view::npos) {
    std::string_view s = literal.substr(1, literal.size() - 2);
    if (IsPlainKeyValue(s)) {
      out += s;
    } else {
      out += literal;
    }
  } else {
    out += literal;
  }
}

// Whether a value equals the schema default `literal`, without allocating. The value is given by
// its type and readers for each type, so one rule serves Json and JsonRef.
struct ScalarView {
  bool is_string = false, is_boolean = false, is_int = false, is_uint = false, is_float = false;
  std::string_view string;
  bool boolean = false;
  long long int_value = 0;
  unsigned long long uint_value = 0;
  double float_value = 0;
};

ScalarView Scalar(const Json& v) {
  ScalarView s;
  if (v.is_string()) {
    s.is_string = true;
    s.string = v.get_ref<const std::string&>();
  } else if (v.is_boolean()) {
    s.is_boolean = true;
    s.boolean = v.get<bool>();
  } else if (v.is_number_unsigned()) {
    s.is_uint = true;
    s.uint_value = v.get<unsigned long long>();
  } else if (v.is_number_integer()) {
    s.is_int = true;
    s.int_value = v.get<long long>();
  } else if (v.is_number_float()) {
    s.is_float = true;
    s.float_value = v.get<double>();
  }
  return s;
}

ScalarView Scalar(const JsonRef& v) {
  ScalarView s;
  switch (v.type()) {
    case JsonType::kString:
      s.is_string = true;
      s.string = v.string();
      break;
    case JsonType::kBool:
      s.is_boolean = true;
      s.boolean = v.boolean();
      break;
    case JsonType::kUint:
      s.is_uint = true;
      s.uint_value = v.uint_value();
      break;
    case JsonType::kInt:
      s.is_int = true;
      s.int_value = v.int_value();
      break;
    case JsonType::kFloat:
      s.is_float = true;
      s.float_value = v.float_value();
      break;
    default:
      break;
  }
  return s;
}

template <typename V>
bool EqualsDefault(const V& value, std::string_view literal) {
  if (literal.empty()) return false;
  const ScalarView v = Scalar(value);
  if (literal.front() == '"') {
    if (!v.is_string || literal.find('\\') != std::string_view::npos) return false;
    return v.string == literal.substr(1, literal.size() - 2);
  }
  if (literal == "true" || literal == "false")
    return v.is_boolean && v.boolean == (literal == "true");
  if (v.is_int || v.is_uint) {
    long long parsed = 0;
    auto [p, ec] = std::from_chars(literal.data(), literal.data() + literal.size(), parsed);
    if (ec != std::errc() || p != literal.data() + literal.size()) return false;
    return v.is_uint ? parsed >= 0 && v.uint_value == static_cast<unsigned long long>(parsed)
                     : v.int_value == parsed;
  }
  if (v.is_float) {
    double parsed = 0;
    auto [p, ec] = std::from_chars(literal.data(), literal.data() + literal.size(), parsed);
    return ec == std::errc() && p == literal.data() + literal.size() && v.float_value == parsed;
  }
  return false;
}

// A key field of a list item: present (and not null), or absent (the default applies).
const Json* KeyField(const Json& item, std::string_view key) {
  auto it = item.find(key);
  return it == item.end() || it->is_null() ? nullptr : &*it;
}
std::optional<JsonRef> KeyField(const JsonRef& item, std::string_view key) {
  JsonRef v = item.Find(key);
  if (v.is_null()) return std::nullopt;
  return v;
}

// Keying of associative list items by their compare keys (with schema defaults).
template <typename V>
struct Keying {
  std::span<const std::string_view> keys;
  std::span<const std::string_view> defaults;

  // The i-th key's value, or none when the item falls back to the default (defaults[i]).
  auto Value(const V& item, size_t i) const { return KeyField(item, keys[i]); }

  bool Keyable(const V& item) const {
    if (!item.is_object()) return false;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!Value(item, i) && (i >= defaults.size() || defaults[i].empty())) return false;
    }
    return true;
  }

  bool SameKey(const V& a, const V& b) const {
    for (size_t i = 0; i < keys.size(); ++i) {
      const auto va = Value(a, i);
      const auto vb = Value(b, i);
      if (va && vb) {
        if (!(*va == *vb)) return false;
      } else if (va) {
        if (!EqualsDefault(*va, defaults[i])) return false;
      } else if (vb) {
        if (!EqualsDefault(*vb, defaults[i])) return false;
      }
    }
    return true;
  }

  void AppendSelector(std::string& out, const V& item) const {
    out += '[';
    for (size_t i = 0; i < keys.size(); ++i) {
      if (i > 0) out += ',';
      out += keys[i];
      out += '=';
      const auto v = Value(item, i);
      if (v) {
        AppendKeyValue(out, *v);
      } else {
        AppendDefault(out, defaults[i]);
      }
    }
    out += ']';
  }

  // Every item keyable and no two items of `list` share a key.
  bool Usable(const V& list) const {
    for (size_t i = 0; i < list.size(); ++i) {
      if (!Keyable(list[i])) return false;
      for (size_t j = 0; j < i; ++j) {
        if (SameKey(list[i], list[j])) return false;
      }
    }
    return true;
  }
};

template <typename V>
bool KeyedList(const SchemaNode* node, Keying<V>* keying) {
  const ListInfo* info = node != nullptr ? node->list() : nullptr;
  if (info == nullptr || info->compare_type != ListType::kMap || info->compare_keys.empty()) {
    return false;
  }
  keying->keys = info->compare_keys;
  keying->defaults = info->compare_key_defaults;
  return true;
}

bool IsSetList(const SchemaNode* node) {
  const ListInfo* info = node != nullptr ? node->list() : nullptr;
  return info != nullptr && info->compare_type == ListType::kSet;
}

bool SameSet(const JsonRef& a, const JsonRef& b) {
  // Sets hold distinct values; compare membership both ways (lists are short).
  auto contains = [](const JsonRef& list, const JsonRef& x) {
    for (size_t i = 0; i < list.size(); ++i) {
      if (list[i] == x) return true;
    }
    return false;
  };
  for (size_t i = 0; i < a.size(); ++i) {
    if (!contains(b, a[i])) return false;
  }
  for (size_t j = 0; j < b.size(); ++j) {
    if (!contains(a, b[j])) return false;
  }
  return true;
}

// Whether maps below `node` are compared key by key.
bool GranularMap(const SchemaNode* node) {
  if (node == nullptr) return true;
  if (node->atomic_map()) return false;
  return node->kind() == SchemaKind::kObject || node->kind() == SchemaKind::kMap;
}

// Path buffers shared by the walkers: pushing a segment appends, popping truncates.
class PathBuilder {
 public:
  std::string human;
  std::string pa;
  std::string pb;

  struct Mark {
    size_t human, pa, pb;
  };
  Mark mark() const { return {human.size(), pa.size(), pb.size()}; }
  void reset(Mark m) {
    human.resize(m.human);
    pa.resize(m.pa);
    pb.resize(m.pb);
  }

  void PushField(std::string_view key) {
    AppendHumanField(human, key);
    AppendPointerToken(pa, key);
    AppendPointerToken(pb, key);
  }

  static void AppendHumanField(std::string& out, std::string_view key) {
    if (IsPlainField(key)) {
      if (!out.empty()) out += '.';
      out += key;
    } else {
      out += '[';
      AppendJsonString(out, key);
      out += ']';
    }
  }

  static void AppendPointerToken(std::string& out, std::string_view key) {
    out += '/';
    // Keys rarely hold '~' or '/': append them whole unless one does.
    if (std::none_of(key.begin(), key.end(), [](char c) { return c == '~' || c == '/'; })) {
      out += key;
      return;
    }
    for (char c : key) {
      if (c == '~') {
        out += "~0";
      } else if (c == '/') {
        out += "~1";
      } else {
        out += c;
      }
    }
  }

  static void AppendIndex(std::string& out, size_t index) {
    char buf[24];
    buf[0] = '/';
    const char* end = std::to_chars(buf + 1, buf + sizeof buf, index).ptr;
    out.append(buf, static_cast<size_t>(end - buf));
  }
};

bool Ignored(const DiffOptions& options, const std::string& pointer) {
  for (const std::string& prefix : options.ignored_pointers) {
    if (pointer.size() >= prefix.size() && pointer.compare(0, prefix.size(), prefix) == 0 &&
        (pointer.size() == prefix.size() || pointer[prefix.size()] == '/')) {
      return true;
    }
  }
  return false;
}

// The ignored pointers a path is still on its way to, as a bitmask over DiffOptions'
// ignored_pointers (the first 64; with more, Differ checks rendered pointers instead).
struct IgnoreTrack {
  uint64_t live = 0;  // pointers that the path so far is a proper prefix of (at a token boundary)
  size_t length = 0;  // length of the path's pointer text so far
};

// Matches "/" + the escaped form of `key` in `pointer` at `pos`; the end position or npos.
size_t MatchFieldToken(std::string_view pointer, size_t pos, std::string_view key) {
  if (pos >= pointer.size() || pointer[pos] != '/') return std::string_view::npos;
  ++pos;
  for (char c : key) {
    if (c == '~' || c == '/') {
      if (pos + 1 >= pointer.size() || pointer[pos] != '~' ||
          pointer[pos + 1] != (c == '~' ? '0' : '1')) {
        return std::string_view::npos;
      }
      pos += 2;
    } else {
      if (pos >= pointer.size() || pointer[pos] != c) return std::string_view::npos;
      ++pos;
    }
  }
  return pos;
}

size_t EscapedLength(std::string_view key) {
  size_t n = key.size() + 1;
  for (char c : key) n += (c == '~' || c == '/') ? 1 : 0;
  return n;
}

// One step of a path: a map field, or a list item (by index on each side; npos stands for "-").
struct Segment {
  std::string_view key;                     // map field, when keying == nullptr
  const Keying<JsonRef>* keying = nullptr;  // list item: renders the human selector from `item`
  JsonRef item;
  size_t index_a = 0;
  size_t index_b = 0;
};

class Differ {
 public:
  Differ(const DiffOptions& options, std::vector<FieldChange>* out)
      : options_(options), out_(out), tracked_(options.ignored_pointers.size() <= 64) {}

  void Run(const JsonRef& a, const JsonRef& b, const SchemaNode* schema) {
    IgnoreTrack root;
    bool ignored = false;
    if (tracked_) {
      for (size_t i = 0; i < options_.ignored_pointers.size(); ++i) {
        const std::string& p = options_.ignored_pointers[i];
        if (p.empty()) ignored = true;  // "" covers the whole object
        if (!p.empty() && p.front() == '/') root.live |= uint64_t{1} << i;
      }
    }
    Compare(&a, &b, schema, root, root, ignored);
  }

 private:
  // Advances `track` over a field token; true when an ignored pointer ends exactly here.
  bool AdvanceField(IgnoreTrack& track, std::string_view key) const {
    if (track.live == 0) return false;
    const size_t token_end = track.length + EscapedLength(key);
    bool hit = false;
    uint64_t live = 0;
    for (uint64_t bits = track.live; bits != 0; bits &= bits - 1) {
      int i = std::countr_zero(bits);
      std::string_view p = options_.ignored_pointers[i];
      // A matching pointer ends, or has its next '/', right after this token.
      if (p.size() < token_end || (p.size() > token_end && p[token_end] != '/')) continue;
      size_t end = MatchFieldToken(p, track.length, key);
      if (end == std::string_view::npos) continue;
      if (end == p.size()) {
        hit = true;
      } else if (p[end] == '/') {
        live |= uint64_t{1} << i;
      }
    }
    track.live = live;
    track.length = token_end;
    return hit;
  }

  // Same for a list index (npos: "-").
  bool AdvanceIndex(IgnoreTrack& track, size_t index) const {
    if (track.live == 0) return false;
    char buf[24];
    std::string_view token = "-";
    if (index != std::string_view::npos) {
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, index);
      token = std::string_view(buf, static_cast<size_t>(end - buf));
    }
    // Digits and "-" need no escaping, so the field matcher serves.
    return AdvanceField(track, token);
  }

  // a/b: nullptr when the field is absent on that side.
  void Compare(const JsonRef* a, const JsonRef* b, const SchemaNode* node, const IgnoreTrack& ta,
               const IgnoreTrack& tb, bool ignored) {
    if (options_.empty_equals_absent) {
      if (a != nullptr && IsEmptyValue(*a)) a = nullptr;
      if (b != nullptr && IsEmptyValue(*b)) b = nullptr;
    }
    if (options_.empty_equals_absent && (a == nullptr) != (b == nullptr) &&
        IsDeepEmpty(a != nullptr ? *a : *b)) {
      return;
    }
    if (a == nullptr && b == nullptr) return;
    if (tracked_ ? ignored : IgnoredRendered()) return;
    if (a == nullptr || b == nullptr) return Emit(a, b);
    if (Identical(a, b)) return;  // the root; fields and items are checked before descending
    if (a->is_object() && b->is_object() && GranularMap(node)) return Maps(*a, *b, node, ta, tb);
    if (a->is_array() && b->is_array()) {
      Keying<JsonRef> keying;
      if (KeyedList(node, &keying) && keying.Usable(*a) && keying.Usable(*b)) {
        return Lists(*a, *b, keying, node->Items(), ta, tb);
      }
      if (IsSetList(node)) {
        if (!SameSet(*a, *b)) Emit(a, b);
        return;
      }
    }
    if (!(*a == *b)) Emit(a, b);
  }

  // Equal values hold no change at any depth (keyed items pair with their equal selves, sets and
  // scalars compare equal, two empty values are both absent), so an identical subtree is skipped
  // after one hash check and a confirming comparison, before any path or schema bookkeeping; most
  // of an UPDATE is such subtrees.
  static bool Identical(const JsonRef* a, const JsonRef* b) {
    return a != nullptr && b != nullptr && a->hash() == b->hash() && *a == *b;
  }

  void Field(std::string_view key, const JsonRef* a, const JsonRef* b, const SchemaNode* node,
             const IgnoreTrack& ta, const IgnoreTrack& tb) {
    if (Identical(a, b)) return;
    IgnoreTrack ca = ta, cb = tb;
    bool ignored = false;
    if (tracked_) {
      ignored = AdvanceField(ca, key);
      ignored = AdvanceField(cb, key) || ignored;
    }
    Segment segment;
    segment.key = key;
    path_.push_back(segment);
    Compare(a, b, node != nullptr ? node->Child(key) : nullptr, ca, cb, ignored);
    path_.pop_back();
  }

  void Item(const Keying<JsonRef>& keying, const JsonRef& item, size_t ia, size_t ib,
            const JsonRef* a, const JsonRef* b, const SchemaNode* item_node, const IgnoreTrack& ta,
            const IgnoreTrack& tb) {
    if (Identical(a, b)) return;
    IgnoreTrack ca = ta, cb = tb;
    bool ignored = false;
    if (tracked_) {
      ignored = AdvanceIndex(ca, ia);
      ignored = AdvanceIndex(cb, ib) || ignored;
    }
    path_.push_back(Segment{{}, &keying, item, ia, ib});
    Compare(a, b, item_node, ca, cb, ignored);
    path_.pop_back();
  }

  // Both maps hold their members in key order, so one merge pass pairs the fields; fields only
  // `b` has come after all of `a`'s, as documented.
  void Maps(const JsonRef& a, const JsonRef& b, const SchemaNode* node, const IgnoreTrack& ta,
            const IgnoreTrack& tb) {
    // Indices of b's members that a lacks; small objects need no allocation.
    constexpr size_t kInline = 32;
    size_t inline_only_b[kInline];
    std::vector<size_t> more_only_b;
    size_t only_b_count = 0;
    auto note_only_b = [&](size_t j) {
      if (only_b_count < kInline) {
        inline_only_b[only_b_count] = j;
      } else {
        more_only_b.push_back(j);
      }
      ++only_b_count;
    };
    const size_t na = a.size(), nb = b.size();
    size_t jb = 0;
    for (size_t ia = 0; ia < na; ++ia) {
      const std::string_view key = a.key(ia);
      int order = 1;
      while (jb < nb && (order = b.key(jb).compare(key)) < 0) note_only_b(jb++);
      const JsonRef va = a.value(ia);
      if (jb < nb && order == 0) {
        const JsonRef vb = b.value(jb);
        Field(key, &va, &vb, node, ta, tb);
        ++jb;
      } else {
        Field(key, &va, nullptr, node, ta, tb);
      }
    }
    for (; jb < nb; ++jb) note_only_b(jb);
    for (size_t k = 0; k < only_b_count; ++k) {
      const size_t j = k < kInline ? inline_only_b[k] : more_only_b[k - kInline];
      const JsonRef vb = b.value(j);
      Field(b.key(j), nullptr, &vb, node, ta, tb);
    }
  }

  void Lists(const JsonRef& a, const JsonRef& b, const Keying<JsonRef>& keying,
             const SchemaNode* item_node, const IgnoreTrack& ta, const IgnoreTrack& tb) {
    constexpr size_t kAbsent = std::string_view::npos;
    const size_t na = a.size(), nb = b.size();
    for (size_t i = 0; i < na; ++i) {
      const JsonRef ai = a[i];
      size_t j = 0;
      while (j < nb && !keying.SameKey(ai, b[j])) ++j;
      const bool matched = j < nb;
      const JsonRef bj = matched ? b[j] : JsonRef();
      Item(keying, ai, i, matched ? j : kAbsent, &ai, matched ? &bj : nullptr, item_node, ta, tb);
    }
    for (size_t j = 0; j < nb; ++j) {
      const JsonRef bj = b[j];
      bool matched = false;
      for (size_t i = 0; i < na && !matched; ++i) matched = keying.SameKey(a[i], bj);
      if (matched) continue;
      Item(keying, bj, kAbsent, j, nullptr, &bj, item_node, ta, tb);
    }
  }

  // The pointer into the old (`old_side`) or new object of the current path.
  std::string RenderPointer(bool old_side) const {
    std::string out;
    for (const Segment& s : path_) {
      if (s.keying == nullptr) {
        PathBuilder::AppendPointerToken(out, s.key);
      } else {
        size_t index = old_side ? s.index_a : s.index_b;
        if (index == std::string_view::npos) {
          out += "/-";
        } else {
          PathBuilder::AppendIndex(out, index);
        }
      }
    }
    return out;
  }

  std::string RenderHuman() const {
    std::string out;
    for (const Segment& s : path_) {
      if (s.keying == nullptr) {
        PathBuilder::AppendHumanField(out, s.key);
      } else {
        s.keying->AppendSelector(out, s.item);
      }
    }
    return out;
  }

  bool IgnoredRendered() const {
    return Ignored(options_, RenderPointer(true)) || Ignored(options_, RenderPointer(false));
  }

  void Emit(const JsonRef* a, const JsonRef* b) {
    FieldChange c;
    c.path = RenderHuman();
    c.old_pointer = RenderPointer(true);
    c.new_pointer = RenderPointer(false);
    if (a != nullptr) c.old_value = a->ToJson();
    if (b != nullptr) c.new_value = b->ToJson();
    out_->push_back(std::move(c));
  }

  const DiffOptions& options_;
  std::vector<FieldChange>* out_;
  const bool tracked_;  // ignored pointers tracked by IgnoreTrack (at most 64 of them)
  std::vector<Segment> path_;
};

class LeafLister {
 public:
  LeafLister(const DiffOptions& options, std::vector<FieldPath>* out)
      : options_(options), out_(out) {}

  void Walk(const Json& v, const SchemaNode* node) {
    if (options_.empty_equals_absent && IsEmptyValue(v) && !p_.pa.empty()) return;
    if (Ignored(options_, p_.pa)) return;
    if (v.is_object() && GranularMap(node) && !v.empty()) {
      for (auto it = v.begin(); it != v.end(); ++it) {
        auto mark = p_.mark();
        p_.PushField(it.key());
        Walk(*it, node != nullptr ? node->Child(it.key()) : nullptr);
        p_.reset(mark);
      }
      return;
    }
    Keying<Json> keying;
    if (v.is_array() && !v.empty() && KeyedList(node, &keying) && keying.Usable(v)) {
      for (size_t i = 0; i < v.size(); ++i) {
        auto mark = p_.mark();
        keying.AppendSelector(p_.human, v[i]);
        PathBuilder::AppendIndex(p_.pa, i);
        Walk(v[i], node->Items());
        p_.reset(mark);
      }
      return;
    }
    out_->push_back(FieldPath{p_.human, p_.pa});
  }

 private:
  const DiffOptions& options_;
  std::vector<FieldPath>* out_;
  PathBuilder p_;
};

// ---- human path parsing ----------------------------------------------------------------------

// Reads a JSON string literal starting at path[pos] == '"'; advances pos past it.
bool ReadQuoted(std::string_view path, size_t& pos, std::string* raw) {
  size_t start = pos++;
  while (pos < path.size() && path[pos] != '"') {
    if (path[pos] == '\\') ++pos;
    ++pos;
  }
  if (pos >= path.size()) return false;
  ++pos;
  *raw = std::string(path.substr(start, pos - start));
  return true;
}

Status BadPath(std::string_view path, std::string_view what) {
  return InvalidArgumentError("invalid field path \"" + std::string(path) +
                              "\": " + std::string(what));
}

}  // namespace

std::string HumanFieldSegment(std::string_view key) {
  std::string out;
  PathBuilder::AppendHumanField(out, key);
  return out;
}

std::vector<FieldChange> DiffObjects(const JsonRef& a, const JsonRef& b, const SchemaNode* schema,
                                     const DiffOptions& options) {
  std::vector<FieldChange> out;
  Differ differ(options, &out);
  differ.Run(a, b, schema);
  return out;
}

std::vector<FieldChange> DiffObjects(const Json& a, const Json& b, const SchemaNode* schema,
                                     const DiffOptions& options) {
  const JsonDoc da = JsonDoc::FromJson(a);
  const JsonDoc db = JsonDoc::FromJson(b);
  return DiffObjects(da.root(), db.root(), schema, options);
}

std::vector<FieldPath> EnumerateLeaves(const Json& object, const SchemaNode* schema,
                                       const DiffOptions& options) {
  std::vector<FieldPath> out;
  LeafLister lister(options, &out);
  lister.Walk(object, schema);
  return out;
}

StatusOr<std::string> HumanPathToPointer(const Json& object, std::string_view path,
                                         const SchemaNode* schema, const Json** value) {
  const Json* cur = &object;
  const SchemaNode* node = schema;
  std::string pointer;
  size_t pos = 0;
  auto not_found = [&](std::string_view at) {
    return NotFoundError("field path \"" + std::string(path) + "\": " + std::string(at) +
                         " not found");
  };
  while (pos < path.size()) {
    if (path[pos] == '.') {
      if (pos == 0) return BadPath(path, "leading '.'");
      ++pos;
    }
    if (pos < path.size() && path[pos] == '[') {
      ++pos;
      if (pos < path.size() && path[pos] == '"') {
        std::string raw;
        if (!ReadQuoted(path, pos, &raw) || pos >= path.size() || path[pos] != ']') {
          return BadPath(path, "unterminated [\"...\"]");
        }
        ++pos;
        auto key = ParseJson(raw, "field path");
        if (!key.ok() || !key->is_string()) return BadPath(path, "bad quoted key");
        const std::string& k = key->get_ref<const std::string&>();
        if (!cur->is_object() || !cur->contains(k)) return not_found(path.substr(0, pos));
        cur = &(*cur)[k];
        node = node != nullptr ? node->Child(k) : nullptr;
        PathBuilder::AppendPointerToken(pointer, k);
        continue;
      }
      // Selector: "N" or "k=v,k2=v2" (values may be JSON-quoted).
      size_t start = pos;
      while (pos < path.size() && path[pos] != ']') {
        if (path[pos] == '"') {
          std::string ignored;
          if (!ReadQuoted(path, pos, &ignored)) return BadPath(path, "unterminated quote");
        } else {
          ++pos;
        }
      }
      if (pos >= path.size()) return BadPath(path, "unterminated [");
      std::string_view selector = path.substr(start, pos - start);
      ++pos;
      if (!cur->is_array()) return not_found(path.substr(0, pos));
      if (!selector.empty() && selector.find('=') == std::string_view::npos) {
        size_t index = 0;
        auto [p, ec] = std::from_chars(selector.data(), selector.data() + selector.size(), index);
        if (ec != std::errc() || p != selector.data() + selector.size()) {
          return BadPath(path, "bad list index");
        }
        if (index >= cur->size()) return not_found(path.substr(0, pos));
        cur = &(*cur)[index];
        node = node != nullptr ? node->Items() : nullptr;
        PathBuilder::AppendIndex(pointer, index);
        continue;
      }
      Keying<Json> keying;
      const ListInfo* info = node != nullptr ? node->list() : nullptr;
      bool keyed = KeyedList(node, &keying);
      size_t found = cur->size();
      std::string rendered;  // "[k=v,...]" of one item
      for (size_t i = 0; i < cur->size() && found == cur->size(); ++i) {
        const Json& item = (*cur)[i];
        if (!item.is_object()) continue;
        if (keyed && keying.Keyable(item)) {
          rendered.clear();
          keying.AppendSelector(rendered, item);
          if (rendered.size() >= 2 &&
              std::string_view(rendered).substr(1, rendered.size() - 2) == selector) {
            found = i;
          }
          continue;
        }
        // No schema keys: every k=v pair must match the item's fields.
        bool all = true;
        size_t s = 0;
        while (s <= selector.size() && all) {
          size_t comma = s;
          bool in_quote = false;
          while (comma < selector.size() && (in_quote || selector[comma] != ',')) {
            if (selector[comma] == '"') in_quote = !in_quote;
            if (selector[comma] == '\\') ++comma;
            ++comma;
          }
          std::string_view pair = selector.substr(s, comma - s);
          size_t eq = pair.find('=');
          if (eq == std::string_view::npos) return BadPath(path, "bad selector");
          auto field = item.find(pair.substr(0, eq));
          std::string value;
          if (field != item.end()) AppendKeyValue(value, *field);
          all = field != item.end() && value == pair.substr(eq + 1);
          s = comma + 1;
        }
        if (all) found = i;
      }
      (void)info;
      if (found == cur->size()) return not_found(path.substr(0, pos));
      cur = &(*cur)[found];
      node = node != nullptr ? node->Items() : nullptr;
      PathBuilder::AppendIndex(pointer, found);
      continue;
    }
    size_t end = pos;
    while (end < path.size() && path[end] != '.' && path[end] != '[') ++end;
    std::string_view key = path.substr(pos, end - pos);
    if (key.empty()) return BadPath(path, "empty field name");
    pos = end;
    if (!cur->is_object()) return not_found(path.substr(0, pos));
    auto it = cur->find(key);
    if (it == cur->end()) return not_found(path.substr(0, pos));
    cur = &*it;
    node = node != nullptr ? node->Child(key) : nullptr;
    PathBuilder::AppendPointerToken(pointer, key);
  }
  if (value != nullptr) *value = cur;
  return pointer;
}

}  // namespace driftguard::core

// The field diff as it was before it moved to core::JsonDoc: the same walk over nlohmann trees
// (core::Json), kept as the test oracle of core::DiffObjects. The differential tests and the guard
// fuzz target check that both give the same changes (paths, pointers, values, order) for the same
// objects; never used by the driftguard binary.
#include "tests/support/field_diff_reference.h"

#include <bit>
#include <charconv>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

namespace driftguard::testing {
namespace {

using core::DiffOptions;
using core::FieldChange;
using core::Json;
using core::ListInfo;
using core::ListType;
using core::SchemaKind;
using core::SchemaNode;

bool IsEmptyValue(const Json& v) {
  return v.is_null() || ((v.is_object() || v.is_array()) && v.empty());
}

// Null, [], {} or a map holding only such values (`metadata: {labels: {}}`).
bool IsDeepEmpty(const Json& v) {
  if (!v.is_object()) return IsEmptyValue(v);
  for (const Json& child : v) {
    if (!IsDeepEmpty(child)) return false;
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

void AppendKeyValue(std::string& out, const Json& v) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (IsPlainKeyValue(s)) {
      out += s;
    } else {
      AppendJsonString(out, s);
    }
  } else {
    out += v.dump();
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

// Whether `v` equals the schema default `literal`, without allocating.
bool EqualsDefault(const Json& v, std::string_view literal) {
  if (literal.empty()) return false;
  if (literal.front() == '"') {
    if (!v.is_string() || literal.find('\\') != std::string_view::npos) return false;
    return v.get_ref<const std::string&>() == literal.substr(1, literal.size() - 2);
  }
  if (literal == "true" || literal == "false")
    return v.is_boolean() && v.get<bool>() == (literal == "true");
  if (v.is_number_integer() || v.is_number_unsigned()) {
    long long parsed = 0;
    auto [p, ec] = std::from_chars(literal.data(), literal.data() + literal.size(), parsed);
    if (ec != std::errc() || p != literal.data() + literal.size()) return false;
    return v.is_number_unsigned() ? parsed >= 0 && v.get<unsigned long long>() ==
                                                       static_cast<unsigned long long>(parsed)
                                  : v.get<long long>() == parsed;
  }
  if (v.is_number_float()) {
    double parsed = 0;
    auto [p, ec] = std::from_chars(literal.data(), literal.data() + literal.size(), parsed);
    return ec == std::errc() && p == literal.data() + literal.size() && v.get<double>() == parsed;
  }
  return false;
}

// Keying of associative list items by their compare keys (with schema defaults).
struct Keying {
  std::span<const std::string_view> keys;
  std::span<const std::string_view> defaults;

  // The i-th key's value, or nullptr when the item falls back to the default (defaults[i]).
  const Json* Value(const Json& item, size_t i) const {
    auto it = item.find(keys[i]);
    return it == item.end() || it->is_null() ? nullptr : &*it;
  }

  bool Keyable(const Json& item) const {
    if (!item.is_object()) return false;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (Value(item, i) == nullptr && (i >= defaults.size() || defaults[i].empty())) return false;
    }
    return true;
  }

  bool SameKey(const Json& a, const Json& b) const {
    for (size_t i = 0; i < keys.size(); ++i) {
      const Json* va = Value(a, i);
      const Json* vb = Value(b, i);
      if (va != nullptr && vb != nullptr) {
        if (*va != *vb) return false;
      } else if (va != nullptr) {
        if (!EqualsDefault(*va, defaults[i])) return false;
      } else if (vb != nullptr) {
        if (!EqualsDefault(*vb, defaults[i])) return false;
      }
    }
    return true;
  }

  void AppendSelector(std::string& out, const Json& item) const {
    out += '[';
    for (size_t i = 0; i < keys.size(); ++i) {
      if (i > 0) out += ',';
      out += keys[i];
      out += '=';
      const Json* v = Value(item, i);
      if (v != nullptr) {
        AppendKeyValue(out, *v);
      } else {
        AppendDefault(out, defaults[i]);
      }
    }
    out += ']';
  }

  // Every item keyable and no two items of `list` share a key.
  bool Usable(const Json& list) const {
    for (size_t i = 0; i < list.size(); ++i) {
      if (!Keyable(list[i])) return false;
      for (size_t j = 0; j < i; ++j) {
        if (SameKey(list[i], list[j])) return false;
      }
    }
    return true;
  }
};

bool KeyedList(const SchemaNode* node, Keying* keying) {
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

bool SameSet(const Json& a, const Json& b) {
  // Sets hold distinct values; compare membership both ways (lists are short).
  for (const Json& x : a) {
    bool found = false;
    for (const Json& y : b) found = found || x == y;
    if (!found) return false;
  }
  for (const Json& y : b) {
    bool found = false;
    for (const Json& x : a) found = found || x == y;
    if (!found) return false;
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
    out += '/';
    out += std::to_string(index);
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
  std::string_view key;            // map field, when keying == nullptr
  const Keying* keying = nullptr;  // list item: renders the human selector from `item`
  const Json* item = nullptr;
  size_t index_a = 0;
  size_t index_b = 0;
};

class Differ {
 public:
  Differ(const DiffOptions& options, std::vector<FieldChange>* out)
      : options_(options), out_(out), tracked_(options.ignored_pointers.size() <= 64) {}

  void Run(const Json& a, const Json& b, const SchemaNode* schema) {
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

  void Compare(const Json* a, const Json* b, const SchemaNode* node, const IgnoreTrack& ta,
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
    if (a->is_object() && b->is_object() && GranularMap(node)) return Maps(*a, *b, node, ta, tb);
    if (a->is_array() && b->is_array()) {
      Keying keying;
      if (KeyedList(node, &keying) && keying.Usable(*a) && keying.Usable(*b)) {
        return Lists(*a, *b, keying, node->Items(), ta, tb);
      }
      if (IsSetList(node)) {
        if (!SameSet(*a, *b)) Emit(a, b);
        return;
      }
    }
    if (*a != *b) Emit(a, b);
  }

  void Field(std::string_view key, const Json* a, const Json* b, const SchemaNode* node,
             const IgnoreTrack& ta, const IgnoreTrack& tb) {
    IgnoreTrack ca = ta, cb = tb;
    bool ignored = false;
    if (tracked_) {
      ignored = AdvanceField(ca, key);
      ignored = AdvanceField(cb, key) || ignored;
    }
    path_.push_back(Segment{key});
    Compare(a, b, node != nullptr ? node->Child(key) : nullptr, ca, cb, ignored);
    path_.pop_back();
  }

  void Item(const Keying& keying, const Json& item, size_t ia, size_t ib, const Json* a,
            const Json* b, const SchemaNode* item_node, const IgnoreTrack& ta,
            const IgnoreTrack& tb) {
    IgnoreTrack ca = ta, cb = tb;
    bool ignored = false;
    if (tracked_) {
      ignored = AdvanceIndex(ca, ia);
      ignored = AdvanceIndex(cb, ib) || ignored;
    }
    path_.push_back(Segment{{}, &keying, &item, ia, ib});
    Compare(a, b, item_node, ca, cb, ignored);
    path_.pop_back();
  }

  // Both maps iterate in key order (Json objects are sorted maps), so one merge pass pairs the
  // fields; fields only `b` has come after all of `a`'s, as documented.
  void Maps(const Json& a, const Json& b, const SchemaNode* node, const IgnoreTrack& ta,
            const IgnoreTrack& tb) {
    std::vector<Json::const_iterator> only_b;
    auto ib = b.begin();
    for (auto ia = a.begin(); ia != a.end(); ++ia) {
      const std::string& key = ia.key();
      int order = 1;
      while (ib != b.end() && (order = ib.key().compare(key)) < 0) {
        only_b.push_back(ib);
        ++ib;
      }
      if (ib != b.end() && order == 0) {
        Field(key, &*ia, &*ib, node, ta, tb);
        ++ib;
      } else {
        Field(key, &*ia, nullptr, node, ta, tb);
      }
    }
    for (; ib != b.end(); ++ib) only_b.push_back(ib);
    for (const Json::const_iterator& it : only_b) Field(it.key(), nullptr, &*it, node, ta, tb);
  }

  void Lists(const Json& a, const Json& b, const Keying& keying, const SchemaNode* item_node,
             const IgnoreTrack& ta, const IgnoreTrack& tb) {
    constexpr size_t kAbsent = std::string_view::npos;
    for (size_t i = 0; i < a.size(); ++i) {
      size_t j = 0;
      while (j < b.size() && !keying.SameKey(a[i], b[j])) ++j;
      bool matched = j < b.size();
      Item(keying, a[i], i, matched ? j : kAbsent, &a[i], matched ? &b[j] : nullptr, item_node, ta,
           tb);
    }
    for (size_t j = 0; j < b.size(); ++j) {
      bool matched = false;
      for (size_t i = 0; i < a.size() && !matched; ++i) matched = keying.SameKey(a[i], b[j]);
      if (matched) continue;
      Item(keying, b[j], kAbsent, j, nullptr, &b[j], item_node, ta, tb);
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
        s.keying->AppendSelector(out, *s.item);
      }
    }
    return out;
  }

  bool IgnoredRendered() const {
    return Ignored(options_, RenderPointer(true)) || Ignored(options_, RenderPointer(false));
  }

  void Emit(const Json* a, const Json* b) {
    FieldChange c;
    c.path = RenderHuman();
    c.old_pointer = RenderPointer(true);
    c.new_pointer = RenderPointer(false);
    if (a != nullptr) c.old_value = *a;
    if (b != nullptr) c.new_value = *b;
    out_->push_back(std::move(c));
  }

  const DiffOptions& options_;
  std::vector<FieldChange>* out_;
  const bool tracked_;  // ignored pointers tracked by IgnoreTrack (at most 64 of them)
  std::vector<Segment> path_;
};

}  // namespace

std::vector<FieldChange> DiffObjectsOnJsonTrees(const Json& a, const Json& b,
                                                const SchemaNode* schema,
                                                const DiffOptions& options) {
  std::vector<FieldChange> out;
  Differ differ(options, &out);
  differ.Run(a, b, schema);
  return out;
}

std::string RenderChanges(const std::vector<FieldChange>& changes) {
  std::string out;
  for (const FieldChange& c : changes) {
    out += c.path + " | " + c.old_pointer + " | " + c.new_pointer + " | " +
           (c.old_value ? c.old_value->dump() : "<absent>") + " | " +
           (c.new_value ? c.new_value->dump() : "<absent>") + "\n";
  }
  return out;
}

}  // namespace driftguard::testing

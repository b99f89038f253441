#include "core/field_diff.h"

#include <charconv>
#include <string>
#include <utility>

namespace driftguard::core {
namespace {

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

class Differ {
 public:
  Differ(const DiffOptions& options, std::vector<FieldChange>* out)
      : options_(options), out_(out) {}

  void Compare(const Json* a, const Json* b, const SchemaNode* node) {
    if (options_.empty_equals_absent) {
      if (a != nullptr && IsEmptyValue(*a)) a = nullptr;
      if (b != nullptr && IsEmptyValue(*b)) b = nullptr;
    }
    if (options_.empty_equals_absent && (a == nullptr) != (b == nullptr) &&
        IsDeepEmpty(a != nullptr ? *a : *b)) {
      return;
    }
    if (a == nullptr && b == nullptr) return;
    if (Ignored(options_, p_.pa) || Ignored(options_, p_.pb)) return;
    if (a == nullptr || b == nullptr) return Emit(a, b);
    if (a->is_object() && b->is_object() && GranularMap(node)) return Maps(*a, *b, node);
    if (a->is_array() && b->is_array()) {
      Keying keying;
      if (KeyedList(node, &keying) && keying.Usable(*a) && keying.Usable(*b)) {
        return Lists(*a, *b, keying, node->Items());
      }
      if (IsSetList(node)) {
        if (!SameSet(*a, *b)) Emit(a, b);
        return;
      }
    }
    if (*a != *b) Emit(a, b);
  }

 private:
  void Maps(const Json& a, const Json& b, const SchemaNode* node) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto mark = p_.mark();
      p_.PushField(it.key());
      auto other = b.find(it.key());
      Compare(&*it, other == b.end() ? nullptr : &*other,
              node != nullptr ? node->Child(it.key()) : nullptr);
      p_.reset(mark);
    }
    for (auto it = b.begin(); it != b.end(); ++it) {
      if (a.contains(it.key())) continue;
      auto mark = p_.mark();
      p_.PushField(it.key());
      Compare(nullptr, &*it, node != nullptr ? node->Child(it.key()) : nullptr);
      p_.reset(mark);
    }
  }

  void Lists(const Json& a, const Json& b, const Keying& keying, const SchemaNode* item_node) {
    for (size_t i = 0; i < a.size(); ++i) {
      size_t j = 0;
      while (j < b.size() && !keying.SameKey(a[i], b[j])) ++j;
      auto mark = p_.mark();
      keying.AppendSelector(p_.human, a[i]);
      PathBuilder::AppendIndex(p_.pa, i);
      if (j < b.size()) {
        PathBuilder::AppendIndex(p_.pb, j);
      } else {
        p_.pb += "/-";
      }
      Compare(&a[i], j < b.size() ? &b[j] : nullptr, item_node);
      p_.reset(mark);
    }
    for (size_t j = 0; j < b.size(); ++j) {
      bool matched = false;
      for (size_t i = 0; i < a.size() && !matched; ++i) matched = keying.SameKey(a[i], b[j]);
      if (matched) continue;
      auto mark = p_.mark();
      keying.AppendSelector(p_.human, b[j]);
      p_.pa += "/-";
      PathBuilder::AppendIndex(p_.pb, j);
      Compare(nullptr, &b[j], item_node);
      p_.reset(mark);
    }
  }

  void Emit(const Json* a, const Json* b) {
    FieldChange c;
    c.path = p_.human;
    c.old_pointer = p_.pa;
    c.new_pointer = p_.pb;
    if (a != nullptr) c.old_value = *a;
    if (b != nullptr) c.new_value = *b;
    out_->push_back(std::move(c));
  }

  const DiffOptions& options_;
  std::vector<FieldChange>* out_;
  PathBuilder p_;
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
    Keying keying;
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

std::vector<FieldChange> DiffObjects(const Json& a, const Json& b, const SchemaNode* schema,
                                     const DiffOptions& options) {
  std::vector<FieldChange> out;
  Differ differ(options, &out);
  differ.Compare(&a, &b, schema);
  return out;
}

std::vector<FieldPath> EnumerateLeaves(const Json& object, const SchemaNode* schema,
                                       const DiffOptions& options) {
  std::vector<FieldPath> out;
  LeafLister lister(options, &out);
  lister.Walk(object, schema);
  return out;
}

StatusOr<std::string> HumanPathToPointer(const Json& object, std::string_view path,
                                         const SchemaNode* schema) {
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
      Keying keying;
      const ListInfo* info = node != nullptr ? node->list() : nullptr;
      bool keyed = KeyedList(node, &keying);
      size_t found = cur->size();
      for (size_t i = 0; i < cur->size() && found == cur->size(); ++i) {
        const Json& item = (*cur)[i];
        if (!item.is_object()) continue;
        std::string rendered;
        if (keyed && keying.Keyable(item)) {
          keying.AppendSelector(rendered, item);
          rendered = rendered.substr(1, rendered.size() - 2);
          if (rendered == selector) found = i;
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
  return pointer;
}

}  // namespace driftguard::core

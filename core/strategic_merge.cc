#include "core/strategic_merge.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace driftguard::core {
namespace {

constexpr std::string_view kPatchDirective = "$patch";
constexpr std::string_view kRetainKeys = "$retainKeys";
constexpr std::string_view kDeleteFromPrimitiveList = "$deleteFromPrimitiveList/";
constexpr std::string_view kSetElementOrder = "$setElementOrder/";

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string FieldPath(const std::string& parent, std::string_view field) {
  if (parent.empty()) return std::string(field);
  return parent + "." + std::string(field);
}

std::string IndexPath(const std::string& parent, size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

// The outcome of merging one value: a value, or "delete the field that held it".
struct Merged {
  Json value;
  bool deleted = false;
};

class Merger {
 public:
  explicit Merger(const StrategicMergeOptions& options) : options_(options) {}

  StatusOr<Merged> Value(const Json* original, const Json& patch, const SchemaNode* node,
                         const std::string& path) {
    if (patch.is_object()) return Map(original, patch, node, path);
    if (patch.is_array()) return List(original, patch, node, path);
    return Merged{patch};
  }

 private:
  Status Error(const std::string& path, const std::string& what) {
    return InvalidArgumentError("strategic merge patch: " + (path.empty() ? "<root>" : path) +
                                ": " + what);
  }

  // `{"$patch": "replace"}` inside a patch map or list: the directive's value, or "".
  StatusOr<std::string> Directive(const Json& map, const std::string& path) {
    auto it = map.find(kPatchDirective);
    if (it == map.end()) return std::string();
    if (!it->is_string()) return Error(path, "$patch must be a string");
    std::string d = it->get<std::string>();
    if (d != "replace" && d != "delete" && d != "merge") {
      return Error(path, "unknown $patch directive \"" + d + "\"");
    }
    return d;
  }

  StatusOr<Merged> Map(const Json* original, const Json& patch, const SchemaNode* node,
                       const std::string& path) {
    ASSIGN_OR_RETURN(std::string directive, Directive(patch, path));
    if (directive == "delete") return Merged{Json(), true};
    bool replace = directive == "replace" ||
                   (node != nullptr && (node->patch_strategy() & kPatchStrategyReplace) != 0);
    static const Json kEmpty = Json::object();
    const Json& base =
        (!replace && original != nullptr && original->is_object()) ? *original : kEmpty;
    Json result = base;
    const Json* retain = nullptr;
    for (const auto& [key, value] : patch.items()) {
      if (key == kPatchDirective) continue;
      if (!options_.kustomize_compat) {
        if (key == kRetainKeys) {
          retain = &value;
          continue;
        }
        if (StartsWith(key, kSetElementOrder)) continue;
        if (StartsWith(key, kDeleteFromPrimitiveList)) {
          RETURN_IF_ERROR(DeleteFromPrimitiveList(
              result, key.substr(kDeleteFromPrimitiveList.size()), value, path));
          continue;
        }
      }
      if (value.is_null()) {
        result.erase(key);
        continue;
      }
      const SchemaNode* child = node != nullptr ? node->Child(key) : nullptr;
      auto existing = result.find(key);
      const Json* before = existing == result.end() ? nullptr : &*existing;
      ASSIGN_OR_RETURN(Merged merged, Value(before, value, child, FieldPath(path, key)));
      if (merged.deleted) {
        result.erase(key);
      } else {
        result[key] = std::move(merged.value);
      }
    }
    if (retain != nullptr) {
      if (!retain->is_array()) return Error(path, "$retainKeys must be a list of strings");
      for (const Json& k : *retain) {
        if (!k.is_string()) return Error(path, "$retainKeys must be a list of strings");
      }
      for (auto it = result.begin(); it != result.end();) {
        bool keep = false;
        for (const Json& k : *retain) keep |= k.get_ref<const std::string&>() == it.key();
        it = keep ? std::next(it) : result.erase(it);
      }
    }
    return Merged{std::move(result)};
  }

  Status DeleteFromPrimitiveList(Json& map, const std::string& field, const Json& values,
                                 const std::string& path) {
    if (!values.is_array()) {
      return Error(FieldPath(path, kDeleteFromPrimitiveList) + field, "must be a list");
    }
    auto it = map.find(field);
    if (it == map.end() || !it->is_array()) return OkStatus();
    Json kept = Json::array();
    for (const Json& item : *it) {
      bool drop = false;
      for (const Json& v : values) drop |= item == v;
      if (!drop) kept.push_back(item);
    }
    *it = std::move(kept);
    return OkStatus();
  }

  StatusOr<Merged> List(const Json* original, const Json& patch, const SchemaNode* node,
                        const std::string& path) {
    const ListInfo* info = node != nullptr ? node->list() : nullptr;
    const SchemaNode* item_node = node != nullptr ? node->Items() : nullptr;
    bool merge = info != nullptr && (info->patch_strategy & kPatchStrategyMerge) != 0;
    // `{$patch: replace}` as an item replaces the whole list with the other items.
    bool replace = false;
    Json items = Json::array();
    for (size_t i = 0; i < patch.size(); ++i) {
      const Json& p = patch[i];
      if (p.is_object() && p.size() == 1 && p.contains(kPatchDirective)) {
        ASSIGN_OR_RETURN(std::string d, Directive(p, IndexPath(path, i)));
        if (d == "replace") {
          replace = true;
          continue;
        }
      }
      items.push_back(p);
    }
    if (!merge || replace) {
      Json out = Json::array();
      for (size_t i = 0; i < items.size(); ++i) {
        if (items[i].is_object()) {
          ASSIGN_OR_RETURN(Merged m, Map(nullptr, items[i], item_node, IndexPath(path, i)));
          if (!m.deleted) out.push_back(std::move(m.value));
        } else {
          out.push_back(items[i]);
        }
      }
      return Merged{std::move(out)};
    }
    static const Json kEmpty = Json::array();
    const Json& base = (original != nullptr && original->is_array()) ? *original : kEmpty;
    if (info->merge_keys.empty()) return Merged{Union(base, items)};
    return MergeByKeys(base, items, *info, item_node, path);
  }

  // Primitive list with strategy merge: patch values first, then original values not in the patch.
  static Json Union(const Json& base, const Json& items) {
    Json out = Json::array();
    auto contains = [&out](const Json& v) {
      for (const Json& o : out) {
        if (o == v) return true;
      }
      return false;
    };
    for (const Json& v : items) {
      if (!contains(v)) out.push_back(v);
    }
    for (const Json& v : base) {
      if (!contains(v)) out.push_back(v);
    }
    return out;
  }

  enum class KeyMatch { kNone, kExact, kPartial };

  static KeyMatch MatchKeys(const Json& a, const Json& b, std::span<const std::string_view> keys) {
    bool any_shared = false;
    bool partial = false;
    for (std::string_view key : keys) {
      auto ia = a.find(key);
      auto ib = b.find(key);
      bool ha = ia != a.end();
      bool hb = ib != b.end();
      if (ha && hb) {
        if (*ia != *ib) return KeyMatch::kNone;
        any_shared = true;
      } else if (ha != hb) {
        partial = true;
      }
    }
    if (partial) return any_shared ? KeyMatch::kPartial : KeyMatch::kNone;
    return KeyMatch::kExact;
  }

  // Output order: by default (and for single-key lists in kustomize) the patch's items in patch
  // order, then the original items the patch did not mention. kustomize orders lists merged by
  // several keys differently when every patch item carries all keys: new items first, in patch
  // order, then the original items in original order with matched ones merged in place.
  StatusOr<Json> MergeByKeysImpl(const Json& base, const Json& items, const ListInfo& info,
                                 const SchemaNode* item_node, const std::string& path) {
    bool in_place = options_.kustomize_compat && info.merge_keys.size() > 1;
    for (const Json& p : items) {
      if (!p.is_object()) continue;
      for (std::string_view key : info.merge_keys) in_place = in_place && p.contains(key);
    }
    std::vector<char> used(base.size(), 0);  // 1 = merged or deleted by the patch
    std::vector<Json> replaced(in_place ? base.size() : 0);
    std::vector<char> has_replacement(in_place ? base.size() : 0, 0);
    Json out = Json::array();
    for (size_t i = 0; i < items.size(); ++i) {
      const Json& p = items[i];
      std::string item_path = IndexPath(path, i);
      if (!p.is_object()) {
        return Error(item_path, "list item is not a map but the list merges by key \"" +
                                    std::string(info.merge_keys.front()) + "\"");
      }
      bool has_key = false;
      for (std::string_view key : info.merge_keys) has_key |= p.contains(key);
      if (!has_key) {
        return Error(item_path,
                     "list item has no merge key \"" + std::string(info.merge_keys.front()) + "\"");
      }
      ASSIGN_OR_RETURN(std::string directive, Directive(p, item_path));
      size_t match = base.size();
      bool partial = false;
      for (size_t j = 0; j < base.size(); ++j) {
        if (used[j] == 1 || !base[j].is_object()) continue;
        KeyMatch m = MatchKeys(base[j], p, info.merge_keys);
        if (m == KeyMatch::kExact) {
          match = j;
          break;
        }
        partial |= m == KeyMatch::kPartial;
      }
      if (directive == "delete") {
        if (match < base.size()) used[match] = 1;
        continue;
      }
      if (match == base.size() && partial && options_.kustomize_compat) continue;
      const Json* before = match < base.size() ? &base[match] : nullptr;
      if (match < base.size()) used[match] = 1;
      ASSIGN_OR_RETURN(Merged merged, Map(before, p, item_node, item_path));
      if (merged.deleted) continue;
      if (in_place && match < base.size()) {
        replaced[match] = std::move(merged.value);
        has_replacement[match] = 1;
      } else {
        out.push_back(std::move(merged.value));
      }
    }
    for (size_t j = 0; j < base.size(); ++j) {
      if (in_place && has_replacement[j] == 1) {
        out.push_back(std::move(replaced[j]));
      } else if (used[j] == 0) {
        out.push_back(base[j]);
      }
    }
    return out;
  }

  StatusOr<Merged> MergeByKeys(const Json& base, const Json& items, const ListInfo& info,
                               const SchemaNode* item_node, const std::string& path) {
    ASSIGN_OR_RETURN(Json out, MergeByKeysImpl(base, items, info, item_node, path));
    return Merged{std::move(out)};
  }

  const StrategicMergeOptions& options_;
};

// ---- JSON Patch ------------------------------------------------------------------------------

StatusOr<std::vector<std::string>> ParsePointer(std::string_view pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  if (pointer.front() != '/') return InvalidArgumentError("pointer must start with '/'");
  size_t pos = 1;
  while (true) {
    size_t next = pointer.find('/', pos);
    std::string_view raw =
        pointer.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos);
    std::string token;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~') {
        if (i + 1 >= raw.size() || (raw[i + 1] != '0' && raw[i + 1] != '1')) {
          return InvalidArgumentError("invalid escape in pointer");
        }
        token += raw[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        token += raw[i];
      }
    }
    tokens.push_back(std::move(token));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  return tokens;
}

// Array index per RFC 6901: "0" or digits without a leading zero.
bool ParseIndex(const std::string& token, size_t* index) {
  if (token.empty() || token.size() > 9 || (token.size() > 1 && token[0] == '0')) return false;
  size_t v = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  *index = v;
  return true;
}

Json* Walk(Json& doc, const std::vector<std::string>& tokens, size_t count) {
  Json* cur = &doc;
  for (size_t i = 0; i < count; ++i) {
    if (cur->is_object()) {
      auto it = cur->find(tokens[i]);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      size_t idx;
      if (!ParseIndex(tokens[i], &idx) || idx >= cur->size()) return nullptr;
      cur = &(*cur)[idx];
    } else {
      return nullptr;
    }
  }
  return cur;
}

class JsonPatcher {
 public:
  explicit JsonPatcher(Json doc) : doc_(std::move(doc)) {}

  Status Apply(const Json& ops) {
    if (!ops.is_array()) return InvalidArgumentError("json patch: operations must be a JSON array");
    for (size_t i = 0; i < ops.size(); ++i) {
      RETURN_IF_ERROR(ApplyOne(i, ops[i]));
    }
    return OkStatus();
  }

  Json& doc() { return doc_; }

 private:
  Status ApplyOne(size_t index, const Json& op) {
    std::string prefix = "json patch op " + std::to_string(index);
    if (!op.is_object()) return InvalidArgumentError(prefix + ": not a JSON object");
    auto op_it = op.find("op");
    auto path_it = op.find("path");
    if (op_it == op.end() || !op_it->is_string()) {
      return InvalidArgumentError(prefix + ": missing \"op\"");
    }
    if (path_it == op.end() || !path_it->is_string()) {
      return InvalidArgumentError(prefix + ": missing \"path\"");
    }
    const std::string& name = op_it->get_ref<const std::string&>();
    const std::string& path = path_it->get_ref<const std::string&>();
    prefix += " (" + name + " " + path + ")";
    auto fail = [&prefix](const std::string& what) {
      return InvalidArgumentError(prefix + ": " + what);
    };
    auto tokens = ParsePointer(path);
    if (!tokens.ok()) return fail(tokens.status().message());
    auto value_it = op.find("value");
    if (name == "add" || name == "replace" || name == "test") {
      if (value_it == op.end()) return fail("missing \"value\"");
    }
    if (name == "add") return Add(*tokens, *value_it, fail);
    if (name == "remove") {
      auto removed = Remove(*tokens, fail);
      return removed.ok() ? OkStatus() : removed.status();
    }
    if (name == "replace") {
      Json* target = Walk(doc_, *tokens, tokens->size());
      if (target == nullptr) return fail("path not found");
      *target = *value_it;
      return OkStatus();
    }
    if (name == "test") {
      Json* target = Walk(doc_, *tokens, tokens->size());
      if (target == nullptr) return fail("path not found");
      if (*target != *value_it) {
        return fail("test failed: value is " + target->dump() + ", expected " + value_it->dump());
      }
      return OkStatus();
    }
    if (name == "move" || name == "copy") {
      auto from_it = op.find("from");
      if (from_it == op.end() || !from_it->is_string()) return fail("missing \"from\"");
      auto from = ParsePointer(from_it->get_ref<const std::string&>());
      if (!from.ok()) return fail("from: " + from.status().message());
      Json* source = Walk(doc_, *from, from->size());
      if (source == nullptr) return fail("from path " + from_it->get<std::string>() + " not found");
      if (name == "copy") return Add(*tokens, Json(*source), fail);
      if (from->size() < tokens->size() &&
          std::equal(from->begin(), from->end(), tokens->begin())) {
        return fail("cannot move a value into itself");
      }
      if (*from == *tokens) return OkStatus();
      auto removed = Remove(*from, fail);
      if (!removed.ok()) return removed.status();
      return Add(*tokens, *removed, fail);
    }
    return fail("unknown op \"" + name + "\"");
  }

  template <typename Fail>
  Status Add(const std::vector<std::string>& tokens, const Json& value, Fail& fail) {
    if (tokens.empty()) {
      doc_ = value;
      return OkStatus();
    }
    Json* parent = Walk(doc_, tokens, tokens.size() - 1);
    if (parent == nullptr) return fail("parent path not found");
    const std::string& last = tokens.back();
    if (parent->is_object()) {
      (*parent)[last] = value;
      return OkStatus();
    }
    if (parent->is_array()) {
      if (last == "-") {
        parent->push_back(value);
        return OkStatus();
      }
      size_t idx;
      if (!ParseIndex(last, &idx)) return fail("invalid array index \"" + last + "\"");
      if (idx > parent->size()) return fail("array index " + last + " out of range");
      parent->insert(parent->begin() + static_cast<std::ptrdiff_t>(idx), value);
      return OkStatus();
    }
    return fail("parent is not an object or array");
  }

  template <typename Fail>
  StatusOr<Json> Remove(const std::vector<std::string>& tokens, Fail& fail) {
    if (tokens.empty()) return fail("cannot remove the whole document");
    Json* parent = Walk(doc_, tokens, tokens.size() - 1);
    if (parent == nullptr) return fail("path not found");
    const std::string& last = tokens.back();
    if (parent->is_object()) {
      auto it = parent->find(last);
      if (it == parent->end()) return fail("path not found");
      Json removed = std::move(*it);
      parent->erase(it);
      return removed;
    }
    if (parent->is_array()) {
      size_t idx;
      if (!ParseIndex(last, &idx) || idx >= parent->size()) return fail("path not found");
      Json removed = std::move((*parent)[idx]);
      parent->erase(parent->begin() + static_cast<std::ptrdiff_t>(idx));
      return removed;
    }
    return fail("path not found");
  }

  Json doc_;
};

}  // namespace

StatusOr<Json> StrategicMergePatch(const Json& original, const Json& patch,
                                   const SchemaNode* schema, const StrategicMergeOptions& options) {
  if (!original.is_object()) {
    return InvalidArgumentError("strategic merge patch: the original is not a JSON object");
  }
  if (!patch.is_object()) {
    return InvalidArgumentError("strategic merge patch: the patch is not a JSON object");
  }
  Merger merger(options);
  ASSIGN_OR_RETURN(Merged merged, merger.Value(&original, patch, schema, ""));
  if (merged.deleted) return Json();
  return std::move(merged.value);
}

StatusOr<Json> JsonPatch(const Json& doc, const Json& ops) {
  JsonPatcher patcher(doc);
  RETURN_IF_ERROR(patcher.Apply(ops));
  return std::move(patcher.doc());
}

}  // namespace driftguard::core

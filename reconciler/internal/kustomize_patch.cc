#include "reconciler/internal/kustomize_patch.h"

#include <map>
#include <optional>
#include <set>
#include <vector>

#include "core/schema.h"

namespace driftguard::reconciler::internal {
namespace {

using core::Json;
using core::SchemaNode;

bool IsDirectiveKey(const std::string& k) { return !k.empty() && k[0] == '$'; }

std::string DirectiveOf(const Json& j) {
  if (!j.is_object()) return "";
  auto it = j.find("$patch");
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// Removes strategic-merge directives from a value that is inserted as a whole.
Json Clean(const Json& v) {
  if (v.is_object()) {
    Json out = Json::object();
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (IsDirectiveKey(it.key()) || it.value().is_null()) continue;
      out[it.key()] = Clean(it.value());
    }
    return out;
  }
  if (v.is_array()) {
    Json out = Json::array();
    for (const Json& e : v) {
      if (e.is_object() && !DirectiveOf(e).empty() && e.size() == 1) continue;
      out.push_back(Clean(e));
    }
    return out;
  }
  return v;
}

void DropBelow(Origins& origins, const std::string& ptr) {
  std::string prefix = ptr + "/";
  for (auto it = origins.begin(); it != origins.end();) {
    if (it->first == ptr || it->first.starts_with(prefix)) {
      it = origins.erase(it);
    } else {
      ++it;
    }
  }
}

// Origins of a value copied whole from the patch: each leaf gets its own line in the patch.
void AssignTree(Origins& origins, const Json& value, const std::string& ptr, const PatchSource& src,
                const std::string& patch_ptr) {
  if ((value.is_object() || value.is_array()) && !value.empty()) {
    if (value.is_object()) {
      for (auto it = value.begin(); it != value.end(); ++it) {
        AssignTree(origins, it.value(), JoinPointer(ptr, it.key()), src,
                   JoinPointer(patch_ptr, it.key()));
      }
    } else {
      for (size_t i = 0; i < value.size(); ++i) {
        AssignTree(origins, value[i], ptr + "/" + std::to_string(i), src,
                   patch_ptr + "/" + std::to_string(i));
      }
    }
    return;
  }
  origins[ptr] = src.At(patch_ptr);
}

// Moves the origins of list items under `ptr` from old index to new index (-1 = dropped).
void RemapIndices(Origins& origins, const std::string& ptr, const std::vector<int>& new_index) {
  std::string prefix = ptr + "/";
  std::vector<std::pair<std::string, FieldOrigin>> moved;
  for (auto it = origins.begin(); it != origins.end();) {
    if (!it->first.starts_with(prefix)) {
      ++it;
      continue;
    }
    std::string rest = it->first.substr(prefix.size());
    size_t slash = rest.find('/');
    std::string idx = rest.substr(0, slash);
    int old = -1;
    try {
      old = std::stoi(idx);
    } catch (...) {
      ++it;
      continue;
    }
    if (old >= 0 && old < static_cast<int>(new_index.size()) && new_index[old] >= 0) {
      moved.emplace_back(prefix + std::to_string(new_index[old]) +
                             (slash == std::string::npos ? std::string() : rest.substr(slash)),
                         it->second);
    }
    it = origins.erase(it);
  }
  for (auto& [k, v] : moved) origins[k] = v;
}

std::vector<std::string> MergeKeys(const SchemaNode* list_node) {
  std::vector<std::string> keys;
  if (list_node == nullptr || list_node->list() == nullptr) return keys;
  const core::ListInfo* info = list_node->list();
  for (std::string_view k : info->merge_keys) keys.emplace_back(k);
  return keys;
}

bool KeysMatch(const Json& a, const Json& b, const std::vector<std::string>& keys) {
  if (!a.is_object() || !b.is_object()) return false;
  bool any = false;
  for (const std::string& k : keys) {
    auto ia = a.find(k), ib = b.find(k);
    if (ia == a.end() && ib == b.end()) continue;
    if (ia == a.end() || ib == b.end()) {
      if (&k == &keys.front()) return false;
      continue;  // secondary key absent on one side: the schema default applies to both
    }
    if (*ia != *ib) return false;
    any = true;
  }
  return any;
}

struct MergeCtx {
  Origins* origins;
  const PatchSource* src;
  const Json* definitions = nullptr;  // `openapi` definitions for kinds core::Schema lacks
};

// Custom (kustomization `openapi`) schema navigation; nullptr when unknown.
const Json* CResolve(const MergeCtx& ctx, const Json* cs) {
  for (int hops = 0; cs != nullptr && hops < 16 && cs->is_object() && cs->contains("$ref");
       ++hops) {
    if (ctx.definitions == nullptr || !(*cs)["$ref"].is_string()) return nullptr;
    std::string ref = (*cs)["$ref"].get<std::string>();
    ref = ref.substr(ref.rfind('/') + 1);
    auto it = ctx.definitions->find(ref);
    cs = it == ctx.definitions->end() ? nullptr : &*it;
  }
  return cs != nullptr && cs->is_object() ? cs : nullptr;
}
const Json* CChild(const MergeCtx& ctx, const Json* cs, const std::string& k) {
  cs = CResolve(ctx, cs);
  if (cs == nullptr || !cs->contains("properties") || !(*cs)["properties"].contains(k)) {
    return nullptr;
  }
  return &(*cs)["properties"][k];
}
const Json* CItems(const MergeCtx& ctx, const Json* cs) {
  cs = CResolve(ctx, cs);
  if (cs == nullptr || !cs->contains("items")) return nullptr;
  return CResolve(ctx, &(*cs)["items"]);
}
std::vector<std::string> CMergeKeys(const Json* cs) {
  if (cs == nullptr || !cs->is_object()) return {};
  std::string strategy = cs->value("x-kubernetes-patch-strategy", std::string());
  std::string key = cs->value("x-kubernetes-patch-merge-key", std::string());
  if (strategy.find("merge") == std::string::npos || key.empty()) return {};
  return {key};
}

void MergeValue(Json& dst, const Json& patch, const SchemaNode* node, const std::string& ptr,
                const std::string& pptr, const MergeCtx& ctx, const Json* cs = nullptr);

void MergeList(Json& dst, const Json& patch, const SchemaNode* node, const std::string& ptr,
               const std::string& pptr, const MergeCtx& ctx, const Json* cs) {
  for (const Json& e : patch) {
    if (DirectiveOf(e) == "replace") {
      dst = Clean(patch);
      if (ctx.origins) {
        DropBelow(*ctx.origins, ptr);
        AssignTree(*ctx.origins, dst, ptr, *ctx.src, pptr);
      }
      return;
    }
  }
  std::vector<std::string> keys = node != nullptr ? MergeKeys(node) : CMergeKeys(cs);
  bool keyed = !keys.empty() && dst.is_array();
  if (keyed) {
    for (const Json& e : patch) keyed = keyed && e.is_object();
    for (const Json& e : dst) keyed = keyed && e.is_object();
  }
  const SchemaNode* items = node != nullptr ? node->Items() : nullptr;
  const Json* citems = node == nullptr ? CItems(ctx, cs) : nullptr;
  if (!keyed) {
    bool set_merge = node != nullptr && node->list() != nullptr &&
                     (node->list()->patch_strategy & core::kPatchStrategyMerge) &&
                     node->list()->merge_keys.empty() && dst.is_array();
    if (set_merge) {
      Json out = Json::array();
      for (const Json& e : patch) out.push_back(e);
      for (const Json& e : dst) {
        bool seen = false;
        for (const Json& p : patch) seen = seen || p == e;
        if (!seen) out.push_back(e);
      }
      dst = out;
      if (ctx.origins) {
        DropBelow(*ctx.origins, ptr);
        AssignTree(*ctx.origins, dst, ptr, *ctx.src, pptr);
      }
      return;
    }
    dst = Clean(patch);
    if (ctx.origins) {
      DropBelow(*ctx.origins, ptr);
      AssignTree(*ctx.origins, dst, ptr, *ctx.src, pptr);
    }
    return;
  }
  Json out = Json::array();
  std::vector<int> new_index(dst.size(), -1);
  std::vector<bool> used(dst.size(), false);
  struct Pending {
    size_t out_index;
    int from;  // index in dst, -1 when new
    size_t patch_index;
  };
  std::vector<Pending> pending;
  for (size_t pi = 0; pi < patch.size(); ++pi) {
    const Json& p = patch[pi];
    int match = -1;
    for (size_t di = 0; di < dst.size(); ++di) {
      if (!used[di] && KeysMatch(dst[di], p, keys)) {
        match = static_cast<int>(di);
        break;
      }
    }
    if (DirectiveOf(p) == "delete") {
      if (match >= 0) used[match] = true;
      continue;
    }
    if (match >= 0) {
      used[match] = true;
      new_index[match] = static_cast<int>(out.size());
      pending.push_back({out.size(), match, pi});
      out.push_back(dst[match]);
    } else {
      pending.push_back({out.size(), -1, pi});
      out.push_back(Clean(p));
    }
  }
  std::vector<bool> deleted(dst.size(), false);
  for (size_t pi = 0; pi < patch.size(); ++pi) {
    if (DirectiveOf(patch[pi]) != "delete") continue;
    for (size_t di = 0; di < dst.size(); ++di) {
      if (new_index[di] < 0 && KeysMatch(dst[di], patch[pi], keys)) deleted[di] = true;
    }
  }
  for (size_t di = 0; di < dst.size(); ++di) {
    if (new_index[di] >= 0 || deleted[di]) continue;
    new_index[di] = static_cast<int>(out.size());
    out.push_back(dst[di]);
  }
  if (ctx.origins) RemapIndices(*ctx.origins, ptr, new_index);
  for (const Pending& p : pending) {
    std::string eptr = ptr + "/" + std::to_string(p.out_index);
    std::string epptr = pptr + "/" + std::to_string(p.patch_index);
    if (p.from < 0) {
      if (ctx.origins) AssignTree(*ctx.origins, out[p.out_index], eptr, *ctx.src, epptr);
    } else {
      // Merge keys identify the item; they keep the origin of the item they matched.
      std::vector<std::pair<std::string, FieldOrigin>> kept;
      if (ctx.origins) {
        for (const std::string& k : keys) {
          auto it = ctx.origins->find(JoinPointer(eptr, k));
          if (it != ctx.origins->end()) kept.emplace_back(it->first, it->second);
        }
      }
      MergeValue(out[p.out_index], patch[p.patch_index], items, eptr, epptr, ctx, citems);
      for (auto& [ptr_k, o] : kept) (*ctx.origins)[ptr_k] = o;
    }
  }
  dst = std::move(out);
}

void MergeValue(Json& dst, const Json& patch, const SchemaNode* node, const std::string& ptr,
                const std::string& pptr, const MergeCtx& ctx, const Json* cs) {
  if (patch.is_object()) {
    std::string directive = DirectiveOf(patch);
    if (directive == "replace" || !dst.is_object() ||
        (node != nullptr && node->atomic_map() && node->kind() != core::SchemaKind::kAny)) {
      dst = Clean(patch);
      if (ctx.origins) {
        DropBelow(*ctx.origins, ptr);
        AssignTree(*ctx.origins, dst, ptr, *ctx.src, pptr);
      }
      return;
    }
    for (auto it = patch.begin(); it != patch.end(); ++it) {
      const std::string& k = it.key();
      if (IsDirectiveKey(k)) continue;
      std::string cptr = JoinPointer(ptr, k), cpptr = JoinPointer(pptr, k);
      const Json& v = it.value();
      const SchemaNode* child = node != nullptr ? node->Child(k) : nullptr;
      const Json* cchild = node == nullptr ? CChild(ctx, cs, k) : nullptr;
      if (v.is_null() || DirectiveOf(v) == "delete") {
        dst.erase(k);
        if (ctx.origins) DropBelow(*ctx.origins, cptr);
        continue;
      }
      auto dit = dst.find(k);
      if (dit == dst.end()) {
        dst[k] = Clean(v);
        if (ctx.origins) AssignTree(*ctx.origins, dst[k], cptr, *ctx.src, cpptr);
        continue;
      }
      if (v.is_array()) {
        if (!dit->is_array()) {
          *dit = Clean(v);
          if (ctx.origins) {
            DropBelow(*ctx.origins, cptr);
            AssignTree(*ctx.origins, *dit, cptr, *ctx.src, cpptr);
          }
        } else {
          MergeList(*dit, v, child, cptr, cpptr, ctx, cchild);
        }
        continue;
      }
      MergeValue(*dit, v, child, cptr, cpptr, ctx, cchild);
    }
    return;
  }
  dst = Clean(patch);
  if (ctx.origins) {
    DropBelow(*ctx.origins, ptr);
    AssignTree(*ctx.origins, dst, ptr, *ctx.src, pptr);
  }
}

// --- JSON 6902 ---------------------------------------------------------------------------------

std::vector<std::string> SplitPointer(const std::string& p) {
  std::vector<std::string> out;
  size_t i = 1;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    std::string t = p.substr(i, j - i);
    std::string u;
    for (size_t k = 0; k < t.size(); ++k) {
      if (t[k] == '~' && k + 1 < t.size()) {
        u += t[k + 1] == '1' ? '/' : '~';
        ++k;
      } else {
        u += t[k];
      }
    }
    out.push_back(u);
    i = j + 1;
  }
  return out;
}

std::optional<size_t> ParseIndex(const std::string& t) {
  if (t.empty() || t.size() > 9) return std::nullopt;
  for (char c : t) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return static_cast<size_t>(std::stoul(t));
}

void ShiftIndices(Origins& origins, const std::string& list_ptr, size_t from, int delta) {
  std::string prefix = list_ptr + "/";
  std::vector<std::pair<std::string, FieldOrigin>> moved;
  for (auto it = origins.begin(); it != origins.end();) {
    if (!it->first.starts_with(prefix)) {
      ++it;
      continue;
    }
    std::string rest = it->first.substr(prefix.size());
    size_t slash = rest.find('/');
    auto idx = ParseIndex(rest.substr(0, slash));
    if (!idx || *idx < from) {
      ++it;
      continue;
    }
    long n = static_cast<long>(*idx) + delta;
    if (n >= 0) {
      moved.emplace_back(prefix + std::to_string(n) +
                             (slash == std::string::npos ? std::string() : rest.substr(slash)),
                         it->second);
    }
    it = origins.erase(it);
  }
  for (auto& [k, v] : moved) origins[k] = v;
}

// Resolves the parent of `path`; returns the parent node and the last token.
core::Status Parent(Json& doc, const std::string& path, Json** parent, std::string* last) {
  if (path.empty() || path[0] != '/') {
    return core::InvalidArgumentError("invalid JSON pointer '" + path + "'");
  }
  std::vector<std::string> toks = SplitPointer(path);
  Json* cur = &doc;
  for (size_t i = 0; i + 1 < toks.size(); ++i) {
    if (cur->is_object()) {
      auto it = cur->find(toks[i]);
      if (it == cur->end()) {
        return core::NotFoundError("unable to find " + path);
      }
      cur = &*it;
    } else if (cur->is_array()) {
      auto idx = ParseIndex(toks[i]);
      if (!idx || *idx >= cur->size()) return core::NotFoundError("unable to find " + path);
      cur = &(*cur)[*idx];
    } else {
      return core::NotFoundError("unable to find " + path);
    }
  }
  *parent = cur;
  *last = toks.back();
  return core::OkStatus();
}

core::StatusOr<Json> GetAt(Json& doc, const std::string& path) {
  if (path.empty()) return doc;
  Json* parent;
  std::string last;
  RETURN_IF_ERROR(Parent(doc, path, &parent, &last));
  if (parent->is_object() && parent->contains(last)) return (*parent)[last];
  if (parent->is_array()) {
    auto idx = ParseIndex(last);
    if (idx && *idx < parent->size()) return (*parent)[*idx];
  }
  return core::NotFoundError("unable to find " + path);
}

core::Status RemoveAt(Json& doc, Origins* origins, const std::string& path) {
  Json* parent;
  std::string last;
  RETURN_IF_ERROR(Parent(doc, path, &parent, &last));
  if (parent->is_object()) {
    if (!parent->contains(last)) return core::NotFoundError("unable to find " + path);
    parent->erase(last);
    if (origins) DropBelow(*origins, path);
    return core::OkStatus();
  }
  if (parent->is_array()) {
    auto idx = ParseIndex(last);
    if (!idx || *idx >= parent->size()) return core::NotFoundError("unable to find " + path);
    parent->erase(*idx);
    if (origins) {
      DropBelow(*origins, path);
      ShiftIndices(*origins, path.substr(0, path.rfind('/')), *idx + 1, -1);
    }
    return core::OkStatus();
  }
  return core::NotFoundError("unable to find " + path);
}

core::Status AddAt(Json& doc, Origins* origins, const std::string& path, const Json& value,
                   bool replace, const PatchSource& src, const std::string& value_pptr) {
  if (path.empty()) {
    doc = value;
    return core::OkStatus();
  }
  Json* parent;
  std::string last;
  RETURN_IF_ERROR(Parent(doc, path, &parent, &last));
  std::string target_ptr = path;
  if (parent->is_object()) {
    if (replace && !parent->contains(last)) return core::NotFoundError("unable to find " + path);
    (*parent)[last] = value;
  } else if (parent->is_array()) {
    std::string list_ptr = path.substr(0, path.rfind('/'));
    if (last == "-" && !replace) {
      target_ptr = list_ptr + "/" + std::to_string(parent->size());
      parent->push_back(value);
    } else {
      auto idx = ParseIndex(last);
      if (!idx || *idx > parent->size() || (replace && *idx == parent->size())) {
        return core::NotFoundError("unable to find " + path);
      }
      if (replace) {
        (*parent)[*idx] = value;
      } else {
        parent->insert(parent->begin() + static_cast<long>(*idx), value);
        if (origins) ShiftIndices(*origins, list_ptr, *idx, 1);
      }
    }
  } else {
    return core::NotFoundError("unable to find " + path);
  }
  if (origins) {
    DropBelow(*origins, target_ptr);
    AssignTree(*origins, value, target_ptr, src, value_pptr);
  }
  return core::OkStatus();
}

}  // namespace

FieldOrigin PatchSource::At(const std::string& patch_pointer) const {
  if (positions != nullptr) {
    std::string p = patch_pointer;
    while (true) {
      auto it = positions->find(p);
      if (it != positions->end() && it->second.line > 0) {
        return FieldOrigin{file, it->second.line + line_offset};
      }
      if (p.empty()) break;
      p = p.substr(0, p.rfind('/'));
    }
  }
  return FieldOrigin{file, line};
}

core::Status ApplyStrategicMerge(Resource& res, const core::Json& patch, const PatchSource& src,
                                 bool* deleted, const core::Json* openapi) {
  *deleted = false;
  if (!patch.is_object()) return core::InvalidArgumentError("strategic merge patch is not a map");
  if (DirectiveOf(patch) == "delete") {
    *deleted = true;
    return core::OkStatus();
  }
  Gvk gvk = res.GetGvk();
  const SchemaNode* node = core::Schema::ForKind(gvk.group, gvk.version, gvk.kind);
  MergeCtx ctx{&res.origins, &src};
  const Json* custom = nullptr;
  if (node == nullptr && openapi != nullptr && openapi->contains("definitions") &&
      (*openapi)["definitions"].is_object()) {
    ctx.definitions = &(*openapi)["definitions"];
    for (auto it = ctx.definitions->begin(); it != ctx.definitions->end(); ++it) {
      const Json& def = it.value();
      if (!def.is_object() || !def.contains("x-kubernetes-group-version-kind")) continue;
      for (const Json& g : def["x-kubernetes-group-version-kind"]) {
        if (g.value("group", std::string()) == gvk.group &&
            g.value("version", std::string()) == gvk.version &&
            g.value("kind", std::string()) == gvk.kind) {
          custom = &def;
        }
      }
    }
  }
  Json patch_body = patch;
  // Identity fields of the patch select the target; they never rename it.
  if (patch_body.contains("metadata") && patch_body["metadata"].is_object()) {
    patch_body["metadata"].erase("name");
    patch_body["metadata"].erase("namespace");
  }
  patch_body.erase("apiVersion");
  patch_body.erase("kind");
  MergeValue(res.obj, patch_body, node, "", "", ctx, custom);
  return core::OkStatus();
}

core::Status ApplyJsonPatch(Resource& res, const core::Json& ops, const PatchSource& src) {
  if (!ops.is_array()) return core::InvalidArgumentError("JSON patch is not a list of operations");
  Origins* origins = &res.origins;
  for (size_t i = 0; i < ops.size(); ++i) {
    const Json& op = ops[i];
    std::string opptr = "/" + std::to_string(i);
    if (!op.is_object() || !op.contains("op") || !op["op"].is_string() || !op.contains("path") ||
        !op["path"].is_string()) {
      return core::InvalidArgumentError("JSON patch operation " + std::to_string(i) +
                                        " needs string 'op' and 'path'");
    }
    std::string name = op["op"].get<std::string>();
    std::string path = op["path"].get<std::string>();
    core::Status st;
    if (name == "add" || name == "replace") {
      if (!op.contains("value")) {
        return core::InvalidArgumentError("JSON patch operation '" + name + "' on " + path +
                                          " has no value");
      }
      st = AddAt(res.obj, origins, path, op["value"], name == "replace", src, opptr + "/value");
    } else if (name == "remove") {
      st = RemoveAt(res.obj, origins, path);
    } else if (name == "move" || name == "copy") {
      if (!op.contains("from") || !op["from"].is_string()) {
        return core::InvalidArgumentError("JSON patch operation '" + name + "' needs 'from'");
      }
      std::string from = op["from"].get<std::string>();
      auto v = GetAt(res.obj, from);
      if (!v.ok()) {
        st = v.status();
      } else {
        if (name == "move") st = RemoveAt(res.obj, origins, from);
        if (st.ok()) st = AddAt(res.obj, origins, path, *v, false, src, opptr);
      }
    } else if (name == "test") {
      auto v = GetAt(res.obj, path);
      if (!v.ok()) {
        st = v.status();
      } else if (!op.contains("value") || *v != op["value"]) {
        st = core::FailedPreconditionError("testing value " + path + " failed");
      }
    } else {
      st = core::InvalidArgumentError("unexpected kind of JSON patch operation: '" + name + "'");
    }
    if (!st.ok()) return st;
  }
  return core::OkStatus();
}

}  // namespace driftguard::reconciler::internal

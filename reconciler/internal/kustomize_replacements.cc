#include "reconciler/internal/kustomize_replacements.h"

#include <functional>
#include <map>
#include <regex>

namespace driftguard::reconciler::internal {
namespace {

using core::Json;

std::string Str(const Json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string Text(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// Visits the nodes a dotted path reaches; with `create`, missing map keys and [k=v] items are
// added.
void Walk(Json& node, const std::vector<std::string>& segs, size_t i, const std::string& ptr,
          bool create, const std::function<void(Json&, const std::string&)>& fn) {
  if (i == segs.size()) {
    fn(node, ptr);
    return;
  }
  const std::string& seg = segs[i];
  if (seg.size() > 2 && seg.front() == '[' && seg.back() == ']' &&
      seg.find('=') != std::string::npos) {
    if (!node.is_array()) {
      if (!create || !node.is_null()) return;
      node = Json::array();
    }
    std::string inner = seg.substr(1, seg.size() - 2);
    std::string k = inner.substr(0, inner.find('=')), v = inner.substr(inner.find('=') + 1);
    bool any = false;
    for (size_t j = 0; j < node.size(); ++j) {
      if (node[j].is_object() && node[j].contains(k) && Text(node[j][k]) == v) {
        any = true;
        Walk(node[j], segs, i + 1, ptr + "/" + std::to_string(j), create, fn);
      }
    }
    if (!any && create) {
      node.push_back(Json{{k, v}});
      Walk(node.back(), segs, i + 1, ptr + "/" + std::to_string(node.size() - 1), create, fn);
    }
    return;
  }
  if (seg == "*") {
    if (node.is_array()) {
      for (size_t j = 0; j < node.size(); ++j) {
        Walk(node[j], segs, i + 1, ptr + "/" + std::to_string(j), create, fn);
      }
    } else if (node.is_object()) {
      for (auto it = node.begin(); it != node.end(); ++it) {
        Walk(it.value(), segs, i + 1, JoinPointer(ptr, it.key()), create, fn);
      }
    }
    return;
  }
  std::string key = seg;
  if (key.size() > 2 && key.front() == '[' && key.back() == ']')
    key = key.substr(1, key.size() - 2);
  if (node.is_array()) {
    bool digits = !key.empty() && key.find_first_not_of("0123456789") == std::string::npos;
    if (digits && std::stoul(key) < node.size()) {
      Walk(node[std::stoul(key)], segs, i + 1, ptr + "/" + key, create, fn);
    }
    return;
  }
  if (node.is_null() && create) node = Json::object();
  if (!node.is_object()) return;
  auto it = node.find(key);
  if (it == node.end()) {
    if (!create) return;
    node[key] = nullptr;
    it = node.find(key);
  }
  Walk(*it, segs, i + 1, JoinPointer(ptr, key), create, fn);
}

core::StatusOr<Json> SourceValue(std::vector<Resource>& res, const Json& source,
                                 const std::string& where) {
  Selector sel = ParseSelector(source);
  Resource* found = nullptr;
  for (Resource& r : res) {
    ASSIGN_OR_RETURN(bool ok, Selects(sel, r));
    if (!ok) continue;
    if (found != nullptr) {
      return core::InvalidArgumentError(where + ": multiple matches for selector " + source.dump());
    }
    found = &r;
  }
  if (found == nullptr) {
    return core::NotFoundError(where + ": nothing selected by " + source.dump());
  }
  std::string path = Str(source, "fieldPath");
  if (path.empty()) path = "metadata.name";
  std::vector<Json> values;
  Walk(found->obj, SplitDottedPath(path), 0, "", false,
       [&](Json& n, const std::string&) { values.push_back(n); });
  if (values.empty() || values.front().is_null()) {
    return core::NotFoundError(where + ": fieldPath `" + path +
                               "` is missing for replacement source " + found->CurId().ToString());
  }
  Json v = values.front();
  const Json opts = source.value("options", Json::object());
  if (opts.contains("delimiter") && v.is_string()) {
    std::string d = Str(opts, "delimiter"), s = v.get<std::string>();
    std::vector<std::string> parts;
    size_t pos = 0;
    while (true) {
      size_t n = d.empty() ? std::string::npos : s.find(d, pos);
      parts.push_back(s.substr(pos, n == std::string::npos ? std::string::npos : n - pos));
      if (n == std::string::npos) break;
      pos = n + d.size();
    }
    long idx = opts.value("index", 0L);
    if (idx < 0 || idx >= static_cast<long>(parts.size())) {
      return core::OutOfRangeError(where + ": options.index " + std::to_string(idx) +
                                   " is out of bounds for value " + s);
    }
    v = parts[idx];
  }
  return v;
}

Json ApplyDelimited(const Json& current, const Json& value, const Json& opts) {
  if (!opts.contains("delimiter") || !current.is_string()) return value;
  std::string d = Str(opts, "delimiter"), s = current.get<std::string>();
  std::vector<std::string> parts;
  size_t pos = 0;
  while (true) {
    size_t n = d.empty() ? std::string::npos : s.find(d, pos);
    parts.push_back(s.substr(pos, n == std::string::npos ? std::string::npos : n - pos));
    if (n == std::string::npos) break;
    pos = n + d.size();
  }
  long idx = opts.value("index", 0L);
  std::string v = Text(value);
  if (idx < 0) {
    parts.insert(parts.begin(), v);
  } else if (idx >= static_cast<long>(parts.size())) {
    parts.push_back(v);
  } else {
    parts[idx] = v;
  }
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? d : "") + parts[i];
  return out;
}

}  // namespace

std::vector<std::string> SplitDottedPath(const std::string& path) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : path) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == '.' && depth == 0) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

Selector ParseSelector(const Json& t) {
  Selector s;
  s.gvk = Gvk{Str(t, "group"), Str(t, "version"), Str(t, "kind")};
  s.has_name = !Str(t, "name").empty();
  s.name = Str(t, "name");
  s.has_ns = !Str(t, "namespace").empty();
  s.ns = Str(t, "namespace");
  s.label_selector = Str(t, "labelSelector");
  s.annotation_selector = Str(t, "annotationSelector");
  return s;
}

core::StatusOr<bool> Selects(const Selector& s, const Resource& r) {
  auto anchored = [](const std::string& pattern, const std::string& value) -> bool {
    try {
      return std::regex_match(value, std::regex(pattern));
    } catch (const std::regex_error&) {
      return pattern == value;
    }
  };
  ResId org = r.OrgId(), cur = r.CurId();
  if (s.has_ns) {
    auto eff = [](const std::string& n) { return n.empty() ? std::string("default") : n; };
    if (!anchored(s.ns, eff(org.ns)) && !anchored(s.ns, eff(cur.ns))) return false;
  }
  if (s.has_name && !anchored(s.name, org.name) && !anchored(s.name, cur.name)) return false;
  Gvk g = r.GetGvk();
  if ((!s.gvk.group.empty() && s.gvk.group != g.group) ||
      (!s.gvk.version.empty() && s.gvk.version != g.version) ||
      (!s.gvk.kind.empty() && s.gvk.kind != g.kind)) {
    return false;
  }
  auto meta_map = [&](const char* key) {
    if (r.obj.contains("metadata") && r.obj["metadata"].is_object() &&
        r.obj["metadata"].contains(key)) {
      return r.obj["metadata"][key];
    }
    return Json(Json::object());
  };
  if (!s.label_selector.empty()) {
    ASSIGN_OR_RETURN(bool ok, MatchesSelector(meta_map("labels"), s.label_selector));
    if (!ok) return false;
  }
  if (!s.annotation_selector.empty()) {
    ASSIGN_OR_RETURN(bool ok, MatchesSelector(meta_map("annotations"), s.annotation_selector));
    if (!ok) return false;
  }
  return true;
}

core::Status ApplyReplacement(std::vector<Resource>& res, const Json& rep,
                              const FieldOrigin& origin, const std::string& where) {
  if (!rep.is_object() || !rep.contains("source") || !rep.contains("targets")) {
    return core::InvalidArgumentError(where + ": a replacement needs 'source' and 'targets'");
  }
  ASSIGN_OR_RETURN(Json value, SourceValue(res, rep["source"], where));
  for (const Json& t : rep["targets"]) {
    if (!t.contains("select")) {
      return core::InvalidArgumentError(where + ": target must specify resources to select");
    }
    Selector sel = ParseSelector(t["select"]);
    std::vector<Selector> rejects;
    for (const Json& rj : t.value("reject", Json::array())) rejects.push_back(ParseSelector(rj));
    const Json opts = t.value("options", Json::object());
    bool create = opts.value("create", false);
    for (Resource& r : res) {
      ASSIGN_OR_RETURN(bool ok, Selects(sel, r));
      if (!ok) continue;
      bool rejected = false;
      for (const Selector& rj : rejects) {
        ASSIGN_OR_RETURN(bool hit, Selects(rj, r));
        rejected = rejected || hit;
      }
      if (rejected) continue;
      for (const Json& fp : t.value("fieldPaths", Json::array())) {
        std::string path = Text(fp);
        int hits = 0;
        Walk(r.obj, SplitDottedPath(path), 0, "", create, [&](Json& n, const std::string& ptr) {
          ++hits;
          n = ApplyDelimited(n, value, opts);
          SetOrigin(r.origins, ptr, origin);
        });
        if (hits == 0) {
          return core::NotFoundError(where + ": unable to find field \"" + path +
                                     "\" in replacement target " + r.CurId().ToString());
        }
      }
    }
  }
  return core::OkStatus();
}

core::StatusOr<Var> ParseVar(const Json& v, const std::string& where) {
  Var out;
  out.where = where;
  out.name = Str(v, "name");
  if (out.name.empty()) return core::InvalidArgumentError(where + ": var has no name");
  const Json ref = v.value("objref", Json::object());
  std::string api = Str(ref, "apiVersion");
  if (api.find('/') != std::string::npos) {
    out.gvk.group = api.substr(0, api.find('/'));
    out.gvk.version = api.substr(api.find('/') + 1);
  } else {
    out.gvk.version = api;
  }
  if (!Str(ref, "group").empty()) out.gvk.group = Str(ref, "group");
  if (!Str(ref, "version").empty()) out.gvk.version = Str(ref, "version");
  out.gvk.kind = Str(ref, "kind");
  out.obj_name = Str(ref, "name");
  out.obj_ns = Str(ref, "namespace");
  const Json fr = v.value("fieldref", Json::object());
  if (!Str(fr, "fieldpath").empty()) out.field_path = Str(fr, "fieldpath");
  return out;
}

core::Status ResolveVars(std::vector<Resource>& res, const std::vector<Var>& vars,
                         const std::vector<FieldSpec>& var_reference) {
  if (vars.empty()) return core::OkStatus();
  std::map<std::string, std::string> values;
  for (const Var& v : vars) {
    Resource* found = nullptr;
    for (Resource& r : res) {
      Gvk g = r.GetGvk();
      if (g.kind != v.gvk.kind || (!v.gvk.group.empty() && g.group != v.gvk.group) ||
          (!v.gvk.version.empty() && g.version != v.gvk.version)) {
        continue;
      }
      bool named = false;
      for (const ResId& id : r.AllIds()) {
        named = named || (id.name == v.obj_name &&
                          (v.obj_ns.empty() || id.NsEquals(ResId{{}, "", v.obj_ns})));
      }
      if (!named) continue;
      if (found != nullptr) {
        return core::InvalidArgumentError(v.where + ": var '" + v.name +
                                          "' matches more than one resource");
      }
      found = &r;
    }
    if (found == nullptr) {
      return core::NotFoundError(v.where + ": var '" + v.name +
                                 "' cannot be mapped to a field in "
                                 "the set of known resources");
    }
    std::string path = v.field_path;
    std::vector<std::string> segs = SplitDottedPath(path);
    std::vector<Json> got;
    Walk(found->obj, segs, 0, "", false, [&](Json& n, const std::string&) { got.push_back(n); });
    if (got.empty() || got.front().is_null()) {
      return core::NotFoundError(v.where + ": field specified in var '" + v.name +
                                 "' not found in corresponding resource");
    }
    values[v.name] = Text(got.front());
  }
  // Kubernetes' expansion rules: $(NAME) expands when NAME is a var, "$$" is a literal "$".
  auto expand = [&](Json& node) {
    if (!node.is_string()) return;
    std::string s = node.get<std::string>(), out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '$' || i + 1 >= s.size()) {
        out += s[i];
        continue;
      }
      if (s[i + 1] == '$') {
        out += '$';
        ++i;
        continue;
      }
      size_t close = s[i + 1] == '(' ? s.find(')', i + 2) : std::string::npos;
      if (close != std::string::npos) {
        auto v = values.find(s.substr(i + 2, close - i - 2));
        if (v != values.end()) {
          out += v->second;
          i = close;
          continue;
        }
      }
      out += s[i];
    }
    node = out;
  };
  for (Resource& r : res) {
    Gvk g = r.GetGvk();
    for (const FieldSpec& s : var_reference) {
      if (!s.Matches(g)) continue;
      FieldSpec nocreate = s;
      nocreate.create = false;
      VisitFieldSpec(r.obj, nocreate, Json(), [&](Json& node, const std::string&) {
        if (node.is_array()) {
          for (Json& e : node) expand(e);
        } else if (node.is_object()) {
          for (auto it = node.begin(); it != node.end(); ++it) expand(it.value());
        } else {
          expand(node);
        }
      });
    }
  }
  return core::OkStatus();
}

core::StatusOr<Json> ConfigFromCrdSchema(const Json& doc, const std::string& file) {
  Json cfg = {{"nameReference", Json::array()}};
  if (!doc.is_object()) return core::InvalidArgumentError(file + ": crds file must be a map");
  auto def_of = [&](const std::string& ref) -> const Json* {
    auto it = doc.find(ref);
    if (it == doc.end() || !it->is_object()) return nullptr;
    if (it->contains("Schema")) return &(*it)["Schema"];
    return &*it;
  };
  std::function<void(const Json&, const std::string&, const std::string&, int)> walk =
      [&](const Json& schema, const std::string& kind, const std::string& path, int depth) {
        if (depth > 20 || !schema.is_object()) return;
        const Json props = schema.value("properties", Json::object());
        for (auto it = props.begin(); it != props.end(); ++it) {
          std::string p = path.empty() ? it.key() : path + "/" + it.key();
          const Json& prop = it.value();
          if (prop.contains("x-kubernetes-object-ref-kind")) {
            cfg["nameReference"].push_back(
                {{"kind", Str(prop, "x-kubernetes-object-ref-kind")},
                 {"version", Str(prop, "x-kubernetes-object-ref-api-version")},
                 {"fieldSpecs", Json::array({{{"kind", kind}, {"path", p + "/name"}}})}});
            continue;
          }
          if (prop.contains("$ref")) {
            if (const Json* d = def_of(Str(prop, "$ref"))) walk(*d, kind, p, depth + 1);
          } else {
            walk(prop, kind, p, depth + 1);
          }
        }
      };
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const Json* schema = def_of(it.key());
    if (schema == nullptr) continue;
    const Json props = schema->value("properties", Json::object());
    if (!props.contains("kind") || !props.contains("apiVersion")) continue;
    std::string kind = it.key().substr(it.key().rfind('.') + 1);
    walk(*schema, kind, "", 0);
  }
  return cfg;
}

}  // namespace driftguard::reconciler::internal

#include "reconciler/internal/kustomize_build.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <unordered_set>

#include "core/yaml.h"
#include "reconciler/internal/kustomize_generators.h"
#include "reconciler/internal/kustomize_hash.h"
#include "reconciler/internal/kustomize_order.h"
#include "reconciler/internal/kustomize_patch.h"
#include "reconciler/internal/kustomize_replacements.h"
#include "reconciler/internal/kustomize_transformers.h"

namespace driftguard::reconciler::internal {
namespace {

namespace fs = std::filesystem;
using core::Json;
using core::Status;

const char* const kKustomizationNames[] = {"kustomization.yaml", "kustomization.yml",
                                           "Kustomization"};

const std::set<std::string>& KnownFields() {
  static const std::set<std::string> k = {"apiVersion",
                                          "kind",
                                          "metadata",
                                          "openapi",
                                          "namePrefix",
                                          "nameSuffix",
                                          "namespace",
                                          "commonLabels",
                                          "labels",
                                          "commonAnnotations",
                                          "patchesStrategicMerge",
                                          "patchesJson6902",
                                          "patches",
                                          "images",
                                          "imageTags",
                                          "replacements",
                                          "replicas",
                                          "vars",
                                          "sortOptions",
                                          "resources",
                                          "crds",
                                          "bases",
                                          "components",
                                          "configMapGenerator",
                                          "secretGenerator",
                                          "helmGlobals",
                                          "helmCharts",
                                          "helmChartInflationGenerator",
                                          "generatorOptions",
                                          "configurations",
                                          "generators",
                                          "transformers",
                                          "validators",
                                          "buildMetadata"};
  return k;
}

std::string Str(const Json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

// Scalar as kustomize's Go structs read it (numbers and booleans into string fields).
std::string ScalarText(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

bool IsRemote(const std::string& entry) {
  static const std::regex kRemote(
      R"(^([a-z][a-z0-9+.-]*://|git@|github\.com/|gitlab\.com/|bitbucket\.org/)|\?ref=|\.git(//|$))");
  return std::regex_search(entry, kRemote);
}

// One parsed kustomization file.
struct KFile {
  Json k;
  std::unordered_map<std::string, core::SourcePosition> positions;
  std::string rel;      // file, relative to the root
  core::FileName file;  // `rel`, shared by the origins this kustomization records
  fs::path dir;         // absolute directory
  std::string rel_dir;

  int Line(const std::string& ptr) const {
    std::string p = ptr;
    while (true) {
      auto it = positions.find(p);
      if (it != positions.end() && it->second.line > 0) return it->second.line;
      if (p.empty()) return 0;
      p = p.substr(0, p.rfind('/'));
    }
  }
  FieldOrigin At(const std::string& ptr) const { return FieldOrigin{file, Line(ptr)}; }
  std::string Where(const std::string& ptr) const {
    int l = Line(ptr);
    return l > 0 ? rel + ":" + std::to_string(l) : rel;
  }
};

struct ConfigDoc {
  Json doc;
  std::string file;
};

struct Accum {
  std::vector<Resource> res;
  std::vector<ConfigDoc> config_docs;
  std::vector<Var> vars;
  // Current ids of `res` (IdKey), so that adding a resource checks for a duplicate in O(1).
  // Generators, patches and transformers rename and delete resources in place: whoever runs them
  // clears `ids_valid`, and the next AddResource rebuilds the index once.
  std::unordered_set<std::string> ids;
  bool ids_valid = true;
};

// ResId::Equals as a hash key: group, version, kind, name and effective namespace.
std::string IdKey(const ResId& id) {
  std::string key;
  key.reserve(id.gvk.group.size() + id.gvk.version.size() + id.gvk.kind.size() + id.name.size() +
              id.ns.size() + 12);
  key.append(id.gvk.group).push_back('\0');
  key.append(id.gvk.version).push_back('\0');
  key.append(id.gvk.kind).push_back('\0');
  key.append(id.name).push_back('\0');
  key.append(id.ns.empty() ? std::string_view("default") : std::string_view(id.ns));
  return key;
}

core::StatusOr<TransformerConfig> EffectiveConfig(const Accum& acc) {
  TransformerConfig c = TransformerConfig::Defaults();
  std::set<std::string> seen;
  for (const ConfigDoc& d : acc.config_docs) {
    if (!seen.insert(d.doc.dump()).second) continue;
    RETURN_IF_ERROR(c.Merge(d.doc, d.file));
  }
  return c;
}

Status AddResource(Accum& acc, Resource r, const std::string& where) {
  if (!acc.ids_valid) {
    acc.ids.clear();
    for (const Resource& have : acc.res) acc.ids.insert(IdKey(have.CurId()));
    acc.ids_valid = true;
  }
  ResId id = r.CurId();
  if (!acc.ids.insert(IdKey(id)).second) {
    return core::AlreadyExistsError(
        where + ": may not add resource with an already registered id: " + id.ToString());
  }
  acc.res.push_back(std::move(r));
  return core::OkStatus();
}

class Builder {
 public:
  explicit Builder(const RenderOptions& options) : options_(options) {}

  core::StatusOr<std::vector<Resource>> Build(const fs::path& dir);

 private:
  enum class Expect { kTop, kResource, kComponent };

  std::string Rel(const fs::path& abs) const {
    std::string r = abs.lexically_relative(root_).generic_string();
    return r.empty() ? "." : r;
  }
  core::StatusOr<fs::path> Resolve(const fs::path& base, const std::string& entry) const;
  core::StatusOr<std::string> Read(const fs::path& abs) const;
  // Reads a file named in a kustomization; it must lie in or below the kustomization's dir.
  core::StatusOr<std::string> ReadLocal(const KFile& kf, const std::string& entry,
                                        fs::path* abs_out = nullptr) const;
  core::StatusOr<std::vector<core::YamlDocument>> ParseStream(const std::string& text,
                                                              const std::string& rel) const;
  core::StatusOr<KFile> LoadKustomization(const fs::path& dir, bool* found) const;

  Status AccumulateDir(const fs::path& dir, Accum& acc, Expect expect);
  Status AccumulateKustomization(const KFile& kf, Accum& acc);
  Status AccumulateGenerated(const fs::path& dir, Accum& acc);
  Status LoadResourceFile(const fs::path& abs, Accum& acc, const std::string& where);
  Status RunGenerators(const KFile& kf, Accum& acc);
  Status RunGenerator(const KFile& kf, bool secret, const Json& entry, const Json& options,
                      const std::string& ptr, Accum& acc);
  Status RunTransformers(const KFile& kf, Accum& acc);
  struct PluginConfig {
    Json config;
    FieldOrigin origin;
  };
  // The builtin plugin configs of the `transformers` / `generators` entry at `ptr`: an inline
  // YAML stream, a file, or a directory holding a kustomization whose resources are the configs.
  core::StatusOr<std::vector<PluginConfig>> LoadPluginConfigs(const KFile& kf,
                                                              const std::string& ptr);
  Status RunPluginConfig(const KFile& kf, const Json& cfg, const std::string& ptr,
                         const FieldOrigin& origin, Accum& acc, bool generator);
  Status ApplyPatch(const KFile& kf, const std::string& ptr, const Json& entry, Accum& acc,
                    bool require_match);
  Status ApplyPatchDocs(const std::vector<core::YamlDocument>& docs, const PatchSource& src,
                        const Json* target, Accum& acc, bool require_match,
                        const std::string& where);

  RenderOptions options_;
  fs::path root_;
  core::Json openapi_;  // the `openapi` schema in effect (kustomizations may set one)
  std::vector<fs::path> visiting_;
};

core::StatusOr<fs::path> Builder::Resolve(const fs::path& base, const std::string& entry) const {
  fs::path p = fs::path(entry).is_absolute() ? fs::path(entry) : base / entry;
  p = p.lexically_normal();
  std::error_code ec;
  fs::path canon = fs::weakly_canonical(p, ec);
  if (ec) canon = p;
  auto inside = [&](const fs::path& x) {
    auto rel = x.lexically_relative(root_);
    return !rel.empty() && *rel.begin() != "..";
  };
  if (!inside(p) || !inside(canon)) {
    return core::PermissionDeniedError("security; '" + entry + "' resolves outside the root '" +
                                       root_.string() + "'");
  }
  if (!fs::exists(canon, ec)) {
    return core::NotFoundError("'" + Rel(p) + "' does not exist");
  }
  return canon;
}

core::StatusOr<std::string> Builder::Read(const fs::path& abs) const {
  std::ifstream in(abs, std::ios::binary);
  if (!in) return core::NotFoundError("cannot read '" + Rel(abs) + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

core::StatusOr<std::string> Builder::ReadLocal(const KFile& kf, const std::string& entry,
                                               fs::path* abs_out) const {
  ASSIGN_OR_RETURN(fs::path abs, Resolve(kf.dir, entry));
  auto rel = abs.lexically_relative(kf.dir);
  if (rel.empty() || *rel.begin() == "..") {
    return core::PermissionDeniedError("security; file '" + Rel(abs) + "' is not in or below '" +
                                       kf.rel_dir + "'");
  }
  if (fs::is_directory(abs)) return core::InvalidArgumentError("'" + Rel(abs) + "' is a directory");
  if (abs_out != nullptr) *abs_out = abs;
  return Read(abs);
}

core::StatusOr<std::vector<core::YamlDocument>> Builder::ParseStream(const std::string& text,
                                                                     const std::string& rel) const {
  core::YamlParseOptions po;
  po.limits = options_.yaml_limits;
  po.record_positions = options_.track_origins;
  return core::ParseYamlStream(text, rel, po);
}

core::StatusOr<KFile> Builder::LoadKustomization(const fs::path& dir, bool* found) const {
  *found = false;
  std::vector<fs::path> present;
  for (const char* name : kKustomizationNames) {
    std::error_code ec;
    if (fs::is_regular_file(dir / name, ec)) present.push_back(dir / name);
  }
  if (present.empty()) return KFile{};
  *found = true;
  if (present.size() > 1) {
    return core::InvalidArgumentError("Found multiple kustomization files under: " + Rel(dir));
  }
  KFile kf;
  kf.dir = dir;
  kf.rel_dir = Rel(dir);
  kf.rel = Rel(present[0]);
  kf.file = core::FileName(kf.rel);
  ASSIGN_OR_RETURN(std::string text, Read(present[0]));
  core::YamlParseOptions po;
  po.limits = options_.yaml_limits;
  po.record_positions = true;
  ASSIGN_OR_RETURN(std::vector<core::YamlDocument> docs, core::ParseYamlStream(text, kf.rel, po));
  if (docs.empty()) {
    kf.k = Json::object();
    return kf;
  }
  if (docs.size() > 1) {
    return core::InvalidArgumentError(kf.rel + ": a kustomization must be a single document");
  }
  kf.k = docs[0].value;
  kf.positions = std::move(docs[0].positions);
  if (kf.k.is_null()) kf.k = Json::object();
  if (!kf.k.is_object()) {
    return core::InvalidArgumentError(kf.rel + ": invalid Kustomization: not a map");
  }
  for (auto it = kf.k.begin(); it != kf.k.end(); ++it) {
    if (!KnownFields().count(it.key())) {
      return core::InvalidArgumentError(kf.Where(JoinPointer("", it.key())) +
                                        ": invalid Kustomization: json: unknown field \"" +
                                        it.key() + "\"");
    }
  }
  for (const char* helm : {"helmCharts", "helmGlobals", "helmChartInflationGenerator"}) {
    if (kf.k.contains(helm)) {
      return core::UnimplementedError(
          kf.Where(std::string("/") + helm) + ": " + helm +
          " are not supported: kustomize needs --enable-helm and driftguard never runs helm");
    }
  }
  return kf;
}

Status Builder::LoadResourceFile(const fs::path& abs, Accum& acc, const std::string& where) {
  ASSIGN_OR_RETURN(std::string text, Read(abs));
  std::string rel = Rel(abs);
  const core::FileName file(rel);
  auto docs = ParseStream(text, rel);
  if (!docs.ok()) return docs.status();
  for (core::YamlDocument& d : *docs) {
    if (d.value.is_null()) continue;
    if (!d.value.is_object()) {
      return core::InvalidArgumentError(rel + ":" + std::to_string(d.start.line) + ": document " +
                                        std::to_string(d.index + 1) +
                                        " is not a Kubernetes object");
    }
    auto make = [&](const Json& obj, const std::string& prefix) {
      Resource r;
      r.obj = obj;
      if (options_.track_origins) {
        for (const auto& [ptr, pos] : d.positions) {
          if (!ptr.starts_with(prefix)) continue;
          if (ptr.size() > prefix.size() && ptr[prefix.size()] != '/') continue;
          r.origins[ptr.substr(prefix.size())] = FieldOrigin{file, pos.line};
        }
      }
      return r;
    };
    std::string kind = Str(d.value, "kind");
    if (kind.size() > 4 && kind.ends_with("List") && d.value.contains("items") &&
        d.value["items"].is_array()) {
      for (size_t i = 0; i < d.value["items"].size(); ++i) {
        RETURN_IF_ERROR(
            AddResource(acc, make(d.value["items"][i], "/items/" + std::to_string(i)), where));
      }
      continue;
    }
    if (kind.empty() || Str(d.value, "apiVersion").empty()) {
      return core::InvalidArgumentError(rel + ":" + std::to_string(d.start.line) +
                                        ": missing Resource metadata (apiVersion and kind)");
    }
    RETURN_IF_ERROR(AddResource(acc, make(d.value, ""), where));
  }
  return core::OkStatus();
}

Status Builder::AccumulateDir(const fs::path& dir, Accum& acc, Expect expect) {
  for (const fs::path& v : visiting_) {
    if (v == dir) {
      std::string chain;
      for (const fs::path& x : visiting_) chain += "'" + Rel(x) + "' -> ";
      return core::InvalidArgumentError("cycle detected: " + chain + "'" + Rel(dir) + "'");
    }
  }
  bool found = false;
  ASSIGN_OR_RETURN(KFile kf, LoadKustomization(dir, &found));
  if (!found) {
    if (expect == Expect::kTop) return AccumulateGenerated(dir, acc);
    return core::NotFoundError(
        "unable to find one of 'kustomization.yaml', 'kustomization.yml' "
        "or 'Kustomization' in directory '" +
        Rel(dir) + "'");
  }
  std::string kind = Str(kf.k, "kind");
  if (expect == Expect::kComponent && kind != "Component") {
    return core::InvalidArgumentError(kf.rel + ": expected kind 'Component' for path '" +
                                      kf.rel_dir + "' but got '" +
                                      (kind.empty() ? "Kustomization" : kind) + "'");
  }
  if (expect != Expect::kComponent && kind == "Component") {
    return core::InvalidArgumentError(kf.rel + ": expected kind != 'Component' for path '" +
                                      kf.rel_dir + "'");
  }
  if (!kind.empty() && kind != "Kustomization" && kind != "Component") {
    return core::InvalidArgumentError(kf.rel + ": unknown kustomization kind '" + kind + "'");
  }
  visiting_.push_back(dir);
  Status st = AccumulateKustomization(kf, acc);
  visiting_.pop_back();
  return st;
}

// Flux's generated kustomization: every YAML manifest below `dir`; a subdirectory holding a
// kustomization is included as one resource and not descended into.
Status Builder::AccumulateGenerated(const fs::path& dir, Accum& acc) {
  std::vector<fs::path> entries;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) entries.push_back(e.path());
  std::sort(entries.begin(), entries.end());
  for (const fs::path& p : entries) {
    std::string name = p.filename().string();
    if (name.starts_with(".")) continue;
    if (fs::is_symlink(p, ec)) {
      auto resolved = Resolve(dir, name);
      if (!resolved.ok()) return resolved.status().WithPrefix(Rel(p));
    }
    if (fs::is_directory(p, ec)) {
      Accum sub;
      RETURN_IF_ERROR(AccumulateDir(p, sub, Expect::kTop));
      for (Resource& r : sub.res) RETURN_IF_ERROR(AddResource(acc, std::move(r), Rel(p)));
      acc.config_docs.insert(acc.config_docs.end(), sub.config_docs.begin(), sub.config_docs.end());
      acc.vars.insert(acc.vars.end(), sub.vars.begin(), sub.vars.end());
      continue;
    }
    if (!(name.ends_with(".yaml") || name.ends_with(".yml"))) continue;
    RETURN_IF_ERROR(LoadResourceFile(p, acc, Rel(p)));
  }
  return core::OkStatus();
}

Status Builder::AccumulateKustomization(const KFile& kf, Accum& acc) {
  const Json& k = kf.k;
  // resources, then the deprecated bases.
  for (const char* field : {"resources", "bases"}) {
    if (!k.contains(field) || k[field].is_null()) continue;
    if (!k[field].is_array()) {
      return core::InvalidArgumentError(kf.Where(std::string("/") + field) + ": '" + field +
                                        "' must be a list");
    }
    for (size_t i = 0; i < k[field].size(); ++i) {
      std::string ptr = std::string("/") + field + "/" + std::to_string(i);
      std::string entry = ScalarText(k[field][i]);
      std::string prefix = kf.Where(ptr) + ": accumulating resources from '" + entry + "'";
      if (IsRemote(entry)) {
        return core::UnimplementedError(prefix +
                                        ": remote resources are not supported (driftguard renders "
                                        "only the checked-out source)");
      }
      auto abs = Resolve(kf.dir, entry);
      if (!abs.ok()) return abs.status().WithPrefix(prefix);
      std::error_code ec;
      if (fs::is_directory(*abs, ec)) {
        Accum sub;
        Status st = AccumulateDir(*abs, sub, Expect::kResource);
        if (!st.ok()) return st.WithPrefix(prefix);
        for (Resource& r : sub.res) {
          RETURN_IF_ERROR(AddResource(acc, std::move(r), prefix));
        }
        acc.config_docs.insert(acc.config_docs.end(), sub.config_docs.begin(),
                               sub.config_docs.end());
        acc.vars.insert(acc.vars.end(), sub.vars.begin(), sub.vars.end());
        continue;
      }
      auto rel = abs->lexically_relative(kf.dir);
      if (rel.empty() || *rel.begin() == "..") {
        return core::PermissionDeniedError(prefix + ": security; file '" + Rel(*abs) +
                                           "' is not in or below '" + kf.rel_dir + "'");
      }
      Status st = LoadResourceFile(*abs, acc, prefix);
      if (!st.ok()) {
        return st.message().starts_with(prefix) ? st : st.WithPrefix(prefix);
      }
    }
  }
  // configurations and crds extend the transformer configuration.
  if (k.contains("configurations") && k["configurations"].is_array()) {
    for (size_t i = 0; i < k["configurations"].size(); ++i) {
      std::string ptr = "/configurations/" + std::to_string(i);
      std::string entry = ScalarText(k["configurations"][i]);
      fs::path abs;
      auto text = ReadLocal(kf, entry, &abs);
      if (!text.ok()) return text.status().WithPrefix(kf.Where(ptr));
      ASSIGN_OR_RETURN(auto docs, ParseStream(*text, Rel(abs)));
      for (auto& d : docs) acc.config_docs.push_back({d.value, Rel(abs)});
    }
  }
  if (k.contains("crds") && k["crds"].is_array()) {
    for (size_t i = 0; i < k["crds"].size(); ++i) {
      std::string ptr = "/crds/" + std::to_string(i);
      fs::path abs;
      auto text = ReadLocal(kf, ScalarText(k["crds"][i]), &abs);
      if (!text.ok()) return text.status().WithPrefix(kf.Where(ptr));
      ASSIGN_OR_RETURN(auto docs, ParseStream(*text, Rel(abs)));
      for (auto& d : docs) {
        ASSIGN_OR_RETURN(Json cfg, ConfigFromCrdSchema(d.value, Rel(abs)));
        acc.config_docs.push_back({cfg, Rel(abs)});
      }
    }
  }
  Status generated = RunGenerators(kf, acc);
  acc.ids_valid = false;
  RETURN_IF_ERROR(generated);
  if (k.contains("components") && k["components"].is_array()) {
    for (size_t i = 0; i < k["components"].size(); ++i) {
      std::string ptr = "/components/" + std::to_string(i);
      std::string entry = ScalarText(k["components"][i]);
      std::string prefix = kf.Where(ptr) + ": accumulating components from '" + entry + "'";
      if (IsRemote(entry)) {
        return core::UnimplementedError(prefix + ": remote components are not supported");
      }
      auto abs = Resolve(kf.dir, entry);
      if (!abs.ok()) return abs.status().WithPrefix(prefix);
      if (!fs::is_directory(*abs)) {
        return core::InvalidArgumentError(prefix + ": '" + Rel(*abs) + "' is not a directory");
      }
      Status st = AccumulateDir(*abs, acc, Expect::kComponent);
      if (!st.ok()) return st.WithPrefix(prefix);
    }
  }
  if (k.contains("openapi") && k["openapi"].is_object() && k["openapi"].contains("path")) {
    fs::path abs;
    auto text = ReadLocal(kf, ScalarText(k["openapi"]["path"]), &abs);
    if (!text.ok()) return text.status().WithPrefix(kf.Where("/openapi/path"));
    ASSIGN_OR_RETURN(openapi_, core::ParseYaml(*text, Rel(abs)));
  }
  Status transformed = RunTransformers(kf, acc);
  acc.ids_valid = false;
  RETURN_IF_ERROR(transformed);
  if (k.contains("vars") && k["vars"].is_array()) {
    for (size_t i = 0; i < k["vars"].size(); ++i) {
      std::string ptr = "/vars/" + std::to_string(i);
      ASSIGN_OR_RETURN(Var v, ParseVar(k["vars"][i], kf.Where(ptr)));
      for (const Var& have : acc.vars) {
        if (have.name == v.name) {
          return core::AlreadyExistsError(kf.Where(ptr) + ": var '" + v.name +
                                          "' already encountered");
        }
      }
      acc.vars.push_back(v);
    }
  }
  return core::OkStatus();
}

Status Builder::RunGenerator(const KFile& kf, bool secret, const Json& entry, const Json& options,
                             const std::string& ptr, Accum& acc) {
  GeneratorSpec spec;
  spec.secret = secret;
  spec.entry = entry;
  spec.default_options = options;
  spec.file = kf.file;
  spec.line = kf.Line(ptr);
  std::string behavior;
  FileReader reader = [&](const std::string& path) -> core::StatusOr<std::string> {
    auto t = ReadLocal(kf, path);
    if (!t.ok()) return t.status().WithPrefix(kf.Where(ptr));
    return t;
  };
  ASSIGN_OR_RETURN(Resource gen, Generate(spec, reader, &behavior));
  ResId id = gen.CurId();
  Resource* existing = nullptr;
  for (Resource& r : acc.res) {
    if (r.GetGvk().kind != id.gvk.kind || !r.GetGvk().group.empty()) continue;
    for (const ResId& rid : r.AllIds()) {
      if (rid.name == id.name && rid.NsEquals(id)) existing = &r;
    }
  }
  if (behavior == "create") {
    if (existing != nullptr) {
      return core::AlreadyExistsError(
          kf.Where(ptr) + ": may not add resource with an already registered id: " +
          existing->CurId().ToString() + " (use behavior: merge or replace)");
    }
    acc.res.push_back(std::move(gen));
    return core::OkStatus();
  }
  if (existing == nullptr) {
    return core::NotFoundError(kf.Where(ptr) + ": id " + id.ToString() +
                               " does not exist; cannot merge or replace");
  }
  MergeGenerated(*existing, gen, behavior == "replace");
  return core::OkStatus();
}

Status Builder::RunGenerators(const KFile& kf, Accum& acc) {
  const Json& k = kf.k;
  Json options = k.contains("generatorOptions") ? k["generatorOptions"] : Json();
  for (const char* field : {"configMapGenerator", "secretGenerator"}) {
    if (!k.contains(field) || k[field].is_null()) continue;
    for (size_t i = 0; i < k[field].size(); ++i) {
      std::string ptr = std::string("/") + field + "/" + std::to_string(i);
      RETURN_IF_ERROR(RunGenerator(kf, std::string(field) == "secretGenerator", k[field][i],
                                   options, ptr, acc));
    }
  }
  if (k.contains("generators") && k["generators"].is_array()) {
    for (size_t i = 0; i < k["generators"].size(); ++i) {
      std::string ptr = "/generators/" + std::to_string(i);
      ASSIGN_OR_RETURN(std::vector<PluginConfig> configs, LoadPluginConfigs(kf, ptr));
      for (const PluginConfig& c : configs) {
        RETURN_IF_ERROR(RunPluginConfig(kf, c.config, ptr, c.origin, acc, true));
      }
    }
  }
  return core::OkStatus();
}

Status Builder::ApplyPatchDocs(const std::vector<core::YamlDocument>& docs,
                               const PatchSource& base_src, const Json* target, Accum& acc,
                               bool require_match, const std::string& where) {
  for (const core::YamlDocument& d : docs) {
    if (d.value.is_null()) continue;
    PatchSource src = base_src;
    src.positions = &d.positions;
    if (d.start.line > 0 && src.line_offset == 0 && src.line == 0) src.line = d.start.line;
    std::vector<size_t> matched;
    if (target != nullptr) {
      Selector sel = ParseSelector(*target);
      for (size_t i = 0; i < acc.res.size(); ++i) {
        auto ok = Selects(sel, acc.res[i]);
        if (!ok.ok()) return ok.status().WithPrefix(where);
        if (*ok) matched.push_back(i);
      }
    } else {
      if (IsJsonPatch(d.value)) {
        return core::InvalidArgumentError(where + ": must specify a target for JSON patch");
      }
      if (!d.value.is_object()) {
        return core::InvalidArgumentError(where + ": patch is neither a map nor a list");
      }
      Resource probe;
      probe.obj = d.value;
      ResId pid = probe.CurId();
      for (size_t i = 0; i < acc.res.size(); ++i) {
        for (const ResId& id : acc.res[i].AllIds()) {
          if (id.Equals(pid)) {
            matched.push_back(i);
            break;
          }
        }
      }
      if (matched.empty() && require_match) {
        return core::NotFoundError(where + ": no matches for Id " + pid.ToString() +
                                   "; failed to find unique target for patch " + pid.ToString());
      }
      if (matched.size() > 1) {
        return core::InvalidArgumentError(where + ": multiple matches for Id " + pid.ToString() +
                                          "; failed to find unique target for patch " +
                                          pid.ToString());
      }
    }
    std::vector<size_t> to_delete;
    for (size_t i : matched) {
      Resource& r = acc.res[i];
      if (IsJsonPatch(d.value)) {
        Status st = ApplyJsonPatch(r, d.value, src);
        if (!st.ok()) {
          return st.WithPrefix(where + ": failed to apply JSON patch to " + r.CurId().ToString());
        }
      } else {
        bool deleted = false;
        RETURN_IF_ERROR(ApplyStrategicMerge(r, d.value, src, &deleted,
                                            openapi_.is_object() ? &openapi_ : nullptr));
        if (deleted) to_delete.push_back(i);
      }
    }
    for (auto it = to_delete.rbegin(); it != to_delete.rend(); ++it) {
      acc.res.erase(acc.res.begin() + static_cast<long>(*it));
    }
  }
  return core::OkStatus();
}

// One entry of `patches`, `patchesStrategicMerge` or `patchesJson6902`.
Status Builder::ApplyPatch(const KFile& kf, const std::string& ptr, const Json& entry, Accum& acc,
                           bool require_match) {
  std::string where = kf.Where(ptr);
  PatchSource src;
  std::string text;
  const Json* target = nullptr;
  Json inline_ops;
  if (entry.is_string()) {  // patchesStrategicMerge: a path or an inline patch
    std::string s = entry.get<std::string>();
    if (s.find('\n') != std::string::npos || s.find(':') != std::string::npos) {
      text = s;
      src.file = kf.file;
      src.line_offset = kf.Line(ptr);
      src.line = kf.Line(ptr);
    } else {
      fs::path abs;
      auto t = ReadLocal(kf, s, &abs);
      if (!t.ok()) return t.status().WithPrefix(where);
      text = *t;
      src.file = Rel(abs);
    }
  } else if (entry.is_object()) {
    if (entry.contains("target") && entry["target"].is_object()) target = &entry["target"];
    if (entry.contains("patch") && entry.contains("path")) {
      return core::InvalidArgumentError(where + ": patch and path can't be set at the same time");
    }
    if (entry.contains("patch")) {
      text = ScalarText(entry["patch"]);
      src.file = kf.file;
      src.line_offset = kf.Line(ptr + "/patch");
      src.line = kf.Line(ptr + "/patch");
    } else if (entry.contains("path")) {
      fs::path abs;
      auto t = ReadLocal(kf, ScalarText(entry["path"]), &abs);
      if (!t.ok()) return t.status().WithPrefix(where);
      text = *t;
      src.file = Rel(abs);
    } else if (entry.contains("jsonOp")) {
      text = ScalarText(entry["jsonOp"]);
      src.file = kf.file;
      src.line_offset = kf.Line(ptr + "/jsonOp");
      src.line = src.line_offset;
    } else {
      return core::InvalidArgumentError(where + ": must specify one of patch and path");
    }
  } else {
    return core::InvalidArgumentError(where + ": a patch must be a map or a string");
  }
  core::YamlParseOptions po;
  po.limits = options_.yaml_limits;
  po.record_positions = true;
  auto docs = core::ParseYamlStream(text, src.file.str(), po);
  if (!docs.ok()) return docs.status().WithPrefix(where);
  return ApplyPatchDocs(*docs, src, target, acc, require_match, where);
}

std::map<std::string, std::string> StringMap(const Json& j) {
  std::map<std::string, std::string> m;
  if (!j.is_object()) return m;
  for (auto it = j.begin(); it != j.end(); ++it) m[it.key()] = ScalarText(*it);
  return m;
}

Status Builder::RunTransformers(const KFile& kf, Accum& acc) {
  const Json& k = kf.k;
  ASSIGN_OR_RETURN(TransformerConfig config, EffectiveConfig(acc));
  if (k.contains("patchesStrategicMerge") && k["patchesStrategicMerge"].is_array()) {
    for (size_t i = 0; i < k["patchesStrategicMerge"].size(); ++i) {
      RETURN_IF_ERROR(ApplyPatch(kf, "/patchesStrategicMerge/" + std::to_string(i),
                                 k["patchesStrategicMerge"][i], acc, true));
    }
  }
  if (k.contains("patches") && k["patches"].is_array()) {
    for (size_t i = 0; i < k["patches"].size(); ++i) {
      RETURN_IF_ERROR(ApplyPatch(kf, "/patches/" + std::to_string(i), k["patches"][i], acc, true));
    }
  }
  if (k.contains("namespace") && !ScalarText(k["namespace"]).empty()) {
    NamespaceOptions ns_options;
    ns_options.extra = config.namespace_;
    ApplyNamespace(acc.res, ScalarText(k["namespace"]), kf.At("/namespace"), ns_options);
  }
  std::string prefix = k.contains("namePrefix") ? ScalarText(k["namePrefix"]) : "";
  std::string suffix = k.contains("nameSuffix") ? ScalarText(k["nameSuffix"]) : "";
  if (!prefix.empty()) {
    ApplyPrefixSuffix(acc.res, prefix, "", kf.At("/namePrefix"), config.name_prefix, {});
  }
  if (!suffix.empty()) {
    ApplyPrefixSuffix(acc.res, "", suffix, kf.At("/nameSuffix"), {}, config.name_suffix);
  }
  if (k.contains("commonLabels") && k["commonLabels"].is_object()) {
    std::map<std::string, FieldOrigin> origins;
    for (auto& [key, v] : StringMap(k["commonLabels"])) {
      origins[key] = kf.At(JoinPointer("/commonLabels", key));
    }
    ApplyLabels(acc.res, StringMap(k["commonLabels"]), config.common_labels, origins);
  }
  if (k.contains("labels") && k["labels"].is_array()) {
    for (size_t i = 0; i < k["labels"].size(); ++i) {
      const Json& l = k["labels"][i];
      std::string ptr = "/labels/" + std::to_string(i);
      std::map<std::string, std::string> pairs = StringMap(l.value("pairs", Json::object()));
      std::map<std::string, FieldOrigin> origins;
      for (auto& [key, v] : pairs) origins[key] = kf.At(JoinPointer(ptr + "/pairs", key));
      std::vector<FieldSpec> specs;
      if (l.value("includeSelectors", false)) {
        specs = config.common_labels;
      } else {
        specs.push_back(FieldSpec{{}, "metadata/labels", true});
        if (l.value("includeTemplates", false)) {
          specs.insert(specs.end(), config.template_labels.begin(), config.template_labels.end());
        }
      }
      if (l.contains("fields")) {
        ASSIGN_OR_RETURN(std::vector<FieldSpec> extra, ParseFieldSpecs(l["fields"], kf.rel));
        specs.insert(specs.end(), extra.begin(), extra.end());
      }
      ApplyLabels(acc.res, pairs, specs, origins);
    }
  }
  if (k.contains("commonAnnotations") && k["commonAnnotations"].is_object()) {
    std::map<std::string, FieldOrigin> origins;
    for (auto& [key, v] : StringMap(k["commonAnnotations"])) {
      origins[key] = kf.At(JoinPointer("/commonAnnotations", key));
    }
    ApplyLabels(acc.res, StringMap(k["commonAnnotations"]), config.common_annotations, origins);
  }
  if (k.contains("patchesJson6902") && k["patchesJson6902"].is_array()) {
    for (size_t i = 0; i < k["patchesJson6902"].size(); ++i) {
      const Json& e = k["patchesJson6902"][i];
      std::string ptr = "/patchesJson6902/" + std::to_string(i);
      if (!e.is_object() || !e.contains("target")) {
        return core::InvalidArgumentError(kf.Where(ptr) + ": must specify a target for JSON patch");
      }
      RETURN_IF_ERROR(ApplyPatch(kf, ptr, e, acc, false));
    }
  }
  if (k.contains("replicas") && k["replicas"].is_array()) {
    std::vector<ReplicaRule> rules;
    for (size_t i = 0; i < k["replicas"].size(); ++i) {
      const Json& e = k["replicas"][i];
      std::string ptr = "/replicas/" + std::to_string(i);
      ReplicaRule r;
      r.name = Str(e, "name");
      if (!e.contains("count") || !e["count"].is_number_integer()) {
        return core::InvalidArgumentError(kf.Where(ptr) +
                                          ": replicas entry needs an integer count");
      }
      r.count = e["count"].get<long long>();
      r.origin = kf.At(ptr + "/count");
      rules.push_back(r);
    }
    RETURN_IF_ERROR(ApplyReplicas(acc.res, rules, config.replicas));
  }
  if (k.contains("images") && k["images"].is_array()) {
    std::vector<ImageRule> rules;
    for (size_t i = 0; i < k["images"].size(); ++i) {
      const Json& e = k["images"][i];
      std::string ptr = "/images/" + std::to_string(i);
      ImageRule r;
      r.name = Str(e, "name");
      r.new_name = Str(e, "newName");
      r.new_tag = e.contains("newTag") ? ScalarText(e["newTag"]) : "";
      r.digest = Str(e, "digest");
      r.origin = kf.At(ptr);
      rules.push_back(r);
    }
    ApplyImages(acc.res, rules, config.images);
  }
  if (k.contains("replacements") && k["replacements"].is_array()) {
    for (size_t i = 0; i < k["replacements"].size(); ++i) {
      std::string ptr = "/replacements/" + std::to_string(i);
      const Json& e = k["replacements"][i];
      if (e.is_object() && e.contains("path")) {
        fs::path abs;
        auto t = ReadLocal(kf, ScalarText(e["path"]), &abs);
        if (!t.ok()) return t.status().WithPrefix(kf.Where(ptr));
        ASSIGN_OR_RETURN(auto docs, ParseStream(*t, Rel(abs)));
        for (auto& d : docs) {
          if (d.value.is_null()) continue;
          std::vector<Json> list;
          if (d.value.is_array()) {
            list.assign(d.value.begin(), d.value.end());
          } else {
            list.push_back(d.value);
          }
          for (const Json& rep : list) {
            RETURN_IF_ERROR(
                ApplyReplacement(acc.res, rep, FieldOrigin{Rel(abs), d.start.line}, Rel(abs)));
          }
        }
      } else {
        RETURN_IF_ERROR(ApplyReplacement(acc.res, e, kf.At(ptr), kf.Where(ptr)));
      }
    }
  }
  if (k.contains("transformers") && k["transformers"].is_array()) {
    for (size_t i = 0; i < k["transformers"].size(); ++i) {
      std::string ptr = "/transformers/" + std::to_string(i);
      ASSIGN_OR_RETURN(std::vector<PluginConfig> configs, LoadPluginConfigs(kf, ptr));
      for (const PluginConfig& c : configs) {
        RETURN_IF_ERROR(RunPluginConfig(kf, c.config, ptr, c.origin, acc, false));
      }
    }
  }
  if (k.contains("validators") && k["validators"].is_array() && !k["validators"].empty()) {
    return core::UnimplementedError(kf.Where("/validators") +
                                    ": validators (plugins) are not supported");
  }
  return core::OkStatus();
}

core::StatusOr<std::vector<Builder::PluginConfig>> Builder::LoadPluginConfigs(
    const KFile& kf, const std::string& ptr) {
  std::string entry = ScalarText(*core::FindPointer(kf.k, ptr));
  std::vector<PluginConfig> out;
  if (entry.find('\n') == std::string::npos) {
    auto abs = Resolve(kf.dir, entry);
    if (!abs.ok()) return abs.status().WithPrefix(kf.Where(ptr));
    std::error_code ec;
    if (fs::is_directory(*abs, ec)) {
      // kustomize builds the directory and reads every resulting object as a plugin config.
      Accum sub;
      Status st = AccumulateDir(*abs, sub, Expect::kResource);
      if (!st.ok()) return st.WithPrefix(kf.Where(ptr));
      for (Resource& r : sub.res) {
        auto o = r.origins.find("");
        FieldOrigin origin = o != r.origins.end() ? o->second : FieldOrigin{Rel(*abs), 0};
        out.push_back({std::move(r.obj), std::move(origin)});
      }
      return out;
    }
  }
  std::string text, file = kf.rel;
  int line_offset = 0;
  if (entry.find('\n') != std::string::npos) {
    text = entry;
    line_offset = kf.Line(ptr);
  } else {
    fs::path abs;
    auto t = ReadLocal(kf, entry, &abs);
    if (!t.ok()) return t.status().WithPrefix(kf.Where(ptr));
    text = *t;
    file = Rel(abs);
  }
  ASSIGN_OR_RETURN(auto docs, ParseStream(text, file));
  const core::FileName shared(file);
  for (auto& d : docs) {
    if (d.value.is_null()) continue;
    out.push_back({std::move(d.value), FieldOrigin{shared, d.start.line + line_offset}});
  }
  return out;
}

// Builtin plugin configs listed under `transformers` / `generators`.
Status Builder::RunPluginConfig(const KFile& kf, const Json& cfg, const std::string& ptr,
                                const FieldOrigin& origin, Accum& acc, bool generator) {
  std::string where =
      origin.file.str() + (origin.line > 0 ? ":" + std::to_string(origin.line) : "");
  std::string api = Str(cfg, "apiVersion"), kind = Str(cfg, "kind");
  if (api != "builtin") {
    return core::UnimplementedError(where + ": plugin " + api + "/" + kind +
                                    " is not a builtin; exec and Go plugins are not supported");
  }
  ASSIGN_OR_RETURN(TransformerConfig config, EffectiveConfig(acc));
  auto specs_or =
      [&](const std::vector<FieldSpec>& fallback) -> core::StatusOr<std::vector<FieldSpec>> {
    if (!cfg.contains("fieldSpecs")) return fallback;
    return ParseFieldSpecs(cfg["fieldSpecs"], origin.file.str());
  };
  if (kind == "ConfigMapGenerator" || kind == "SecretGenerator") {
    Json entry = cfg;
    if (cfg.contains("metadata")) {
      entry["name"] = Str(cfg["metadata"], "name");
      if (cfg["metadata"].contains("namespace")) entry["namespace"] = cfg["metadata"]["namespace"];
    }
    return RunGenerator(kf, kind == "SecretGenerator", entry, Json(), ptr, acc);
  }
  if (generator) {
    return core::UnimplementedError(where + ": generator kind '" + kind + "' is not supported");
  }
  if (kind == "PrefixSuffixTransformer" || kind == "PrefixTransformer" ||
      kind == "SuffixTransformer") {
    // Explicit fieldSpecs replace the default (metadata/name): without it nothing is renamed.
    bool rename = true;
    std::vector<FieldSpec> fields;
    if (kind == "PrefixSuffixTransformer" && !cfg.contains("fieldSpecs")) {
      return core::InvalidArgumentError(
          where +
          ": plugin PrefixSuffixTransformer fails configuration: fieldSpecs is not "
          "expected to be nil");
    }
    if (cfg.contains("fieldSpecs")) {
      ASSIGN_OR_RETURN(fields, ParseFieldSpecs(cfg["fieldSpecs"], origin.file.str()));
      rename =
          std::erase_if(fields, [](const FieldSpec& f) { return f.path == "metadata/name"; }) > 0;
    }
    ApplyPrefixSuffix(acc.res, Str(cfg, "prefix"), Str(cfg, "suffix"), origin, fields, fields,
                      rename);
    return core::OkStatus();
  }
  if (kind == "LabelTransformer" || kind == "AnnotationsTransformer") {
    bool labels = kind == "LabelTransformer";
    std::map<std::string, std::string> m =
        StringMap(cfg.value(labels ? "labels" : "annotations", Json::object()));
    std::map<std::string, FieldOrigin> origins;
    for (auto& [key, v] : m) origins[key] = origin;
    ASSIGN_OR_RETURN(std::vector<FieldSpec> specs,
                     specs_or(labels ? config.common_labels : config.common_annotations));
    ApplyLabels(acc.res, m, specs, origins);
    return core::OkStatus();
  }
  if (kind == "NamespaceTransformer") {
    std::string ns = cfg.contains("metadata") ? Str(cfg["metadata"], "namespace") : "";
    NamespaceOptions ns_options;
    std::string subjects = Str(cfg, "setRoleBindingSubjects");
    if (subjects == "none") {
      ns_options.subjects = SubjectMode::kNone;
    } else if (subjects == "allServiceAccounts") {
      ns_options.subjects = SubjectMode::kAllServiceAccounts;
    } else if (!subjects.empty() && subjects != "defaultOnly") {
      return core::InvalidArgumentError(
          where + ": plugin NamespaceTransformer fails configuration: invalid value \"" + subjects +
          "\" for setRoleBindingSubjects: must be one of \"defaultOnly\", \"none\" or "
          "\"allServiceAccounts\"");
    }
    if (cfg.contains("unsetOnly")) {
      if (!cfg["unsetOnly"].is_boolean()) {
        return core::InvalidArgumentError(where +
                                          ": NamespaceTransformer unsetOnly must be a bool");
      }
      ns_options.unset_only = cfg["unsetOnly"].get<bool>();
    }
    // A config's fieldSpecs are all it sets besides metadata/namespace: without them kubectl
    // renames no Namespace and leaves APIService services alone.
    if (cfg.contains("fieldSpecs")) {
      ASSIGN_OR_RETURN(ns_options.extra, ParseFieldSpecs(cfg["fieldSpecs"], origin.file.str()));
      std::erase_if(ns_options.extra,
                    [](const FieldSpec& f) { return f.path == "metadata/namespace"; });
    }
    if (!ns.empty()) ApplyNamespace(acc.res, ns, origin, ns_options);
    return core::OkStatus();
  }
  if (kind == "ImageTagTransformer") {
    const Json it = cfg.value("imageTag", Json::object());
    ImageRule r{Str(it, "name"), Str(it, "newName"),
                it.contains("newTag") ? ScalarText(it["newTag"]) : "", Str(it, "digest"), origin};
    ASSIGN_OR_RETURN(std::vector<FieldSpec> specs, specs_or(config.images));
    ApplyImages(acc.res, {r}, specs);
    return core::OkStatus();
  }
  if (kind == "ReplicaCountTransformer") {
    const Json rep = cfg.value("replica", Json::object());
    ReplicaRule r{Str(rep, "name"), rep.value("count", 0LL), origin};
    ASSIGN_OR_RETURN(std::vector<FieldSpec> specs, specs_or(config.replicas));
    return ApplyReplicas(acc.res, {r}, specs);
  }
  if (kind == "PatchTransformer" || kind == "PatchJson6902Transformer") {
    Json entry = Json::object();
    for (const char* f : {"patch", "path", "target", "jsonOp"}) {
      if (cfg.contains(f)) entry[f] = cfg[f];
    }
    return ApplyPatch(kf, ptr, entry, acc, kind == "PatchTransformer" && !cfg.contains("target"));
  }
  if (kind == "PatchStrategicMergeTransformer") {
    for (const char* f : {"paths", "patches"}) {
      if (!cfg.contains(f)) continue;
      if (cfg[f].is_array()) {
        for (const Json& p : cfg[f]) RETURN_IF_ERROR(ApplyPatch(kf, ptr, p, acc, true));
      } else {
        RETURN_IF_ERROR(ApplyPatch(kf, ptr, cfg[f], acc, true));
      }
    }
    return core::OkStatus();
  }
  if (kind == "ReplacementTransformer") {
    if (cfg.contains("replacements") && cfg["replacements"].is_array()) {
      for (const Json& rep : cfg["replacements"]) {
        RETURN_IF_ERROR(ApplyReplacement(acc.res, rep, origin, where));
      }
    }
    return core::OkStatus();
  }
  return core::UnimplementedError(where + ": transformer kind '" + kind + "' is not supported");
}

core::StatusOr<std::vector<Resource>> Builder::Build(const fs::path& dir) {
  std::error_code ec;
  root_ = fs::weakly_canonical(fs::absolute(options_.root), ec);
  if (ec || !fs::is_directory(root_)) {
    return core::NotFoundError("render root '" + options_.root.string() + "' is not a directory");
  }
  fs::path abs = dir.is_absolute() ? dir : root_ / dir;
  abs = abs.lexically_normal();
  fs::path canon = fs::weakly_canonical(abs, ec);
  auto rel = canon.lexically_relative(root_);
  if (rel.empty() || *rel.begin() == "..") {
    return core::PermissionDeniedError("security; '" + dir.string() +
                                       "' is not in or below the root '" + root_.string() + "'");
  }
  if (!fs::is_directory(canon, ec)) {
    return core::NotFoundError("'" + Rel(canon) + "' is not a directory");
  }
  Accum acc;
  RETURN_IF_ERROR(AccumulateDir(canon, acc, Expect::kTop));
  // Done once, at the top: hash suffixes, name references, vars.
  for (Resource& r : acc.res) {
    if (!r.needs_hash) continue;
    r.SetName(r.Name() + "-" + KustomizeHashSuffix(r.obj));
  }
  ASSIGN_OR_RETURN(TransformerConfig config, EffectiveConfig(acc));
  RETURN_IF_ERROR(FixNameReferences(acc.res, config));
  RETURN_IF_ERROR(ResolveVars(acc.res, acc.vars, config.var_reference));
  bool found = false;
  auto kf = LoadKustomization(canon, &found);
  std::string order = "legacy";
  std::vector<std::string> first, last;
  if (kf.ok() && found && kf->k.contains("sortOptions")) {
    const Json& so = kf->k["sortOptions"];
    order = Str(so, "order");
    if (order != "fifo" && order != "legacy") {
      return core::InvalidArgumentError(kf->Where("/sortOptions") +
                                        ": unknown sortOptions.order '" + order + "'");
    }
    if (so.contains("legacySortOptions")) {
      for (const Json& x : so["legacySortOptions"].value("orderFirst", Json::array())) {
        first.push_back(ScalarText(x));
      }
      for (const Json& x : so["legacySortOptions"].value("orderLast", Json::array())) {
        last.push_back(ScalarText(x));
      }
    }
  }
  if (order == "legacy") SortLegacy(acc.res, first, last);
  return std::move(acc.res);
}

}  // namespace

core::StatusOr<std::vector<Resource>> BuildKustomization(const fs::path& dir,
                                                         const RenderOptions& options) {
  Builder b(options);
  return b.Build(dir);
}

}  // namespace driftguard::reconciler::internal

#include "reconciler/internal/kustomize_generators.h"

#include <filesystem>

namespace driftguard::reconciler::internal {
namespace {

using core::Json;

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int n = (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0 || i + n >= s.size()) return false;
    for (int k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    }
    i += n + 1;
  }
  return true;
}

core::StatusOr<std::vector<std::string>> StringList(const Json& entry, const char* key,
                                                    const std::string& where) {
  std::vector<std::string> out;
  auto it = entry.find(key);
  if (it == entry.end() || it->is_null()) return out;
  if (!it->is_array()) return core::InvalidArgumentError(where + ": '" + key + "' must be a list");
  for (const Json& v : *it) {
    if (!v.is_string())
      return core::InvalidArgumentError(where + ": '" + key + "' items must be strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

core::Status AddKv(Json& data, const std::string& key, const std::string& value,
                   const std::string& where) {
  if (key.empty()) return core::InvalidArgumentError(where + ": empty key");
  if (data.contains(key)) {
    return core::InvalidArgumentError(where + ": configmap/secret cannot have duplicate key \"" +
                                      key + "\"");
  }
  data[key] = value;
  return core::OkStatus();
}

void MergeStringMap(Json& into, const Json& from) {
  if (!from.is_object()) return;
  for (auto it = from.begin(); it != from.end(); ++it) {
    into[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  }
}

}  // namespace

core::StatusOr<Resource> Generate(const GeneratorSpec& spec, const FileReader& read,
                                  std::string* behavior) {
  const Json& e = spec.entry;
  std::string where = spec.file + ":" + std::to_string(spec.line);
  if (!e.is_object()) return core::InvalidArgumentError(where + ": generator entry must be a map");
  std::string name = e.value("name", std::string());
  if (name.empty()) {
    return core::InvalidArgumentError(where + ": generator has no name");
  }
  *behavior = e.value("behavior", std::string("create"));
  if (*behavior != "create" && *behavior != "merge" && *behavior != "replace") {
    return core::InvalidArgumentError(where + ": unknown generator behavior '" + *behavior + "'");
  }
  Json data = Json::object(), binary = Json::object();
  ASSIGN_OR_RETURN(std::vector<std::string> envs, StringList(e, "envs", where));
  if (e.contains("env") && e["env"].is_string()) envs.push_back(e["env"].get<std::string>());
  for (const std::string& f : envs) {
    ASSIGN_OR_RETURN(std::string text, read(f));
    if (text.starts_with("\xEF\xBB\xBF")) text = text.substr(3);
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t nl = text.find('\n', pos);
      std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      pos = nl == std::string::npos ? text.size() + 1 : nl + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::string trimmed = line;
      trimmed.erase(0, trimmed.find_first_not_of(" \t"));
      if (trimmed.empty() || trimmed[0] == '#') continue;
      size_t eq = trimmed.find('=');
      if (eq == std::string::npos) {
        // A bare key: kustomize 5.5 (kubectl 1.32) stores it with an empty value and never
        // reads the environment (checked against kubectl with the variable set and unset).
        RETURN_IF_ERROR(AddKv(data, trimmed, "", f));
        continue;
      }
      RETURN_IF_ERROR(AddKv(data, trimmed.substr(0, eq), trimmed.substr(eq + 1), f));
    }
  }
  ASSIGN_OR_RETURN(std::vector<std::string> literals, StringList(e, "literals", where));
  for (const std::string& l : literals) {
    size_t eq = l.find('=');
    if (eq == std::string::npos) {
      return core::InvalidArgumentError(where + ": invalid literal '" + l + "' (need key=value)");
    }
    std::string v = l.substr(eq + 1);
    if (v.size() >= 2 &&
        ((v.front() == '"' && v.back() == '"') || (v.front() == '\'' && v.back() == '\''))) {
      v = v.substr(1, v.size() - 2);
    }
    RETURN_IF_ERROR(AddKv(data, l.substr(0, eq), v, where));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> files, StringList(e, "files", where));
  for (const std::string& f : files) {
    std::string key, path = f;
    size_t eq = f.find('=');
    if (eq != std::string::npos) {
      key = f.substr(0, eq);
      path = f.substr(eq + 1);
    } else {
      key = std::filesystem::path(f).filename().string();
    }
    ASSIGN_OR_RETURN(std::string content, read(path));
    if (data.contains(key) || binary.contains(key)) {
      return core::InvalidArgumentError(where + ": configmap/secret cannot have duplicate key \"" +
                                        key + "\"");
    }
    if (spec.secret || ValidUtf8(content)) {
      data[key] = content;
    } else {
      binary[key] = Base64Encode(content);
    }
  }

  Resource r;
  r.is_generated = true;
  Json& o = r.obj;
  o["apiVersion"] = "v1";
  o["kind"] = spec.secret ? "Secret" : "ConfigMap";
  o["metadata"] = {{"name", name}};
  if (e.contains("namespace") && e["namespace"].is_string() &&
      !e["namespace"].get<std::string>().empty()) {
    o["metadata"]["namespace"] = e["namespace"];
  }
  if (spec.secret) {
    Json enc = Json::object();
    for (auto it = data.begin(); it != data.end(); ++it) {
      // kustomize breaks long values into 70-character lines, each ending in a newline.
      std::string b64 = Base64Encode(it->get<std::string>());
      if (b64.size() >= 70) {
        std::string wrapped;
        for (size_t i = 0; i < b64.size(); i += 70) wrapped += b64.substr(i, 70) + "\n";
        b64 = wrapped;
      }
      enc[it.key()] = b64;
    }
    if (!enc.empty()) o["data"] = enc;
    o["type"] = e.value("type", std::string("Opaque"));
  } else {
    if (!data.empty()) o["data"] = data;
    if (!binary.empty()) o["binaryData"] = binary;
  }
  // Options: the kustomization's generatorOptions, then the entry's own (which win).
  Json labels = Json::object(), annotations = Json::object();
  bool disable_hash = false, immutable = false;
  auto entry_opts = e.find("options");
  const Json* own = entry_opts != e.end() ? &*entry_opts : nullptr;
  for (const Json* opts : {&spec.default_options, own}) {
    if (opts == nullptr || !opts->is_object()) continue;
    if (opts->contains("labels")) MergeStringMap(labels, (*opts)["labels"]);
    if (opts->contains("annotations")) MergeStringMap(annotations, (*opts)["annotations"]);
    if (opts->contains("disableNameSuffixHash") && (*opts)["disableNameSuffixHash"].is_boolean()) {
      disable_hash = (*opts)["disableNameSuffixHash"].get<bool>();
    }
    if (opts->contains("immutable") && (*opts)["immutable"].is_boolean()) {
      immutable = (*opts)["immutable"].get<bool>();
    }
  }
  if (!labels.empty()) o["metadata"]["labels"] = labels;
  if (!annotations.empty()) o["metadata"]["annotations"] = annotations;
  if (immutable) o["immutable"] = true;
  r.needs_hash = !disable_hash;
  SetOriginTree(r.origins, o, "", FieldOrigin{spec.file, spec.line});
  return r;
}

void MergeGenerated(Resource& existing, const Resource& update, bool replace) {
  Json& o = existing.obj;
  const Json& u = update.obj;
  for (const char* field : {"data", "binaryData"}) {
    if (replace) o.erase(field);
    if (u.contains(field)) {
      for (auto it = u[field].begin(); it != u[field].end(); ++it) o[field][it.key()] = *it;
      for (auto it = u[field].begin(); it != u[field].end(); ++it) {
        SetOrigin(existing.origins,
                  "/" + std::string(field) + "/" + core::EscapePointerToken(it.key()),
                  update.origins.count("/" + std::string(field) + "/" +
                                       core::EscapePointerToken(it.key()))
                      ? update.origins.at("/" + std::string(field) + "/" +
                                          core::EscapePointerToken(it.key()))
                      : FieldOrigin{});
      }
    }
  }
  for (const char* meta : {"labels", "annotations"}) {
    if (u["metadata"].contains(meta)) {
      for (auto it = u["metadata"][meta].begin(); it != u["metadata"][meta].end(); ++it) {
        o["metadata"][meta][it.key()] = *it;
      }
    }
  }
  if (u.contains("immutable")) o["immutable"] = u["immutable"];
  if (u.contains("type") && u["type"] != "Opaque") o["type"] = u["type"];
  existing.needs_hash = existing.needs_hash || update.needs_hash;
}

}  // namespace driftguard::reconciler::internal

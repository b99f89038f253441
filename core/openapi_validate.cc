#include "core/openapi_validate.h"

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

namespace driftguard::core {

namespace {

constexpr std::string_view kRefPrefix = "#/components/schemas/";
constexpr char kObjectMeta[] = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
// Deeper values than this are reported once instead of walked (the API server caps nesting too).
constexpr int kMaxDepth = 128;

// The string member `key` of `v`, "" when absent or not a string. Never throws.
std::string StringField(const Json& v, const char* key) {
  if (!v.is_object()) return "";
  auto it = v.find(key);
  return it != v.end() && it->is_string() ? it->get<std::string>() : "";
}

// The boolean member `key` of `v`, false when absent or not a boolean. Never throws.
bool BoolField(const Json& v, const char* key) {
  if (!v.is_object()) return false;
  auto it = v.find(key);
  return it != v.end() && it->is_boolean() && it->get<bool>();
}

std::string Quote(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out = Json(std::string(s.substr(0, kMax))).dump();
  if (s.size() > kMax) out.insert(out.size() - 1, "...");
  return out;
}

// "string \"x\"", "integer 5", "boolean true", "object", "array".
std::string Describe(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string:
      return "string " + Quote(v.get_ref<const std::string&>());
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "integer " + v.dump();
    case Json::value_t::number_float:
      return "number " + v.dump();
    case Json::value_t::boolean:
      return "boolean " + v.dump();
    case Json::value_t::object:
      return "object";
    case Json::value_t::array:
      return "array";
    default:
      return "null";
  }
}

bool MatchesType(const Json& v, std::string_view type) {
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  return true;
}

std::string ApiVersionOf(std::string_view group, std::string_view version) {
  return group.empty() ? std::string(version) : std::string(group) + "/" + std::string(version);
}

std::string ObjectId(const Json& object) {
  std::string id = StringField(object, "kind");
  if (id.empty()) id = "<no kind>";
  const Json* meta = FindPointer(object, "/metadata");
  if (meta != nullptr && meta->is_object()) {
    const Json* ns = FindPointer(*meta, "/namespace");
    if (ns != nullptr && ns->is_string() && !ns->get_ref<const std::string&>().empty()) {
      id += "/" + ns->get<std::string>();
    }
    const Json* name = FindPointer(*meta, "/name");
    const Json* generate = FindPointer(*meta, "/generateName");
    if (name != nullptr && name->is_string()) {
      id += "/" + name->get<std::string>();
    } else if (generate != nullptr && generate->is_string()) {
      id += "/" + generate->get<std::string>() + "*";
    }
  }
  return id;
}

bool IsSimpleKey(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

}  // namespace

std::string SchemaViolation::ToString() const {
  return path.empty() ? object + ": " + message : object + ": " + path + ": " + message;
}

// Walks one value against one schema, appending violations.
class SchemaWalker {
 public:
  SchemaWalker(const std::unordered_map<std::string, Json>& schemas, std::string object_id,
               std::vector<SchemaViolation>* out)
      : schemas_(schemas), object_id_(std::move(object_id)), out_(out) {}

  void Check(const Json& value, const Json& schema, const std::string& path, int depth) {
    if (value.is_null()) return;  // null is "absent" (required is checked by the parent)
    if (depth > kMaxDepth) {
      Report(path, "nested deeper than " + std::to_string(kMaxDepth) + " levels");
      return;
    }
    if (!schema.is_object()) return;
    if (auto ref = schema.find("$ref"); ref != schema.end() && ref->is_string()) {
      const std::string& target = ref->get_ref<const std::string&>();
      auto it = target.rfind(kRefPrefix, 0) == 0 ? schemas_.find(target.substr(kRefPrefix.size()))
                                                 : schemas_.end();
      if (it == schemas_.end()) {
        Report(path, "schema reference " + Quote(target) + " not found");
        return;
      }
      Check(value, it->second, path, depth + 1);
      return;
    }
    if (auto all = schema.find("allOf"); all != schema.end() && all->is_array()) {
      for (const Json& part : *all) Check(value, part, path, depth + 1);
    }
    if (!CheckAlternatives(value, schema, path)) return;
    const std::string type = StringField(schema, "type");
    if (!type.empty() && !MatchesType(value, type)) {
      Report(path, "expected " + type + ", got " + Describe(value));
      return;
    }
    if (auto e = schema.find("enum"); e != schema.end() && e->is_array() && !e->empty()) {
      if (std::find(e->begin(), e->end(), value) == e->end()) {
        std::string allowed;
        for (const Json& a : *e) allowed += (allowed.empty() ? "" : ", ") + a.dump();
        Report(path,
               "expected one of " + allowed + ", got " +
                   (value.is_string() ? Quote(value.get_ref<const std::string&>()) : value.dump()));
        return;
      }
    }
    CheckBounds(value, schema, path);
    if (value.is_object()) CheckObject(value, schema, path, depth);
    if (value.is_array()) {
      auto items = schema.find("items");
      if (items == schema.end() || !items->is_object()) return;
      for (size_t i = 0; i < value.size(); ++i) {
        Check(value[i], *items, path + "[" + std::to_string(i) + "]", depth + 1);
      }
    }
  }

  void Report(const std::string& path, std::string message) {
    out_->push_back({object_id_, path, std::move(message)});
  }

 private:
  // oneOf/anyOf of plain types (IntOrString, Quantity) and x-kubernetes-int-or-string. Returns
  // false when the value matched none (reported).
  bool CheckAlternatives(const Json& value, const Json& schema, const std::string& path) {
    std::vector<std::string> types;
    for (const char* key : {"oneOf", "anyOf"}) {
      auto alt = schema.find(key);
      if (alt == schema.end() || !alt->is_array()) continue;
      for (const Json& option : *alt) {
        if (option.is_object() && option.contains("type") && option["type"].is_string()) {
          types.push_back(option["type"].get<std::string>());
        }
      }
    }
    if (BoolField(schema, "x-kubernetes-int-or-string")) types = {"integer", "string"};
    if (types.empty()) return true;
    for (const std::string& t : types) {
      if (MatchesType(value, t)) return true;
    }
    std::string expected;
    for (size_t i = 0; i < types.size(); ++i) {
      expected += (i == 0 ? "" : i + 1 == types.size() ? " or " : ", ") + types[i];
    }
    Report(path, "expected " + expected + ", got " + Describe(value));
    return false;
  }

  // The value constraints CRD schemas use.
  void CheckBounds(const Json& value, const Json& schema, const std::string& path) {
    if (value.is_number()) {
      if (auto min = schema.find("minimum");
          min != schema.end() && min->is_number() && value.get<double>() < min->get<double>()) {
        Report(path, "must be at least " + min->dump() + ", got " + value.dump());
      }
      if (auto max = schema.find("maximum");
          max != schema.end() && max->is_number() && value.get<double>() > max->get<double>()) {
        Report(path, "must be at most " + max->dump() + ", got " + value.dump());
      }
    }
    if (value.is_string()) {
      const std::string& s = value.get_ref<const std::string&>();
      if (auto min = schema.find("minLength");
          min != schema.end() && min->is_number_integer() && s.size() < min->get<size_t>()) {
        Report(path, "must be at least " + min->dump() + " characters long, got " + Quote(s));
      }
      if (auto max = schema.find("maxLength");
          max != schema.end() && max->is_number_integer() && s.size() > max->get<size_t>()) {
        Report(path, "must be at most " + max->dump() + " characters long, got " + Quote(s));
      }
      if (auto pattern = schema.find("pattern"); pattern != schema.end() && pattern->is_string()) {
        const std::string& p = pattern->get_ref<const std::string&>();
        try {
          if (!std::regex_search(s, std::regex(p, std::regex::ECMAScript))) {
            Report(path, "must match " + Quote(p) + ", got " + Quote(s));
          }
        } catch (const std::exception&) {
          Report(path, "schema pattern " + Quote(p) + " cannot be evaluated");
        }
      }
    }
    if (value.is_array()) {
      if (auto min = schema.find("minItems");
          min != schema.end() && min->is_number_integer() && value.size() < min->get<size_t>()) {
        Report(path,
               "must have at least " + min->dump() + " items, got " + std::to_string(value.size()));
      }
      if (auto max = schema.find("maxItems");
          max != schema.end() && max->is_number_integer() && value.size() > max->get<size_t>()) {
        Report(path,
               "must have at most " + max->dump() + " items, got " + std::to_string(value.size()));
      }
    }
  }

  void CheckObject(const Json& value, const Json& schema, const std::string& path, int depth) {
    auto props = schema.find("properties");
    auto extra = schema.find("additionalProperties");
    const bool has_props = props != schema.end() && props->is_object();
    const bool preserve = BoolField(schema, "x-kubernetes-preserve-unknown-fields");
    for (auto it = value.begin(); it != value.end(); ++it) {
      const std::string& key = it.key();
      if (has_props) {
        if (auto p = props->find(key); p != props->end()) {
          Check(*it, *p, path.empty() ? key : path + "." + key, depth + 1);
          continue;
        }
      }
      if (extra != schema.end() && extra->is_object()) {
        Check(*it, *extra, path + (IsSimpleKey(key) ? "." + key : "[" + Quote(key) + "]"),
              depth + 1);
        continue;
      }
      if (has_props && !preserve && !(extra != schema.end() && extra->is_boolean() && *extra)) {
        Report(path.empty() ? key : path + "." + key, "unknown field");
      }
    }
    if (auto required = schema.find("required"); required != schema.end() && required->is_array()) {
      for (const Json& r : *required) {
        if (!r.is_string()) continue;
        const std::string& key = r.get_ref<const std::string&>();
        auto it = value.find(key);
        if (it == value.end() || it->is_null()) {
          Report(path.empty() ? key : path + "." + key, "required field is missing");
        }
      }
    }
  }

  const std::unordered_map<std::string, Json>& schemas_;
  std::string object_id_;
  std::vector<SchemaViolation>* out_;
};

StatusOr<OpenApiValidator> OpenApiValidator::FromDocuments(const std::vector<Json>& documents,
                                                           OpenApiValidatorOptions options) {
  OpenApiValidator v;
  v.options_ = options;
  v.schemas_ = std::make_shared<std::unordered_map<std::string, Json>>();
  for (const Json& doc : documents) {
    const Json* schemas = FindPointer(doc, "/components/schemas");
    if (schemas == nullptr || !schemas->is_object()) continue;
    for (auto it = schemas->begin(); it != schemas->end(); ++it) {
      v.schemas_->emplace(it.key(), it.value());
    }
  }
  if (v.schemas_->empty()) {
    return NotFoundError("no OpenAPI v3 document with components.schemas");
  }
  for (const auto& [name, schema] : *v.schemas_) {
    const Json* gvks = FindPointer(schema, "/x-kubernetes-group-version-kind");
    if (gvks == nullptr || !gvks->is_array()) continue;
    // Objects one writes carry apiVersion, kind and metadata; DeleteOptions, WatchEvent and the
    // like list many group-versions but are never stored.
    const Json* props = FindPointer(schema, "/properties");
    if (props == nullptr || !props->contains("metadata")) continue;
    for (const Json& gvk : *gvks) {
      if (!gvk.is_object()) continue;
      GroupVersionKind key{ApiVersionOf(StringField(gvk, "group"), StringField(gvk, "version")),
                           StringField(gvk, "kind")};
      v.kinds_.emplace(key, Json{{"$ref", std::string(kRefPrefix) + name}});
    }
  }
  return v;
}

StatusOr<OpenApiValidator> OpenApiValidator::LoadDirectory(const std::filesystem::path& dir,
                                                           OpenApiValidatorOptions options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path root = fs::is_directory(dir / "v3", ec) ? dir / "v3" : dir;
  if (!fs::is_directory(root, ec)) {
    return NotFoundError("OpenAPI directory " + dir.string() + " does not exist");
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    if (entry.is_regular_file(ec) && entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<Json> documents;
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return NotFoundError("cannot read " + file.string());
    std::ostringstream text;
    text << in.rdbuf();
    ASSIGN_OR_RETURN(Json doc, ParseJson(text.str(), file.string()));
    if (FindPointer(doc, "/components/schemas") != nullptr) documents.push_back(std::move(doc));
  }
  auto validator = FromDocuments(documents, options);
  if (!validator.ok()) {
    return NotFoundError("no OpenAPI v3 document with components.schemas in " + root.string());
  }
  return validator;
}

Status OpenApiValidator::AddCustomResourceDefinition(const Json& crd) {
  const std::string where = ObjectId(crd);
  const Json* group = FindPointer(crd, "/spec/group");
  const Json* kind = FindPointer(crd, "/spec/names/kind");
  const Json* versions = FindPointer(crd, "/spec/versions");
  if (group == nullptr || !group->is_string()) {
    return InvalidArgumentError(where + ": spec.group is missing");
  }
  if (kind == nullptr || !kind->is_string()) {
    return InvalidArgumentError(where + ": spec.names.kind is missing");
  }
  if (versions == nullptr || !versions->is_array() || versions->empty()) {
    return InvalidArgumentError(where + ": spec.versions is missing");
  }
  std::vector<std::pair<GroupVersionKind, Json>> added;
  for (size_t i = 0; i < versions->size(); ++i) {
    const Json& version = (*versions)[i];
    const Json* name = FindPointer(version, "/name");
    const Json* schema = FindPointer(version, "/schema/openAPIV3Schema");
    if (name == nullptr || !name->is_string()) {
      return InvalidArgumentError(where + ": spec.versions[" + std::to_string(i) +
                                  "].name is missing");
    }
    if (schema == nullptr || !schema->is_object()) {
      return InvalidArgumentError(where + ": spec.versions[" + std::to_string(i) +
                                  "].schema.openAPIV3Schema is missing");
    }
    Json root = *schema;
    // The API server validates metadata itself; apiVersion and kind are always strings.
    root["properties"]["metadata"] = Json{{"$ref", std::string(kRefPrefix) + kObjectMeta}};
    root["properties"]["apiVersion"] = Json{{"type", "string"}};
    root["properties"]["kind"] = Json{{"type", "string"}};
    added.emplace_back(
        GroupVersionKind{ApiVersionOf(group->get<std::string>(), name->get<std::string>()),
                         kind->get<std::string>()},
        std::move(root));
  }
  for (auto& [key, root] : added) kinds_[key] = std::move(root);
  return OkStatus();
}

bool OpenApiValidator::HasSchema(std::string_view api_version, std::string_view kind) const {
  return kinds_.contains(GroupVersionKind{std::string(api_version), std::string(kind)});
}

std::vector<SchemaViolation> OpenApiValidator::Validate(const Json& object) const {
  std::vector<SchemaViolation> out;
  if (!object.is_object()) {
    out.push_back({"<document>", "", "expected object, got " + Describe(object)});
    return out;
  }
  SchemaWalker walker(*schemas_, ObjectId(object), &out);
  const Json* api_version = FindPointer(object, "/apiVersion");
  const Json* kind = FindPointer(object, "/kind");
  bool identified = true;
  for (auto [field, value] : {std::pair{"apiVersion", api_version}, std::pair{"kind", kind}}) {
    if (value == nullptr || value->is_null()) {
      walker.Report(field, "required field is missing");
      identified = false;
    } else if (!value->is_string()) {
      walker.Report(field, "expected string, got " + Describe(*value));
      identified = false;
    }
  }
  if (!identified) return out;
  const Json* name = FindPointer(object, "/metadata/name");
  const Json* generate_name = FindPointer(object, "/metadata/generateName");
  if ((name == nullptr || name->is_null()) &&
      (generate_name == nullptr || generate_name->is_null())) {
    walker.Report("metadata.name", "required field is missing");
  }
  auto it =
      kinds_.find(GroupVersionKind{api_version->get<std::string>(), kind->get<std::string>()});
  if (it == kinds_.end()) {
    if (!options_.ignore_missing_schemas) {
      walker.Report("", "no schema for apiVersion " + Quote(api_version->get<std::string>()) +
                            " kind " + Quote(kind->get<std::string>()));
    }
    return out;
  }
  walker.Check(object, it->second, "", 0);
  return out;
}

std::vector<SchemaViolation> OpenApiValidator::ValidateAll(const std::vector<Json>& objects) {
  std::vector<SchemaViolation> out;
  std::vector<bool> done(objects.size(), false);
  for (size_t i = 0; i < objects.size(); ++i) {
    const Json& o = objects[i];
    if (StringField(o, "kind") != "CustomResourceDefinition" ||
        StringField(o, "apiVersion") != "apiextensions.k8s.io/v1") {
      continue;
    }
    auto violations = Validate(o);
    if (violations.empty()) {
      if (Status s = AddCustomResourceDefinition(o); !s.ok()) {
        violations.push_back({ObjectId(o), "", s.message()});
      }
    }
    out.insert(out.end(), violations.begin(), violations.end());
    done[i] = true;
  }
  for (size_t i = 0; i < objects.size(); ++i) {
    if (done[i]) continue;
    auto violations = Validate(objects[i]);
    if (!objects[i].is_object()) {
      for (auto& v : violations) v.object = "document " + std::to_string(i + 1);
    }
    out.insert(out.end(), violations.begin(), violations.end());
  }
  return out;
}

}  // namespace driftguard::core

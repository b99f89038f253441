#include "core/internal/schema_generator.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "core/json.h"
#include "core/schema.h"

namespace driftguard::core::internal {
namespace {

constexpr std::string_view kRefPrefix = "#/components/schemas/";
constexpr int kNone = -1;

struct GenList {
  ListType declared_type = ListType::kAtomic;
  bool has_declared_type = false;
  std::vector<std::string> keys;
  uint8_t patch_strategy = 0;
  std::string merge_key;
  ListType compare_type = ListType::kAtomic;
  std::vector<std::string> compare_keys;
  std::vector<std::string> compare_key_defaults;
  std::vector<std::string> merge_keys;

  std::string Signature() const {
    std::ostringstream s;
    s << int(declared_type) << has_declared_type << '|';
    for (const auto& k : keys) s << k << ',';
    s << '|' << int(patch_strategy) << '|' << merge_key << '|' << int(compare_type) << '|';
    for (const auto& k : compare_keys) s << k << ',';
    s << '|';
    for (const auto& k : compare_key_defaults) s << k << ',';
    s << '|';
    for (const auto& k : merge_keys) s << k << ',';
    return s.str();
  }
};

struct GenNode {
  SchemaKind kind = SchemaKind::kAny;
  ScalarType scalar = ScalarType::kNone;
  bool atomic_map = false;
  uint8_t patch_strategy = 0;
  std::string type_name;
  // Fields (object nodes that own them). Alias nodes share the fields of `alias_of`.
  std::vector<std::pair<std::string, int>> fields;
  int alias_of = kNone;
  int element = kNone;
  int list = kNone;
};

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

const char* ListTypeName(ListType t) {
  switch (t) {
    case ListType::kAtomic:
      return "ListType::kAtomic";
    case ListType::kSet:
      return "ListType::kSet";
    case ListType::kMap:
      return "ListType::kMap";
  }
  return "ListType::kAtomic";
}

const char* KindName(SchemaKind k) {
  switch (k) {
    case SchemaKind::kAny:
      return "K::kAny";
    case SchemaKind::kObject:
      return "K::kObject";
    case SchemaKind::kMap:
      return "K::kMap";
    case SchemaKind::kList:
      return "K::kList";
    case SchemaKind::kScalar:
      return "K::kScalar";
  }
  return "K::kAny";
}

const char* ScalarName(ScalarType t) {
  switch (t) {
    case ScalarType::kNone:
      return "S::kNone";
    case ScalarType::kString:
      return "S::kString";
    case ScalarType::kInteger:
      return "S::kInteger";
    case ScalarType::kNumber:
      return "S::kNumber";
    case ScalarType::kBoolean:
      return "S::kBoolean";
    case ScalarType::kIntOrString:
      return "S::kIntOrString";
    case ScalarType::kQuantity:
      return "S::kQuantity";
    case ScalarType::kBytes:
      return "S::kBytes";
    case ScalarType::kDateTime:
      return "S::kDateTime";
  }
  return "S::kNone";
}

class Generator {
 public:
  explicit Generator(std::map<std::string, Json> schemas) : schemas_(std::move(schemas)) {}

  Status Run() {
    // Named types first, in name order, so their indices are stable.
    for (const auto& [name, schema] : schemas_) {
      named_[name] = static_cast<int>(nodes_.size());
      nodes_.emplace_back();
    }
    for (const auto& [name, schema] : schemas_) {
      RETURN_IF_ERROR(FillNamed(name, schema));
    }
    for (const auto& [name, schema] : schemas_) {
      auto it = schema.find("x-kubernetes-group-version-kind");
      if (it == schema.end() || !it->is_array()) continue;
      for (const Json& gvk : *it) {
        if (!gvk.is_object()) continue;
        std::string group = gvk.value("group", "");
        std::string version = gvk.value("version", "");
        std::string kind = gvk.value("kind", "");
        auto key = std::make_tuple(group, version, kind);
        auto existing = kinds_.find(key);
        bool own_type = EndsWith(name, "." + kind);
        if (existing == kinds_.end() || own_type) kinds_[key] = named_[name];
      }
    }
    return OkStatus();
  }

  std::string Emit() const;

 private:
  static bool EndsWith(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
  }

  static uint8_t ParseStrategy(const Json& s) {
    auto it = s.find("x-kubernetes-patch-strategy");
    if (it == s.end() || !it->is_string()) return 0;
    uint8_t bits = 0;
    std::string v = it->get<std::string>();
    size_t pos = 0;
    while (pos <= v.size()) {
      size_t comma = v.find(',', pos);
      std::string part =
          v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      if (part == "merge") bits |= kPatchStrategyMerge;
      if (part == "replace") bits |= kPatchStrategyReplace;
      if (part == "retainKeys") bits |= kPatchStrategyRetainKeys;
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    return bits;
  }

  static std::string RefOf(const Json& s) {
    auto it = s.find("$ref");
    if (it != s.end() && it->is_string()) return it->get<std::string>();
    auto all = s.find("allOf");
    if (all != s.end() && all->is_array() && all->size() == 1) {
      auto ref = (*all)[0].find("$ref");
      if (ref != (*all)[0].end() && ref->is_string()) return ref->get<std::string>();
    }
    return "";
  }

  // The structural shape of a schema without following references: kind and scalar type.
  static void Shape(const Json& s, GenNode& node) {
    std::string type = s.value("type", "");
    std::string format = s.value("format", "");
    node.atomic_map = s.value("x-kubernetes-map-type", "") == "atomic";
    node.patch_strategy = ParseStrategy(s);
    if (type == "string") {
      node.kind = SchemaKind::kScalar;
      node.scalar = format == "byte"            ? ScalarType::kBytes
                    : format == "date-time"     ? ScalarType::kDateTime
                    : format == "int-or-string" ? ScalarType::kIntOrString
                                                : ScalarType::kString;
    } else if (type == "integer") {
      node.kind = SchemaKind::kScalar;
      node.scalar = ScalarType::kInteger;
    } else if (type == "number") {
      node.kind = SchemaKind::kScalar;
      node.scalar = ScalarType::kNumber;
    } else if (type == "boolean") {
      node.kind = SchemaKind::kScalar;
      node.scalar = ScalarType::kBoolean;
    } else if (type.empty() && s.contains("oneOf")) {
      node.kind = SchemaKind::kScalar;
      bool has_number = false;
      for (const Json& alt : s["oneOf"]) has_number |= alt.value("type", "") == "number";
      node.scalar = format == "int-or-string" ? ScalarType::kIntOrString
                    : has_number              ? ScalarType::kQuantity
                                              : ScalarType::kIntOrString;
    } else {
      node.kind = SchemaKind::kAny;
    }
  }

  Status FillNamed(const std::string& name, const Json& s) {
    GenNode node;
    node.type_name = name;
    Shape(s, node);
    auto props = s.find("properties");
    if (s.value("type", "") == "object" && props != s.end() && props->is_object()) {
      node.kind = SchemaKind::kObject;
      for (const auto& [field, fs] : props->items()) {
        ASSIGN_OR_RETURN(int child, NodeFor(fs, name + "." + field));
        node.fields.emplace_back(field, child);
      }
    } else if (s.value("type", "") == "object" && s.contains("additionalProperties")) {
      ASSIGN_OR_RETURN(int value, NodeFor(s["additionalProperties"], name + ".*"));
      node.kind = SchemaKind::kMap;
      node.element = value;
    } else if (s.value("type", "") == "array") {
      return InvalidArgumentError("schema " + name + ": named array types are not supported");
    }
    nodes_[named_[name]] = std::move(node);
    return OkStatus();
  }

  int Intern(GenNode node) {
    std::ostringstream sig;
    sig << int(node.kind) << '|' << int(node.scalar) << '|' << node.atomic_map << '|'
        << int(node.patch_strategy) << '|' << node.type_name << '|' << node.alias_of << '|'
        << node.element << '|' << node.list;
    auto [it, inserted] = anonymous_.emplace(sig.str(), static_cast<int>(nodes_.size()));
    if (inserted) nodes_.push_back(std::move(node));
    return it->second;
  }

  int InternList(GenList list) {
    auto [it, inserted] = list_index_.emplace(list.Signature(), static_cast<int>(lists_.size()));
    if (inserted) lists_.push_back(std::move(list));
    return it->second;
  }

  // The schema a reference names (for reading item property defaults).
  const Json* Resolve(const Json& s) const {
    std::string ref = RefOf(s);
    if (ref.empty()) return &s;
    auto it = schemas_.find(ref.substr(kRefPrefix.size()));
    return it == schemas_.end() ? nullptr : &it->second;
  }

  StatusOr<int> NodeFor(const Json& s, const std::string& where) {
    if (!s.is_object()) {
      // `additionalProperties: true` and similar: any value.
      GenNode any;
      return Intern(any);
    }
    std::string ref = RefOf(s);
    if (!ref.empty()) {
      if (ref.rfind(kRefPrefix, 0) != 0) {
        return InvalidArgumentError(where + ": unsupported $ref " + ref);
      }
      auto it = named_.find(ref.substr(kRefPrefix.size()));
      if (it == named_.end()) return InvalidArgumentError(where + ": unknown $ref " + ref);
      int base = it->second;
      uint8_t strategy = ParseStrategy(s);
      auto map_type = s.find("x-kubernetes-map-type");
      if (strategy == 0 && map_type == s.end()) return base;
      // The field overrides its type's annotations: an alias node with the type's structure.
      const Json& base_schema = schemas_.at(ref.substr(kRefPrefix.size()));
      GenNode alias;
      Shape(base_schema, alias);
      if (base_schema.contains("properties")) alias.kind = SchemaKind::kObject;
      if (base_schema.value("type", "") == "object" && !base_schema.contains("properties") &&
          base_schema.contains("additionalProperties")) {
        alias.kind = SchemaKind::kMap;
      }
      alias.type_name = ref.substr(kRefPrefix.size());
      alias.alias_of = base;
      if (strategy != 0) alias.patch_strategy = strategy;
      if (map_type != s.end() && map_type->is_string()) {
        alias.atomic_map = map_type->get<std::string>() == "atomic";
      }
      if (alias.atomic_map == (base_schema.value("x-kubernetes-map-type", "") == "atomic") &&
          alias.patch_strategy == ParseStrategy(base_schema)) {
        return base;
      }
      return Intern(std::move(alias));
    }
    std::string type = s.value("type", "");
    if (type == "array") {
      auto items = s.find("items");
      if (items == s.end()) return InvalidArgumentError(where + ": array without items");
      ASSIGN_OR_RETURN(int element, NodeFor(*items, where + "[]"));
      GenList list;
      std::string lt = s.value("x-kubernetes-list-type", "");
      list.has_declared_type = !lt.empty();
      list.declared_type = lt == "map"   ? ListType::kMap
                           : lt == "set" ? ListType::kSet
                                         : ListType::kAtomic;
      if (auto k = s.find("x-kubernetes-list-map-keys"); k != s.end() && k->is_array()) {
        for (const Json& key : *k) list.keys.push_back(key.get<std::string>());
      }
      list.patch_strategy = ParseStrategy(s);
      list.merge_key = s.value("x-kubernetes-patch-merge-key", "");
      bool merge = (list.patch_strategy & kPatchStrategyMerge) != 0;
      if (list.has_declared_type) {
        list.compare_type = list.declared_type;
        if (list.declared_type == ListType::kMap) list.compare_keys = list.keys;
      } else if (merge && !list.merge_key.empty()) {
        list.compare_type = ListType::kMap;
        list.compare_keys = {list.merge_key};
      } else if (merge) {
        list.compare_type = ListType::kSet;
      }
      if (merge) {
        if (list.declared_type == ListType::kMap && !list.keys.empty()) {
          list.merge_keys = list.keys;
        } else if (!list.merge_key.empty()) {
          list.merge_keys = {list.merge_key};
        }
      }
      const Json* item_schema = Resolve(*items);
      for (const std::string& key : list.compare_keys) {
        std::string def;
        if (item_schema != nullptr) {
          const Json* d =
              FindPointer(*item_schema, "/properties/" + EscapePointerToken(key) + "/default");
          if (d != nullptr && d->is_primitive() && !d->is_null()) def = d->dump();
        }
        list.compare_key_defaults.push_back(def);
      }
      GenNode node;
      node.kind = SchemaKind::kList;
      node.patch_strategy = list.patch_strategy;
      node.element = element;
      node.list = InternList(std::move(list));
      return Intern(std::move(node));
    }
    if (type == "object") {
      if (s.contains("properties")) {
        return InvalidArgumentError(where + ": inline object schemas are not supported");
      }
      GenNode node;
      Shape(s, node);
      if (auto ap = s.find("additionalProperties"); ap != s.end()) {
        ASSIGN_OR_RETURN(int value, NodeFor(*ap, where + ".*"));
        node.kind = SchemaKind::kMap;
        node.element = value;
      }
      return Intern(std::move(node));
    }
    GenNode node;
    Shape(s, node);
    node.patch_strategy = 0;
    node.atomic_map = false;
    return Intern(std::move(node));
  }

  std::map<std::string, Json> schemas_;
  std::map<std::string, int> named_;
  std::vector<GenNode> nodes_;
  std::map<std::string, int> anonymous_;
  std::vector<GenList> lists_;
  std::map<std::string, int> list_index_;
  std::map<std::tuple<std::string, std::string, std::string>, int> kinds_;
};

std::string Generator::Emit() const {
  std::ostringstream out;
  out << "// clang-format off\n"
         "// GENERATED by tools/gen_schema_table from the Kubernetes OpenAPI v3 documents in\n"
         "// ../shared/k8s-openapi/v3 (Kubernetes v1.28.4). DO NOT EDIT.\n"
         "//\n"
         "// Regenerate from the repository root:\n"
         "//   cmake --build <build-dir> --target gen_schema_table\n"
         "//   <build-dir>/tools/gen_schema_table/gen_schema_table ../shared/k8s-openapi > "
         "core/internal/schema_table.cc\n"
         "// tests/core/schema_test.cc fails when this file differs from a fresh generation.\n"
         "#include \"core/internal/schema_table.h\"\n\n"
         "namespace driftguard::core::internal {\n"
         "namespace {\n\n";
  // Key arrays, one per distinct key list.
  std::map<std::vector<std::string>, int> key_arrays;
  auto key_array = [&](const std::vector<std::string>& keys) -> std::string {
    if (keys.empty()) return "{}";
    auto [it, inserted] = key_arrays.emplace(keys, static_cast<int>(key_arrays.size()));
    return "kKeys" + std::to_string(it->second);
  };
  std::vector<std::string> list_lines;
  for (const GenList& l : lists_) {
    std::ostringstream line;
    line << "    {" << ListTypeName(l.declared_type) << ", "
         << (l.has_declared_type ? "true" : "false") << ", " << key_array(l.keys) << ", "
         << int(l.patch_strategy) << ", " << Quote(l.merge_key) << ", "
         << ListTypeName(l.compare_type) << ", " << key_array(l.compare_keys) << ", "
         << key_array(l.compare_key_defaults) << ", " << key_array(l.merge_keys) << "},\n";
    list_lines.push_back(line.str());
  }
  std::vector<std::pair<int, std::vector<std::string>>> ordered;
  for (const auto& [keys, index] : key_arrays) ordered.emplace_back(index, keys);
  std::sort(ordered.begin(), ordered.end());
  for (const auto& [index, keys] : ordered) {
    out << "constexpr std::string_view kKeys" << index << "[] = {";
    for (size_t i = 0; i < keys.size(); ++i) out << (i ? ", " : "") << Quote(keys[i]);
    out << "};\n";
  }
  out << "\nusing K = SchemaKind;\nusing S = ScalarType;\n\n}  // namespace\n\n";

  out << "constinit const ListInfo kSchemaLists[] = {\n";
  for (const auto& line : list_lines) out << line;
  out << "};\nconst size_t kSchemaListCount = " << lists_.size() << ";\n\n";

  // Fields: the owners' ranges, in node order.
  std::vector<std::pair<size_t, size_t>> ranges(nodes_.size(), {0, 0});
  out << "constinit const SchemaFieldEntry kSchemaFields[] = {\n";
  size_t field_count = 0;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].fields.empty()) continue;
    ranges[i] = {field_count, nodes_[i].fields.size()};
    out << "    // " << nodes_[i].type_name << "\n";
    for (const auto& [name, child] : nodes_[i].fields) {
      out << "    {" << Quote(name) << ", " << child << "},\n";
    }
    field_count += nodes_[i].fields.size();
  }
  if (field_count == 0) out << "    {\"\", 0},\n";
  out << "};\nconst size_t kSchemaFieldCount = " << field_count << ";\n\n";

  out << "constinit const SchemaNode kSchemaNodes[] = {\n";
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const GenNode& n = nodes_[i];
    const GenNode& owner = n.alias_of == kNone ? n : nodes_[n.alias_of];
    auto range = ranges[n.alias_of == kNone ? i : n.alias_of];
    int element = n.alias_of == kNone ? n.element : owner.element;
    int list = n.alias_of == kNone ? n.list : owner.list;
    out << "    /*" << i << "*/ {" << KindName(n.kind) << ", " << ScalarName(n.scalar) << ", "
        << (n.atomic_map ? "true" : "false") << ", " << int(n.patch_strategy) << ", "
        << Quote(n.type_name) << ", " << range.first << ", " << range.second << ", "
        << (element == kNone ? "SchemaNode::kNoNode" : std::to_string(element)) << ", "
        << (list == kNone ? "SchemaNode::kNoList" : std::to_string(list)) << "},\n";
  }
  out << "};\nconst size_t kSchemaNodeCount = " << nodes_.size() << ";\n\n";

  out << "constinit const SchemaKindEntry kSchemaKinds[] = {\n";
  for (const auto& [gvk, node] : kinds_) {
    out << "    {" << Quote(std::get<0>(gvk)) << ", " << Quote(std::get<1>(gvk)) << ", "
        << Quote(std::get<2>(gvk)) << ", " << node << "},\n";
  }
  out << "};\nconst size_t kSchemaKindCount = " << kinds_.size() << ";\n\n";
  out << "}  // namespace driftguard::core::internal\n// clang-format on\n";
  return out.str();
}

}  // namespace

StatusOr<std::string> GenerateSchemaTableSource(const std::string& openapi_dir) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(openapi_dir) / "v3";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFoundError(dir.string() + ": not a directory");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  if (ec) return UnavailableError(dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  std::map<std::string, Json> schemas;
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return UnavailableError(file.string() + ": cannot read");
    std::stringstream text;
    text << in.rdbuf();
    ASSIGN_OR_RETURN(Json doc, ParseJson(text.str(), file.string()));
    const Json* components = FindPointer(doc, "/components/schemas");
    if (components == nullptr || !components->is_object()) continue;
    for (const auto& [name, schema] : components->items()) {
      auto [it, inserted] = schemas.emplace(name, schema);
      if (!inserted && it->second != schema) {
        return InvalidArgumentError(file.string() + ": schema " + name +
                                    " differs from an earlier document's");
      }
    }
  }
  if (schemas.empty()) return NotFoundError(dir.string() + ": no OpenAPI v3 schemas found");
  Generator generator(std::move(schemas));
  RETURN_IF_ERROR(generator.Run());
  return generator.Emit();
}

}  // namespace driftguard::core::internal

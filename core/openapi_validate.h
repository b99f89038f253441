// Schema validation of Kubernetes objects against the API server's OpenAPI v3 documents, and of
// custom resources against the openAPIV3Schema of their CustomResourceDefinition.
//
// The schemas are read at run time from a directory of OpenAPI v3 documents as the API server
// serves them (`GET /openapi/v3/apis/apps/v1` saved as apis__apps__v1.json; the project keeps a
// v1.28 copy in ../shared/k8s-openapi/v3). Run-time loading, rather than the generated table of
// core/schema.h, because validation needs what the table leaves out: `required`, `enum`, formats
// and the exact type of every field, for every kind including the ones the guard never compares.
//
//   ASSIGN_OR_RETURN(OpenApiValidator validator, OpenApiValidator::LoadDirectory(dir));
//   for (const SchemaViolation& v : validator.ValidateAll(objects)) std::cerr << v.ToString();
//   // "Deployment/driftguard-system/driftguard: spec.template.spec.containers[0].ports[0]
//   //  .containerPort: expected integer, got string \"x\""
//
// What is checked, per field: the JSON type (`integer` accepts only integral numbers; int-or-string
// and Quantity accept either form), `enum`, `required` (a null value counts as missing, as the API
// server treats it), unknown fields of objects that declare `properties` (unless the schema sets
// `x-kubernetes-preserve-unknown-fields`; an object schema with neither `properties` nor
// `additionalProperties` accepts any fields), and for CRD schemas also `minimum`/`maximum`,
// `minLength`/`maxLength`, `minItems`/`maxItems` and `pattern` (ECMAScript syntax, which covers
// the patterns Flux and Flagger use). Every object needs `apiVersion`, `kind` and `metadata.name`
// (or `metadata.generateName`); `metadata` of a custom resource is checked against ObjectMeta.
// Not checked: formats other than the types they imply, CEL rules (`x-kubernetes-validations`),
// namespace scope (discovery, not OpenAPI, knows it) and defaults.
//
// Paths: properties and map entries join with '.', list items as `[i]`; a map key holding other
// characters than letters, digits, '-' and '_' as `["key"]`
// (`metadata.labels["app.kubernetes.io/name"]`).
//
// Thread safety: a loaded validator is immutable except for AddCustomResourceDefinition; const
// methods may be called concurrently.
#ifndef DRIFTGUARD_CORE_OPENAPI_VALIDATE_H_
#define DRIFTGUARD_CORE_OPENAPI_VALIDATE_H_

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace driftguard::core {

struct SchemaViolation {
  // "Kind/namespace/name", or "Kind/name" without a namespace ("document 3" when the input is not
  // an object).
  std::string object;
  // Where in the object, "" for the object itself.
  std::string path;
  // What is wrong: "expected integer, got string \"x\"", "unknown field", "required field is
  // missing", "expected one of \"Always\", \"IfNotPresent\", \"Never\", got \"Sometimes\"".
  std::string message;

  // "<object>: <path>: <message>" (without the path part when path is empty).
  std::string ToString() const;
  bool operator==(const SchemaViolation&) const = default;
};

struct OpenApiValidatorOptions {
  // When false (the default), an object whose apiVersion/kind has no schema (neither built in nor
  // registered from a CRD) is a violation; when true it is skipped.
  bool ignore_missing_schemas = false;
};

class OpenApiValidator {
 public:
  // Loads every *.json under `dir` (or `dir`/v3 when that exists) that has `components.schemas`.
  // NotFound when the directory holds no such document; InvalidArgument for unparsable JSON.
  static StatusOr<OpenApiValidator> LoadDirectory(const std::filesystem::path& dir,
                                                  OpenApiValidatorOptions options = {});
  // Same, from already parsed documents (tests).
  static StatusOr<OpenApiValidator> FromDocuments(const std::vector<Json>& documents,
                                                  OpenApiValidatorOptions options = {});

  // Registers the openAPIV3Schema of every version of an apiextensions.k8s.io/v1
  // CustomResourceDefinition. InvalidArgument (naming the field) when the CRD lacks spec.group,
  // spec.names.kind or a version's schema.openAPIV3Schema. A later registration of the same
  // group/version/kind replaces the earlier one.
  Status AddCustomResourceDefinition(const Json& crd);

  // True when objects of this apiVersion ("apps/v1", "v1") and kind have a schema.
  bool HasSchema(std::string_view api_version, std::string_view kind) const;

  // The violations of one object, in document order; empty when it is valid.
  std::vector<SchemaViolation> Validate(const Json& object) const;

  // Validates every object; CustomResourceDefinitions among them that validate cleanly are
  // registered first, so custom resources in the same stream are checked against them.
  std::vector<SchemaViolation> ValidateAll(const std::vector<Json>& objects);

  // Number of named schemas and of apiVersion/kind pairs known (tests, diagnostics).
  size_t SchemaCount() const { return schemas_->size(); }
  size_t KindCount() const { return kinds_.size(); }

 private:
  friend class SchemaWalker;
  using GroupVersionKind = std::pair<std::string, std::string>;  // {apiVersion, kind}

  OpenApiValidatorOptions options_;
  // Named component schemas ("io.k8s.api.core.v1.PodSpec"), shared by copies of the validator.
  std::shared_ptr<std::unordered_map<std::string, Json>> schemas_;
  // apiVersion/kind -> the top-level schema (a $ref for built-in kinds, the CRD's schema with
  // metadata pointing at ObjectMeta for custom resources).
  std::map<GroupVersionKind, Json> kinds_;
};

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_OPENAPI_VALIDATE_H_

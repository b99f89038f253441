// configMapGenerator / secretGenerator: builds the ConfigMap or Secret a generator entry
// describes (literals, files, envs, options), and merges it into an existing one for
// `behavior: merge|replace`.
#ifndef DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_GENERATORS_H_
#define DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_GENERATORS_H_

#include <functional>
#include <string>
#include <vector>

#include "core/base64.h"
#include "core/json.h"
#include "core/status.h"
#include "reconciler/internal/kustomize_resource.h"

namespace driftguard::reconciler::internal {

// Reads a file named relative to the kustomization directory; errors name the file.
using FileReader = std::function<core::StatusOr<std::string>(const std::string& path)>;

struct GeneratorSpec {
  bool secret = false;
  core::Json entry;            // the generator entry (name, namespace, behavior, literals, ...)
  core::Json default_options;  // the kustomization's generatorOptions (may be null)
  core::FileName file;         // the kustomization file, for errors and origins
  int line = 0;                // line of the entry
};

// Builds the object. `behavior` receives create|merge|replace.
core::StatusOr<Resource> Generate(const GeneratorSpec& spec, const FileReader& read,
                                  std::string* behavior);

// Applies a generated `update` onto `existing` for behavior merge or replace.
void MergeGenerated(Resource& existing, const Resource& update, bool replace);

// binaryData and Secret data are standard base64 (core/base64.h).
using core::Base64Encode;

}  // namespace driftguard::reconciler::internal

#endif  // DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_GENERATORS_H_

// Renders a kustomization directory the way `kubectl kustomize` (kustomize v5.5) does, and records
// for every field of every object where it was declared (provenance).
//
// Supported: resources (files, directories, nested bases/overlays), the deprecated `bases`,
// components, namespace, namePrefix/nameSuffix with name-reference fix-ups, commonLabels, labels,
// commonAnnotations, patches / patchesStrategicMerge / patchesJson6902, images, replicas,
// configMapGenerator / secretGenerator (+ generatorOptions, behavior, content-hash suffix),
// replacements, vars, configurations, crds, sortOptions, builtin transformer/generator configs in
// `transformers` / `generators`, and the three kustomization file names. A directory without a
// kustomization renders every YAML file below it (what Flux does). Remote bases, helmCharts and
// exec/Go plugins are rejected with an error.
//
//   RenderOptions opts;
//   opts.root = "/cache/repo@abc";
//   ASSIGN_OR_RETURN(std::vector<RenderedObject> objs, RenderKustomization("apps/prod", opts));
//   FieldOrigin o = objs[0].Origin("/spec/replicas");  // {"apps/prod/kustomization.yaml", 7}
//
// Errors name the file (relative to the root) and line where known, phrased like kustomize's; on
// error nothing is returned. Thread safety: pure function of the file tree; safe to call
// concurrently.
#ifndef DRIFTGUARD_RECONCILER_RENDER_H_
#define DRIFTGUARD_RECONCILER_RENDER_H_

#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/field_origin.h"
#include "core/json.h"
#include "core/status.h"
#include "core/yaml.h"

namespace driftguard::reconciler {

// File (relative to RenderOptions::root; shared between origins naming it) and 1-based line;
// empty / 0 when unknown. The same type DesiredState holds, so publishing copies no file names.
using FieldOrigin = core::FieldOrigin;
using FieldOrigins = core::FieldOrigins;

struct RenderedObject {
  core::Json object;
  // JSON pointer -> origin. Leaves or subtrees; lookup walks up to the nearest recorded prefix.
  FieldOrigins origins;
  // The origin recorded for `pointer` or its nearest recorded ancestor; {} when none.
  FieldOrigin Origin(std::string_view pointer) const;
};

struct RenderOptions {
  // Checkout root; nothing outside it may be read (error otherwise).
  std::filesystem::path root;
  // Bounds applied to every YAML file read.
  core::YamlLimits yaml_limits;
  // Record RenderedObject::origins (costs memory; off for pure builds).
  bool track_origins = true;
};

// Renders `dir` (absolute, or relative to root) like `kubectl kustomize dir`, or, when the dir
// holds no kustomization file, every YAML file below it recursively (as Flux does).
core::StatusOr<std::vector<RenderedObject>> RenderKustomization(const std::filesystem::path& dir,
                                                                const RenderOptions& options);

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_RENDER_H_

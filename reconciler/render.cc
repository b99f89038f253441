#include "reconciler/render.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "reconciler/internal/kustomize_build.h"

namespace driftguard::reconciler {

FieldOrigin RenderedObject::Origin(std::string_view pointer) const {
  std::string p(pointer);
  while (true) {
    auto it = origins.find(p);
    if (it != origins.end()) return it->second;
    if (p.empty()) return {};
    size_t slash = p.rfind('/');
    p = slash == std::string::npos ? std::string() : p.substr(0, slash);
  }
}

core::StatusOr<std::vector<RenderedObject>> RenderKustomization(const std::filesystem::path& dir,
                                                                const RenderOptions& options) {
  ASSIGN_OR_RETURN(std::vector<internal::Resource> resources,
                   internal::BuildKustomization(dir, options));
  std::vector<RenderedObject> out;
  out.reserve(resources.size());
  for (internal::Resource& r : resources) {
    RenderedObject o;
    o.object = std::move(r.obj);
    if (options.track_origins) o.origins = std::move(r.origins);
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace driftguard::reconciler

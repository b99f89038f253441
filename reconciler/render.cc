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
  const FieldOrigin* o = core::FindOrigin(origins, pointer);
  return o != nullptr ? *o : FieldOrigin{};
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

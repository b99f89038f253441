// The nlohmann-tree implementation of core::DiffObjects, kept as a test oracle (see the .cc).
//
//   EXPECT_EQ(core::DiffObjects(a, b, schema, options),
//             testing::DiffObjectsOnJsonTrees(a, b, schema, options));
//
// Thread safety: reentrant. Never throws.
#ifndef DRIFTGUARD_TESTS_SUPPORT_FIELD_DIFF_REFERENCE_H_
#define DRIFTGUARD_TESTS_SUPPORT_FIELD_DIFF_REFERENCE_H_

#include <string>
#include <vector>

#include "core/field_diff.h"
#include "core/json.h"
#include "core/schema.h"

namespace driftguard::testing {

// Same contract as core::DiffObjects.
std::vector<core::FieldChange> DiffObjectsOnJsonTrees(const core::Json& a, const core::Json& b,
                                                      const core::SchemaNode* schema,
                                                      const core::DiffOptions& options = {});

// One line per change ("path | old pointer | new pointer | old value | new value", values dumped
// so that 1 and 1.0, and absent and null, tell apart): what the differential checks compare.
std::string RenderChanges(const std::vector<core::FieldChange>& changes);

}  // namespace driftguard::testing

#endif  // DRIFTGUARD_TESTS_SUPPORT_FIELD_DIFF_REFERENCE_H_

// yaml-cpp 0.7 as a test oracle for driftguard's own YAML parser (core/internal/yaml_parser.h):
// the implementation core::ParseYamlStream had before it, building the same Json from yaml-cpp's
// events with the same scalar resolution, merge keys, positions and limits. Used by the
// differential tests, the yaml fuzz target and bench/yaml_bench; never by the driftguard binary.
//
//   auto ours = core::ParseYamlStream(text, "x.yaml", options);
//   auto theirs = testing::ParseYamlStreamWithYamlCpp(text, "x.yaml", options);
//
// Thread safety: reentrant. Never throws.
#ifndef DRIFTGUARD_TESTS_SUPPORT_YAML_CPP_REFERENCE_H_
#define DRIFTGUARD_TESTS_SUPPORT_YAML_CPP_REFERENCE_H_

#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/yaml.h"

namespace driftguard::testing {

// Same contract as core::ParseYamlStream; syntax errors carry yaml-cpp's wording.
core::StatusOr<std::vector<core::YamlDocument>> ParseYamlStreamWithYamlCpp(
    std::string_view text, std::string_view source, const core::YamlParseOptions& options = {});

}  // namespace driftguard::testing

#endif  // DRIFTGUARD_TESTS_SUPPORT_YAML_CPP_REFERENCE_H_

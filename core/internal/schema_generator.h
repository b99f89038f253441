// Generates the source of core/internal/schema_table.cc from the Kubernetes OpenAPI v3 documents.
// Used by tools/gen_schema_table and by the test that checks the committed table is current.
#ifndef DRIFTGUARD_CORE_INTERNAL_SCHEMA_GENERATOR_H_
#define DRIFTGUARD_CORE_INTERNAL_SCHEMA_GENERATOR_H_

#include <string>

#include "core/status.h"

namespace driftguard::core::internal {

// Reads every `<openapi_dir>/v3/*.json` document (in name order), unions their
// components.schemas and returns the complete C++ source of the table. Deterministic: the same
// documents always give byte-identical output. Errors name the file or the schema that could not be
// understood.
StatusOr<std::string> GenerateSchemaTableSource(const std::string& openapi_dir);

}  // namespace driftguard::core::internal

#endif  // DRIFTGUARD_CORE_INTERNAL_SCHEMA_GENERATOR_H_

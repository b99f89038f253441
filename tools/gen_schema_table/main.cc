// gen_schema_table OPENAPI_DIR: prints core/internal/schema_table.cc, the schema type graph that
// core/schema.h serves, generated from OPENAPI_DIR/v3/*.json (the Kubernetes OpenAPI v3 documents).
//
//   gen_schema_table ../shared/k8s-openapi > core/internal/schema_table.cc
#include <cstdio>
#include <string>

#include "core/internal/schema_generator.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OPENAPI_DIR > core/internal/schema_table.cc\n", argv[0]);
    return 2;
  }
  auto source = driftguard::core::internal::GenerateSchemaTableSource(argv[1]);
  if (!source.ok()) {
    std::fprintf(stderr, "gen_schema_table: %s\n", source.status().ToString().c_str());
    return 1;
  }
  std::fwrite(source->data(), 1, source->size(), stdout);
  return 0;
}

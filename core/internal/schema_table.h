// The static arrays behind core/schema.h, defined in the generated core/internal/schema_table.cc.
// Private to core: include only from core/schema.cc and the generated table.
#ifndef DRIFTGUARD_CORE_INTERNAL_SCHEMA_TABLE_H_
#define DRIFTGUARD_CORE_INTERNAL_SCHEMA_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/schema.h"

namespace driftguard::core::internal {

struct SchemaFieldEntry {
  std::string_view name;
  uint32_t node;
};

struct SchemaKindEntry {
  std::string_view group;
  std::string_view version;
  std::string_view kind;
  uint32_t node;
};

// Fields of object nodes: each node's range is sorted by name (byte order).
extern const SchemaFieldEntry kSchemaFields[];
extern const size_t kSchemaFieldCount;
extern const ListInfo kSchemaLists[];
extern const size_t kSchemaListCount;
extern const SchemaNode kSchemaNodes[];
extern const size_t kSchemaNodeCount;
// Sorted by (group, version, kind).
extern const SchemaKindEntry kSchemaKinds[];
extern const size_t kSchemaKindCount;

}  // namespace driftguard::core::internal

#endif  // DRIFTGUARD_CORE_INTERNAL_SCHEMA_TABLE_H_

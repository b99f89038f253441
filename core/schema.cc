#include "core/schema.h"

#include <algorithm>

#include "core/internal/schema_table.h"

namespace driftguard::core {

using internal::kSchemaFields;
using internal::kSchemaKindCount;
using internal::kSchemaKinds;
using internal::kSchemaLists;
using internal::kSchemaNodeCount;
using internal::kSchemaNodes;

namespace {

// Byte order, as string_view's operator< gives it, deciding on the first bytes when they differ
// (they usually do: field names are short and varied) instead of calling memcmp.
bool NameLess(std::string_view a, std::string_view b) {
  if (!a.empty() && !b.empty() && a.front() != b.front()) {
    return static_cast<unsigned char>(a.front()) < static_cast<unsigned char>(b.front());
  }
  return a < b;
}

}  // namespace

const SchemaNode* SchemaNode::Child(std::string_view field) const {
  if (kind_ == SchemaKind::kMap) return Items();
  if (kind_ != SchemaKind::kObject) return nullptr;
  const internal::SchemaFieldEntry* begin = kSchemaFields + fields_begin_;
  const internal::SchemaFieldEntry* end = begin + fields_count_;
  const internal::SchemaFieldEntry* it = std::lower_bound(
      begin, end, field,
      [](const internal::SchemaFieldEntry& e, std::string_view f) { return NameLess(e.name, f); });
  if (it == end || it->name.size() != field.size() || it->name != field) return nullptr;
  return &kSchemaNodes[it->node];
}

const SchemaNode* SchemaNode::Items() const {
  if ((kind_ != SchemaKind::kList && kind_ != SchemaKind::kMap) || element_ == kNoNode) {
    return nullptr;
  }
  return &kSchemaNodes[element_];
}

const ListInfo* SchemaNode::list() const {
  if (kind_ != SchemaKind::kList || list_index_ == kNoList) return nullptr;
  return &kSchemaLists[list_index_];
}

std::string_view SchemaNode::field_name(size_t i) const {
  return i < field_count() ? kSchemaFields[fields_begin_ + i].name : std::string_view();
}

const SchemaNode* SchemaNode::field_node(size_t i) const {
  return i < field_count() ? &kSchemaNodes[kSchemaFields[fields_begin_ + i].node] : nullptr;
}

const SchemaNode* Schema::ForKind(std::string_view group, std::string_view version,
                                  std::string_view kind) {
  auto less = [](const internal::SchemaKindEntry& e, const internal::SchemaKindEntry& key) {
    if (e.group != key.group) return e.group < key.group;
    if (e.version != key.version) return e.version < key.version;
    return e.kind < key.kind;
  };
  internal::SchemaKindEntry key{group, version, kind, 0};
  const internal::SchemaKindEntry* end = kSchemaKinds + kSchemaKindCount;
  const internal::SchemaKindEntry* it = std::lower_bound(kSchemaKinds, end, key, less);
  if (it == end || it->group != group || it->version != version || it->kind != kind) {
    return nullptr;
  }
  return &kSchemaNodes[it->node];
}

const SchemaNode* Schema::ForApiVersionKind(std::string_view api_version, std::string_view kind) {
  size_t slash = api_version.find('/');
  if (slash == std::string_view::npos) return ForKind("", api_version, kind);
  return ForKind(api_version.substr(0, slash), api_version.substr(slash + 1), kind);
}

size_t Schema::KindCount() { return kSchemaKindCount; }
size_t Schema::NodeCount() { return kSchemaNodeCount; }

}  // namespace driftguard::core

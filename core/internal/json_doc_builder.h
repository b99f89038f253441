// Appends values to a JsonDoc under construction (core/json_doc.h), depth first.
//
// Containers reserve their slots first and are filled as their children are built, so each
// object's members and each array's items stay contiguous:
//
//   JsonDocBuilder b;
//   uint32_t obj = b.BeginObject(2);
//   b.SetMember(obj, 0, "b", b.Uint(1));
//   b.SetMember(obj, 1, "a", b.String("x"));
//   b.EndObject(obj, 2);              // sorts by key; a repeated key keeps its last value
//   (arrays: BeginArray(n), SetItem for each slot, EndArray)
//   JsonDoc doc = std::move(b).Finish();
//
// The first value added is the root. Not thread-safe; one builder per document.
#ifndef DRIFTGUARD_CORE_INTERNAL_JSON_DOC_BUILDER_H_
#define DRIFTGUARD_CORE_INTERNAL_JSON_DOC_BUILDER_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/json_doc.h"

namespace driftguard::core {

class JsonDocBuilder {
 public:
  // `text_size` (the source's size, when known) sizes the arrays up front.
  explicit JsonDocBuilder(size_t text_size = 0);

  uint32_t Null();
  uint32_t Bool(bool v);
  uint32_t Int(int64_t v);
  uint32_t Uint(uint64_t v);
  uint32_t Float(double v);
  uint32_t String(std::string_view v);

  // An object with room for `capacity` members; fill slots [0, count) and call EndObject.
  uint32_t BeginObject(size_t capacity);
  void SetMember(uint32_t object, size_t slot, std::string_view key, uint32_t value);
  void EndObject(uint32_t object, size_t count);

  // An array of exactly `size` items; fill every slot and call EndArray.
  uint32_t BeginArray(size_t size);
  void SetItem(uint32_t array, size_t slot, uint32_t value);
  void EndArray(uint32_t array);

  JsonDoc Finish() &&;

 private:
  uint32_t Add(JsonType type, uint32_t size, uint64_t payload, uint64_t hash);

  JsonDoc doc_;
};

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_INTERNAL_JSON_DOC_BUILDER_H_

// A read-only JSON document in a few flat arrays, for the webhook's request path.
//
// nlohmann::json (core::Json) allocates a node per value and a map node per member; building and
// freeing two such trees per AdmissionReview was most of the webhook's CPU. A JsonDoc holds a whole
// document in four vectors (nodes, object members, array items, characters), so parsing a 10 KB
// review costs a handful of allocations, and reading it (JsonRef) is index arithmetic.
//
// Values mean exactly what core::Json means: a JsonDoc parsed from text has, node for node, the
// types ParseJson gives (number_unsigned / number_integer / number_float, see core/json.h);
// object members are in key order (byte-wise, as std::map orders them) with duplicate keys
// resolved to the last one; equality (operator==) is nlohmann's (numbers by value across integer
// and float types, objects by members, arrays by items). ToJson() gives back the equal core::Json.
//
//   ASSIGN_OR_RETURN(JsonDoc doc, ParseJsonDoc(body, "AdmissionReview"));
//   JsonRef replicas = doc.root().Find("spec").Find("replicas");
//   if (replicas.is_number()) Use(replicas.ToJson());
//
// A JsonRef is a (document, node) handle: cheap to copy, valid while its JsonDoc lives at the
// same address (moving a JsonDoc object invalidates the refs into it; hold a document in a
// shared_ptr when refs outlive its scope). A default JsonRef, and Find() of an absent member, is
// null.
//
// Thread safety: a JsonDoc is immutable after construction; any number of threads may read it.
#ifndef DRIFTGUARD_CORE_JSON_DOC_H_
#define DRIFTGUARD_CORE_JSON_DOC_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace driftguard::core {

class JsonDoc;

enum class JsonType : uint8_t { kNull, kBool, kInt, kUint, kFloat, kString, kArray, kObject };

class JsonRef {
 public:
  JsonRef() = default;  // null

  JsonType type() const;
  bool is_null() const { return type() == JsonType::kNull; }
  bool is_boolean() const { return type() == JsonType::kBool; }
  bool is_number() const;
  bool is_string() const { return type() == JsonType::kString; }
  bool is_array() const { return type() == JsonType::kArray; }
  bool is_object() const { return type() == JsonType::kObject; }
  // nlohmann's names: "null", "boolean", "number", "string", "array", "object".
  const char* type_name() const;

  // Members of an object or items of an array; 0 for anything else.
  size_t size() const;
  bool empty() const { return size() == 0; }

  // Object member by key (binary search); null when absent or when this is not an object.
  JsonRef Find(std::string_view key) const;
  // The i-th member of an object, in key order. REQUIRES: is_object() and i < size().
  std::string_view key(size_t i) const;
  JsonRef value(size_t i) const;
  // The i-th item of an array. REQUIRES: is_array() and i < size().
  JsonRef operator[](size_t i) const;

  // Scalars. string() is "" for non-strings; the number accessors REQUIRE the matching type.
  std::string_view string() const;
  bool boolean() const;
  int64_t int_value() const;
  uint64_t uint_value() const;
  double float_value() const;
  // The string value, or `fallback` when this is not a string (like Json::value(key, "")).
  std::string_view string_or(std::string_view fallback) const {
    return is_string() ? string() : fallback;
  }

  // The equal core::Json (a deep copy).
  Json ToJson() const;

  // A hash of the value computed when the document was built: values with the same content and
  // the same number types have the same hash, in any document. Only a hint (different values may
  // collide, and 1 and 1.0 are equal with different hashes): confirm with ==. Lets a comparison
  // skip identical subtrees after one cheap check.
  uint64_t hash() const;

  // nlohmann's equality (see the file comment); works across documents.
  friend bool operator==(const JsonRef& a, const JsonRef& b);

 private:
  friend class JsonDoc;
  JsonRef(const JsonDoc* doc, uint32_t node) : doc_(doc), node_(node) {}

  const JsonDoc* doc_ = nullptr;
  uint32_t node_ = 0;
};

class JsonDoc {
 public:
  JsonDoc() = default;  // the document `null`
  JsonDoc(JsonDoc&&) = default;
  JsonDoc& operator=(JsonDoc&&) = default;
  JsonDoc(const JsonDoc&) = delete;
  JsonDoc& operator=(const JsonDoc&) = delete;

  // The document holding a copy of `value`.
  static JsonDoc FromJson(const Json& value);

  JsonRef root() const { return nodes_.empty() ? JsonRef() : JsonRef(this, 0); }

  // Bytes held (capacity of the four arrays), for benchmarks.
  size_t MemoryBytes() const;

 private:
  friend class JsonRef;
  friend class JsonDocBuilder;

  struct Node {
    JsonType type = JsonType::kNull;
    uint32_t size = 0;     // members, items or string bytes
    uint64_t payload = 0;  // first member/item index, string offset, or the scalar's bits
    uint64_t hash = 0;     // see JsonRef::hash()
  };
  struct Member {
    uint32_t key_offset;
    uint32_t key_size;
    uint32_t value;  // node index
  };

  std::vector<Node> nodes_;
  std::vector<Member> members_;
  std::vector<uint32_t> items_;
  std::string chars_;
};

// ---- JsonRef's accessors, inline: the field diff and equality call them per node. -----------

inline JsonType JsonRef::type() const {
  return doc_ == nullptr ? JsonType::kNull : doc_->nodes_[node_].type;
}

inline bool JsonRef::is_number() const {
  const JsonType t = type();
  return t == JsonType::kInt || t == JsonType::kUint || t == JsonType::kFloat;
}

inline size_t JsonRef::size() const {
  const JsonType t = type();
  return t == JsonType::kArray || t == JsonType::kObject ? doc_->nodes_[node_].size : 0;
}

inline std::string_view JsonRef::key(size_t i) const {
  const JsonDoc::Member& m = doc_->members_[doc_->nodes_[node_].payload + i];
  return std::string_view(doc_->chars_.data() + m.key_offset, m.key_size);
}

inline JsonRef JsonRef::value(size_t i) const {
  return JsonRef(doc_, doc_->members_[doc_->nodes_[node_].payload + i].value);
}

inline JsonRef JsonRef::operator[](size_t i) const {
  return JsonRef(doc_, doc_->items_[doc_->nodes_[node_].payload + i]);
}

inline std::string_view JsonRef::string() const {
  if (!is_string()) return {};
  const JsonDoc::Node& n = doc_->nodes_[node_];
  return std::string_view(doc_->chars_.data() + n.payload, n.size);
}

inline bool JsonRef::boolean() const { return doc_->nodes_[node_].payload != 0; }
inline int64_t JsonRef::int_value() const {
  return static_cast<int64_t>(doc_->nodes_[node_].payload);
}
inline uint64_t JsonRef::uint_value() const { return doc_->nodes_[node_].payload; }
inline uint64_t JsonRef::hash() const { return doc_ == nullptr ? 0 : doc_->nodes_[node_].hash; }
inline double JsonRef::float_value() const {
  return std::bit_cast<double>(doc_->nodes_[node_].payload);
}

// Parses JSON text into a JsonDoc: same acceptance, typing and error messages as ParseJson (valid
// documents through simdjson, everything else through the reference parser), with the same
// JsonParseOptions (omitted members). Never throws.
StatusOr<JsonDoc> ParseJsonDoc(std::string_view text, std::string_view source,
                               const JsonParseOptions& options = {});

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_JSON_DOC_H_

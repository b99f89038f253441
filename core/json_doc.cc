#include "core/json_doc.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

#include "core/internal/json_doc_builder.h"

namespace driftguard::core {

namespace {

inline uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline uint64_t Load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The `n` (< 8) bytes at `p` as a little-endian number, zero-padded, with whole loads only (a
// byte-wise copy into a word stalls the load that follows it).
inline uint64_t LoadShort(const char* p, size_t n) {
  if (n >= 4) return Load32(p) | (Load32(p + n - 4) << (8 * (n - 4)));
  if (n == 0) return 0;
  const auto byte = [p](size_t i) { return static_cast<uint64_t>(static_cast<uint8_t>(p[i])); };
  return byte(0) | (byte(n / 2) << (8 * (n / 2))) | (byte(n - 1) << (8 * (n - 1)));
}

// Byte equality of two strings, with whole-word loads for the short keys and values that make up
// most of a Kubernetes object (a memcmp call costs more than the comparison).
inline bool SameBytes(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  if (n != b.size()) return false;
  if (n < 8) return LoadShort(a.data(), n) == LoadShort(b.data(), n);
  if (n <= 16) {
    return Load64(a.data()) == Load64(b.data()) &&
           Load64(a.data() + n - 8) == Load64(b.data() + n - 8);
  }
  return std::memcmp(a.data(), b.data(), n) == 0;
}

}  // namespace

// ---- JsonRef -----------------------------------------------------------------------------------

const char* JsonRef::type_name() const {
  switch (type()) {
    case JsonType::kNull:
      return "null";
    case JsonType::kBool:
      return "boolean";
    case JsonType::kInt:
    case JsonType::kUint:
    case JsonType::kFloat:
      return "number";
    case JsonType::kString:
      return "string";
    case JsonType::kArray:
      return "array";
    case JsonType::kObject:
      return "object";
  }
  return "null";
}

JsonRef JsonRef::Find(std::string_view key) const {
  if (!is_object()) return {};
  const JsonDoc::Node& n = doc_->nodes_[node_];
  const JsonDoc::Member* first = doc_->members_.data() + n.payload;
  const JsonDoc::Member* last = first + n.size;
  const char* chars = doc_->chars_.data();
  // Most objects have a handful of members: a scan comparing sizes first beats a binary search
  // whose every step calls memcmp.
  constexpr size_t kScanned = 16;
  if (n.size <= kScanned) {
    for (const JsonDoc::Member* m = first; m != last; ++m) {
      if (m->key_size == key.size() &&
          SameBytes(std::string_view(chars + m->key_offset, m->key_size), key)) {
        return JsonRef(doc_, m->value);
      }
    }
    return {};
  }
  const JsonDoc::Member* it =
      std::lower_bound(first, last, key, [chars](const JsonDoc::Member& m, std::string_view k) {
        return std::string_view(chars + m.key_offset, m.key_size) < k;
      });
  if (it == last || std::string_view(chars + it->key_offset, it->key_size) != key) return {};
  return JsonRef(doc_, it->value);
}

Json JsonRef::ToJson() const {
  switch (type()) {
    case JsonType::kNull:
      return nullptr;
    case JsonType::kBool:
      return boolean();
    case JsonType::kInt:
      return static_cast<Json::number_integer_t>(int_value());
    case JsonType::kUint:
      return static_cast<Json::number_unsigned_t>(uint_value());
    case JsonType::kFloat:
      return static_cast<Json::number_float_t>(float_value());
    case JsonType::kString:
      return Json::string_t(string());
    case JsonType::kArray: {
      Json out = Json::array();
      Json::array_t& items = out.get_ref<Json::array_t&>();
      items.reserve(size());
      for (size_t i = 0; i < size(); ++i) items.push_back((*this)[i].ToJson());
      return out;
    }
    case JsonType::kObject: {
      Json out = Json::object();
      Json::object_t& members = out.get_ref<Json::object_t&>();
      for (size_t i = 0; i < size(); ++i) {
        // Keys arrive in order: each insertion goes at the end.
        members.emplace_hint(members.end(), std::string(key(i)), value(i).ToJson());
      }
      return out;
    }
  }
  return nullptr;
}

namespace {

// nlohmann's rules for numbers of different types (basic_json::operator== in 3.11).
bool NumbersEqual(const JsonRef& a, const JsonRef& b) {
  const JsonType ta = a.type(), tb = b.type();
  if (ta == tb) {
    if (ta == JsonType::kInt) return a.int_value() == b.int_value();
    if (ta == JsonType::kUint) return a.uint_value() == b.uint_value();
    return a.float_value() == b.float_value();
  }
  auto as_double = [](const JsonRef& v) {
    return v.type() == JsonType::kInt ? static_cast<double>(v.int_value())
                                      : static_cast<double>(v.uint_value());
  };
  if (ta == JsonType::kFloat) return a.float_value() == as_double(b);
  if (tb == JsonType::kFloat) return as_double(a) == b.float_value();
  // One integer, one unsigned: the unsigned value is read as a signed one.
  if (ta == JsonType::kInt) return a.int_value() == static_cast<int64_t>(b.uint_value());
  return static_cast<int64_t>(a.uint_value()) == b.int_value();
}

}  // namespace

bool operator==(const JsonRef& a, const JsonRef& b) {
  if (a.doc_ == b.doc_ && a.node_ == b.node_ && a.doc_ != nullptr) return true;
  if (a.is_number() && b.is_number()) return NumbersEqual(a, b);
  const JsonType t = a.type();
  if (t != b.type()) return false;
  switch (t) {
    case JsonType::kNull:
      return true;
    case JsonType::kBool:
      return a.boolean() == b.boolean();
    case JsonType::kString:
      return SameBytes(a.string(), b.string());
    case JsonType::kArray: {
      const size_t n = a.size();
      if (n != b.size()) return false;
      for (size_t i = 0; i < n; ++i) {
        if (!(a[i] == b[i])) return false;
      }
      return true;
    }
    case JsonType::kObject: {
      const size_t n = a.size();
      if (n != b.size()) return false;
      for (size_t i = 0; i < n; ++i) {
        if (!SameBytes(a.key(i), b.key(i)) || !(a.value(i) == b.value(i))) return false;
      }
      return true;
    }
    default:
      return false;  // numbers were handled above
  }
}

// ---- JsonDoc -----------------------------------------------------------------------------------

namespace {

uint32_t Copy(JsonDocBuilder& b, const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
    case Json::value_t::discarded:
      return b.Null();
    case Json::value_t::boolean:
      return b.Bool(v.get<bool>());
    case Json::value_t::number_integer:
      return b.Int(v.get<Json::number_integer_t>());
    case Json::value_t::number_unsigned:
      return b.Uint(v.get<Json::number_unsigned_t>());
    case Json::value_t::number_float:
      return b.Float(v.get<Json::number_float_t>());
    case Json::value_t::string:
      return b.String(v.get_ref<const Json::string_t&>());
    case Json::value_t::binary:
      return b.Null();  // never produced by a parser; not JSON
    case Json::value_t::array: {
      uint32_t a = b.BeginArray(v.size());
      size_t i = 0;
      for (const Json& item : v) {
        uint32_t node = Copy(b, item);
        b.SetItem(a, i++, node);
      }
      b.EndArray(a);
      return a;
    }
    case Json::value_t::object: {
      uint32_t o = b.BeginObject(v.size());
      size_t i = 0;
      for (auto it = v.begin(); it != v.end(); ++it) {
        uint32_t node = Copy(b, *it);
        b.SetMember(o, i++, it.key(), node);
      }
      b.EndObject(o, i);
      return o;
    }
  }
  return b.Null();
}

}  // namespace

JsonDoc JsonDoc::FromJson(const Json& value) {
  JsonDocBuilder b;
  Copy(b, value);
  return std::move(b).Finish();
}

size_t JsonDoc::MemoryBytes() const {
  return nodes_.capacity() * sizeof(Node) + members_.capacity() * sizeof(Member) +
         items_.capacity() * sizeof(uint32_t) + chars_.capacity();
}

// ---- JsonDocBuilder ----------------------------------------------------------------------------

JsonDocBuilder::JsonDocBuilder(size_t text_size) {
  // A value takes at least two bytes of text in practice ("1,"); strings take their bytes.
  doc_.nodes_.reserve(text_size / 8 + 1);
  doc_.members_.reserve(text_size / 16);
  doc_.items_.reserve(text_size / 32);
  doc_.chars_.reserve(text_size / 2);
}

namespace {

uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

uint64_t HashOf(JsonType type, uint64_t bits) {
  return Mix(static_cast<uint64_t>(type) * 0xff51afd7ed558ccdULL, bits);
}

// One 64x64->128-bit multiply folded to 64 bits: the mixing step of the hash below.
inline uint64_t Fold(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

// A hash of `s` taking 8 bytes per step; keys and most string values are under 32 bytes, where
// std::hash's byte-oriented loop was a tenth of the decode time. Only a hint (see JsonRef::hash).
uint64_t HashBytes(std::string_view s) {
  constexpr uint64_t kA = 0xa0761d6478bd642fULL;
  constexpr uint64_t kB = 0xe7037ed1a0b428dbULL;
  const char* p = s.data();
  const size_t n = s.size();
  uint64_t h = Fold(n ^ kA, kB);
  if (n < 8) return Fold(h ^ LoadShort(p, n), kB ^ kA);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) h = Fold(h ^ Load64(p + i), kB ^ kA);
  if (i != n) h = Fold(h ^ Load64(p + n - 8), kB);  // the last 8 bytes, overlapping
  return h;
}

// The first 8 bytes of `s` as a big-endian number, zero-padded: when two keys' prefixes differ,
// they order the keys exactly as a byte-wise comparison does (a key that ends early is padded
// with zeros and is a prefix of the other, so it is the smaller one), without calling memcmp.
inline uint64_t OrderPrefix(std::string_view s) {
  uint64_t v = s.size() >= 8 ? Load64(s.data()) : LoadShort(s.data(), s.size());
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
  return v;
}

// A member key's contribution to its object's hash, from the order prefix already computed and
// the last eight bytes: keys differing only in the middle of a long key collide, which costs a
// confirming comparison at worst (see JsonRef::hash).
inline uint64_t KeyHash(uint64_t prefix, std::string_view key) {
  constexpr uint64_t kA = 0xa0761d6478bd642fULL;
  constexpr uint64_t kB = 0xe7037ed1a0b428dbULL;
  const uint64_t tail =
      key.size() > 8 ? Load64(key.data() + key.size() - 8) + key.size() : key.size();
  return Fold(prefix ^ kA, tail ^ kB);
}

}  // namespace

uint32_t JsonDocBuilder::Add(JsonType type, uint32_t size, uint64_t payload, uint64_t hash) {
  doc_.nodes_.push_back(JsonDoc::Node{type, size, payload, hash});
  return static_cast<uint32_t>(doc_.nodes_.size() - 1);
}

uint32_t JsonDocBuilder::Null() { return Add(JsonType::kNull, 0, 0, HashOf(JsonType::kNull, 0)); }
uint32_t JsonDocBuilder::Bool(bool v) {
  return Add(JsonType::kBool, 0, v ? 1 : 0, HashOf(JsonType::kBool, v ? 1 : 0));
}
uint32_t JsonDocBuilder::Int(int64_t v) {
  const uint64_t bits = static_cast<uint64_t>(v);
  return Add(JsonType::kInt, 0, bits, HashOf(JsonType::kInt, bits));
}
uint32_t JsonDocBuilder::Uint(uint64_t v) {
  return Add(JsonType::kUint, 0, v, HashOf(JsonType::kUint, v));
}
uint32_t JsonDocBuilder::Float(double v) {
  const uint64_t bits = std::bit_cast<uint64_t>(v);
  return Add(JsonType::kFloat, 0, bits, HashOf(JsonType::kFloat, bits));
}

uint32_t JsonDocBuilder::String(std::string_view v) {
  uint64_t offset = doc_.chars_.size();
  doc_.chars_.append(v);
  return Add(JsonType::kString, static_cast<uint32_t>(v.size()), offset,
             HashOf(JsonType::kString, HashBytes(v)));
}

uint32_t JsonDocBuilder::BeginObject(size_t capacity) {
  uint64_t first = doc_.members_.size();
  doc_.members_.resize(doc_.members_.size() + capacity);
  return Add(JsonType::kObject, 0, first, 0);
}

void JsonDocBuilder::SetMember(uint32_t object, size_t slot, std::string_view key, uint32_t value) {
  uint32_t offset = static_cast<uint32_t>(doc_.chars_.size());
  doc_.chars_.append(key);
  doc_.members_[doc_.nodes_[object].payload + slot] =
      JsonDoc::Member{offset, static_cast<uint32_t>(key.size()), value};
}

void JsonDocBuilder::EndObject(uint32_t object, size_t count) {
  JsonDoc::Member* first = doc_.members_.data() + doc_.nodes_[object].payload;
  const char* chars = doc_.chars_.data();
  auto key = [chars](const JsonDoc::Member& m) {
    return std::string_view(chars + m.key_offset, m.key_size);
  };
  // Members with their order prefix; the full key is compared only when prefixes tie.
  struct Entry {
    uint64_t prefix;
    JsonDoc::Member member;
  };
  auto less = [&key](const Entry& x, const Entry& y) {
    if (x.prefix != y.prefix) return x.prefix < y.prefix;
    return key(x.member) < key(y.member);
  };
  auto same_key = [&key](const Entry& x, const Entry& y) {
    return x.prefix == y.prefix && key(x.member) == key(y.member);
  };
  constexpr size_t kSmall = 32;
  Entry small[kSmall];
  std::vector<Entry> large;
  Entry* entries = small;
  if (count > kSmall) {
    large.resize(count);
    entries = large.data();
  }
  bool sorted = true;
  for (size_t i = 0; i < count; ++i) {
    entries[i] = Entry{OrderPrefix(key(first[i])), first[i]};
    if (i > 0 && sorted && less(entries[i], entries[i - 1])) sorted = false;
  }
  // A stable sort keeps equal keys in document order: insertion sort for the usual small objects,
  // std::stable_sort for large unordered ones (hostile input).
  if (!sorted) {
    if (count > 16) {
      std::stable_sort(entries, entries + count, less);
    } else {
      for (size_t i = 1; i < count; ++i) {
        Entry e = entries[i];
        size_t j = i;
        while (j > 0 && less(e, entries[j - 1])) {
          entries[j] = entries[j - 1];
          --j;
        }
        entries[j] = e;
      }
    }
  }
  // ...so the last of each run of equal keys is the value that wins, as in nlohmann's parser.
  size_t out = 0;
  uint64_t hash = 0;
  for (size_t i = 0; i < count; ++i) {
    if (i + 1 < count && same_key(entries[i], entries[i + 1])) continue;
    const JsonDoc::Member& m = entries[i].member;
    first[out++] = m;
    hash = Mix(hash, KeyHash(entries[i].prefix, key(m)) ^ doc_.nodes_[m.value].hash);
  }
  doc_.nodes_[object].size = static_cast<uint32_t>(out);
  doc_.nodes_[object].hash = Mix(hash, HashOf(JsonType::kObject, out));
}

uint32_t JsonDocBuilder::BeginArray(size_t size) {
  uint64_t first = doc_.items_.size();
  doc_.items_.resize(doc_.items_.size() + size);
  return Add(JsonType::kArray, static_cast<uint32_t>(size), first, 0);
}

void JsonDocBuilder::SetItem(uint32_t array, size_t slot, uint32_t value) {
  doc_.items_[doc_.nodes_[array].payload + slot] = value;
}

void JsonDocBuilder::EndArray(uint32_t array) {
  JsonDoc::Node& node = doc_.nodes_[array];
  uint64_t hash = HashOf(JsonType::kArray, node.size);
  for (size_t i = 0; i < node.size; ++i) {
    hash = Mix(hash, doc_.nodes_[doc_.items_[node.payload + i]].hash);
  }
  doc_.nodes_[array].hash = hash;
}

JsonDoc JsonDocBuilder::Finish() && { return std::move(doc_); }

}  // namespace driftguard::core

// Provenance of a declared field: the Git file and line it came from.
//
// A render records an origin for hundreds of thousands of fields, most naming one of a few
// hundred files, so the file name is shared: FileName holds one immutable string that every copy
// points to. Build one FileName per file and copy it into each origin; copying never allocates.
//
//   core::FileName file("apps/web/deployment.yaml");
//   core::FieldOrigin replicas{file, 12}, image{file, 20};   // one string for both
//   std::string where = replicas.file.str() + ":" + std::to_string(replicas.line);
//
// Thread safety: immutable after construction; copies may be used from any thread.
#ifndef DRIFTGUARD_CORE_FIELD_ORIGIN_H_
#define DRIFTGUARD_CORE_FIELD_ORIGIN_H_

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>

namespace driftguard::core {

// An immutable, shared file name (relative to the repository root). Empty when unknown.
class FileName {
 public:
  FileName() = default;
  // Implicit, so that `FieldOrigin{"a.yaml", 3}` reads naturally; each call allocates one string,
  // so construct once per file and copy.
  FileName(std::string name)  // NOLINT(google-explicit-constructor)
      : name_(name.empty() ? nullptr : std::make_shared<const std::string>(std::move(name))) {}
  FileName(const char* name) : FileName(std::string(name)) {}       // NOLINT
  FileName(std::string_view name) : FileName(std::string(name)) {}  // NOLINT

  const std::string& str() const { return name_ ? *name_ : Empty(); }
  operator const std::string&() const { return str(); }  // NOLINT
  bool empty() const { return !name_; }
  size_t size() const { return str().size(); }

  friend bool operator==(const FileName& a, const FileName& b) {
    return a.name_ == b.name_ || a.str() == b.str();
  }
  friend bool operator==(const FileName& a, const std::string& b) { return a.str() == b; }
  friend bool operator==(const FileName& a, const char* b) { return a.str() == b; }
  friend std::string operator+(const std::string& a, const FileName& b) { return a + b.str(); }
  friend std::string operator+(const FileName& a, const std::string& b) { return a.str() + b; }
  friend std::string operator+(const char* a, const FileName& b) { return a + b.str(); }
  friend std::string operator+(const FileName& a, const char* b) { return a.str() + b; }
  friend std::ostream& operator<<(std::ostream& os, const FileName& f) { return os << f.str(); }

 private:
  static const std::string& Empty() {
    static const std::string kEmpty;
    return kEmpty;
  }
  std::shared_ptr<const std::string> name_;
};

// Where a field was declared: a file relative to the repository root (empty when unknown) and a
// 1-based line (0 when unknown).
struct FieldOrigin {
  FileName file;
  int line = 0;
  friend bool operator==(const FieldOrigin&, const FieldOrigin&) = default;
};

inline std::ostream& operator<<(std::ostream& os, const FieldOrigin& o) {
  return os << o.file << ":" << o.line;
}

// Hashes std::string and std::string_view alike, so a map keyed by std::string can be searched
// with a view (no temporary string per lookup).
struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// JSON pointer -> where the field was declared.
using FieldOrigins = std::unordered_map<std::string, FieldOrigin, StringViewHash, std::equal_to<>>;

// The origin recorded for `pointer` or its nearest recorded ancestor; nullptr when none is.
inline const FieldOrigin* FindOrigin(const FieldOrigins& origins, std::string_view pointer) {
  while (true) {
    auto it = origins.find(pointer);
    if (it != origins.end()) return &it->second;
    if (pointer.empty()) return nullptr;
    const size_t slash = pointer.rfind('/');
    pointer = pointer.substr(0, slash == std::string_view::npos ? 0 : slash);
  }
}

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_FIELD_ORIGIN_H_

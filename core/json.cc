#include "core/json.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "core/internal/json_doc_builder.h"
#include "core/json_doc.h"

namespace driftguard::core {
namespace {

// The reference parser: nlohmann's. Used for whatever the fast path hands over, and the only
// source of error messages.
StatusOr<Json> ParseWithNlohmann(std::string_view text, std::string_view source) {
  Json out = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) {
    // Re-parse with exceptions only to learn the byte offset; the common path stays exception-free.
    try {
      [[maybe_unused]] Json probe = Json::parse(text.begin(), text.end());
    } catch (const Json::parse_error& e) {
      return InvalidArgumentError(std::string(source) + ": invalid JSON at byte " +
                                  std::to_string(e.byte) + ": " + e.what());
    } catch (const std::exception& e) {
      return InvalidArgumentError(std::string(source) + ": invalid JSON: " + e.what());
    }
    return InvalidArgumentError(std::string(source) + ": invalid JSON");
  }
  return out;
}

std::string UnescapeToken(std::string_view raw) {
  std::string token;
  token.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
      token += raw[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      token += raw[i];
    }
  }
  return token;
}

// The omitted members' pointers, split into unescaped tokens. Bit i of a mask stands for
// pointers[i]: "every token so far matched the path to here".
struct OmitSet {
  std::vector<std::vector<std::string>> pointers;

  uint64_t AllMask() const {
    return pointers.size() == 64 ? ~uint64_t{0} : (uint64_t{1} << pointers.size()) - 1;
  }

  // The mask for member `key` of an object at `depth` (0 = the root object) whose own mask is
  // `mask`; sets *omit when a pointer ends at this member.
  uint64_t Descend(uint64_t mask, size_t depth, std::string_view key, bool* omit) const {
    uint64_t child = 0;
    for (size_t i = 0; mask != 0; ++i, mask >>= 1) {
      if ((mask & 1) == 0) continue;
      const std::vector<std::string>& tokens = pointers[i];
      if (depth >= tokens.size() || tokens[depth] != key) continue;
      if (depth + 1 == tokens.size()) {
        *omit = true;
      } else {
        child |= uint64_t{1} << i;
      }
    }
    return child;
  }

  void EraseFrom(Json& doc) const {
    for (const std::vector<std::string>& tokens : pointers) {
      Json* cur = &doc;
      for (size_t d = 0; d + 1 < tokens.size() && cur != nullptr; ++d) {
        auto it = cur->is_object() ? cur->find(tokens[d]) : cur->end();
        cur = it != cur->end() ? &*it : nullptr;
      }
      if (cur != nullptr && cur->is_object()) cur->erase(tokens.back());
    }
  }
};

StatusOr<OmitSet> MakeOmitSet(std::span<const std::string_view> pointers) {
  OmitSet set;
  if (pointers.size() > 64) {
    return InvalidArgumentError("JsonParseOptions: at most 64 omit_members, got " +
                                std::to_string(pointers.size()));
  }
  for (std::string_view p : pointers) {
    if (p.empty() || p.front() != '/') {
      return InvalidArgumentError("JsonParseOptions: omit_members entry \"" + std::string(p) +
                                  "\" is not a JSON pointer to a member");
    }
    std::vector<std::string> tokens;
    size_t pos = 1;
    while (true) {
      size_t next = p.find('/', pos);
      tokens.push_back(
          UnescapeToken(p.substr(pos, next == std::string_view::npos ? next : next - pos)));
      if (next == std::string_view::npos) break;
      pos = next + 1;
    }
    set.pointers.push_back(std::move(tokens));
  }
  return set;
}

// MakeOmitSet, remembered per thread for the last pointers asked for: the webhook passes the same
// few with every request, and splitting them cost ~2% of a review's decoding. The result is valid
// until this thread's next call.
StatusOr<const OmitSet*> CachedOmitSet(std::span<const std::string_view> pointers) {
  struct Cache {
    std::vector<std::string> pointers;
    OmitSet set;
    bool valid = false;
  };
  thread_local Cache cache;
  if (cache.valid &&
      std::equal(pointers.begin(), pointers.end(), cache.pointers.begin(), cache.pointers.end())) {
    return &cache.set;
  }
  ASSIGN_OR_RETURN(OmitSet set, MakeOmitSet(pointers));
  cache.valid = false;  // stays so if the copy below throws
  cache.pointers.assign(pointers.begin(), pointers.end());
  cache.set = std::move(set);
  cache.valid = true;
  return &cache.set;
}

// simdjson reads "-0" as the integer 0, while nlohmann types it number_integer (and "0"
// number_unsigned). True when `text` may hold the token -0 (possibly inside a string: the caller
// then takes the exact path). Only asked when the document holds an integer zero at all.
bool MayHoldNegativeZeroInteger(std::string_view text) {
  // memchr for each '-' and a look at the two bytes after it (string_view::find would add a
  // memcmp call per '-', and Kubernetes objects hold many: names, timestamps).
  const char* p = text.data();
  const char* const end = p + text.size();
  while ((p = static_cast<const char*>(std::memchr(p, '-', static_cast<size_t>(end - p)))) !=
         nullptr) {
    if (end - p < 2) return false;
    if (p[1] == '0') {
      if (end - p == 2) return true;
      switch (p[2]) {
        case ',':
        case '}':
        case ']':
        case ' ':
        case '\t':
        case '\n':
        case '\r':
          return true;
        default:
          break;
      }
    }
    ++p;
  }
  return false;
}

// Builds nlohmann's tree from simdjson's DOM, typed as nlohmann's parser types it.
class DomConverter {
 public:
  explicit DomConverter(const OmitSet* omit) : omit_(omit) {}

  void Convert(simdjson::dom::element e, Json& out, size_t depth, uint64_t mask) const {
    using Type = simdjson::dom::element_type;
    switch (e.type()) {
      case Type::OBJECT: {
        simdjson::dom::object object;                    // a local: the loop must not outlive it
        if (e.get(object) != simdjson::SUCCESS) return;  // cannot fail: the type is known
        out = Json::object();
        Json::object_t& members = out.get_ref<Json::object_t&>();
        for (simdjson::dom::key_value_pair member : object) {
          uint64_t child_mask = 0;
          if (mask != 0) {
            bool omit = false;
            child_mask = omit_->Descend(mask, depth, member.key, &omit);
            if (omit) continue;
          }
          // Duplicate keys: the last one wins, as in nlohmann's parser.
          auto slot = members.try_emplace(std::string(member.key)).first;
          Convert(member.value, slot->second, depth + 1, child_mask);
        }
        return;
      }
      case Type::ARRAY: {
        simdjson::dom::array items;
        if (e.get(items) != simdjson::SUCCESS) return;  // cannot fail: the type is known
        out = Json::array();
        Json::array_t& values = out.get_ref<Json::array_t&>();
        values.reserve(items.size());
        for (simdjson::dom::element item : items) {
          Convert(item, values.emplace_back(), depth + 1, 0);
        }
        return;
      }
      case Type::STRING:
        out = Json::string_t(e.get_string().value_unsafe());
        return;
      case Type::INT64: {
        int64_t v = e.get_int64().value_unsafe();
        saw_zero_integer_ = saw_zero_integer_ || v == 0;
        if (v < 0) {
          out = static_cast<Json::number_integer_t>(v);
        } else {
          out = static_cast<Json::number_unsigned_t>(v);
        }
        return;
      }
      case Type::UINT64:
        out = static_cast<Json::number_unsigned_t>(e.get_uint64().value_unsafe());
        return;
      case Type::DOUBLE:
        out = static_cast<Json::number_float_t>(e.get_double().value_unsafe());
        return;
      case Type::BOOL:
        out = e.get_bool().value_unsafe();
        return;
      case Type::NULL_VALUE:
        out = nullptr;
        return;
    }
  }

  // Whether an integer 0 was converted (it may have been written -0; see
  // MayHoldNegativeZeroInteger).
  bool saw_zero_integer() const { return saw_zero_integer_; }

 private:
  const OmitSet* omit_;
  mutable bool saw_zero_integer_ = false;
};

// Documents above this size get a parser of their own, so no thread keeps a large buffer.
constexpr size_t kReusedParserLimit = size_t{1} << 20;

// simdjson's DOM of `text` in *root; false when simdjson rejects the document or cannot type it
// exactly. Large documents get a parser of their own in `own`, which must outlive *root.
bool SimdjsonParse(std::string_view text, std::optional<simdjson::dom::parser>& own,
                   simdjson::dom::element* root) {
  thread_local simdjson::dom::parser reused;
  simdjson::dom::parser& parser = text.size() <= kReusedParserLimit ? reused : own.emplace();
  return parser.parse(text.data(), text.size(), /*realloc_if_needed=*/true).get(*root) ==
         simdjson::SUCCESS;
}

// The fast path. False when simdjson rejects the document or cannot type it exactly; the caller
// then asks nlohmann.
bool ParseWithSimdjson(std::string_view text, const OmitSet& omit, Json* out) {
  std::optional<simdjson::dom::parser> own;
  simdjson::dom::element root;
  if (!SimdjsonParse(text, own, &root)) return false;
  DomConverter converter(&omit);
  converter.Convert(root, *out, 0, omit.pointers.empty() ? 0 : omit.AllMask());
  return !(converter.saw_zero_integer() && MayHoldNegativeZeroInteger(text));
}

// Builds a JsonDoc from simdjson's DOM with DomConverter's typing and omissions.
class DocConverter {
 public:
  DocConverter(const OmitSet* omit, JsonDocBuilder* builder) : omit_(omit), b_(builder) {}

  uint32_t Convert(simdjson::dom::element e, size_t depth, uint64_t mask) const {
    using Type = simdjson::dom::element_type;
    switch (e.type()) {
      case Type::OBJECT: {
        simdjson::dom::object object;
        if (e.get(object) != simdjson::SUCCESS) return b_->Null();  // cannot fail: type known
        size_t capacity = object.size();
        if (capacity == 0xFFFFFF) {  // simdjson saturates the stored count; count them
          capacity = 0;
          for ([[maybe_unused]] simdjson::dom::key_value_pair member : object) ++capacity;
        }
        const uint32_t node = b_->BeginObject(capacity);
        size_t count = 0;
        for (simdjson::dom::key_value_pair member : object) {
          uint64_t child_mask = 0;
          if (mask != 0) {
            bool omit = false;
            child_mask = omit_->Descend(mask, depth, member.key, &omit);
            if (omit) continue;
          }
          const uint32_t value = Convert(member.value, depth + 1, child_mask);
          b_->SetMember(node, count++, member.key, value);
        }
        b_->EndObject(node, count);
        return node;
      }
      case Type::ARRAY: {
        simdjson::dom::array items;
        if (e.get(items) != simdjson::SUCCESS) return b_->Null();  // cannot fail: type known
        size_t size = items.size();
        if (size == 0xFFFFFF) {
          size = 0;
          for ([[maybe_unused]] simdjson::dom::element item : items) ++size;
        }
        const uint32_t node = b_->BeginArray(size);
        size_t i = 0;
        for (simdjson::dom::element item : items) {
          const uint32_t value = Convert(item, depth + 1, 0);
          b_->SetItem(node, i++, value);
        }
        b_->EndArray(node);
        return node;
      }
      case Type::STRING:
        return b_->String(e.get_string().value_unsafe());
      case Type::INT64: {
        int64_t v = e.get_int64().value_unsafe();
        saw_zero_integer_ = saw_zero_integer_ || v == 0;
        return v < 0 ? b_->Int(v) : b_->Uint(static_cast<uint64_t>(v));
      }
      case Type::UINT64:
        return b_->Uint(e.get_uint64().value_unsafe());
      case Type::DOUBLE:
        return b_->Float(e.get_double().value_unsafe());
      case Type::BOOL:
        return b_->Bool(e.get_bool().value_unsafe());
      case Type::NULL_VALUE:
        return b_->Null();
    }
    return b_->Null();
  }

  bool saw_zero_integer() const { return saw_zero_integer_; }

 private:
  const OmitSet* omit_;
  JsonDocBuilder* b_;
  mutable bool saw_zero_integer_ = false;
};

bool ParseDocWithSimdjson(std::string_view text, const OmitSet& omit, JsonDoc* out) {
  std::optional<simdjson::dom::parser> own;
  simdjson::dom::element root;
  if (!SimdjsonParse(text, own, &root)) return false;
  JsonDocBuilder builder(text.size());
  DocConverter converter(&omit, &builder);
  converter.Convert(root, 0, omit.pointers.empty() ? 0 : omit.AllMask());
  if (converter.saw_zero_integer() && MayHoldNegativeZeroInteger(text)) return false;
  *out = std::move(builder).Finish();
  return true;
}

}  // namespace

StatusOr<JsonDoc> ParseJsonDoc(std::string_view text, std::string_view source,
                               const JsonParseOptions& options) {
  // Offsets in a JsonDoc are 32-bit.
  constexpr size_t kMaxText = size_t{1} << 30;
  if (text.size() > kMaxText) {
    return InvalidArgumentError(std::string(source) + ": JSON document of " +
                                std::to_string(text.size()) + " bytes is over the 1 GiB limit");
  }
  ASSIGN_OR_RETURN(const OmitSet* omit_set, CachedOmitSet(options.omit_members));
  const OmitSet& omit = *omit_set;
  JsonDoc out;
  try {
    if (ParseDocWithSimdjson(text, omit, &out)) return out;
  } catch (const std::exception&) {
    // Allocation failure while converting: let the reference parser decide.
  }
  ASSIGN_OR_RETURN(Json json, ParseWithNlohmann(text, source));
  omit.EraseFrom(json);
  return JsonDoc::FromJson(json);
}

StatusOr<Json> ParseJson(std::string_view text, std::string_view source,
                         const JsonParseOptions& options) {
  ASSIGN_OR_RETURN(const OmitSet* omit_set, CachedOmitSet(options.omit_members));
  const OmitSet& omit = *omit_set;
  Json out;
  try {
    if (ParseWithSimdjson(text, omit, &out)) return out;
  } catch (const std::exception&) {
    // Allocation failure while converting: let the reference parser decide.
  }
  ASSIGN_OR_RETURN(out, ParseWithNlohmann(text, source));
  omit.EraseFrom(out);
  return out;
}

StatusOr<Json> ParseJson(std::string_view text, std::string_view source) {
  return ParseJson(text, source, JsonParseOptions{});
}

const Json* FindPointer(const Json& doc, std::string_view pointer) {
  if (pointer.empty()) return &doc;
  if (pointer.front() != '/') return nullptr;
  const Json* cur = &doc;
  size_t pos = 1;
  while (true) {
    size_t next = pointer.find('/', pos);
    std::string_view raw =
        pointer.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos);
    std::string token;
    token.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        token += raw[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        token += raw[i];
      }
    }
    if (cur->is_object()) {
      auto it = cur->find(token);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      if (token.empty() || token.size() > 9) return nullptr;
      size_t idx = 0;
      for (char c : token) {
        if (c < '0' || c > '9') return nullptr;
        idx = idx * 10 + static_cast<size_t>(c - '0');
      }
      if (idx >= cur->size()) return nullptr;
      cur = &(*cur)[idx];
    } else {
      return nullptr;
    }
    if (next == std::string_view::npos) return cur;
    pos = next + 1;
  }
}

std::string EscapePointerToken(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  auto in = [&](size_t k, unsigned char lo, unsigned char hi) {
    return k < s.size() && byte(k) >= lo && byte(k) <= hi;
  };
  const unsigned char c = byte(i);
  if (c >= 0xC2 && c <= 0xDF) return in(i + 1, 0x80, 0xBF) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
    return in(i + 1, lo, hi) && in(i + 2, 0x80, 0xBF) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    return in(i + 1, lo, hi) && in(i + 2, 0x80, 0xBF) && in(i + 3, 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

namespace {

// True for the bytes a JSON string holds as they are: printable ASCII other than '"' and '\\'.
inline bool PlainByte(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

// The end of the run of plain bytes starting at `i`. Whole words are tested at once: a word is
// plain when no byte has its top bit set, is below 0x20 (bits 5 and 6 clear), or equals '"' or '\\'
// (the zero-byte tests of "Bit Twiddling Hacks"; a borrow can only mark bytes above a real hit, and
// the first hit is all that matters, so a word with any mark is finished byte by byte).
size_t PlainRunEnd(std::string_view s, size_t i) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  const auto has_zero = [](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  const char* p = s.data();
  const size_t n = s.size();
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    const uint64_t special = (w & kHigh) | has_zero(w & 0x6060606060606060ULL) |
                             has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\'));
    if (special != 0) break;
  }
  while (i < n && PlainByte(static_cast<unsigned char>(p[i]))) ++i;
  return i;
}

}  // namespace

bool AppendJsonString(std::string& out, std::string_view s, bool replace_invalid) {
  static constexpr char kHex[] = "0123456789abcdef";
  const size_t mark = out.size();
  out += '"';
  for (size_t i = 0; i < s.size();) {
    // Plain printable ASCII is copied in runs, found eight bytes at a time.
    size_t run = PlainRunEnd(s, i);
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      if (i == s.size()) break;
    }
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(s, i);
      if (n > 0) {
        out.append(s.data() + i, n);
        i += n;
      } else if (replace_invalid) {
        out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
        ++i;
      } else {
        out.resize(mark);
        return false;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
    ++i;
  }
  out += '"';
  return true;
}

void AppendJsonValue(std::string& out, const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      out += "null";
      return;
    case Json::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      return;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: {
      char buf[24];
      auto [end, ec] =
          value.is_number_unsigned()
              ? std::to_chars(buf, buf + sizeof buf, value.get<Json::number_unsigned_t>())
              : std::to_chars(buf, buf + sizeof buf, value.get<Json::number_integer_t>());
      out.append(buf, end);
      return;
    }
    case Json::value_t::string:
      if (!AppendJsonString(out, value.get_ref<const Json::string_t&>(), false)) {
        out += value.dump(-1, ' ', false, Json::error_handler_t::replace);
      }
      return;
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const Json& item : value) {
        if (!first) out += ',';
        first = false;
        AppendJsonValue(out, item);
      }
      out += ']';
      return;
    }
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (!first) out += ',';
        first = false;
        if (!AppendJsonString(out, it.key(), false)) {
          out += Json(it.key()).dump(-1, ' ', false, Json::error_handler_t::replace);
        }
        out += ':';
        AppendJsonValue(out, it.value());
      }
      out += '}';
      return;
    }
    default:  // floats; binary and discarded values never come from a parser
      out += value.dump(-1, ' ', false, Json::error_handler_t::replace);
      return;
  }
}

}  // namespace driftguard::core

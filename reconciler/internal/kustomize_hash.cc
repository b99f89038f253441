#include "reconciler/internal/kustomize_hash.h"

#include <openssl/sha.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>

namespace driftguard::reconciler {
namespace internal {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid (overlong forms,
// surrogates and code points above U+10FFFF are invalid, as in Go's utf8.DecodeRuneInString).
size_t ValidUtf8Length(std::string_view s, size_t i, uint32_t* code_point) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t len;
  uint32_t cp;
  if (b0 < 0x80) {
    *code_point = b0;
    return 1;
  } else if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  *code_point = cp;
  return len;
}

void AppendGoString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp = 0;
    const size_t len = ValidUtf8Length(s, i, &cp);
    if (len == 0) {
      out->append("\\ufffd");
      ++i;
      continue;
    }
    if (len > 1) {
      if (cp == 0x2028 || cp == 0x2029) {
        out->append(cp == 0x2028 ? "\\u2028" : "\\u2029");
      } else {
        out->append(s.substr(i, len));
      }
      i += len;
      continue;
    }
    const char c = s[i++];
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '<':
      case '>':
      case '&':
        out->append("\\u00");
        out->push_back(kHex[(c >> 4) & 0xF]);
        out->push_back(kHex[c & 0xF]);
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[(c >> 4) & 0xF]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

// Go decodes every JSON number into a float64 and prints it with the shortest round-trip digits,
// in fixed notation for 1e-6 <= |x| < 1e21 and in exponent notation (two-digit exponents trimmed)
// otherwise.
void AppendGoNumber(double x, std::string* out) {
  char buf[64];
  const double abs = std::fabs(x);
  std::to_chars_result r;
  if (abs != 0 && (abs < 1e-6 || abs >= 1e21)) {
    r = std::to_chars(buf, buf + sizeof(buf), x, std::chars_format::scientific);
    std::string s(buf, r.ptr);
    const size_t e = s.find('e');
    if (e != std::string::npos && e + 3 < s.size() && s[e + 2] == '0') s.erase(e + 2, 1);
    out->append(s);
    return;
  }
  r = std::to_chars(buf, buf + sizeof(buf), x, std::chars_format::fixed);
  out->append(buf, r.ptr);
}

void AppendGoJson(const core::Json& v, std::string* out) {
  switch (v.type()) {
    case core::Json::value_t::object: {
      out->push_back('{');
      bool first = true;
      for (const auto& [key, item] : v.items()) {  // std::map: byte order, as Go sorts
        if (!first) out->push_back(',');
        first = false;
        AppendGoString(key, out);
        out->push_back(':');
        AppendGoJson(item, out);
      }
      out->push_back('}');
      break;
    }
    case core::Json::value_t::array: {
      out->push_back('[');
      for (size_t i = 0; i < v.size(); ++i) {
        if (i > 0) out->push_back(',');
        AppendGoJson(v[i], out);
      }
      out->push_back(']');
      break;
    }
    case core::Json::value_t::string:
      AppendGoString(v.get_ref<const std::string&>(), out);
      break;
    case core::Json::value_t::boolean:
      out->append(v.get<bool>() ? "true" : "false");
      break;
    case core::Json::value_t::number_integer:
      AppendGoNumber(static_cast<double>(v.get<int64_t>()), out);
      break;
    case core::Json::value_t::number_unsigned:
      AppendGoNumber(static_cast<double>(v.get<uint64_t>()), out);
      break;
    case core::Json::value_t::number_float:
      AppendGoNumber(v.get<double>(), out);
      break;
    default:
      out->append("null");
  }
}

// What kustomize's field lookup yields: a map stays a map, anything that is not a map decodes to
// null, a scalar is its text, and an absent or null field is "".
core::Json LookupField(const core::Json& obj, const char* field) {
  if (!obj.is_object()) return "";
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return "";
  if (it->is_object()) return *it;
  if (it->is_array()) return nullptr;
  if (it->is_string()) return *it;
  if (it->is_boolean()) return it->get<bool>() ? "true" : "false";
  return it->dump();
}

}  // namespace

std::string GoJsonEncode(const core::Json& value) {
  std::string out;
  AppendGoJson(value, &out);
  return out;
}

std::string KustomizeHashInput(const core::Json& obj) {
  const bool secret = obj.is_object() && obj.value("kind", "") == "Secret";
  core::Json doc = core::Json::object();
  doc["kind"] = secret ? "Secret" : "ConfigMap";
  doc["name"] = "";
  doc["data"] = LookupField(obj, "data");
  if (secret) {
    doc["type"] = LookupField(obj, "type");
    core::Json string_data = LookupField(obj, "stringData");
    if (string_data.is_object()) doc["stringData"] = std::move(string_data);
  } else {
    core::Json binary_data = LookupField(obj, "binaryData");
    if (binary_data.is_object()) doc["binaryData"] = std::move(binary_data);
  }
  return GoJsonEncode(doc);
}

}  // namespace internal

std::string KustomizeHashSuffix(const core::Json& configmap_or_secret) {
  const std::string input = internal::KustomizeHashInput(configmap_or_secret);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string suffix;
  for (int i = 0; i < 5; ++i) {
    suffix.push_back(kHex[digest[i] >> 4]);
    suffix.push_back(kHex[digest[i] & 0xF]);
  }
  for (char& c : suffix) {
    switch (c) {
      case '0':
        c = 'g';
        break;
      case '1':
        c = 'h';
        break;
      case '3':
        c = 'k';
        break;
      case 'a':
        c = 'm';
        break;
      case 'e':
        c = 't';
        break;
      default:
        break;
    }
  }
  return suffix;
}

}  // namespace driftguard::reconciler

#include "core/json.h"

namespace driftguard::core {

StatusOr<Json> ParseJson(std::string_view text, std::string_view source) {
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

}  // namespace driftguard::core

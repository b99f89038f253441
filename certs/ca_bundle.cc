#include "certs/ca_bundle.h"

#include <algorithm>

#include "certs/pem.h"

namespace driftguard::certs {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int DecodeChar(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

core::StatusOr<CaBundleInjection> Inject(const core::Json& config, std::string_view bundle_pem,
                                         const std::vector<std::string>& owned_names) {
  if (!config.is_object())
    return core::InvalidArgumentError("webhook configuration: not an object");
  const core::Json* kind = core::FindPointer(config, "/kind");
  if (kind == nullptr || !kind->is_string() ||
      (*kind != "ValidatingWebhookConfiguration" && *kind != "MutatingWebhookConfiguration")) {
    return core::InvalidArgumentError(
        "webhook configuration: kind must be ValidatingWebhookConfiguration or "
        "MutatingWebhookConfiguration, got " +
        (kind == nullptr ? std::string("nothing") : kind->dump()));
  }
  const core::Json* api_version = core::FindPointer(config, "/apiVersion");
  if (api_version == nullptr || *api_version != "admissionregistration.k8s.io/v1") {
    return core::InvalidArgumentError(
        kind->get<std::string>() + ": apiVersion must be admissionregistration.k8s.io/v1, got " +
        (api_version == nullptr ? std::string("nothing") : api_version->dump()));
  }
  const core::Json* name = core::FindPointer(config, "/metadata/name");
  if (name == nullptr || !name->is_string() || name->get<std::string>().empty()) {
    return core::InvalidArgumentError(kind->get<std::string>() + ": metadata.name is missing");
  }
  const std::string where = kind->get<std::string>() + " " + name->get<std::string>();

  CaBundleInjection out;
  out.patched = config;
  out.owned = std::find(owned_names.begin(), owned_names.end(), name->get<std::string>()) !=
              owned_names.end();
  if (!out.owned) return out;

  auto parsed = ParseCertificates(bundle_pem);
  if (!parsed.ok()) return parsed.status().WithPrefix(where + ": CA bundle");
  const std::string encoded = Base64Encode(bundle_pem);

  const core::Json* webhooks = core::FindPointer(config, "/webhooks");
  if (webhooks == nullptr || webhooks->is_null()) return out;  // nothing to inject into
  if (!webhooks->is_array()) return core::InvalidArgumentError(where + ": webhooks is not a list");
  core::Json patched_webhooks = *webhooks;
  for (size_t i = 0; i < patched_webhooks.size(); ++i) {
    core::Json& hook = patched_webhooks[i];
    const std::string at = where + ": webhooks[" + std::to_string(i) + "]";
    if (!hook.is_object()) return core::InvalidArgumentError(at + " is not an object");
    auto cc = hook.find("clientConfig");
    if (cc == hook.end()) return core::InvalidArgumentError(at + ": clientConfig is missing");
    if (!cc->is_object()) return core::InvalidArgumentError(at + ": clientConfig is not an object");
    auto current = cc->find("caBundle");
    if (current != cc->end() && current->is_string() && *current == encoded) continue;
    (*cc)["caBundle"] = encoded;
    out.changed = true;
  }
  if (!out.changed) return out;
  out.patched["webhooks"] = patched_webhooks;
  out.merge_patch = core::Json{{"webhooks", std::move(patched_webhooks)}};
  if (const core::Json* rv = core::FindPointer(config, "/metadata/resourceVersion");
      rv != nullptr && rv->is_string()) {
    out.merge_patch["metadata"] = core::Json{{"resourceVersion", *rv}};
  }
  return out;
}

}  // namespace

core::StatusOr<CaBundleInjection> InjectCaBundle(const core::Json& config,
                                                 std::string_view bundle_pem,
                                                 const std::vector<std::string>& owned_names) {
  // nlohmann::json throws only on programming errors here (every access is type-checked first);
  // the catch keeps that promise for the public contract.
  try {
    return Inject(config, bundle_pem, owned_names);
  } catch (const std::exception& e) {
    return core::InternalError(std::string("injecting caBundle: ") + e.what());
  }
}

std::string Base64Encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(data[i]) << 16) | (static_cast<uint8_t>(data[i + 1]) << 8) |
                 static_cast<uint8_t>(data[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  size_t rest = data.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<uint8_t>(data[i]) << 16;
    if (rest == 2) v |= static_cast<uint8_t>(data[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

core::StatusOr<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return core::InvalidArgumentError("base64: length " + std::to_string(text.size()) +
                                      " is not a multiple of 4");
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = text[i + j];
      bool last_group = i + 4 == text.size();
      if (c == '=' && last_group && j >= 2 && (j == 3 || text[i + 3] == '=')) {
        v[j] = 0;
        ++pad;
        continue;
      }
      v[j] = DecodeChar(c);
      if (v[j] < 0 || pad > 0) {
        return core::InvalidArgumentError("base64: invalid character at offset " +
                                          std::to_string(i + j));
      }
    }
    uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>((n >> 16) & 0xFF);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(n & 0xFF);
  }
  return out;
}

}  // namespace driftguard::certs

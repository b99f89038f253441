#include "certs/ca_bundle.h"

#include <algorithm>

#include "certs/pem.h"

namespace driftguard::certs {
namespace {

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

}  // namespace driftguard::certs

// caBundle injection: sets webhooks[*].clientConfig.caBundle of driftguard's own
// Validating/MutatingWebhookConfigurations to the published CA bundle.
//
//   ASSIGN_OR_RETURN(auto injection,
//                    certs::InjectCaBundle(live_config, plan.next.ca_cert_pem,
//                                          {"driftguard-guard", "driftguard-revert"}));
//   if (injection.changed) {
//     // PATCH with Content-Type application/merge-patch+json
//     client.Patch(ref, injection.merge_patch);
//   }
//
// The merge patch (RFC 7386) carries the whole `webhooks` list, because a merge patch replaces
// lists; it also carries metadata.resourceVersion when the input has one, so a concurrent edit of
// the configuration makes the PATCH fail with 409 Conflict instead of being overwritten (re-read
// and retry).
//
// Thread safety: pure function; never throws.
#ifndef DRIFTGUARD_CERTS_CA_BUNDLE_H_
#define DRIFTGUARD_CERTS_CA_BUNDLE_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/base64.h"
#include "core/json.h"
#include "core/status.h"

namespace driftguard::certs {

struct CaBundleInjection {
  bool owned = false;      // metadata.name is one of the owned names; nothing else is touched
  bool changed = false;    // some webhook's caBundle differed from the bundle
  core::Json merge_patch;  // null unless changed
  core::Json patched;      // the configuration with the bundle injected (== input unless changed)
};

// REQUIRES: `config` is an admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration or
// MutatingWebhookConfiguration; `bundle_pem` holds at least one valid certificate.
// An object not named in `owned_names` yields {owned=false, changed=false} and is not inspected
// further. Errors (INVALID_ARGUMENT) name the offending field, e.g.
// "MutatingWebhookConfiguration driftguard: webhooks[1]: clientConfig is missing".
core::StatusOr<CaBundleInjection> InjectCaBundle(const core::Json& config,
                                                 std::string_view bundle_pem,
                                                 const std::vector<std::string>& owned_names);

// Secret data and caBundle are standard base64 (core/base64.h).
using core::Base64Decode;
using core::Base64Encode;

}  // namespace driftguard::certs

#endif  // DRIFTGUARD_CERTS_CA_BUNDLE_H_

// Rotation policy: a pure function from the current certificate material and "now" to the material
// that should be published next, with the reasons (for logs and Events) and the expiry instants
// (for the metric driftguard_certificate_expiry_timestamp_seconds{cert="ca|serving"}).
//
//   auto current = certs::Material::FromSecretData(secret_data);  // decoded Secret data
//   ASSIGN_OR_RETURN(certs::RotationPlan plan, certs::PlanRotation(current, opts, clock.Now()));
//   if (plan.changed()) {
//     // 1. InjectCaBundle(plan.next.ca_cert_pem) into driftguard's webhook configurations,
//     // 2. then write plan.next.ToSecretData() to the Secret (pods pick up tls.crt/tls.key).
//     for (const auto& c : plan.changes) log(c.reason);
//   }
//
// Policy (defaults in RotationOptions):
//   - ca.crt/ca.key missing, unparseable, not a CA, or not a pair → a new CA and a new serving
//     certificate ("create all"). Previously published CA certificates that still parse stay in the
//     bundle under the retention rule below, so a broken key does not break running clients.
//   - The active CA (first certificate of ca.crt) expires within ca_renew_before (365 days of its
//     5-year life; it is therefore rotated after 4 years) → a new CA becomes active; ca.crt becomes
//     [new CA, old CA, ...] and the serving certificate is re-signed by the new CA. Clients that
//     hold either CA accept either serving certificate during the overlap.
//   - A non-active CA in ca.crt is dropped once it has expired, or once old_ca_retention (7 days)
//     has passed since the active CA's notBefore (the moment it was superseded). 7 days covers
//     Secret volume propagation, slow rollouts and cached caBundles with a wide margin.
//   - The serving certificate is (re)issued when it is missing or unparseable, its key is missing
//     or does not match, it does not verify against the active CA at `now` (other issuer, expired,
//     not yet valid, no serverAuth), it expires within serving_renew_before (30 days), its SANs (as
//     a set) differ from the options, or its key algorithm differs from the options.
//   - Otherwise nothing changes and `next` is byte-for-byte the input.
// Apply order matters for zero failed requests: publish the caBundle before the new serving
// certificate reaches the pods (step 1 before step 2 above).
//
// Thread safety: thread-safe; never throws. The only non-determinism is fresh keys and serials.
#ifndef DRIFTGUARD_CERTS_ROTATION_H_
#define DRIFTGUARD_CERTS_ROTATION_H_

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "certs/clock.h"
#include "certs/generate.h"
#include "core/status.h"

namespace driftguard::certs {

inline constexpr std::string_view kExpiryMetricName =
    "driftguard_certificate_expiry_timestamp_seconds";

struct RotationOptions {
  // Profile of newly issued certificates; also the SANs and key algorithm the serving certificate
  // must have.
  GenerateOptions generate;
  std::chrono::seconds serving_renew_before = Days(30);
  std::chrono::seconds ca_renew_before = Days(365);
  std::chrono::seconds old_ca_retention = Days(7);

  // INVALID_ARGUMENT unless generate is valid, 0 < serving_renew_before < serving_validity,
  // 0 < ca_renew_before < ca_validity and old_ca_retention >= 0.
  core::Status Validate() const;
};

enum class RotationAction {
  kCreatedCa,          // no usable CA: a new one was created
  kRotatedCa,          // the active CA was replaced; the old one stays in ca.crt for the overlap
  kDroppedCa,          // a non-active CA left ca.crt
  kIssuedServingCert,  // a new serving certificate and key
};

std::string_view RotationActionName(RotationAction action);  // "CreatedCA", "RotatedCA", ...

struct RotationChange {
  RotationAction action;
  std::string reason;  // one sentence for logs and Events; never contains key material
};

struct RotationPlan {
  Material next;  // what to publish; identical to the input when changes is empty
  std::vector<RotationChange> changes;
  TimePoint ca_not_after;       // of the active CA in `next`
  TimePoint serving_not_after;  // of the serving certificate in `next`
  // The earliest instant at which PlanRotation, given `next` back, would change something.
  TimePoint next_action_at;

  bool changed() const { return !changes.empty(); }
  // {"ca": unix seconds, "serving": unix seconds}: the samples of kExpiryMetricName by `cert`
  // label.
  std::map<std::string, int64_t> ExpiryTimestamps() const;
};

// Decides and produces the next material. Errors only for invalid options or OpenSSL failures;
// bad input material is a reason to regenerate, not an error.
core::StatusOr<RotationPlan> PlanRotation(const Material& current, const RotationOptions& opts,
                                          TimePoint now);

}  // namespace driftguard::certs

#endif  // DRIFTGUARD_CERTS_ROTATION_H_

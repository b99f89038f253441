#include "certs/rotation.h"

#include <algorithm>
#include <optional>
#include <set>

#include "certs/pem.h"

namespace driftguard::certs {
namespace {

std::string WholeDays(std::chrono::seconds d) {
  return std::to_string(std::chrono::duration_cast<Days>(d).count());
}

std::string Describe(const CertInfo& info) {
  return info.subject + " (serial " + info.serial_hex + ")";
}

// The usable CA of `current`, or the reason there is none.
struct CaState {
  std::vector<X509Ptr> bundle;  // every certificate of ca.crt that parsed (empty if it did not)
  std::optional<CertInfo> active;
  std::string problem;  // non-empty when there is no usable active CA
};

CaState ReadCa(const Material& current) {
  CaState state;
  if (current.ca_cert_pem.empty()) {
    state.problem = "ca.crt is missing";
    return state;
  }
  auto bundle = ParseCertificates(current.ca_cert_pem);
  if (!bundle.ok()) {
    state.problem = "ca.crt is invalid: " + bundle.status().message();
    return state;
  }
  state.bundle = std::move(bundle).value();
  auto info = InspectCertificate(state.bundle.front().get());
  if (!info.ok()) {
    state.problem = "ca.crt is invalid: " + info.status().message();
    return state;
  }
  if (!info->is_ca) {
    state.problem = "the first certificate of ca.crt is not a CA";
    return state;
  }
  if (current.ca_key_pem.empty()) {
    state.problem = "ca.key is missing";
    return state;
  }
  auto key = ParsePrivateKey(current.ca_key_pem);
  if (!key.ok()) {
    state.problem = "ca.key is invalid: " + key.status().message();
    return state;
  }
  if (!CheckKeyMatchesCert(state.bundle.front().get(), key->get()).ok()) {
    state.problem = "ca.key does not belong to the first certificate of ca.crt";
    return state;
  }
  state.active = std::move(info).value();
  return state;
}

// Why the serving certificate must be reissued under an unchanged CA, or "" if it need not be.
std::string ServingProblem(const Material& current, X509* active_ca, const RotationOptions& opts,
                           TimePoint now, CertInfo* info_out) {
  if (current.tls_cert_pem.empty()) return "tls.crt is missing";
  auto cert = ParseCertificate(current.tls_cert_pem);
  if (!cert.ok()) return "tls.crt is invalid: " + cert.status().message();
  auto info = InspectCertificate(cert->get());
  if (!info.ok()) return "tls.crt is invalid: " + info.status().message();
  if (current.tls_key_pem.empty()) return "tls.key is missing";
  auto key = ParsePrivateKey(current.tls_key_pem);
  if (!key.ok()) return "tls.key is invalid: " + key.status().message();
  if (!CheckKeyMatchesCert(cert->get(), key->get()).ok()) {
    return "tls.key does not belong to tls.crt";
  }
  std::vector<X509Ptr> anchor;
  anchor.push_back(ShareCertificate(active_ca));
  if (core::Status s = VerifyChain(cert->get(), anchor, now); !s.ok()) {
    return "tls.crt does not verify against the active CA: " + s.message();
  }
  auto remaining = std::chrono::duration_cast<std::chrono::seconds>(info->not_after - now);
  if (remaining <= opts.serving_renew_before) {
    return "the serving certificate expires at " + FormatTime(info->not_after) + " (in " +
           WholeDays(remaining) + " days), within the " + WholeDays(opts.serving_renew_before) +
           "-day renewal window";
  }
  std::set<std::string> want_dns, have_dns(info->dns_names.begin(), info->dns_names.end());
  for (const auto& n : opts.generate.DnsNames()) want_dns.insert(n);
  std::set<std::string> want_ip, have_ip(info->ip_addresses.begin(), info->ip_addresses.end());
  for (const auto& ip : opts.generate.IpAddresses()) want_ip.insert(ip);
  if (want_dns != have_dns || want_ip != have_ip) {
    return "the serving certificate's SANs differ from the configured ones";
  }
  if (info->key_algorithm != KeyAlgorithmDisplayName(opts.generate.key_algorithm)) {
    return "the serving key is " + info->key_algorithm + ", configured is " +
           std::string(KeyAlgorithmDisplayName(opts.generate.key_algorithm));
  }
  *info_out = std::move(info).value();
  return "";
}

}  // namespace

std::string_view RotationActionName(RotationAction action) {
  switch (action) {
    case RotationAction::kCreatedCa:
      return "CreatedCA";
    case RotationAction::kRotatedCa:
      return "RotatedCA";
    case RotationAction::kDroppedCa:
      return "DroppedCA";
    case RotationAction::kIssuedServingCert:
      return "IssuedServingCertificate";
  }
  return "Unknown";
}

core::Status RotationOptions::Validate() const {
  RETURN_IF_ERROR(generate.Validate());
  if (serving_renew_before.count() <= 0 || serving_renew_before >= generate.serving_validity) {
    return core::InvalidArgumentError(
        "serving_renew_before must be positive and shorter than serving_validity");
  }
  if (ca_renew_before.count() <= 0 || ca_renew_before >= generate.ca_validity) {
    return core::InvalidArgumentError(
        "ca_renew_before must be positive and shorter than ca_validity");
  }
  if (old_ca_retention.count() < 0) {
    return core::InvalidArgumentError("old_ca_retention must not be negative");
  }
  return core::OkStatus();
}

std::map<std::string, int64_t> RotationPlan::ExpiryTimestamps() const {
  return {{"ca", ToUnixSeconds(ca_not_after)}, {"serving", ToUnixSeconds(serving_not_after)}};
}

core::StatusOr<RotationPlan> PlanRotation(const Material& current, const RotationOptions& opts,
                                          TimePoint now) {
  RETURN_IF_ERROR(opts.Validate());
  now = FromUnixSeconds(ToUnixSeconds(now));
  RotationPlan plan;
  plan.next = current;

  // 1. The active CA: keep, create or rotate.
  CaState ca = ReadCa(current);
  std::vector<X509Ptr>
      previous;  // CA certificates that may stay in the bundle behind the active one
  X509Ptr active_cert;
  bool ca_changed = false;
  if (!ca.active.has_value()) {
    previous = std::move(ca.bundle);
    ca_changed = true;
    plan.changes.push_back({RotationAction::kCreatedCa, "created a new CA: " + ca.problem});
  } else {
    auto remaining = std::chrono::duration_cast<std::chrono::seconds>(ca.active->not_after - now);
    if (remaining <= opts.ca_renew_before) {
      previous = std::move(ca.bundle);
      ca_changed = true;
      std::string when = remaining.count() <= 0 ? "expired at " + FormatTime(ca.active->not_after)
                                                : "expires at " + FormatTime(ca.active->not_after) +
                                                      " (in " + WholeDays(remaining) + " days)";
      plan.changes.push_back({RotationAction::kRotatedCa,
                              "rotated the CA: " + Describe(*ca.active) + " " + when +
                                  ", within the " + WholeDays(opts.ca_renew_before) +
                                  "-day renewal window; it stays in ca.crt during the overlap"});
    } else {
      active_cert = std::move(ca.bundle.front());
      for (size_t i = 1; i < ca.bundle.size(); ++i) previous.push_back(std::move(ca.bundle[i]));
    }
  }
  if (ca_changed) {
    ASSIGN_OR_RETURN(CertAndKey fresh, GenerateCa(opts.generate, now));
    ASSIGN_OR_RETURN(active_cert, ParseCertificate(fresh.cert_pem));
    plan.next.ca_key_pem = std::move(fresh.key_pem);
  }
  ASSIGN_OR_RETURN(CertInfo active_info, InspectCertificate(active_cert.get()));

  // 2. The other CAs of the bundle: keep while they may still be needed.
  TimePoint drop_superseded_at = active_info.not_before + opts.old_ca_retention;
  std::vector<X509Ptr> bundle;
  bundle.push_back(ShareCertificate(active_cert.get()));
  bool bundle_changed = ca_changed;
  plan.next_action_at = active_info.not_after - opts.ca_renew_before;
  for (auto& cert : previous) {
    auto info = InspectCertificate(cert.get());
    std::string drop;
    if (!info.ok()) {
      drop = "dropped an unreadable certificate from ca.crt: " + info.status().message();
    } else if (info->sha256_fingerprint == active_info.sha256_fingerprint) {
      drop = "dropped a duplicate of the active CA from ca.crt";
    } else if (!info->is_ca) {
      drop = "dropped " + Describe(*info) + " from ca.crt: not a CA";
    } else if (info->not_after <= now) {
      drop = "dropped the previous CA " + Describe(*info) + " from ca.crt: it expired at " +
             FormatTime(info->not_after);
    } else if (now >= drop_superseded_at) {
      drop = "dropped the previous CA " + Describe(*info) + " from ca.crt: superseded at " +
             FormatTime(active_info.not_before) + ", more than " +
             WholeDays(opts.old_ca_retention) + " days ago";
    }
    if (!drop.empty()) {
      plan.changes.push_back({RotationAction::kDroppedCa, std::move(drop)});
      bundle_changed = true;
      continue;
    }
    plan.next_action_at = std::min({plan.next_action_at, info->not_after, drop_superseded_at});
    bundle.push_back(std::move(cert));
  }
  if (bundle_changed) {
    ASSIGN_OR_RETURN(plan.next.ca_cert_pem, EncodeBundle(bundle));
  }

  // 3. The serving certificate.
  CertInfo serving_info;
  std::string serving_problem =
      ca_changed ? "the CA changed"
                 : ServingProblem(current, active_cert.get(), opts, now, &serving_info);
  if (!serving_problem.empty()) {
    ASSIGN_OR_RETURN(CertAndKey leaf, IssueServingCert(opts.generate, plan.next.ca_cert_pem,
                                                       plan.next.ca_key_pem, now));
    ASSIGN_OR_RETURN(serving_info, Inspect(leaf.cert_pem));
    plan.next.tls_cert_pem = std::move(leaf.cert_pem);
    plan.next.tls_key_pem = std::move(leaf.key_pem);
    plan.changes.push_back({RotationAction::kIssuedServingCert,
                            "issued a new serving certificate: " + serving_problem});
  }
  plan.ca_not_after = active_info.not_after;
  plan.serving_not_after = serving_info.not_after;
  plan.next_action_at =
      std::min(plan.next_action_at, serving_info.not_after - opts.serving_renew_before);
  return plan;
}

}  // namespace driftguard::certs

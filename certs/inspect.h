// What `driftguard certs inspect PATH` shows: for each certificate its subject, SANs, issuer,
// validity and days left, plus whether the serving certificate verifies against ca.crt and matches
// tls.key.
//
//   ASSIGN_OR_RETURN(auto files, certs::LoadInspectTargets("/var/run/driftguard/certs"));
//   ASSIGN_OR_RETURN(std::string text, certs::InspectReportText(files, clock.Now()));
//
// PATH may be
//   - a directory: ca.crt, tls.crt and tls.key (the layout of `certs generate`, of the
//     CertificateManager's output_dir and of a mounted Secret volume); absent files are skipped;
//   - a Secret manifest (YAML or JSON, as `kubectl get secret -o yaml` prints it): its data
//     (base64) or stringData entries ca.crt, tls.crt, tls.key;
//   - any other file: a PEM certificate or bundle, shown under its file name.
//
// Thread safety: functions are thread-safe; none throws.
#ifndef DRIFTGUARD_CERTS_INSPECT_H_
#define DRIFTGUARD_CERTS_INSPECT_H_

#include <filesystem>
#include <string>
#include <vector>

#include "certs/clock.h"
#include "core/json.h"
#include "core/status.h"

namespace driftguard::certs {

struct InspectTarget {
  std::string name;  // "ca.crt", "tls.crt", "tls.key" or the file name
  std::string pem;
};

// Errors: NOT_FOUND "cannot read <path>"; INVALID_ARGUMENT "<path>: no ca.crt or tls.crt" for a
// directory or Secret without certificates, or a Secret data entry that is not base64.
core::StatusOr<std::vector<InspectTarget>> LoadInspectTargets(const std::filesystem::path& path);

// One block per certificate ("<name>" or "<name> #<i>" inside a bundle of several):
//   tls.crt
//     subject:     CN=driftguard.driftguard-system.svc
//     issuer:      CN=driftguard-ca
//     SANs:        DNS:driftguard, ..., IP:127.0.0.1      ("none" when there are none)
//     not before:  2026-01-01T00:00:00Z
//     not after:   2027-01-01T00:00:00Z
//     days left:   364                                   (whole days; "expired N days ago")
//     serial:      0A1B...
//     CA:          no
//   and, when tls.crt and ca.crt are both present, "tls.crt verifies against ca.crt: yes" (or
//   "no (<reason>)"); when tls.key is present, "tls.key matches tls.crt: yes|no".
core::StatusOr<std::string> InspectReportText(const std::vector<InspectTarget>& targets,
                                              TimePoint now);
// The same as JSON: {"certificates": [{"file", "index", ...CertInfo::ToJson(), "daysLeft"}],
// "chainVerified": bool|null, "keyMatches": bool|null}.
core::StatusOr<core::Json> InspectReportJson(const std::vector<InspectTarget>& targets,
                                             TimePoint now);

}  // namespace driftguard::certs

#endif  // DRIFTGUARD_CERTS_INSPECT_H_

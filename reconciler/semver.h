// Semantic versions and version ranges, with the semantics Flux uses for GitRepository
// `spec.ref.semver` (the Masterminds/semver v3 constraint language).
//
//   ASSIGN_OR_RETURN(VersionRange range, VersionRange::Parse(">=1.2.0 <2.0.0 || ^3"));
//   ASSIGN_OR_RETURN(Version v, ParseVersion("v1.4.2"));
//   if (range.Matches(v)) ...
//
// Versions: `[v]MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD]`; missing MINOR/PATCH are 0 (as tags
// like `v1.2` are read by Flux). Ranges: comparators `=`, `!=`, `>`, `<`, `>=`, `<=`, `~`, `~>`,
// `^`, wildcards `x`/`X`/`*` in any position (`1.2.x`, `*`), a bare partial version (`1.2` means
// 1.2.x), hyphen ranges (`1.2 - 1.4.5`, `1.2 - 1.4` includes every 1.4.x); comparators separated by
// spaces or commas must all hold, `||` separates alternatives. A version with a pre-release only
// matches a comparator whose own version carries a pre-release (`>=1.2.0-0` admits `1.3.0-rc.1`;
// `>=1.2.0` does not).
//
// Thread safety: values are immutable after construction and safe to share.
#ifndef DRIFTGUARD_RECONCILER_SEMVER_H_
#define DRIFTGUARD_RECONCILER_SEMVER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace driftguard::reconciler {

struct Version {
  uint64_t major = 0;
  uint64_t minor = 0;
  uint64_t patch = 0;
  std::vector<std::string> prerelease;  // dot-separated identifiers; empty for a release
  std::string build;                    // ignored by comparisons

  bool is_prerelease() const { return !prerelease.empty(); }
  // "1.2.3-rc.1+build" (no "v" prefix; missing parts filled in).
  std::string ToString() const;
};

// Parses a version leniently (optional "v", optional minor/patch). The error quotes the input.
core::StatusOr<Version> ParseVersion(std::string_view text);

// Semver 2.0 precedence: <0 when a < b, 0 when equal (build metadata ignored), >0 when a > b.
int CompareVersions(const Version& a, const Version& b);

class VersionRange {
 public:
  // Parses a range; the error quotes the range and the offending part.
  static core::StatusOr<VersionRange> Parse(std::string_view text);

  bool Matches(const Version& v) const;
  const std::string& text() const { return text_; }

  // One primitive bound: `v <op> version`. Public so the .cc can build it; not part of the API.
  enum class Op { kEq, kNe, kGt, kGe, kLt, kLe };
  struct Bound {
    Op op;
    Version version;
    bool admits_prerelease;  // the comparator that produced this bound named a pre-release
  };
  // A comparator is a conjunction of bounds, or (for `!=` on a partial version) a disjunction.
  struct Comparator {
    std::vector<Bound> bounds;
    bool any_of = false;  // true: one bound suffices; false: all must hold
    bool admits_prerelease = false;
  };

 private:
  std::string text_;
  std::vector<std::vector<Comparator>> alternatives_;  // OR of ANDs
};

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_SEMVER_H_

#include "reconciler/semver.h"

#include <cctype>
#include <optional>
#include <utility>

namespace driftguard::reconciler {
namespace {

using core::InvalidArgumentError;
using core::Status;
using core::StatusOr;

bool IsDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsIdentifier(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return true;
}

std::optional<uint64_t> ParseNumber(std::string_view s) {
  if (!IsDigits(s) || s.size() > 19) return std::nullopt;
  uint64_t n = 0;
  for (char c : s) n = n * 10 + static_cast<uint64_t>(c - '0');
  return n;
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.emplace_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

bool IsWildcard(std::string_view s) { return s == "x" || s == "X" || s == "*"; }

// A version as written in a range: `parts` counts the numeric components given before the first
// wildcard or the end (0 for "*", 2 for "1.2" or "1.2.x", 3 for "1.2.3").
struct PartialVersion {
  Version version;
  int parts = 0;
};

// Parses "[v]1.2.3-pre+build" with wildcards allowed when `allow_wildcards`.
StatusOr<PartialVersion> ParsePartial(std::string_view text, bool allow_wildcards,
                                      std::string_view what) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError(std::string(what) + " \"" + std::string(text) +
                                "\": " + std::string(why));
  };
  std::string_view rest = text;
  if (!rest.empty() && (rest.front() == 'v' || rest.front() == 'V')) rest.remove_prefix(1);
  PartialVersion out;
  if (size_t plus = rest.find('+'); plus != std::string_view::npos) {
    std::string_view build = rest.substr(plus + 1);
    for (const std::string& id : Split(build, '.')) {
      if (!IsIdentifier(id)) return bad("invalid build metadata");
    }
    out.version.build = std::string(build);
    rest = rest.substr(0, plus);
  }
  if (size_t dash = rest.find('-'); dash != std::string_view::npos) {
    std::string_view pre = rest.substr(dash + 1);
    for (const std::string& id : Split(pre, '.')) {
      if (!IsIdentifier(id)) return bad("invalid pre-release");
      if (IsDigits(id) && id.size() > 1 && id[0] == '0') {
        return bad("pre-release number has a leading zero");
      }
      out.version.prerelease.push_back(id);
    }
    rest = rest.substr(0, dash);
  }
  std::vector<std::string> nums = Split(rest, '.');
  if (nums.size() > 3) return bad("more than three numeric components");
  uint64_t* fields[3] = {&out.version.major, &out.version.minor, &out.version.patch};
  bool wildcard_seen = false;
  for (size_t i = 0; i < nums.size(); ++i) {
    if (IsWildcard(nums[i])) {
      if (!allow_wildcards) return bad("wildcards are not allowed in a version");
      wildcard_seen = true;
      continue;
    }
    std::optional<uint64_t> n = ParseNumber(nums[i]);
    if (!n) return bad("\"" + nums[i] + "\" is not a number");
    if (wildcard_seen) return bad("a number follows a wildcard");
    *fields[i] = *n;
    out.parts = static_cast<int>(i) + 1;
  }
  if (out.version.is_prerelease() && out.parts != 3) {
    if (out.parts == 0) return bad("a wildcard cannot carry a pre-release");
    out.parts = 3;  // "1.2-rc.1" reads as 1.2.0-rc.1
  }
  return out;
}

// The smallest version above every version the partial one stands for (1.2 -> 1.3.0).
Version UpperOf(const PartialVersion& p) {
  Version v;
  if (p.parts == 1) {
    v.major = p.version.major + 1;
  } else if (p.parts == 2) {
    v.major = p.version.major;
    v.minor = p.version.minor + 1;
  } else {
    v = p.version;
  }
  return v;
}

Version LowerOf(const PartialVersion& p) {
  Version v = p.version;
  v.build.clear();
  return v;
}

using Op = VersionRange::Op;
using Bound = VersionRange::Bound;
using Comparator = VersionRange::Comparator;

Comparator Never() {
  Comparator c;
  c.any_of = true;  // an empty disjunction holds for nothing
  return c;
}

Comparator Build(std::string_view op, const PartialVersion& p) {
  const bool pre = p.version.is_prerelease();
  Comparator c;
  c.admits_prerelease = pre;
  auto add = [&](Op o, Version v) { c.bounds.push_back(Bound{o, std::move(v), pre}); };
  const Version lower = LowerOf(p);
  if (op.empty() || op == "=") {
    if (p.parts == 3) {
      add(Op::kEq, lower);
    } else if (p.parts > 0) {
      add(Op::kGe, lower);
      add(Op::kLt, UpperOf(p));
    }
  } else if (op == "!=") {
    if (p.parts == 0) return Never();
    if (p.parts == 3) {
      add(Op::kNe, lower);
    } else {
      c.any_of = true;
      add(Op::kLt, lower);
      add(Op::kGe, UpperOf(p));
    }
  } else if (op == ">") {
    if (p.parts == 0) return Never();
    add(p.parts == 3 ? Op::kGt : Op::kGe, p.parts == 3 ? lower : UpperOf(p));
  } else if (op == ">=" || op == "=>") {
    if (p.parts > 0) add(Op::kGe, lower);
  } else if (op == "<") {
    if (p.parts == 0) return Never();
    add(Op::kLt, lower);
  } else if (op == "<=" || op == "=<") {
    if (p.parts == 3) {
      add(Op::kLe, lower);
    } else if (p.parts > 0) {
      add(Op::kLt, UpperOf(p));
    }
  } else if (op == "~" || op == "~>") {
    if (p.parts == 0) return c;
    add(Op::kGe, lower);
    Version upper;
    upper.major = p.version.major;
    if (p.parts == 1) {
      upper.major += 1;
    } else {
      upper.minor = p.version.minor + 1;
    }
    add(Op::kLt, upper);
  } else if (op == "^") {
    if (p.parts == 0) return c;
    add(Op::kGe, lower);
    Version upper;
    if (p.version.major > 0 || p.parts == 1) {
      upper.major = p.version.major + 1;
    } else if (p.version.minor > 0 || p.parts == 2) {
      upper.minor = p.version.minor + 1;
    } else {
      upper.patch = p.version.patch + 1;
    }
    add(Op::kLt, upper);
  }
  return c;
}

bool BoundHolds(const Bound& b, const Version& v) {
  int cmp = CompareVersions(v, b.version);
  switch (b.op) {
    case Op::kEq:
      return cmp == 0;
    case Op::kNe:
      return cmp != 0;
    case Op::kGt:
      return cmp > 0;
    case Op::kGe:
      return cmp >= 0;
    case Op::kLt:
      return cmp < 0;
    case Op::kLe:
      return cmp <= 0;
  }
  return false;
}

bool ComparatorHolds(const Comparator& c, const Version& v) {
  if (v.is_prerelease() && !c.admits_prerelease) return false;
  if (c.any_of) {
    for (const Bound& b : c.bounds) {
      if (BoundHolds(b, v)) return true;
    }
    return false;
  }
  for (const Bound& b : c.bounds) {
    if (!BoundHolds(b, v)) return false;
  }
  return true;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

std::string Version::ToString() const {
  std::string out =
      std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  for (size_t i = 0; i < prerelease.size(); ++i) {
    out += (i == 0 ? "-" : ".");
    out += prerelease[i];
  }
  if (!build.empty()) out += "+" + build;
  return out;
}

StatusOr<Version> ParseVersion(std::string_view text) {
  if (text.empty()) return InvalidArgumentError("invalid version \"\": empty");
  ASSIGN_OR_RETURN(PartialVersion p, ParsePartial(text, false, "invalid version"));
  if (p.parts == 0) return InvalidArgumentError("invalid version \"" + std::string(text) + "\"");
  return p.version;
}

int CompareVersions(const Version& a, const Version& b) {
  if (a.major != b.major) return a.major < b.major ? -1 : 1;
  if (a.minor != b.minor) return a.minor < b.minor ? -1 : 1;
  if (a.patch != b.patch) return a.patch < b.patch ? -1 : 1;
  if (a.prerelease.empty() || b.prerelease.empty()) {
    if (a.prerelease.empty() && b.prerelease.empty()) return 0;
    return a.prerelease.empty() ? 1 : -1;  // a release outranks its pre-releases
  }
  for (size_t i = 0; i < a.prerelease.size() && i < b.prerelease.size(); ++i) {
    const std::string& x = a.prerelease[i];
    const std::string& y = b.prerelease[i];
    bool xn = IsDigits(x), yn = IsDigits(y);
    if (xn && yn) {
      if (x.size() != y.size()) return x.size() < y.size() ? -1 : 1;
      if (x != y) return x < y ? -1 : 1;
    } else if (xn != yn) {
      return xn ? -1 : 1;  // numeric identifiers sort before alphanumeric ones
    } else if (x != y) {
      return x < y ? -1 : 1;
    }
  }
  if (a.prerelease.size() == b.prerelease.size()) return 0;
  return a.prerelease.size() < b.prerelease.size() ? -1 : 1;
}

StatusOr<VersionRange> VersionRange::Parse(std::string_view text) {
  VersionRange range;
  range.text_ = std::string(text);
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError("invalid semver range \"" + std::string(text) + "\": " + why);
  };
  if (Trim(text).empty()) return bad("empty");

  size_t start = 0;
  while (start <= text.size()) {
    size_t bar = text.find("||", start);
    std::string_view group =
        text.substr(start, bar == std::string_view::npos ? std::string_view::npos : bar - start);
    if (Trim(group).empty()) return bad("empty alternative around \"||\"");

    std::vector<Comparator> conjunction;
    size_t i = 0;
    auto skip_separators = [&] {
      while (i < group.size() && (IsSpace(group[i]) || group[i] == ',')) ++i;
    };
    auto skip_spaces = [&] {
      while (i < group.size() && IsSpace(group[i])) ++i;
    };
    auto read_token = [&] {
      size_t b = i;
      while (i < group.size() && !IsSpace(group[i]) && group[i] != ',') ++i;
      return group.substr(b, i - b);
    };
    skip_separators();
    while (i < group.size()) {
      std::string_view op;
      static constexpr std::string_view kOps[] = {">=", "=>", "<=", "=<", "!=", "~>",
                                                  ">",  "<",  "=",  "~",  "^"};
      for (std::string_view candidate : kOps) {
        if (group.substr(i, candidate.size()) == candidate) {
          op = candidate;
          break;
        }
      }
      i += op.size();
      skip_spaces();
      std::string_view token = read_token();
      if (token.empty()) return bad("operator \"" + std::string(op) + "\" has no version");
      auto first = ParsePartial(token, true, "version");
      if (!first.ok()) return bad(first.status().message());

      // Hyphen range: "A - B" (the dash stands alone between two versions).
      size_t save = i;
      skip_spaces();
      if (op.empty() && i + 1 < group.size() && group[i] == '-' && IsSpace(group[i + 1])) {
        ++i;
        skip_spaces();
        std::string_view second_token = read_token();
        if (second_token.empty()) return bad("hyphen range has no upper version");
        auto second = ParsePartial(second_token, true, "version");
        if (!second.ok()) return bad(second.status().message());
        Comparator c = Build(">=", *first);
        Comparator upper = Build("<=", *second);
        c.bounds.insert(c.bounds.end(), upper.bounds.begin(), upper.bounds.end());
        c.admits_prerelease = c.admits_prerelease || upper.admits_prerelease;
        conjunction.push_back(std::move(c));
      } else {
        i = save;
        conjunction.push_back(Build(op, *first));
      }
      skip_separators();
    }
    range.alternatives_.push_back(std::move(conjunction));
    if (bar == std::string_view::npos) break;
    start = bar + 2;
  }
  return range;
}

bool VersionRange::Matches(const Version& v) const {
  for (const auto& conjunction : alternatives_) {
    bool all = true;
    for (const Comparator& c : conjunction) {
      if (!ComparatorHolds(c, v)) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

}  // namespace driftguard::reconciler

#include "reconciler/semver.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace driftguard::reconciler {
namespace {

Version V(const std::string& s) {
  auto v = ParseVersion(s);
  EXPECT_TRUE(v.ok()) << s << ": " << v.status();
  return v.ok() ? *v : Version{};
}

bool Match(const std::string& range, const std::string& version) {
  auto r = VersionRange::Parse(range);
  EXPECT_TRUE(r.ok()) << range << ": " << r.status();
  return r.ok() && r->Matches(V(version));
}

TEST(ParseVersionTest, AcceptsPrefixPartialsPrereleaseAndBuild) {
  Version v = V("v1.2.3-rc.1+build.5");
  EXPECT_EQ(v.major, 1u);
  EXPECT_EQ(v.minor, 2u);
  EXPECT_EQ(v.patch, 3u);
  EXPECT_EQ(v.prerelease, (std::vector<std::string>{"rc", "1"}));
  EXPECT_EQ(v.build, "build.5");
  EXPECT_EQ(v.ToString(), "1.2.3-rc.1+build.5");
  EXPECT_EQ(V("1.2").ToString(), "1.2.0");
  EXPECT_EQ(V("v7").ToString(), "7.0.0");
}

TEST(ParseVersionTest, RejectsGarbageWithQuotedInput) {
  EXPECT_EQ(ParseVersion("latest").status().message(),
            "invalid version \"latest\": \"latest\" is not a number");
  EXPECT_EQ(ParseVersion("1.2.3.4").status().message(),
            "invalid version \"1.2.3.4\": more than three numeric components");
  EXPECT_EQ(ParseVersion("1.x").status().message(),
            "invalid version \"1.x\": wildcards are not allowed in a version");
  EXPECT_EQ(ParseVersion("1.2.3-01").status().message(),
            "invalid version \"1.2.3-01\": pre-release number has a leading zero");
  EXPECT_FALSE(ParseVersion("").ok());
}

TEST(CompareVersionsTest, FollowsSemverPrecedence) {
  std::vector<std::string> ordered = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                                      "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                                      "1.0.0-rc.1",  "1.0.0",         "1.0.1",
                                      "1.1.0",       "2.0.0",         "10.0.0"};
  for (size_t i = 0; i + 1 < ordered.size(); ++i) {
    EXPECT_LT(CompareVersions(V(ordered[i]), V(ordered[i + 1])), 0) << ordered[i];
    EXPECT_GT(CompareVersions(V(ordered[i + 1]), V(ordered[i])), 0) << ordered[i];
  }
  EXPECT_EQ(CompareVersions(V("1.0.0+a"), V("v1.0.0+b")), 0);
}

TEST(VersionRangeTest, ComparatorsAndConjunctions) {
  EXPECT_TRUE(Match(">=1.2.0 <2.0.0", "1.2.0"));
  EXPECT_TRUE(Match(">=1.2.0 <2.0.0", "1.9.9"));
  EXPECT_FALSE(Match(">=1.2.0 <2.0.0", "2.0.0"));
  EXPECT_FALSE(Match(">=1.2.0 <2.0.0", "1.1.9"));
  EXPECT_TRUE(Match(">= 1.2, < 2", "1.5.0"));
  EXPECT_FALSE(Match(">= 1.2, < 2", "2.0.0"));
  EXPECT_TRUE(Match(">1.2.3", "1.2.4"));
  EXPECT_FALSE(Match(">1.2.3", "1.2.3"));
  EXPECT_FALSE(Match(">1.2", "1.2.9"));  // ">1.2" means above every 1.2.x
  EXPECT_TRUE(Match(">1.2", "1.3.0"));
  EXPECT_TRUE(Match("<=1.4", "1.4.7"));
  EXPECT_FALSE(Match("<=1.4", "1.5.0"));
  EXPECT_TRUE(Match("=1.2.3", "v1.2.3"));
  EXPECT_FALSE(Match("=1.2.3", "1.2.4"));
  EXPECT_TRUE(Match("!=1.2.3", "1.2.4"));
  EXPECT_FALSE(Match("!=1.2.3", "1.2.3"));
  EXPECT_FALSE(Match("!=1.2", "1.2.5"));
  EXPECT_TRUE(Match("!=1.2", "1.3.0"));
}

TEST(VersionRangeTest, TildeCaretWildcardsAndBarePartials) {
  EXPECT_TRUE(Match("~1.2", "1.2.9"));
  EXPECT_FALSE(Match("~1.2", "1.3.0"));
  EXPECT_TRUE(Match("~1.2.3", "1.2.5"));
  EXPECT_FALSE(Match("~1.2.3", "1.2.2"));
  EXPECT_TRUE(Match("~1", "1.9.0"));
  EXPECT_FALSE(Match("~1", "2.0.0"));
  EXPECT_TRUE(Match("^1", "1.99.0"));
  EXPECT_FALSE(Match("^1", "2.0.0"));
  EXPECT_TRUE(Match("^1.2.3", "1.9.0"));
  EXPECT_FALSE(Match("^1.2.3", "1.2.2"));
  EXPECT_TRUE(Match("^0.2.3", "0.2.9"));
  EXPECT_FALSE(Match("^0.2.3", "0.3.0"));
  EXPECT_TRUE(Match("^0.0.3", "0.0.3"));
  EXPECT_FALSE(Match("^0.0.3", "0.0.4"));
  EXPECT_TRUE(Match("^0", "0.9.9"));
  EXPECT_FALSE(Match("^0", "1.0.0"));
  EXPECT_TRUE(Match("1.2.x", "1.2.7"));
  EXPECT_FALSE(Match("1.2.x", "1.3.0"));
  EXPECT_TRUE(Match("1.x", "1.7.0"));
  EXPECT_TRUE(Match("1.2", "1.2.4"));
  EXPECT_FALSE(Match("1.2", "1.20.0"));
  EXPECT_TRUE(Match("*", "3.4.5"));
  EXPECT_TRUE(Match("x", "0.0.1"));
}

TEST(VersionRangeTest, HyphenRangesAndAlternatives) {
  EXPECT_TRUE(Match("1.2 - 1.4", "1.2.0"));
  EXPECT_TRUE(Match("1.2 - 1.4", "1.4.9"));
  EXPECT_FALSE(Match("1.2 - 1.4", "1.5.0"));
  EXPECT_FALSE(Match("1.2 - 1.4", "1.1.9"));
  EXPECT_TRUE(Match("1.2.3 - 1.4.5", "1.4.5"));
  EXPECT_FALSE(Match("1.2.3 - 1.4.5", "1.4.6"));
  EXPECT_TRUE(Match("<1.0.0 || >=3.0.0", "0.5.0"));
  EXPECT_TRUE(Match("<1.0.0 || >=3.0.0", "3.1.0"));
  EXPECT_FALSE(Match("<1.0.0 || >=3.0.0", "2.0.0"));
  EXPECT_TRUE(Match("^1 || ~2.1", "2.1.4"));
}

TEST(VersionRangeTest, PrereleasesOnlyWhenTheRangeNamesOne) {
  EXPECT_FALSE(Match(">=1.2.0", "1.3.0-rc.1"));
  EXPECT_FALSE(Match("*", "1.0.0-alpha"));
  EXPECT_FALSE(Match("^1", "1.5.0-beta"));
  EXPECT_TRUE(Match(">=1.2.0-0", "1.3.0-rc.1"));
  // Each comparator decides on its own: "<2" names no pre-release, so it rejects one.
  EXPECT_FALSE(Match(">=1.0.0-alpha <2", "1.0.0-beta"));
  EXPECT_TRUE(Match(">=1.0.0-alpha <2.0.0-0", "1.0.0-beta"));
  EXPECT_FALSE(Match(">=1.0.0-beta", "1.0.0-alpha"));
  EXPECT_TRUE(Match("^1.2.3-beta.2", "1.2.3-beta.4"));
}

TEST(VersionRangeTest, ErrorsQuoteTheRange) {
  EXPECT_EQ(VersionRange::Parse("").status().message(), "invalid semver range \"\": empty");
  EXPECT_EQ(VersionRange::Parse(">= foo").status().message(),
            "invalid semver range \">= foo\": version \"foo\": \"foo\" is not a number");
  EXPECT_EQ(VersionRange::Parse("1.0 ||").status().message(),
            "invalid semver range \"1.0 ||\": empty alternative around \"||\"");
  EXPECT_EQ(VersionRange::Parse(">=").status().message(),
            "invalid semver range \">=\": operator \">=\" has no version");
  EXPECT_EQ(VersionRange::Parse("1.2 -").status().message(),
            "invalid semver range \"1.2 -\": version \"-\": invalid pre-release");
}

}  // namespace
}  // namespace driftguard::reconciler

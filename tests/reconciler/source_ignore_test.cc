#include "reconciler/source_ignore.h"

#include <gtest/gtest.h>

namespace driftguard::reconciler {
namespace {

TEST(GlobMatchTest, StarsQuestionMarksClassesAndEscapes) {
  EXPECT_TRUE(GlobMatch("*.yaml", "a.yaml"));
  EXPECT_FALSE(GlobMatch("*.yaml", "a.yml"));
  EXPECT_TRUE(GlobMatch("a?c", "abc"));
  EXPECT_FALSE(GlobMatch("a?c", "ac"));
  EXPECT_TRUE(GlobMatch("[a-c]x", "bx"));
  EXPECT_FALSE(GlobMatch("[a-c]x", "dx"));
  EXPECT_TRUE(GlobMatch("[!a-c]x", "dx"));
  EXPECT_TRUE(GlobMatch("[^a-c]x", "dx"));
  EXPECT_FALSE(GlobMatch("[!a-c]x", "ax"));
  EXPECT_TRUE(GlobMatch("\\*x", "*x"));
  EXPECT_FALSE(GlobMatch("\\*x", "ax"));
  EXPECT_FALSE(GlobMatch("[ab", "a"));  // malformed matches nothing
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXXbYY"));
}

TEST(SourceIgnoreTest, BareNamesMatchAtAnyDepth) {
  SourceIgnore ig;
  ig.AddLines("*.md\nsecret.yaml\n");
  EXPECT_TRUE(ig.Excluded("README.md", false));
  EXPECT_TRUE(ig.Excluded("apps/docs/guide.md", false));
  EXPECT_TRUE(ig.Excluded("apps/secret.yaml", false));
  EXPECT_FALSE(ig.Excluded("apps/deploy.yaml", false));
}

TEST(SourceIgnoreTest, AnchoredPatternsAndDoubleStar) {
  SourceIgnore ig;
  ig.AddLines("/top.yaml\ndeploy/*.txt\nbase/**/*.bak\n");
  EXPECT_TRUE(ig.Excluded("top.yaml", false));
  EXPECT_FALSE(ig.Excluded("sub/top.yaml", false));
  EXPECT_TRUE(ig.Excluded("deploy/notes.txt", false));
  EXPECT_FALSE(ig.Excluded("x/deploy/notes.txt", false));
  EXPECT_TRUE(ig.Excluded("base/a/b/c.bak", false));
  EXPECT_TRUE(ig.Excluded("base/c.bak", false));
  EXPECT_FALSE(ig.Excluded("base/c.yaml", false));
}

TEST(SourceIgnoreTest, DirectoryOnlyPatternsCoverContentsButNotSameNamedFiles) {
  SourceIgnore ig;
  ig.AddLines("tmp/\n");
  EXPECT_TRUE(ig.Excluded("tmp", true));
  EXPECT_TRUE(ig.Excluded("tmp/x.yaml", false));
  EXPECT_TRUE(ig.Excluded("a/tmp/x.yaml", false));
  EXPECT_FALSE(ig.Excluded("tmp", false));
}

TEST(SourceIgnoreTest, LastMatchingPatternWinsAndNegationReincludes) {
  SourceIgnore ig;
  ig.AddLines("# exclude all\n/*\n# include deploy dir\n!/deploy\n/deploy/**/*.md\n");
  EXPECT_TRUE(ig.Excluded("README.md", false));
  EXPECT_TRUE(ig.Excluded("apps/x.yaml", false));
  EXPECT_FALSE(ig.Excluded("deploy/app.yaml", false));
  EXPECT_FALSE(ig.Excluded("deploy/a/b/app.yaml", false));
  EXPECT_TRUE(ig.Excluded("deploy/a/notes.md", false));
}

TEST(SourceIgnoreTest, PatternsFromAFileAreScopedToItsDirectory) {
  SourceIgnore ig;
  ig.AddLines("*.yaml\n!keep.yaml\n", "apps/prod");
  EXPECT_TRUE(ig.Excluded("apps/prod/a.yaml", false));
  EXPECT_TRUE(ig.Excluded("apps/prod/x/a.yaml", false));
  EXPECT_FALSE(ig.Excluded("apps/prod/keep.yaml", false));
  EXPECT_FALSE(ig.Excluded("apps/dev/a.yaml", false));
  EXPECT_FALSE(ig.Excluded("apps/prod", true));
}

TEST(SourceIgnoreTest, TrailingSpacesAndEscapes) {
  SourceIgnore ig;
  ig.AddLines("trail.yaml   \r\nsp\\ \n\\#hash\n\\!bang\n");
  EXPECT_TRUE(ig.Excluded("trail.yaml", false));
  EXPECT_TRUE(ig.Excluded("sp ", false));
  EXPECT_TRUE(ig.Excluded("#hash", false));
  EXPECT_TRUE(ig.Excluded("!bang", false));
  EXPECT_EQ(ig.size(), 4u);
}

TEST(SourceIgnoreTest, FluxDefaultsApplyWithoutUserPatterns) {
  SourceIgnore ig = SourceIgnore::ForFlux({}, std::nullopt);
  EXPECT_TRUE(ig.Excluded(".git/config", false));
  EXPECT_TRUE(ig.Excluded(".gitignore", false));
  EXPECT_TRUE(ig.Excluded("img/logo.png", false));
  EXPECT_TRUE(ig.Excluded("dist/app.tar.gz", false));
  EXPECT_TRUE(ig.Excluded(".github/workflows/ci.yaml", false));
  EXPECT_TRUE(ig.Excluded("apps/.sops.yaml", false));
  EXPECT_TRUE(ig.Excluded(".gitlab-ci.yml", false));
  EXPECT_FALSE(ig.Excluded("apps/deploy.yaml", false));
  EXPECT_FALSE(ig.Excluded(".sourceignore", false));
}

TEST(SourceIgnoreTest, UserPatternsReplaceExtensionDefaultsButNotVcs) {
  SourceIgnore ig = SourceIgnore::ForFlux({}, std::string("*.txt\n"));
  EXPECT_TRUE(ig.Excluded("a.txt", false));
  EXPECT_FALSE(ig.Excluded("img/logo.png", false));
  EXPECT_FALSE(ig.Excluded(".github/workflows/ci.yaml", false));
  EXPECT_TRUE(ig.Excluded(".git/HEAD", false));
  EXPECT_TRUE(ig.Excluded(".gitmodules", false));

  SourceIgnore from_file = SourceIgnore::ForFlux({{"", "docs/\n"}}, std::nullopt);
  EXPECT_TRUE(from_file.Excluded("docs/a.yaml", false));
  EXPECT_FALSE(from_file.Excluded("logo.png", false));
}

TEST(SourceIgnoreTest, SpecIgnoreComesAfterFilesAndFilesApplyParentsFirst) {
  // The child file re-includes what the root file excludes; spec.ignore has the last word.
  SourceIgnore ig = SourceIgnore::ForFlux({{"apps", "!keep.md\n!spec.md\n"}, {"", "*.md\n"}},
                                          std::string("apps/spec.md\n"));
  EXPECT_TRUE(ig.Excluded("README.md", false));
  EXPECT_FALSE(ig.Excluded("apps/keep.md", false));
  EXPECT_TRUE(ig.Excluded("apps/spec.md", false));
}

TEST(SourceIgnoreTest, CommentAndBlankLinesAreSkipped) {
  SourceIgnore ig;
  ig.AddLines("# comment\n\n   \n*.tmp");
  EXPECT_EQ(ig.size(), 1u);
  EXPECT_TRUE(ig.Excluded("x.tmp", false));
}

}  // namespace
}  // namespace driftguard::reconciler

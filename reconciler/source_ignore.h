// Excluding files from a source artifact the way Flux's source-controller does: `.sourceignore`
// files anywhere in the tree and the GitRepository's `spec.ignore`, both in .gitignore syntax, on
// top of Flux's default exclusions.
//
//   SourceIgnore ignore = SourceIgnore::ForFlux({{"", ".sourceignore text"}, {"apps", "*.md"}},
//                                               spec.ignore);
//   if (ignore.Excluded("apps/README.md", /*is_dir=*/false)) ...
//
// Pattern syntax and matching follow Flux (fluxcd/pkg/sourceignore on go-git's gitignore):
//   - `#` starts a comment line, blank lines are skipped, trailing spaces are trimmed unless
//     escaped (`\ `), a leading `!` re-includes;
//   - a trailing `/` matches directories only (and, as in Flux, everything below them);
//   - a pattern without `/` matches a name at any depth (`*.png`, `.github/`), one with `/` is
//     anchored to the directory of the file that holds it (`/deploy`, `deploy/*.yaml`,
//     `deploy/**/*.md`); `**` spans any number of directories;
//   - `*`, `?`, `[a-z]`, `[!a-z]`/`[^a-z]` and `\` escapes match within one path component;
//   - the last pattern that matches a path decides; a path is tested as a whole (a file below an
//     excluded directory can be re-included by a later `!` pattern, as in Flux).
// Flux's rule for defaults: `.git/`, `.gitignore`, `.gitmodules`, `.gitattributes` are always
// excluded; the extension/CI/CLI defaults (`*.jpg`, `.github/`, `**/.sops.yaml`, ...) apply only
// when neither a `.sourceignore` file nor `spec.ignore` contributes any pattern.
//
// Thread safety: immutable after construction; concurrent Excluded() calls are safe.
#ifndef DRIFTGUARD_RECONCILER_SOURCE_IGNORE_H_
#define DRIFTGUARD_RECONCILER_SOURCE_IGNORE_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace driftguard::reconciler {

// Flux's defaults, comma separated exactly as source-controller declares them.
inline constexpr std::string_view kSourceIgnoreFile = ".sourceignore";
inline constexpr std::string_view kExcludeVcs = ".git/,.gitignore,.gitmodules,.gitattributes";
inline constexpr std::string_view kExcludeExt =
    "*.jpg,*.jpeg,*.gif,*.png,*.wmv,*.flv,*.tar.gz,*.zip";
inline constexpr std::string_view kExcludeCi =
    ".github/,.circleci/,.travis.yml,.gitlab-ci.yml,appveyor.yml,.drone.yml,cloudbuild.yaml,"
    "codeship-services.yml,codeship-steps.yml";
inline constexpr std::string_view kExcludeExtra = "**/.goreleaser.yml,**/.sops.yaml,**/.flux.yaml";

// One `.sourceignore` file: the directory holding it ("" for the root, "a/b" below it) and its
// text.
struct IgnoreFile {
  std::string dir;
  std::string content;
};

class SourceIgnore {
 public:
  SourceIgnore() = default;

  // Builds the matcher Flux uses for a GitRepository artifact from the tree's `.sourceignore`
  // files (in any order; they are applied parents first) and `spec.ignore`.
  static SourceIgnore ForFlux(std::vector<IgnoreFile> files,
                              const std::optional<std::string>& spec_ignore);

  // Appends the patterns in `text` (one per line; comments and blank lines skipped), scoped to
  // `domain` (the directory the patterns are relative to, "" for the root).
  void AddLines(std::string_view text, std::string_view domain = "");
  // Appends one pattern scoped to `domain`.
  void AddPattern(std::string_view pattern, std::string_view domain = "");

  // True when `path` (relative, '/'-separated, no leading '/') is excluded.
  bool Excluded(std::string_view path, bool is_dir) const;

  size_t size() const { return patterns_.size(); }

 private:
  struct Pattern {
    std::vector<std::string> domain;
    std::vector<std::string> parts;  // pattern split at '/'
    bool negate = false;
    bool dir_only = false;
    bool has_slash = false;
  };
  static bool Matches(const Pattern& p, const std::vector<std::string_view>& path, bool is_dir);

  std::vector<Pattern> patterns_;
};

// Shell-style match of one path component (`*`, `?`, `[...]`, `\` escapes; `*` never crosses '/').
// A malformed pattern (unclosed `[`) matches nothing.
bool GlobMatch(std::string_view pattern, std::string_view name);

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_SOURCE_IGNORE_H_

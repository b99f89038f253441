#include "reconciler/source_ignore.h"

#include <algorithm>
#include <utility>

namespace driftguard::reconciler {
namespace {

std::vector<std::string> SplitPath(std::string_view s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find('/', start);
    out.emplace_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

// Matches a bracket expression starting at pattern[i] == '['. Returns the index after ']' and
// whether `c` is in the class, or npos for a malformed class.
size_t MatchClass(std::string_view pattern, size_t i, char c, bool* matched) {
  ++i;
  bool negate = false;
  if (i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^')) {
    negate = true;
    ++i;
  }
  bool in = false;
  bool first = true;
  while (true) {
    if (i >= pattern.size()) return std::string_view::npos;
    if (pattern[i] == ']' && !first) break;
    first = false;
    char lo = pattern[i];
    if (lo == '\\') {
      if (++i >= pattern.size()) return std::string_view::npos;
      lo = pattern[i];
    }
    ++i;
    char hi = lo;
    if (i + 1 < pattern.size() && pattern[i] == '-' && pattern[i + 1] != ']') {
      hi = pattern[i + 1];
      i += 2;
      if (hi == '\\') {
        if (i >= pattern.size()) return std::string_view::npos;
        hi = pattern[i++];
      }
    }
    if (lo <= c && c <= hi) in = true;
  }
  *matched = (in != negate);
  return i + 1;
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view name) {
  size_t p = 0, n = 0;
  size_t star_p = std::string_view::npos, star_n = 0;
  while (n < name.size()) {
    if (p < pattern.size()) {
      char pc = pattern[p];
      if (pc == '*') {
        star_p = ++p;
        star_n = n;
        continue;
      }
      if (pc == '?' && name[n] != '/') {
        ++p;
        ++n;
        continue;
      }
      if (pc == '[') {
        bool in = false;
        size_t next = MatchClass(pattern, p, name[n], &in);
        if (next == std::string_view::npos) return false;
        if (in) {
          p = next;
          ++n;
          continue;
        }
      } else if (pc == '\\' && p + 1 < pattern.size()) {
        if (pattern[p + 1] == name[n]) {
          p += 2;
          ++n;
          continue;
        }
      } else if (pc != '?' && pc == name[n]) {
        ++p;
        ++n;
        continue;
      }
    }
    // Mismatch: let the last '*' absorb one more character (never a '/').
    if (star_p == std::string_view::npos || name[star_n] == '/') return false;
    p = star_p;
    n = ++star_n;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

SourceIgnore SourceIgnore::ForFlux(std::vector<IgnoreFile> files,
                                   const std::optional<std::string>& spec_ignore) {
  // Flux reads the root file first, then walks subdirectories depth first in name order.
  std::sort(files.begin(), files.end(), [](const IgnoreFile& a, const IgnoreFile& b) {
    return SplitPath(a.dir) < SplitPath(b.dir);
  });
  SourceIgnore user;
  for (const IgnoreFile& f : files) user.AddLines(f.content, f.dir);
  if (spec_ignore) user.AddLines(*spec_ignore);

  SourceIgnore out;
  auto add_list = [&out](std::string_view list) {
    size_t start = 0;
    while (start <= list.size()) {
      size_t comma = list.find(',', start);
      out.AddPattern(list.substr(start, comma == std::string_view::npos ? comma : comma - start));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  };
  add_list(kExcludeVcs);
  if (user.patterns_.empty()) {
    add_list(kExcludeExt);
    add_list(kExcludeCi);
    add_list(kExcludeExtra);
  }
  for (Pattern& p : user.patterns_) out.patterns_.push_back(std::move(p));
  return out;
}

void SourceIgnore::AddLines(std::string_view text, std::string_view domain) {
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    std::string_view line =
        text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool blank = line.find_first_not_of(" \t") == std::string_view::npos;
    if (!blank && line.front() != '#') AddPattern(line, domain);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
}

void SourceIgnore::AddPattern(std::string_view text, std::string_view domain) {
  Pattern p;
  p.domain = SplitPath(domain);
  if (!text.empty() && text.front() == '!') {
    p.negate = true;
    text.remove_prefix(1);
  }
  // Trailing spaces are insignificant unless the last one is escaped.
  if (!(text.size() >= 2 && text.substr(text.size() - 2) == "\\ ")) {
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  }
  if (!text.empty() && text.back() == '/') {
    p.dir_only = true;
    text.remove_suffix(1);
  }
  p.has_slash = text.find('/') != std::string_view::npos;
  p.parts = SplitPath(text);
  if (p.parts.empty()) p.parts.emplace_back();
  patterns_.push_back(std::move(p));
}

bool SourceIgnore::Matches(const Pattern& p, const std::vector<std::string_view>& full_path,
                           bool is_dir) {
  if (full_path.size() <= p.domain.size()) return false;
  for (size_t i = 0; i < p.domain.size(); ++i) {
    if (full_path[i] != p.domain[i]) return false;
  }
  std::vector<std::string_view> path(full_path.begin() + static_cast<long>(p.domain.size()),
                                     full_path.end());

  if (!p.has_slash) {
    // A bare name matches any component; dir-only patterns need that component to be a directory.
    for (size_t i = 0; i < path.size(); ++i) {
      if (!GlobMatch(p.parts[0], path[i])) continue;
      if (p.dir_only && !is_dir && i == path.size() - 1) return false;
      return true;
    }
    return false;
  }

  // Anchored pattern: components match in order; "**" spans zero or more components, a leading
  // "" (from "/x") anchors, and a match of every pattern part covers everything below it.
  size_t pos = 0;
  bool matched = false;
  bool traverse = false;
  for (size_t i = 0; i < p.parts.size(); ++i) {
    const std::string& part = p.parts[i];
    if (part.empty()) {
      traverse = false;
      continue;
    }
    if (part == "**") {
      if (i == p.parts.size() - 1) break;
      traverse = true;
      continue;
    }
    if (part.find("**") != std::string::npos) return false;
    if (pos >= path.size()) return false;
    if (traverse) {
      traverse = false;
      bool found = false;
      while (pos < path.size()) {
        bool hit = GlobMatch(part, path[pos]);
        ++pos;
        if (hit) {
          found = true;
          break;
        }
      }
      matched = found;
      if (!found) return false;
    } else {
      if (!GlobMatch(part, path[pos])) return false;
      matched = true;
      ++pos;
    }
  }
  if (matched && p.dir_only && !is_dir && pos == path.size()) return false;
  return matched;
}

bool SourceIgnore::Excluded(std::string_view path, bool is_dir) const {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string_view part = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  for (auto it = patterns_.rbegin(); it != patterns_.rend(); ++it) {
    if (Matches(*it, parts, is_dir)) return !it->negate;
  }
  return false;
}

}  // namespace driftguard::reconciler

// Times reconciler::LibGit2Source::Fetch for bench/git_fetch.sh (issue 3, "Figures": a fetch of an
// unchanged repository under 50 ms; a first clone within 1.5x of `git clone`).
//
//   git_fetch_bench --url URL --cache DIR [--branch main] [--fetches N] [--restarts N]
//
// Fetches URL into the cache DIR once (a first clone when DIR is empty: what `hyperfine` times
// against `git clone`), then, with --fetches N, fetches N more times with the same LibGit2Source
// (the steady state of the source sync: the remote has no new commits) and, with --restarts N,
// N more times with a new LibGit2Source on the warm cache each time (a restarted webhook: no
// download, but the artifact is checked out again). Prints one line per phase:
//   first <ms> files=<n> bytes=<n> revision=<rev>
//   unchanged median_ms=<ms> p90_ms=<ms> min_ms=<ms> n=<N>
//   restart median_ms=<ms> p90_ms=<ms> min_ms=<ms> n=<N>
// Exit status 1 (with the error on stderr) when any fetch fails or an unchanged fetch returns
// another revision.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "reconciler/git_source.h"

namespace driftguard::reconciler {
namespace {

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "git_fetch_bench: %s\n", why.c_str());
  std::exit(1);
}

struct Flags {
  std::string url;
  std::string cache;
  std::string branch = "main";
  int fetches = 0;
  int restarts = 0;
};

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) Die("flag " + std::string(arg) + " needs a value");
    const std::string value = argv[++i];
    if (arg == "--url") {
      f.url = value;
    } else if (arg == "--cache") {
      f.cache = value;
    } else if (arg == "--branch") {
      f.branch = value;
    } else if (arg == "--fetches") {
      f.fetches = std::atoi(value.c_str());
    } else if (arg == "--restarts") {
      f.restarts = std::atoi(value.c_str());
    } else {
      Die("unknown flag " + std::string(arg));
    }
  }
  if (f.url.empty() || f.cache.empty()) Die("--url and --cache are required");
  return f;
}

double Millis(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

SourceArtifact TimedFetch(LibGit2Source& source, const GitSourceSpec& spec, double* ms) {
  const auto start = std::chrono::steady_clock::now();
  core::StatusOr<SourceArtifact> artifact = source.Fetch(spec);
  *ms = Millis(std::chrono::steady_clock::now() - start);
  if (!artifact.ok()) Die(artifact.status().ToString());
  return *std::move(artifact);
}

void PrintStats(const char* phase, std::vector<double> ms) {
  if (ms.empty()) return;
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  const double median = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
  const double p90 = ms[std::min(n - 1, (n * 9 + 9) / 10 - 1)];
  std::printf("%s median_ms=%.3f p90_ms=%.3f min_ms=%.3f n=%zu\n", phase, median, p90, ms[0], n);
}

int Main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  GitSourceOptions options;
  options.cache_dir = flags.cache;
  if (core::Status s = options.Validate(); !s.ok()) Die(s.ToString());
  GitSourceSpec spec;
  spec.url = flags.url;
  spec.ref.branch = flags.branch;

  double ms = 0;
  SourceArtifact first;
  {
    // Destroyed before the restarts: two sources must not share a cache_dir.
    LibGit2Source source(options);
    first = TimedFetch(source, spec, &ms);
    std::printf("first %.3f files=%llu bytes=%llu revision=%s\n", ms,
                static_cast<unsigned long long>(first.files),
                static_cast<unsigned long long>(first.bytes), first.revision.c_str());
    std::vector<double> unchanged;
    for (int i = 0; i < flags.fetches; ++i) {
      const SourceArtifact again = TimedFetch(source, spec, &ms);
      if (again.revision != first.revision || again.path != first.path) {
        Die("unchanged fetch returned " + again.revision + " at " + again.path.string());
      }
      unchanged.push_back(ms);
    }
    PrintStats("unchanged", std::move(unchanged));
  }

  std::vector<double> restarts;
  for (int i = 0; i < flags.restarts; ++i) {
    LibGit2Source fresh(options);
    const SourceArtifact again = TimedFetch(fresh, spec, &ms);
    if (again.revision != first.revision) Die("restart fetch returned " + again.revision);
    restarts.push_back(ms);
  }
  PrintStats("restart", std::move(restarts));
  return 0;
}

}  // namespace
}  // namespace driftguard::reconciler

int main(int argc, char** argv) { return driftguard::reconciler::Main(argc, argv); }

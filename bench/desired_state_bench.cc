// Builds a DesiredState the way the source sync does, for bench/desired_state_memory.sh (issue 3,
// "Figures": DesiredState for 10,000 objects, build time and resident memory, target <= 256 MB).
//
//   desired_state_bench --root DIR --path overlay [--repetitions N] [--track-origins 0|1]
//
// One build = reconciler::RenderKustomization(root/path) (with provenance, as the source sync
// renders) + ApplyFluxPostBuild (owner labels of Kustomization flux-system/apps) + conversion to
// core::DesiredObject + core::DesiredSnapshot::Build + DesiredStateStore::Publish. The first build
// runs in a fresh process and its memory is read from /proc/self/status: VmRSS before, VmRSS after
// (the store holding the snapshot, render temporaries freed) and VmHWM (peak). Further
// repetitions replace the published snapshot and only add timings. --track-origins 0 renders
// without provenance (to show what provenance costs; the source sync always records it).
// Prints `key=value` lines:
//   objects=<n> origins=<total recorded origins>
//   rss_before_mib=<x> rss_after_mib=<x> hwm_mib=<x> rss_trimmed_mib=<x>
// where rss_trimmed_mib is VmRSS after malloc_trim(0): the memory still in use, without what glibc
// keeps cached from the freed render temporaries.
//   render_ms=<median> postbuild_ms=<median> snapshot_ms=<median> publish_ms=<median>
//   total_ms=<median> total_min_ms=<min> repetitions=<n>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/desired_state.h"
#include "core/object_ref.h"
#include "reconciler/flux_postbuild.h"
#include "reconciler/render.h"

namespace driftguard {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "desired_state_bench: %s\n", why.c_str());
  std::exit(1);
}

// A field of /proc/self/status ("VmRSS", "VmHWM") in MiB.
double StatusMib(std::string_view field) {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == std::string(field) + ":") {
      double kb = 0;
      in >> kb;
      return kb / 1024;
    }
    std::getline(in, key);
  }
  Die("no " + std::string(field) + " in /proc/self/status");
}

double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Timings {
  double render = 0, postbuild = 0, snapshot = 0, publish = 0;
  double total() const { return render + postbuild + snapshot + publish; }
};

// One build, published into `store`; returns the object count.
size_t BuildOnce(const std::string& root, const std::string& path, bool track_origins,
                 core::DesiredStateStore& store, Timings& t) {
  const core::KustomizationId id{"flux-system", "apps"};
  auto start = Clock::now();
  reconciler::RenderOptions render;
  render.root = root;
  render.track_origins = track_origins;
  auto rendered = reconciler::RenderKustomization(std::filesystem::path(root) / path, render);
  if (!rendered.ok()) Die(rendered.status().ToString());
  std::vector<reconciler::RenderedObject> objects = std::move(*rendered);
  auto now = Clock::now();
  t.render = Millis(now - start);

  start = now;
  reconciler::FluxBuildOptions flux;
  flux.name = id.name;
  flux.namespace_ = id.namespace_;
  flux.spec = {{"interval", "10m"},
               {"path", "./" + path},
               {"prune", true},
               {"sourceRef", {{"kind", "GitRepository"}, {"name", "apps"}}}};
  if (core::Status s = reconciler::ApplyFluxPostBuild(objects, flux); !s.ok()) Die(s.ToString());
  now = Clock::now();
  t.postbuild = Millis(now - start);

  start = now;
  std::vector<core::DesiredObject> desired;
  desired.reserve(objects.size());
  for (reconciler::RenderedObject& o : objects) {
    core::DesiredObject d;
    d.ref = core::ObjectRef::FromObject(o.object);
    d.object = std::move(o.object);
    d.origins = std::move(o.origins);
    desired.push_back(std::move(d));
  }
  objects.clear();
  core::SnapshotInfo info;
  info.revision = "main@sha1:0123456789abcdef0123456789abcdef01234567";
  info.commit = "0123456789abcdef0123456789abcdef01234567";
  info.built_at = std::chrono::system_clock::now();
  auto snapshot = core::DesiredSnapshot::Build(id, std::move(info), std::move(desired));
  if (!snapshot.ok()) Die(snapshot.status().ToString());
  const size_t count = (*snapshot)->objects().size();
  now = Clock::now();
  t.snapshot = Millis(now - start);

  start = now;
  store.Register(id);
  store.Publish(*std::move(snapshot));
  t.publish = Millis(Clock::now() - start);
  return count;
}

int Main(int argc, char** argv) {
  std::string root, path;
  int repetitions = 1;
  bool track_origins = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--root") {
      root = argv[i + 1];
    } else if (flag == "--path") {
      path = argv[i + 1];
    } else if (flag == "--repetitions") {
      repetitions = std::max(1, std::atoi(argv[i + 1]));
    } else if (flag == "--track-origins") {
      track_origins = std::string_view(argv[i + 1]) != "0";
    } else {
      Die("unknown flag " + std::string(flag));
    }
  }
  if (root.empty() || path.empty() || argc % 2 == 0) {
    Die("usage: desired_state_bench --root DIR --path SUBDIR [--repetitions N] "
        "[--track-origins 0|1]");
  }

  core::DesiredStateStore store;
  const double rss_before = StatusMib("VmRSS");
  std::vector<Timings> runs(1);
  const size_t count = BuildOnce(root, path, track_origins, store, runs[0]);
  const double rss_after = StatusMib("VmRSS");
  const double hwm = StatusMib("VmHWM");
  malloc_trim(0);
  const double rss_trimmed = StatusMib("VmRSS");
  if (store.Current()->object_count() != count) Die("the store does not hold every object");
  size_t origins = 0;
  for (const auto& [id, entry] : store.Current()->entries()) {
    for (const core::DesiredObject& o : entry.snapshot->objects()) origins += o.origins.size();
  }

  for (int r = 1; r < repetitions; ++r) {
    runs.emplace_back();
    if (BuildOnce(root, path, track_origins, store, runs.back()) != count) {
      Die("object count changed");
    }
  }
  auto median_of = [&](double Timings::*field) {
    std::vector<double> v;
    for (const Timings& t : runs) v.push_back(t.*field);
    return Median(v);
  };
  std::vector<double> totals;
  for (const Timings& t : runs) totals.push_back(t.total());

  std::printf("objects=%zu origins=%zu\n", count, origins);
  std::printf("rss_before_mib=%.1f rss_after_mib=%.1f hwm_mib=%.1f rss_trimmed_mib=%.1f\n",
              rss_before, rss_after, hwm, rss_trimmed);
  std::printf("render_ms=%.1f postbuild_ms=%.1f snapshot_ms=%.1f publish_ms=%.1f\n",
              median_of(&Timings::render), median_of(&Timings::postbuild),
              median_of(&Timings::snapshot), median_of(&Timings::publish));
  std::printf("total_ms=%.1f total_min_ms=%.1f repetitions=%zu\n", Median(totals),
              *std::min_element(totals.begin(), totals.end()), runs.size());
  return 0;
}

}  // namespace
}  // namespace driftguard

int main(int argc, char** argv) { return driftguard::Main(argc, argv); }

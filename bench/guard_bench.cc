// The webhook's decision path for a realistic review (issue 4, "Figures": target <= 50 us for
// decode -> lookup -> compare -> encode).
//
// The review is tests/testdata/admission/deployment-update-v1.json: a `kubectl edit` of a
// Flux-managed Deployment, object + oldObject with managedFields (~10 KB). The DesiredStateStore
// holds that Deployment as Git declares it in Kustomization flux-system/apps, beside 10,000 other
// objects (2,000 in it and in each of four more Kustomizations), so the lookup runs against a
// realistic index.
//
// Cases (each body is the fixture with `object` replaced as described):
//   noop    object == oldObject (e.g. `kubectl apply` of unchanged content): allowed
//   image   the container image changed: denied in enforce mode with a message
//   revert  the same image change on /mutate in revert mode: allowed with a JSONPatch
//   fixture the fixture as captured (replicas, image and one env value changed): denied
// Benchmarks time each stage alone (Decode, Decide, Encode) and the whole path (WholePath).
//
// Run (quote medians):
//   taskset -c 1 build/bench/guard_bench --benchmark_repetitions=10
//       --benchmark_report_aggregates_only=true
// (see bench/README.md).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/desired_state.h"
#include "core/json.h"
#include "webhook/admission.h"
#include "webhook/guard.h"

namespace driftguard::webhook {
namespace {

using core::Json;

constexpr char kCommit[] = "0123456789abcdef0123456789abcdef01234567";
constexpr char kNewImage[] = "ghcr.io/stefanprodan/podinfo:6.6.0";

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "guard_bench: %s\n", why.c_str());
  std::exit(1);
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Json FluxLabels(const std::string& ks) {
  return {{"kustomize.toolkit.fluxcd.io/name", ks},
          {"kustomize.toolkit.fluxcd.io/namespace", "flux-system"}};
}

Json KustomizationObject(const std::string& name, Json annotations = Json::object()) {
  return {
      {"apiVersion", "kustomize.toolkit.fluxcd.io/v1"},
      {"kind", "Kustomization"},
      {"metadata", {{"name", name}, {"namespace", "flux-system"}, {"annotations", annotations}}},
      {"spec", {{"interval", "10m"}, {"path", "./apps/" + name}, {"prune", true}}}};
}

core::DesiredObject Desired(Json obj, core::FieldOrigins origins) {
  core::DesiredObject d;
  d.ref = core::ObjectRef::FromObject(obj);
  d.object = std::move(obj);
  d.origins = std::move(origins);
  return d;
}

void Publish(core::DesiredStateStore& store, const std::string& name, Json ks,
             std::vector<core::DesiredObject> objects) {
  core::SnapshotInfo info;
  info.commit = kCommit;
  info.revision = std::string("main@sha1:") + kCommit;
  info.built_at = std::chrono::system_clock::now();
  info.kustomization = std::move(ks);
  auto snap = core::DesiredSnapshot::Build({"flux-system", name}, info, std::move(objects));
  if (!snap.ok()) Die(snap.status().message());
  store.Publish(*snap);
}

// A filler object of Kustomization `ks`: alternately a ConfigMap and a small Deployment.
Json Filler(const std::string& ks, int i) {
  const std::string name = ks + "-" + std::to_string(i);
  const std::string ns = "team-" + std::to_string(i % 40);
  if (i % 2 == 0) {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}, {"namespace", ns}, {"labels", FluxLabels(ks)}}},
            {"data", {{"LOG_LEVEL", "info"}, {"FEATURE_X", "on"}, {"index", std::to_string(i)}}}};
  }
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", FluxLabels(ks)}}},
          {"spec",
           {{"replicas", 2},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", name}}}}},
              {"spec",
               {{"containers",
                 {{{"name", "app"},
                   {"image", "registry.example.com/" + ks + ":1." + std::to_string(i % 9)},
                   {"ports", {{{"containerPort", 8080}, {"protocol", "TCP"}}}}}}}}}}}}}};
}

struct Bodies {
  std::string fixture;
  std::string noop;
  std::string image;
};

// Everything the benchmarks share; built once.
struct World {
  Bodies bodies;
  core::DesiredStateStore store;
  GuardConfig enforce_config;
  GuardConfig revert_config;
  std::unique_ptr<Guard> enforce;
  std::unique_ptr<Guard> revert;
  size_t object_count = 0;

  World() {
    bodies.fixture = ReadFileOrDie(std::string(DRIFTGUARD_TESTDATA_DIR) +
                                   "/admission/deployment-update-v1.json");
    auto review = core::ParseJson(bodies.fixture, "fixture");
    if (!review.ok()) Die(review.status().message());
    Json& request = (*review)["request"];
    const Json old_obj = request["oldObject"];

    Json noop = *review;
    noop["request"]["object"] = old_obj;
    bodies.noop = noop.dump();
    Json image = *review;
    image["request"]["object"] = old_obj;
    image["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["image"] = kNewImage;
    bodies.image = image.dump();

    // The Deployment as Git declares it: the live object without server-owned fields.
    Json desired = old_obj;
    for (const char* f : {"uid", "resourceVersion", "generation", "creationTimestamp",
                          "managedFields", "annotations"}) {
      desired["metadata"].erase(f);
    }
    desired.erase("status");
    std::vector<core::DesiredObject> apps;
    apps.push_back(Desired(desired, {{"", {"apps/podinfo/deployment.yaml", 1}},
                                     {"/spec/replicas", {"apps/podinfo/deployment.yaml", 9}},
                                     {"/spec/template/spec/containers/0/image",
                                      {"apps/podinfo/kustomization.yaml", 12}}}));
    constexpr int kPerKustomization = 2000;
    for (int i = 0; i < kPerKustomization; ++i) {
      apps.push_back(Desired(Filler("apps", i), {{"", {"apps/generated.yaml", i + 1}}}));
    }
    Publish(store, "apps", KustomizationObject("apps"), std::move(apps));
    for (const char* ks : {"infra", "monitoring", "payments", "search"}) {
      std::vector<core::DesiredObject> objects;
      for (int i = 0; i < kPerKustomization; ++i) {
        objects.push_back(
            Desired(Filler(ks, i), {{"", {std::string(ks) + "/generated.yaml", i + 1}}}));
      }
      Publish(store, ks, KustomizationObject(ks), std::move(objects));
    }
    object_count = store.Current()->object_count();

    enforce_config.break_glass_groups = {"platform:break-glass"};
    revert_config = enforce_config;
    revert_config.default_mode = GuardMode::kRevert;
    enforce = std::make_unique<Guard>(enforce_config, &store, nullptr);
    revert = std::make_unique<Guard>(revert_config, &store, nullptr);

    // The benchmarks must measure the decisions they claim to measure.
    Expect("noop", *enforce, bodies.noop, Endpoint::kValidate, "allow");
    Expect("image", *enforce, bodies.image, Endpoint::kValidate, "deny");
    Expect("revert", *revert, bodies.image, Endpoint::kMutate, "revert");
    Expect("fixture", *enforce, bodies.fixture, Endpoint::kValidate, "deny");
  }

  static void Expect(const char* name, const Guard& guard, const std::string& body,
                     Endpoint endpoint, const std::string& want) {
    auto request = DecodeAdmissionReview(body);
    if (!request.ok()) Die(std::string(name) + ": " + request.status().message());
    GuardDecision d = guard.Decide(*request, endpoint);
    if (d.decision != want) {
      Die(std::string(name) + ": decision " + d.decision + " (" + d.reason + "), want " + want);
    }
    if (want == "revert" && d.response.patch.empty()) Die(std::string(name) + ": no patch");
    if (want == "deny" && !d.response.status) Die(std::string(name) + ": no message");
  }
};

World& TheWorld() {
  static World* world = new World();
  return *world;
}

struct Case {
  const std::string* body;
  const Guard* guard;
  Endpoint endpoint;
};

Case CaseNamed(int index) {
  World& w = TheWorld();
  switch (index) {
    case 0:
      return {&w.bodies.noop, w.enforce.get(), Endpoint::kValidate};
    case 1:
      return {&w.bodies.image, w.enforce.get(), Endpoint::kValidate};
    case 2:
      return {&w.bodies.image, w.revert.get(), Endpoint::kMutate};
    default:
      return {&w.bodies.fixture, w.enforce.get(), Endpoint::kValidate};
  }
}

void CaseArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"case"});
  for (int i = 0; i < 4; ++i) b->Arg(i);
}

const char* kCaseLabels[] = {"noop (allow)", "image (deny)", "image /mutate (revert patch)",
                             "fixture (deny, 3 fields)"};

void BM_Decode(benchmark::State& state) {
  const std::string& body = TheWorld().bodies.fixture;
  for (auto _ : state) {
    auto request = DecodeAdmissionReview(body);
    benchmark::DoNotOptimize(request);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.SetLabel(std::to_string(body.size()) + " B");
}
BENCHMARK(BM_Decode);

void BM_Decide(benchmark::State& state) {
  Case c = CaseNamed(static_cast<int>(state.range(0)));
  auto request = DecodeAdmissionReview(*c.body);
  for (auto _ : state) {
    GuardDecision d = c.guard->Decide(*request, c.endpoint);
    benchmark::DoNotOptimize(d);
  }
  state.SetLabel(kCaseLabels[state.range(0)]);
}
BENCHMARK(BM_Decide)->Apply(CaseArgs);

void BM_Encode(benchmark::State& state) {
  Case c = CaseNamed(static_cast<int>(state.range(0)));
  auto request = DecodeAdmissionReview(*c.body);
  GuardDecision d = c.guard->Decide(*request, c.endpoint);
  for (auto _ : state) {
    auto out = EncodeAdmissionReview(*request, d.response);
    benchmark::DoNotOptimize(out);
  }
  state.SetLabel(kCaseLabels[state.range(0)]);
}
BENCHMARK(BM_Encode)->Apply(CaseArgs);

// decode -> lookup -> compare -> encode, as the server runs it per request.
void BM_WholePath(benchmark::State& state) {
  Case c = CaseNamed(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto request = DecodeAdmissionReview(*c.body);
    GuardDecision d = c.guard->Decide(*request, c.endpoint);
    auto out = EncodeAdmissionReview(*request, d.response);
    benchmark::DoNotOptimize(out);
  }
  state.SetLabel(std::string(kCaseLabels[state.range(0)]) + ", " +
                 std::to_string(TheWorld().object_count) + " desired objects");
}
BENCHMARK(BM_WholePath)->Apply(CaseArgs);

}  // namespace
}  // namespace driftguard::webhook

BENCHMARK_MAIN();

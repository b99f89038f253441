// ParseYamlStream with driftguard's own parser vs the former yaml-cpp implementation
// (tests/support/yaml_cpp_reference.h), on a realistic ~3.5 KB Deployment
// (tests/testdata/yaml/deployment.yaml) and on a stream of 2,000 such documents, with and
// without record_positions. Run:
//   build/bench/yaml_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// and compare the *_median rows (ours vs yaml_cpp).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "core/yaml.h"
#include "tests/support/yaml_cpp_reference.h"

namespace driftguard {
namespace {

const std::string& Deployment() {
  static const std::string text = [] {
    std::ifstream in(std::string(DRIFTGUARD_TESTDATA_DIR) + "/yaml/deployment.yaml");
    std::stringstream ss;
    ss << in.rdbuf();
    if (ss.str().empty()) {
      std::fprintf(stderr, "yaml_bench: cannot read tests/testdata/yaml/deployment.yaml\n");
      std::abort();
    }
    return ss.str();
  }();
  return text;
}

const std::string& Stream2000() {
  static const std::string text = [] {
    std::string out;
    for (int i = 0; i < 2000; ++i) {
      out += "---\n";
      std::string doc = Deployment();
      // Distinct names, as in a real render.
      const size_t at = doc.find("name: podinfo");
      if (at != std::string::npos) doc.replace(at, 13, "name: podinfo-" + std::to_string(i));
      out += doc;
    }
    return out;
  }();
  return text;
}

template <bool kOurs>
void Parse(benchmark::State& state, const std::string& text) {
  core::YamlParseOptions options;
  options.record_positions = state.range(0) != 0;
  size_t docs = 0;
  for (auto _ : state) {
    auto parsed = kOurs ? core::ParseYamlStream(text, "bench.yaml", options)
                        : testing::ParseYamlStreamWithYamlCpp(text, "bench.yaml", options);
    if (!parsed.ok()) {
      state.SkipWithError(parsed.status().message().c_str());
      return;
    }
    docs += parsed->size();
    benchmark::DoNotOptimize(parsed);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["docs"] =
      benchmark::Counter(static_cast<double>(docs), benchmark::Counter::kIsRate);
}

void BM_Deployment_Ours(benchmark::State& state) { Parse<true>(state, Deployment()); }
void BM_Deployment_YamlCpp(benchmark::State& state) { Parse<false>(state, Deployment()); }
void BM_Stream2000_Ours(benchmark::State& state) { Parse<true>(state, Stream2000()); }
void BM_Stream2000_YamlCpp(benchmark::State& state) { Parse<false>(state, Stream2000()); }

BENCHMARK(BM_Deployment_Ours)->ArgName("positions")->Arg(0)->Arg(1);
BENCHMARK(BM_Deployment_YamlCpp)->ArgName("positions")->Arg(0)->Arg(1);
BENCHMARK(BM_Stream2000_Ours)->ArgName("positions")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Stream2000_YamlCpp)
    ->ArgName("positions")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace driftguard

BENCHMARK_MAIN();

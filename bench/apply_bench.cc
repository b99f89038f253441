// Applier figures (issue 5): a first apply of N rendered objects (ConfigMaps, Deployments and
// Services across a few namespaces) against the FakeApiServer, then a no-change resync of the
// same objects. Driven by bench/apply.sh.
//
// The FakeApiServer runs in a forked child process so that this process's CPU time
// (getrusage(RUSAGE_SELF): user + system, every thread — applier workers and the HTTPS client)
// is the client's alone. The child is forked before this process starts any thread; it reports
// its URL and CA on a pipe and, on request, the bytes on the wire of the requests it served
// since the last report (sum of RecordedRequest::request_bytes + response_bytes: HTTP bodies as
// the fake records them).
//
// Usage: apply_bench [--objects N] [--runs R] [--concurrency C] [--namespaces K]
// Prints one TSV line per run and phase:
//   run phase objects seconds objects_per_s requests wire_bytes cpu_us_per_object created
//   configured unchanged
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/kube_client.h"
#include "reconciler/applier.h"
#include "tests/support/fake_apiserver.h"

namespace {

using driftguard::core::Json;

bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool ReadExactly(int fd, std::string& out, size_t n) {
  out.resize(n);
  size_t off = 0;
  while (off < n) {
    ssize_t r = read(fd, out.data() + off, n - off);
    if (r <= 0) return false;
    off += static_cast<size_t>(r);
  }
  return true;
}

bool ReadLine(int fd, std::string& line) {
  line.clear();
  char c;
  while (true) {
    ssize_t r = read(fd, &c, 1);
    if (r <= 0) return false;
    if (c == '\n') return true;
    line.push_back(c);
  }
}

// Child: serve until told to quit. Protocol: child -> "<url>\n<ca length>\n<ca>"; then for each
// command line "stats" -> "<requests> <bytes>\n" (and the log is cleared), "quit" -> exit.
[[noreturn]] void ServeChild(int to_parent, int from_parent, const std::vector<std::string>& ns) {
  driftguard::testing::FakeApiServer::Options options;
  options.install_flux_crds = false;
  options.namespaces = ns;
  driftguard::testing::FakeApiServer api(options);
  WriteAll(to_parent, api.url() + "\n" + std::to_string(api.ca_pem().size()) + "\n" + api.ca_pem());
  std::string cmd;
  while (ReadLine(from_parent, cmd) && cmd != "quit") {
    size_t bytes = 0;
    auto log = api.Requests();
    for (const auto& r : log) bytes += r.request_bytes + r.response_bytes;
    api.ClearRequests();
    WriteAll(to_parent, std::to_string(log.size()) + " " + std::to_string(bytes) + "\n");
  }
  _exit(0);
}

Json Object(size_t i, const std::string& ns) {
  const std::string name = "obj-" + std::to_string(i);
  switch (i % 3) {
    case 0:
      return {{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", name}}}}},
              {"data",
               {{"config.yaml", "replicas: 3\nlogLevel: info\nfeature: " + std::to_string(i)},
                {"owner", "team-" + std::to_string(i % 7)}}}};
    case 1: {
      Json container = {{"name", "app"},
                        {"image", "registry.example.com/app:1." + std::to_string(i % 10)},
                        {"ports", Json::array({{{"containerPort", 8080}}})}};
      container["resources"]["requests"] = {{"cpu", "100m"}, {"memory", "128Mi"}};
      container["resources"]["limits"] = {{"memory", "256Mi"}};
      Json d = {{"apiVersion", "apps/v1"},
                {"kind", "Deployment"},
                {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", name}}}}}};
      d["spec"]["replicas"] = 2;
      d["spec"]["selector"]["matchLabels"]["app"] = name;
      d["spec"]["template"]["metadata"]["labels"]["app"] = name;
      d["spec"]["template"]["spec"]["containers"] = Json::array({container});
      return d;
    }
    default:
      return {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", name}}}}},
              {"spec",
               {{"selector", {{"app", name}}},
                {"ports", {{{"port", 80}, {"targetPort", 8080}, {"protocol", "TCP"}}}}}}};
  }
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  size_t objects = 1000, runs = 3, concurrency = 4, namespaces = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    size_t value = std::strtoul(argv[i + 1], nullptr, 10);
    if (flag == "--objects")
      objects = value;
    else if (flag == "--runs")
      runs = value;
    else if (flag == "--concurrency")
      concurrency = value;
    else if (flag == "--namespaces")
      namespaces = value;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  std::vector<std::string> ns_names = {"default", "kube-system"};
  for (size_t n = 0; n < namespaces; ++n) ns_names.push_back("bench-" + std::to_string(n));
  std::vector<Json> rendered;
  for (size_t i = 0; i < objects; ++i) rendered.push_back(Object(i, ns_names[2 + i % namespaces]));

  std::printf(
      "run\tphase\tobjects\tseconds\tobjects_per_s\trequests\twire_bytes\tcpu_us_per_object\t"
      "created\tconfigured\tunchanged\n");
  for (size_t run = 0; run < runs; ++run) {
    int up[2], down[2];
    if (pipe(up) != 0 || pipe(down) != 0) return 1;
    pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) {
      close(up[0]);
      close(down[1]);
      ServeChild(up[1], down[0], ns_names);
    }
    close(up[1]);
    close(down[0]);
    std::string url, len, ca;
    if (!ReadLine(up[0], url) || !ReadLine(up[0], len) ||
        !ReadExactly(up[0], ca, std::strtoul(len.c_str(), nullptr, 10))) {
      std::fprintf(stderr, "fake API server did not start\n");
      return 1;
    }
    driftguard::core::KubeConfig config;
    config.server = url;
    config.certificate_authority_pem = ca;
    config.request_timeout = std::chrono::milliseconds(30000);
    auto client = driftguard::core::HttpKubeClient::Create(config);
    if (!client.ok()) {
      std::fprintf(stderr, "%s\n", client.status().ToString().c_str());
      return 1;
    }
    // Discovery is read once up front, outside the measured phases.
    if (!(*client)->RefreshDiscovery().ok()) return 1;
    auto stats = [&](size_t& requests, size_t& bytes) {
      std::string line;
      WriteAll(down[1], "stats\n");
      ReadLine(up[0], line);
      std::sscanf(line.c_str(), "%zu %zu", &requests, &bytes);
    };
    size_t requests = 0, bytes = 0;
    stats(requests, bytes);  // drop discovery's requests

    driftguard::reconciler::ApplierOptions options;
    options.concurrency = concurrency;
    driftguard::reconciler::Applier applier(client->get(), options);
    for (const char* phase : {"apply", "resync"}) {
      const double cpu0 = CpuSeconds();
      const auto t0 = std::chrono::steady_clock::now();
      driftguard::reconciler::ApplyResult r = applier.Apply({.objects = rendered});
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double cpu = CpuSeconds() - cpu0;
      if (!r.status.ok()) {
        std::fprintf(stderr, "apply failed: %s\n", r.status.ToString().c_str());
        return 1;
      }
      size_t counts[6] = {};
      for (const auto& c : r.changes.entries) ++counts[static_cast<int>(c.action)];
      stats(requests, bytes);
      std::printf("%zu\t%s\t%zu\t%.3f\t%.0f\t%zu\t%zu\t%.0f\t%zu\t%zu\t%zu\n", run, phase, objects,
                  seconds, static_cast<double>(objects) / seconds, requests, bytes,
                  cpu * 1e6 / static_cast<double>(objects), counts[0], counts[1], counts[2]);
      std::fflush(stdout);
    }
    WriteAll(down[1], "quit\n");
    close(down[1]);
    close(up[0]);
    waitpid(child, nullptr, 0);
  }
  return 0;
}

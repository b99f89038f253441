#include "webhook/demo_session.h"

#include <httplib.h>

#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include "core/base64.h"
#include "core/json.h"
#include "core/object_ref.h"
#include "core/strategic_merge.h"

namespace driftguard::webhook {
namespace {

using core::Json;

struct User {
  std::string name;
  std::vector<std::string> groups;
};

// One kubectl command as the API server turns it into an admission request.
struct Step {
  std::string command;
  std::string operation = "UPDATE";
  const core::DesiredObject* target = nullptr;
  std::string sub_resource;         // "scale" builds a Scale object pair
  std::function<void(Json&)> edit;  // applied to the new object; null for DELETE
  User user{"jane@example.com", {"developers", "system:authenticated"}};
  bool dry_run = false;
};

// What the API server holds for a desired object: Git's fields plus server-populated ones.
Json LiveObject(const core::DesiredObject& d, int serial) {
  Json live = d.object;
  Json& meta = live["metadata"];
  meta["uid"] = "6f1c2a9e-0000-4000-8000-00000000000" + std::to_string(serial % 10);
  meta["resourceVersion"] = std::to_string(41230 + serial);
  meta["creationTimestamp"] = "2026-11-24T09:00:00Z";
  if (live.value("kind", "") == "Deployment" || live.value("kind", "") == "StatefulSet") {
    meta["generation"] = 3;
    int replicas = live["spec"].value("replicas", 1);
    live["status"] = {{"replicas", replicas}, {"readyReplicas", replicas}};
  }
  return live;
}

Json ScaleObject(const Json& parent, int replicas) {
  return {{"apiVersion", "autoscaling/v1"},
          {"kind", "Scale"},
          {"metadata",
           {{"name", parent["metadata"]["name"]},
            {"namespace", parent["metadata"]["namespace"]},
            {"resourceVersion", parent["metadata"]["resourceVersion"]}}},
          {"spec", {{"replicas", replicas}}}};
}

std::string Plural(const std::string& kind) {
  std::string out;
  for (char c : kind) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out + "s";
}

Json Review(const Step& step, const Json& old_obj, const Json& new_obj, int serial) {
  const core::ObjectRef& ref = step.target->ref;
  Json kind = {{"group", ref.group}, {"version", ref.version}, {"kind", ref.kind}};
  if (step.sub_resource == "scale")
    kind = {{"group", "autoscaling"}, {"version", "v1"}, {"kind", "Scale"}};
  Json request = {
      {"uid", "d3m0" + std::to_string(1000 + serial) + "-5e55-4000-8000-000000000000"},
      {"kind", kind},
      {"resource",
       {{"group", ref.group}, {"version", ref.version}, {"resource", Plural(ref.kind)}}},
      {"name", ref.name},
      {"namespace", ref.namespace_},
      {"operation", step.operation},
      {"userInfo", {{"username", step.user.name}, {"groups", step.user.groups}}},
      {"dryRun", step.dry_run}};
  if (!step.sub_resource.empty()) request["subResource"] = step.sub_resource;
  if (!old_obj.is_null()) request["oldObject"] = old_obj;
  if (!new_obj.is_null()) request["object"] = new_obj;
  return {{"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"request", request}};
}

core::StatusOr<Json> Post(httplib::SSLClient& client, const std::string& path, const Json& review) {
  auto res = client.Post(path.c_str(), review.dump(), "application/json");
  if (!res) {
    return core::UnavailableError("POST " + path + ": " + httplib::to_string(res.error()));
  }
  if (res->status != 200) {
    return core::InternalError("POST " + path + ": HTTP " + std::to_string(res->status) + ": " +
                               res->body);
  }
  ASSIGN_OR_RETURN(Json out, core::ParseJson(res->body, "response of " + path));
  if (!out.contains("response")) return core::InternalError("POST " + path + ": no response");
  return out["response"];
}

void PrintIndented(std::ostream& out, const std::string& text) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out << "    " << text.substr(start, end - start) << "\n";
    start = end + 1;
  }
}

}  // namespace

core::StatusOr<DemoSessionSummary> RunDemoSession(const DemoSessionOptions& options,
                                                  const core::DesiredStateView& view,
                                                  std::ostream& out) {
  auto find = [&](core::ObjectKey key) -> core::StatusOr<const core::DesiredObject*> {
    auto hit = view.FindObject(key);
    if (!hit) {
      return core::NotFoundError("demo: the desired state has no " + key.kind + " " +
                                 key.namespace_ + "/" + key.name);
    }
    return hit->object;
  };
  ASSIGN_OR_RETURN(const core::DesiredObject* web, find({"apps", "Deployment", "shop", "web"}));
  ASSIGN_OR_RETURN(const core::DesiredObject* svc, find({"", "Service", "shop", "web"}));
  ASSIGN_OR_RETURN(const core::DesiredObject* redis,
                   find({"apps", "StatefulSet", "cache", "redis"}));

  std::vector<Step> steps;
  steps.push_back({"kubectl scale deployment web -n shop --replicas=5", "UPDATE", web, "scale",
                   [](Json& o) { o["spec"]["replicas"] = 5; }});
  steps.push_back({"kubectl set image deployment/web -n shop web=ghcr.io/example/web:1.6.0",
                   "UPDATE", web, "", [](Json& o) {
                     o["spec"]["template"]["spec"]["containers"][0]["image"] =
                         "ghcr.io/example/web:1.6.0";
                   }});
  steps.push_back(
      {"kubectl rollout restart deployment/web -n shop", "UPDATE", web, "", [](Json& o) {
         o["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] =
             "2026-11-25T10:00:00Z";
       }});
  steps.push_back({"kubectl label deployment web -n shop tier=gold", "UPDATE", web, "",
                   [](Json& o) { o["metadata"]["labels"]["tier"] = "gold"; }});
  steps.push_back({"kubectl edit service web -n shop   # ports[0].port: 80 -> 8080", "UPDATE", svc,
                   "", [](Json& o) { o["spec"]["ports"][0]["port"] = 8080; }});
  steps.push_back({"kubectl annotate deployment web -n shop note=hotfix --dry-run=server",
                   "UPDATE",
                   web,
                   "",
                   [](Json& o) { o["metadata"]["annotations"]["note"] = "hotfix"; },
                   {"jane@example.com", {"developers", "system:authenticated"}},
                   true});
  steps.push_back(
      {"kubectl patch statefulset redis -n cache -p '{\"spec\":{\"replicas\":3}}'   "
       "# Kustomization redis is in revert mode",
       "UPDATE", redis, "", [](Json& o) { o["spec"]["replicas"] = 3; }});
  steps.push_back({"kubectl delete service web -n shop", "DELETE", svc, "", nullptr});
  steps.push_back(
      {"kubectl scale deployment web -n shop --replicas=5 "
       "--as=system:serviceaccount:flux-system:kustomize-controller",
       "UPDATE",
       web,
       "scale",
       [](Json& o) { o["spec"]["replicas"] = 5; },
       {"system:serviceaccount:flux-system:kustomize-controller",
        {"system:serviceaccounts", "system:authenticated"}}});
  steps.push_back(
      {"kubectl scale deployment web -n shop --replicas=8 --as=oncall "
       "--as-group=platform:break-glass",
       "UPDATE",
       web,
       "scale",
       [](Json& o) { o["spec"]["replicas"] = 8; },
       {"oncall", {"platform:break-glass", "system:authenticated"}}});

  httplib::SSLClient client(options.host, options.port);
  client.set_ca_cert_path(options.ca_file.c_str());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);

  DemoSessionSummary summary;
  int serial = 0;
  for (const Step& step : steps) {
    ++serial;
    Json live = LiveObject(*step.target, serial);
    Json old_obj = live, new_obj;
    if (step.sub_resource == "scale") {
      old_obj = ScaleObject(live, live["spec"].value("replicas", 1));
      new_obj = old_obj;
    } else if (step.operation != "DELETE") {
      new_obj = live;
    }
    if (step.edit) step.edit(new_obj);

    out << "$ " << step.command << "\n";
    // Mutating admission first; its patch is applied before validation, as the API server does.
    Json review = Review(step, old_obj, new_obj, serial);
    ASSIGN_OR_RETURN(Json mutate, Post(client, "/mutate", review));
    std::vector<std::string> warnings;
    for (const Json& w : mutate.value("warnings", Json::array()))
      warnings.push_back(w.get<std::string>());
    bool reverted = false;
    if (mutate.contains("patch")) {
      ASSIGN_OR_RETURN(std::string patch, core::Base64Decode(mutate["patch"].get<std::string>()));
      ASSIGN_OR_RETURN(Json ops, core::ParseJson(patch, "mutating patch"));
      ASSIGN_OR_RETURN(new_obj, core::JsonPatch(new_obj, ops));
      review = Review(step, old_obj, new_obj, serial);
      reverted = !ops.empty();
      out << "  mutating webhook patch: " << ops.dump() << "\n";
    }
    ASSIGN_OR_RETURN(Json validate, Post(client, "/validate", review));
    for (const Json& w : validate.value("warnings", Json::array()))
      warnings.push_back(w.get<std::string>());
    for (const std::string& w : warnings) out << "  Warning: " << w << "\n";
    ++summary.steps;
    if (!validate.value("allowed", false)) {
      ++summary.denied;
      out << "  Error from server (Forbidden): admission webhook \"validate.driftguard.io\" "
             "denied the request:\n";
      PrintIndented(out, validate["status"].value("message", ""));
    } else if (reverted) {
      ++summary.reverted;
      out << "  applied, with the drifted fields reverted to Git\n";
    } else {
      ++summary.allowed;
      out << "  allowed\n";
    }
    out << "\n";
  }
  return summary;
}

core::Status WaitUntilReady(const DemoSessionOptions& options, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last = "no answer";
  while (true) {
    httplib::SSLClient client(options.host, options.port);
    client.set_ca_cert_path(options.ca_file.c_str());
    client.enable_server_certificate_verification(true);
    client.set_connection_timeout(2);
    client.set_read_timeout(5);
    auto res = client.Get("/readyz");
    if (res && res->status == 200) return core::OkStatus();
    last = res ? "HTTP " + std::to_string(res->status) + ": " + res->body
               : httplib::to_string(res.error());
    if (std::chrono::steady_clock::now() >= deadline) {
      return core::DeadlineExceededError("readyz on " + options.host + ":" +
                                         std::to_string(options.port) + " not ready after " +
                                         std::to_string(timeout.count()) + " ms: " + last);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

core::StatusOr<std::string> FetchMetrics(const std::string& host, int port) {
  httplib::Client client(host, port);
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  auto res = client.Get("/metrics");
  if (!res) return core::UnavailableError("GET /metrics: " + httplib::to_string(res.error()));
  if (res->status != 200) {
    return core::UnavailableError("GET /metrics: HTTP " + std::to_string(res->status));
  }
  return res->body;
}

}  // namespace driftguard::webhook

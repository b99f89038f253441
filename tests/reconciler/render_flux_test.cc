// Flux Kustomization extras applied after the build (flux_postbuild.h).
#include <gtest/gtest.h>

#include "core/yaml.h"
#include "reconciler/flux_postbuild.h"

namespace driftguard::reconciler {
namespace {

using core::Json;

std::vector<RenderedObject> Objects(const std::string& yaml) {
  std::vector<RenderedObject> out;
  auto docs = core::ParseYamlStream(yaml, "objects.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  for (auto& d : *docs) {
    RenderedObject o;
    o.object = d.value;
    o.origins[""] = FieldOrigin{"objects.yaml", d.start.line};
    out.push_back(o);
  }
  return out;
}

Json Spec(const std::string& yaml) {
  auto j = core::ParseYaml(yaml, "spec");
  EXPECT_TRUE(j.ok()) << j.status();
  return *j;
}

TEST(FluxSubstituteTest, FormsDefaultsAndEscapes) {
  std::map<std::string, std::string> vars = {{"A", "alpha"}, {"EMPTY", ""}};
  auto s = [&](const std::string& in) { return SubstituteVariables(in, vars, false).value(); };
  EXPECT_EQ(s("x-${A}-y"), "x-alpha-y");
  EXPECT_EQ(s("$A/${A}"), "$A/alpha");
  EXPECT_EQ(s("${MISSING}"), "");
  EXPECT_EQ(s("${MISSING:=def}"), "def");
  EXPECT_EQ(s("${MISSING:-d2}"), "d2");
  EXPECT_EQ(s("${EMPTY:=def}"), "def");
  EXPECT_EQ(s("${EMPTY=def}"), "");
  EXPECT_EQ(s("${MISSING:=${A}}"), "alpha");
  EXPECT_EQ(s("$${A} and $$A and $$"), "${A} and $A and $");
  EXPECT_EQ(s("cost: 5$ or $1"), "cost: 5$ or $1");
}

// Flux's envsubst (drone/envsubst) opens a reference only at "${": bare `$var`, `$1`, `$(cmd)`
// and `$` at the end stay as they are, also inside a default value; "$$" is still an escape.
TEST(FluxSubstituteTest, BareDollarNamesAreText) {
  std::map<std::string, std::string> vars = {{"A", "alpha"}, {"HOME", "/root"}};
  auto s = [&](const std::string& in) { return SubstituteVariables(in, vars, false).value(); };
  EXPECT_EQ(s("echo $HOME and $A_B"), "echo $HOME and $A_B");
  EXPECT_EQ(s("$A${A}$A"), "$Aalpha$A");
  EXPECT_EQ(s("run $(date) for $1 at $"), "run $(date) for $1 at $");
  EXPECT_EQ(s("${MISSING:=$A}"), "$A");
  EXPECT_EQ(s("$$A ${HOME}"), "$A /root");
  // Strict mode does not look at bare names either.
  EXPECT_EQ(SubstituteVariables("$NOPE", {}, true).value(), "$NOPE");
}

TEST(FluxSubstituteTest, StrictModeRejectsUnsetVariables) {
  auto r = SubstituteVariables("${NOPE}", {}, true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "variable not set (strict mode): \"NOPE\"");
  EXPECT_EQ(SubstituteVariables("${NOPE:=ok}", {}, true).value(), "ok");
}

TEST(FluxPostBuildTest, AllExtrasAndOwnerLabels) {
  auto objs = Objects(R"(apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {region: "${REGION}"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: ${N:=1}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: nginx:1.0
        envFrom: [{configMapRef: {name: cfg}}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: script
  annotations: {kustomize.toolkit.fluxcd.io/substitute: disabled}
data: {run.sh: "echo ${HOME}"}
)");
  FluxBuildOptions o;
  o.name = "apps";
  o.namespace_ = "flux-system";
  o.origin = FieldOrigin{"clusters/prod/apps.yaml", 7};
  o.substitutions_from_refs = {{"REGION", "from-ref"}, {"N", "5"}};
  o.spec = Spec(R"(targetNamespace: prod
namePrefix: p-
commonMetadata:
  labels: {env: prod}
  annotations: {note: hi}
images: [{name: nginx, newTag: "1.27"}]
patches:
- target: {kind: Deployment}
  patch: |-
    - op: add
      path: /spec/template/spec/dnsPolicy
      value: None
postBuild:
  substitute: {REGION: eu-west-1}
)");
  ASSERT_TRUE(ApplyFluxPostBuild(objs, o).ok());
  ASSERT_EQ(objs.size(), 3u);
  const Json& cm = objs[0].object;
  EXPECT_EQ(cm["metadata"]["name"], "p-cfg");
  EXPECT_EQ(cm["metadata"]["namespace"], "prod");
  EXPECT_EQ(cm["data"]["region"], "eu-west-1");  // inline substitute wins over substituteFrom
  EXPECT_EQ(cm["metadata"]["labels"],
            (Json{{"env", "prod"},
                  {"kustomize.toolkit.fluxcd.io/name", "apps"},
                  {"kustomize.toolkit.fluxcd.io/namespace", "flux-system"}}));
  EXPECT_EQ(cm["metadata"]["annotations"], (Json{{"note", "hi"}}));
  const Json& d = objs[1].object;
  EXPECT_EQ(d["spec"]["replicas"], 5);  // substituted text re-parsed: an integer
  EXPECT_EQ(d["spec"]["template"]["spec"]["dnsPolicy"], "None");
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"],
            "p-cfg");
  // commonMetadata touches metadata only, never selectors or templates.
  EXPECT_EQ(d["spec"]["selector"], (Json{{"matchLabels", {{"app", "web"}}}}));
  EXPECT_EQ(d["spec"]["template"]["metadata"]["labels"], (Json{{"app", "web"}}));
  EXPECT_EQ(objs[2].object["data"]["run.sh"], "echo ${HOME}");
  EXPECT_EQ(objs[1].Origin("/spec/template/spec/containers/0/image"), o.origin);
  EXPECT_EQ(objs[1].Origin("/metadata/labels/kustomize.toolkit.fluxcd.io~1name"), o.origin);
  EXPECT_EQ(objs[1].Origin("/metadata/namespace"), o.origin);
  EXPECT_EQ(objs[1].Origin("/spec/template"), (FieldOrigin{"objects.yaml", 5}));
}

TEST(FluxPostBuildTest, NoVariablesMeansNoSubstitution) {
  auto objs = Objects(
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: "
      "\"${X:=d}\"}\n");
  FluxBuildOptions o;
  o.name = "n";
  o.namespace_ = "ns";
  o.spec = Spec("path: ./x\n");
  ASSERT_TRUE(ApplyFluxPostBuild(objs, o).ok());
  EXPECT_EQ(objs[0].object["data"]["a"], "${X:=d}");
}

TEST(FluxPostBuildTest, InvalidVariableNameAndStrictFailureLeaveObjectsUnchanged) {
  auto objs = Objects(
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: "
      "\"${X}\"}\n");
  const Json before = objs[0].object;
  FluxBuildOptions o;
  o.name = "n";
  o.namespace_ = "ns";
  o.spec = Spec("postBuild: {substitute: {bad-name: x}}\n");
  core::Status s = ApplyFluxPostBuild(objs, o);
  EXPECT_EQ(s.message(),
            "Kustomization/ns/n: 'bad-name' var name is invalid, must match "
            "'^[_[:alpha:]][_[:alpha:][:digit:]]*$'");
  EXPECT_EQ(objs[0].object, before);
  o.spec = Spec("postBuild: {substitute: {Y: x}}\n");
  o.strict_substitution = true;
  s = ApplyFluxPostBuild(objs, o);
  EXPECT_EQ(s.message(),
            "Kustomization/ns/n: substitution in ConfigMap.v1.[noGrp]/c.[noNs]: variable not set "
            "(strict mode): \"X\"");
  EXPECT_EQ(objs[0].object, before);
}

}  // namespace
}  // namespace driftguard::reconciler

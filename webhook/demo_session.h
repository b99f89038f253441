// The scripted session `driftguard demo` replays: kubectl-style edits, patches, scales and deletes
// of objects in the desired state, sent over HTTPS to a running webhook exactly as the API server
// would (mutating webhook first, its patch applied, then the validating webhook), with each
// decision printed.
//
//   DemoSessionOptions o{.host = "127.0.0.1", .port = server.secure_port(), .ca_file = "ca.crt"};
//   RETURN_IF_ERROR(RunDemoSession(o, *store.Current(), std::cout));
#ifndef DRIFTGUARD_WEBHOOK_DEMO_SESSION_H_
#define DRIFTGUARD_WEBHOOK_DEMO_SESSION_H_

#include <chrono>
#include <ostream>
#include <string>

#include "core/desired_state.h"
#include "core/status.h"

namespace driftguard::webhook {

struct DemoSessionOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string ca_file;  // PEM CA the client trusts
};

struct DemoSessionSummary {
  int steps = 0;
  int denied = 0;
  int allowed = 0;
  int reverted = 0;
};

// Runs the session against objects of `view` (the Deployment `web` in namespace `shop`, its
// Service, and the StatefulSet `redis` in `cache` of the examples/ repository). Errors: an object
// the script needs is missing, or the server cannot be reached / answers something unexpected.
core::StatusOr<DemoSessionSummary> RunDemoSession(const DemoSessionOptions& options,
                                                  const core::DesiredStateView& view,
                                                  std::ostream& out);

// Polls GET /readyz over HTTPS (trusting options.ca_file) until it answers 200 or `timeout`
// passes; the error then carries the last answer ("readyz: HTTP 503: ...") or connection error.
core::Status WaitUntilReady(const DemoSessionOptions& options, std::chrono::milliseconds timeout);

// GET http://<host>:<port>/metrics: the exposition text.
core::StatusOr<std::string> FetchMetrics(const std::string& host, int port);

}  // namespace driftguard::webhook

#endif  // DRIFTGUARD_WEBHOOK_DEMO_SESSION_H_

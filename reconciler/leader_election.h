// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.
//
// Every replica runs an elector; the one holding the Lease is the leader and is the only one that
// writes to the cluster (apply, prune, repair, status). A candidate takes the Lease when it is
// free or its holder has not renewed it within leaseDurationSeconds (judged by the candidate's
// own clock from when it last saw the Lease change, never by comparing clocks). The leader renews
// every retry_period; if it cannot renew for renew_deadline it stops leading (IsLeader() turns
// false and on_stopped_leading runs) — so a partitioned leader stops writing within the lease
// duration, before another replica can take over. Writes use resourceVersion preconditions, so
// two candidates never both win. Stop() releases a held Lease (holderIdentity cleared,
// leaseDurationSeconds 1) so a successor takes over at once.
//
//   LeaderElector elector(client, {.namespace_ = "driftguard-system", .name = "driftguard",
//                                  .identity = PodName()},
//                         {.on_started_leading = [&] { reconciler.Resume(); },
//                          .on_stopped_leading = [&] { reconciler.Pause(); }});
//   elector.Start();
//   ...
//   elector.Stop();
//
// Thread safety: IsLeader() from any thread; Start/Stop from one controlling thread. Callbacks
// run on the elector's thread, one at a time, and must not call Stop().
#ifndef DRIFTGUARD_RECONCILER_LEADER_ELECTION_H_
#define DRIFTGUARD_RECONCILER_LEADER_ELECTION_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/kube_client.h"
#include "core/metrics.h"
#include "core/status.h"

namespace driftguard::reconciler {

struct LeaderElectionOptions {
  std::string namespace_ = "driftguard-system";
  std::string name = "driftguard";
  std::string identity;  // unique per replica; "" = "<hostname>_<pid>"
  std::chrono::milliseconds lease_duration{15'000};
  std::chrono::milliseconds renew_deadline{10'000};
  std::chrono::milliseconds retry_period{2'000};
  core::Status Validate() const;  // lease_duration > renew_deadline > retry_period > 0
};

struct LeaderCallbacks {
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  std::function<void(const std::string& identity)> on_new_leader;  // optional
};

class LeaderElector {
 public:
  // `client` must outlive the elector; `metrics` may be null (gauge driftguard_leader 0/1).
  LeaderElector(core::KubeClient* client, LeaderElectionOptions options, LeaderCallbacks callbacks,
                core::MetricsRegistry* metrics = nullptr);
  ~LeaderElector();  // Stop()
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  void Start();
  void Stop();
  bool IsLeader() const;
  std::string identity() const;
  // The holder last observed ("" when none).
  std::string CurrentLeader() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_LEADER_ELECTION_H_

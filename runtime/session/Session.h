//===- Session.h - One rank of a run of a plan ------------------*- C++ -*-===//
//
// What a program needs to run a compiled plan, with no command line around
// it: the plan's ranks joined (Gloo between processes), this rank's backend
// chosen by name (BackendRegistry), its groups' communicators chosen by name
// or as the backend's native one (CommunicatorRegistry), its weights read,
// and an executor bound. fresco-run is one such program:
//
//   LoadedPlan plan = LoadedPlan::fromFile("dit.fplan");
//   SessionOptions o;
//   o.backend = "cpu";
//   Session s(plan, rankEnvFromEnvironment(), o);
//   s.load("./DiT-XL-2-256");
//   std::vector<HostTensor> out = s.run("transformer", inputs);
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_SESSION_SESSION_H
#define FRESCO_RUNTIME_SESSION_SESSION_H

#include "runtime/backends/BackendRegistry.h"
#include "runtime/comm/Communicator.h"
#include "runtime/comm/Environment.h"
#include "runtime/core/Executor.h"
#include "runtime/core/Lora.h"
#include "runtime/core/Plan.h"
#include "runtime/core/Weights.h"
#include "runtime/pipeline/Generate.h"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fresco {

struct SessionOptions {
  /// A BackendRegistry name: cpu, cuda or cpu-staged in this build.
  std::string backend = "cpu";
  /// Float storage and GEMM precision of the backend.
  GemmPrecision precision = GemmPrecision::F32;
  /// How the groups of a multi-rank plan move data: "auto" (the backend's
  /// native communicator where it can serve the ranks, else Gloo staged
  /// through the host) or a CommunicatorRegistry name (nccl, gloo,
  /// gloo-direct), which is then an error where it cannot serve them.
  std::string comm = "auto";
  /// How long any collective, and joining the ranks, may take
  /// (FRESCO_COMM_TIMEOUT overrides it).
  std::chrono::milliseconds timeout{60000};
  /// Receives notes such as a fallback to Gloo (one line, without a
  /// newline). By default they go to stderr as "<prefix()><program>: <note>".
  std::function<void(const std::string &)> note;
  std::string program = "fresco";
  /// LoRA files merged into the weights as load() reads them (checked
  /// against every rank's weights first; rank 0 notes what each adapts).
  std::vector<LoraFile> loras;
};

class Session {
public:
  /// Joins the ranks of `plan` as `env` says (rank 0 of 1 for a one-rank
  /// plan); throws fresco::Error when the plan wants another rank count.
  /// `plan` must outlive the session.
  Session(const LoadedPlan &plan, const RankEnv &env,
          SessionOptions options = {});
  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  const LoadedPlan &plan() const { return plan_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  /// The world communicator; null on a one-rank run.
  Communicator *world() { return world_.get(); }
  /// "[rank R] " on multi-rank runs launched by another launcher (fresco's
  /// own launcher prefixes the output itself), "" otherwise.
  const char *prefix() const { return prefix_.c_str(); }
  /// Whether this rank's program holds `function` (placement may leave it
  /// to other ranks).
  bool runs(const std::string &function) const;

  /// Creates this rank's backend (once; later calls return it). Apart from
  /// load() so that a missing GPU fails before any weight is read. Throws
  /// for a backend this build cannot use or a communicator it cannot serve.
  Backend &openBackend();
  /// Reads this rank's weights from `folder` (a diffusers model or pipeline
  /// folder) and binds every function of this rank; opens the backend
  /// first if needed.
  Executor &load(const std::string &folder);
  /// After load().
  Executor &executor();
  const WeightStore &weights() const;

  /// Runs `function` on host tensors (in its input order); `mode` as
  /// Executor::run's (it matters only to patch=P functions).
  std::vector<HostTensor> run(const std::string &function,
                              const std::vector<HostTensor> &inputs,
                              RunMode mode = RunMode::Fresh);
  /// The plan's pipeline table, decoded; throws when it has none.
  const PipelineSpec &pipeline();
  /// This rank's part in the plan's pipeline (which ranks denoise, decode).
  RankRoles roles();
  /// Runs the plan's pipeline (after load()); throws when it has none.
  GenerateResult generate(const GenerateOptions &options);

  /// The communicator over `members`, made on first use; the executor binds
  /// collectives through it.
  GroupResolver resolver();

private:
  std::unique_ptr<Communicator> makeGroup(const std::vector<int> &members,
                                          const std::string &tag);
  void note(const std::string &message);

  const LoadedPlan &plan_;
  std::optional<PipelineSpec> pipeline_;
  SessionOptions options_;
  int rank_ = 0, size_ = 1, localRank_ = 0;
  std::string prefix_;
  const BackendEntry *backendEntry_ = nullptr;
  bool notedFallback_ = false;
  // Destroyed in reverse: the executor first, then the weights, the
  // groups (an NCCL group queues its work on the backend's stream), the
  // world, and the backend last.
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Communicator> world_;
  std::map<std::vector<int>, std::unique_ptr<Communicator>> groups_;
  std::unique_ptr<WeightStore> weights_;
  std::unique_ptr<Executor> executor_;
};

/// "f32", "bf16" or "f16" as a precision; throws for anything else.
GemmPrecision precisionFromName(const std::string &dtype);

} // namespace fresco

#endif // FRESCO_RUNTIME_SESSION_SESSION_H

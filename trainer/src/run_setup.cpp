// Set-up steps of a training run: options, runtime, placement, model, data parallelism.
#include "run_setup.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "l2face/trainer/alpha.h"
#include "l2face/trainer/internal/backbone.h"
#include "l2face/trainer/internal/input.h"
#include "l2face/trainer/internal/model_state.h"
#include "l2face/trainer/internal/precision.h"
#include "l2face/trainer/internal/pretrained.h"
#include "l2face/trainer/internal/sharded_classifier.h"
#include "l2face/trainer/internal/train_step.h"

namespace fs = std::filesystem;

namespace l2face::trainer {
namespace {

std::string humanBytes(int64_t bytes) {  // KiB, MiB or GiB, whichever reads best
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (b < (1 << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024);
  } else if (b < (1 << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1 << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1 << 30));
  }
  return buf;
}

// What a rank holds for its class shard, printed once by rank 0 at start.
void reportClassifier(const TrainerOptions& opt, const comm::RunContext& ctx, int world,
                      int64_t num_classes, int64_t global_batch) {
  const ClassifierMemory mem =
      classifierMemory(opt.head, opt.optim, opt.classifier, num_classes, opt.model.embedding_dim,
                       world, ctx.rank, global_batch);
  const ClassRange r = classRange(num_classes, world, ctx.rank);
  std::cerr << "[l2face] classifier: sharded over " << world << " rank(s); rank " << ctx.rank
            << " owns classes [" << r.begin << ", " << r.end << ") of " << num_classes;
  if (opt.classifier.sample_rate < 1) {
    std::cerr << ", samples up to " << mem.sampled_rows << " rows per step (sample_rate "
              << opt.classifier.sample_rate << ")";
  }
  std::cerr << "\n[l2face] classifier memory per rank: weights " << humanBytes(mem.weight_bytes)
            << ", gradient " << humanBytes(mem.gradient_bytes) << ", optimizer state "
            << humanBytes(mem.optimizer_bytes) << ", logits " << humanBytes(mem.logits_bytes)
            << ", features " << humanBytes(mem.activation_bytes) << " = " << humanBytes(mem.total())
            << "\n";
}

// model.init on a fresh start: the pretrained backbone's weights (every rank reads the file, so the
// ranks agree; the start-up broadcast of data parallelism carries rank 0's anyway). Rank 0 says
// what was loaded. The head and classifier keep their fresh initialisation.
nlohmann::json initBackbone(const TrainerOptions& opt, TrainModel& m, int64_t num_classes,
                            const comm::RunContext& ctx) {
  const InitSource src = loadPretrainedBackbone(*m.backbone, opt.model.init);
  if (ctx.isLeader()) {
    std::cerr << "[l2face] init: " << opt.model.backbone << " backbone from " << src.path << " ("
              << src.kind << " " << src.file << ", " << src.tensors << " tensors, xxh64 "
              << src.xxh64;
    if (src.step >= 0) std::cerr << ", step " << src.step;
    std::cerr << "); the classifier starts fresh for " << num_classes
              << " classes (a checkpoint's classifier is never loaded, even with as many classes)";
    if (opt.model.init_warmup_steps > 0) {
      std::cerr << "; backbone lr x " << opt.model.init_warmup_lr_scale << " for the first "
                << opt.model.init_warmup_steps << " step(s)"
                << (opt.model.init_warmup_lr_scale == 0 ? " (frozen)" : "");
    }
    std::cerr << "\n";
  }
  return src.json();
}

}  // namespace

void checkRunOptions(const TrainerOptions& opt) {
  if (opt.data.train.empty()) throw TrainError("data.train is empty: name an ImageFolder root");
  if (opt.optim.max_steps < 1) throw TrainError("optim.max_steps must be >= 1");
  if (opt.optim.accumulate_steps < 1) throw TrainError("optim.accumulate_steps must be >= 1");
}

Runtime configureRuntime(const TrainerOptions& opt, const comm::RunContext& ctx) {
  Runtime rt;
  rt.threads = opt.run.threads;
  if (rt.threads <= 0) {
    const int cores = static_cast<int>(std::thread::hardware_concurrency());
    rt.threads = std::max(1, cores / std::max(1, ctx.local_size));
  }
  torch::set_num_threads(rt.threads);
  torch::manual_seed(opt.run.seed);
  rt.device = resolveDevice(opt.run.device);
  if (rt.device.is_cpu()) retainFreedHostMemory();
  rt.bf16 = resolvePrecision(opt.run.precision, rt.device) == "bf16";
  rt.channels_last = opt.run.channels_last == ChannelsLast::kOn ||
                     (opt.run.channels_last == ChannelsLast::kAuto && rt.device.is_cuda());
  return rt;
}

ClassifierPlacement choosePlacement(const TrainerOptions& opt, int world, int64_t num_classes,
                                    const std::optional<ResumeSource>& source) {
  ClassifierPlacement placement = resolveClassifierParallel(opt.classifier, world, num_classes);
  if (!source) return placement;
  if (opt.classifier.parallel == ClassifierPlacement::kAuto) {
    placement = source->placement();  // auto follows the checkpoint: P -> P' keeps its layout
  } else if (placement != source->placement()) {
    throw IncompatibleCheckpoint("checkpoint " + source->dir + " holds a " +
                                 enumName(source->placement()) + " classifier; this run asks for " +
                                 enumName(placement) +
                                 " (classifier.parallel: auto follows the checkpoint)");
  }
  if (placement == ClassifierPlacement::kReplicated && opt.classifier.sample_rate < 1) {
    throw IncompatibleCheckpoint("classifier.sample_rate < 1 needs a sharded classifier; " +
                                 source->dir + " holds a replicated one");
  }
  return placement;
}

TrainModel buildModel(const TrainerOptions& opt, const Runtime& rt, int64_t num_classes,
                      ClassifierPlacement placement, const std::optional<ResumeSource>& source,
                      comm::Communicator& comm, const comm::RunContext& ctx, int64_t loader_batch) {
  const bool sharded = placement == ClassifierPlacement::kSharded;
  const HeadSpec spec = resolveHeadSpec(opt.head, num_classes);  // one spec for both
  TrainModel m;
  m.backbone = makeBackbone(opt.model, opt.data.image_size);
  m.head = Head(spec, opt.model.embedding_dim, num_classes, opt.run.seed, !sharded);
  if (sharded) {
    m.classifier =
        std::make_unique<ShardedClassifier>(spec, opt.optim, opt.classifier, num_classes,
                                            opt.model.embedding_dim, opt.run.seed, comm, rt.device);
    if (ctx.isLeader()) reportClassifier(opt, ctx, comm.size(), num_classes, loader_batch);
  }
  if (source) {  // module state is restored on the host, before the move to the device
    loadModule(*m.backbone, fs::path(source->dir) / "backbone.pt");
    loadModule(*m.head, fs::path(source->dir) / "head.pt");
    if (!opt.model.init.empty() && ctx.isLeader()) {
      std::cerr << "[l2face] model.init " << opt.model.init
                << " is not loaded: the run resumes from " << source->dir << "\n";
    }
  } else if (!opt.model.init.empty()) {
    m.init = initBackbone(opt, m, num_classes, ctx);
  }
  m.backbone->to(rt.device);
  m.head->to(rt.device);
  if (rt.channels_last) toChannelsLast(*m.backbone);
  m.backbone->train();
  m.head->train();
  return m;
}

double reportAlpha(const TrainerOptions& opt, const TrainModel& m, int64_t num_classes,
                   double alpha, bool leader) {
  const bool normalised = m.head->normalised();
  if (num_classes <= 2 || (opt.head.type != HeadType::kL2Softmax && !normalised)) return 0;
  const double low = alphaLowerBound(num_classes, opt.head.p);
  if (!leader) return low;
  std::cerr << "[l2face] " << (normalised ? "scale s" : "alpha") << " = " << alpha
            << " (lower bound alpha_low = " << low << " for C = " << num_classes
            << ", p = " << opt.head.p
            << (opt.head.alpha_auto && !normalised ? ", chosen automatically" : "")
            << (m.head->alphaLearnable() ? ", learnable" : "") << ")\n";
  if (!opt.head.alpha_auto && alpha < low) {
    std::cerr << "[l2face] warning: " << (normalised ? "head.scale " : "head.alpha ") << alpha
              << " is below the paper's lower bound " << low << "; training may be slow to converge"
              << (normalised ? "\n" : " (head.alpha: auto uses the bound)\n");
  }
  return low;
}

std::unique_ptr<DataParallel> makeDataParallel(const TrainerOptions& opt, TrainModel& m,
                                               comm::Communicator& comm) {
  if (comm.size() == 1) return nullptr;
  std::vector<torch::Tensor> params, buffers;
  for (auto* mod : std::initializer_list<torch::nn::Module*>{m.backbone.get(), m.head.get()}) {
    for (auto& p : mod->parameters()) {
      if (p.requires_grad()) params.push_back(p);
    }
    for (auto& b : mod->buffers()) buffers.push_back(b);
  }
  auto dp = std::make_unique<DataParallel>(comm, params, comm::gradSyncOptions(opt.comm));
  dp->broadcastFromRank0(buffers);
  return dp;
}

}  // namespace l2face::trainer

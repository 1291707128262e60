// The key table: every YAML key with its field, type, constraint and one-line meaning.
#include "l2face/launch/internal/config_keys.h"

#include <algorithm>
#include <type_traits>

namespace l2face::launch::detail {
namespace {

// One entry bound to Config::*section .*member; the type comes from the member, the default
// from a default-constructed Config (so the option structs stay the one source of defaults).
template <class S, class T>
KeySpec field(const char* section, const char* key, S trainer::TrainConfig::*sec, T S::*member,
              Constraint c, const char* doc) {
  KeySpec k;
  k.section = section;
  k.key = key;
  k.type = typeName<T>();
  k.allowed = describe(c);
  if (c.lo && !std::is_arithmetic_v<T>) {  // list bounds hold per element
    k.allowed = (c.hi ? "each in " : "each ") + k.allowed;
  }
  k.doc = doc;
  k.set = [sec, member, c](Config& cfg, const YAML::Node& node) -> Problem {
    T value{};
    if (auto p = parseValue(node, value)) return p;
    if (auto p = checkValue(c, value)) return p;
    (cfg.*sec).*member = std::move(value);
    return std::nullopt;
  };
  k.get = [sec, member](const Config& cfg) { return formatValue((cfg.*sec).*member); };
  return k;
}

// An entry left out of configDigest (KeySpec::digested).
KeySpec undigested(KeySpec k) {
  k.digested = false;
  return k;
}

// An entry for an enum member: the allowed words, the parsing and the canonical text all come from
// the enum's name table (trainer::EnumNames), the doc from `lead` plus each word's meaning.
template <class S, class E>
KeySpec enumField(const char* section, const char* key, S trainer::TrainConfig::*sec, E S::*member,
                  const std::string& lead) {
  std::vector<std::string> names;
  std::string doc = lead;
  for (const auto& e : trainer::EnumNames<E>::table) {
    names.push_back(e.name);
    doc += (names.size() == 1 ? ": " : "; ") + std::string(e.name) + " = " + e.doc;
  }
  const Constraint c = oneOf(names);
  KeySpec k;
  k.section = section;
  k.key = key;
  k.type = typeName<std::string>();
  k.allowed = describe(c);
  k.doc = doc;
  k.set = [sec, member, c](Config& cfg, const YAML::Node& node) -> Problem {
    std::string word;
    if (auto p = parseValue(node, word)) return p;
    if (auto p = checkValue(c, word)) return p;
    (cfg.*sec).*member = *trainer::enumFromName<E>(word);
    return std::nullopt;
  };
  k.get = [sec, member](const Config& cfg) {
    return formatValue(std::string(trainer::enumName((cfg.*sec).*member)));
  };
  return k;
}

// head.alpha is a number or the word auto: two fields (alpha, alpha_auto) behind one key.
KeySpec alphaKey() {
  KeySpec k;
  k.section = "head";
  k.key = "alpha";
  k.type = "number or auto";
  k.allowed = "> 0, or auto";
  k.doc =
      "Radius α of the feature hypersphere; auto = the lower bound log(p(C-2)/(1-p)) for C "
      "classes";
  k.set = [](Config& cfg, const YAML::Node& node) -> Problem {
    if (node.IsScalar() && node.Scalar() == "auto") {
      // Reset the unused number so that equal configs have equal fields (round trip is exact).
      cfg.head.alpha = trainer::HeadOptions{}.alpha;
      cfg.head.alpha_auto = true;
      return std::nullopt;
    }
    double value = 0;
    if (parseValue(node, value)) return "expected a number or auto, got " + describeNode(node);
    if (auto p = checkValue(greaterThan(0), value)) return p;
    cfg.head.alpha = value;
    cfg.head.alpha_auto = false;
    return std::nullopt;
  };
  k.get = [](const Config& cfg) {
    return cfg.head.alpha_auto ? std::string("auto") : formatValue(cfg.head.alpha);
  };
  return k;
}

// comm.backend: a name in YAML, comm::Backend in comm::CommOptions.
KeySpec backendKey() {
  const Constraint names = oneOf({"auto", "local", "mpi", "nccl"});
  KeySpec k;
  k.section = "comm";
  k.key = "backend";
  k.type = typeName<std::string>();
  k.allowed = describe(names);
  k.doc = "auto: local for one rank, nccl with GPUs, else mpi (under mpirun)";
  k.set = [names](Config& cfg, const YAML::Node& node) -> Problem {
    std::string value;
    if (auto p = parseValue(node, value)) return p;
    if (auto p = checkValue(names, value)) return p;
    for (comm::Backend b :
         {comm::Backend::kAuto, comm::Backend::kLocal, comm::Backend::kMpi, comm::Backend::kNccl}) {
      if (value == comm::backendName(b)) cfg.comm.backend = b;
    }
    return std::nullopt;
  };
  k.get = [](const Config& cfg) {
    return formatValue(std::string(comm::backendName(cfg.comm.backend)));
  };
  return k;
}

Constraint halfOpen(double lo, double hi, bool lo_open) {  // [lo, hi) or (lo, hi]
  Constraint c = between(lo, hi);
  (lo_open ? c.lo_open : c.hi_open) = true;
  return c;
}

Constraint ascendingFrom(double lo) {
  Constraint c = atLeast(lo);
  c.ascending = true;
  return c;
}

std::vector<KeySpec> buildTable() {
  using trainer::RunOptions, data::DataOptions, trainer::ModelOptions, trainer::HeadOptions,
      trainer::ClassifierOptions, trainer::OptimOptions, checkpoint::CheckpointOptions,
      monitoring::MonitoringOptions, eval::EvalOptions;
  const Constraint any{};
  auto R = &Config::run;
  auto D = &Config::data;
  auto M = &Config::model;
  auto H = &Config::head;
  auto O = &Config::optim;
  auto K = &Config::checkpoint;
  auto N = &Config::monitoring;
  auto E = &Config::eval;
  auto C = &Config::comm;
  return {
      field("run", "dir", R, &RunOptions::dir, nonEmpty(),
            "Run directory: effective config (config.yaml), checkpoints, logs, summary"),
      field("run", "seed", R, &RunOptions::seed, any,
            "Seed of the sample order, augmentation and weight initialisation"),
      field("run", "device", R, &RunOptions::device, oneOf({"auto", "cpu", "cuda"}),
            "Compute device; auto = cuda when a GPU is visible, else cpu"),
      field("run", "threads", R, &RunOptions::threads, atLeast(0),
            "Intra-op threads per rank; 0 = cores / local ranks"),
      field("run", "precision", R, &RunOptions::precision, oneOf({"auto", "fp32", "bf16"}),
            "Backbone arithmetic; auto = bf16 autocast on CUDA, fp32 on CPU (head and loss: fp32)"),
      enumField("run", "channels_last", R, &RunOptions::channels_last,
                "Memory format of the backbone's input and convolution weights"),
      enumField("run", "cuda_sync_debug", R, &RunOptions::cuda_sync_debug,
                "CUDA only: torch's sync-debug mode around each training step (batch to "
                "optimizer step); no effect on the CPU"),

      field("data", "train", D, &DataOptions::train, any,
            "Training set: ImageFolder root, a directory with train.rec/train.idx, .rec file(s) "
            "(comma-separated) or a glob of .rec shards; needed to train"),
      field("data", "batch_size", D, &DataOptions::batch_size, atLeast(1),
            "Images per rank per batch; the global batch is batch_size × ranks. With a fixed "
            "global batch (data.global_batch, --keep-global-batch): the largest per-rank batch"),
      field("data", "global_batch", D, &DataOptions::global_batch, atLeast(0),
            "Images per optimizer step over all ranks; 0 = batch_size × ranks × "
            "optim.accumulate_steps. When > 0 it is split over the P ranks: per-rank batch "
            "global_batch / (P·k) with the smallest k >= optim.accumulate_steps that keeps it "
            "<= batch_size; P must divide it (else exit 2 naming the rank counts that can)"),
      field("data", "workers", D, &DataOptions::workers, atLeast(0),
            "Loader threads; 0 = from the CPU count"),
      field("data", "prefetch", D, &DataOptions::prefetch, atLeast(1),
            "Ready batches kept ahead of the trainer (host memory: prefetch × batch)"),
      // 16: the tiny backbone's four stride-2 stages divide the side by 16 (checked too).
      field("data", "image_size", D, &DataOptions::image_size, atLeast(16),
            "Model input side in pixels (square); images of another size are resized"),
      field("data", "flip_p", D, &DataOptions::flip_p, between(0, 1),
            "Probability of a horizontal flip of a training image"),
      field("data", "random_resized_crop", D, &DataOptions::random_resized_crop, between(0, 1),
            "Probability of a random resized crop (area and aspect ratio below)"),
      field("data", "crop_scale_min", D, &DataOptions::crop_scale_min, halfOpen(0, 1, true),
            "Smallest crop area as a fraction of the image (the largest is 1)"),
      field("data", "crop_ratio_max", D, &DataOptions::crop_ratio_max, atLeast(1),
            "Crop aspect ratio w/h drawn log-uniformly in [1/x, x]"),
      field("data", "brightness", D, &DataOptions::brightness, atLeast(0),
            "Brightness jitter b: factor uniform in [max(0, 1-b), 1+b]; 0 = off"),
      field("data", "contrast", D, &DataOptions::contrast, atLeast(0),
            "Contrast jitter (blend with the mean grey), same range as brightness; 0 = off"),
      field("data", "saturation", D, &DataOptions::saturation, atLeast(0),
            "Saturation jitter (blend with each pixel's grey), same range; 0 = off"),
      field("data", "grayscale_p", D, &DataOptions::grayscale_p, between(0, 1),
            "Probability of converting a training image to grey"),
      field("data", "blur_p", D, &DataOptions::blur_p, between(0, 1),
            "Probability of a Gaussian blur (sigma uniform in [0.1, 2] pixels)"),
      field("data", "erase_p", D, &DataOptions::erase_p, between(0, 1),
            "Probability of random erasing (a grey rectangle of 2-33 % of the image)"),
      field("data", "max_bad_fraction", D, &DataOptions::max_bad_fraction, between(0, 1),
            "Undecodable images tolerated (replaced), as a fraction of the dataset; more stops "
            "the run"),

      field("model", "backbone", M, &ModelOptions::backbone,
            oneOf({"tiny", "face_resnet", "iresnet18", "iresnet34", "iresnet50", "iresnet100",
                   "mobilefacenet"}),
            "Backbone network; tiny = a small CNN for tests and demos (docs/losses.md lists all)"),
      field("model", "embedding_dim", M, &ModelOptions::embedding_dim, atLeast(1),
            "Embedding (feature) dimension d"),
      field(
          "model", "norm", M, &ModelOptions::norm, oneOf({"batch", "none"}),
          "Normalisation layers; none = no BatchNorm (tiny, face_resnet; exact distributed tests)"),
      field("model", "width", M, &ModelOptions::width, atLeast(1),
            "Channels of the first stage: tiny (then 2x, 4x, 8x), face_resnet (conv1a; 32 is the "
            "original network, later stages 2x to 16x)"),
      field("model", "dropout", M, &ModelOptions::dropout, halfOpen(0, 1, false),
            "Dropout probability before the embedding FC (tiny, iresnet*)"),
      undigested(field("model", "init", M, &ModelOptions::init, any,
                       "Pretrained backbone for a fresh run: l2face checkpoint or run dir, `l2face "
                       "export` file, or insightface .pth state dict; the classifier starts fresh "
                       "(docs/operations.md)")),
      undigested(field(
          "model", "init_warmup_steps", M, &ModelOptions::init_warmup_steps, atLeast(0),
          "With model.init: the first N steps train the backbone at lr x init_warmup_lr_scale")),
      undigested(field("model", "init_warmup_lr_scale", M, &ModelOptions::init_warmup_lr_scale,
                       atLeast(0),
                       "Backbone LR multiplier during init_warmup_steps; 0 = frozen (BatchNorm "
                       "statistics too)")),

      enumField("head", "type", H, &HeadOptions::type, "Classification head (docs/losses.md)"),
      alphaKey(),
      field("head", "alpha_learnable", H, &HeadOptions::alpha_learnable, any,
            "l2_softmax: train α as a parameter, starting from head.alpha (or auto)"),
      field("head", "p", H, &HeadOptions::p, openBetween(0, 1),
            "Target softmax probability for alpha: auto"),
      field("head", "bias", H, &HeadOptions::bias, any,
            "Classifier bias term (l2_softmax, softmax; the normalised heads have none)"),
      field("head", "scale", H, &HeadOptions::scale, greaterThan(0),
            "Scale s of normface, cosface and arcface logits s·cos θ"),
      field("head", "margin", H, &HeadOptions::margin, atLeast(0),
            "Margin m: arcface cos(θ + m), m in radians (0.5); cosface cos θ − m (0.35-0.4)"),

      enumField("classifier", "parallel", &Config::classifier, &ClassifierOptions::parallel,
                "Placement of the class weights"),
      field("classifier", "shard_min_classes", &Config::classifier,
            &ClassifierOptions::shard_min_classes, atLeast(1),
            "With parallel auto: the number of classes from which a multi-rank run shards"),
      field("classifier", "sample_rate", &Config::classifier, &ClassifierOptions::sample_rate,
            halfOpen(0, 1, true),
            "Fraction of each rank's classes in a step's softmax (sharded): all positives of the "
            "global batch plus a random subset of the rest; only those rows are updated. "
            "1 = exact softmax"),

      enumField("optim", "type", O, &OptimOptions::type, "Optimizer"),
      field("optim", "lr", O, &OptimOptions::lr, greaterThan(0), "Learning rate after warmup"),
      field("optim", "momentum", O, &OptimOptions::momentum, halfOpen(0, 1, false), "SGD momentum"),
      field("optim", "weight_decay", O, &OptimOptions::weight_decay, atLeast(0),
            "Weight decay (sgd: L2 term in the gradient; adamw: decoupled)"),
      field("optim", "nesterov", O, &OptimOptions::nesterov, any, "Nesterov momentum (sgd)"),
      field("optim", "betas", O, &OptimOptions::betas, halfOpen(0, 1, false),
            "AdamW moment decay rates [beta1, beta2]"),
      field("optim", "eps", O, &OptimOptions::eps, greaterThan(0), "AdamW denominator epsilon"),
      field("optim", "no_decay_bn_bias", O, &OptimOptions::no_decay_bn_bias, any,
            "Exempt BatchNorm parameters and biases from weight decay"),
      field("optim", "max_steps", O, &OptimOptions::max_steps, atLeast(1),
            "Training steps (global batches)"),
      field("optim", "warmup_steps", O, &OptimOptions::warmup_steps, atLeast(0),
            "Steps of linear warmup from 0 to lr; <= max_steps"),
      field("optim", "schedule", O, &OptimOptions::schedule,
            oneOf({"constant", "cosine", "step", "polynomial"}),
            "Learning-rate schedule after warmup"),
      field("optim", "milestones", O, &OptimOptions::milestones, ascendingFrom(1),
            "For schedule step (required there): steps at which lr is multiplied by gamma"),
      field("optim", "gamma", O, &OptimOptions::gamma, halfOpen(0, 1, true),
            "For schedule step: lr factor at each milestone"),
      field("optim", "power", O, &OptimOptions::power, greaterThan(0),
            "For schedule polynomial: lr·(1 − progress)^power after warmup"),
      field("optim", "accumulate_steps", O, &OptimOptions::accumulate_steps, atLeast(1),
            "Batches whose gradients are summed into one optimizer step; with a fixed global "
            "batch (data.global_batch, --keep-global-batch): the fewest"),
      field("optim", "clip_grad_norm", O, &OptimOptions::clip_grad_norm, atLeast(0),
            "Clip the global gradient norm to this value; 0 = off"),
      field("optim", "max_nan_steps", O, &OptimOptions::max_nan_steps, atLeast(1),
            "Consecutive skipped (non-finite) steps that abort the run; seen at log boundaries"),

      field("checkpoint", "every_steps", K, &CheckpointOptions::every_steps, atLeast(0),
            "Steps between checkpoints; 0 = only the final save (and on preemption)"),
      field(
          "checkpoint", "every_seconds", K, &CheckpointOptions::every_seconds, atLeast(0),
          "Also save when this many seconds passed since the last save (rank 0's clock); 0 = off"),
      field("checkpoint", "keep_last", K, &CheckpointOptions::keep_last, atLeast(0),
            "Committed checkpoints kept, older ones deleted; 0 = keep all"),
      field("checkpoint", "keep_every", K, &CheckpointOptions::keep_every, atLeast(0),
            "Also keep every checkpoint whose step is a multiple of this; 0 = off"),
      field("checkpoint", "async", K, &CheckpointOptions::async, any,
            "Write checkpoints on a background thread while training continues (state is copied "
            "to host memory at the step boundary); false = the step waits for the save"),
      field("checkpoint", "fail_on_error", K, &CheckpointOptions::fail_on_error, any,
            "A failed save ends the run; false = the failure is logged and counted "
            "(l2face_checkpoint_failures_total), training goes on, the previous checkpoint stays"),

      backendKey(),
      field("comm", "timeout_seconds", C, &comm::CommOptions::timeout_seconds, greaterThan(0),
            "A collective not complete after this long ends the job (exit 3)"),
      field("comm", "bucket_cap_mb", C, &comm::CommOptions::bucket_cap_mb, greaterThan(0),
            "Gradient bucket size cap, MiB"),
      field("comm", "first_bucket_mb", C, &comm::CommOptions::first_bucket_mb, greaterThan(0),
            "Cap of the first bucket (the last layers), so communication starts early"),

      field("monitoring", "serve", N, &MonitoringOptions::serve, any,
            "Serve Prometheus metrics (/metrics) and /healthz from every rank during training"),
      field("monitoring", "port", N, &MonitoringOptions::port, between(0, 65535),
            "Metrics port of local rank 0 (local rank r: port + r); 0 = ephemeral"),
      field("monitoring", "port_fallback", N, &MonitoringOptions::port_fallback, any,
            "A port in use falls back to an ephemeral one (logged); false = error"),
      field("monitoring", "bind", N, &MonitoringOptions::bind, nonEmpty(),
            "Address of the metrics endpoint; 0.0.0.0 = every interface, unauthenticated"),
      field("monitoring", "job", N, &MonitoringOptions::job, any,
            "Prometheus job label of the run; empty = the run directory's name"),
      field("monitoring", "targets_dir", N, &MonitoringOptions::targets_dir, any,
            "Folder for the file_sd target files (one per rank); empty = RUN_DIR/metrics"),
      field("monitoring", "log_every", N, &MonitoringOptions::log_every, atLeast(1),
            "Steps between progress lines (each reads the loss: a host sync)"),

      field("eval", "pairs", E, &EvalOptions::pairs, any,
            "LFW-style pairs file; \"\" = no verification"),
      field("eval", "images", E, &EvalOptions::images, any,
            "Image root for the pairs; \"\" = the pairs file's folder"),
      field("eval", "bins", E, &EvalOptions::bins, any,
            "insightface .bin sets, comma-separated (lfw.bin,cfp_fp.bin)"),
      field("eval", "templates", E, &EvalOptions::templates, any,
            "IJB-style templates.csv or its folder"),
      field("eval", "template_pairs", E, &EvalOptions::template_pairs, any,
            "Template pairs CSV; \"\" = template_pairs.csv beside the templates"),
      field("eval", "media_pool", E, &EvalOptions::media_pool, any,
            "Templates: average image features within each media id before across media (IJB)"),
      field("eval", "all_vs_all", E, &EvalOptions::all_vs_all, any,
            "ImageFolder tree (one sub-folder per identity): every pair of its images, genuine "
            "within a folder; at most 100M comparisons (14,142 images); \"\" = none"),
      field("eval", "flip", E, &EvalOptions::flip, any, "Embed each image and its mirror, summed"),
      field("eval", "batch_size", E, &EvalOptions::batch_size, atLeast(1),
            "Images per embedding batch"),
      field("eval", "folds", E, &EvalOptions::folds, atLeast(2),
            "Cross-validation folds (threshold chosen on the others)"),
      field("eval", "far", E, &EvalOptions::far, openBetween(0, 1),
            "False accept rates at which the true accept rate is reported"),
      field("eval", "every_steps", E, &EvalOptions::every_steps, atLeast(0),
            "Steps between evaluations of every configured set during training (rank 0); 0 = off"),
  };
}

}  // namespace

const std::vector<SectionSpec>& sectionTable() {
  static const std::vector<SectionSpec> sections = {
      {"run", "Where the run writes and how the process computes"},
      {"data", "Training data and the loader"},
      {"model", "The backbone network"},
      {"head", "The loss head: L2-constrained softmax, softmax, NormFace, CosFace, ArcFace"},
      {"classifier", "The class-weight layer"},
      {"optim", "Optimizer (SGD or AdamW), gradient handling and the learning-rate schedule"},
      {"checkpoint", "Saving and retention"},
      {"comm", "Collectives between ranks (data-parallel training)"},
      {"monitoring", "Prometheus metrics endpoint and the progress line"},
      {"eval", "Face verification"},
  };
  return sections;
}

const std::vector<KeySpec>& keyTable() {
  static const std::vector<KeySpec> table = buildTable();
  return table;
}

const KeySpec* findKey(const std::string& section, const std::string& key) {
  for (const KeySpec& k : keyTable()) {
    if (k.section == section && k.key == key) return &k;
  }
  return nullptr;
}

bool isSection(const std::string& section) {
  const auto& s = sectionTable();
  return std::any_of(s.begin(), s.end(), [&](const SectionSpec& x) { return x.name == section; });
}

}  // namespace l2face::launch::detail

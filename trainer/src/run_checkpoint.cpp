// Snapshots of a run's state for checkpoints, and resuming from them (also re-sharded).
#include "l2face/trainer/internal/run_checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>

#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <type_traits>

#include "l2face/checkpoint/rows.h"
#include "l2face/checkpoint/store.h"
#include "l2face/trainer/internal/batch_plan.h"
#include "l2face/trainer/internal/tensor_comm.h"
#include "l2face/trainer/trainer.h"

namespace fs = std::filesystem;

namespace l2face::trainer {
namespace {

constexpr const char* kShardStem = "classifier";

// A torch archive serialised on the training thread; the job writes the bytes.
checkpoint::FileJob bytesJob(const std::string& name, std::string bytes) {
  auto data = std::make_shared<const std::string>(std::move(bytes));
  return {name, [data](const fs::path& file) {
            std::ofstream out(file, std::ios::binary | std::ios::trunc);
            out.write(data->data(), static_cast<std::streamsize>(data->size()));
            out.close();
            if (!out) throw std::runtime_error("cannot write " + file.string());
          }};
}

std::string moduleBytes(torch::nn::Module& m) {
  torch::serialize::OutputArchive ar;
  m.save(ar);
  std::ostringstream out;
  ar.save_to(out);
  return out.str();
}

std::string tensorsBytes(const std::vector<torch::Tensor>& tensors) {
  torch::serialize::OutputArchive ar;
  ar.write("count", torch::tensor(static_cast<int64_t>(tensors.size())));
  for (size_t i = 0; i < tensors.size(); ++i) {
    ar.write("t" + std::to_string(i), tensors[i].detach().cpu().clone());
  }
  std::ostringstream out;
  ar.save_to(out);
  return out.str();
}

// The default generator of device: the CPU's, or the CUDA generator of that device (its
// Philox seed and offset: host state, read without a device sync).
at::Generator defaultGenerator(const torch::Device& device) {
  if (device.is_cpu()) return at::detail::getDefaultCPUGenerator();
  return at::globalContext().defaultGenerator(device);
}

torch::Tensor rngState(const torch::Device& device) {
  at::Generator gen = defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void setRngState(const torch::Device& device, const torch::Tensor& state) {
  at::Generator gen = defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// The device the model trains on (its first parameter's).
torch::Device modelDevice(TrainModel& m) {
  for (const auto& p : m.backbone->parameters()) return p.device();
  return torch::kCPU;
}

// rng.pt: the CPU generator, then on CUDA runs the CUDA generator of the model's device. Every
// rank seeds its generators alike (run.seed) and draws alike (the same model and batch shapes),
// so rank 0's states stand for every rank's.
std::vector<torch::Tensor> rngStates(const torch::Device& device) {
  std::vector<torch::Tensor> states{rngState(torch::kCPU)};
  if (device.is_cuda()) states.push_back(rngState(device));
  return states;
}

void restoreRngStates(const std::vector<torch::Tensor>& states, const torch::Device& device,
                      const std::string& dir, int rank) {
  setRngState(torch::kCPU, states.at(0));
  if (!device.is_cuda()) return;  // a CUDA run's generator has no use on the CPU
  if (states.size() > 1) {
    setRngState(device, states[1]);
  } else if (rank == 0) {
    std::cerr << "[l2face] warning: " << dir << " was written by a CPU run and holds no CUDA "
              << "random generator; the CUDA generator continues from run.seed\n";
  }
}

// The committed directory's manifest meta, read without verification (rank 0 verified it).
ResumeSource readSource(const std::string& dir) {
  std::ifstream in(fs::path(dir) / "manifest.json");
  if (!in) throw checkpoint::CheckpointError(dir + ": cannot read manifest.json");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw checkpoint::CheckpointError(dir + "/manifest.json: " + e.what());
  }
  ResumeSource s;
  s.dir = dir;
  s.world_size = j.value("world_size", 1);
  s.meta = j.value("meta", nlohmann::json::object());
  return s;
}

void broadcastString(comm::Communicator& comm, std::string& s) {
  int64_t n = static_cast<int64_t>(s.size());
  comm.broadcast(&n, 1, comm::DType::kInt64, 0);
  s.resize(static_cast<size_t>(n));
  if (n > 0) comm.broadcast(s.data(), static_cast<size_t>(n), comm::DType::kUInt8, 0);
}

}  // namespace

namespace {

// The kind named by meta[key] (the name table's spelling), or `absent` when the key is missing.
template <class E>
E kindFromMeta(const nlohmann::json& meta, const char* key, E absent, const std::string& dir) {
  if (!meta.is_object() || !meta.contains(key)) return absent;
  const std::string name = meta[key].is_string() ? meta[key].get<std::string>() : "";
  if (auto kind = enumFromName<E>(name)) return *kind;
  throw checkpoint::CheckpointError(dir + ": manifest meta names an unknown " + key + " '" + name +
                                    "' (known: " + enumChoices<E>() + ")");
}

}  // namespace

ClassifierPlacement ResumeSource::placement() const {
  const ClassifierPlacement none = ClassifierPlacement::kReplicated;
  return meta.contains("classifier") ? kindFromMeta(meta["classifier"], "placement", none, dir)
                                     : none;
}

OptimType ResumeSource::optimizer() const {
  return kindFromMeta(meta, "optimizer", OptimType::kSgd, dir);
}

int64_t ResumeSource::globalBatch() const {
  const auto g = meta.value("global_batch", int64_t{0});
  const auto k = meta.value("accumulate_steps", int64_t{1});
  if (g <= 0 || k <= 0) {
    throw IncompatibleCheckpoint(dir + ": the manifest records no global batch to keep; set " +
                                 "data.global_batch instead of --keep-global-batch");
  }
  return g * k;
}

std::vector<checkpoint::FileJob> snapshotJobs(TrainModel& m, const Optimizer& optimizer, int rank) {
  torch::NoGradGuard no_grad;
  std::vector<checkpoint::FileJob> jobs;
  if (rank == 0) {
    jobs.push_back(bytesJob("backbone.pt", moduleBytes(*m.backbone)));
    jobs.push_back(bytesJob("head.pt", moduleBytes(*m.head)));
    jobs.push_back(bytesJob("optimizer.pt", tensorsBytes(optimizer.state())));
    jobs.push_back(bytesJob("rng.pt", tensorsBytes(rngStates(modelDevice(m)))));
  }
  if (m.classifier) {
    auto rows = std::make_shared<torch::Tensor>(m.classifier->snapshotRows());
    const int64_t first = m.classifier->range().begin;
    jobs.push_back({checkpoint::shardFileName(kShardStem, rank), [rows, first](const fs::path& f) {
                      checkpoint::writeRowFile(f, rows->data_ptr<float>(), rows->size(0),
                                               rows->size(1), first);
                    }});
  }
  return jobs;
}

nlohmann::json checkpointMeta(const ModelGeometry& geo, OptimType optim_type,
                              const std::string& config_digest, const TrainModel& m,
                              const RunPosition& pos, int world) {
  nlohmann::json meta = geometryJson(geo);
  meta["step"] = pos.step;
  meta["cursor"] = {{"epoch", pos.cursor.epoch}, {"step", pos.cursor.step}};
  meta["global_batch"] = pos.global_batch;
  meta["accumulate_steps"] = pos.accumulate;
  meta["skipped_steps"] = pos.skipped_steps;
  meta["config_digest"] = config_digest;
  meta["alpha"] = m.head->alpha();
  meta["optimizer"] = enumName(optim_type);
  const ClassifierPlacement placement =
      m.classifier ? ClassifierPlacement::kSharded : ClassifierPlacement::kReplicated;
  nlohmann::json cls = {{"placement", enumName(placement)}};
  if (m.classifier) {
    cls["table"] = checkpoint::shardTableJson(
        checkpoint::balancedShardTable(kShardStem, geo.num_classes, world));
    cls["layout"] = m.classifier->rowLayout();
    cls["cols"] = m.classifier->rowCols();
    cls["step_counts"] = m.classifier->stepCounts();
  }
  meta["classifier"] = cls;
  if (!m.init.is_null()) meta["init"] = m.init;
  return meta;
}

std::optional<ResumeSource> findResumeSource(const std::string& resume_spec,
                                             const std::string& run_dir, comm::Communicator& comm) {
  if (resume_spec.empty() || resume_spec == "none") return std::nullopt;
  const bool automatic = resume_spec == "auto";
  const fs::path where = automatic ? fs::path(run_dir) : fs::path(resume_spec);
  // Rank 0 decides: "" = start fresh, "!" + message = error, else the committed directory.
  std::string choice;
  if (comm.rank() == 0) {
    try {
      if (automatic && checkpoint::listCheckpoints(where).empty()) {
        std::cerr << "[l2face] resume auto: no checkpoint in " << where.string()
                  << "; starting from scratch\n";
      } else {
        checkpoint::LoadedCheckpoint c = checkpoint::openCheckpoint(where);
        choice = c.dir.string();
        std::cerr << "[l2face] resuming from " << choice << " (step " << c.manifest.step << ", "
                  << c.manifest.world_size << " rank(s))\n";
      }
    } catch (const std::exception& e) {
      choice = std::string("!") + e.what();
    }
  }
  broadcastString(comm, choice);
  if (!choice.empty() && choice[0] == '!') {
    throw checkpoint::CheckpointError("cannot resume from " + where.string() + ": " +
                                      choice.substr(1));
  }
  if (choice.empty()) return std::nullopt;
  return readSource(choice);
}

void checkCompatible(const ResumeSource& src, const ModelGeometry& geo, OptimType optim_type) {
  const ModelGeometry old = geometryFromJson(src.meta, src.dir);
  std::vector<std::string> diff;
  auto cmp = [&](const std::string& key, const auto& was, const auto& now) {
    if (!(was == now)) {
      std::ostringstream s;
      auto show = [&s](const auto& v) {  // kinds by their names
        if constexpr (std::is_enum_v<std::decay_t<decltype(v)>>) {
          s << enumName(v);
        } else {
          s << v;
        }
      };
      s << key << ": checkpoint ";
      show(was);
      s << ", this run ";
      show(now);
      diff.push_back(s.str());
    }
  };
  cmp("model.backbone", old.model.backbone, geo.model.backbone);
  cmp("model.embedding_dim", old.model.embedding_dim, geo.model.embedding_dim);
  cmp("model.norm", old.model.norm, geo.model.norm);
  cmp("model.width", old.model.width, geo.model.width);
  cmp("data.image_size", old.image_size, geo.image_size);
  cmp("number of classes", old.num_classes, geo.num_classes);
  cmp("head.type", old.head.type, geo.head.type);
  cmp("head.bias", old.head.bias, geo.head.bias);
  cmp("head.alpha_learnable", old.head.alpha_learnable, geo.head.alpha_learnable);
  cmp("optim.type", src.optimizer(), optim_type);
  if (!diff.empty()) {
    std::string msg = "checkpoint " + src.dir + " was made with an incompatible configuration:";
    for (const auto& d : diff) msg += "\n  " + d;
    throw IncompatibleCheckpoint(msg);
  }
}

RunPosition restoreState(const ResumeSource& src, TrainModel& m, Optimizer& optimizer,
                         const RunPosition& fresh, int rank) {
  const fs::path dir(src.dir);
  try {
    optimizer.loadState(loadTensors(dir / "optimizer.pt"));
  } catch (const std::invalid_argument& e) {
    throw IncompatibleCheckpoint(src.dir + ": " + e.what());
  }
  restoreRngStates(loadTensors(dir / "rng.pt"), modelDevice(m), src.dir, rank);
  if (src.meta.contains("init")) m.init = src.meta["init"];
  if (m.classifier) {
    const nlohmann::json& cls = src.meta.at("classifier");
    const auto table = checkpoint::shardTableFromJson(cls.at("table"), src.dir);
    const int64_t cols = cls.at("cols").get<int64_t>();
    if (cols != m.classifier->rowCols() ||
        cls.at("layout").get<std::vector<std::string>>() != m.classifier->rowLayout()) {
      throw IncompatibleCheckpoint(src.dir + ": class rows hold " + cls.at("layout").dump() +
                                   ", this run needs " +
                                   nlohmann::json(m.classifier->rowLayout()).dump());
    }
    const ClassRange r = m.classifier->range();
    torch::Tensor rows = torch::empty({r.size(), cols}, torch::kFloat);
    if (r.size() > 0) {
      checkpoint::readRowRange(dir, table, r.begin, r.end, cols, checkpoint::RowDType::kFloat32,
                               rows.data_ptr<float>());
    }
    m.classifier->loadRows(rows);
    m.classifier->setStepCounts(cls.value("step_counts", std::vector<double>{}));
  }

  RunPosition pos = fresh;
  pos.step = src.meta.at("step").get<int64_t>();
  pos.skipped_steps = src.meta.value("skipped_steps", int64_t{0});
  const data::Cursor saved{src.meta.at("cursor").at("epoch").get<int64_t>(),
                           src.meta.at("cursor").at("step").get<int64_t>()};
  const int64_t old_batch = src.meta.value("global_batch", fresh.global_batch);
  // The same global sample sequence, at this run's batches: exact when the images per optimizer
  // step are the checkpoint's.
  const ContinuedCursor next =
      continueCursor(saved, old_batch, fresh.global_batch, fresh.accumulate);
  pos.cursor = next.cursor;
  if (rank == 0 && next.skipped > 0) {
    std::cerr << "[l2face] warning: the images per optimizer step changed from " << old_batch
              << " x " << src.meta.value("accumulate_steps", 1) << " to " << fresh.global_batch
              << " x " << fresh.accumulate << "; " << next.skipped << " sample(s) of epoch "
              << saved.epoch << " are skipped to reach an optimizer-step boundary\n";
  }
  return pos;
}

}  // namespace l2face::trainer

// synth, data stats and data pack: the synthetic corpus generator, dataset statistics and the
// packer of aligned RecordIO shards.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>

#include "commands.h"
#include "l2face/data/dataset.h"
#include "l2face/data/pack.h"
#include "l2face/data/synth.h"
#include "l2face/monitoring/progress.h"

namespace l2face::launch {
namespace {

// Pack progress on stderr: rewritten in place on a terminal (at most 5 times a second), else one
// line every 10 seconds.
class PackProgressPrinter {
 public:
  PackProgressPrinter() : interactive_(::isatty(::fileno(stderr)) == 1) {}
  ~PackProgressPrinter() {
    if (open_) std::fputc('\n', stderr);
  }
  void operator()(const data::PackProgress& p) {
    const double every = interactive_ ? 0.2 : 10.0;
    if (p.done < p.total && p.seconds - last_ < every) return;
    last_ = p.seconds;
    const double rate = p.seconds > 0 ? p.done / p.seconds : 0.0;
    const double eta = rate > 0 ? (p.total - p.done) / rate : -1.0;
    std::fprintf(stderr, "%spack: %lld/%lld photos (%3.0f%%)  %.0f img/s  eta %s%s",
                 interactive_ ? "\r\033[K" : "", static_cast<long long>(p.done),
                 static_cast<long long>(p.total), 100.0 * p.done / std::max<int64_t>(1, p.total),
                 rate, monitoring::ProgressLine::formatDuration(eta).c_str(),
                 interactive_ ? "" : "\n");
    std::fflush(stderr);
    open_ = interactive_;
  }

 private:
  bool interactive_;
  bool open_ = false;
  double last_ = 0.0;  // the first line after one period
};

void printPackSummary(const data::PackOptions& o, const data::PackReport& r) {
  if (r.centre_cropped > 0) {
    std::cerr << "warning: pack: " << r.centre_cropped << " photo(s) without landmarks were "
              << "centre-cropped (largest square) and resized to " << o.size << "x" << o.size
              << ", not aligned\n";
  }
  std::cout << "packed " << r.packed << " of " << r.inputs << " photos (" << r.aligned
            << " aligned, " << r.centre_cropped << " centre-cropped), " << r.classes
            << " classes, into " << r.shards.size() << " shard(s) in " << o.out << " in "
            << r.seconds << " s\n";
  if (!r.skipped.empty()) {
    std::map<std::string, int> by_reason;
    for (const auto& s : r.skipped) ++by_reason[s.reason.substr(0, s.reason.find(':'))];
    std::cout << "skipped " << r.skipped.size() << " (listed in " << o.out
              << "/pack_report.json):";
    for (const auto& [reason, n] : by_reason) std::cout << " " << n << " " << reason << ";";
    std::cout << "\n";
    for (size_t i = 0; i < r.skipped.size() && i < 5; ++i) {
      std::cout << "  " << r.skipped[i].file << ": " << r.skipped[i].reason << "\n";
    }
  }
  if (r.compared) {
    std::cout << "reference " << o.reference << ": mean absolute error " << r.mean_abs_error
              << " grey levels (worst image " << r.max_image_abs_error << ")\n";
  }
  if (r.landmark_rms >= 0) std::cout << "landmark RMS " << r.landmark_rms << " px\n";
}

void addPackCommand(CLI::App& data_app, std::vector<Command>& out) {
  auto o = std::make_shared<data::PackOptions>();
  auto shard_size = std::make_shared<std::string>();
  auto* p = data_app.add_subcommand(
      "pack", "Align photos (ImageFolder or a list with five landmarks) into RecordIO shards");
  p->add_option("--input", o->input, "ImageFolder root, or list file: path label [x1 y1 ... x5 y5]")
      ->required();
  p->add_option("--out", o->out, "Output directory")->required();
  p->add_option("--size", o->size, "Crop side in pixels")->check(CLI::Range(16, 1024));
  p->add_option("--quality", o->quality, "JPEG quality")->check(CLI::Range(1, 100));
  p->add_option("--shard-size", *shard_size,
                "Images per shard (e.g. 50000) or bytes with a unit (512M, 2G)");
  p->add_option("--threads", o->threads, "Threads (0 = all cores)")->check(CLI::Range(0, 256));
  p->add_option("--root", o->root, "Base of relative list paths (default: the list's directory)");
  p->add_option("--min-size", o->min_size, "Skip photos smaller than this on a side")
      ->check(CLI::Range(1, 100000));
  p->add_option("--reference", o->reference,
                "Dataset of the same images aligned: print the mean absolute pixel error");
  p->add_option("--truth", o->truth,
                "List file with the true landmarks of the same lines: print the landmark RMS");
  out.push_back({p, [o, shard_size] {
                   if (!shard_size->empty()) {
                     data::parseShardSize(*shard_size, o->shard_images, o->shard_bytes);
                   }
                   data::PackReport r;
                   {
                     PackProgressPrinter printer;
                     r = data::packDataset(*o, [&](const data::PackProgress& p) { printer(p); });
                   }
                   printPackSummary(*o, r);
                   return kExitOk;
                 }});
}

}  // namespace

void addDataCommands(CLI::App& app, std::vector<Command>& out) {
  auto synth = std::make_shared<data::SynthOptions>();
  auto* s = app.add_subcommand("synth", "Write a synthetic face corpus (ImageFolder or RecordIO, LFW pairs, IJB-style templates)");
  s->add_option("--out", synth->out, "Output directory")->required();
  s->add_option("--identities", synth->identities, "Training identities")->check(CLI::Range(2, 10000000));
  s->add_option("--images-per-identity", synth->images_per_identity, "Images per training identity")
      ->check(CLI::Range(1, 100000));
  s->add_option("--eval-identities", synth->eval_identities, "Disjoint evaluation identities")
      ->check(CLI::Range(0, 10000000));
  s->add_option("--eval-images-per-identity", synth->eval_images_per_identity,
                "Images per evaluation identity")->check(CLI::Range(2, 100000));
  s->add_option("--size", synth->size, "Image side in pixels")->check(CLI::Range(16, 1024));
  s->add_option("--seed", synth->seed, "Random seed");
  s->add_option("--threads", synth->threads, "Threads (0 = all cores)")->check(CLI::Range(0, 1024));
  s->add_option("--pairs-per-fold", synth->pairs_per_fold,
                "Matched (and as many mismatched) pairs per fold")->check(CLI::Range(1, 100000));
  s->add_option("--folds", synth->folds, "Folds of the pairs file (evaluation identities split evenly)")
      ->check(CLI::Range(1, 100));
  s->add_option("--difficulty", synth->difficulty, "Scale of the per-image variation (1 = default)")
      ->check(CLI::Range(0.0, 4.0));
  s->add_option("--format", synth->format,
                "Training split format: folder (ImageFolder) or rec (insightface train.rec/.idx)")
      ->check(CLI::IsMember({"folder", "rec"}));
  s->add_option("--templates-per-subject", synth->templates_per_subject,
                "IJB-style templates per evaluation identity (eval/templates.csv)")
      ->check(CLI::Range(1, 1000));
  s->add_option("--ijb", synth->ijb,
                "Also write the evaluation split in the official IJB layout for this target "
                "(e.g. IJBC) under OUT/ijb")
      ->check(CLI::IsMember({"IJBC", "IJBB"}));
  s->add_flag("--wild", synth->wild,
              "Training photos in the wild: faces placed on larger canvases, landmarks in "
              "train_list.txt (pack them with `l2face data pack`)");
  s->add_option("--landmark-noise", synth->landmark_noise,
                "With --wild: std. dev. in pixels of the listed landmarks (a detector's error)")
      ->check(CLI::Range(0.0, 50.0));
  s->add_option("--wild-render-scale", synth->wild_render_scale,
                "With --wild: render faces at this multiple of --size before placing them")
      ->check(CLI::Range(1, 4));
  s->add_option("--probe-identities", synth->probe_identities,
                "Probe set: for this many evaluation identities, clean photos degraded by one "
                "degradation at a time at six levels (OUT/probe, OUT/probe.csv)")
      ->check(CLI::Range(0, 10000000));
  s->add_option("--probe-photos", synth->probe_photos,
                "With --probe-identities: clean photos per identity")
      ->check(CLI::Range(1, 99));
  out.push_back({s, [synth] {
                   data::SynthReport r = data::synthesizeCorpus(*synth);
                   std::cout << "wrote " << r.train_images << " training images (" << synth->format
                             << "), " << r.eval_images << " evaluation images, " << r.pairs
                             << " pairs, " << r.templates << " templates and " << r.template_pairs
                             << " template pairs"
                             << (r.ijb_faces ? " (and " + std::to_string(r.ijb_faces) +
                                                   " IJB crops under ijb/)"
                                             : std::string())
                             << (r.probe_images ? " (and " + std::to_string(r.probe_images) +
                                                      " probe images under probe/)"
                                                : std::string())
                             << " to " << synth->out << " in " << r.seconds << " s\n";
                   return kExitOk;
                 }});

  auto* d = app.add_subcommand("data", "Dataset tools");
  d->require_subcommand(1);
  auto path = std::make_shared<std::string>();
  auto* ds = d->add_subcommand("stats", "Print images, classes and images per class as JSON");
  ds->add_option("path", *path,
                 "Dataset: ImageFolder root, a directory with train.rec, .rec file(s) "
                 "(comma-separated) or a glob of .rec shards")
      ->required();
  out.push_back({ds, [path] {
                   const auto dataset = data::openDataset(*path);
                   std::cout << data::statsJson(data::computeStats(*dataset));
                   return kExitOk;
                 }});
  addPackCommand(*d, out);
}

}  // namespace l2face::launch

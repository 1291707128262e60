// synth and data stats: the synthetic corpus generator and dataset statistics.
#include <iostream>
#include <memory>

#include "commands.h"
#include "l2face/data/dataset.h"
#include "l2face/data/synth.h"

namespace l2face::launch {

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
  out.push_back({s, [synth] {
                   data::SynthReport r = data::synthesizeCorpus(*synth);
                   std::cout << "wrote " << r.train_images << " training images (" << synth->format
                             << "), " << r.eval_images << " evaluation images, " << r.pairs
                             << " pairs, " << r.templates << " templates and " << r.template_pairs
                             << " template pairs"
                             << (r.ijb_faces ? " (and " + std::to_string(r.ijb_faces) +
                                                   " IJB crops under ijb/)"
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
}

}  // namespace l2face::launch

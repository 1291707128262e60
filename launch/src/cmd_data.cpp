// synth and data stats: the synthetic corpus generator and dataset statistics.
#include <iostream>
#include <memory>

#include "commands.h"
#include "l2face/data/dataset.h"
#include "l2face/data/synth.h"

namespace l2face::launch {

void addDataCommands(CLI::App& app, std::vector<Command>& out) {
  auto synth = std::make_shared<data::SynthOptions>();
  auto* s = app.add_subcommand("synth", "Write a synthetic face corpus (ImageFolder + LFW-style pairs)");
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
  out.push_back({s, [synth] {
                   data::SynthReport r = data::synthesizeCorpus(*synth);
                   std::cout << "wrote " << r.train_images << " training images, " << r.eval_images
                             << " evaluation images and " << r.pairs << " pairs to " << synth->out
                             << " in " << r.seconds << " s\n";
                   return kExitOk;
                 }});

  auto* d = app.add_subcommand("data", "Dataset tools");
  d->require_subcommand(1);
  auto path = std::make_shared<std::string>();
  auto* ds = d->add_subcommand("stats", "Print images, classes and images per class as JSON");
  ds->add_option("path", *path, "ImageFolder root")->required();
  out.push_back({ds, [path] {
                   data::ImageFolderDataset dataset(*path);
                   std::cout << data::statsJson(data::computeStats(dataset));
                   return kExitOk;
                 }});
}

}  // namespace l2face::launch

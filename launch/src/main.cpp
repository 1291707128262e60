// l2face: the command-line entry point (synth, train, eval, data stats, version).
#include <CLI/CLI.hpp>

#include <iostream>

#include "commands.h"
#include "config.h"

#ifndef L2FACE_VERSION
#define L2FACE_VERSION "0.0.0"
#endif

using namespace l2face::launch;

int main(int argc, char** argv) {
  CLI::App app{"l2face: face-recognition training with the L2-constrained softmax loss"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");

  l2face::data::SynthOptions synth;
  auto* s = app.add_subcommand("synth", "Write a synthetic face corpus (ImageFolder + LFW-style pairs)");
  s->add_option("--out", synth.out, "Output directory")->required();
  s->add_option("--identities", synth.identities, "Training identities")->check(CLI::Range(2, 10000000));
  s->add_option("--images-per-identity", synth.images_per_identity, "Images per training identity")
      ->check(CLI::Range(1, 100000));
  s->add_option("--eval-identities", synth.eval_identities, "Disjoint evaluation identities")
      ->check(CLI::Range(0, 10000000));
  s->add_option("--eval-images-per-identity", synth.eval_images_per_identity,
                "Images per evaluation identity")->check(CLI::Range(2, 100000));
  s->add_option("--size", synth.size, "Image side in pixels")->check(CLI::Range(16, 1024));
  s->add_option("--seed", synth.seed, "Random seed");
  s->add_option("--threads", synth.threads, "Threads (0 = all cores)")->check(CLI::Range(0, 1024));
  s->add_option("--pairs-per-fold", synth.pairs_per_fold,
                "Matched (and as many mismatched) pairs per fold")->check(CLI::Range(1, 100000));
  s->add_option("--folds", synth.folds, "Folds of the pairs file (evaluation identities split evenly)")
      ->check(CLI::Range(1, 100));
  s->add_option("--difficulty", synth.difficulty, "Scale of the per-image variation (1 = default)")
      ->check(CLI::Range(0.0, 4.0));

  TrainArgs train;
  auto* t = app.add_subcommand("train", "Train a model (under mpirun: data-parallel)");
  t->add_option("--config,-c", train.config, "YAML configuration file")->check(CLI::ExistingFile);
  t->add_option("--set", train.overrides, "Override a key: section.key=value (repeatable)");

  EvalArgs ev;
  auto* e = app.add_subcommand("eval", "Face verification: k-fold accuracy and TAR@FAR");
  e->add_option("--checkpoint", ev.checkpoint, "Checkpoint directory, or a run directory (newest)");
  e->add_option("--pairs", ev.pairs, "Pairs file (LFW pairs.txt layout or 'path1 path2 label')");
  e->add_option("--images", ev.images, "Image root of the pairs (default: the pairs file's folder)");
  e->add_option("--scores", ev.scores, "Instead of a model: CSV of label,score to evaluate");
  e->add_option("--out", ev.out, "Write the JSON report here (default: beside the checkpoint)");
  e->add_option("--far", ev.far, "FARs at which to report TAR")->delimiter(',');
  e->add_option("--batch-size", ev.batch_size, "Embedding batch size")->check(CLI::Range(1, 65536));
  e->add_option("--device", ev.device, "auto | cpu | cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  e->add_flag("--no-flip", ev.no_flip, "Do not add the mirrored image's embedding");

  auto* d = app.add_subcommand("data", "Dataset tools");
  d->require_subcommand(1);
  std::string stats_path;
  auto* ds = d->add_subcommand("stats", "Print images, classes and images per class as JSON");
  ds->add_option("path", stats_path, "ImageFolder root")->required();

  app.add_subcommand("version", "Print the version and the libraries l2face was built with");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& err) {
    int rc = app.exit(err);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  try {
    if (*s) return runSynth(synth);
    if (*t) return runTrain(train);
    if (*e) return runEval(ev);
    if (*ds) return runDataStats(stats_path);
    std::cout << "l2face " << L2FACE_VERSION << "\n";
    return kExitOk;
  } catch (const ConfigError& err) {
    std::cerr << "l2face: configuration error: " << err.what() << "\n";
    return kExitUsage;
  } catch (const std::invalid_argument& err) {
    std::cerr << "l2face: invalid argument: " << err.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& err) {
    std::cerr << "l2face: error: " << err.what() << "\n";
    return kExitFailure;
  }
}

// The synthetic face-corpus generator: options, report and synthesizeCorpus.
#pragma once

#include <cstdint>
#include <string>

namespace l2face::data {

// Generator version written to meta.json; bump when the rendering or sampling changes so old
// corpora are recognisably different.
// 2: evaluation photos of one media share the session's lighting and scene; templates.
constexpr int kSynthGeneratorVersion = 2;

struct SynthOptions {
  std::string out;                   // output directory (see synthesizeCorpus)
  int identities = 100;              // training identities
  int images_per_identity = 20;
  int eval_identities = 50;          // evaluation identities, disjoint from training
  int eval_images_per_identity = 10;
  int size = 112;                    // image side in pixels
  uint64_t seed = 1;
  int threads = 0;                   // 0 = hardware concurrency
  int folds = 10;                    // verification folds (pairs.txt)
  int pairs_per_fold = 300;          // matched pairs per fold, and as many mismatched; reduced
                                     // (with a note) when the fold's identities allow fewer
  double difficulty = 1.0;           // scales pose / lighting / expression / occlusion /
                                     // degradation magnitudes; 0 = clean frontal photos
  std::string format = "folder";     // training split: "folder" (ImageFolder) or "rec"
                                     // (insightface RecordIO: train.rec, train.idx, property)
  int templates_per_subject = 2;     // IJB-style templates per evaluation identity
  std::string ijb;                   // "" = none; a target name (IJBC, IJBB): the evaluation
                                     // split also in the official IJB layout under out/ijb/
  // "In the wild" training split (format folder only): each training photo is the canonical
  // render placed at a random similarity on a larger canvas (drawWildPlacement), with
  // train_list.txt / train_list_true.txt giving its reported / true five landmarks.
  bool wild = false;
  double landmark_noise = 0.0;       // std. dev. in canvas pixels of the reported landmarks
  int wild_render_scale = 2;         // canonical faces rendered at this multiple of size
  // Probe set (0 = none): for the first probe_identities evaluation identities, probe_photos
  // clean photos each, degraded by one degradation at a time at six graded levels
  // (out/probe/<degradation>/<id>/<id>_pPP_lL.jpg, rows in out/probe.csv).
  int probe_identities = 0;
  int probe_photos = 2;
};

struct SynthReport {
  int64_t train_images = 0;
  int64_t eval_images = 0;
  int64_t pairs = 0;  // lines in pairs.txt after the header (matched + mismatched, all folds)
  int64_t templates = 0;
  int64_t template_pairs = 0;  // genuine + impostor
  int64_t ijb_faces = 0;       // loose crops under out/ijb (0 without options.ijb)
  int64_t probe_images = 0;    // under out/probe (0 without options.probe_identities)
  double seconds = 0.0;
};

// Writes a synthetic face corpus:
//   out/train/id_NNNNNN/id_NNNNNN_NNNN.jpg   training identities (format "folder": ImageFolder)
//   out/train.rec, train.idx, property       ... or (format "rec") the same images as insightface
//                                            RecordIO (see FaceRecordWriter): key 1 + identity *
//                                            images_per_identity + image, label = identity
//   out/eval/ev_NNNNNN/ev_NNNNNN_NNNN.jpg    evaluation identities (LFW layout, disjoint people:
//                                            drawn from a different seed stream)
//   out/eval/pairs.txt                       LFW pairs.txt: "<folds>\t<n>", then per fold n
//                                            matched "name\ti\tj" and n mismatched
//                                            "name1\ti\tname2\tj" lines (1-based image numbers);
//                                            a fold only uses its own identities
//   out/eval/templates.csv                   template_id,subject_id,image,media_id (IJB-style;
//                                            image relative to out/eval; ids 1-based integers,
//                                            subject_id N = directory ev_N): each subject's images
//                                            are split into templates_per_subject disjoint
//                                            templates; a media groups 1-3 photos of one session
//                                            (they share lighting and background)
//   out/eval/template_pairs.csv              template_a,template_b,label: every two templates of
//                                            a subject (1), then as many distinct pairs of
//                                            templates of different subjects (0)
//   out/ijb/loose_crop/<n>.jpg, out/ijb/meta/ with options.ijb = target: every evaluation image
//                                            again, placed in the wild (drawWildPlacement), n =
//                                            1 + subject·images + image; meta/ as insightface's
//                                            IJB evaluation reads it: <t>_name_5pts_score.txt
//                                            (noisy landmarks, faceness 0.5 + 0.5·quality),
//                                            <t>_face_tid_mid.txt (templates.csv's template and
//                                            media ids), <t>_template_pair_label.txt
//                                            (template_pairs.csv), and the 1:N lists
//                                            <t>_1N_gal_G1.csv / _G2.csv (IJBB: S1, S2; each
//                                            subject's first template, even / odd subjects) and
//                                            <t>_1N_probe_mixed.csv (the other templates); <t> is
//                                            the target in lower case (see synth_ijb.h)
//   out/train_list.txt                       (wild) "path label x1 y1 ... x5 y5" per training
//   out/train_list_true.txt                  photo (the canvases under train/): reported
//                                            landmarks (noise landmark_noise) / true ones; the
//                                            list format of `l2face data pack`
//   out/quality.csv                          split,path,label,quality,yaw,roll,scale,
//                                            illumination,occlusion,blur,jpeg_quality
//   out/meta.json                            options, counts, notes, generator version
// Names and image numbers are zero-padded so sorted order is id order (names and image numbers
// are 1-based, like LFW); labels in quality.csv are 0-based identity indices within a split. The
// path column is relative to out; for format "rec" training rows name "train.rec#<key>".
// quality.csv units: yaw and roll in degrees, scale relative to the canonical framing,
// illumination = directional light strength in [0, 1], blur = effective blur in pixels of a
// 112-px image (Gaussian sigma combined with down-sampling, see effectiveBlur).
//
// Determinism: every image is a function of (seed, split, identity, image) only, so the files
// (images, records, pairs, templates, quality.csv) are byte-identical for any `threads` (on one
// platform: the renderer uses libm, whose last bits may differ between C libraries); the JPEG
// bytes are the same in both formats. meta.json also records run facts (threads, seconds).
//
// Safety: `out` must be absent, empty, or hold a previous synthesizeCorpus output (a meta.json
// with "generator": "l2face-synth" and nothing but the files above). A previous output is deleted
// first, so corpora are never mixed; anything else -> DataError. meta.json is written first with
// "complete": false and rewritten with true at the end, so an interrupted run is recognisable and
// can be overwritten by the next run.
//
// Multi-threaded over identities (one task per identity), written in identity order through a
// bounded reorder window, so memory does not grow with the corpus (100k identities are fine).
// Throws std::invalid_argument for bad options (identities < 2, size < 16, folds < 1, fewer than
// 2 eval identities per fold, fewer than 2 images per eval identity, format not folder/rec, ...)
// and DataError for filesystem failures.
SynthReport synthesizeCorpus(const SynthOptions& options);

}  // namespace l2face::data

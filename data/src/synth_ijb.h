// Private: the synthetic evaluation split in the official IJB layout (loose crops placed in the
// wild, meta/ lists with landmarks and faceness scores, 1:1 pairs and 1:N gallery/probe lists).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "l2face/data/jpeg.h"
#include "synth_templates.h"

namespace l2face::data::synth {

// Where one evaluation image lands: 1-based number of image `image` of subject `subject`, and
// its crop name "<number>.jpg" under loose_crop/.
int64_t ijbFaceNumber(int subject, int image, int images_per_subject);

// Places a rendered, template-aligned size × size crop on a wild canvas (drawWildPlacement,
// placeInTheWild with landmark noise 1.5 % of the face size × difficulty, seeded by (seed,
// subject, image)), writes ijb_dir/loose_crop/<number>.jpg at `jpeg_quality` and returns its
// line of the faces list: "<number>.jpg x1 y1 ... x5 y5 score" with score = 0.5 + 0.5 · quality
// (quality in [0, 1]), so sharper, frontal faces weigh more in the pooled template.
std::string writeIjbFace(const std::vector<uint8_t>& crop, int size, double quality,
                         double difficulty, uint64_t seed, int subject, int image,
                         int images_per_subject, int jpeg_quality,
                         const std::filesystem::path& ijb_dir, JpegEncoder& encoder);

struct IjbMetaCounts {
  int64_t gallery_templates[2] = {0, 0};
  int64_t probe_templates = 0;
  std::vector<std::string> notes;
};

// Writes ijb_dir/meta/ for `target` (file names as eval::ijbFiles spells them): the faces list
// (`faces_rows`, one writeIjbFace line per image in subject-then-image order), templates and
// media from `plan` (the ids of templates.csv), the 1:1 pairs of `plan`, and the 1:N lists:
// each subject's first template joins gallery G1 (even subject index; IJBB: S1) or G2 (odd;
// S2), its other templates are the mixed probes. Without a second template per subject there
// are no probes and no 1:N files (a note says so).
IjbMetaCounts writeIjbMeta(const std::filesystem::path& ijb_dir, const std::string& target,
                           const TemplatePlan& plan, int subjects, int images_per_subject,
                           const std::string& faces_rows);

}  // namespace l2face::data::synth

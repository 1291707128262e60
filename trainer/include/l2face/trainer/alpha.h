// The paper's lower bound on the feature scale α (Ranjan et al., arXiv 1703.09507, eq. 8).
#pragma once

#include <cstdint>

namespace l2face::trainer {

// α_low = log(p·(C−2)/(1−p)): the smallest radius at which a sample can reach softmax probability
// p for its class when the C class weights are normalised and the other C−1 classes are spread
// evenly. Requires C > 2 and 0 < p < 1 (throws std::invalid_argument otherwise).
double alphaLowerBound(int64_t num_classes, double p);

}  // namespace l2face::trainer

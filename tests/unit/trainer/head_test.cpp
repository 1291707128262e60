// Heads against hand derivations and float64 references: L2-softmax (incl. ∂loss/∂α), softmax,
// NormFace, CosFace, ArcFace (incl. its θ + m > π fallback and fp32 safety at cos θ = ±1).
#include "l2face/trainer/internal/head.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "l2face/trainer/internal/margin.h"

using namespace l2face::trainer;

namespace {

torch::Tensor dbl(std::vector<std::vector<double>> rows) {
  std::vector<double> flat;
  for (auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return torch::tensor(flat, torch::kDouble).reshape({static_cast<int64_t>(rows.size()), -1});
}

}  // namespace

// Loss and gradients of the L2-constrained softmax for a 2-d feature, derived by hand:
// z = α f/‖f‖, logits = W z + b, L = −log softmax(logits)_y,
// ∂L/∂z = Wᵀ(softmax − onehot), ∂L/∂f = (α/‖f‖)(I − f̂f̂ᵀ) ∂L/∂z, ∂L/∂W = (softmax − onehot) zᵀ,
// ∂L/∂α = f̂·∂L/∂z (z is linear in α).
TEST(Head, L2SoftmaxForwardBackwardMatchesHandDerivation) {
  HeadOptions opt;
  opt.alpha = 2.0;
  opt.alpha_learnable = true;
  Head head(opt, 2, 3);
  head->to(torch::kDouble);
  {
    torch::NoGradGuard g0;
    head->weight.copy_(dbl({{1.0, 0.0}, {0.0, 1.0}, {-1.0, 0.5}}));
    head->bias.copy_(torch::tensor({0.1, -0.2, 0.3}, torch::kDouble));
  }
  torch::Tensor f = torch::tensor({{3.0, 4.0}}, torch::dtype(torch::kDouble).requires_grad(true));
  HeadOutput out = head->forward(f, torch::tensor({1}));
  torch::Tensor loss = torch::nn::functional::cross_entropy(out.logits, torch::tensor({1}));
  loss.backward();

  // By hand: f̂ = (0.6, 0.8), z = (1.2, 1.6); logits = (1.3, 1.4, -1.2 + 0.8 + 0.3 = -0.1).
  const double l[3] = {1.3, 1.4, -0.1};
  double m = std::exp(l[0]) + std::exp(l[1]) + std::exp(l[2]);
  double p[3] = {std::exp(l[0]) / m, std::exp(l[1]) / m, std::exp(l[2]) / m};
  EXPECT_NEAR(loss.item<double>(), -std::log(p[1]), 1e-12);
  double d[3] = {p[0], p[1] - 1, p[2]};
  double dz[2] = {d[0] * 1 + d[1] * 0 + d[2] * -1, d[0] * 0 + d[1] * 1 + d[2] * 0.5};
  double fh[2] = {0.6, 0.8}, scale = 2.0 / 5.0;
  double dot = fh[0] * dz[0] + fh[1] * dz[1];
  EXPECT_NEAR(f.grad()[0][0].item<double>(), scale * (dz[0] - fh[0] * dot), 1e-12);
  EXPECT_NEAR(f.grad()[0][1].item<double>(), scale * (dz[1] - fh[1] * dot), 1e-12);
  EXPECT_NEAR(head->weight.grad()[2][1].item<double>(), d[2] * 1.6, 1e-12);
  EXPECT_NEAR(head->bias.grad()[0].item<double>(), d[0], 1e-12);
  ASSERT_TRUE(head->alpha_.grad().defined());
  EXPECT_NEAR(head->alpha_.grad().item<double>(), dot, 1e-12);
  EXPECT_TRUE(torch::equal(out.logits, out.scores));  // no margin: scores are the logits
}

// ∂L/∂α over a batch against a central finite difference of the float64 loss.
TEST(Head, AlphaGradientMatchesFiniteDifferenceOverABatch) {
  torch::manual_seed(4);
  HeadOptions opt;
  opt.alpha = 7.5;
  opt.alpha_learnable = true;
  Head head(opt, 5, 6);
  head->to(torch::kDouble);
  torch::Tensor f = torch::randn({4, 5}, torch::kDouble), y = torch::tensor({0, 3, 5, 3});
  auto lossAt = [&](double a) {
    torch::NoGradGuard g;
    head->alpha_.fill_(a);
    return torch::nn::functional::cross_entropy(head->forward(f, y).logits, y).item<double>();
  };
  const double h = 1e-5, numeric = (lossAt(7.5 + h) - lossAt(7.5 - h)) / (2 * h);
  {
    torch::NoGradGuard g;
    head->alpha_.fill_(7.5);
  }
  torch::nn::functional::cross_entropy(head->forward(f, y).logits, y).backward();
  EXPECT_NEAR(head->alpha_.grad().item<double>(), numeric, 1e-8);
  EXPECT_GT(std::abs(numeric), 1e-4);  // a real signal, not 0 ≈ 0
}

TEST(Head, LearnableAlphaIsASavedParameterFixedAlphaABuffer) {
  HeadOptions opt;
  opt.alpha_auto = true;
  opt.alpha_learnable = true;
  Head learn(opt, 4, 12);
  EXPECT_NEAR(learn->alpha(), std::log(90.0), 1e-5);  // initialised from auto α
  EXPECT_TRUE(learn->named_parameters().contains("alpha"));
  EXPECT_FALSE(learn->named_buffers().contains("alpha"));
  {
    torch::NoGradGuard g;
    learn->alpha_.fill_(3.25);
  }
  std::stringstream archive;
  torch::serialize::OutputArchive out;
  learn->save(out);
  out.save_to(archive);
  Head back(opt, 4, 12);
  torch::serialize::InputArchive in;
  in.load_from(archive);
  back->load(in);
  EXPECT_DOUBLE_EQ(back->alpha(), 3.25);

  opt.alpha_learnable = false;
  Head fixed(opt, 4, 12);
  EXPECT_FALSE(fixed->named_parameters().contains("alpha"));
  EXPECT_TRUE(fixed->named_buffers().contains("alpha"));
  // Constrained features have norm α in float32, and a zero feature stays finite.
  torch::Tensor z = fixed->constrain(torch::randn({5, 4}));
  EXPECT_EQ(z.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::allclose(z.norm(2, 1), torch::full({5}, std::log(90.0f)), 1e-5, 1e-5));
  EXPECT_FALSE(fixed->constrain(torch::zeros({1, 4})).isnan().any().item<bool>());
  // bf16 features (autocast) still give fp32 logits.
  EXPECT_EQ(fixed->forward(torch::randn({3, 4}).to(torch::kBFloat16), torch::tensor({0, 1, 2}))
                .logits.scalar_type(),
            torch::kFloat);
}

TEST(Head, SoftmaxIsThePlainFullyConnectedLayer) {
  HeadOptions opt;
  opt.type = HeadType::kSoftmax;
  Head head(opt, 4, 3);
  torch::Tensor f = torch::randn({2, 4}) * 10;
  EXPECT_TRUE(torch::equal(head->constrain(f), f));
  EXPECT_TRUE(torch::allclose(head->forward(f, torch::tensor({0, 1})).logits,
                              torch::nn::functional::linear(f, head->weight, head->bias)));
  EXPECT_EQ(head->alpha(), 0.0);
}

TEST(Head, BadOptionsAreRefusedWithTheKey) {
  auto message = [](HeadOptions o) {
    try {
      Head h(o, 4, 10);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  HeadOptions o;
  o.type = HeadType::kArcFace;
  o.alpha_learnable = true;
  EXPECT_NE(message(o).find("head.alpha_learnable"), std::string::npos);
  o.alpha_learnable = false;
  o.margin = 2.0;
  EXPECT_NE(message(o).find("head.margin"), std::string::npos);
  o.margin = 0.5;
  EXPECT_EQ(message(o), "(no error)");
}

namespace {

// Float64 reference of the margin heads from angles: θ = acos(cos), target cos(θ + m_a) − m_c,
// with cos θ − m_a·sin m_a where θ + m_a > π. Returns the mean cross-entropy.
double referenceLoss(const torch::Tensor& f, const torch::Tensor& w, const std::vector<int64_t>& y,
                     double s, double ma, double mc, std::vector<std::vector<double>>* logits_out) {
  const int64_t n = f.size(0), c = w.size(0), d = f.size(1);
  auto fa = f.accessor<double, 2>();
  auto wa = w.accessor<double, 2>();
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> logits(c);
    for (int64_t j = 0; j < c; ++j) {
      double dotv = 0, nf = 0, nw = 0;
      for (int64_t k = 0; k < d; ++k) {
        dotv += fa[i][k] * wa[j][k];
        nf += fa[i][k] * fa[i][k];
        nw += wa[j][k] * wa[j][k];
      }
      double cosv = dotv / std::sqrt(nf * nw);
      if (j == y[i]) {
        const double theta = std::acos(std::clamp(cosv, -1.0, 1.0));
        cosv = (theta + ma <= M_PI ? std::cos(theta + ma) : cosv - ma * std::sin(ma)) - mc;
      }
      logits[j] = s * cosv;
    }
    double mx = *std::max_element(logits.begin(), logits.end()), z = 0;
    for (double v : logits) z += std::exp(v - mx);
    total += -(logits[y[i]] - mx - std::log(z));
    if (logits_out) logits_out->push_back(logits);
  }
  return total / n;
}

}  // namespace

TEST(Head, MarginHeadsMatchFloat64ReferenceAndFiniteDifferences) {
  torch::manual_seed(11);
  const std::vector<int64_t> labels = {0, 2, 4, 2, 1};
  for (const HeadType type : {HeadType::kNormFace, HeadType::kCosFace, HeadType::kArcFace}) {
    SCOPED_TRACE(enumName(type));
    HeadOptions opt;
    opt.type = type;
    opt.scale = 8;
    opt.margin = type == HeadType::kCosFace ? 0.35 : 0.5;
    const double ma = type == HeadType::kArcFace ? 0.5 : 0,
                 mc = type == HeadType::kCosFace ? 0.35 : 0;
    Head head(opt, 3, 5);
    head->to(torch::kDouble);
    torch::Tensor f = torch::randn({5, 3}, torch::kDouble);
    {  // sample 3 points away from its class (θ + m > π): the fallback branch is exercised
      torch::NoGradGuard g;
      f[3] = -head->weight[2] * 3 + 0.05 * torch::randn({3}, torch::kDouble);
    }
    f.requires_grad_(true);
    torch::Tensor y = torch::tensor(labels);
    HeadOutput out = head->forward(f, y);
    torch::Tensor loss = torch::nn::functional::cross_entropy(out.logits, y);
    loss.backward();

    std::vector<std::vector<double>> ref_logits;
    torch::Tensor w = head->weight.detach();
    const double ref = referenceLoss(f.detach(), w, labels, 8, ma, mc, &ref_logits);
    EXPECT_NEAR(loss.item<double>(), ref, 1e-9);
    for (int i = 0; i < 5; ++i) {
      for (int j = 0; j < 5; ++j)
        EXPECT_NEAR(out.logits[i][j].item<double>(), ref_logits[i][j], 1e-9);
    }
    // Scores carry no margin: s·cos θ.
    EXPECT_NEAR(out.scores[1][2].item<double>(),
                8 * torch::cosine_similarity(f[1], w[2], 0).item<double>(), 1e-9);
    // Gradients against central differences of the reference (w.r.t. features and weights).
    const double h = 1e-6;
    for (int i = 0; i < 5; ++i) {
      for (int k = 0; k < 3; ++k) {
        torch::Tensor fp = f.detach().clone(), fm = f.detach().clone();
        fp[i][k] += h;
        fm[i][k] -= h;
        const double num = (referenceLoss(fp, w, labels, 8, ma, mc, nullptr) -
                            referenceLoss(fm, w, labels, 8, ma, mc, nullptr)) /
                           (2 * h);
        EXPECT_NEAR(f.grad()[i][k].item<double>(), num, 1e-6 * std::max(1.0, std::abs(num)))
            << "f[" << i << "][" << k << "]";
      }
    }
    for (int k = 0; k < 3; ++k) {
      torch::Tensor wp = w.clone(), wm = w.clone();
      wp[2][k] += h;
      wm[2][k] -= h;
      const double num = (referenceLoss(f.detach(), wp, labels, 8, ma, mc, nullptr) -
                          referenceLoss(f.detach(), wm, labels, 8, ma, mc, nullptr)) /
                         (2 * h);
      EXPECT_NEAR(head->weight.grad()[2][k].item<double>(), num,
                  1e-6 * std::max(1.0, std::abs(num)));
    }
  }
}

TEST(Head, ArcFaceIsFiniteAtTheExtremesAndMonotonicAcrossTheFallback) {
  const double m = 0.5, s = 64;
  // fp32 cosines exactly ±1 (perfect match, exact opposite): finite logits and gradients.
  torch::Tensor cosine = torch::tensor({{1.0f, 0.2f}, {-1.0f, 0.3f}}).requires_grad_(true);
  torch::Tensor logits = marginLogits(cosine, torch::tensor({0, 0}), s, Margin{m, 0});
  torch::nn::functional::cross_entropy(logits, torch::tensor({0, 0})).backward();
  EXPECT_TRUE(logits.isfinite().all().item<bool>());
  EXPECT_TRUE(cosine.grad().isfinite().all().item<bool>());
  EXPECT_NEAR(logits[0][0].item<float>(), s * std::cos(m), 0.05);
  EXPECT_NEAR(logits[1][0].item<float>(), s * (-1 - m * std::sin(m)), 1e-3);
  EXPECT_NEAR(logits[0][1].item<float>(), s * 0.2, 1e-4);  // non-target: no margin
  // The target logit falls as θ grows, through θ = π − m where the fallback takes over.
  std::vector<double> thetas;
  for (double t = M_PI - m - 0.2; t < M_PI; t += 0.01) thetas.push_back(t);
  torch::Tensor c = torch::cos(torch::tensor(thetas, torch::kDouble)).unsqueeze(1);
  torch::Tensor target =
      marginLogits(c, torch::zeros({c.size(0)}, torch::kLong), 1, Margin{m, 0}).squeeze(1);
  for (int64_t i = 1; i < target.size(0); ++i) {
    EXPECT_LT(target[i].item<double>(), target[i - 1].item<double>()) << "theta " << thetas[i];
  }
  // CosFace: subtract m from the target cosine only.
  torch::Tensor cos2 = torch::tensor({{0.5, 0.1}}, torch::kDouble);
  torch::Tensor l2 = marginLogits(cos2, torch::tensor({1}), 30, Margin{0, 0.35});
  EXPECT_NEAR(l2[0][0].item<double>(), 15.0, 1e-12);
  EXPECT_NEAR(l2[0][1].item<double>(), 30 * (0.1 - 0.35), 1e-12);
}

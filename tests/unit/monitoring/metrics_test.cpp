// Tests of the metrics registry and the text exposition format 0.0.4.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "l2face/monitoring/metrics.h"
#include "l2face/monitoring/training_metrics.h"

using namespace l2face::monitoring;

TEST(Metrics, CounterGaugeExposition) {
  Registry r;
  auto& steps = BuildCounter().Name("l2face_steps_total").Help("Optimizer steps").Labels({{"job", "j"}}).Register(r);
  Counter& c0 = steps.Add({{"rank", "0"}});
  c0.Increment();
  c0.Increment(2.5);
  EXPECT_THROW(c0.Increment(-1), MetricsError);
  auto& loss = BuildGauge().Name("l2face_loss").Help("Loss \\ with\nnewline").Register(r);
  loss.Add({{"rank", "1"}, {"host", "a\"b\\c\nd"}}).Set(0.25);
  EXPECT_EQ(&steps.Add({{"rank", "0"}}), &c0);  // same labels, same metric
  EXPECT_EQ(r.Serialize(),
            "# HELP l2face_steps_total Optimizer steps\n"
            "# TYPE l2face_steps_total counter\n"
            "l2face_steps_total{job=\"j\",rank=\"0\"} 3.5\n"
            "# HELP l2face_loss Loss \\\\ with\\nnewline\n"
            "# TYPE l2face_loss gauge\n"
            "l2face_loss{host=\"a\\\"b\\\\c\\nd\",rank=\"1\"} 0.25\n");
}

TEST(Metrics, HistogramIsCumulativeWithInf) {
  Registry r;
  auto& f = BuildHistogram().Name("l2face_step_seconds").Help("Step time").Register(r);
  Histogram& h = f.Add({}, Histogram::BucketBoundaries{0.1, 1});
  for (double v : {0.05, 0.1, 0.5, 2.0, 3.0}) h.Observe(v);
  EXPECT_EQ(r.Serialize(),
            "# HELP l2face_step_seconds Step time\n"
            "# TYPE l2face_step_seconds histogram\n"
            "l2face_step_seconds_bucket{le=\"0.1\"} 2\n"
            "l2face_step_seconds_bucket{le=\"1\"} 3\n"
            "l2face_step_seconds_bucket{le=\"+Inf\"} 5\n"
            "l2face_step_seconds_sum 5.65\n"
            "l2face_step_seconds_count 5\n");
  EXPECT_THROW(Histogram({1, 1}), MetricsError);
  EXPECT_EQ(Histogram::ExponentialBuckets(0.001, 2, 3), (Histogram::BucketBoundaries{0.001, 0.002, 0.004}));
}

TEST(Metrics, NamesAndLabelsValidated) {
  Registry r;
  EXPECT_THROW(BuildCounter().Name("1bad").Help("h").Register(r), MetricsError);
  EXPECT_THROW(BuildCounter().Name("bad-name").Help("h").Register(r), MetricsError);
  auto& f = BuildGauge().Name("ok:name_1").Help("h").Labels({{"job", "x"}}).Register(r);
  EXPECT_THROW(f.Add({{"__reserved", "x"}}), MetricsError);
  EXPECT_THROW(f.Add({{"le", "x"}}), MetricsError);
  EXPECT_THROW(f.Add({{"job", "dup"}}), MetricsError);  // clashes with a constant label
  EXPECT_THROW(BuildCounter().Name("ok:name_1").Help("h").Register(r), MetricsError);  // other type
  EXPECT_EQ(&BuildGauge().Name("ok:name_1").Help("h").Register(r), &f);
  EXPECT_EQ(formatValue(std::nan("")), "NaN");
  EXPECT_EQ(formatValue(-INFINITY), "-Inf");
  EXPECT_EQ(formatValue(1e-7), "1e-07");
  EXPECT_EQ(formatValue(42), "42");
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
  Registry r;
  Counter& c = BuildCounter().Name("c_total").Help("h").Register(r).Add({});
  Histogram& h = BuildHistogram().Name("h").Help("h").Register(r).Add({}, Histogram::BucketBoundaries{0.5});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) {
        c.Increment();
        h.Observe(1.0);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value(), 400000.0);
  EXPECT_EQ(h.Count(), 400000u);
  EXPECT_EQ(h.Sum(), 400000.0);
}

TEST(TrainingMetrics, RegistersEveryFamilyWithRankLabels) {
  auto r = std::make_shared<Registry>();
  TrainingMetrics m(r, "exp1", 3, "node-a");
  m.steps.Increment(5);
  m.loss.Set(1.25);
  m.step_seconds.Observe(0.02);
  m.evalTar("lfw", 1e-3).Set(0.9);
  m.evalAccuracy("lfw").Set(0.99);
  m.restarts.Increment(2);
  m.world_size.Set(4);
  m.global_batch.Set(512);
  m.updateProcessMetrics();
  std::string text = r->Serialize();
  EXPECT_NE(text.find("# TYPE l2face_restarts_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("l2face_restarts_total{host=\"node-a\",job=\"exp1\",rank=\"3\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("l2face_world_size{host=\"node-a\",job=\"exp1\",rank=\"3\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("l2face_global_batch{host=\"node-a\",job=\"exp1\",rank=\"3\"} 512\n"), std::string::npos) << text;
  EXPECT_NE(text.find("l2face_steps_total{host=\"node-a\",job=\"exp1\",rank=\"3\"} 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("l2face_loss{host=\"node-a\",job=\"exp1\",rank=\"3\"} 1.25\n"), std::string::npos);
  EXPECT_NE(text.find("l2face_eval_tar{far=\"0.001\",host=\"node-a\",job=\"exp1\",rank=\"3\",set=\"lfw\"} 0.9"), std::string::npos) << text;
  EXPECT_NE(text.find("l2face_step_seconds_count{host=\"node-a\",job=\"exp1\",rank=\"3\"} 1\n"), std::string::npos);
  EXPECT_GT(m.resident_memory.Value(), 1e6);
  // One HELP/TYPE pair per family, whatever the number of label sets.
  size_t pos = 0, helps = 0;
  while ((pos = text.find("# HELP l2face_eval_tar ", pos)) != std::string::npos) { ++helps; ++pos; }
  EXPECT_EQ(helps, 1u);
}

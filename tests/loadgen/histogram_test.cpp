#include "anvil/loadgen/histogram.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace anvil::loadgen {
namespace {

TEST(Histogram, EmptyIsAllZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(99), 0);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 0);
}

// 3 significant digits: every value comes back within 0.1% of itself.
TEST(Histogram, KeepsThreeSignificantDigitsFromOneMicrosecondToSixtySeconds) {
  for (std::int64_t v = 1000; v <= Histogram::kHighest; v = v * 13 / 10 + 7) {
    Histogram h;
    h.record(v);
    const std::int64_t p = h.percentile(100);
    EXPECT_LE(p, v) << v;  // never above max()
    EXPECT_GE(p, v - v / 1000) << v;
    EXPECT_EQ(h.max(), v);
    EXPECT_EQ(h.min(), v);
  }
}

TEST(Histogram, PercentilesOfAUniformSpread) {
  Histogram h;
  for (std::int64_t us = 1; us <= 10000; ++us) h.record(us * 1000);
  EXPECT_EQ(h.count(), 10000u);
  EXPECT_NEAR(static_cast<double>(h.percentile(50)), 5'000'000.0, 5'000.0);
  EXPECT_NEAR(static_cast<double>(h.percentile(99)), 9'900'000.0, 9'900.0);
  EXPECT_NEAR(static_cast<double>(h.percentile(99.99)), 9'999'000.0, 9'999.0);
  EXPECT_EQ(h.percentile(100), 10'000'000);
  EXPECT_NEAR(h.mean(), 5'000'500.0, 1.0);
  EXPECT_NEAR(h.stdev(), 2'886'751.0, 10.0);
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  Histogram a, b, all;
  for (std::int64_t i = 1; i <= 5000; ++i) {
    const std::int64_t v = i * i * 37 % 90'000'000 + 1000;
    (i % 3 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  for (double p : {1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 100.0})
    EXPECT_EQ(a.percentile(p), all.percentile(p)) << p;
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
}

TEST(Histogram, ClampsAboveSixtySeconds) {
  Histogram h;
  h.record(Histogram::kHighest * 2);
  h.record(-5);
  EXPECT_EQ(h.clamped(), 1u);
  EXPECT_EQ(h.max(), Histogram::kHighest);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.count(), 2u);
}

TEST(Histogram, BucketsCoverEveryRecordedValue) {
  Histogram h;
  h.record(1500);
  h.record(1500);
  h.record(2'000'000);
  const auto buckets = h.buckets();
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(buckets[0].count, 2u);
  EXPECT_LE(buckets[0].low, 1500);
  EXPECT_GE(buckets[0].high, 1500);
  EXPECT_LE(buckets[1].low, 2'000'000);
  EXPECT_GE(buckets[1].high, 2'000'000);
  EXPECT_LE(buckets[1].high - buckets[1].low, 2'000'000 / 1000);
}

}  // namespace
}  // namespace anvil::loadgen

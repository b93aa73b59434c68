// Log-linear bucketing after HdrHistogram (Gil Tene, hdrhistogram.org): 2048
// linear sub-buckets (the first power of two >= 2 * 10^3, for 3 significant
// digits) per power-of-two bucket, lowest discernible value 1 ns.
#include "anvil/loadgen/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace anvil::loadgen {
namespace {

constexpr int kSubBucketHalfMagnitude = 10;  // log2(1024)
constexpr std::int64_t kSubBucketHalf = std::int64_t{1} << kSubBucketHalfMagnitude;
constexpr std::int64_t kSubBucketMask = 2 * kSubBucketHalf - 1;
constexpr int kLeadingZeroBase = 64 - (kSubBucketHalfMagnitude + 1);

int bucket_of(std::int64_t v) noexcept {
  return kLeadingZeroBase - std::countl_zero(static_cast<std::uint64_t>(v | kSubBucketMask));
}

std::size_t bucket_count_for(std::int64_t highest) noexcept {
  std::int64_t untrackable = 2 * kSubBucketHalf;
  std::size_t buckets = 1;
  while (untrackable <= highest) {
    untrackable <<= 1;
    ++buckets;
  }
  return buckets;
}

}  // namespace

Histogram::Histogram()
    : counts_((bucket_count_for(kHighest) + 1) * static_cast<std::size_t>(kSubBucketHalf), 0) {}

std::size_t Histogram::index_of(std::int64_t v) const noexcept {
  const int bucket = bucket_of(v);
  const std::int64_t sub = v >> bucket;
  return static_cast<std::size_t>(((bucket + 1) << kSubBucketHalfMagnitude) +
                                  (sub - kSubBucketHalf));
}

std::int64_t Histogram::value_at(std::size_t index) const noexcept {
  int bucket = static_cast<int>(index >> kSubBucketHalfMagnitude) - 1;
  std::int64_t sub = static_cast<std::int64_t>(index & (kSubBucketHalf - 1)) + kSubBucketHalf;
  if (bucket < 0) {
    sub -= kSubBucketHalf;
    bucket = 0;
  }
  return sub << bucket;
}

std::int64_t Histogram::highest_equivalent(std::int64_t v) const noexcept {
  const int bucket = bucket_of(v);
  const std::int64_t lowest = (v >> bucket) << bucket;
  return lowest + (std::int64_t{1} << bucket) - 1;
}

void Histogram::record(std::int64_t ns) noexcept {
  if (ns < 0) ns = 0;
  if (ns > kHighest) {
    ns = kHighest;
    ++clamped_;
  }
  ++counts_[index_of(ns)];
  ++total_;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
  const double d = static_cast<double>(ns);
  sum_ += d;
  sum_sq_ += d * d;
}

void Histogram::merge(const Histogram& other) noexcept {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  clamped_ += other.clamped_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
  sum_sq_ += other.sum_sq_;
}

void Histogram::reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = clamped_ = 0;
  min_ = INT64_MAX;
  max_ = 0;
  sum_ = sum_sq_ = 0;
}

double Histogram::mean() const noexcept {
  return total_ == 0 ? 0.0 : sum_ / static_cast<double>(total_);
}

double Histogram::stdev() const noexcept {
  if (total_ < 2) return 0.0;
  const double m = mean();
  const double var = sum_sq_ / static_cast<double>(total_) - m * m;
  return var > 0 ? std::sqrt(var) : 0.0;
}

std::int64_t Histogram::percentile(double p) const noexcept {
  if (total_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_)));
  rank = std::clamp<std::uint64_t>(rank, 1, total_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(highest_equivalent(value_at(i)), max_);
  }
  return max_;
}

double Histogram::within_stdev() const noexcept {
  if (total_ == 0) return 0.0;
  const double lo = mean() - stdev();
  const double hi = mean() + stdev();
  std::uint64_t in = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    const auto v = static_cast<double>(value_at(i));
    if (v >= lo && v <= hi) in += counts_[i];
  }
  return 100.0 * static_cast<double>(in) / static_cast<double>(total_);
}

std::vector<Histogram::Bucket> Histogram::buckets() const {
  std::vector<Bucket> out;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    const std::int64_t low = value_at(i);
    out.push_back({low, highest_equivalent(low), counts_[i]});
  }
  return out;
}

}  // namespace anvil::loadgen

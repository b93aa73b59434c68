// anvil::loadgen::Histogram — a log-linear latency histogram, HdrHistogram-style.
//
// Contract: records integer nanoseconds from 1 ns to 60 s with 3 significant
// decimal digits (every value is kept within 0.1% of itself); larger values
// are clamped to 60 s and counted in `clamped()`. One histogram per thread, no
// locking; merge() adds another histogram of the same shape. Never allocates
// after construction.
#pragma once

#include <cstdint>
#include <vector>

namespace anvil::loadgen {

class Histogram {
 public:
  static constexpr std::int64_t kHighest = 60'000'000'000;  // 60 s in ns

  Histogram();

  void record(std::int64_t ns) noexcept;
  void merge(const Histogram& other) noexcept;
  void reset() noexcept;

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t clamped() const noexcept { return clamped_; }
  std::int64_t min() const noexcept { return total_ == 0 ? 0 : min_; }
  std::int64_t max() const noexcept { return max_; }
  double mean() const noexcept;
  double stdev() const noexcept;
  // The value at percentile p (0..100]: the highest value equivalent (within
  // the histogram's precision) to the recorded value ranked ceil(p% * count),
  // never above max(). 0 when empty.
  std::int64_t percentile(double p) const noexcept;
  // Share of recorded values within mean +/- stdev, as wrk's "+/- Stdev".
  double within_stdev() const noexcept;

  struct Bucket {
    std::int64_t low;   // lowest value recorded into this bucket
    std::int64_t high;  // highest value equivalent to low
    std::uint64_t count;
  };
  // The non-empty buckets in increasing order (for --json).
  std::vector<Bucket> buckets() const;

 private:
  std::size_t index_of(std::int64_t v) const noexcept;
  std::int64_t value_at(std::size_t index) const noexcept;
  std::int64_t highest_equivalent(std::int64_t v) const noexcept;

  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t clamped_ = 0;
  std::int64_t min_ = INT64_MAX;
  std::int64_t max_ = 0;
  // Sums in double for mean and stdev: exact enough for 1e12 samples of 60 s.
  double sum_ = 0;
  double sum_sq_ = 0;
};

}  // namespace anvil::loadgen

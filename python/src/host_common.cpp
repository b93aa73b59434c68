#include "host_common.hpp"

#include <algorithm>

namespace anvil::python {

namespace {

using Clock = std::chrono::steady_clock;

// A write's completion, waited for by a request thread.
struct Completion {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::error_code ec;
  void signal(std::error_code e) {
    {
      std::lock_guard lock(m);
      done = true;
      ec = e;
    }
    cv.notify_one();
  }
};

}  // namespace

void HeaderViews::add(std::string_view name, std::string_view value) {
  if (n_ < small_.size()) {
    small_[n_] = {name, value};
  } else {
    if (big_.empty()) big_.assign(small_.begin(), small_.end());
    big_.push_back({name, value});
  }
  ++n_;
}

std::span<const server::Header> HeaderViews::all() const noexcept {
  return big_.empty() ? std::span(small_.data(), n_) : std::span(big_);
}

server::StartError start_packed(server::Exchange& ex, std::string_view packed) {
  HeaderViews hs;
  const std::size_t first = packed.find('\n');
  const std::string_view status = packed.substr(0, first);
  for (std::size_t at = first; at != std::string_view::npos;) {
    const std::size_t name_end = packed.find('\n', at + 1);
    if (name_end == std::string_view::npos) return server::StartError::bad_header_value;
    const std::size_t value_end = packed.find('\n', name_end + 1);
    hs.add(packed.substr(at + 1, name_end - at - 1),
           packed.substr(name_end + 1, value_end == std::string_view::npos
                                           ? std::string_view::npos
                                           : value_end - name_end - 1));
    at = value_end;
  }
  return ex.start(status, hs.all());
}

std::error_code wait_for_write(server::Exchange& ex, std::chrono::duration<double> patience,
                               const std::function<void(server::WriteCallback)>& issue) {
  auto c = std::make_shared<Completion>();
  issue([c](std::error_code ec) { c->signal(ec); });
  const auto wait = std::chrono::duration_cast<Clock::duration>(patience);
  std::unique_lock lock(c->m);
  std::uint64_t seen = ex.sent_bytes();
  auto limit = Clock::now() + wait;
  bool aborted = false;
  while (!c->done) {
    // Woken at least once a second to see whether the client still takes bytes.
    c->cv.wait_until(lock, std::min(limit, Clock::now() + std::chrono::seconds(1)));
    if (c->done || aborted) continue;
    const std::uint64_t sent = ex.sent_bytes();
    if (sent != seen) {
      seen = sent;
      limit = Clock::now() + wait;
    } else if (Clock::now() >= limit) {
      lock.unlock();
      ex.abort();
      aborted = true;
      lock.lock();
    }
  }
  return aborted ? std::make_error_code(std::errc::timed_out) : c->ec;
}

void RequestThreads::start(int n, const std::function<void()>& body) {
  threads_.reserve(static_cast<std::size_t>(std::max(n, 0)));
  for (int i = 0; i < n; ++i) threads_.emplace_back(body);
}

void RequestThreads::push(std::shared_ptr<server::Exchange> ex) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(ex));
  }
  cv_.notify_one();
}

std::shared_ptr<server::Exchange> RequestThreads::next() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
  if (queue_.empty()) {
    ++exited_;
    cv_.notify_all();
    return nullptr;
  }
  std::shared_ptr<server::Exchange> ex = std::move(queue_.front());
  queue_.pop_front();
  return ex;
}

bool RequestThreads::stop(std::chrono::duration<double> timeout) {
  std::unique_lock lock(mutex_);
  if (stopping_) return false;
  stopping_ = true;
  cv_.notify_all();
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
  const bool all = cv_.wait_until(lock, deadline, [this] { return exited_ == threads_.size(); });
  lock.unlock();
  for (auto& th : threads_) {
    if (all) {
      th.join();
    } else {
      th.detach();
    }
  }
  threads_.clear();
  return true;
}

}  // namespace anvil::python

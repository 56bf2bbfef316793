#pragma once

// Small concurrency helpers for transfers: a bounded task queue on worker
// threads, and an ordered pipeline that computes in parallel but delivers in order.

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace skiff {

// Runs submitted tasks on `workers` threads. submit() blocks while `maxQueued`
// tasks wait, which bounds the memory held by queued work. The first task
// that throws stops the rest; finish() rethrows its exception.
class BoundedExecutor {
 public:
  BoundedExecutor(int workers, size_t maxQueued);
  ~BoundedExecutor();  // waits for running tasks; drops queued ones
  BoundedExecutor(const BoundedExecutor&) = delete;
  BoundedExecutor& operator=(const BoundedExecutor&) = delete;

  // Returns false (and drops the task) once a task has failed.
  bool submit(std::function<void()> task);
  // Waits for every task; rethrows the first failure.
  void finish();
  bool failed();

 private:
  void work();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> queue_;
  size_t maxQueued_;
  size_t running_ = 0;
  bool closing_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
};

// Calls produce(i) for i in [0, count) on `workers` threads and consume(i, result)
// on the calling thread in order of i, with at most `window` results ahead of
// the consumer. The first exception stops the work and is rethrown.
template <typename T>
void orderedParallel(size_t count, int workers, size_t window,
                     const std::function<T(size_t)>& produce,
                     const std::function<void(size_t, T&&)>& consume) {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<size_t, T> ready;
  size_t next = 0;
  size_t delivered = 0;
  std::exception_ptr error;
  auto worker = [&] {
    while (true) {
      size_t index;
      {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return error || next >= count || next < delivered + window; });
        if (error || next >= count) return;
        index = next++;
      }
      try {
        T result = produce(index);
        std::lock_guard lock(mutex);
        ready.emplace(index, std::move(result));
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!error) error = std::current_exception();
      }
      changed.notify_all();
    }
  };
  std::vector<std::thread> threads;
  const int threadCount = static_cast<int>(std::min<size_t>(std::max(workers, 1), count));
  for (int i = 0; i < threadCount; ++i) threads.emplace_back(worker);
  try {
    while (delivered < count) {
      T result;
      {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return error || ready.count(delivered); });
        if (error) break;
        result = std::move(ready.at(delivered));
        ready.erase(delivered);
      }
      consume(delivered, std::move(result));
      {
        std::lock_guard lock(mutex);
        ++delivered;
      }
      changed.notify_all();
    }
  } catch (...) {
    std::lock_guard lock(mutex);
    if (!error) error = std::current_exception();
  }
  changed.notify_all();
  for (auto& thread : threads) thread.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace skiff

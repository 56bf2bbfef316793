#include "common/parallel.hpp"

namespace skiff {

BoundedExecutor::BoundedExecutor(int workers, size_t maxQueued) : maxQueued_(maxQueued) {
  for (int i = 0; i < std::max(workers, 1); ++i) threads_.emplace_back([this] { work(); });
}

BoundedExecutor::~BoundedExecutor() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
    queue_.clear();
  }
  changed_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

bool BoundedExecutor::submit(std::function<void()> task) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return error_ || queue_.size() < maxQueued_; });
  if (error_) return false;
  queue_.push_back(std::move(task));
  changed_.notify_all();
  return true;
}

void BoundedExecutor::work() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    changed_.notify_all();
    try {
      task();
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
      queue_.clear();
    }
    {
      std::lock_guard lock(mutex_);
      --running_;
    }
    changed_.notify_all();
  }
}

void BoundedExecutor::finish() {
  {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return queue_.empty() && running_ == 0; });
    closing_ = true;
  }
  changed_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  if (error_) std::rethrow_exception(error_);
}

bool BoundedExecutor::failed() {
  std::lock_guard lock(mutex_);
  return error_ != nullptr;
}

}  // namespace skiff

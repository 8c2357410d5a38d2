#include "counter_grid.hpp"

#include <cassert>

namespace fulcrum::metering {

CounterGrid::CounterGrid(prometheus::Family<prometheus::Counter>& family, std::vector<Axis> axes)
    : family_(family), axes_(std::move(axes)) {
  std::size_t size = 1;
  for (const Axis& axis : axes_) size *= axis.size();
  cells_ = std::make_unique<std::atomic<prometheus::Counter*>[]>(size);
  for (std::size_t i = 0; i < size; ++i) cells_[i].store(nullptr, std::memory_order_relaxed);
}

std::size_t CounterGrid::flat_index(std::initializer_list<std::size_t> index) const {
  assert(index.size() == axes_.size());
  std::size_t flat = 0;
  std::size_t axis = 0;
  for (std::size_t position : index) {
    assert(position < axes_[axis].size());
    flat = flat * axes_[axis].size() + position;
    ++axis;
  }
  return flat;
}

prometheus::Labels CounterGrid::labels_at(std::initializer_list<std::size_t> index) const {
  prometheus::Labels labels;
  std::size_t axis = 0;
  for (std::size_t position : index) {
    for (const auto& label : axes_[axis][position]) labels.insert(label);
    ++axis;
  }
  return labels;
}

prometheus::Counter& CounterGrid::at(std::initializer_list<std::size_t> index) const {
  const std::size_t flat = flat_index(index);
  if (prometheus::Counter* counter = cells_[flat].load(std::memory_order_acquire)) return *counter;
  // Two threads racing here get the same counter: Family::Add returns the existing one.
  prometheus::Counter& counter = family_.Add(labels_at(index));
  cells_[flat].store(&counter, std::memory_order_release);
  return counter;
}

}  // namespace fulcrum::metering

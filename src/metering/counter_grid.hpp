#pragma once
// Counters over a grid of label values (route × class × target × outcome, say), created on
// first use. A lookup is an index computation and an atomic load; only the first request to
// reach a cell pays for the label hashing and the family's lock. Series that never happen
// never appear in /metrics.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/labels.h>

#include <atomic>
#include <initializer_list>
#include <memory>
#include <vector>

namespace fulcrum::metering {

class CounterGrid {
 public:
  // One axis: the label set each of its values contributes.
  using Axis = std::vector<prometheus::Labels>;

  CounterGrid(prometheus::Family<prometheus::Counter>& family, std::vector<Axis> axes);

  // `index` holds one position per axis, in the order the axes were given.
  prometheus::Counter& at(std::initializer_list<std::size_t> index) const;
  // The labels of a cell, without creating it.
  prometheus::Labels labels_at(std::initializer_list<std::size_t> index) const;

 private:
  prometheus::Family<prometheus::Counter>& family_;
  std::size_t flat_index(std::initializer_list<std::size_t> index) const;

  std::vector<Axis> axes_;
  std::unique_ptr<std::atomic<prometheus::Counter*>[]> cells_;
};

}  // namespace fulcrum::metering

#pragma once
// What the HTML pages (the breakeven report, the replay) share: one stylesheet, escaping,
// and inline SVG bar charts. No scripts and nothing fetched: a page opens anywhere, offline.
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fulcrum::report {

// "<!DOCTYPE html>...<body>": the head with the shared stylesheet.
std::string page_head(const std::string& title);
std::string escape(const std::string& text);
// One decimal place: "71.7".
std::string number(double value);

// Bars with a label under each, an optional horizontal reference line, one bar highlighted.
struct BarChart {
  std::string title;
  std::string css_class;
  std::vector<std::string> labels;
  std::vector<double> values;
  std::vector<std::string> tooltips;
  std::optional<std::size_t> highlight;
  std::vector<std::pair<double, std::string>> lines;  // value, legend
  bool money = false;                                 // the axis shows dollars, else tokens

  std::string svg() const;
};

}  // namespace fulcrum::report

#include "html.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "fulcrum/report/render.hpp"

namespace fulcrum::report {
namespace {

constexpr int kWidth = 560;
constexpr int kHeight = 240;
constexpr int kLeft = 70;
constexpr int kBottom = 30;
constexpr int kTop = 20;

}  // namespace

std::string page_head(const std::string& title) {
  return "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + escape(title) +
         "</title><style>"
         "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}"
         "h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ccc}"
         "section{margin:1.5em 0}.charts{display:flex;flex-wrap:wrap;gap:1em}"
         "figure{margin:0}svg text{font-size:11px;fill:#444}"
         "table{border-collapse:collapse;margin-top:.5em}td,th{padding:2px 10px;text-align:right;"
         "border-bottom:1px solid #eee}tr.best{background:#fff4e6;font-weight:bold}"
         "</style></head><body>";
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", value);
  return text;
}

std::string BarChart::svg() const {
  double top = 0;
  for (double v : values) top = std::max(top, v);
  for (const auto& [v, legend] : lines) top = std::max(top, v);
  if (top <= 0) top = 1;
  const double plot_w = kWidth - kLeft - 10;
  const double plot_h = kHeight - kTop - kBottom;
  const double slot = plot_w / std::max<std::size_t>(values.size(), 1);
  const auto y = [&](double v) { return kTop + plot_h * (1 - v / top); };
  std::ostringstream s;
  s << "<svg class=\"" << css_class << "\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth
    << "\" height=\"" << kHeight << "\" viewBox=\"0 0 " << kWidth << " " << kHeight
    << "\" role=\"img\"><title>" << escape(title) << "</title>";
  s << "<line x1=\"" << kLeft << "\" y1=\"" << y(0) << "\" x2=\"" << kWidth - 10 << "\" y2=\""
    << y(0) << "\" stroke=\"#888\"/>";
  s << "<text x=\"" << kLeft - 6 << "\" y=\"" << y(top) + 4 << "\" text-anchor=\"end\">"
    << escape(money ? usd(top) : tokens(top)) << "</text>";
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double x = kLeft + slot * i + slot * 0.15;
    const bool lit = highlight && *highlight == i;
    s << "<rect x=\"" << number(x) << "\" y=\"" << number(y(values[i])) << "\" width=\""
      << number(slot * 0.7) << "\" height=\"" << number(y(0) - y(values[i])) << "\" fill=\""
      << (lit ? "#e8590c" : "#4263eb") << "\"><title>" << escape(tooltips[i]) << "</title></rect>";
    if (values.size() <= 30 || i % 2 == 0) {
      s << "<text x=\"" << number(x + slot * 0.35) << "\" y=\"" << kHeight - 10
        << "\" text-anchor=\"middle\">" << escape(labels[i]) << "</text>";
    }
  }
  for (const auto& [v, legend] : lines) {
    s << "<line x1=\"" << kLeft << "\" y1=\"" << number(y(v)) << "\" x2=\"" << kWidth - 10
      << "\" y2=\"" << number(y(v)) << "\" stroke=\"#2b8a3e\" stroke-dasharray=\"6 4\"/>"
      << "<text x=\"" << kWidth - 12 << "\" y=\"" << number(y(v) - 4)
      << "\" text-anchor=\"end\" fill=\"#2b8a3e\">" << escape(legend) << "</text>";
  }
  s << "</svg>";
  return s.str();
}

}  // namespace fulcrum::report

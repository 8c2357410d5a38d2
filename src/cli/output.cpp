#include "output.hpp"

#include <fstream>
#include <iostream>

namespace fulcrum::cli {

int write_result(std::string_view command, const std::string& text, const std::string& out_path) {
  if (out_path.empty()) {
    std::cout << text;
    return std::cout ? 0 : 1;
  }
  std::ofstream out(out_path, std::ios::binary);
  out << text;
  if (!out) {
    std::cerr << "fulcrum " << command << ": cannot write " << out_path << "\n";
    return 1;
  }
  std::cerr << "fulcrum " << command << ": wrote " << out_path << "\n";
  return 0;
}

}  // namespace fulcrum::cli

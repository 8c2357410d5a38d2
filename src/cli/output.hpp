#pragma once
// Where a command's result goes: standard output, or the file --out names.
#include <string>
#include <string_view>

namespace fulcrum::cli {

// The exit status: 0 when written, 1 (with a message on standard error) when not.
int write_result(std::string_view command, const std::string& text, const std::string& out_path);

}  // namespace fulcrum::cli

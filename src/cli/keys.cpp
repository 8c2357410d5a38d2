#include <iostream>
#include <iterator>
#include <string>

#include "commands.hpp"
#include "fulcrum/auth/authenticator.hpp"

namespace fulcrum::cli {

int keys_hash() {
  std::string key{std::istreambuf_iterator<char>(std::cin), {}};
  // `echo KEY | fulcrum keys hash` brings a newline that is not part of the key.
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  if (key.empty()) {
    std::cerr << "fulcrum keys hash: no key on standard input\n";
    return 2;
  }
  std::cout << auth::to_hex(auth::sha256(key)) << "\n";
  return 0;
}

}  // namespace fulcrum::cli

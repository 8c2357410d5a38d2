#include "client_tls.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace fulcrum::net {

ssl::context* ClientTls::context() {
  std::call_once(made_, [this] {
    try {
      auto& tls = context_.emplace(ssl::context::tls_client);
      tls.set_default_verify_paths();  // the system trust store
      tls.set_verify_mode(ssl::verify_peer);
      tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    } catch (const std::exception& e) {
      context_.reset();
      spdlog::error("tls_context_failed error=\"{}\"", e.what());
    }
  });
  return context_ ? &*context_ : nullptr;
}

}  // namespace fulcrum::net

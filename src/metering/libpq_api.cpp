#include "libpq_api.hpp"

#include <dlfcn.h>

#include <mutex>

namespace fulcrum::metering {

namespace {

struct Loaded {
  LibpqApi api;
  std::string error;  // empty when loaded
};

template <class Function>
bool bind_symbol(void* library, const char* name, Function& function, std::string& error) {
  function = reinterpret_cast<Function>(dlsym(library, name));
  if (function == nullptr && error.empty()) error = std::string("libpq has no ") + name;
  return function != nullptr;
}

Loaded load() {
  Loaded loaded;
  // Never closed: the ledger may use it until the process ends.
  void* library = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* why = dlerror();
    loaded.error = std::string("cannot load libpq (the libpq5 package): ") + (why ? why : "?");
    return loaded;
  }
  auto& api = loaded.api;
  auto& error = loaded.error;
  bind_symbol(library, "PQconnectdbParams", api.PQconnectdbParams, error);
  bind_symbol(library, "PQstatus", api.PQstatus, error);
  bind_symbol(library, "PQerrorMessage", api.PQerrorMessage, error);
  bind_symbol(library, "PQfinish", api.PQfinish, error);
  bind_symbol(library, "PQexec", api.PQexec, error);
  bind_symbol(library, "PQexecParams", api.PQexecParams, error);
  bind_symbol(library, "PQsendQueryParams", api.PQsendQueryParams, error);
  bind_symbol(library, "PQsetSingleRowMode", api.PQsetSingleRowMode, error);
  bind_symbol(library, "PQgetResult", api.PQgetResult, error);
  bind_symbol(library, "PQresultStatus", api.PQresultStatus, error);
  bind_symbol(library, "PQntuples", api.PQntuples, error);
  bind_symbol(library, "PQgetvalue", api.PQgetvalue, error);
  bind_symbol(library, "PQgetisnull", api.PQgetisnull, error);
  bind_symbol(library, "PQclear", api.PQclear, error);
  return loaded;
}

const Loaded& loaded() {
  static const Loaded once = load();  // thread-safe initialization
  return once;
}

}  // namespace

const LibpqApi* load_libpq(std::string& error) {
  if (!loaded().error.empty()) {
    error = loaded().error;
    return nullptr;
  }
  return &loaded().api;
}

const LibpqApi& libpq() { return loaded().api; }

}  // namespace fulcrum::metering

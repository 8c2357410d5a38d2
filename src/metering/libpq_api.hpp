#pragma once
// libpq, opened the first time a PostgreSQL ledger connects instead of when the process
// starts: loaded, its dependencies (GnuTLS, Kerberos, LDAP, SASL) hold about 3 MiB of memory
// in every gateway, most of which keep their ledger in SQLite.
#include <libpq-fe.h>

#include <string>

namespace fulcrum::metering {

// The libpq functions the PostgreSQL ledger calls, under their own names.
struct LibpqApi {
  decltype(&::PQconnectdbParams) PQconnectdbParams = nullptr;
  decltype(&::PQstatus) PQstatus = nullptr;
  decltype(&::PQerrorMessage) PQerrorMessage = nullptr;
  decltype(&::PQfinish) PQfinish = nullptr;
  decltype(&::PQexec) PQexec = nullptr;
  decltype(&::PQexecParams) PQexecParams = nullptr;
  decltype(&::PQsendQueryParams) PQsendQueryParams = nullptr;
  decltype(&::PQsetSingleRowMode) PQsetSingleRowMode = nullptr;
  decltype(&::PQgetResult) PQgetResult = nullptr;
  decltype(&::PQresultStatus) PQresultStatus = nullptr;
  decltype(&::PQntuples) PQntuples = nullptr;
  decltype(&::PQgetvalue) PQgetvalue = nullptr;
  decltype(&::PQgetisnull) PQgetisnull = nullptr;
  decltype(&::PQclear) PQclear = nullptr;
};

// Loads libpq once (thread-safe). Null, with `error` saying why, when it cannot be loaded.
const LibpqApi* load_libpq(std::string& error);

// The loaded library: only after load_libpq() succeeded.
const LibpqApi& libpq();

}  // namespace fulcrum::metering

// Asio, Asio.SSL and Beast are compiled once, here (BOOST_*_SEPARATE_COMPILATION), so the
// other translation units only see declarations and the build stays quick on two cores.
#include "fulcrum/net/asio.hpp"  // first: it carries the Boost 1.74 workaround
// clang-format off
// clang-format on
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
// Beast's test stream: the client side of connections in component tests (client_stream.hpp).
#include <boost/beast/_experimental/test/impl/error.ipp>
#include <boost/beast/_experimental/test/impl/fail_count.ipp>
#include <boost/beast/_experimental/test/impl/stream.ipp>

#include <gtest/gtest.h>

#include <cmath>

#include "fulcrum/core/base64.hpp"
#include "fulcrum/core/duration.hpp"
#include "fulcrum/core/money.hpp"
#include "fulcrum/core/url.hpp"

namespace fulcrum::core {
namespace {

TEST(Duration, ParsesEveryUnit) {
  EXPECT_EQ(parse_duration("250ms"), Duration(250));
  EXPECT_EQ(parse_duration("2s"), Duration(2000));
  EXPECT_EQ(parse_duration("1.5s"), Duration(1500));
  EXPECT_EQ(parse_duration("5m"), Duration(300'000));
  EXPECT_EQ(parse_duration("1h"), Duration(3'600'000));
}

TEST(Duration, RejectsMalformedText) {
  for (const char* bad : {"", "s", "10", "10 s", "-1s", "1d", "1.2.3s", "ms5"}) {
    EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
  }
}

TEST(Money, PricesAreExactForTypicalValues) {
  const auto price = PricePerMillion::from_usd(0.075);
  ASSERT_TRUE(price);
  EXPECT_EQ(price->micro_usd, 75'000);
  // 1M tokens at 0.075 USD per 1M = 0.075 USD exactly.
  EXPECT_EQ(price->cost_of(1'000'000).nano_usd, 75'000'000);
  EXPECT_EQ(price->cost_of(3).nano_usd, 225);  // 3 × 75 nano-dollars
}

TEST(Money, RoundsOnceToTheNearestNanoDollar) {
  const PricePerMillion price{1};  // 1 micro-dollar per 1M tokens = 0.001 nano per token
  EXPECT_EQ(price.cost_of(499).nano_usd, 0);
  EXPECT_EQ(price.cost_of(500).nano_usd, 1);
  EXPECT_EQ(price.cost_of(1'000'000'000).nano_usd, 1'000'000);
}

TEST(Money, LargeVolumesDoNotOverflow) {
  const auto price = PricePerMillion::from_usd(60.0);  // an expensive model
  const Money cost = price->cost_of(10'000'000'000);   // ten billion tokens
  EXPECT_EQ(cost.nano_usd, 600'000'000'000'000);       // 600,000 USD
}

TEST(Money, SumsStayExactWhereDoublesDrift) {
  Money total;
  double drift = 0;
  for (int i = 0; i < 1'000'000; ++i) {
    total += Money{100};  // 1e-7 USD
    drift += 1e-7;
  }
  EXPECT_EQ(total.to_decimal(), "0.1");
  EXPECT_NE(drift, 0.1);  // the reason money is an integer
}

TEST(Money, SaturatesInsteadOfOverflowing) {
  // An absurd price (1e9 USD per 1M tokens) times the largest token count a request may name.
  const auto price = PricePerMillion::from_usd(1e9);
  ASSERT_TRUE(price);
  const Money huge = price->cost_of(std::int64_t{1} << 40);
  EXPECT_EQ(huge.nano_usd, INT64_MAX);
  EXPECT_EQ((huge + huge).nano_usd, INT64_MAX);
  EXPECT_EQ((Money{INT64_MIN} + Money{-1}).nano_usd, INT64_MIN);
  EXPECT_EQ(Money::from_usd(1e300).nano_usd, INT64_MAX);
  EXPECT_EQ(Money::from_usd(-1e300).nano_usd, INT64_MIN);
  EXPECT_EQ(Money::from_usd(std::nan("")).nano_usd, 0);
  EXPECT_EQ((Money{5} + Money{-3}).nano_usd, 2);
}

TEST(Money, DecimalRendering) {
  EXPECT_EQ(Money{0}.to_decimal(), "0");
  EXPECT_EQ(Money{2250}.to_decimal(), "0.00000225");
  EXPECT_EQ(Money{1'500'000'000}.to_decimal(), "1.5");
  EXPECT_EQ(Money{-5}.to_decimal(), "-0.000000005");
  EXPECT_EQ(Money{10'000'000'000}.to_decimal(), "10");
  EXPECT_EQ(Money{123'456'789'012}.decimal().view(), "123.456789012");
  EXPECT_EQ(Money{INT64_MIN}.decimal().view(), "-9223372036.854775808");
  EXPECT_EQ(Money::from_usd(2.5).nano_usd, 2'500'000'000);
}

TEST(Money, RejectsNegativeAndNonFinitePrices) {
  EXPECT_FALSE(PricePerMillion::from_usd(-1));
  EXPECT_FALSE(PricePerMillion::from_usd(std::numeric_limits<double>::infinity()));
}

TEST(Url, ParsesSchemesPortsAndPaths) {
  auto url = parse_url("https://api.openai.com/v1/");
  ASSERT_TRUE(url);
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->path, "/v1");
  EXPECT_EQ(url->host_header(), "api.openai.com");
  url = parse_url("http://127.0.0.1:9101/v1");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host_header(), "127.0.0.1:9101");
  url = parse_url("http://[::1]:8000");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->host_header(), "[::1]:8000");
  EXPECT_EQ(url->path, "");
}

TEST(Url, RejectsWhatABaseUrlMustNotHave) {
  for (const char* bad : {"ftp://x/v1", "http://", "http://a:b@host/v1", "http://host/v1?key=1",
                          "http://host:99999/", "http://host:0/", "http://ho st/"}) {
    EXPECT_FALSE(parse_url(bad)) << bad;
  }
}

TEST(HostPort, ParsesListenAddresses) {
  auto hp = parse_host_port("0.0.0.0:8080");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "0.0.0.0");
  EXPECT_EQ(hp->port, 8080);
  hp = parse_host_port("[::]:0");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "::");
  EXPECT_FALSE(parse_host_port("8080"));
  EXPECT_FALSE(parse_host_port("host:port"));
}

}  // namespace
}  // namespace fulcrum::core

namespace fulcrum::core {
namespace {

TEST(Base64, RoundTripsEveryLengthAndRefusesWhatIsNotCanonical) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");  // RFC 4648's vectors
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(base64_decode(base64_encode(bytes)), bytes) << i;
    bytes += static_cast<char>(i * 37);
  }
  EXPECT_EQ(base64_decode("eyJ0eXBlIjoicGluZyJ9"), R"({"type":"ping"})");
  for (const char* bad : {"Zg=", "Zg==Zg==", "Z===", "Zm9v!", "Zm=v", "=Zm9", "Zh==", "Zm9=="}) {
    EXPECT_FALSE(base64_decode(bad)) << bad;
  }
}

}  // namespace
}  // namespace fulcrum::core

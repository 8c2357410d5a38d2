// The price catalog: LiteLLM's format, the sanity bound, and YAML prices winning over it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "../support/temp_dir.hpp"
#include "fulcrum/config/loader.hpp"
#include "fulcrum/config/price_catalog.hpp"

namespace fulcrum {
namespace {

using config::PriceCatalog;

// The shared copy of LiteLLM's catalog: FULCRUM_SHARED_DATA (set by CMake to ../shared/data
// beside the project, or by the environment).
std::string shared_catalog() {
  const char* env = std::getenv("FULCRUM_SHARED_DATA");
  const std::string dir = env != nullptr ? env : FULCRUM_SHARED_DATA;
  return dir + "/model_prices_and_context_window.json";
}

double usd(core::PricePerMillion price) { return price.usd(); }

using testing::TempDir;

TEST(PriceCatalog, KnownModelsMatchTheSharedCatalog) {
  if (!std::filesystem::exists(shared_catalog())) {
    GTEST_SKIP() << "no shared catalog at " << shared_catalog()
                 << " (set FULCRUM_SHARED_DATA to its directory)";
  }
  const auto catalog = PriceCatalog::load(shared_catalog(), 1000);
  ASSERT_TRUE(catalog) << catalog.error();
  EXPECT_GT(catalog->size(), 1000u);
  // The file's own rows, per token × 1e6.
  const auto mini = catalog->find("gpt-4o-mini");
  ASSERT_TRUE(mini);
  EXPECT_DOUBLE_EQ(usd(mini->input), 0.15);
  EXPECT_DOUBLE_EQ(usd(mini->cached_input), 0.075);
  EXPECT_DOUBLE_EQ(usd(mini->output), 0.60);
  const auto sonnet = catalog->find("claude-3-5-sonnet-20241022");
  ASSERT_TRUE(sonnet);
  EXPECT_DOUBLE_EQ(usd(sonnet->input), 3);
  EXPECT_DOUBLE_EQ(usd(sonnet->cached_input), 0.3);
  EXPECT_DOUBLE_EQ(usd(sonnet->output), 15);
  EXPECT_DOUBLE_EQ(usd(sonnet->cache_write_input), 3.75);  // cache_creation_input_token_cost
  // Providers' rows as their catalog_prefix finds them: Azure's and Gemini's are prefixed,
  // Anthropic's and Bedrock's are not (their litellm_provider says whose they are).
  const auto azure = catalog->find("azure/gpt-4o");
  ASSERT_TRUE(azure);
  EXPECT_DOUBLE_EQ(usd(azure->cached_input), 1.25);
  EXPECT_DOUBLE_EQ(usd(azure->cache_write_input), 2.5);  // none listed: input's
  ASSERT_TRUE(catalog->find("gemini/gemini-2.0-flash"));
  ASSERT_TRUE(catalog->find("anthropic.claude-3-5-sonnet-20241022-v2:0"));
  const auto llama = catalog->find("together_ai/meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo");
  ASSERT_TRUE(llama);
  EXPECT_DOUBLE_EQ(usd(llama->input), 0.18);
  EXPECT_DOUBLE_EQ(usd(llama->cached_input), 0.18);  // no cache price: input's
  EXPECT_DOUBLE_EQ(usd(llama->output), 0.18);
  // A row with a unit error (0.1 and 0.15 USD per token) is rejected, not priced.
  EXPECT_FALSE(catalog->find("wandb/Qwen/Qwen3-Coder-480B-A35B-Instruct"));
  const auto& rejected = catalog->rejected();
  EXPECT_TRUE(std::any_of(rejected.begin(), rejected.end(), [](const config::RejectedRow& r) {
    return r.model == "wandb/Qwen/Qwen3-Coder-480B-A35B-Instruct" &&
           std::abs(r.usd_per_million - 150000) < 1e-6;  // its output price, the highest
  }));
}

TEST(PriceCatalog, RowsAboveTheBoundAreRejectedAndOthersSkippedQuietly) {
  TempDir dir("catalog");
  const auto path = dir.write("prices.json", R"({
    "sample_spec": {"input_cost_per_token": 0.0, "mode": "one of: chat, embedding"},
    "cheap": {"input_cost_per_token": 1e-7, "output_cost_per_token": 2e-7},
    "absurd": {"input_cost_per_token": 0.002, "output_cost_per_token": 0.004},
    "image-only": {"output_cost_per_image": 0.04},
    "embed": {"input_cost_per_token": 2e-8}
  })");
  const auto catalog = PriceCatalog::load(path, 1000);
  ASSERT_TRUE(catalog);
  EXPECT_DOUBLE_EQ(usd(catalog->find("cheap")->output), 0.2);
  EXPECT_DOUBLE_EQ(usd(catalog->find("embed")->output), 0);  // embeddings: no output price
  EXPECT_FALSE(catalog->find("image-only"));
  ASSERT_EQ(catalog->rejected().size(), 1u);
  EXPECT_EQ(catalog->rejected()[0].model, "absurd");
  EXPECT_DOUBLE_EQ(catalog->rejected()[0].usd_per_million, 4000);
  // A higher bound lets it through.
  EXPECT_TRUE(PriceCatalog::load(path, 5000)->find("absurd"));
  EXPECT_FALSE(PriceCatalog::load(dir.write("broken.json", "{not json"), 1000));
}

TEST(PriceCatalog, YamlPricesWinAndTheRestComesFromTheCatalog) {
  TempDir dir("catalog");
  dir.write("prices.json", R"({
    "together_ai/llama-8b": {"input_cost_per_token": 1.8e-7, "output_cost_per_token": 1.8e-7},
    "together_ai/llama-70b": {"input_cost_per_token": 8.8e-7, "output_cost_per_token": 8.8e-7},
    "together_ai/huge": {"input_cost_per_token": 5, "output_cost_per_token": 5}
  })");
  const std::string config_path = dir.write("fulcrum.yaml", R"(version: 1
pricing: {catalog: prices.json}
endpoints:
  together:
    kind: serverless
    base_url: https://api.together.xyz/v1
    catalog_prefix: together_ai/
    pricing: {llama-70b: {input: 0.5, output: 0.6}}
models:
  small: {targets: [together/llama-8b]}
  large: {targets: [together/llama-70b]}
ledger: {enabled: false}
)");
  const auto config = config::load_file(config_path);
  ASSERT_TRUE(config) << config.error()[0].to_string();
  const auto& small = config->find_alias("small")->targets[0].price;
  EXPECT_DOUBLE_EQ(usd(small.input), 0.18);  // from the catalog
  const auto& large = config->find_alias("large")->targets[0].price;
  EXPECT_DOUBLE_EQ(usd(large.input), 0.5);  // YAML wins
  EXPECT_DOUBLE_EQ(usd(large.output), 0.6);
  ASSERT_EQ(config->warnings.size(), 1u);  // the absurd row, rejected
  EXPECT_NE(config->warnings[0].find("together_ai/huge"), std::string::npos);

  // A model in neither: the error says where it could be added.
  const auto missing = config::load_file(dir.write("missing.yaml", R"(version: 1
pricing: {catalog: prices.json}
endpoints:
  together: {kind: serverless, base_url: https://x/v1, catalog_prefix: together_ai/}
models:
  other: {targets: [together/unknown]}
ledger: {enabled: false}
)"));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error()[0].message.find("'together_ai/unknown'"), std::string::npos);
}

}  // namespace
}  // namespace fulcrum

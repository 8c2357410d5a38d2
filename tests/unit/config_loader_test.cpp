#include <gtest/gtest.h>

#include "fulcrum/config/loader.hpp"

namespace fulcrum::config {
namespace {

const char* env_with_key(const char* name) {
  return std::string_view(name) == "CLOUD_KEY" ? "sk-test-123" : nullptr;
}

constexpr const char* kValid = R"(version: 1
server:
  listen: 0.0.0.0:8080
  admin_listen: 127.0.0.1:9090
  threads: 4
  limits: {max_body_bytes: 1024, max_header_bytes: 4096, header_timeout: 5s, idle_timeout: 2m}
endpoints:
  gpu-a:
    kind: provisioned
    base_url: http://127.0.0.1:9101/v1
    hourly_usd: 2.50
    capacity: {max_concurrency: 8, output_tokens_per_second: 400}
    timeouts: {connect: 250ms, first_byte: 30s, idle: 30s, total: 600s}
  cloud:
    kind: serverless
    base_url: https://api.openai.com/v1
    api_key_env: CLOUD_KEY
    pricing:
      gpt-4o-mini: {input: 0.15, cached_input: 0.075, output: 0.60}
models:
  llama-8b:
    targets: [gpu-a/meta-llama/Llama-3.1-8B-Instruct, cloud/gpt-4o-mini]
)";

std::vector<Issue> issues_of(const std::string& yaml) {
  auto loaded = load_string(yaml, "test.yaml", env_with_key);
  EXPECT_FALSE(loaded.has_value());
  return loaded ? std::vector<Issue>{} : loaded.error();
}

// Replaces the first occurrence of `from` in the valid config.
std::string valid_with(const std::string& from, const std::string& to) {
  std::string text = kValid;
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(ConfigLoader, ReadsEveryFieldOfTheDocumentedSchema) {
  auto loaded = load_string(kValid, "test.yaml", env_with_key);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().front().to_string();
  const Config& config = *loaded;
  EXPECT_EQ(config.server.listen.host, "0.0.0.0");
  EXPECT_EQ(config.server.listen.port, 8080);
  EXPECT_EQ(config.server.threads, 4u);
  EXPECT_EQ(config.server.limits.max_body_bytes, 1024u);
  EXPECT_EQ(config.server.limits.idle_timeout, std::chrono::minutes(2));
  ASSERT_EQ(config.endpoints.size(), 2u);
  const Endpoint& gpu = config.endpoints[0];
  EXPECT_EQ(gpu.name, "gpu-a");
  EXPECT_EQ(gpu.kind, EndpointKind::provisioned);
  EXPECT_DOUBLE_EQ(gpu.hourly_usd, 2.5);
  EXPECT_EQ(gpu.capacity.max_concurrency, 8u);
  EXPECT_EQ(gpu.timeouts.connect, std::chrono::milliseconds(250));
  const Endpoint& cloud = config.endpoints[1];
  EXPECT_TRUE(cloud.base_url.tls);
  EXPECT_EQ(cloud.base_url.host, "api.openai.com");
  EXPECT_EQ(cloud.base_url.port, 443);
  EXPECT_EQ(cloud.base_url.path, "/v1");
  EXPECT_EQ(cloud.api_key.reveal(), "sk-test-123");
  EXPECT_EQ(cloud.pricing.at("gpt-4o-mini").cached_input.micro_usd, 75'000);

  const ModelAlias* alias = config.find_alias("llama-8b");
  ASSERT_NE(alias, nullptr);
  ASSERT_EQ(alias->targets.size(), 2u);
  // Split at the first '/': the upstream model keeps its own slashes.
  EXPECT_EQ(alias->targets[0].upstream_model, "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ(alias->targets[0].price.output.micro_usd, 0);  // provisioned: paid by the hour
  EXPECT_EQ(alias->targets[1].endpoint, 1u);
  EXPECT_EQ(alias->targets[1].price.output.micro_usd, 600'000);
  EXPECT_EQ(config.find_alias("missing"), nullptr);
}

TEST(ConfigLoader, UnknownKeyIsReportedWithLineAndColumn) {
  const auto issues =
      issues_of(valid_with("    hourly_usd: 2.50\n", "    hourly_usd: 2.50\n    hourly_eur: 2\n"));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].line, 12);
  EXPECT_EQ(issues[0].column, 5);
  EXPECT_EQ(issues[0].to_string(), "test.yaml:12:5: unknown key 'hourly_eur' in endpoint 'gpu-a'");
}

TEST(ConfigLoader, WrongTypeIsReported) {
  const auto issues = issues_of(valid_with("threads: 4", "threads: many"));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].line, 5);
  EXPECT_NE(issues[0].message.find("threads must be a non-negative integer"), std::string::npos);
}

TEST(ConfigLoader, UnknownEndpointInTargetIsReported) {
  const auto issues = issues_of(valid_with("cloud/gpt-4o-mini]", "clod/gpt-4o-mini]"));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].line, 22);
  EXPECT_NE(issues[0].message.find("unknown endpoint 'clod'"), std::string::npos);
}

// A target map missing its model used to report a second, false problem: "unknown key
// 'weight'", because the early return skipped claiming it.
TEST(ConfigLoader, ATargetMissingItsModelReportsOnlyThat) {
  const auto issues = issues_of(valid_with("cloud/gpt-4o-mini]", "{endpoint: cloud, weight: 2}]"));
  ASSERT_EQ(issues.size(), 1u) << issues[0].to_string();
  EXPECT_NE(issues[0].message.find("model"), std::string::npos) << issues[0].to_string();
  EXPECT_EQ(issues[0].message.find("weight"), std::string::npos) << issues[0].to_string();
}

TEST(ConfigLoader, ServerlessTargetWithoutPriceIsReported) {
  const auto issues = issues_of(valid_with("cloud/gpt-4o-mini]", "cloud/gpt-4o]"));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].message.find("no price for model 'gpt-4o'"), std::string::npos);
}

TEST(ConfigLoader, ProvisionedEndpointWithoutHourlyPriceIsReported) {
  const auto issues = issues_of(valid_with("    hourly_usd: 2.50\n", ""));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].line, 9);
  EXPECT_NE(issues[0].message.find("needs hourly_usd"), std::string::npos);
}

TEST(ConfigLoader, BadDurationIsReported) {
  const auto issues = issues_of(valid_with("first_byte: 30s", "first_byte: 30 seconds"));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].line, 13);
  EXPECT_NE(issues[0].message.find("first_byte must be a duration"), std::string::npos);
}

TEST(ConfigLoader, MissingPriceFieldAndMissingEnvironmentVariableAreBothReported) {
  auto text = valid_with("{input: 0.15, cached_input: 0.075, output: 0.60}", "{input: 0.15}");
  auto loaded = load_string(text, "test.yaml", [](const char*) -> const char* { return nullptr; });
  ASSERT_FALSE(loaded.has_value());
  const auto& issues = loaded.error();
  ASSERT_EQ(issues.size(), 2u);
  // Sorted by position: the environment variable comes first in the file.
  EXPECT_NE(issues[0].message.find("CLOUD_KEY (api_key_env) is not set"), std::string::npos);
  EXPECT_NE(issues[1].message.find("needs 'output'"), std::string::npos);
}

TEST(ConfigLoader, SyntaxErrorIsReportedWithPosition) {
  const auto issues = issues_of("version: 1\nendpoints: {a: [}\n");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].line, 2);
}

TEST(ConfigLoader, EveryProblemIsListedInOnePass) {
  auto text = valid_with("kind: serverless", "kind: lambda");
  text = text.replace(text.find("version: 1"), 10, "version: 2");
  const auto issues = issues_of(text);
  ASSERT_GE(issues.size(), 2u);
  EXPECT_NE(issues[0].message.find("version must be 1"), std::string::npos);
  EXPECT_NE(issues[1].message.find("kind must be 'serverless' or 'provisioned'"),
            std::string::npos);
}

TEST(ConfigLoader, KeysWithControlCharactersAreRejectedWithoutBeingQuoted) {
  auto loaded = load_string(kValid, "test.yaml", [](const char*) -> const char* {
    return "sk-secret-value\r\nX-Injected: 1";
  });
  ASSERT_FALSE(loaded.has_value());
  ASSERT_EQ(loaded.error().size(), 1u);
  EXPECT_NE(loaded.error()[0].message.find("contains spaces or control characters"),
            std::string::npos);
  EXPECT_EQ(loaded.error()[0].message.find("sk-secret-value"), std::string::npos);
}

TEST(ConfigLoader, EndpointNamesAreRestricted) {
  const auto issues = issues_of(valid_with("  gpu-a:\n", "  GPU A:\n"));
  ASSERT_FALSE(issues.empty());
  EXPECT_NE(issues[0].message.find("must match [a-z0-9_-]+"), std::string::npos);
}

TEST(ConfigLoader, UrlWithCredentialsIsRejected) {
  const auto issues =
      issues_of(valid_with("http://127.0.0.1:9101/v1", "http://user:pw@127.0.0.1:9101/v1"));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].message.find("base_url must be"), std::string::npos);
}

TEST(ConfigLoader, AnEndpointServesEveryApiUnlessItsApisSayOtherwise) {
  auto loaded = load_string(
      valid_with("    hourly_usd: 2.50\n", "    hourly_usd: 2.50\n    apis: [chat, completions]\n"),
      "test.yaml", env_with_key);
  ASSERT_TRUE(loaded.has_value());
  const Endpoint& gpu = loaded->endpoints[0];
  EXPECT_TRUE(gpu.serves(Api::chat));
  EXPECT_TRUE(gpu.serves(Api::completions));
  EXPECT_FALSE(gpu.serves(Api::responses));
  EXPECT_FALSE(gpu.serves(Api::embeddings));
  for (Api api : {Api::chat, Api::completions, Api::embeddings, Api::responses}) {
    EXPECT_TRUE(loaded->endpoints[1].serves(api));
  }
}

TEST(ConfigLoader, ApisMustNameKnownOperations) {
  auto issues = issues_of(
      valid_with("    hourly_usd: 2.50\n", "    hourly_usd: 2.50\n    apis: [chat, assistants]\n"));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].line, 12);
  EXPECT_NE(issues[0].message.find("unknown api 'assistants'"), std::string::npos);
  issues = issues_of(valid_with("    hourly_usd: 2.50\n", "    hourly_usd: 2.50\n    apis: []\n"));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].message.find("non-empty list"), std::string::npos);
}

// The prewarm ping is a chat completion: an endpoint that serves no chat cannot take it.
TEST(ConfigLoader, PrewarmNeedsAnEndpointThatServesChat) {
  const auto issues =
      issues_of(valid_with("    hourly_usd: 2.50\n",
                           "    hourly_usd: 2.50\n    apis: [responses]\n"
                           "    prewarm: [{cron: \"0 8 * * *\", for: 1h, model: m}]\n"));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].message.find("apis leaves out chat"), std::string::npos);
}

// Automatic prewarm follows the ledger's profile instead of a window: it needs a cold start to
// warm ahead of, and takes no window of its own.
TEST(ConfigLoader, AutomaticPrewarmNeedsAColdStartAndNoWindow) {
  const auto endpoint_with = [](const std::string& lines) {
    return "version: 1\nendpoints:\n  cold:\n    kind: serverless\n"
           "    base_url: http://127.0.0.1:1/v1\n    pricing: {m: {input: 1, output: 1}}\n" +
           lines + "models:\n  m: {targets: [cold/m]}\n";
  };
  auto loaded = load_string(endpoint_with("    cold_start: {after_idle: 60s, p50: 5s, p95: 9s}\n"
                                          "    prewarm: {auto: true}\n"),
                            "auto.yaml");
  ASSERT_TRUE(loaded.has_value()) << loaded.error().front().to_string();
  ASSERT_EQ(loaded->endpoints[0].prewarm.size(), 1u);
  EXPECT_TRUE(loaded->endpoints[0].prewarm[0].automatic);
  EXPECT_EQ(loaded->endpoints[0].prewarm[0].model, "m");
  EXPECT_EQ(loaded->endpoints[0].prewarm[0].every, std::chrono::seconds(30));  // after_idle / 2

  auto issues = issues_of(endpoint_with("    prewarm: {auto: true}\n"));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].line, 7);
  EXPECT_NE(issues[0].message.find("it needs cold_start"), std::string::npos);
  issues =
      issues_of(endpoint_with("    cold_start: {after_idle: 60s, p50: 5s, p95: 9s}\n"
                              "    prewarm: [{auto: true, for: 1h}]\n"));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].message.find("prewarm auto has no window"), std::string::npos);
  issues =
      issues_of(endpoint_with("    cold_start: {after_idle: 60s, p50: 5s, p95: 9s}\n"
                              "    prewarm: {auto: maybe}\n"));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].message.find("true or false"), std::string::npos);
}

TEST(ConfigLoader, MissingFileIsReported) {
  auto loaded = load_file("/nonexistent/fulcrum.yaml");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error()[0].to_string(), "/nonexistent/fulcrum.yaml: cannot read the file");
}

namespace commitments {

// kValid's gpu-a with these lines after its hourly_usd (line 11): they start at line 12.
std::string with_commitments(const std::string& lines) {
  return valid_with("    hourly_usd: 2.50\n", "    hourly_usd: 2.50\n" + lines);
}

TEST(ConfigLoaderCommitments, AProvisionedEndpointListsItsCommittedPricesInOrder) {
  auto loaded = load_string(with_commitments("    commitments:\n"
                                             "      6_month: {hourly_usd: 1.60}\n"
                                             "      1_month: {hourly_usd: 2}\n"),
                            "test.yaml", env_with_key);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().front().to_string();
  const Endpoint& gpu = loaded->endpoints.at(0);
  EXPECT_DOUBLE_EQ(gpu.hourly_usd, 2.5);  // on demand, what the router and meters use
  ASSERT_EQ(gpu.commitments.size(), 2u);
  EXPECT_EQ(gpu.commitments[0].name, "6_month");
  EXPECT_DOUBLE_EQ(gpu.commitments[0].hourly_usd, 1.6);
  EXPECT_EQ(gpu.commitments[1].name, "1_month");
  EXPECT_DOUBLE_EQ(gpu.commitments[1].hourly_usd, 2);
  EXPECT_TRUE(loaded->endpoints.at(1).commitments.empty());
}

// Each mistake alone, with where it is: {the lines, line, column, what the message says}.
TEST(ConfigLoaderCommitments, EachMistakeIsReportedWhereItIs) {
  struct Case {
    std::string lines;
    int line;
    int column;
    std::string message;
  };
  const std::vector<Case> cases{
      {"    commitments: {1_month: {hourly_usd: 0}}\n", 12, 41,
       "hourly_usd of commitment '1_month' must be above 0"},
      {"    commitments: {1_month: {hourly_usd: -2}}\n", 12, 41,
       "hourly_usd must be a non-negative number"},
      {"    commitments: {1_month: {hourly_usd: cheap}}\n", 12, 41,
       "hourly_usd must be a non-negative number"},
      {"    commitments:\n      1_month: {hourly_usd: 2}\n      1_month: {hourly_usd: 1}\n", 14, 7,
       "duplicate key '1_month' in commitments of 'gpu-a'"},
      {"    commitments: {1_month: {hourly_usd: 2, months: 1}}\n", 12, 44,
       "unknown key 'months' in commitment '1_month'"},
      {"    commitments: {1_month: {}}\n", 12, 28, "commitment '1_month' needs 'hourly_usd'"},
      {"    commitments: {One Month: {hourly_usd: 2}}\n", 12, 19,
       "commitment name 'One Month' must match [a-z0-9_-]+"},
      {"    commitments: [1_month]\n", 12, 18, "commitments of 'gpu-a' must be a mapping"},
      {"    commitments: {1_month: 2}\n", 12, 28, "commitment '1_month' must be a mapping"},
  };
  for (const Case& c : cases) {
    const auto issues = issues_of(with_commitments(c.lines));
    ASSERT_EQ(issues.size(), 1u) << c.lines << (issues.empty() ? "" : issues[0].to_string());
    EXPECT_EQ(issues[0].line, c.line) << c.lines;
    EXPECT_EQ(issues[0].column, c.column) << c.lines;
    EXPECT_EQ(issues[0].message, c.message) << c.lines;
  }
}

TEST(ConfigLoaderCommitments, AServerlessEndpointHasNoCommitments) {
  const auto issues = issues_of(
      valid_with("    api_key_env: CLOUD_KEY\n",
                 "    api_key_env: CLOUD_KEY\n    commitments: {1_month: {hourly_usd: 2}}\n"));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].to_string(),
            "test.yaml:18:18: commitments apply to provisioned endpoints only");
}

}  // namespace commitments

namespace flex {

constexpr const char* kCloudPrice = "{input: 0.15, cached_input: 0.075, output: 0.60}";
constexpr const char* kRoutes =
    "routes:\n  - {name: bulk, match: {model: [llama-8b]}, flex_for: [batch]}\n";

TEST(ConfigLoaderFlex, AModelsFlexPricesReachItsTargetAndARouteNamesItsFlexClasses) {
  const std::string text = valid_with(kCloudPrice,
                                      "{input: 0.15, cached_input: 0.075, output: 0.60, "
                                      "flex: {input: 0.075, output: 0.30}}") +
                           kRoutes;
  auto loaded = load_string(text, "test.yaml", env_with_key);
  ASSERT_TRUE(loaded.has_value()) << loaded.error()[0].to_string();
  const Target& cloud = loaded->find_alias("llama-8b")->targets[1];
  EXPECT_EQ(cloud.price.input.micro_usd, 150'000);
  ASSERT_TRUE(cloud.flex_price.has_value());
  EXPECT_EQ(cloud.flex_price->input.micro_usd, 75'000);
  EXPECT_EQ(cloud.flex_price->output.micro_usd, 300'000);
  // Unstated cached and cache-write prices are the flex input price, as for the normal tier.
  EXPECT_EQ(cloud.flex_price->cached_input.micro_usd, 75'000);
  EXPECT_EQ(cloud.flex_price->cache_write_input.micro_usd, 75'000);
  EXPECT_FALSE(loaded->find_alias("llama-8b")->targets[0].flex_price.has_value());
  EXPECT_EQ(loaded->routes[0].flex_for, std::vector<std::size_t>{*loaded->find_slo_class("batch")});
  EXPECT_TRUE(loaded->routes.back().flex_for.empty());  // the catch-all
}

TEST(ConfigLoaderFlex, AModelWithoutFlexPricesHasNone) {
  auto loaded = load_string(std::string(kValid) + kRoutes, "test.yaml", env_with_key);
  ASSERT_TRUE(loaded.has_value()) << loaded.error()[0].to_string();
  EXPECT_FALSE(loaded->find_alias("llama-8b")->targets[1].flex_price.has_value());
}

TEST(ConfigLoaderFlex, EachMistakeIsReportedWhereItIs) {
  const std::string text =
      valid_with(kCloudPrice,
                 "{input: 0.15, output: 0.60, flex: {input: 0.075, outptu: 0.30, "
                 "flex: {input: 1, output: 1}}}") +
      "routes:\n  - {name: bulk, flex_for: [batch, bulk, batch]}\n";
  const auto issues = issues_of(text);
  ASSERT_EQ(issues.size(), 5u);
  EXPECT_EQ(issues[0].to_string(), "test.yaml:19:54: flex pricing of 'gpt-4o-mini' needs 'output'");
  EXPECT_EQ(issues[1].line, 19);
  EXPECT_NE(issues[1].message.find("unknown key 'outptu'"), std::string::npos);
  EXPECT_EQ(issues[2].line, 19);
  EXPECT_NE(issues[2].message.find("unknown key 'flex'"), std::string::npos);
  EXPECT_EQ(issues[3].line, 24);
  EXPECT_NE(issues[3].message.find("unknown SLO class 'bulk'"), std::string::npos);
  EXPECT_EQ(issues[4].line, 24);
  EXPECT_NE(issues[4].message.find("flex_for names SLO class 'batch' twice"), std::string::npos);
}

TEST(ConfigLoaderFlex, FlexPricesAreForOpenAisWireOnly) {
  const std::string text = valid_with(
      "    pricing:\n      gpt-4o-mini: {input: 0.15, cached_input: 0.075, output: 0.60}",
      "    provider: azure\n    pricing:\n"
      "      gpt-4o-mini: {input: 0.15, output: 0.60, flex: {input: 0.075, output: 0.30}}");
  const auto issues = issues_of(text);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].line, 20);
  EXPECT_NE(issues[0].message.find("flex prices apply to provider openai endpoints"),
            std::string::npos)
      << issues[0].to_string();
  EXPECT_NE(issues[0].message.find("endpoint 'cloud' is provider azure"), std::string::npos);
}

}  // namespace flex

namespace bedrock {

constexpr const char* kBedrock = R"(version: 1
endpoints:
  claude:
    kind: serverless
    provider: bedrock
    base_url: https://bedrock-runtime.eu-west-3.amazonaws.com
    pricing:
      anthropic.claude-sonnet-4-5-v1:0: {input: 3, output: 15}
models:
  claude:
    targets: ["claude/anthropic.claude-sonnet-4-5-v1:0"]
)";

const char* aws_env(const char* name) {
  const std::string_view n(name);
  if (n == "AWS_ACCESS_KEY_ID") return "AKIDEXAMPLE";
  if (n == "AWS_SECRET_ACCESS_KEY") return "secret/key+value";
  if (n == "BEDROCK_API_KEY") return "bedrock-api-key";
  return nullptr;
}

std::string with(std::string text, const std::string& after, const std::string& line) {
  const auto at = text.find(after);
  EXPECT_NE(at, std::string::npos) << after;
  return text.insert(text.find('\n', at) + 1, line);
}

TEST(ConfigLoaderBedrock, TheRegionComesFromTheHostAndCredentialsFromTheAwsVariables) {
  const auto loaded = load_string(kBedrock, "test.yaml", aws_env);
  ASSERT_TRUE(loaded.has_value()) << loaded.error()[0].message;
  const Endpoint& endpoint = loaded->endpoints[0];
  EXPECT_EQ(endpoint.provider.aws_region, "eu-west-3");
  EXPECT_TRUE(endpoint.provider.signs_v4());
  EXPECT_EQ(endpoint.provider.aws_access_key_id.reveal(), "AKIDEXAMPLE");
  EXPECT_TRUE(endpoint.provider.aws_session_token.empty());  // long-term keys carry none
  EXPECT_TRUE(endpoint.serves(Api::chat));
  EXPECT_FALSE(endpoint.serves(Api::messages));  // InvokeModel: Claude endpoints opt in
  EXPECT_FALSE(endpoint.serves(Api::embeddings));
}

TEST(ConfigLoaderBedrock, MessagesAreOptInAndTheSessionTokenFollowsTheKeyVariables) {
  const auto claude = load_string(
      with(kBedrock, "provider: bedrock", "    apis: [chat, messages]\n"), "test.yaml", aws_env);
  ASSERT_TRUE(claude.has_value()) << claude.error()[0].message;
  EXPECT_TRUE(claude->endpoints[0].serves(Api::messages));
  const auto token_env = [](const char* name) -> const char* {
    return std::string_view(name) == "AWS_SESSION_TOKEN" ? "token-of-the-aws-keys" : aws_env(name);
  };
  // The default names, spelled out: the token that goes with them is read.
  const auto spelled = load_string(
      with(kBedrock, "provider: bedrock", "    aws_access_key_id_env: AWS_ACCESS_KEY_ID\n"),
      "test.yaml", token_env);
  ASSERT_TRUE(spelled.has_value());
  EXPECT_EQ(spelled->endpoints[0].provider.aws_session_token.reveal(), "token-of-the-aws-keys");
  // Keys from elsewhere: AWS_SESSION_TOKEN belongs to other credentials and is not read.
  const auto renamed =
      load_string(with(kBedrock, "provider: bedrock",
                       "    aws_access_key_id_env: BEDROCK_API_KEY\n    aws_secret_access_key_env: "
                       "BEDROCK_API_KEY\n"),
                  "test.yaml", token_env);
  ASSERT_TRUE(renamed.has_value());
  EXPECT_TRUE(renamed->endpoints[0].provider.aws_session_token.empty());
}

TEST(ConfigLoaderBedrock, ABedrockApiKeyReplacesSigning) {
  const std::string text = with(kBedrock, "provider: bedrock",
                                "    api_key_env: BEDROCK_API_KEY\n    region: us-east-1\n");
  const auto loaded = load_string(text, "test.yaml", aws_env);
  ASSERT_TRUE(loaded.has_value()) << loaded.error()[0].message;
  EXPECT_FALSE(loaded->endpoints[0].provider.signs_v4());
  EXPECT_EQ(loaded->endpoints[0].provider.aws_region, "us-east-1");
  // Both at once is a mistake worth naming.
  const auto both = load_string(with(text, "api_key_env", "    aws_access_key_id_env: MY_ID\n"),
                                "test.yaml", aws_env);
  ASSERT_FALSE(both.has_value());
  EXPECT_NE(both.error()[0].message.find("not signed with AWS credentials"), std::string::npos);
}

TEST(ConfigLoaderBedrock, MissingCredentialsOrRegionAreReportedWithoutValues) {
  const auto none =
      load_string(kBedrock, "test.yaml", [](const char*) -> const char* { return nullptr; });
  ASSERT_FALSE(none.has_value());
  ASSERT_EQ(none.error().size(), 2u);
  EXPECT_NE(none.error()[0].message.find("AWS_ACCESS_KEY_ID"), std::string::npos);
  EXPECT_NE(none.error()[1].message.find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
  std::string local = kBedrock;
  local.replace(local.find("https://bedrock-runtime.eu-west-3.amazonaws.com"), 47,
                "http://127.0.0.1:9105");
  const auto regionless = load_string(local, "test.yaml", aws_env);
  ASSERT_FALSE(regionless.has_value());
  EXPECT_NE(regionless.error()[0].message.find("needs region"), std::string::npos);
  // AWS settings on another provider are refused rather than ignored.
  const auto misplaced =
      load_string(valid_with("    api_key_env: CLOUD_KEY\n",
                             "    api_key_env: CLOUD_KEY\n    region: us-east-1\n"),
                  "test.yaml", env_with_key);
  ASSERT_FALSE(misplaced.has_value());
  EXPECT_NE(misplaced.error()[0].message.find("provider bedrock only"), std::string::npos);
}

}  // namespace bedrock

const char* scale_env(const char* name) {
  const std::string_view n(name);
  if (n == "REDIS_URL") return "redis://app:s3cret-pw@redis.internal:6380/2";
  if (n == "LEDGER_URL") return "postgresql://fulcrum:s3cret-pw@db:5432/fulcrum";
  return env_with_key(name);
}

TEST(ConfigLoaderScale, SharedStateTheLedgerInPostgresAndEngineLoadAreRead) {
  const std::string shared = R"(state:
  redis: {url_env: REDIS_URL, key_prefix: "prod:", timeout: 20ms, lease_ttl: 6s}
  replicas: 3
  on_state_unavailable: {capacity: closed, budgets: closed}
ledger:
  postgres: {url_env: LEDGER_URL, spool_rows: 5000}
)";
  const auto loaded =
      load_string(valid_with("    capacity: {max_concurrency: 8, output_tokens_per_second: 400}\n",
                             "    capacity: {max_concurrency: 8, output_tokens_per_second: 400}\n"
                             "    load: {metrics_url: http://gpu-a:8000/metrics, format: sglang, "
                             "interval: 100ms, stale_after: 1s}\n") +
                      shared,
                  "test.yaml", scale_env);
  ASSERT_TRUE(loaded.has_value()) << loaded.error()[0].to_string();
  const SharedStateConfig& state = loaded->state;
  ASSERT_TRUE(state.redis);
  EXPECT_EQ(state.redis->host, "redis.internal");
  EXPECT_EQ(state.redis->port, 6380);
  EXPECT_EQ(state.redis->database, 2u);
  EXPECT_EQ(state.redis->username, "app");
  EXPECT_EQ(state.redis->password.reveal(), "s3cret-pw");
  EXPECT_EQ(state.redis->key_prefix, "prod:");
  EXPECT_EQ(state.redis->timeout, std::chrono::milliseconds(20));
  EXPECT_EQ(state.redis->lease_ttl, std::chrono::seconds(6));
  EXPECT_EQ(state.replicas, 3u);
  EXPECT_EQ(state.capacity, WhenStateUnavailable::closed);
  EXPECT_EQ(state.rate_limits, WhenStateUnavailable::local);  // the default
  EXPECT_EQ(state.budgets, WhenStateUnavailable::closed);
  ASSERT_TRUE(loaded->ledger.postgres);
  EXPECT_EQ(loaded->ledger.postgres->url.reveal(),
            "postgresql://fulcrum:s3cret-pw@db:5432/fulcrum");
  EXPECT_EQ(loaded->ledger.postgres->spool_rows, 5000u);
  const Endpoint& gpu = loaded->endpoints[0];
  ASSERT_TRUE(gpu.load);
  EXPECT_EQ(gpu.load->metrics_url.host, "gpu-a");
  EXPECT_EQ(gpu.load->metrics_url.path, "/metrics");
  EXPECT_EQ(gpu.load->format, EngineFormat::sglang);
  EXPECT_EQ(gpu.load->interval, std::chrono::milliseconds(100));
  EXPECT_EQ(gpu.load->stale_after, std::chrono::seconds(1));
}

TEST(ConfigLoaderScale, MistakesAreReportedWithoutQuotingSecrets) {
  const auto issues = [](const std::string& extra) {
    std::string all;
    for (const Issue& issue : issues_of(std::string(kValid) + extra))
      all += issue.to_string() + "\n";
    return all;
  };
  const std::string bad_url = issues("state: {redis: {url: \"redis://u:hunter2@:0\"}}\n");
  EXPECT_NE(bad_url.find("state.redis"), std::string::npos) << bad_url;
  EXPECT_EQ(bad_url.find("hunter2"), std::string::npos) << bad_url;
  EXPECT_NE(issues("state: {redis: {url: \"rediss://h:6379\"}}\n").find("TLS"), std::string::npos);
  EXPECT_NE(issues("state: {redis: {url: redis://h}, on_state_unavailable: {capacity: open}}\n")
                .find("must be local or closed"),
            std::string::npos);
  EXPECT_NE(issues("state: {redis: {url: redis://h, lease_ttl: 200ms}}\n").find("at least 1s"),
            std::string::npos);
  EXPECT_NE(issues("ledger: {postgres: {url_env: NOT_SET}}\n").find("NOT_SET"), std::string::npos);
  std::string serverless_load;
  for (const Issue& issue : issues_of(
           valid_with("    api_key_env: CLOUD_KEY\n",
                      "    api_key_env: CLOUD_KEY\n    load: {metrics_url: http://h/metrics}\n"))) {
    serverless_load += issue.message;
  }
  EXPECT_NE(serverless_load.find("load applies to provisioned endpoints only"), std::string::npos)
      << serverless_load;
}

}  // namespace
}  // namespace fulcrum::config

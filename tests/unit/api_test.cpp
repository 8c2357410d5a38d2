#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "fulcrum/api/error.hpp"
#include "fulcrum/api/prompt_features.hpp"
#include "fulcrum/api/request.hpp"
#include "fulcrum/api/sse_scanner.hpp"
#include "fulcrum/api/usage.hpp"
#include "fulcrum/api/usage_reader.hpp"
#include "fulcrum/config/config.hpp"
#include "fulcrum/metering/cost.hpp"

namespace fulcrum::api {
namespace {

TEST(Usage, ReadsOpenAiUsageWithCachedTokens) {
  const auto usage = usage_in_document(
      R"({"id":"x","choices":[],"usage":{"prompt_tokens":120,"completion_tokens":30,)"
      R"("total_tokens":150,"prompt_tokens_details":{"cached_tokens":100}}})");
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->input, 120);
  EXPECT_EQ(usage->cached_input, 100);
  EXPECT_EQ(usage->output, 30);
  EXPECT_EQ(usage->uncached_input(), 20);
}

TEST(Usage, EmbeddingsHaveNoCompletionTokens) {
  const auto usage =
      usage_in_document(R"({"data":[],"usage":{"prompt_tokens":5,"total_tokens":5}})");
  ASSERT_TRUE(usage);
  EXPECT_EQ(*usage, (Usage{.input = 5}));
}

TEST(Usage, MissingNullOrMalformedUsageIsNotInvented) {
  EXPECT_FALSE(usage_in_document(R"({"choices":[]})"));
  EXPECT_FALSE(usage_in_document(R"({"usage":null})"));
  EXPECT_FALSE(usage_in_document(R"({"usage":{"prompt_tokens":-1,"completion_tokens":2}})"));
  EXPECT_FALSE(usage_in_document(R"({"usage":{"prompt_tokens":"7","completion_tokens":2}})"));
  EXPECT_FALSE(usage_in_document("not json"));
}

TEST(Usage, ReasoningAndCacheWritesArePartsOfOutputAndInputInBothReaders) {
  // OpenAI: reasoning inside completion_tokens. Azure's Responses usage: cache writes inside
  // input_tokens. The plain reader and the full parser agree on both.
  const std::string chat =
      R"({"prompt_tokens":100,"completion_tokens":40,"prompt_tokens_details":{"cached_tokens":30},)"
      R"("completion_tokens_details":{"reasoning_tokens":25}})";
  const std::string responses =
      R"({"input_tokens":100,"output_tokens":40,"input_tokens_details":{"cached_tokens":30,)"
      R"("cache_write_tokens":20},"output_tokens_details":{"reasoning_tokens":25}})";
  const Usage chat_usage{.input = 100, .cached_input = 30, .output = 40, .reasoning = 25};
  const Usage responses_usage{
      .input = 100, .cached_input = 30, .cache_write = 20, .output = 40, .reasoning = 25};
  EXPECT_EQ(read_plain_usage(chat), chat_usage);
  EXPECT_EQ(usage_from(nlohmann::json::parse(chat)), chat_usage);
  EXPECT_EQ(read_plain_usage(responses), responses_usage);
  EXPECT_EQ(usage_from(nlohmann::json::parse(responses)), responses_usage);
  EXPECT_EQ(responses_usage.uncached_input(), 50);
  // Parts never exceed their whole.
  const auto capped = usage_from(nlohmann::json::parse(
      R"({"prompt_tokens":5,"completion_tokens":3,"completion_tokens_details":{"reasoning_tokens":9}})"));
  ASSERT_TRUE(capped);
  EXPECT_EQ(capped->reasoning, 3);
  // A malformed part is malformed usage, in both readers.
  const std::string bad =
      R"({"prompt_tokens":5,"completion_tokens_details":{"reasoning_tokens":-1}})";
  EXPECT_FALSE(read_plain_usage(bad));
  EXPECT_FALSE(usage_from(nlohmann::json::parse(bad)));
}

TEST(PlainUsage, ReadsTheShapesUpstreamsSendWithoutAParser) {
  const auto openai = read_plain_usage(
      R"({"completion_tokens":16,"prompt_tokens":11,"prompt_tokens_details":{"cached_tokens":4},)"
      R"("completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":null},"total_tokens":27})");
  ASSERT_TRUE(openai);
  EXPECT_EQ(*openai, (Usage{.input = 11, .cached_input = 4, .output = 16}));
  // Spaced out, with a float cost and a list (OpenRouter, vLLM), null details, no completion.
  const auto others = read_plain_usage(
      " {\n \"prompt_tokens\" : 5 ,\"cost\": 0.00015, \"ids\": [1, [true, false], \"x\"],"
      "\"prompt_tokens_details\": null } ");
  ASSERT_TRUE(others);
  EXPECT_EQ(*others, (Usage{.input = 5, .cached_input = 0, .output = 0}));
  // More cached than prompt tokens: capped, as the full reader does.
  EXPECT_EQ(read_plain_usage(R"({"prompt_tokens":2,"prompt_tokens_details":{"cached_tokens":9}})")
                ->cached_input,
            2);
}

TEST(PlainUsage, ReadsTheUsageWhereItLiesWhateverFollowsIt) {
  // OpenAI's answers go on after usage (service_tier, system_fingerprint); the usage is read
  // from its opening brace, without finding its end first.
  const std::string answer =
      R"({"id":"c","choices":[],"usage":{"prompt_tokens":256,"completion_tokens":48,)"
      R"("prompt_tokens_details":{"cached_tokens":6}},"service_tier":"default",)"
      R"("system_fingerprint":"fp_x"})";
  const Usage expected{.input = 256, .cached_input = 6, .output = 48};
  EXPECT_EQ(usage_in_document(answer), expected);
  EXPECT_EQ(read_plain_usage_prefix(answer.substr(answer.find("{\"prompt"))), expected);
  // Not plain (an escape): the full parser reads the same object, up to its closing brace.
  const std::string escaped =
      R"({"usage":{"prompt_tokens":3,"completion_tokens":2,"note":"a\"}b"},"x":"}"})";
  EXPECT_FALSE(read_plain_usage_prefix(escaped.substr(9)));
  EXPECT_EQ(usage_in_document(escaped), (Usage{.input = 3, .output = 2}));
  // An object that never closes is not a usage.
  EXPECT_FALSE(read_plain_usage_prefix(R"({"prompt_tokens":3,"completion_tokens":2)"));
}

TEST(PlainUsage, LeavesAnythingItDoesNotFullyUnderstandToTheFullParser) {
  for (const char* text : {
           R"({"prompt_tokens":-1,"completion_tokens":2})",               // negative
           R"({"prompt_tokens":1.0,"completion_tokens":2})",              // a float count
           R"({"prompt_tokens":"7"})",                                    // a string count
           R"({"prompt_tokens":1,"prompt_tokens":2})",                    // duplicate
           R"({"prompt_tokens":0123})",                                   // leading zero
           R"({"prompt_tokens":1234567890123456789})",                    // 19 digits
           R"({"prompt\u005ftokens":1})",                                 // an escape
           R"({"note":"caf\u00e9","prompt_tokens":1})",                   // an escape in a value
           "{\"note\":\"caf\xc3\xa9\",\"prompt_tokens\":1}",              // non-ASCII
           R"({"a":{"b":{"c":{"d":{"e":{"f":1}}}}},"prompt_tokens":1})",  // deep
           R"({"prompt_tokens":1,})",                                     // trailing comma
           R"({"prompt_tokens":1} x)",                                    // trailing text
           R"({"prompt_tokens":nul})",                                    // broken literal
           R"({"x":-,"prompt_tokens":1})",                                // broken number
           R"({"x":1e422,"prompt_tokens":1})",  // beyond a double (fuzzer)
       }) {
    EXPECT_FALSE(read_plain_usage(text)) << text;
  }
}

TEST(Usage, AUsageLookalikeInsideTheCompletionTextIsIgnored) {
  // The model wrote the word "usage" in quotes; the real usage comes first in this body.
  const std::string body =
      R"({"usage":{"prompt_tokens":3,"completion_tokens":4},"choices":[{"message":)"
      R"({"content":"say \"usage\": {\"prompt_tokens\": 999}"}}]})";
  const auto usage = usage_in_document(body);
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->input, 3);
  EXPECT_EQ(usage->output, 4);
}

// The usage object is looked for from the end of the answer, quote by quote; wherever the
// key stands and whatever quotes come after it, the answer is the full parser's.
TEST(Usage, TheLastUsageKeyIsFoundWhateverFollowsIt) {
  for (const std::string& body : {
           std::string(R"({"id":"a","usage":{"prompt_tokens":3,"completion_tokens":4}})"),
           std::string(R"({"usage" : {"prompt_tokens":3,"completion_tokens":4},"x":"\"q\""})"),
           std::string(R"({"usage":{"prompt_tokens":3,"completion_tokens":4},"note":"usage"})"),
           std::string(R"({"usage":{"prompt_tokens":3,"completion_tokens":4}})"),
           std::string(R"({"a":"\"usage\"","usage":{"prompt_tokens":3,"completion_tokens":4}})"),
           std::string(R"({"a":"x","b":"y"})"),
       }) {
    const auto usage = usage_in_document(body);
    const auto document = nlohmann::json::parse(body);
    ASSERT_EQ(static_cast<bool>(usage), document.contains("usage")) << body;
    if (usage) {
      EXPECT_EQ(usage->input, 3) << body;
      EXPECT_EQ(usage->output, 4) << body;
    }
  }
}

TEST(Usage, CachedTokensNeverExceedInput) {
  const auto usage = usage_in_document(
      R"({"usage":{"prompt_tokens":10,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":50}}})");
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->cached_input, 10);
}

TEST(Usage, PreCheckFindsOnlyObjects) {
  EXPECT_TRUE(may_carry_usage(R"(data: {"usage": {"prompt_tokens":1}})"));
  EXPECT_FALSE(may_carry_usage(R"(data: {"usage":null,"choices":[]})"));
  EXPECT_FALSE(may_carry_usage(R"(data: {"choices":[]})"));
}

TEST(Cost, ServerlessCostsTokensTimesPriceWithCachedInputAtItsOwnPrice) {
  config::Price price;
  price.input = *core::PricePerMillion::from_usd(0.15);
  price.cached_input = *core::PricePerMillion::from_usd(0.075);
  price.output = *core::PricePerMillion::from_usd(0.60);
  // 20 uncached × 150 + 100 cached × 75 + 30 out × 600 nano-dollars.
  EXPECT_EQ(metering::marginal_cost(price, Usage{.input = 120, .cached_input = 100, .output = 30})
                .nano_usd,
            3000 + 7500 + 18000);
  EXPECT_EQ(metering::marginal_cost(config::Price{},
                                    Usage{.input = 120, .cached_input = 100, .output = 30})
                .nano_usd,
            0);
}

TEST(Cost, EachPromptTokenIsPricedOnceInItsOwnBucket) {
  config::Price price;
  price.input = *core::PricePerMillion::from_usd(3);
  price.cached_input = *core::PricePerMillion::from_usd(0.30);
  price.cache_write_input = *core::PricePerMillion::from_usd(3.75);
  price.output = *core::PricePerMillion::from_usd(15);
  // Anthropic's lobehub example: input_tokens 100, cache write 10, cache read 20 = 130 prompt
  // tokens; the cache write is not also charged as input (the peers' double count).
  const Usage usage{
      .input = 130, .cached_input = 20, .cache_write = 10, .output = 50, .reasoning = 10};
  EXPECT_EQ(metering::marginal_cost(price, usage).nano_usd,
            100 * 3000 + 20 * 300 + 10 * 3750 + 50 * 15000);
}

std::vector<std::string> split_events(const std::string& stream, std::size_t piece) {
  SseScanner scanner;
  std::vector<std::string> events;
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    scanner.feed(std::string_view(stream).substr(at, piece),
                 [&](std::string_view event) { events.emplace_back(event); });
  }
  return events;
}

TEST(SseScanner, YieldsTheSameEventsHoweverTheBytesAreCut) {
  const std::string stream =
      "data: {\"a\":1}\n\n"
      "event: ping\r\ndata: x\r\n\r\n"
      ": comment\n\n"
      "data: {\"usage\":{}}\ndata: second line\n\n"
      "data: [DONE]\n\n";
  const std::vector<std::string> expected = {
      "data: {\"a\":1}\n\n", "event: ping\r\ndata: x\r\n\r\n", ": comment\n\n",
      "data: {\"usage\":{}}\ndata: second line\n\n", "data: [DONE]\n\n"};
  for (std::size_t piece = 1; piece <= stream.size(); ++piece) {
    EXPECT_EQ(split_events(stream, piece), expected) << "pieces of " << piece << " bytes";
  }
}

TEST(SseScanner, KeepsAnUnfinishedEventAsRemainder) {
  SseScanner scanner;
  int events = 0;
  scanner.feed("data: one\n\ndata: tw", [&](std::string_view) { ++events; });
  EXPECT_EQ(events, 1);
  EXPECT_EQ(scanner.remainder(), "data: tw");
}

TEST(SseData, JoinsDataLines) {
  std::string data;
  EXPECT_TRUE(sse_data("event: x\ndata: a\ndata:b\r\n\n", data));
  EXPECT_EQ(data, "a\nb");
  data.clear();
  EXPECT_FALSE(sse_data(": only a comment\n\n", data));
  data.clear();
  EXPECT_FALSE(sse_data("database: no\n\n", data));
}

TEST(Request, ReadsModelAndStreamFlags) {
  auto parsed =
      parse_request(Operation::chat_completions, R"({"model":"m","stream":true,"messages":[]})");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->model, "m");
  EXPECT_TRUE(parsed->stream);
  EXPECT_FALSE(parsed->client_wants_usage);
  const auto body = nlohmann::json::parse(upstream_body(*parsed, "upstream/model-1"));
  EXPECT_EQ(body["model"], "upstream/model-1");
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(body["messages"], nlohmann::json::array());
  EXPECT_EQ(parsed->model, "m");  // the alias survives the rewrite
}

TEST(Request, NonStreamBodiesAreForwardedWithOnlyTheModelChanged) {
  auto parsed = parse_request(Operation::embeddings, R"({"model":"m","input":"x","dimensions":3})");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(nlohmann::json::parse(upstream_body(*parsed, "e")),
            nlohmann::json::parse(R"({"model":"e","input":"x","dimensions":3})"));
}

TEST(Request, InvalidBodiesBecome400InOpenAiShape) {
  struct Case {
    const char* body;
    const char* param;
  };
  for (const Case& c :
       {Case{"{", ""}, Case{"[1]", ""}, Case{R"({"messages":[]})", "model"},
        Case{R"({"model":7})", "model"}, Case{R"({"model":"m","stream":"yes"})", "stream"}}) {
    auto parsed = parse_request(Operation::chat_completions, c.body);
    ASSERT_FALSE(parsed) << c.body;
    EXPECT_EQ(parsed.error().status, 400u);
    EXPECT_EQ(parsed.error().type, "invalid_request_error");
    EXPECT_EQ(parsed.error().param, c.param);
  }
}

// The string scanner steps over plain text sixteen and eight bytes at a time: whatever byte
// ends the plain run, wherever it falls in a block, the body is accepted exactly when a full
// JSON parser accepts it, and the content reaches the upstream unchanged.
TEST(Request, StringsAreCheckedByteForByteWhereverTheirSpecialBytesFall) {
  for (const char* special : {"\\\"", "\\n", "\\u00e9", "\\u", "\\x", "\xc3\xa9", "\xc3", "\xff",
                              "\x01", "\t", "\"", "\\"}) {
    for (std::size_t at = 0; at <= 40; ++at) {
      const std::string content =
          std::string(at, 'a') + std::string(special) + std::string(40 - at, 'b');
      const std::string body =
          R"({"model":"m","messages":[{"role":"user","content":")" + content + R"("}]})";
      const bool valid = nlohmann::json::accept(body);
      auto parsed = parse_request(Operation::chat_completions, body);
      ASSERT_EQ(static_cast<bool>(parsed), valid) << "special " << special << " at " << at;
      if (!valid) continue;
      const auto sent = nlohmann::json::parse(upstream_body(*parsed, "m2"));
      EXPECT_EQ(sent["messages"][0]["content"],
                nlohmann::json::parse(body)["messages"][0]["content"]);
    }
  }
}

// Every field Fulcrum reads, in every JSON type: a 400 naming the field, or accepted and
// forwarded; never an exception (issue: a string stream_options dropped the connection).
TEST(Request, EveryKnownFieldInEveryJsonTypeIsRefusedByNameOrForwarded) {
  const std::vector<std::string> values = {"null",
                                           "true",
                                           "false",
                                           "0",
                                           "1",
                                           "-1",
                                           "1.5",
                                           "1e308",
                                           "18446744073709551615",
                                           "-9223372036854775808",
                                           "\"x\"",
                                           "\"\"",
                                           "[]",
                                           "[1]",
                                           "[\"a\"]",
                                           "{}",
                                           "{\"a\":1}",
                                           "{\"include_usage\":\"x\"}",
                                           "{\"include_usage\":true}"};
  const std::vector<std::string> fields = {"model",
                                           "messages",
                                           "stream",
                                           "stream_options",
                                           "max_tokens",
                                           "max_completion_tokens",
                                           "n",
                                           "tools",
                                           "response_format",
                                           "input",
                                           "prompt",
                                           "user",
                                           "metadata"};
  const std::map<Operation, std::string> valid = {
      {Operation::chat_completions,
       R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]})"},
      {Operation::completions, R"({"model":"m","stream":true,"prompt":"hi"})"},
      {Operation::embeddings, R"({"model":"m","input":"hi"})"}};
  unsigned refused = 0;
  unsigned forwarded = 0;
  for (const auto& [op, base] : valid) {
    for (const std::string& name : fields) {
      for (const std::string& value : values) {
        auto body = nlohmann::json::parse(base);
        body[name] = nlohmann::json::parse(value);
        const std::string text = body.dump();
        auto parsed = parse_request(op, text);
        if (!parsed) {
          ++refused;
          EXPECT_EQ(parsed.error().status, 400u) << text;
          // The field itself, or a part of it (stream_options.include_usage).
          EXPECT_EQ(parsed.error().param.substr(0, name.size()), name) << text;
          continue;
        }
        ++forwarded;
        std::string out;
        ASSERT_NO_THROW(out = upstream_body(*parsed, "up")) << text;
        const auto sent = nlohmann::json::parse(out);
        EXPECT_EQ(sent["model"], "up");
        EXPECT_NO_THROW((void)prompt_features(*parsed, {"code"})) << text;
      }
    }
  }
  // Both kinds happen: the table is not vacuous in either direction.
  EXPECT_GT(refused, 100u);
  EXPECT_GT(forwarded, 100u);
}

TEST(Request, HostileCountsAreRefusedWithTheLimitNamed) {
  struct Case {
    const char* field;
    const char* value;
    const char* code;
  };
  for (const Case& c :
       {Case{"max_tokens", "18446744073709551615", "integer_above_max_value"},
        Case{"max_tokens", "2147483648", "integer_above_max_value"},
        Case{"max_tokens", "1e308", "invalid_type"}, Case{"max_tokens", "1.5", "invalid_type"},
        Case{"max_tokens", "-1", "integer_below_min_value"},
        Case{"max_tokens", "0", "integer_below_min_value"},
        Case{"max_completion_tokens", "-9223372036854775808", "integer_below_min_value"},
        Case{"n", "0", "integer_below_min_value"}}) {
    const std::string body =
        std::string(R"({"model":"m","messages":[],")") + c.field + "\":" + c.value + "}";
    auto parsed = parse_request(Operation::chat_completions, body);
    ASSERT_FALSE(parsed) << body;
    EXPECT_EQ(parsed.error().param, c.field) << body;
    EXPECT_EQ(parsed.error().code, c.code) << body;
  }
  auto largest = parse_request(Operation::chat_completions,
                               R"({"model":"m","messages":[],"max_tokens":2147483647,"n":3})");
  ASSERT_TRUE(largest);
  const auto features = prompt_features(*largest, {});
  EXPECT_EQ(features.max_tokens, 2147483647u);
  EXPECT_EQ(features.choices, 3u);
}

TEST(Request, AStringStreamOptionsIsA400NotAnException) {
  for (const char* options : {R"("x")", "1", "[]"}) {
    const std::string body = std::string(R"({"model":"m","stream":true,"stream_options":)") +
                             options + R"(,"messages":[{"role":"user","content":"hi"}]})";
    auto parsed = parse_request(Operation::chat_completions, body);
    ASSERT_FALSE(parsed) << body;
    EXPECT_EQ(parsed.error().param, "stream_options");
  }
}

// Bytes the client sent reach the upstream as sent: key order (a JSON schema generated in the
// order of its properties), whitespace, the spelling of numbers and escapes. Only `model` and,
// for streams, stream_options.include_usage change.
TEST(Request, TheUpstreamBodyIsTheClientsBytesWithOnlyTheModelSpliced) {
  const std::string body =
      "{ \"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"schema\": "
      "{\"properties\": {\"reasoning\": {\"type\": \"string\"}, \"answer\": {\"type\": "
      "\"string\"}}}}},\n  \"temperature\": 1.0, \"top_p\": 1e0, \"metadata\": {\"z\": \"1\", "
      "\"a\": \"\\u00e9\"},\n  \"model\" : \"alias\", \"messages\": [{\"role\": \"user\", "
      "\"content\": \"hi\"}] }";
  auto parsed = parse_request(Operation::chat_completions, body);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->model, "alias");
  std::string expected = body;
  expected.replace(expected.find("\"alias\""), 7, "\"vendor/Model-1\"");
  EXPECT_EQ(upstream_body(*parsed, "vendor/Model-1"), expected);
}

TEST(Request, AStreamAsksForUsageWhereverStreamOptionsStands) {
  struct Case {
    std::string options;  // the client's stream_options member, or "" for none
    std::string sent;     // what must reach the upstream in its place
  };
  const std::string head = R"({"model":"m","stream":true,"messages":[])";
  for (const Case& c : {
           Case{"", R"(,"stream_options":{"include_usage":true})"},
           Case{R"(,"stream_options":{})", R"(,"stream_options":{"include_usage":true})"},
           Case{R"(,"stream_options":{ "x": 1 })",
                R"(,"stream_options":{ "x": 1 ,"include_usage":true})"},
           Case{R"(,"stream_options":{"include_usage":false})",
                R"(,"stream_options":{"include_usage":true})"},
           Case{R"(,"stream_options":null)", R"(,"stream_options":{"include_usage":true})"},
       }) {
    auto parsed = parse_request(Operation::chat_completions, head + c.options + "}");
    ASSERT_TRUE(parsed) << c.options;
    EXPECT_EQ(upstream_body(*parsed, "m"), head + c.sent + "}") << c.options;
  }
  auto asked = parse_request(Operation::chat_completions,
                             head + R"(,"stream_options":{"include_usage":true}})");
  ASSERT_TRUE(asked);
  EXPECT_TRUE(asked->client_wants_usage);
}

// A flex attempt's service_tier replaces the client's value in place (any JSON type), or is
// added; without one the client's goes as it was sent.
TEST(Request, AServiceTierReplacesTheClientsOrIsAddedBesideTheOtherEdits) {
  const std::string head = R"({"model":"m","messages":[])";
  auto plain = parse_request(Operation::chat_completions, head + "}");
  ASSERT_TRUE(plain);
  EXPECT_EQ(upstream_body(*plain, "up", "flex"),
            R"({"model":"up","messages":[],"service_tier":"flex"})");
  auto own = parse_request(Operation::chat_completions,
                           R"({"service_tier" : "priority","model":"m","messages":[]})");
  ASSERT_TRUE(own);
  EXPECT_EQ(upstream_body(*own, "up"),
            R"({"service_tier" : "priority","model":"up","messages":[]})");
  EXPECT_EQ(upstream_body(*own, "up", "flex"),
            R"({"service_tier" : "flex","model":"up","messages":[]})");
  auto odd = parse_request(Operation::chat_completions, head + R"(,"service_tier":null})");
  ASSERT_TRUE(odd);
  EXPECT_EQ(upstream_body(*odd, "up", "flex"),
            R"({"model":"up","messages":[],"service_tier":"flex"})");
  // A stream: usage asked for and the tier added, both before the closing brace.
  auto stream =
      parse_request(Operation::chat_completions, R"({"model":"m","stream":true,"messages":[]})");
  ASSERT_TRUE(stream);
  const auto sent = nlohmann::json::parse(upstream_body(*stream, "up", "flex"));
  EXPECT_EQ(sent["service_tier"], "flex");
  EXPECT_EQ(sent["stream_options"]["include_usage"], true);
}

TEST(Request, AFieldGivenTwiceOrUnderAnEscapedNameIsReadAsReadersReadIt) {
  auto twice =
      parse_request(Operation::chat_completions, R"({"model":"a","model":"b","messages":[]})");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().param, "model");
  EXPECT_EQ(twice.error().code, "duplicate_field");
  auto escaped =
      parse_request(Operation::chat_completions, R"({"mod\u0065l":"a\u00e9","messages":[]})");
  ASSERT_TRUE(escaped) << escaped.error().message;
  EXPECT_EQ(escaped->model, "a\xc3\xa9");
  EXPECT_EQ(upstream_body(*escaped, "b"), R"({"mod\u0065l":"b","messages":[]})");
}

TEST(Request, WhatNlohmannRefusesTheReaderRefuses) {
  for (const char* body :
       {R"({"model":"m","x":1e400,"messages":[]})", R"({"model":"m","x":"\ud800","messages":[]})",
        "{\"model\":\"m\",\"x\":\"\xc0\xaf\",\"messages\":[]}", R"({"model":"m","messages":[],})",
        R"({"model":"m","messages":[]} x)", R"({"model":"m","x":01,"messages":[]})", ""}) {
    auto parsed = parse_request(Operation::chat_completions, body);
    ASSERT_FALSE(parsed) << body;
    EXPECT_EQ(parsed.error().status, 400u);
  }
}

// The string scanner steps over plain ASCII eight bytes at a time: whatever the offset of a
// byte that needs a look (a control byte, an escape, UTF-8 right or wrong), the reader decides
// as a full JSON parser does, and what it accepts reaches the upstream unchanged.
TEST(Request, EveryByteOfAStringIsCheckedWhateverItsOffset) {
  const std::string plain = "Say something about load balancing";
  for (const std::string odd : {"\x01", "\x1f", "\\n", "\\u00e9", "\\\"", "\xc3\xa9", "\xc0\xaf",
                                "\xe2\x82", "\x7f", "\\"}) {
    for (std::size_t at = 0; at <= plain.size(); ++at) {
      const std::string text = plain.substr(0, at) + odd + plain.substr(at);
      const std::string body =
          R"({"model":"m","messages":[{"role":"user","content":")" + text + R"("}]})";
      auto parsed = parse_request(Operation::chat_completions, body);
      ASSERT_EQ(static_cast<bool>(parsed), nlohmann::json::accept(body)) << at << " " << text;
      if (parsed) {
        EXPECT_EQ(upstream_body(*parsed, "m"), body);
      }
    }
  }
}

TEST(ApiError, HasOpenAiShapeWithNulls) {
  const auto body = nlohmann::json::parse(ApiError::model_not_found("x").to_json());
  EXPECT_EQ(body["error"]["code"], "model_not_found");
  EXPECT_EQ(body["error"]["param"], "model");
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  const auto gateway = nlohmann::json::parse(ApiError::bad_gateway("down").to_json());
  EXPECT_TRUE(gateway["error"]["param"].is_null());
  EXPECT_EQ(gateway["error"]["message"], "down");
}

}  // namespace
}  // namespace fulcrum::api

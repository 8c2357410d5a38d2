// Reading the Responses API's answers: ids and usage from whole bodies and typed stream events.
#include "fulcrum/api/responses.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fulcrum/api/error.hpp"
#include "fulcrum/api/usage.hpp"

namespace fulcrum::api {
namespace {

constexpr const char* kUsage =
    R"({"input_tokens":12,"input_tokens_details":{"cached_tokens":4},"output_tokens":3,)"
    R"("output_tokens_details":{"reasoning_tokens":1},"total_tokens":15})";

TEST(ResponsesBody, GivesTheIdAndTheUsageUnderItsOwnNames) {
  const ResponsesReading r = read_responses_body(
      std::string(R"({"id":"resp_1","object":"response","output":[],"usage":)") + kUsage + "}");
  EXPECT_EQ(r.id, "resp_1");
  ASSERT_TRUE(r.usage);
  EXPECT_EQ(r.usage->input, 12);
  EXPECT_EQ(r.usage->cached_input, 4);
  EXPECT_EQ(r.usage->output, 3);
  EXPECT_FALSE(r.failed);
}

TEST(ResponsesBody, MissingOrMixedUsageIsNotInvented) {
  EXPECT_FALSE(read_responses_body(R"({"id":"r","usage":null})").usage);
  EXPECT_FALSE(read_responses_body("not json").usage);
  // Both vocabularies at once: which counts are meant cannot be told.
  EXPECT_FALSE(usage_from(nlohmann::json::parse(
      R"({"input_tokens":1,"output_tokens":2,"prompt_tokens":1,"completion_tokens":2})")));
  EXPECT_FALSE(usage_from(nlohmann::json::parse(R"({"input_tokens":"12","output_tokens":3})")));
}

TEST(ResponsesEvents, OnlyTheLifecycleEventsCarryTheIdAndOnlyTheLastOneUsage) {
  const ResponsesReading created = read_responses_event(
      R"({"type":"response.created","sequence_number":0,"response":{"id":"resp_9","usage":null}})");
  EXPECT_EQ(created.id, "resp_9");
  EXPECT_FALSE(created.usage);
  EXPECT_FALSE(created.terminal);

  const ResponsesReading delta = read_responses_event(
      R"({"type":"response.output_text.delta","sequence_number":4,"delta":"hi"})");
  EXPECT_TRUE(delta.id.empty());
  EXPECT_FALSE(delta.terminal);

  const ResponsesReading completed = read_responses_event(
      std::string(
          R"({"type":"response.completed","sequence_number":9,"response":{"id":"resp_9",)") +
      R"("usage":)" + kUsage + "}}");
  EXPECT_EQ(completed.id, "resp_9");
  ASSERT_TRUE(completed.usage);
  EXPECT_EQ(completed.usage->output, 3);
  EXPECT_TRUE(completed.terminal);
  EXPECT_FALSE(completed.failed);

  // Cut off by max_output_tokens: finished, not failed.
  const ResponsesReading incomplete = read_responses_event(
      std::string(R"({"type":"response.incomplete","response":{"id":"r","usage":)") + kUsage +
      "}}");
  EXPECT_TRUE(incomplete.terminal);
  EXPECT_FALSE(incomplete.failed);
  EXPECT_TRUE(incomplete.usage);
}

TEST(ResponsesEvents, AFailedResponseOrAnErrorEventEndsTheStreamAsAFailure) {
  const ResponsesReading failed = read_responses_event(
      R"({"type":"response.failed","response":{"id":"r","error":{"code":"server_error"}}})");
  EXPECT_TRUE(failed.terminal);
  EXPECT_TRUE(failed.failed);
  const ResponsesReading error =
      read_responses_event(R"({"type":"error","code":"server_error","message":"boom"})");
  EXPECT_TRUE(error.terminal);
  EXPECT_TRUE(error.failed);
  // The word in a delta's text is not an event type.
  const ResponsesReading quoted = read_responses_event(
      R"({"type":"response.output_text.delta","delta":"\"error\" and \"response.failed\""})");
  EXPECT_FALSE(quoted.terminal);
  EXPECT_FALSE(quoted.failed);
}

TEST(ResponsesEvents, TheErrorEventIsFlatAndNestedSoEverySdkRaisesIt) {
  const std::string event = responses_error_event(ApiError::bad_gateway("cut"), 7);
  ASSERT_EQ(event.rfind("event: error\ndata: ", 0), 0u);
  ASSERT_EQ(event.substr(event.size() - 2), "\n\n");
  const auto data = nlohmann::json::parse(event.substr(event.find("data: ") + 6));
  EXPECT_EQ(data["type"], "error");
  EXPECT_EQ(data["sequence_number"], 7);
  EXPECT_EQ(data["message"], "cut");
  EXPECT_EQ(data["code"], data["error"]["code"]);
  EXPECT_EQ(data["error"]["message"], "cut");
  EXPECT_TRUE(data["param"].is_null());
}

}  // namespace
}  // namespace fulcrum::api

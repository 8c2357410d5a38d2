#include "fulcrum/api/responses.hpp"

#include <nlohmann/json.hpp>

namespace fulcrum::api {
namespace {

ResponsesReading read_response_object(const nlohmann::json& response) {
  ResponsesReading out;
  if (!response.is_object()) return out;
  if (const auto id = response.find("id"); id != response.end() && id->is_string()) {
    out.id = id->get<std::string>();
  }
  if (const auto store = response.find("store"); store != response.end() && store->is_boolean()) {
    out.stored = store->get<bool>();
  }
  if (const auto usage = response.find("usage"); usage != response.end()) {
    out.usage = usage_from(*usage);
  }
  return out;
}

}  // namespace

ResponsesReading read_responses_body(std::string_view json_text) {
  const auto body = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  ResponsesReading out = read_response_object(body);
  out.terminal = true;
  return out;
}

ResponsesReading read_responses_event(std::string_view data) {
  // Deltas are most of a stream: only lifecycle and error events are parsed.
  constexpr std::string_view kParsed[] = {"\"response.created\"", "\"response.completed\"",
                                          "\"response.incomplete\"", "\"response.failed\"",
                                          "\"error\""};
  bool parsed = false;
  for (std::string_view type : kParsed) parsed = parsed || data.find(type) != data.npos;
  if (!parsed) return {};
  const auto event = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!event.is_object()) return {};
  const auto type_field = event.find("type");
  if (type_field == event.end() || !type_field->is_string()) return {};
  const std::string& type = type_field->get_ref<const std::string&>();
  ResponsesReading out;
  if (type == "error") {
    out.terminal = out.failed = true;
    return out;
  }
  if (type != "response.created" && type != "response.completed" && type != "response.incomplete" &&
      type != "response.failed") {
    return {};
  }
  if (const auto response = event.find("response"); response != event.end()) {
    out = read_response_object(*response);
  }
  out.failed = type == "response.failed";
  out.terminal = type != "response.created";
  if (!out.terminal) out.usage.reset();  // in_progress usage is null: the final event counts
  return out;
}

std::string responses_error_event(const ApiError& error, unsigned sequence_number) {
  const auto nullable = [](const std::string& s) {
    return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
  };
  const nlohmann::json event = {{"type", "error"},
                                {"sequence_number", sequence_number},
                                {"code", nullable(error.code)},
                                {"message", error.message},
                                {"param", nullable(error.param)},
                                {"error",
                                 {{"type", error.type},
                                  {"code", nullable(error.code)},
                                  {"message", error.message},
                                  {"param", nullable(error.param)}}}};
  return "event: error\ndata: " +
         event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}

}  // namespace fulcrum::api

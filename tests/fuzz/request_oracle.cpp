#include "request_oracle.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>

namespace fulcrum::testing {
namespace {

using api::ApiError;
using api::Operation;
using nlohmann::json;

constexpr std::size_t kMaxJsonDepth = 128;
constexpr std::uint64_t kMaxTokenCount = 2147483647;

// The fields the rules read, in the order their problems are reported.
constexpr std::array<const char*, 22> kKnown = {"api_base",
                                                "base_url",
                                                "api_key",
                                                "model",
                                                "stream",
                                                "stream_options",
                                                "max_tokens",
                                                "max_completion_tokens",
                                                "n",
                                                "user",
                                                "metadata",
                                                "tools",
                                                "response_format",
                                                "messages",
                                                "prompt",
                                                "input",
                                                "functions",
                                                "max_output_tokens",
                                                "previous_response_id",
                                                "instructions",
                                                "text",
                                                "background"};

bool nests_deeper_than(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

// Counts the top-level keys of a document, as nlohmann's SAX interface reports them.
struct TopLevelKeys : nlohmann::json_sax<json> {
  std::map<std::string, int> counts;
  int depth = 0;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return ++depth, true; }
  bool key(string_t& key) override {
    if (depth == 1) ++counts[key];
    return true;
  }
  bool end_object() override { return --depth, true; }
  bool start_array(std::size_t) override { return ++depth, true; }
  bool end_array() override { return --depth, true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }
};

ApiError wrong_type(std::string_view field, std::string_view expected) {
  return ApiError::invalid_request(
      "Invalid type for '" + std::string(field) + "': expected " + std::string(expected) + ".",
      std::string(field), "invalid_type");
}

const json* field(const json& body, std::string_view name) {
  const auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

std::optional<ApiError> check_count(const json& body, std::string_view name) {
  const json* value = field(body, name);
  if (value == nullptr) return std::nullopt;
  if (value->is_number_float() || !value->is_number()) return wrong_type(name, "an integer");
  const bool negative =
      value->is_number_integer() && !value->is_number_unsigned() && value->get<std::int64_t>() < 0;
  const std::uint64_t n = negative ? 0 : value->get<std::uint64_t>();
  if (negative || n < 1) {
    return ApiError::invalid_request("below", std::string(name), "integer_below_min_value");
  }
  if (n > kMaxTokenCount) {
    return ApiError::invalid_request("above", std::string(name), "integer_above_max_value");
  }
  return std::nullopt;
}

std::optional<ApiError> check_input(const json& body, std::string_view name, bool required) {
  const json* value = field(body, name);
  if (value == nullptr) {
    if (!required) return std::nullopt;
    return ApiError::invalid_request("missing", std::string(name), "missing_required_parameter");
  }
  if (!value->is_string() && !value->is_array()) return wrong_type(name, "a string or an array");
  return std::nullopt;
}

std::optional<ApiError> check_fields(Operation op, const json& body) {
  const auto model = body.find("model");
  if (model == body.end()) return ApiError::invalid_request("missing", "model");
  if (!model->is_string() || model->get_ref<const std::string&>().empty()) {
    return ApiError::invalid_request("empty", "model");
  }
  if (const json* stream = field(body, "stream")) {
    if (!stream->is_boolean()) return wrong_type("stream", "a boolean");
    if (op == Operation::embeddings && stream->get<bool>()) {
      return ApiError::invalid_request("no", "stream");
    }
  }
  if (const json* options = field(body, "stream_options")) {
    if (!options->is_object()) return wrong_type("stream_options", "an object");
    if (const json* include = field(*options, "include_usage"); include && !include->is_boolean()) {
      return wrong_type("stream_options.include_usage", "a boolean");
    }
  }
  for (const char* count : {"max_tokens", "max_completion_tokens", "n", "max_output_tokens"}) {
    if (auto problem = check_count(body, count)) return problem;
  }
  const auto typed = [&](const char* name, bool ok, const char* expected) {
    const json* value = field(body, name);
    return value && !ok ? std::optional(wrong_type(name, expected)) : std::nullopt;
  };
  const auto is = [&](const char* name, auto test) {
    const json* value = field(body, name);
    return value == nullptr || test(*value);
  };
  if (auto p = typed("user", is("user", [](const json& v) { return v.is_string(); }), "a string"))
    return p;
  if (auto p = typed("metadata", is("metadata", [](const json& v) { return v.is_object(); }),
                     "an object"))
    return p;
  if (auto p = typed("tools", is("tools", [](const json& v) { return v.is_array(); }), "an array"))
    return p;
  if (auto p =
          typed("response_format",
                is("response_format", [](const json& v) { return v.is_object(); }), "an object"))
    return p;
  if (auto p = typed("previous_response_id",
                     is("previous_response_id", [](const json& v) { return v.is_string(); }),
                     "a string"))
    return p;
  if (auto p = typed("instructions",
                     is("instructions", [](const json& v) { return v.is_string(); }), "a string"))
    return p;
  if (auto p = typed("text", is("text", [](const json& v) { return v.is_object(); }), "an object"))
    return p;
  switch (op) {
    case Operation::messages:
      if (field(body, "max_tokens") == nullptr) {
        return ApiError::invalid_request("max_tokens: Field required", "max_tokens",
                                         "missing_required_parameter");
      }
      [[fallthrough]];
    case Operation::chat_completions: {
      const json* messages = field(body, "messages");
      if (messages == nullptr) {
        return ApiError::invalid_request("missing", "messages", "missing_required_parameter");
      }
      if (!messages->is_array()) return wrong_type("messages", "an array");
      for (std::size_t i = 0; i < messages->size(); ++i) {
        if (!(*messages)[i].is_object()) {
          return wrong_type("messages[" + std::to_string(i) + "]", "an object");
        }
      }
      return std::nullopt;
    }
    case Operation::completions:
      return check_input(body, "prompt", false);
    case Operation::embeddings:
      return check_input(body, "input", true);
    case Operation::responses: {
      if (auto problem = check_input(body, "input", false)) return problem;
      const json* input = field(body, "input");
      for (std::size_t i = 0; input && input->is_array() && i < input->size(); ++i) {
        if (!(*input)[i].is_object()) {
          return wrong_type("input[" + std::to_string(i) + "]", "an object");
        }
      }
      if (const json* background = field(body, "background")) {
        if (!background->is_boolean()) return wrong_type("background", "a boolean");
        if (background->get<bool>()) {
          return ApiError::invalid_request("no", "background", "unsupported_parameter");
        }
      }
      return std::nullopt;
    }
  }
  return std::nullopt;
}

class TextScan {
 public:
  explicit TextScan(const std::vector<std::string>& keywords)
      : keywords_(keywords), found_(keywords.size(), false) {}
  void add(const std::string& text) {
    chars_ += text.size();
    for (auto at = text.find("```"); at != std::string::npos; at = text.find("```", at + 3)) {
      ++fences_;
    }
    std::string lowered(text.size(), '\0');
    std::transform(text.begin(), text.end(), lowered.begin(), [](char c) {
      return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    for (std::size_t k = 0; k < keywords_.size(); ++k) {
      if (lowered.find(keywords_[k]) != std::string::npos) found_[k] = true;
    }
  }
  void add_content(const json& content) {
    if (content.is_string()) {
      add(content.get<std::string>());
    } else if (content.is_array()) {
      for (const auto& part : content) {
        const auto text = part.is_object() ? part.find("text") : part.end();
        if (part.is_object() && text != part.end() && text->is_string()) {
          add(text->get<std::string>());
        } else if (part.is_string()) {
          add(part.get<std::string>());
        }
      }
    }
  }
  std::uint64_t chars_ = 0;
  unsigned fences_ = 0;
  const std::vector<std::string>& keywords_;
  std::vector<bool> found_;
};

core::PromptFeatures features_of(Operation op, const json& body, bool stream,
                                 const std::vector<std::string>& keywords) {
  core::PromptFeatures f;
  f.stream = stream;
  TextScan scan(keywords);
  std::uint64_t framing = 0;
  if (op == Operation::responses) {
    // Input items are messages; instructions are prompt text too (in document order: the
    // counts do not depend on it).
    const auto input = body.find("input");
    if (input != body.end() && input->is_array()) {
      f.turns = static_cast<unsigned>(input->size());
      framing = 4 * input->size();
      for (const auto& item : *input) {
        if (!item.is_object()) continue;
        if (const auto content = item.find("content"); content != item.end()) {
          scan.add_content(*content);
        }
      }
    } else if (input != body.end()) {
      f.turns = 1;
      scan.add_content(*input);
    }
    if (const auto instructions = body.find("instructions");
        instructions != body.end() && instructions->is_string()) {
      scan.add(instructions->get<std::string>());
    }
  } else if (const auto messages = body.find("messages");
             messages != body.end() && messages->is_array()) {
    f.turns = static_cast<unsigned>(messages->size());
    framing = 4 * messages->size();
    for (const auto& message : *messages) {
      if (!message.is_object()) continue;
      if (const auto content = message.find("content"); content != message.end()) {
        scan.add_content(*content);
      }
    }
  } else if (const auto prompt = body.find("prompt"); prompt != body.end()) {
    f.turns = 1;
    scan.add_content(*prompt);
  } else if (const auto input = body.find("input"); input != body.end()) {
    f.turns = 1;
    scan.add_content(*input);
  }
  f.estimated_tokens = (scan.chars_ + 3) / 4 + framing;
  f.code_blocks = scan.fences_ / 2;
  f.keyword_hits = static_cast<unsigned>(std::count(scan.found_.begin(), scan.found_.end(), true));
  const auto present = [&](const char* key) {
    const auto it = body.find(key);
    return it != body.end() && !it->is_null() && !(it->is_array() && it->empty());
  };
  f.tools = present("tools") || present("functions");
  if (const auto format = body.find("response_format");
      format != body.end() && format->is_object()) {
    const auto type = format->find("type");
    f.response_format = type == format->end() || !type->is_string() ||
                        type->get_ref<const std::string&>() != "text";
  }
  if (const auto n = body.find("n"); n != body.end() && n->is_number_unsigned()) {
    f.choices = std::max<std::uint64_t>(1, n->get<std::uint64_t>());
  }
  for (const char* key : {"max_completion_tokens", "max_tokens", "max_output_tokens"}) {
    const auto limit = body.find(key);
    if (limit != body.end() && limit->is_number_unsigned()) {
      f.max_tokens = limit->get<std::uint64_t>();
      break;
    }
  }
  return f;
}

}  // namespace

OracleResult oracle_parse(Operation op, const std::string& text, const std::string& upstream_model,
                          const std::vector<std::string>& keywords) {
  OracleResult result;
  if (nests_deeper_than(text, kMaxJsonDepth)) {
    result.error = ApiError::invalid_request("too deep");
    return result;
  }
  // nlohmann stops at a NUL byte as at the end of input; no JSON text may hold one (not even
  // inside a string), so the rules refuse it rather than forward what follows it.
  const json body = json::parse(text, nullptr, false);
  if (body.is_discarded() || text.find('\0') != std::string::npos) {
    result.error = ApiError::invalid_request("unreadable");
    return result;
  }
  if (!body.is_object()) {
    result.error = ApiError::invalid_request("not an object");
    return result;
  }
  for (const char* name : {"api_base", "base_url", "api_key"}) {
    if (body.contains(name)) {
      result.error = ApiError::invalid_request("upstream", name);
      return result;
    }
  }
  TopLevelKeys keys;
  json::sax_parse(text, &keys);
  for (std::size_t f = 3; f < kKnown.size(); ++f) {
    if (keys.counts[kKnown[f]] > 1) {
      result.error = ApiError::invalid_request("duplicate", kKnown[f], "duplicate_field");
      return result;
    }
  }
  if (auto problem = check_fields(op, body)) {
    result.error = std::move(problem);
    return result;
  }
  OracleRequest request;
  request.model = body["model"].get<std::string>();
  const auto stream = body.find("stream");
  request.stream = stream != body.end() && stream->is_boolean() && stream->get<bool>();
  if (const auto options = body.find("stream_options");
      options != body.end() && options->is_object()) {
    const auto include = options->find("include_usage");
    request.client_wants_usage =
        include != options->end() && include->is_boolean() && include->get<bool>();
  }
  request.features = features_of(op, body, request.stream, keywords);
  request.upstream = nlohmann::ordered_json::parse(text);
  request.upstream["model"] = upstream_model;
  if (request.stream && op != Operation::responses) {
    request.upstream["stream_options"]["include_usage"] = true;
  }
  result.request = std::move(request);
  return result;
}

}  // namespace fulcrum::testing

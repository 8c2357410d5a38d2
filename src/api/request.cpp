#include "fulcrum/api/request.hpp"

#include <algorithm>
#include <array>
#include <bitset>
#include <optional>
#include <string>
#include <vector>

#include "json_reader.hpp"

namespace fulcrum::api {
namespace {

// Deeper than any real request (tool schemas nest a few dozen levels), shallow enough that
// neither reading nor relaying the body can exhaust a coroutine's stack.
constexpr std::size_t kMaxJsonDepth = 128;
// The largest token count a request may name: OpenAI's own bound (a signed 32-bit integer).
constexpr std::uint64_t kMaxTokenCount = 2147483647;
// Tokenizers average about four characters of English per token; chat formats add a few
// tokens of framing per message.
constexpr std::uint64_t kCharsPerToken = 4;
constexpr std::uint64_t kTokensPerMessage = 4;

// The top-level fields Fulcrum reads, in the order their problems are reported.
// clang-format off
enum Field : std::uint8_t {
  kApiBase, kBaseUrl, kApiKey,  // name an upstream or a key: refused
  kModel, kStream, kStreamOptions, kMaxTokens, kMaxCompletionTokens, kN, kUser, kMetadata,
  kTools, kResponseFormat, kMessages, kPrompt, kInput, kFunctions,
  kMaxOutputTokens, kPreviousResponseId, kInstructions, kText, kBackground,  // Responses API
  kServiceTier,
  kFieldCount
};
constexpr std::array<std::string_view, kFieldCount> kNames = {
    "api_base", "base_url", "api_key", "model", "stream", "stream_options", "max_tokens",
    "max_completion_tokens", "n", "user", "metadata", "tools", "response_format", "messages",
    "prompt", "input", "functions", "max_output_tokens", "previous_response_id",
    "instructions", "text", "background", "service_tier"};
// clang-format on

int field_named(std::string_view key) {
  for (int f = 0; f < kFieldCount; ++f) {
    if (kNames[f] == key) return f;
  }
  return -1;
}

// What one field held, as far as the checks and the routing signals need it.
struct FieldValue {
  JsonType type = JsonType::null;
  JsonNumber number;
  bool boolean = false;
  std::size_t elements = 0;               // arrays
  std::optional<std::size_t> non_object;  // messages: the first element that is not an object
  std::optional<JsonType> include_usage;  // stream_options
  bool format_is_text = false;            // response_format.type == "text"
};

enum class Source : std::uint8_t { messages, prompt, input, instructions };
struct Text {
  Span raw;
  Source source;
  bool escaped;
};

ApiError wrong_type(std::string_view field, std::string_view expected) {
  return ApiError::invalid_request(
      "Invalid type for '" + std::string(field) + "': expected " + std::string(expected) + ".",
      std::string(field), "invalid_type");
}

ApiError unreadable(const JsonReader& json) {
  if (json.too_deep()) {
    return ApiError::invalid_request("The JSON body nests deeper than " +
                                     std::to_string(kMaxJsonDepth) + " levels.");
  }
  return ApiError::invalid_request(
      "We could not parse the JSON body of your request. The body must be valid JSON.");
}

// One pass over the body: every value validated, the known fields' values recorded.
class BodyReader {
 public:
  explicit BodyReader(ParsedRequest& out)
      : out_(out),
        json_(out.body, kMaxJsonDepth),
        responses_(out.operation == Operation::responses) {}

  std::optional<ApiError> read() {
    JsonType type;
    if (!json_.peek(type)) return unreadable(json_);
    if (type != JsonType::object) {
      Span ignored;
      if (!json_.skip(ignored) || !json_.at_end()) return unreadable(json_);
      return ApiError::invalid_request("The request body must be a JSON object.");
    }
    json_.begin_object();
    Span key;
    bool escaped = false;
    while (json_.next_member(key, escaped)) {
      if (!member(key, escaped)) return unreadable(json_);
    }
    if (json_.failed()) return unreadable(json_);
    out_.object_close = json_.closed_at();
    if (!json_.at_end()) return unreadable(json_);
    return std::nullopt;
  }

  const std::bitset<kFieldCount>& seen() const { return seen_; }
  const std::bitset<kFieldCount>& duplicated() const { return duplicated_; }
  const FieldValue& value(Field f) const { return values_[f]; }
  const std::vector<Text>& texts() const { return texts_; }

 private:
  std::string_view key_text(Span key, bool escaped) {
    const std::string_view raw(out_.body.data() + key.begin, key.size());
    if (!escaped) return raw;
    JsonReader::decode(raw, scratch_);
    return scratch_;
  }

  bool member(Span key, bool escaped) {
    const int f = field_named(key_text(key, escaped));
    if (f < 0) {
      Span ignored;
      return json_.skip(ignored);
    }
    if (seen_[f]) duplicated_[f] = true;
    seen_[f] = true;
    FieldValue& v = values_[f];
    v = FieldValue{};
    if (!json_.peek(v.type)) return false;
    switch (f) {
      case kModel:
        return model(v);
      case kStreamOptions:
        return stream_options(v);
      case kMessages:
        return v.type == JsonType::array ? messages(v, Source::messages) : skip();
      case kInput:
        // The Responses API's input items are messages ({role, content}).
        if (responses_ && v.type == JsonType::array) return messages(v, Source::input);
        return prompt_like(v, Source::input);
      case kPrompt:
        return prompt_like(v, Source::prompt);
      case kInstructions:
      case kPreviousResponseId:
        return v.type == JsonType::string ? string_field(f) : skip();
      case kResponseFormat:
        return v.type == JsonType::object ? response_format(v) : skip();
      case kServiceTier: {
        Span span;
        if (!json_.skip(span)) return false;
        out_.service_tier = BodySpan{span.begin, span.end};
        return true;
      }
      default:
        return scalar_or_skip(v);
    }
  }

  bool skip() {
    Span ignored;
    return json_.skip(ignored);
  }

  // Booleans, numbers, and the size of arrays; anything else is skipped whole.
  bool scalar_or_skip(FieldValue& v) {
    Span span;
    if (v.type == JsonType::boolean || v.type == JsonType::null) {
      JsonType type;
      return json_.literal(span, type, v.boolean);
    }
    if (v.type == JsonType::number) return json_.number(span, v.number);
    if (v.type != JsonType::array) return json_.skip(span);
    json_.begin_array();
    while (json_.next_element()) {
      ++v.elements;
      if (!json_.skip(span)) return false;
    }
    return !json_.failed();
  }

  bool model(FieldValue& v) {
    if (v.type != JsonType::string) return skip();
    Span raw;
    bool escaped = false;
    if (!json_.string(raw, escaped)) return false;
    out_.model_value = {raw.begin - 1, raw.end + 1};
    const std::string_view text(out_.body.data() + raw.begin, raw.size());
    if (escaped) {
      JsonReader::decode(text, out_.model);
    } else {
      out_.model.assign(text);
    }
    return true;
  }

  bool stream_options(FieldValue& v) {
    Span span;
    if (v.type == JsonType::null) {
      JsonType type;
      bool ignored = false;
      if (!json_.literal(span, type, ignored)) return false;
      out_.stream_options = BodySpan{span.begin, span.end};
      return true;
    }
    if (v.type != JsonType::object) return json_.skip(span);
    const std::size_t begin = json_.position();  // peek() stopped at the brace
    json_.begin_object();
    Span key;
    bool escaped = false;
    out_.stream_options_empty = true;
    while (json_.next_member(key, escaped)) {
      out_.stream_options_empty = false;
      if (key_text(key, escaped) != "include_usage") {
        if (!json_.skip(span)) return false;
        continue;
      }
      JsonType type;
      if (!json_.peek(type)) return false;
      v.include_usage = type;
      if (type == JsonType::boolean || type == JsonType::null) {
        bool value = false;
        if (!json_.literal(span, type, value)) return false;
        out_.client_wants_usage = type == JsonType::boolean && value;
      } else if (!json_.skip(span)) {
        return false;
      }
      out_.include_usage = BodySpan{span.begin, span.end};
    }
    if (json_.failed()) return false;
    out_.stream_options = BodySpan{begin, json_.closed_at() + 1};
    return true;
  }

  bool text(Source source) {
    Span raw;
    bool escaped = false;
    if (!json_.string(raw, escaped)) return false;
    texts_.push_back({raw, source, escaped});
    return true;
  }

  // A message's content, a prompt or an input: a string, or an array whose strings and whose
  // parts' "text" strings count as text.
  bool content(Source source) {
    JsonType type;
    if (!json_.peek(type)) return false;
    if (type == JsonType::string) return text(source);
    if (type != JsonType::array) return skip();
    json_.begin_array();
    while (json_.next_element()) {
      if (!json_.peek(type)) return false;
      if (type == JsonType::string) {
        if (!text(source)) return false;
      } else if (type == JsonType::object) {
        if (!part(source)) return false;
      } else if (!skip()) {
        return false;
      }
    }
    return !json_.failed();
  }

  // A member read twice counts once, as its last value (as JSON readers take it): what an
  // earlier one added is taken back.
  void restart_at(std::optional<std::size_t>& start) {
    if (start) {
      texts_.resize(*start);
    } else {
      start = texts_.size();
    }
  }

  bool part(Source source) {
    json_.begin_object();
    Span key;
    bool escaped = false;
    std::optional<std::size_t> start;
    while (json_.next_member(key, escaped)) {
      JsonType type;
      if (!json_.peek(type)) return false;
      if (key_text(key, escaped) != "text") {
        if (!skip()) return false;
        continue;
      }
      restart_at(start);
      if (!(type == JsonType::string ? text(source) : skip())) return false;
    }
    return !json_.failed();
  }

  // A string field kept as text (instructions) or as a value (previous_response_id).
  bool string_field(int f) {
    if (f == kInstructions) return text(Source::instructions);
    Span raw;
    bool escaped = false;
    if (!json_.string(raw, escaped)) return false;
    const std::string_view value(out_.body.data() + raw.begin, raw.size());
    if (escaped) {
      JsonReader::decode(value, out_.previous_response_id);
    } else {
      out_.previous_response_id.assign(value);
    }
    return true;
  }

  bool messages(FieldValue& v, Source source) {
    json_.begin_array();
    while (json_.next_element()) {
      JsonType type;
      if (!json_.peek(type)) return false;
      const std::size_t index = v.elements++;
      if (type != JsonType::object) {
        if (!v.non_object) v.non_object = index;
        if (!skip()) return false;
        continue;
      }
      json_.begin_object();
      Span key;
      bool escaped = false;
      std::optional<std::size_t> start;
      while (json_.next_member(key, escaped)) {
        if (key_text(key, escaped) != "content") {
          if (!skip()) return false;
          continue;
        }
        restart_at(start);
        if (!content(source)) return false;
      }
      if (json_.failed()) return false;
    }
    return !json_.failed();
  }

  bool prompt_like(FieldValue& v, Source source) {
    if (v.type == JsonType::array) {
      // Counted for the type check; read as content for the routing signals.
      const std::size_t before = texts_.size();
      if (!content(source)) return false;
      v.elements = texts_.size() - before;
      return true;
    }
    return content(source);
  }

  bool response_format(FieldValue& v) {
    json_.begin_object();
    Span key;
    bool escaped = false;
    while (json_.next_member(key, escaped)) {
      JsonType type;
      if (!json_.peek(type)) return false;
      if (key_text(key, escaped) != "type") {
        if (!skip()) return false;
        continue;
      }
      v.format_is_text = false;  // the last "type" decides
      if (type != JsonType::string) {
        if (!skip()) return false;
        continue;
      }
      Span raw;
      bool value_escaped = false;
      if (!json_.string(raw, value_escaped)) return false;
      const std::string_view value(out_.body.data() + raw.begin, raw.size());
      if (value_escaped) {
        std::string decoded;
        JsonReader::decode(value, decoded);
        v.format_is_text = decoded == "text";
      } else {
        v.format_is_text = value == "text";
      }
    }
    return !json_.failed();
  }

  ParsedRequest& out_;
  JsonReader json_;
  std::bitset<kFieldCount> seen_;
  std::bitset<kFieldCount> duplicated_;
  std::array<FieldValue, kFieldCount> values_{};
  std::vector<Text> texts_;
  std::string scratch_;
  bool responses_;
};

// A count such as max_tokens or n: an integer from `min` to kMaxTokenCount.
std::optional<ApiError> check_count(std::string_view name, const FieldValue& v, std::uint64_t min) {
  if (v.type == JsonType::null) return std::nullopt;
  // An integer beyond 64 bits is a double to every JSON reader that matters: not an integer.
  if (v.type != JsonType::number || !v.number.integer || !v.number.fits) {
    return wrong_type(name, "an integer");
  }
  const bool negative = v.number.negative && v.number.magnitude != 0;
  if (negative || v.number.magnitude < min) {
    return ApiError::invalid_request(
        "Invalid '" + std::string(name) +
            "': integer below minimum value. Expected a value >= " + std::to_string(min) + ".",
        std::string(name), "integer_below_min_value");
  }
  if (v.number.magnitude > kMaxTokenCount) {
    return ApiError::invalid_request("Invalid '" + std::string(name) +
                                         "': integer above maximum value. Expected a value <= " +
                                         std::to_string(kMaxTokenCount) + ".",
                                     std::string(name), "integer_above_max_value");
  }
  return std::nullopt;
}

bool present(const BodyReader& r, Field f) {
  return r.seen()[f] && r.value(f).type != JsonType::null;
}

// What no request may carry: a way to choose the upstream or its key, a known field twice, no
// model.
std::optional<ApiError> check_envelope(const BodyReader& r, const ParsedRequest& out) {
  for (Field f : {kApiBase, kBaseUrl, kApiKey}) {
    if (r.seen()[f]) {
      return ApiError::invalid_request(
          std::string(kNames[f]) +
              " is not accepted: upstreams and their keys come from Fulcrum's configuration.",
          std::string(kNames[f]));
    }
  }
  for (int f = kModel; f < kFieldCount; ++f) {
    if (r.duplicated()[f]) {
      return ApiError::invalid_request(
          "The field '" + std::string(kNames[f]) +
              "' appears more than once; say it once, so that every reader of the request "
              "sees the same value.",
          std::string(kNames[f]), "duplicate_field");
    }
  }
  if (!r.seen()[kModel]) {
    return ApiError::invalid_request("You must provide a model parameter.", "model");
  }
  if (r.value(kModel).type != JsonType::string || out.model.empty()) {
    return ApiError::invalid_request("The model parameter must be a non-empty string.", "model");
  }
  return std::nullopt;
}

// The types of the fields every operation may carry.
std::optional<ApiError> check_shared_fields(Operation op, const BodyReader& r) {
  if (present(r, kStream)) {
    if (r.value(kStream).type != JsonType::boolean) return wrong_type("stream", "a boolean");
    if (op == Operation::embeddings && r.value(kStream).boolean) {
      return ApiError::invalid_request("Embeddings cannot be streamed.", "stream");
    }
  }
  if (present(r, kStreamOptions)) {
    const FieldValue& v = r.value(kStreamOptions);
    if (v.type != JsonType::object) return wrong_type("stream_options", "an object");
    if (v.include_usage && *v.include_usage != JsonType::null &&
        *v.include_usage != JsonType::boolean) {
      return wrong_type("stream_options.include_usage", "a boolean");
    }
  }
  for (Field f : {kMaxTokens, kMaxCompletionTokens, kN, kMaxOutputTokens}) {
    if (!r.seen()[f]) continue;
    if (auto problem = check_count(kNames[f], r.value(f), 1)) return problem;
  }
  const auto typed = [&](Field f, JsonType type, std::string_view expected) {
    return present(r, f) && r.value(f).type != type ? std::optional(wrong_type(kNames[f], expected))
                                                    : std::nullopt;
  };
  if (auto p = typed(kUser, JsonType::string, "a string")) return p;
  if (auto p = typed(kMetadata, JsonType::object, "an object")) return p;
  if (auto p = typed(kTools, JsonType::array, "an array")) return p;
  if (auto p = typed(kResponseFormat, JsonType::object, "an object")) return p;
  if (auto p = typed(kPreviousResponseId, JsonType::string, "a string")) return p;
  if (auto p = typed(kInstructions, JsonType::string, "a string")) return p;
  if (auto p = typed(kText, JsonType::object, "an object")) return p;
  return std::nullopt;
}

// `prompt` and `input`: a string or an array.
std::optional<ApiError> check_input_like(const BodyReader& r, Field f, bool required) {
  if (!present(r, f)) {
    if (!required) return std::nullopt;
    return ApiError::invalid_request("You must provide " + std::string(kNames[f]) + ".",
                                     std::string(kNames[f]), "missing_required_parameter");
  }
  const JsonType type = r.value(f).type;
  if (type != JsonType::string && type != JsonType::array) {
    return wrong_type(kNames[f], "a string or an array");
  }
  return std::nullopt;
}

std::optional<ApiError> check_messages(const BodyReader& r) {
  if (!present(r, kMessages)) {
    return ApiError::invalid_request("You must provide messages.", "messages",
                                     "missing_required_parameter");
  }
  const FieldValue& v = r.value(kMessages);
  if (v.type != JsonType::array) return wrong_type("messages", "an array");
  if (v.non_object) {
    return wrong_type("messages[" + std::to_string(*v.non_object) + "]", "an object");
  }
  return std::nullopt;
}

std::optional<ApiError> check_responses_fields(const BodyReader& r) {
  if (auto problem = check_input_like(r, kInput, false)) return problem;
  if (const auto& v = r.value(kInput); v.non_object) {
    return wrong_type("input[" + std::to_string(*v.non_object) + "]", "an object");
  }
  if (!present(r, kBackground)) return std::nullopt;
  if (r.value(kBackground).type != JsonType::boolean) return wrong_type("background", "a boolean");
  // A background response reports its tokens only when polled, long after this request ended:
  // it could be neither routed by load nor metered.
  if (r.value(kBackground).boolean) {
    return ApiError::invalid_request(
        "Fulcrum does not relay background responses: their usage is known only when polled, "
        "so they could be neither routed by load nor metered. Send the request without "
        "background (stream it if it is long).",
        "background", "unsupported_parameter");
  }
  return std::nullopt;
}

std::optional<ApiError> check_fields(Operation op, const BodyReader& r, const ParsedRequest& out) {
  if (auto problem = check_envelope(r, out)) return problem;
  if (auto problem = check_shared_fields(op, r)) return problem;
  switch (op) {
    case Operation::chat_completions:
      return check_messages(r);
    case Operation::completions:
      return check_input_like(r, kPrompt, false);
    case Operation::embeddings:
      return check_input_like(r, kInput, true);
    case Operation::responses:
      return check_responses_fields(r);
    case Operation::messages:
      // Anthropic requires max_tokens; said here, in its words, before any upstream is tried.
      if (!r.seen()[kMaxTokens]) {
        return ApiError::invalid_request("max_tokens: Field required", "max_tokens",
                                         "missing_required_parameter");
      }
      return check_messages(r);
  }
  return std::nullopt;
}

// The routing signals: sizes from the prompt's text (messages, else prompt, else input), code
// fences, tools, structured output, turns, max_tokens and n.
void read_features(const BodyReader& r, ParsedRequest& out) {
  core::PromptFeatures& f = out.features;
  f.stream = out.stream;
  Source source = Source::input;
  std::uint64_t framing = 0;
  const auto is = [&](Field field, JsonType type) {
    return r.seen()[field] && r.value(field).type == type;
  };
  const bool responses = out.operation == Operation::responses;
  if (responses && is(kInput, JsonType::array)) {
    f.turns = static_cast<unsigned>(r.value(kInput).elements);
    framing = kTokensPerMessage * r.value(kInput).elements;
  } else if (responses) {
    f.turns = r.seen()[kInput] ? 1 : 0;
  } else if (is(kMessages, JsonType::array)) {
    source = Source::messages;
    f.turns = static_cast<unsigned>(r.value(kMessages).elements);
    framing = kTokensPerMessage * r.value(kMessages).elements;
  } else if (r.seen()[kPrompt]) {
    source = Source::prompt;
    f.turns = 1;
  } else if (r.seen()[kInput]) {
    f.turns = 1;
  }
  std::uint64_t chars = 0;
  unsigned fences = 0;
  std::string decoded;
  for (const Text& t : r.texts()) {
    // The Responses API's instructions are prompt text too.
    if (t.source != source && !(responses && t.source == Source::instructions)) continue;
    std::string_view text(out.body.data() + t.raw.begin, t.raw.size());
    if (t.escaped) {
      JsonReader::decode(text, decoded);
      text = decoded;
      out.texts_escaped = true;
    }
    out.texts.push_back({t.raw.begin, t.raw.end});
    chars += text.size();
    for (auto at = text.find("```"); at != std::string_view::npos; at = text.find("```", at + 3)) {
      ++fences;
    }
  }
  f.estimated_tokens = (chars + kCharsPerToken - 1) / kCharsPerToken + framing;
  f.code_blocks = fences / 2;
  const auto non_empty_list = [&](Field field) {
    return r.seen()[field] && r.value(field).type != JsonType::null &&
           !(r.value(field).type == JsonType::array && r.value(field).elements == 0);
  };
  f.tools = non_empty_list(kTools) || non_empty_list(kFunctions);
  f.response_format =
      is(kResponseFormat, JsonType::object) && !r.value(kResponseFormat).format_is_text;
  if (is(kN, JsonType::number) && r.value(kN).number.fits && !r.value(kN).number.negative) {
    f.choices = std::max<std::uint64_t>(1, r.value(kN).number.magnitude);
  }
  for (Field field : {kMaxCompletionTokens, kMaxTokens, kMaxOutputTokens}) {
    const FieldValue& v = r.value(field);
    if (is(field, JsonType::number) && v.number.fits && v.number.integer && !v.number.negative) {
      f.max_tokens = v.number.magnitude;
      break;
    }
  }
}

}  // namespace

std::string_view upstream_path(Operation op) {
  switch (op) {
    case Operation::chat_completions:
      return "/chat/completions";
    case Operation::completions:
      return "/completions";
    case Operation::embeddings:
      return "/embeddings";
    case Operation::responses:
      return "/responses";
    case Operation::messages:
      return "/messages";
  }
  return "/chat/completions";
}

core::Expected<ParsedRequest, ApiError> parse_request(Operation op, std::string body) {
  ParsedRequest request;
  request.operation = op;
  request.body = std::move(body);
  BodyReader reader(request);
  if (auto problem = reader.read()) return core::Unexpected{std::move(*problem)};
  if (auto problem = check_fields(op, reader, request))
    return core::Unexpected{std::move(*problem)};
  const FieldValue& stream = reader.value(kStream);
  request.stream = reader.seen()[kStream] && stream.type == JsonType::boolean && stream.boolean;
  read_features(reader, request);
  return request;
}

std::string upstream_body(const ParsedRequest& request, std::string_view upstream_model,
                          std::string_view service_tier) {
  const std::string_view body = request.body;
  std::string out;
  out.reserve(body.size() + upstream_model.size() + service_tier.size() + 72);
  std::size_t copied = 0;
  const auto copy_to = [&](std::size_t at) {
    out.append(body.substr(copied, at - copied));
    copied = at;
  };
  // The edits, in the order their positions come in the body.
  struct Edit {
    std::size_t at;
    std::size_t skip;  // bytes of the client's replaced
    // 0: model, 1: include_usage value, 2: into stream_options, 3: new member, 4: service_tier
    // value, 5: new service_tier member
    int kind;
  };
  std::array<Edit, 3> edits{};
  std::size_t count = 0;
  edits[count++] = {request.model_value.begin, request.model_value.end - request.model_value.begin,
                    0};
  // The Responses API reports usage in its last event without being asked.
  // Responses and Anthropic's Messages API always report usage in their own events.
  if (request.stream && request.operation != Operation::responses &&
      request.operation != Operation::messages) {
    if (request.include_usage) {
      edits[count++] = {request.include_usage->begin,
                        request.include_usage->end - request.include_usage->begin, 1};
    } else if (request.stream_options && body[request.stream_options->begin] == '{') {
      edits[count++] = {request.stream_options->end - 1, 0, 2};  // before its closing brace
    } else if (request.stream_options) {                         // null
      edits[count++] = {request.stream_options->begin,
                        request.stream_options->end - request.stream_options->begin, 3};
    } else {
      edits[count++] = {request.object_close, 0, 3};
    }
  }
  if (!service_tier.empty()) {
    if (request.service_tier) {
      edits[count++] = {request.service_tier->begin,
                        request.service_tier->end - request.service_tier->begin, 4};
    } else {
      edits[count++] = {request.object_close, 0, 5};
    }
  }
  // Two edits at one place are both insertions before the closing brace: their order is free.
  std::sort(edits.begin(), edits.begin() + static_cast<std::ptrdiff_t>(count),
            [](const Edit& a, const Edit& b) { return a.at < b.at; });
  for (std::size_t i = 0; i < count; ++i) {
    const Edit& e = edits[i];
    copy_to(e.at);
    copied += e.skip;
    switch (e.kind) {
      case 0:
        append_json_string(out, upstream_model);
        break;
      case 1:
        out.append("true");
        break;
      case 2:
        out.append(request.stream_options_empty ? R"("include_usage":true)"
                                                : R"(,"include_usage":true)");
        break;
      case 4:
        append_json_string(out, service_tier);
        break;
      case 5:
        out.append(R"(,"service_tier":)");
        append_json_string(out, service_tier);
        break;
      default:
        if (e.skip > 0) {
          out.append(R"({"include_usage":true})");  // stream_options was null
        } else {
          out.append(R"(,"stream_options":{"include_usage":true})");
        }
        break;
    }
  }
  copy_to(body.size());
  return out;
}

}  // namespace fulcrum::api

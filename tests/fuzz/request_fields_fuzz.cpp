// Fuzz target: every field Fulcrum reads from a request body, in every JSON type. The input
// is a recipe, not a body: which operation, then (field, type, value bytes) triples applied to
// a valid request. Each result is either refused with a 400 naming a field the recipe touched
// (or a required one it removed), or accepted; an accepted body goes through every reader the
// proxy runs (upstream body, prompt features) without an exception, and what goes upstream
// still says the upstream model and, for streams, asks for usage.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>

#include "fulcrum/api/prompt_features.hpp"
#include "fulcrum/api/request.hpp"

using namespace fulcrum;
using nlohmann::json;

namespace {

constexpr const char* kFields[] = {"model",
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
                                   "metadata",
                                   "max_output_tokens",
                                   "previous_response_id",
                                   "instructions",
                                   "text",
                                   "background"};
constexpr std::size_t kFieldCount = sizeof kFields / sizeof kFields[0];

class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool empty() const { return at_ >= size_; }
  std::uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
  std::uint64_t word() {
    std::uint64_t w = 0;
    for (int i = 0; i < 8; ++i) w = (w << 8) | byte();
    return w;
  }
  std::string text(std::size_t max) {
    const std::size_t wanted = byte() % (max + 1);  // first: it moves at_
    const std::size_t n = std::min<std::size_t>(wanted, size_ - std::min(at_, size_));
    std::string s(reinterpret_cast<const char*>(data_ + at_), n);
    at_ += n;
    return s;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

// One JSON value of the type the recipe picks; containers nest a smaller value.
json value_of(Bytes& in, int depth) {
  switch (in.byte() % 14) {
    case 0:
      return nullptr;
    case 1:
      return (in.byte() & 1) != 0;
    case 2:
      return static_cast<std::int64_t>(in.word());
    case 3:
      return in.word();
    case 4: {
      double d;
      const std::uint64_t w = in.word();
      std::memcpy(&d, &w, sizeof d);
      return d;  // NaN and infinities are written as null
    }
    case 5:
      return static_cast<std::int64_t>(static_cast<std::int8_t>(in.byte()));
    case 6:
      return in.text(32);
    case 7:
      return json::array();
    case 8:
      return json::object();
    case 9:
      return depth > 3 ? json(nullptr) : json::array({value_of(in, depth + 1)});
    case 10:
      return depth > 3 ? json(nullptr) : json{{in.text(16), value_of(in, depth + 1)}};
    case 11:
      return depth > 3 ? json(nullptr) : json{{"include_usage", value_of(in, depth + 1)}};
    case 12:
      return depth > 3
                 ? json(nullptr)
                 : json::array({json{{"role", "user"}, {"content", value_of(in, depth + 1)}}});
    default:
      return static_cast<double>(static_cast<std::int32_t>(in.word())) / 4.0;
  }
}

const json& valid_body(api::Operation op) {
  static const json chat = json::parse(
      R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}],"max_tokens":8})");
  static const json completion = json::parse(R"({"model":"m","stream":true,"prompt":"hi"})");
  static const json embedding = json::parse(R"({"model":"m","input":["a","b"]})");
  static const json response = json::parse(
      R"({"model":"m","stream":true,"input":[{"role":"user","content":"hi"}],"instructions":"be"})");
  switch (op) {
    case api::Operation::chat_completions:
    case api::Operation::messages:  // not drawn: the reader treats it as chat plus max_tokens
      return chat;
    case api::Operation::completions:
      return completion;
    case api::Operation::embeddings:
      return embedding;
    case api::Operation::responses:
      return response;
  }
  return chat;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  const auto op = static_cast<api::Operation>(in.byte() % 4);
  json body = valid_body(op);
  std::set<std::string> touched;
  for (int edits = 0; edits < 6 && !in.empty(); ++edits) {
    const char* field = kFields[in.byte() % kFieldCount];
    touched.insert(field);
    if (in.byte() % 8 == 0) {
      body.erase(field);
    } else {
      body[field] = value_of(in, 0);
    }
  }
  const std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace);
  auto parsed = api::parse_request(op, text);
  if (!parsed) {
    const api::ApiError& error = parsed.error();
    if (error.status != 400) std::abort();
    const std::string field = error.param.substr(0, error.param.find_first_of(".["));
    if (touched.count(field) == 0) std::abort();  // refused for a field the recipe left valid
    return 0;
  }
  const std::string out = api::upstream_body(*parsed, "upstream-model");
  (void)api::prompt_features(*parsed, {"code", "prove"});
  const json sent = json::parse(out);
  if (sent.at("model") != "upstream-model") std::abort();
  // Chat and Completions streams ask for usage; the Responses API sends it unasked.
  if (parsed->stream && op != api::Operation::responses &&
      sent.at("stream_options").at("include_usage") != true) {
    std::abort();
  }
  return 0;
}

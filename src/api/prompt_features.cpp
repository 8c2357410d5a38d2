#include "fulcrum/api/prompt_features.hpp"

#include <algorithm>
#include <cctype>

namespace fulcrum::api {
namespace {

// Tokenizers average about four characters of English per token; chat formats add a few
// tokens of framing per message.
constexpr std::uint64_t kCharsPerToken = 4;
constexpr std::uint64_t kTokensPerMessage = 4;

class TextScan {
 public:
  explicit TextScan(const std::vector<std::string>& keywords)
      : keywords_(keywords), found_(keywords.size(), false) {}

  void add(std::string_view text) {
    chars_ += text.size();
    for (std::size_t at = text.find("```"); at != std::string_view::npos;
         at = text.find("```", at + 3)) {
      ++fences_;
    }
    if (keywords_.empty()) return;
    // One lower-casing pass, then a plain (memchr-driven) search per keyword.
    lowered_.resize(text.size());
    std::transform(text.begin(), text.end(), lowered_.begin(), [](char c) {
      return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    for (std::size_t k = 0; k < keywords_.size(); ++k) {
      if (!found_[k] && lowered_.find(keywords_[k]) != std::string::npos) found_[k] = true;
    }
  }

  // A message's content: a string, or an array of parts whose text parts count.
  void add_content(const nlohmann::json& content) {
    if (content.is_string()) {
      add(content.get_ref<const std::string&>());
    } else if (content.is_array()) {
      for (const auto& part : content) {
        const auto text = part.is_object() ? part.find("text") : part.end();
        if (part.is_object() && text != part.end() && text->is_string()) {
          add(text->get_ref<const std::string&>());
        } else if (part.is_string()) {
          add(part.get_ref<const std::string&>());
        }
      }
    }
  }

  std::uint64_t chars() const { return chars_; }
  unsigned code_blocks() const { return fences_ / 2; }
  unsigned keyword_hits() const {
    return static_cast<unsigned>(std::count(found_.begin(), found_.end(), true));
  }

 private:
  const std::vector<std::string>& keywords_;
  std::vector<bool> found_;
  std::string lowered_;
  std::uint64_t chars_ = 0;
  unsigned fences_ = 0;
};

bool present(const nlohmann::json& body, const char* key) {
  const auto it = body.find(key);
  return it != body.end() && !it->is_null() && !(it->is_array() && it->empty());
}

}  // namespace

core::PromptFeatures prompt_features(const ParsedRequest& request,
                                     const std::vector<std::string>& keywords) {
  core::PromptFeatures features;
  features.stream = request.stream;
  const nlohmann::json& body = request.body;
  TextScan scan(keywords);
  std::uint64_t framing = 0;
  if (const auto messages = body.find("messages"); messages != body.end() && messages->is_array()) {
    features.turns = static_cast<unsigned>(messages->size());
    framing = kTokensPerMessage * messages->size();
    for (const auto& message : *messages) {
      if (!message.is_object()) continue;
      if (const auto content = message.find("content"); content != message.end()) {
        scan.add_content(*content);
      }
    }
  } else if (const auto prompt = body.find("prompt"); prompt != body.end()) {
    features.turns = 1;
    scan.add_content(*prompt);
  } else if (const auto input = body.find("input"); input != body.end()) {
    features.turns = 1;
    scan.add_content(*input);
  }
  features.estimated_tokens = (scan.chars() + kCharsPerToken - 1) / kCharsPerToken + framing;
  features.code_blocks = scan.code_blocks();
  features.keyword_hits = scan.keyword_hits();
  features.tools = present(body, "tools") || present(body, "functions");
  if (const auto format = body.find("response_format");
      format != body.end() && format->is_object()) {
    const auto type = format->find("type");
    features.response_format = type == format->end() || !type->is_string() ||
                               type->get_ref<const std::string&>() != "text";
  }
  if (const auto n = body.find("n"); n != body.end() && n->is_number_unsigned()) {
    features.choices = std::max<std::uint64_t>(1, n->get<std::uint64_t>());
  }
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    const auto limit = body.find(key);
    if (limit != body.end() && limit->is_number_unsigned()) {
      features.max_tokens = limit->get<std::uint64_t>();
      break;
    }
  }
  return features;
}

}  // namespace fulcrum::api

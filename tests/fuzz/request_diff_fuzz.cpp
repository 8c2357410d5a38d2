// Fuzz target: the request reader against its reference (request_oracle.hpp), on any bytes.
// The first byte picks the operation (chat, completions, embeddings, responses), the rest is
// the body. For every input, either both
// refuse it with the same 400 (status, param, code), or both accept it and agree on the model,
// the stream flags and every routing signal, and the body sent upstream is the input with only
// `model` and stream_options.include_usage changed: the same document as the reference's edit,
// key order included, and byte for byte the client's outside the edits.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "fulcrum/api/prompt_features.hpp"
#include "fulcrum/api/request.hpp"
#include "request_oracle.hpp"

using namespace fulcrum;

namespace {

const std::vector<std::string> kKeywords = {"code", "step", "prove", "```"};
const std::string kUpstreamModel = "up/stream-\"model\"";

[[noreturn]] void disagree(const char* what) {
  std::fprintf(stderr, "request reader and reference disagree: %s\n", what);
  std::abort();
}

// The output is the client's bytes with the edits at the places the reader found (which the
// document comparison has vouched for) and nothing else: every other byte, whitespace and the
// spelling of numbers included, unchanged.
void check_bytes_kept(const api::ParsedRequest& r, const std::string& out) {
  struct Region {
    std::size_t at, length;
    std::string with;
  };
  std::string model = "\"";
  for (char c : kUpstreamModel) {
    if (c == '"' || c == '\\') model.push_back('\\');
    model.push_back(c);
  }
  model.push_back('"');
  std::vector<Region> regions{
      {r.model_value.begin, r.model_value.end - r.model_value.begin, model}};
  if (r.stream && r.operation != api::Operation::responses) {
    if (r.include_usage) {
      regions.push_back(
          {r.include_usage->begin, r.include_usage->end - r.include_usage->begin, "true"});
    } else if (r.stream_options && r.body[r.stream_options->begin] == 'n') {
      regions.push_back({r.stream_options->begin, 4, R"({"include_usage":true})"});
    } else if (r.stream_options) {
      regions.push_back(
          {r.stream_options->end - 1, 0,
           r.stream_options_empty ? R"("include_usage":true)" : R"(,"include_usage":true)"});
    } else {
      regions.push_back({r.object_close, 0, R"(,"stream_options":{"include_usage":true})"});
    }
  }
  std::sort(regions.begin(), regions.end(),
            [](const Region& a, const Region& b) { return a.at < b.at; });
  std::string expected;
  std::size_t from = 0;
  for (const Region& region : regions) {
    expected.append(r.body, from, region.at - from);
    expected.append(region.with);
    from = region.at + region.length;
  }
  expected.append(r.body, from, std::string::npos);
  if (out != expected) disagree("bytes outside the edits changed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto op = static_cast<api::Operation>(data[0] % 4);
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  const testing::OracleResult expected = testing::oracle_parse(op, body, kUpstreamModel, kKeywords);
  auto parsed = api::parse_request(op, body);
  if (!parsed) {
    if (!expected.error) disagree("the reader refused what the reference accepts");
    const api::ApiError& a = parsed.error();
    const api::ApiError& b = *expected.error;
    if (a.status != b.status || a.param != b.param || a.code != b.code) {
      std::fprintf(stderr, "reader: %u %s %s / reference: %u %s %s\n", a.status, a.param.c_str(),
                   a.code.c_str(), b.status, b.param.c_str(), b.code.c_str());
      disagree("different refusals");
    }
    return 0;
  }
  if (!expected.request) {
    std::fprintf(stderr, "reference refused: %s\n", expected.error->param.c_str());
    disagree("the reader accepted what the reference refuses");
  }
  const testing::OracleRequest& want = *expected.request;
  if (parsed->model != want.model) disagree("model");
  if (parsed->stream != want.stream) disagree("stream");
  if (parsed->client_wants_usage != want.client_wants_usage) disagree("client_wants_usage");
  const core::PromptFeatures got = api::prompt_features(*parsed, kKeywords);
  const core::PromptFeatures& f = want.features;
  if (got.estimated_tokens != f.estimated_tokens) disagree("estimated_tokens");
  if (got.code_blocks != f.code_blocks) disagree("code_blocks");
  if (got.keyword_hits != f.keyword_hits) disagree("keyword_hits");
  if (got.tools != f.tools) disagree("tools");
  if (got.response_format != f.response_format) disagree("response_format");
  if (got.turns != f.turns) disagree("turns");
  if (got.max_tokens != f.max_tokens) disagree("max_tokens");
  if (got.choices != f.choices) disagree("choices");
  const std::string out = api::upstream_body(*parsed, kUpstreamModel);
  const auto sent = nlohmann::ordered_json::parse(out, nullptr, false);
  if (sent.is_discarded()) disagree("the upstream body is not JSON");
  if (sent != want.upstream) disagree("the upstream body is not the reference's edit");
  check_bytes_kept(*parsed, out);
  return 0;
}

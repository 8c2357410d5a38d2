// Live reload: SIGHUP, a changed file (inotify) and POST /admin/reload swap the running
// config; an invalid file changes nothing; endpoint state carries over by name; listener
// changes wait for a restart; 200 reloads under load fail no request.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "../support/eventually.hpp"
#include "../support/http_client.hpp"
#include "../support/stack.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;

constexpr const char* kSims =
    "endpoints:\n"
    "  gpu: {listen: 127.0.0.1:0}\n"
    "  cloud: {listen: 127.0.0.1:0}\n"
    "  slow: {listen: 127.0.0.1:0, ttft: 10ms, tokens_per_second: 40}\n";

// `llama` is served by `target`; `extra` is appended verbatim (more models); gpu's address
// may be replaced (by "${closed}": refused connections).
std::string config(const std::string& target, const std::string& extra = "",
                   const std::string& gpu = "${gpu}") {
  return "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  threads: 2\n"
         "  admin_token_env: ADMIN_TOKEN\n"
         "endpoints:\n"
         "  gpu: {kind: provisioned, base_url: 'http://" +
         gpu +
         "/v1', hourly_usd: 2,\n"
         "        capacity: {max_concurrency: 1}, circuit_breaker: {failures: 1, cooldown: 60s}}\n"
         "  cloud: {kind: serverless, base_url: 'http://${cloud}/v1',\n"
         "          pricing: {m: {input: 1, output: 2}}}\n"
         "  slow: {kind: provisioned, base_url: 'http://${slow}/v1', hourly_usd: 1,\n"
         "         capacity: {max_concurrency: 1}}\n"
         "models:\n"
         "  llama: {targets: [" +
         target +
         "]}\n"
         "  long: {targets: [slow/m, cloud/m]}\n" +
         extra;
}

const std::map<std::string, std::string> kEnv{{"ADMIN_TOKEN", "reload-admin-token-0123456789"}};

std::string chat(const std::string& model, bool stream = false) {
  return R"({"model":")" + model + R"(","stream":)" + (stream ? "true" : "false") +
         R"(,"max_tokens":4,"messages":[{"role":"user","content":"hi"}]})";
}

std::string running_hash(const Stack& stack) {
  return json::parse(stack.admin("GET", "/admin/config").body)["hash"];
}

double reloads(const Stack& stack, const std::string& result) {
  return stack.metric("fulcrum_config_reloads_total", {{"result", result}}).value_or(-1);
}

bool logged(const Stack& stack, const std::string& text) {
  for (const auto& line : stack.gateway_lines()) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(Reload, SighupSwapsTheConfigAndTheHash) {
  Stack stack(kSims, config("gpu/m"), kEnv);
  HttpClient client(stack.port());
  EXPECT_EQ(client.post("/v1/chat/completions", chat("llama")).header("x-fulcrum-endpoint"), "gpu");
  const std::string before = running_hash(stack);

  stack.rewrite_config(config("cloud/m"));
  stack.gateway().signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return running_hash(stack) != before; }));
  EXPECT_EQ(client.post("/v1/chat/completions", chat("llama")).header("x-fulcrum-endpoint"),
            "cloud");  // the same keep-alive connection, the new config
  EXPECT_TRUE(stack.metric("fulcrum_config_info", {{"hash", running_hash(stack)}}).has_value());
  EXPECT_FALSE(stack.metric("fulcrum_config_info", {{"hash", before}}).has_value());
  EXPECT_GE(reloads(stack, "success"), 1);
}

TEST(Reload, AChangedFileReloadsByItself) {
  Stack stack(kSims, config("gpu/m"), kEnv);
  const std::string before = running_hash(stack);
  stack.rewrite_config(config("cloud/m"));  // an atomic rename, as editors save
  ASSERT_TRUE(eventually([&] { return running_hash(stack) != before; }));
  HttpClient client(stack.port());
  EXPECT_EQ(client.post("/v1/chat/completions", chat("llama")).header("x-fulcrum-endpoint"),
            "cloud");
  EXPECT_TRUE(eventually([&] { return logged(stack, "config_reloaded trigger=file"); }));
}

TEST(Reload, AnInvalidFileChangesNothingAndSaysWhere) {
  Stack stack(kSims, config("gpu/m"), kEnv);
  const std::string before = running_hash(stack);
  const std::string config_before = stack.admin("GET", "/admin/config").body;

  stack.rewrite_config(config("nowhere/m"));  // an unknown endpoint
  const Response answer = stack.admin("POST", "/admin/reload");
  EXPECT_EQ(answer.status, 422u);
  const json result = json::parse(answer.body);
  EXPECT_EQ(result["result"], "error");
  EXPECT_EQ(result["hash"], before);
  ASSERT_FALSE(result["errors"].empty());
  // file:line:col, then what is wrong.
  EXPECT_NE(result["errors"][0].get<std::string>().find(stack.config_path() + ":"),
            std::string::npos);
  EXPECT_NE(result["errors"][0].get<std::string>().find("nowhere"), std::string::npos);

  EXPECT_EQ(running_hash(stack), before);
  EXPECT_EQ(stack.admin("GET", "/admin/config").body, config_before);
  EXPECT_TRUE(stack.metric("fulcrum_config_info", {{"hash", before}}).has_value());
  EXPECT_GE(reloads(stack, "error"), 1);
  EXPECT_TRUE(eventually([&] { return logged(stack, "config_reload_failed trigger=admin"); }));
  HttpClient client(stack.port());
  EXPECT_EQ(client.post("/v1/chat/completions", chat("llama")).header("x-fulcrum-endpoint"), "gpu");
}

TEST(Reload, TheAdminReloadNeedsPostAndTheToken) {
  Stack stack(kSims, config("gpu/m"), kEnv);
  HttpClient anonymous(stack.admin_port());
  EXPECT_EQ(anonymous.post("/admin/reload", "").status, 401u);
  EXPECT_EQ(stack.admin("GET", "/admin/reload").status, 405u);
  const Response same = stack.admin("POST", "/admin/reload");
  EXPECT_EQ(same.status, 200u);
  EXPECT_EQ(json::parse(same.body)["result"], "unchanged");

  stack.rewrite_config(config("cloud/m"));
  const Response changed = stack.admin("POST", "/admin/reload");
  EXPECT_EQ(changed.status, 200u);
  // The file watcher may have reloaded it first; either way the new file runs.
  EXPECT_EQ(json::parse(changed.body)["hash"], running_hash(stack));
  HttpClient client(stack.port());
  EXPECT_EQ(client.post("/v1/chat/completions", chat("llama")).header("x-fulcrum-endpoint"),
            "cloud");
}

// A reload parses YAML and may read a 1.4 MB price catalog: it runs on the control thread,
// never on a data-plane worker. Here the config file becomes a FIFO, so the reload the file
// watcher starts blocks until the test writes it; an admin reload asked meanwhile waits its
// turn on the control thread, and the only worker (which also runs the admin listener) serves.
TEST(Reload, AnAdminReloadNeverStallsTheDataPlane) {
  std::string yaml = config("cloud/m");
  yaml.replace(yaml.find("threads: 2"), 10, "threads: 1");
  Stack stack(kSims, yaml, kEnv);
  std::string text;
  {
    std::ifstream in(stack.config_path());
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string fifo = stack.config_path() + ".fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::filesystem::rename(fifo, stack.config_path());
  // The watcher's reload has the FIFO open (and waits for a writer) once this succeeds.
  int writer = -1;
  ASSERT_TRUE(eventually([&] {
    writer = ::open(stack.config_path().c_str(), O_WRONLY | O_NONBLOCK);
    return writer >= 0;
  }));
  std::thread admin([&] {
    const Response done = stack.admin("POST", "/admin/reload");
    EXPECT_EQ(done.status, 200u) << done.body;
  });
  ASSERT_TRUE(eventually([&] { return logged(stack, "config_reload_requested trigger=admin"); }));

  HttpClient client(stack.port());
  const Response res = client.post("/v1/chat/completions", chat("llama"));
  EXPECT_EQ(res.status, 200u) << res.body;

  // A plain file again for the admin reload that runs next, then the blocked one's text.
  { std::ofstream(stack.config_path() + ".tmp") << text; }
  std::filesystem::rename(stack.config_path() + ".tmp", stack.config_path());
  ASSERT_EQ(::write(writer, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(writer);
  admin.join();
}

TEST(Reload, EndpointStateCarriesOverByName) {
  // gpu's circuit opens after one failure; slow has one slot.
  Stack stack(kSims, config("gpu/m, cloud/m"), kEnv);
  HttpClient stream(stack.port());
  ASSERT_EQ(stream
                .start("/v1/chat/completions",
                       R"({"model":"long","stream":true,"max_tokens":200,"messages":[]})")
                .status,
            200u);  // ~5 s on slow: its only slot stays taken
  ASSERT_TRUE(stream.next_piece());

  // A new model: a real change, with every endpoint still there.
  stack.rewrite_config(config("gpu/m, cloud/m", "  other: {targets: [cloud/m]}\n"));
  ASSERT_NE(json::parse(stack.admin("POST", "/admin/reload").body)["result"], "error");
  ASSERT_TRUE(eventually([&] {
    return json::parse(stack.admin("GET", "/admin/config").body)["config"]["models"].contains(
        "other");
  }));

  // The stream started on the old config still holds slow's slot in the new one.
  const json endpoints = json::parse(stack.admin("GET", "/admin/endpoints").body);
  EXPECT_EQ(endpoints["slow"]["in_flight"], 1);
  HttpClient client(stack.port());
  const Response spilled = client.post("/v1/chat/completions", chat("long"));
  EXPECT_EQ(spilled.header("x-fulcrum-endpoint"), "cloud");
  std::string body;
  while (auto piece = stream.next_piece()) body += *piece;
  EXPECT_NE(body.find("[DONE]"), std::string::npos);  // the old-config stream completed
  EXPECT_TRUE(eventually([&] {
    return json::parse(stack.admin("GET", "/admin/endpoints").body)["slow"]["in_flight"] == 0;
  }));
}

TEST(Reload, AnOpenCircuitStaysOpenAcrossAReload) {
  Stack stack(kSims, config("gpu/m, cloud/m", "", "${closed}"), kEnv);
  HttpClient client(stack.port());
  EXPECT_EQ(client.post("/v1/chat/completions", chat("llama")).header("x-fulcrum-endpoint"),
            "cloud");  // gpu refused: its circuit opens (failures: 1)
  EXPECT_EQ(json::parse(stack.admin("GET", "/admin/endpoints").body)["gpu"]["circuit"], "open");
  stack.rewrite_config(config("gpu/m, cloud/m", "  other: {targets: [cloud/m]}\n", "${closed}"));
  ASSERT_NE(json::parse(stack.admin("POST", "/admin/reload").body)["result"], "error");
  EXPECT_EQ(json::parse(stack.admin("GET", "/admin/endpoints").body)["gpu"]["circuit"], "open");
  EXPECT_EQ(client.post("/v1/chat/completions", chat("llama")).header("x-fulcrum-reason"),
            "spill:circuit-open");
}

TEST(Reload, ListenerChangesWaitForARestart) {
  Stack stack(kSims, config("gpu/m"), kEnv);
  std::string moved = config("cloud/m");
  moved.replace(moved.find("listen: 127.0.0.1:0"), 19, "listen: 127.0.0.1:1");
  stack.rewrite_config(moved);
  ASSERT_EQ(stack.admin("POST", "/admin/reload").status, 200u);
  EXPECT_TRUE(eventually(
      [&] { return logged(stack, "config_reload_needs_restart setting=server.listen"); }));
  HttpClient client(stack.port());  // the old listener still serves, with the new routes
  EXPECT_EQ(client.post("/v1/chat/completions", chat("llama")).header("x-fulcrum-endpoint"),
            "cloud");
  EXPECT_EQ(json::parse(stack.admin("GET", "/admin/config").body)["config"]["server"]["listen"],
            "127.0.0.1:0");
}

// The issue's acceptance test: 200 reloads, valid and invalid alternating, under a load of
// plain and streamed requests. No request fails or is reset; an invalid file never changes
// the running hash.
TEST(Reload, TwoHundredReloadsUnderLoadFailNothing) {
  Stack stack(kSims, config("gpu/m, cloud/m"), kEnv);
  std::atomic<bool> stop{false};
  std::atomic<int> completed{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&, t] {
      HttpClient client(stack.port());
      for (int i = 0; !stop; ++i) {
        const bool stream = (i + t) % 2 == 0;
        const Response r = client.post("/v1/chat/completions", chat("llama", stream));
        const bool ok =
            r.status == 200 && (!stream || r.body.find("data: [DONE]") != std::string::npos);
        (ok ? completed : failed)++;
      }
    });
  }
  std::string hash = running_hash(stack);
  int invalid_kept_hash = 0;
  for (int i = 0; i < 200; ++i) {
    const bool valid = i % 2 == 0;
    // Each valid file differs (a comment), so each valid reload is a real swap.
    stack.rewrite_config(valid ? config(i % 4 == 0 ? "gpu/m, cloud/m" : "cloud/m, gpu/m") +
                                     "# revision " + std::to_string(i) + "\n"
                               : config("gpu/m") + "  broken: {targets: [nowhere/m]}\n");
    const json result = json::parse(stack.admin("POST", "/admin/reload").body);
    if (valid) {
      EXPECT_NE(result["result"], "error") << i;
      EXPECT_NE(result["hash"], hash) << i;
      hash = result["hash"];
    } else {
      EXPECT_EQ(result["result"], "error") << i;
      invalid_kept_hash += result["hash"] == hash && running_hash(stack) == hash;
    }
  }
  stop = true;
  for (auto& thread : load) thread.join();
  EXPECT_EQ(invalid_kept_hash, 100);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(completed.load(), 200);
  EXPECT_GE(reloads(stack, "error"), 100);
  EXPECT_GE(reloads(stack, "success"), 100);
}

}  // namespace
}  // namespace fulcrum::testing

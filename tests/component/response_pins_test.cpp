// Which endpoint stored each Responses API response, and for whom.
#include "response_pins.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace fulcrum::net {
namespace {

TEST(ResponsePins, AResponseIsFoundForTheKeyThatMadeItOnly) {
  ResponsePins pins;
  pins.pin("resp_1", {"gpu", "alice", "m", "m"});
  ASSERT_TRUE(pins.find("resp_1", "alice"));
  EXPECT_EQ(pins.find("resp_1", "alice")->endpoint, "gpu");
  EXPECT_FALSE(pins.find("resp_1", "bob"));
  EXPECT_FALSE(pins.find("resp_2", "alice"));
  // An id is the upstream's: a second answer naming it does not move it or change its owner.
  pins.pin("resp_1", {"cloud", "bob", "m", "m"});
  EXPECT_EQ(pins.find("resp_1", "alice")->endpoint, "gpu");
  EXPECT_FALSE(pins.find("resp_1", "bob"));
  pins.forget("resp_1");
  EXPECT_FALSE(pins.find("resp_1", "alice"));
  pins.pin("", {"gpu", "alice", "m", "m"});  // an answer without an id pins nothing
  EXPECT_EQ(pins.size(), 0u);
}

TEST(ResponsePins, TheOldestAreForgottenBeyondTheCapacity) {
  ResponsePins pins(3);
  for (int i = 0; i < 5; ++i) pins.pin("resp_" + std::to_string(i), {"gpu", "k", "m", "m"});
  EXPECT_EQ(pins.size(), 3u);
  EXPECT_FALSE(pins.find("resp_0", "k"));
  EXPECT_FALSE(pins.find("resp_1", "k"));
  EXPECT_TRUE(pins.find("resp_4", "k"));
  // Forgetting makes room: the next pin evicts nobody, and a forgotten id pinned again is new.
  pins.forget("resp_2");
  pins.pin("resp_5", {"gpu", "k", "m", "m"});
  EXPECT_TRUE(pins.find("resp_3", "k"));
  pins.pin("resp_2", {"cloud", "k", "m", "m"});
  EXPECT_FALSE(pins.find("resp_3", "k"));
  EXPECT_EQ(pins.find("resp_2", "k")->endpoint, "cloud");
  EXPECT_EQ(pins.size(), 3u);
}

TEST(ResponsePins, DeletingEveryResponseKeepsNothing) {
  ResponsePins pins(10);
  for (int i = 0; i < 10000; ++i) {
    const std::string id = "resp_" + std::to_string(i);
    pins.pin(id, {"gpu", "k", "m", "m"});
    pins.forget(id);
  }
  EXPECT_EQ(pins.size(), 0u);
  // The eviction order was emptied too: ten new pins all stay, the eleventh evicts the first.
  for (int i = 0; i < 10; ++i) pins.pin("new_" + std::to_string(i), {"gpu", "k", "m", "m"});
  EXPECT_TRUE(pins.find("new_0", "k"));
  EXPECT_EQ(pins.size(), 10u);
  pins.pin("new_10", {"gpu", "k", "m", "m"});
  EXPECT_FALSE(pins.find("new_0", "k"));
  EXPECT_TRUE(pins.find("new_1", "k"));
  EXPECT_EQ(pins.size(), 10u);
}

TEST(ResponsePins, WorkersPinAndFindConcurrently) {
  ResponsePins pins(1000);
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&pins, w] {
      for (int i = 0; i < 2000; ++i) {
        const std::string id = "resp_" + std::to_string(w) + "_" + std::to_string(i);
        pins.pin(id, {"gpu", "k", "m", "m"});
        (void)pins.find(id, "k");
        if (i % 3 == 0) pins.forget(id);
      }
    });
  }
  for (auto& t : workers) t.join();
  // 5332 of the 8000 were kept: the newest 1000 remain, each findable.
  EXPECT_EQ(pins.size(), 1000u);
  int found = 0;
  for (int w = 0; w < 4; ++w) {
    for (int i = 0; i < 2000; ++i) {
      found += pins.find("resp_" + std::to_string(w) + "_" + std::to_string(i), "k") ? 1 : 0;
    }
  }
  EXPECT_EQ(found, 1000);
}

}  // namespace
}  // namespace fulcrum::net

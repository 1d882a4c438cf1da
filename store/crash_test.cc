// Kill -9 recovery: a child process appends in fsync mode and reports every
// acknowledged id through a pipe; the parent SIGKILLs it at a random moment,
// reopens the log and checks that every reported id is there.
//
// The child is a fresh exec of this binary (not just a fork) so that it does
// not inherit RocksDB's background thread pools half-initialised.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "store/log.h"
#include "store/test_util.h"

namespace tailgate::store {
namespace {

constexpr char kChildDirEnv[] = "TAILGATE_CRASH_CHILD_DIR";
constexpr char kChildFdEnv[] = "TAILGATE_CRASH_CHILD_FD";

bool WriteAll(int fd, const void* buf, size_t n) {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Appends until killed. Runs in the child process.
int ChildMain(const std::string& dir, int fd) {
  Options options;
  options.data_dir = dir;
  options.durability = Durability::kFsync;
  auto log = OpenRocksDbLog(options);
  if (!log.ok()) {
    fprintf(stderr, "child: %s\n", std::string(log.status().message()).c_str());
    return 2;
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0;; ++i) {
        std::vector<EventInput> events;
        const int n = i % 5 == 0 ? 3 : 1;  // some atomic multi-event appends
        for (int k = 0; k < n; ++k) {
          events.push_back(testing::Ev(absl::StrCat("crash.", t), absl::StrCat(t, ":", i)));
        }
        auto r = (*log)->Append(std::move(events));
        if (!r.ok()) std::_Exit(3);
        for (const AppendResult& a : *r) {
          // 8-byte writes to a pipe are atomic, so the parent never sees half an id.
          if (!WriteAll(fd, &a.id, sizeof(a.id))) std::_Exit(4);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  return 0;
}

TEST(CrashTest, EveryAcknowledgedIdSurvivesKillNine) {
  const std::string dir = testing::FreshDir();
  std::mt19937_64 rng(std::random_device{}());
  uint64_t highest_seen = 0;
  for (int round = 0; round < 5; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const std::string fd_value = std::to_string(fds[1]);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      setenv(kChildDirEnv, dir.c_str(), 1);
      setenv(kChildFdEnv, fd_value.c_str(), 1);
      char* const argv[] = {const_cast<char*>("crash_test_child"), nullptr};
      execv("/proc/self/exe", argv);
      std::_Exit(127);
    }
    close(fds[1]);

    // Kill after a random number of acknowledgements: a random moment in
    // the child's commit cycle, without sleeping.
    const size_t kill_after = std::uniform_int_distribution<size_t>(20, 3000)(rng);
    std::vector<uint64_t> acked;
    std::string pending;
    bool killed = false;
    char buf[4096];
    for (;;) {
      ssize_t n = read(fds[0], buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // EOF: the child is gone
      pending.append(buf, static_cast<size_t>(n));
      size_t whole = pending.size() / 8 * 8;
      for (size_t off = 0; off < whole; off += 8) {
        uint64_t id;
        memcpy(&id, pending.data() + off, 8);
        acked.push_back(id);
      }
      pending.erase(0, whole);
      if (!killed && acked.size() >= kill_after) {
        kill(pid, SIGKILL);
        killed = true;
      }
    }
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(killed) << "child exited early, status " << status;
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;

    Options options;
    options.data_dir = dir;
    auto log = OpenRocksDbLog(options);
    ASSERT_TRUE(log.ok()) << log.status();
    std::vector<Event> events = testing::ReadAll(**log, {"crash.>"}, 0, 4096);
    std::set<uint64_t> stored;
    for (const Event& e : events) stored.insert(e.id);
    uint64_t max_acked = 0;
    size_t missing = 0;
    for (uint64_t id : acked) {
      max_acked = std::max(max_acked, id);
      if (!stored.count(id)) ++missing;
    }
    EXPECT_EQ(missing, 0u) << "round " << round << ": " << missing << " of " << acked.size()
                           << " acknowledged ids lost";
    EXPECT_GE((*log)->LastAssignedId(), max_acked);
    EXPECT_GE((*log)->Watermark(), max_acked);
    EXPECT_GT(max_acked, highest_seen) << "ids must keep climbing across crashes";
    // Recovery keeps ids strictly above anything ever handed out.
    auto r = (*log)->Append({testing::Ev("crash.after", "x")});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_GT((*r)[0].id, stored.empty() ? 0 : *stored.rbegin());
    highest_seen = (*r)[0].id;
    // Committed events are gap-free: every id up to the watermark is present
    // (nothing was trimmed in this test) above the new log's first id.
    EXPECT_EQ(stored.size(), (*log)->Watermark() - 1 - (*log)->IdsStartAfter())
        << "round " << round;
  }
}

}  // namespace
}  // namespace tailgate::store

int main(int argc, char** argv) {
  if (const char* dir = std::getenv(tailgate::store::kChildDirEnv)) {
    int fd = -1;
    if (!absl::SimpleAtoi(std::getenv(tailgate::store::kChildFdEnv), &fd)) return 2;
    return tailgate::store::ChildMain(dir, fd);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

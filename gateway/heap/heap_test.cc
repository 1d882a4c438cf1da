#include "gateway/heap/heap.h"

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/process.h"

#ifdef TAILGATE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

namespace tailgate {
namespace {

constexpr int64_t kMiB = 1 << 20;

int64_t RssBytes() { return testing::ProcStatusBytes(getpid(), "VmRSS"); }

#ifdef TAILGATE_JEMALLOC
uint64_t ThreadAllocatedBytes() {
  uint64_t bytes = 0;
  size_t size = sizeof(bytes);
  EXPECT_EQ(mallctl("thread.allocated", &bytes, &size, nullptr, 0), 0);
  return bytes;
}
#endif

TEST(HeapTest, MallocIsTheNamedAllocator) {
#ifdef TAILGATE_JEMALLOC
  EXPECT_THAT(HeapAllocatorName(), ::testing::StartsWith("jemalloc 5."));
  // Plain malloc lands in jemalloc (it replaced glibc's for the process).
  const uint64_t before = ThreadAllocatedBytes();
  void* p = std::malloc(kMiB);
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, kMiB);
  EXPECT_GE(ThreadAllocatedBytes() - before, static_cast<uint64_t>(kMiB));
  std::free(p);
#else
  EXPECT_EQ(HeapAllocatorName(), "glibc malloc");
#endif
}

TEST(HeapTest, ReleaseGivesFreedMemoryBackToTheSystem) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "a sanitizer's allocator holds freed memory in quarantine";
#endif
  ConfigureHeap();
  const int64_t base = RssBytes();
  {
    // A burst of request-sized blocks, as the publish path holds them.
    std::vector<std::unique_ptr<char[]>> blocks;
    for (int i = 0; i < 2048; ++i) {
      blocks.emplace_back(new char[64 * 1024]);
      std::memset(blocks.back().get(), i, 64 * 1024);
    }
    ASSERT_GE(RssBytes() - base, 100 * kMiB);
  }
  ReleaseFreeHeapMemory();
  EXPECT_LE(RssBytes() - base, 16 * kMiB);
}

}  // namespace
}  // namespace tailgate

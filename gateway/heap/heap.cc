#include "gateway/heap/heap.h"

#ifdef TAILGATE_JEMALLOC
#include <jemalloc/jemalloc.h>

#include <cstdio>
#else
#include <malloc.h>
#endif

namespace tailgate {

#ifdef TAILGATE_JEMALLOC

std::string HeapAllocatorName() {
  const char* version = nullptr;
  size_t size = sizeof(version);
  if (mallctl("version", &version, &size, nullptr, 0) != 0 || version == nullptr) {
    return "jemalloc";
  }
  // "5.3.0-0-g54eaed1d..." -> "5.3.0"
  const std::string v(version);
  return "jemalloc " + v.substr(0, v.find('-'));
}

void ConfigureHeap() {}

void ReleaseFreeHeapMemory() {
  // The calling thread's cache first, so its blocks are in the arenas that
  // the purge below empties.
  mallctl("thread.tcache.flush", nullptr, nullptr, nullptr, 0);
  char purge_all[64];
  std::snprintf(purge_all, sizeof(purge_all), "arena.%u.purge", MALLCTL_ARENAS_ALL);
  mallctl(purge_all, nullptr, nullptr, nullptr, 0);
}

#else  // glibc's malloc, or a sanitizer's that stands in for it

std::string HeapAllocatorName() { return "glibc malloc"; }

void ConfigureHeap() {
  // Large buffers (request data, RocksDB arenas) get their own mappings and
  // go back to the system when freed; glibc's default raises this threshold
  // as large blocks are freed, after which a burst stays in RSS for good.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
}

void ReleaseFreeHeapMemory() {
  // glibc keeps freed heap pages mapped unless asked to give them back.
  malloc_trim(0);
}

#endif

}  // namespace tailgate

// The process's heap allocator: which one it is, how it is set up, and how
// freed memory goes back to the system.
//
// The gateway links jemalloc (Debian's libjemalloc2): glibc's malloc, with
// blocks allocated on gRPC and event-loop threads and freed on the log's
// committer thread (and the other way round), took 10-25 % of the server's
// CPU on the ingest paths (docs/benchmarks.md, "Notes"). Sanitizer builds bring their own allocator
// and build this library without jemalloc (--define=tailgate_malloc=system,
// set by the asan, tsan and fuzz configs in .bazelrc).
//
// Thread-safety: all functions are thread-safe.
#ifndef TAILGATE_GATEWAY_HEAP_HEAP_H_
#define TAILGATE_GATEWAY_HEAP_HEAP_H_

#include <string>

namespace tailgate {

// "jemalloc 5.3.0" or "glibc malloc" (the startup log line names it).
std::string HeapAllocatorName();

// Call first in main(): settings that must precede the first large
// allocation (glibc only; jemalloc's defaults already return large blocks
// to the system).
void ConfigureHeap();

// Returns every freed but still mapped heap page to the system now, instead
// of when the allocator would by itself (after a burst, RSS falls back at
// once). Costs a walk over the heap: call after bursts, not per request.
void ReleaseFreeHeapMemory();

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_HEAP_HEAP_H_

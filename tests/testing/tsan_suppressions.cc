// ThreadSanitizer suppressions for tests linking this library (no effect in
// other builds). Only races *inside* Debian's uninstrumented system libraries
// are suppressed: TSAN cannot see their internal synchronisation (e.g.
// Abseil's Mutex deadlock-detection graph, used from gRPC's threads, is
// guarded by an uninstrumented spinlock). Races in tailgate's own code are
// still reported.
//
// The runtime looks the hook up in the executable: the library is linked
// statically (linkstatic) so the definition lands there.
extern "C" const char* __tsan_default_suppressions() {
  return "called_from_lib:libabsl_graphcycles_internal.so\n"
         "race:absl::debian3::synchronization_internal::GraphCycles\n"
         // libc calls (epoll, close) made by gRPC's own poller threads.
         "called_from_lib:libgrpc.so\n"
         "called_from_lib:libgpr.so\n"
         // The RocksDB log synchronises with absl::Mutex, whose Debian build
         // TSAN cannot see (every access under it looks racy). tailgate's
         // gateway code uses std:: mutexes for this reason.
         "race:RocksDbLog\n";
}

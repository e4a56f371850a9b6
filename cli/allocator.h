// Tuning the C library's allocator for a server process, before it starts.
#pragma once

namespace ciap {

// glibc keeps a per-thread cache of freed blocks, 7 per size by default. A worker with a hundred
// requests in flight frees and takes many more blocks of the same few sizes (coroutine frames,
// header strings, stream state) between two passes of its event loop, so most of them missed
// that cache and went through the allocator's slower shared path: about 5% of a request's CPU
// under HTTP/2 load. `ciap run` therefore starts itself once more (same pid, same arguments)
// with the cache at 128 blocks per size (GLIBC_TUNABLES=glibc.malloc.tcache_count=128), unless
// the environment sets that tunable already, CIAP_MALLOC_TUNING=off, or the build is
// sanitized (its allocator is not glibc's). Returns when it did not restart.
void TuneAllocator(char** argv);

}  // namespace ciap

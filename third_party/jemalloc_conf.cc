// Retaining allocator settings for every binary that links LibTorch (//third_party:torch).
//
// LibTorch's CPU tensors are plain malloc/free. With glibc's allocator the large
// activation buffers of a forward/backward pass are unmapped on free and mapped again on
// the next batch, so every batch page-faults its whole working set anew: measured, half
// of the CPU time of `nas eval` went to the kernel. jemalloc keeps freed memory mapped
// (retain) and never returns dirty or muzzy pages to the kernel (decay -1), so buffers
// are reused. jemalloc reads this symbol at start-up; MALLOC_CONF in the environment
// still overrides it.
extern "C" {
__attribute__((visibility("default"), used)) const char* malloc_conf =
    "retain:true,dirty_decay_ms:-1,muzzy_decay_ms:-1";
}

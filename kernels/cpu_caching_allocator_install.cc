// Installs the caching CPU allocator before main() runs, in every binary that links
// //third_party:torch (kernels/cpu_caching_allocator.h says why). LibTorch's own default
// allocator is registered by libc10's static initializers, which run before this
// program's; the caching allocator outranks it by priority either way.
#include "kernels/cpu_caching_allocator.h"

namespace {

const bool kInstalled = [] {
  nas::kernels::InstallCachingCpuAllocator();
  return true;
}();

}  // namespace

// Replacement of the global allocation functions with counting versions (see alloc_counter.hpp).
#include "experiments/src/bench/alloc_counter.hpp"

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(__SANITIZE_MEMORY__)
#define SBX_INTERPOSE_MALLOC 0  // the sanitizer owns malloc; only operator new is counted
#elif defined(__GLIBC__)
#define SBX_INTERPOSE_MALLOC 1
#else
#define SBX_INTERPOSE_MALLOC 0
#endif

namespace {

// Constant-initialised, so they are usable before any constructor runs (the loader may call malloc early).
constinit std::atomic<std::uint64_t> g_operator_new{0};
constinit std::atomic<std::uint64_t> g_c_allocations{0};

}  // namespace

#if SBX_INTERPOSE_MALLOC
// glibc's own allocator under its internal names (exported for exactly this use: interposers).
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* pointer, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void __libc_free(void* pointer);
}

namespace {
void* raw_malloc(std::size_t size) { return __libc_malloc(size); }
void* raw_aligned(std::size_t alignment, std::size_t size) { return __libc_memalign(alignment, size); }
void raw_free(void* pointer) { __libc_free(pointer); }
void count_c() { g_c_allocations.fetch_add(1, std::memory_order_relaxed); }
bool valid_alignment(std::size_t alignment) {
  return alignment >= sizeof(void*) && (alignment & (alignment - 1)) == 0;
}
}  // namespace

extern "C" {

void* malloc(std::size_t size) noexcept {
  count_c();
  return __libc_malloc(size);
}

void* calloc(std::size_t count, std::size_t size) noexcept {
  count_c();
  return __libc_calloc(count, size);
}

void* realloc(void* pointer, std::size_t size) noexcept {
  if (size != 0) count_c();  // may move the block: counted as an allocation
  return __libc_realloc(pointer, size);
}

void free(void* pointer) noexcept { __libc_free(pointer); }

int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  if (!valid_alignment(alignment)) return EINVAL;
  count_c();
  void* p = __libc_memalign(alignment, size);
  if (!p && size != 0) return ENOMEM;
  *out = p;
  return 0;
}

void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    errno = EINVAL;
    return nullptr;
  }
  count_c();
  return __libc_memalign(alignment, size);
}

void* memalign(std::size_t alignment, std::size_t size) noexcept {
  count_c();
  return __libc_memalign(alignment, size);
}

}  // extern "C"

#else
namespace {
void* raw_malloc(std::size_t size) { return std::malloc(size); }
void* raw_aligned(std::size_t alignment, std::size_t size) {
  void* p = nullptr;
  return posix_memalign(&p, alignment < sizeof(void*) ? sizeof(void*) : alignment, size) == 0 ? p : nullptr;
}
void raw_free(void* pointer) { std::free(pointer); }
}  // namespace
#endif

namespace {

// The standard's loop: try, else call the new-handler, else fail.
void* allocate(std::size_t size) {
  g_operator_new.fetch_add(1, std::memory_order_relaxed);
  if (size == 0) size = 1;
  for (;;) {
    if (void* p = raw_malloc(size)) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) throw std::bad_alloc();
    handler();
  }
}

void* allocate_aligned(std::size_t size, std::align_val_t alignment) {
  g_operator_new.fetch_add(1, std::memory_order_relaxed);
  if (size == 0) size = 1;
  for (;;) {
    if (void* p = raw_aligned(static_cast<std::size_t>(alignment), size)) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) throw std::bad_alloc();
    handler();
  }
}

template <class F>
void* no_throw(F&& f) noexcept {
  try {
    return f();
  } catch (...) {
    return nullptr;
  }
}

}  // namespace

void* operator new(std::size_t size) { return allocate(size); }
void* operator new[](std::size_t size) { return allocate(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return no_throw([&] { return allocate(size); }); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return no_throw([&] { return allocate(size); }); }
void* operator new(std::size_t size, std::align_val_t alignment) { return allocate_aligned(size, alignment); }
void* operator new[](std::size_t size, std::align_val_t alignment) { return allocate_aligned(size, alignment); }
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return no_throw([&] { return allocate_aligned(size, alignment); });
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return no_throw([&] { return allocate_aligned(size, alignment); });
}

void operator delete(void* pointer) noexcept { raw_free(pointer); }
void operator delete[](void* pointer) noexcept { raw_free(pointer); }
void operator delete(void* pointer, std::size_t) noexcept { raw_free(pointer); }
void operator delete[](void* pointer, std::size_t) noexcept { raw_free(pointer); }
void operator delete(void* pointer, const std::nothrow_t&) noexcept { raw_free(pointer); }
void operator delete[](void* pointer, const std::nothrow_t&) noexcept { raw_free(pointer); }
void operator delete(void* pointer, std::align_val_t) noexcept { raw_free(pointer); }
void operator delete[](void* pointer, std::align_val_t) noexcept { raw_free(pointer); }
void operator delete(void* pointer, std::size_t, std::align_val_t) noexcept { raw_free(pointer); }
void operator delete[](void* pointer, std::size_t, std::align_val_t) noexcept { raw_free(pointer); }
void operator delete(void* pointer, std::align_val_t, const std::nothrow_t&) noexcept { raw_free(pointer); }
void operator delete[](void* pointer, std::align_val_t, const std::nothrow_t&) noexcept { raw_free(pointer); }

namespace sbx::bench {

std::uint64_t heap_allocations() {
  return g_operator_new.load(std::memory_order_relaxed) + g_c_allocations.load(std::memory_order_relaxed);
}
std::uint64_t operator_new_calls() { return g_operator_new.load(std::memory_order_relaxed); }
bool counts_c_allocations() { return SBX_INTERPOSE_MALLOC != 0; }

}  // namespace sbx::bench

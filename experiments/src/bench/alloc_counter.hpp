#pragma once
// Counts heap allocations made by this process, for `sandbox bench` ("allocations per step after
// warm-up") and its tests.
//
// alloc_counter.cpp replaces the global operator new (every form: plain, array, nothrow, aligned) and
// operator delete, and also interposes the C allocation functions (malloc, calloc, realloc,
// posix_memalign, aligned_alloc, memalign). The C functions matter: Eigen allocates every matrix with
// std::malloc (Eigen::internal::aligned_malloc), never with operator new, so counting operator new alone
// would report zero for a step that resizes a matrix. The C functions forward to glibc's own
// implementation (__libc_malloc and friends), so the heap is the same one and memory may be freed by
// either side. In sanitizer builds the C functions are left to the sanitizer and only operator new is
// counted (counts_c_allocations() is then false).
//
// The replacement lives in the experiments library; the bench refers to these functions, which pulls the
// object file into every binary that runs it.
#include <cstdint>

namespace sbx::bench {

// Every heap allocation so far: operator new calls plus C allocation calls (each allocation counted once,
// operator new does not go through the counted malloc). Monotone; relaxed atomics, safe from any thread.
std::uint64_t heap_allocations();
std::uint64_t operator_new_calls();  // operator new alone (all forms)
bool counts_c_allocations();         // whether malloc & co. are counted in this build

}  // namespace sbx::bench

# The bench's counting malloc/operator new (experiments/src/bench/alloc_counter.cpp) replaces the process's
# allocator, so it is linked into `sandbox` and `bench_tests` only: unit_tests must run on the real one.
#   build.alloc_counter_links   nm finds the counter in sandbox and bench_tests, and not in unit_tests
add_test(NAME build.alloc_counter_links
         COMMAND bash -c [=[
has() { nm -C "$1" | grep -q 'sbx::bench::heap_allocations()'; }
has "$1" || { echo "FAIL: the sandbox binary has no allocation counter"; exit 1; }
has "$2" || { echo "FAIL: bench_tests has no allocation counter"; exit 1; }
if has "$3"; then echo "FAIL: unit_tests is linked with the bench's counting malloc"; exit 1; fi
echo "PASS: the allocation counter is in sandbox and bench_tests only"]=]
                 alloc_counter_links $<TARGET_FILE:sandbox> $<TARGET_FILE:bench_tests> $<TARGET_FILE:unit_tests>)

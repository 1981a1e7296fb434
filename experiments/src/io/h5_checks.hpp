#pragma once
// What is checked before HDF5 is trusted with what a file claims: a damaged file can claim sizes that
// HDF5 would allocate, or structures it would walk forever, before it notices anything is wrong. Each
// check throws a one-line UserError naming the file and the problem. Internal to experiments/src/io.
#include <H5Cpp.h>

#include <cstddef>
#include <string>
#include <vector>

namespace sbx::io::detail {

// Refuse datasets above this many elements: they would not fit in memory and are surely a mistake.
inline constexpr hsize_t kMaxElements = hsize_t{1} << 31;

// The number of elements of dims; UserError "<where> is too large" above kMaxElements.
hsize_t checked_count(const std::vector<hsize_t>& dims, const std::string& where);
// A chunked dataset claiming far more values than its stored bytes can hold is damaged.
void check_storage_plausible(const H5::DataSet& ds, hsize_t count, const std::string& where);
// An integer (or, unless integer_only, float) type of at most 16 bytes per element.
void check_numeric(const H5::DataType& type, const std::string& where, bool integer_only);
void require_rank(const std::vector<hsize_t>& dims, std::size_t rank, const std::string& where,
                  const std::string& what);

// Opens an existing file read-only, with one clear message for each way it can be wrong. Its bytes are
// checked first (refuse_unsafe_file): HDF5 never sees a file whose metadata would crash it.
H5::H5File open_existing(const std::string& path);
// Refuses a file whose structure (h5_structure.hpp) or global heaps HDF5 must not be trusted with.
void refuse_unsafe_file(const std::string& path);

std::vector<char> read_file_bytes(const std::string& path);
// Refuses a file whose global heap HDF5 would walk forever or past its end.
void refuse_looping_global_heaps(const std::vector<char>& bytes, const std::string& path);

}  // namespace sbx::io::detail

#pragma once
// A run's checksum: CRC-32 over everything a run holds (its attributes, series and matrices), written with
// the run (write_run_group, in the same transaction) and verified by the run validator, so that a byte
// changed after writing (a flipped bit in the config, an attribute, a parameter or a series: damage HDF5
// does not detect, since it checksums none of these) makes the run damaged instead of silently copied on by
// `merge` or kept as done by a resumed sweep. The Python reader (experiments/sqrtdk/checksum.py) computes
// the same value; results/README.md defines the bytes it is computed over.
#include <cstdint>
#include <string>
#include <string_view>

#include "experiments/src/io/run_file.hpp"

namespace sbx::io {

// 8 lowercase hex digits: the CRC-32 (zlib's, as Python's zlib.crc32) of the run's canonical bytes. Items
// (each attribute as "@<name>", each dataset by its path below the run group) in the byte order of their
// names, each as: name, a 0 byte, a type byte ('s' string, 'i' int64, 'f' float64, 'm' matrix), the count
// as uint64 little-endian (string bytes, values, or rows then cols for a matrix) and the values (strings up
// to their first 0 byte, as HDF5 stores them; numbers little-endian; matrices row by row). The checksum
// attribute itself is left out.
std::string run_checksum(const RunRecord& run);

std::uint32_t crc32(std::uint32_t crc, const void* data, std::size_t size);  // zlib's crc32(): crc32(0, ...) to start

// 64-bit FNV-1a: config_hash (of a run's configuration text; the validator checks it against `config`) and
// the names of lock and temporary files. Stable across platforms and versions.
std::uint64_t fnv1a64(std::string_view text);
std::string config_hash(const std::string& config_text);  // fnv1a64 as 16 lowercase hex digits

}  // namespace sbx::io

#pragma once
// The walk over a file's bytes that runs before HDF5 opens it. HDF5 1.10 believes the sizes and addresses
// its metadata claims: a flipped bit in an object header's continuation length made it allocate 446 GB
// (ASan aborts; Release only survives because malloc returns null), and a damaged reference to a global
// heap object made it copy from outside the collection (a crash in H5HG_read). So the metadata HDF5 would
// follow (superblock, object headers and their continuations, group B-trees and symbol nodes, attribute
// messages) is followed here first, and what lies outside the file or would overrun a buffer is refused.
// Only what cannot be right in any file is refused; what this walk does not understand it leaves to HDF5.
// Internal to experiments/src/io.
#include <string>
#include <vector>

namespace sbx::io::detail {

// Throws UserError "<path>: is damaged (...)" if `bytes` (the whole file) holds an object-header
// continuation outside the file, or a variable-length value (a string attribute) whose global heap
// object is missing or not of the length the value claims.
void refuse_unsafe_structure(const std::vector<char>& bytes, const std::string& path);

}  // namespace sbx::io::detail

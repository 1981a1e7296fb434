#include "experiments/src/io/h5_checks.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>

#include "experiments/src/io/file_lock.hpp"
#include "experiments/src/io/h5_common.hpp"
#include "experiments/src/io/h5_structure.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::io::detail {

namespace fs = std::filesystem;

hsize_t checked_count(const std::vector<hsize_t>& dims, const std::string& where) {
  if (std::find(dims.begin(), dims.end(), hsize_t{0}) != dims.end()) return 0;
  hsize_t count = 1;
  for (const hsize_t d : dims) {
    if (count > kMaxElements / d) throw UserError(where + " is too large: shape " + shape_string(dims));
    count *= d;
  }
  return count;
}

namespace {

// The size of the file `obj` is in (for a transaction, its in-memory image); 0 if HDF5 cannot say.
hsize_t file_size_of(const H5::H5Object& obj) {
  const hid_t file = H5Iget_file_id(obj.getId());
  if (file < 0) return 0;
  hsize_t size = 0;
  if (H5Fget_filesize(file, &size) < 0) size = 0;
  H5Fclose(file);
  return size;
}

// A dataset stored in one piece (contiguous, or compact in its header) lies inside the file: a damaged
// extent claiming more bytes than the whole file holds is refused before a buffer of that size is
// allocated (a 300 KB file claiming (8, 3120562180) would otherwise cost gigabytes first).
void check_fits_in_file(const H5::DataSet& ds, hsize_t count, const std::string& where) {
  const hsize_t element = ds.getDataType().getSize();  // at most 16 (check_numeric)
  const hsize_t file_size = file_size_of(ds);
  if (file_size > 0 && count > file_size / std::max<hsize_t>(element, 1))
    throw UserError(where + " is damaged: it claims " + std::to_string(count) + " values, more than the file's " +
                    std::to_string(file_size) + " bytes can hold");
}

}  // namespace

// A damaged extent can claim hundreds of millions of values for a chunked dataset that stores a few
// bytes (a fuzzed file: a series of 3 became 301989891), and HDF5 then fills them chunk by chunk for
// minutes. Deflate packs at most 1032:1, so more than that over the stored bytes (plus one chunk) is damage.
void check_storage_plausible(const H5::DataSet& ds, hsize_t count, const std::string& where) {
  const H5::DSetCreatPropList plist = ds.getCreatePlist();
  if (plist.getLayout() != H5D_CHUNKED) {
    check_fits_in_file(ds, count, where);
    return;
  }
  std::vector<hsize_t> chunk(static_cast<std::size_t>(std::max(plist.getChunk(0, nullptr), 0)));
  if (!chunk.empty()) plist.getChunk(static_cast<int>(chunk.size()), chunk.data());
  const hsize_t element = ds.getDataType().getSize();  // at most 16 (check_numeric)
  hsize_t chunk_bytes = element;
  for (const hsize_t c : chunk) chunk_bytes = std::min(chunk_bytes * std::max<hsize_t>(c, 1), kMaxElements * 16);
  const hsize_t stored = ds.getStorageSize();
  if (count * element > 1032 * stored + chunk_bytes)
    throw UserError(where + " is damaged: it claims " + std::to_string(count) + " values but stores " +
                    std::to_string(stored) + " bytes");
}

namespace {

std::string class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER:
      return "integer";
    case H5T_FLOAT:
      return "float";
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum/bool";
    default:
      return "non-numeric";
  }
}

// Another program (h5py, HDFView) holding the file open for writing locks it (HDF5's own flock): say so,
// rather than that the file cannot be read.
std::string lock_problem(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string problem;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
    const long holder = lock_holder(fd);
    problem = path + ": is locked by " + (holder > 0 ? "process " + std::to_string(holder) : std::string("another program")) +
              " that has it open for writing (close it there, e.g. the h5py session, and retry)";
  }
  ::close(fd);
  return problem;
}

std::string hdf5_problem(const std::string& path) {
  if (std::string locked = lock_problem(path); !locked.empty()) return locked;
  try {
    if (!H5::H5File::isHdf5(path)) return path + ": not an HDF5 file";
  } catch (const H5::Exception&) {
    return path + ": cannot be opened for reading";
  }
  return path + ": cannot be read as HDF5";
}

}  // namespace

void check_numeric(const H5::DataType& type, const std::string& where, bool integer_only) {
  const H5T_class_t c = type.getClass();
  if (c != H5T_INTEGER && !(c == H5T_FLOAT && !integer_only))
    throw UserError(where + " has type " + class_name(c) + " but must be " +
                    (integer_only ? "integer" : "numeric (float64)"));
  // A damaged datatype can claim elements of gigabytes; HDF5 would allocate a conversion buffer of that
  // size (and take seconds to fail) before reading a single value.
  if (type.getSize() > 16)
    throw UserError(where + " is damaged: its numbers claim " + std::to_string(type.getSize()) + " bytes each");
}

void require_rank(const std::vector<hsize_t>& dims, std::size_t rank, const std::string& where,
                  const std::string& what) {
  if (dims.size() != rank)
    throw UserError(where + " has shape " + shape_string(dims) + " but must be " + std::to_string(rank) + "-D " + what);
}

// HDF5 trusts what a file's metadata claims (see h5_structure.hpp), so the bytes are checked before it
// sees them. A file another program is writing can look damaged while it changes: that is said instead.
// An unreadable file is left to HDF5's open, which says so.
void refuse_unsafe_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    refuse_looping_global_heaps(bytes, path);  // first: its message says more about a heap it would loop on
    refuse_unsafe_structure(bytes, path);
  } catch (const UserError&) {
    if (std::string locked = lock_problem(path); !locked.empty()) throw UserError(locked);
    throw;
  }
}

// Opens an existing file read-only, with one clear message for each way it can be wrong.
H5::H5File open_existing(const std::string& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) throw UserError(path + ": no such file");
  if (fs::is_directory(status)) throw UserError(path + ": is a directory");
  if (!fs::is_regular_file(status)) throw UserError(path + ": not a regular file");
  refuse_unsafe_file(path);
  // isHdf5 only looks for the signature; opening also catches truncated or corrupt files.
  try {
    if (H5::H5File::isHdf5(path)) return H5::H5File(path, H5F_ACC_RDONLY);
  } catch (const H5::Exception&) {
  }
  throw UserError(hdf5_problem(path));
}

std::vector<char> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes;
  if (in) bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) throw UserError(path + ": cannot read it: " + std::strerror(errno));
  return bytes;
}

// HDF5 1.10 parses a global heap collection (where variable-length strings live) by walking its objects
// (index u16, references u16, reserved u32, size u64, data padded to 8 bytes; the free space, index 0,
// counts its size alone) and loops forever on a free-space object of size 0, which one flipped bit in an
// object's size can bring about (a fuzzed file: grad hung inside H5Aread). That walk is done here
// first, on every collection HDF5 would accept (signature "GCOL", version 1, inside the file): one whose
// walk would not end, or whose objects overrun it, is refused before HDF5 sees the file.
void refuse_looping_global_heaps(const std::vector<char>& bytes, const std::string& path) {
  const auto le = [&](std::uint64_t at, int n) {
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + static_cast<std::uint64_t>(i)]);
    return v;
  };
  const std::string_view all(bytes.data(), bytes.size());
  for (std::size_t at = all.find("GCOL"); at != std::string_view::npos; at = all.find("GCOL", at + 1)) {
    if (bytes.size() - at < 16 || bytes[at + 4] != 1) continue;  // other versions: HDF5 refuses them itself
    const std::uint64_t size = le(at + 8, 8);
    if (size > bytes.size() - at) continue;  // past the end of the file: HDF5 fails to read it
    const std::uint64_t end = at + size;
    for (std::uint64_t p = at + 16; p < end && end - p >= 16;) {
      const std::uint64_t object = le(p + 8, 8);
      const std::uint64_t need = le(p, 2) > 0 ? 16 + ((object + 7) & ~std::uint64_t{7}) : object;  // may wrap
      if (need == 0 || need < object || need > end - p)
        throw UserError(path + ": is damaged (its global heap at byte " + std::to_string(at) +
                        " is corrupt; HDF5 would hang or crash reading it)");
      p += need;
    }
  }
}

}  // namespace sbx::io::detail

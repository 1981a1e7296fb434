#include "experiments/src/io/h5_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <iomanip>
#include <optional>
#include <random>
#include <sstream>
#include <string_view>

#include "experiments/src/io/file_lock.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::io {
namespace {

namespace fs = std::filesystem;

using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Refuse datasets above this many elements: they would not fit in memory and are surely a mistake.
constexpr hsize_t kMaxElements = hsize_t{1} << 31;

// ---------------------------------------------------------------------------------------------------
// Names and messages

std::string abs_path(const std::string& path) { return (!path.empty() && path[0] == '/') ? path : "/" + path; }

// Formats dims the way h5py/numpy print a shape: (), (5,), (3, 4).
std::string shape_string(const std::vector<hsize_t>& dims) {
  std::string s = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + (dims.size() == 1 ? ",)" : ")");
}

// Runs f; an HDF5 exception becomes a one-line UserError "<message> (<HDF5 detail>)".
// UserErrors thrown inside f (our own checks) pass through unchanged.
template <class F>
decltype(auto) guarded(const std::string& message, F&& f) {
  try {
    return f();
  } catch (const H5::Exception& e) {
    std::string detail = e.getDetailMsg();
    std::replace(detail.begin(), detail.end(), '\n', ' ');
    throw UserError(detail.empty() ? message : message + " (" + detail + ")");
  }
}

struct TempName {
  std::string stem;
  pid_t pid;
};

// Recognises our temp files "<stem>.tmp-<pid>-<random>", stem = short_stem(final file).
std::optional<TempName> parse_temp_name(const std::string& filename) {
  const auto pos = filename.rfind(".tmp-");
  if (filename.empty() || filename[0] != '.' || pos == std::string::npos || pos < 2) return std::nullopt;
  const std::string rest = filename.substr(pos + 5);
  const auto dash = rest.find('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 == rest.size()) return std::nullopt;
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + dash, pid);
  if (ec != std::errc() || end != rest.data() + dash || pid <= 0) return std::nullopt;
  return TempName{filename.substr(0, pos), pid};
}

fs::path parent_dir(const fs::path& path) {
  const fs::path parent = path.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

// A transaction's in-memory file is named "<final>/.sbx-edit": a name under a file, which therefore cannot
// exist on disk (HDF5 refuses to open a file image under the name of an existing file).
constexpr const char* kEditSuffix = "/.sbx-edit";

// The file name to show the user for an open object: for a transaction's file, the final name.
std::string display_name(const H5::H5Location& loc) {
  std::string name;
  try {
    name = loc.getFileName();
  } catch (const H5::Exception&) {
    return "<closed HDF5 file>";
  }
  const std::string suffix = kEditSuffix;
  if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
    name.resize(name.size() - suffix.size());
  return name;
}

// "<file>: /group/path" for messages about `path` below `group`.
std::string where_in(const H5::Group& group, const std::string& path) {
  if (!path.empty() && path[0] == '/') return display_name(group) + ": " + path;
  std::string base;
  try {
    base = group.getObjName();
  } catch (const H5::Exception&) {
    base = "?";
  }
  return display_name(group) + ": " + (base == "/" ? "" : base) + "/" + path;
}

// ---------------------------------------------------------------------------------------------------
// Path inspection without HDF5 errors: H5Lexists fails (instead of returning false) when an
// intermediate group is missing, so walk the path one component at a time.

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream in(path);
  for (std::string part; std::getline(in, part, '/');)
    if (!part.empty()) parts.push_back(part);
  return parts;
}

// True if every link on the path exists and the ones on the way are groups. With need_object, the
// last link must also resolve to an object (a dangling soft link does not count).
bool links_exist(hid_t loc, const std::string& path, bool need_object = true) {
  const auto parts = split_path(path);
  std::string prefix = (!path.empty() && path[0] == '/') ? "" : ".";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    prefix += "/" + parts[i];
    if (H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    const bool last = i + 1 == parts.size();
    if (last && !need_object) return true;
    H5O_info_t info;
    if (H5Oget_info_by_name2(loc, prefix.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return false;
    if (!last && info.type != H5O_TYPE_GROUP) return false;
  }
  return true;
}

std::optional<H5O_type_t> object_type(hid_t loc, const std::string& path) {
  if (!links_exist(loc, path)) return std::nullopt;
  H5O_info_t info;
  if (H5Oget_info_by_name2(loc, path.empty() ? "." : path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
    return std::nullopt;
  return info.type;
}

// ---------------------------------------------------------------------------------------------------
// Reading helpers. `file` is the name for messages.

H5::DataSet open_dataset(const H5::H5File& f, const std::string& file, const std::string& path) {
  const auto type = object_type(f.getId(), path);
  if (!type) throw UserError(file + ": dataset " + abs_path(path) + " is missing");
  if (*type != H5O_TYPE_DATASET) throw UserError(file + ": " + abs_path(path) + " is not a dataset");
  return f.openDataSet(path);
}

std::vector<hsize_t> dims_of(const H5::DataSet& ds) {
  const H5::DataSpace space = ds.getSpace();
  std::vector<hsize_t> dims(static_cast<std::size_t>(space.getSimpleExtentNdims()));
  if (!dims.empty()) space.getSimpleExtentDims(dims.data());
  return dims;
}

hsize_t checked_count(const std::vector<hsize_t>& dims, const std::string& where) {
  if (std::find(dims.begin(), dims.end(), hsize_t{0}) != dims.end()) return 0;
  hsize_t count = 1;
  for (const hsize_t d : dims) {
    if (count > kMaxElements / d) throw UserError(where + " is too large: shape " + shape_string(dims));
    count *= d;
  }
  return count;
}

// A damaged extent can claim hundreds of millions of values for a chunked dataset that stores a few
// bytes (issue 12's fuzz: a series of 3 became 301989891), and HDF5 then fills them chunk by chunk for
// minutes. Deflate packs at most 1032:1, so more than that over the stored bytes (plus one chunk) is damage.
void check_storage_plausible(const H5::DataSet& ds, hsize_t count, const std::string& where) {
  const H5::DSetCreatPropList plist = ds.getCreatePlist();
  if (plist.getLayout() != H5D_CHUNKED) return;
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

// Reads the whole dataset into buf (which has room for `count` elements), converting to mem_type.
void read_all(const H5::DataSet& ds, void* buf, const H5::PredType& mem_type, hsize_t count) {
  if (count > 0) ds.read(buf, mem_type);
}

// Calls fn(const H5::H5Object&) with the group or dataset at path.
template <class F>
auto with_object(const H5::H5File& f, const std::string& file, const std::string& path, F&& fn) {
  const auto type = object_type(f.getId(), path);
  if (!type) throw UserError(file + ": " + abs_path(path) + " is missing");
  if (*type == H5O_TYPE_GROUP) return fn(static_cast<const H5::H5Object&>(f.openGroup(path.empty() ? "/" : path)));
  if (*type == H5O_TYPE_DATASET) return fn(static_cast<const H5::H5Object&>(f.openDataSet(path)));
  throw UserError(file + ": " + abs_path(path) + " is neither a group nor a dataset");
}

// Opens a single-valued attribute; `where` is "<file>: attribute 'x' of /obj".
H5::Attribute open_scalar_attr(const H5::H5Object& obj, const std::string& name, const std::string& where) {
  if (!obj.attrExists(name)) throw UserError(where + " is missing");
  H5::Attribute attr = obj.openAttribute(name);
  if (attr.getSpace().getSimpleExtentNpoints() != 1) throw UserError(where + " must be a single value");
  return attr;
}

// ---------------------------------------------------------------------------------------------------
// Opening files

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

// Opens an existing file read-only, with one clear message for each way it can be wrong.
H5::H5File open_existing(const std::string& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) throw UserError(path + ": no such file");
  if (fs::is_directory(status)) throw UserError(path + ": is a directory");
  if (!fs::is_regular_file(status)) throw UserError(path + ": not a regular file");
  // isHdf5 only looks for the signature; opening also catches truncated or corrupt files.
  try {
    if (H5::H5File::isHdf5(path)) return H5::H5File(path, H5F_ACC_RDONLY);
  } catch (const H5::Exception&) {
  }
  throw UserError(hdf5_problem(path));
}

// Checks that final_path can be the target of a transaction; throws UserError otherwise.
void check_target(const std::string& final_path) {
  const fs::path target(final_path);
  std::error_code ec;
  if (fs::is_directory(target, ec)) throw UserError(final_path + ": is a directory");
  if (target.filename().empty()) throw UserError(final_path + ": not a file name");
  const fs::path dir = parent_dir(target);
  if (!fs::exists(dir, ec)) throw UserError(final_path + ": directory " + dir.string() + " does not exist");
  if (!fs::is_directory(dir, ec)) throw UserError(final_path + ": " + dir.string() + " is not a directory");
  const long name_max = ::pathconf(dir.c_str(), _PC_NAME_MAX);
  if (name_max > 0 && target.filename().string().size() > static_cast<std::size_t>(name_max))
    throw UserError(final_path + ": file name too long (" + std::to_string(target.filename().string().size()) +
                    " characters; this file system allows " + std::to_string(name_max) + ")");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw UserError(final_path + ": directory " + dir.string() + " is not writable (" + std::strerror(errno) + ")");
  if (fs::exists(target, ec)) open_existing(final_path).close();
}

// "<dir>/.sbx-<hash>.tmp-<pid>-<random>": short whatever the length of the final name.
std::string make_temp_path(const std::string& final_path) {
  std::random_device rd;
  std::ostringstream name;
  name << short_stem(final_path) << ".tmp-" << ::getpid() << '-' << std::hex << std::setw(8) << std::setfill('0')
       << rd();
  return (parent_dir(final_path) / name.str()).string();
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
// object's size can bring about (issue 12's fuzz: grad hung inside H5Aread). That walk is done here
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

// What a failed write means to the user: "no space left on device", "file size limit exceeded", ...
std::string write_failure(int err) {
  switch (err) {
    case ENOSPC: return "no space left on device";
    case EFBIG: return "file size limit exceeded";
    case EDQUOT: return "disk quota exceeded";
    default: {
      std::string text = std::strerror(err);
      if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
      return text;
    }
  }
}

// Writes all of buf to a new file `temp` and syncs it; UserError "<why> while writing <final>" otherwise.
void write_image(const std::string& temp, const std::string& final_path, const std::vector<unsigned char>& buf) {
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw UserError(write_failure(errno) + " while creating a temporary file for " + final_path);
  std::size_t done = 0;
  int err = 0;
  while (done < buf.size() && err == 0) {
    const ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
    if (n > 0) done += static_cast<std::size_t>(n);
    else if (n < 0 && errno != EINTR) err = errno;
    else if (n == 0) err = EIO;
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(temp.c_str());
    throw UserError(write_failure(err) + " while writing " + final_path);
  }
}

void fsync_path(const std::string& path, bool directory, const std::string& final_path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) throw UserError(final_path + ": cannot open " + path + " to sync it: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some filesystems cannot fsync a directory (EINVAL); the rename is then as durable as it gets.
  if (rc != 0 && !(directory && err == EINVAL))
    throw UserError(final_path + ": cannot sync " + path + " to disk: " + std::strerror(err));
}

bool process_alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

// ---------------------------------------------------------------------------------------------------
// Writing helpers

H5::LinkCreatPropList intermediate_groups() {
  H5::LinkCreatPropList lcpl;
  lcpl.setCreateIntermediateGroup(true);
  return lcpl;
}

// Creates a dataset at path (replacing an existing dataset, never a group).
H5::DataSet create_dataset(const H5::Group& group, const std::string& path, const std::string& where,
                           const H5::DataType& type, const H5::DataSpace& space,
                           const H5::DSetCreatPropList& dcpl = H5::DSetCreatPropList::DEFAULT) {
  if (split_path(path).empty()) throw std::invalid_argument("h5_store: empty dataset path");
  if (const auto existing = object_type(group.getId(), path)) {
    if (*existing != H5O_TYPE_DATASET) throw UserError(where + " exists and is not a dataset");
    if (H5Ldelete(group.getId(), path.c_str(), H5P_DEFAULT) < 0) throw UserError(where + ": cannot replace it");
  }
  return group.createDataSet(path, type, space, dcpl, H5::DSetAccPropList::DEFAULT, intermediate_groups());
}

const H5::PredType& file_type(SeriesType t) {
  return t == SeriesType::Float64 ? H5::PredType::IEEE_F64LE : H5::PredType::STD_I64LE;
}
const H5::PredType& mem_type(SeriesType t) {
  return t == SeriesType::Float64 ? H5::PredType::NATIVE_DOUBLE : H5::PredType::NATIVE_INT64;
}
H5T_class_t type_class(SeriesType t) { return t == SeriesType::Float64 ? H5T_FLOAT : H5T_INTEGER; }

// A 1-D chunked, extendable, gzip-4 dataset of initial length `length`.
H5::DataSet create_series(const H5::Group& group, const std::string& path, const std::string& where, SeriesType type,
                          hsize_t length, hsize_t chunk) {
  const hsize_t dims[1] = {length};
  const hsize_t maxdims[1] = {H5S_UNLIMITED};
  const hsize_t chunk_dims[1] = {std::max<hsize_t>(chunk, 1)};
  H5::DSetCreatPropList dcpl;
  dcpl.setChunk(1, chunk_dims);
  dcpl.setDeflate(4);
  return create_dataset(group, path, where, file_type(type), H5::DataSpace(1, dims, maxdims), dcpl);
}

// Opens an existing series for appending; it must look like one create_series made.
H5::DataSet open_series(const H5::Group& group, const std::string& path, const std::string& where, SeriesType type) {
  if (object_type(group.getId(), path) != H5O_TYPE_DATASET) throw UserError(where + " exists and is not a dataset");
  H5::DataSet ds = group.openDataSet(path);
  const H5::DataSpace space = ds.getSpace();
  bool ok = space.getSimpleExtentNdims() == 1 && ds.getTypeClass() == type_class(type);
  if (ok) {
    hsize_t maxdims[1] = {0};
    space.getSimpleExtentDims(nullptr, maxdims);
    ok = maxdims[0] == H5S_UNLIMITED;
  }
  if (!ok)
    throw UserError(where + " exists but is not an extendable 1-D " +
                    (type == SeriesType::Float64 ? "float64" : "int64") + " series");
  return ds;
}

template <class T>
void write_series(const H5::Group& group, const std::string& path, SeriesType type, const std::vector<T>& values) {
  silence_hdf5_errors();
  const std::string where = where_in(group, path);
  guarded(where + ": cannot write", [&] {
    const hsize_t n = values.size();
    H5::DataSet ds = create_series(group, path, where, type, n, std::min(n, SeriesWriter::kDefaultChunk));
    if (n > 0) ds.write(values.data(), mem_type(type));
  });
}

H5::Attribute replace_attr(const H5::H5Object& obj, const std::string& name, const H5::DataType& type) {
  if (obj.attrExists(name)) obj.removeAttr(name);
  return obj.createAttribute(name, type, H5::DataSpace(H5S_SCALAR));
}

template <class F>
void with_new_attr(const H5::H5Object& obj, const std::string& name, F&& fn) {
  silence_hdf5_errors();
  std::string object = "?";
  try {
    object = obj.getObjName();
  } catch (const H5::Exception&) {
  }
  guarded(display_name(obj) + ": cannot set attribute '" + name + "' of " + object, fn);
}

}  // namespace

// =====================================================================================================

void silence_hdf5_errors() {
  H5::Exception::dontPrint();
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

std::string hdf5_version_string() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

std::string eigen_version_string() {
  return std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
         std::to_string(EIGEN_MINOR_VERSION);
}

void check_writable_target(const std::string& path) {
  silence_hdf5_errors();
  check_target(resolve_target(path));
}

// ---- H5Transaction ----------------------------------------------------------------------------------

H5Transaction::H5Transaction(const std::string& path, double lock_timeout_seconds, bool start_empty)
    : final_path_(resolve_target(path)) {
  silence_hdf5_errors();
  check_target(final_path_);
  // Held until the destructor: from here on no other sandbox edits the file, so what is read below is
  // what the rename replaces.
  lock_ = std::make_unique<FileLock>(final_path_, FileLock::Mode::Exclusive, lock_timeout_seconds);
  remove_stale_temps(final_path_);
  std::error_code ec;
  const bool existing = fs::exists(final_path_, ec) && !start_empty;
  if (fs::exists(final_path_, ec)) open_existing(final_path_).close();  // one clear message if it is not HDF5
  // The edit happens in memory (HDF5's core driver, no backing store) and commit() writes the image with
  // plain write() calls: a full disk or a size limit is then an error code, never a half-failed HDF5 file
  // whose close crashes. The strong close degree makes commit()'s close() really close the file even if
  // the caller still holds groups or datasets.
  H5::FileAccPropList fapl;
  fapl.setFcloseDegree(H5F_CLOSE_STRONG);
  fapl.setCore(1 << 20, /*backing_store=*/false);
  if (existing) {
    // Handed to HDF5 as a file image, so that HDF5 never opens (and flock()s) the final file itself:
    // readers of it are never turned away while we edit.
    const std::vector<char> bytes = read_file_bytes(final_path_);
    refuse_looping_global_heaps(bytes, final_path_);
    if (H5Pset_file_image(fapl.getId(), const_cast<char*>(bytes.data()), bytes.size()) < 0)
      throw UserError(final_path_ + ": cannot open it for editing");
  }
  guarded(final_path_ + ": cannot open it for editing", [&] {
    const std::string name = final_path_ + kEditSuffix;
    file_ = std::make_unique<H5::H5File>(name, existing ? H5F_ACC_RDWR : H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT, fapl);
  });
}

namespace {
std::atomic<bool> g_abandoned{false};
}  // namespace

bool hdf5_file_abandoned() { return g_abandoned.load(); }

void H5Transaction::close_or_abandon() {
  if (!file_) return;
  try {
    file_->close();
    file_.reset();
  } catch (const H5::Exception&) {
    (void)file_.release();  // never close it again (see file_)
    g_abandoned.store(true);
  }
}

H5Transaction::~H5Transaction() { close_or_abandon(); }

H5::H5File& H5Transaction::file() {
  if (committed_ || !file_) throw std::logic_error("H5Transaction::file() after commit() for " + final_path_);
  return *file_;
}

void H5Transaction::commit() {
  if (committed_) throw std::logic_error("H5Transaction::commit() called twice for " + final_path_);
  silence_hdf5_errors();
  std::vector<unsigned char> image;
  guarded(final_path_ + ": cannot finish writing", [&] {
    file().flush(H5F_SCOPE_GLOBAL);
    const ssize_t size = H5Fget_file_image(file().getId(), nullptr, 0);
    if (size < 0) throw UserError(final_path_ + ": cannot finish writing (no file image)");
    image.resize(static_cast<std::size_t>(size));
    if (H5Fget_file_image(file().getId(), image.data(), image.size()) != size)
      throw UserError(final_path_ + ": cannot finish writing (file image)");
  });
  close_or_abandon();
  committed_ = true;
  temp_path_ = make_temp_path(final_path_);
  write_image(temp_path_, final_path_, image);
  if (std::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp_path_.c_str());
    throw UserError(final_path_ + ": cannot replace it with " + temp_path_ + ": " + std::strerror(err));
  }
  fsync_path(parent_dir(final_path_).string(), true, final_path_);
}

void remove_stale_temps(const std::string& final_path) {
  const fs::path target(final_path);
  if (target.filename().empty()) return;
  const std::string stem = short_stem(final_path);
  std::error_code ec;
  for (fs::directory_iterator it(parent_dir(target), ec), end; !ec && it != end; it.increment(ec)) {
    const auto temp = parse_temp_name(it->path().filename().string());
    if (!temp || temp->stem != stem || process_alive(temp->pid)) continue;
    std::error_code ignored;  // best effort: another process may be cleaning up at the same time
    fs::remove(it->path(), ignored);
  }
}

// ---- H5Reader ---------------------------------------------------------------------------------------

H5Reader::H5Reader(const std::string& path) : path_(path) {
  silence_hdf5_errors();
  file_ = open_existing(path_);
  refuse_looping_global_heaps(read_file_bytes(path_), path_);
}

bool H5Reader::exists(const std::string& path) const {
  silence_hdf5_errors();
  return links_exist(file_.getId(), path);
}

std::vector<hsize_t> H5Reader::shape(const std::string& path) const {
  silence_hdf5_errors();
  return guarded(path_ + ": cannot read " + abs_path(path), [&] { return dims_of(open_dataset(file_, path_, path)); });
}

// A numeric dataset of the given rank read as a matrix whose rows are all dimensions but the last: HDF5's
// row-major (d0, …, dk) memory is exactly a row-major (d0·…·d(k−1)) × dk matrix, and Eigen converts the
// layout on return. Sizes are checked before anything is allocated.
Eigen::MatrixXd H5Reader::read_dense(const std::string& path, size_t rank, const char* shape_text,
                                     std::vector<hsize_t>& dims) const {
  silence_hdf5_errors();
  const std::string where = path_ + ": " + abs_path(path);
  return guarded(path_ + ": cannot read " + abs_path(path), [&]() -> Eigen::MatrixXd {
    const H5::DataSet ds = open_dataset(file_, path_, path);
    dims = dims_of(ds);
    require_rank(dims, rank, where, shape_text);
    check_numeric(ds.getDataType(), where, false);
    const hsize_t count = checked_count(dims, where);
    check_storage_plausible(ds, count, where);
    hsize_t rows = 1;  // cannot overflow: checked_count bounded the full product (or a dimension is 0)
    for (size_t i = 0; i + 1 < dims.size(); ++i) rows *= dims[i];
    RowMajorMatrix m(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(dims.back()));
    read_all(ds, m.data(), H5::PredType::NATIVE_DOUBLE, count);
    return m;
  });
}

Eigen::MatrixXd H5Reader::read_matrix(const std::string& path) const {
  std::vector<hsize_t> dims;
  return read_dense(path, 2, "(rows, cols)", dims);
}

Eigen::MatrixXd H5Reader::read_3d_as_rows(const std::string& path, hsize_t& batch, hsize_t& n) const {
  std::vector<hsize_t> dims;
  Eigen::MatrixXd m = read_dense(path, 3, "(batch, n, d)", dims);
  batch = dims[0];
  n = dims[1];
  return m;
}

std::vector<double> H5Reader::read_vector(const std::string& path) const {
  silence_hdf5_errors();
  const std::string where = path_ + ": " + abs_path(path);
  return guarded(path_ + ": cannot read " + abs_path(path), [&] {
    const H5::DataSet ds = open_dataset(file_, path_, path);
    const auto dims = dims_of(ds);
    require_rank(dims, 1, where, "(length,)");
    check_numeric(ds.getDataType(), where, false);
    const hsize_t count = checked_count(dims, where);
    check_storage_plausible(ds, count, where);  // before allocating
    std::vector<double> values(count);
    read_all(ds, values.data(), H5::PredType::NATIVE_DOUBLE, values.size());
    return values;
  });
}

std::vector<std::int64_t> H5Reader::read_int_vector(const std::string& path) const {
  silence_hdf5_errors();
  const std::string where = path_ + ": " + abs_path(path);
  return guarded(path_ + ": cannot read " + abs_path(path), [&] {
    const H5::DataSet ds = open_dataset(file_, path_, path);
    const auto dims = dims_of(ds);
    require_rank(dims, 1, where, "(length,)");
    check_numeric(ds.getDataType(), where, true);
    const hsize_t count = checked_count(dims, where);
    check_storage_plausible(ds, count, where);  // before allocating
    std::vector<std::int64_t> values(count);
    read_all(ds, values.data(), H5::PredType::NATIVE_INT64, values.size());
    return values;
  });
}

double H5Reader::read_scalar(const std::string& path) const {
  silence_hdf5_errors();
  const std::string where = path_ + ": " + abs_path(path);
  return guarded(path_ + ": cannot read " + abs_path(path), [&] {
    const H5::DataSet ds = open_dataset(file_, path_, path);
    const auto dims = dims_of(ds);
    if (dims.size() > 1 || ds.getSpace().getSimpleExtentNpoints() != 1)
      throw UserError(where + " has shape " + shape_string(dims) + " but must hold a single value");
    check_numeric(ds.getDataType(), where, false);
    double value = 0;
    ds.read(&value, H5::PredType::NATIVE_DOUBLE);
    return value;
  });
}

bool H5Reader::has_attr(const std::string& object_path, const std::string& name) const {
  silence_hdf5_errors();
  return guarded(path_ + ": cannot read attributes of " + abs_path(object_path), [&] {
    if (!links_exist(file_.getId(), object_path)) return false;
    return with_object(file_, path_, object_path, [&](const H5::H5Object& obj) { return obj.attrExists(name); });
  });
}

std::string H5Reader::read_string_attr(const std::string& object_path, const std::string& name) const {
  silence_hdf5_errors();
  const std::string what = "attribute '" + name + "' of " + abs_path(object_path);
  const std::string where = path_ + ": " + what;
  return guarded(path_ + ": cannot read " + what, [&] {
    return with_object(file_, path_, object_path, [&](const H5::H5Object& obj) {
      const H5::Attribute attr = open_scalar_attr(obj, name, where);
      if (attr.getTypeClass() != H5T_STRING) throw UserError(where + " is not a string");
      const H5::StrType type = attr.getStrType();
      if (!type.isVariableStr()) {
        if (type.getSize() > (1u << 20))  // a damaged size: HDF5 would allocate it first
          throw UserError(where + " is damaged: it claims " + std::to_string(type.getSize()) + " bytes");
        std::string value;
        attr.read(type, value);
        return value;
      }
      // Not attr.read(type, std::string&): for a variable-length string whose global-heap reference is
      // nil (a damaged file), H5Aread succeeds with a null pointer, which HDF5's C++ wrapper (1.10) hands
      // to std::string and crashes in strlen.
      char* text = nullptr;
      if (H5Aread(attr.getId(), type.getId(), &text) < 0) throw UserError(where + " cannot be read");
      if (text == nullptr) throw UserError(where + " is damaged (its string is missing)");
      std::string value(text);
      H5free_memory(text);
      return value;
    });
  });
}

double H5Reader::read_double_attr(const std::string& object_path, const std::string& name) const {
  silence_hdf5_errors();
  const std::string what = "attribute '" + name + "' of " + abs_path(object_path);
  const std::string where = path_ + ": " + what;
  return guarded(path_ + ": cannot read " + what, [&] {
    return with_object(file_, path_, object_path, [&](const H5::H5Object& obj) {
      const H5::Attribute attr = open_scalar_attr(obj, name, where);
      check_numeric(attr.getDataType(), where, false);
      double value = 0;
      attr.read(H5::PredType::NATIVE_DOUBLE, &value);
      return value;
    });
  });
}

std::int64_t H5Reader::read_int_attr(const std::string& object_path, const std::string& name) const {
  silence_hdf5_errors();
  const std::string what = "attribute '" + name + "' of " + abs_path(object_path);
  const std::string where = path_ + ": " + what;
  return guarded(path_ + ": cannot read " + what, [&] {
    return with_object(file_, path_, object_path, [&](const H5::H5Object& obj) {
      const H5::Attribute attr = open_scalar_attr(obj, name, where);
      check_numeric(attr.getDataType(), where, true);
      // HDF5 would silently clip a uint64 above INT64_MAX; read unsigned 64-bit values as such.
      const H5::IntType type = attr.getIntType();
      if (type.getSign() == H5T_SGN_NONE && type.getSize() >= 8) {
        std::uint64_t value = 0;
        attr.read(H5::PredType::NATIVE_UINT64, &value);
        if (!std::in_range<std::int64_t>(value)) throw UserError(where + " does not fit in int64");
        return static_cast<std::int64_t>(value);
      }
      std::int64_t value = 0;
      attr.read(H5::PredType::NATIVE_INT64, &value);
      return value;
    });
  });
}

std::vector<std::string> H5Reader::list_groups(const std::string& path) const {
  silence_hdf5_errors();
  return guarded(path_ + ": cannot list " + abs_path(path), [&] {
    const auto type = object_type(file_.getId(), path);
    if (!type) throw UserError(path_ + ": group " + abs_path(path) + " is missing");
    if (*type != H5O_TYPE_GROUP) throw UserError(path_ + ": " + abs_path(path) + " is not a group");
    const H5::Group group = file_.openGroup(path.empty() ? "/" : path);
    std::vector<std::string> names;
    for (hsize_t i = 0, count = group.getNumObjs(); i < count; ++i) {
      const std::string name = group.getObjnameByIdx(i);
      H5O_info_t info;
      if (H5Oget_info_by_name2(group.getId(), name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 &&
          info.type == H5O_TYPE_GROUP)
        names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
  });
}

std::vector<std::string> H5Reader::list_links(const std::string& path) const {
  silence_hdf5_errors();
  return guarded(path_ + ": cannot list " + abs_path(path), [&] {
    const auto type = object_type(file_.getId(), path);
    if (!type) throw UserError(path_ + ": group " + abs_path(path) + " is missing or cannot be opened");
    if (*type != H5O_TYPE_GROUP) throw UserError(path_ + ": " + abs_path(path) + " is not a group");
    const H5::Group group = file_.openGroup(path.empty() ? "/" : path);
    std::vector<std::string> names;
    for (hsize_t i = 0, count = group.getNumObjs(); i < count; ++i) names.push_back(group.getObjnameByIdx(i));
    std::sort(names.begin(), names.end());
    return names;
  });
}

bool H5Reader::has_link(const std::string& path) const {
  silence_hdf5_errors();
  return links_exist(file_.getId(), path, /*need_object=*/false);
}

H5Reader::Kind H5Reader::object_kind(const std::string& path) const {
  silence_hdf5_errors();
  const auto type = object_type(file_.getId(), path);
  if (!type) return Kind::Missing;
  if (*type == H5O_TYPE_GROUP) return Kind::Group;
  if (*type == H5O_TYPE_DATASET) return Kind::Dataset;
  return Kind::Other;
}

// ---- Writing helpers --------------------------------------------------------------------------------

void write_matrix(const H5::Group& group, const std::string& path, const Eigen::MatrixXd& m) {
  silence_hdf5_errors();
  const std::string where = where_in(group, path);
  guarded(where + ": cannot write", [&] {
    // HDF5 expects row-major memory, Eigen's default is column-major: copy into row-major layout so that
    // element [i, j] of the dataset is m(i, j).
    const RowMajorMatrix row_major = m;
    const hsize_t dims[2] = {static_cast<hsize_t>(m.rows()), static_cast<hsize_t>(m.cols())};
    const H5::DataSet ds = create_dataset(group, path, where, H5::PredType::IEEE_F64LE, H5::DataSpace(2, dims));
    if (row_major.size() > 0) ds.write(row_major.data(), H5::PredType::NATIVE_DOUBLE);
  });
}

void write_scalar_dataset(const H5::Group& group, const std::string& path, double value) {
  silence_hdf5_errors();
  const std::string where = where_in(group, path);
  guarded(where + ": cannot write", [&] {
    const H5::DataSet ds = create_dataset(group, path, where, H5::PredType::IEEE_F64LE, H5::DataSpace(H5S_SCALAR));
    ds.write(&value, H5::PredType::NATIVE_DOUBLE);
  });
}

void write_vector(const H5::Group& group, const std::string& path, const std::vector<double>& values) {
  write_series(group, path, SeriesType::Float64, values);
}

void write_int_vector(const H5::Group& group, const std::string& path, const std::vector<std::int64_t>& values) {
  write_series(group, path, SeriesType::Int64, values);
}

void set_attr(const H5::H5Object& obj, const std::string& name, const std::string& value) {
  with_new_attr(obj, name, [&] {
    // Variable-length UTF-8 is what h5py itself writes for str, and reads back as str (not bytes).
    H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
    type.setCset(H5T_CSET_UTF8);
    replace_attr(obj, name, type).write(type, value);
  });
}

void set_attr(const H5::H5Object& obj, const std::string& name, const char* value) {
  set_attr(obj, name, std::string(value));
}

void set_attr(const H5::H5Object& obj, const std::string& name, std::int64_t value) {
  with_new_attr(obj, name,
                [&] { replace_attr(obj, name, H5::PredType::STD_I64LE).write(H5::PredType::NATIVE_INT64, &value); });
}

void set_attr(const H5::H5Object& obj, const std::string& name, double value) {
  with_new_attr(obj, name,
                [&] { replace_attr(obj, name, H5::PredType::IEEE_F64LE).write(H5::PredType::NATIVE_DOUBLE, &value); });
}

bool delete_path(const H5::Group& loc, const std::string& path) {
  silence_hdf5_errors();
  if (!links_exist(loc.getId(), path, /*need_object=*/false)) return false;
  if (H5Ldelete(loc.getId(), path.c_str(), H5P_DEFAULT) < 0) throw UserError(where_in(loc, path) + ": cannot delete");
  return true;
}

void copy_group(const H5::H5File& src, const std::string& src_path, H5::H5File& dst, const std::string& dst_path) {
  silence_hdf5_errors();
  const std::string src_where = display_name(src) + ": " + abs_path(src_path);
  const std::string dst_where = display_name(dst) + ": " + abs_path(dst_path);
  if (!links_exist(src.getId(), src_path))
    throw UserError(display_name(src) + ": group " + abs_path(src_path) + " is missing");
  if (links_exist(dst.getId(), dst_path, /*need_object=*/false)) throw UserError(dst_where + " already exists");
  guarded(dst_where + ": cannot copy " + src_where + " here", [&] {
    const H5::LinkCreatPropList lcpl = intermediate_groups();
    if (H5Ocopy(src.getId(), src_path.c_str(), dst.getId(), dst_path.c_str(), H5P_DEFAULT, lcpl.getId()) < 0)
      throw UserError(dst_where + ": cannot copy " + src_where + " here");
  });
}

// ---- SeriesWriter -----------------------------------------------------------------------------------

SeriesWriter::SeriesWriter(const H5::Group& group, const std::string& path, SeriesType type, hsize_t chunk)
    : type_(type), chunk_(std::max<hsize_t>(chunk, 1)), where_(where_in(group, path)) {
  silence_hdf5_errors();
  guarded(where_ + ": cannot create series", [&] {
    if (links_exist(group.getId(), path)) {
      dataset_ = open_series(group, path, where_, type_);
      written_ = dims_of(dataset_).at(0);
    } else {
      dataset_ = create_series(group, path, where_, type_, 0, chunk_);
    }
  });
}

SeriesWriter::~SeriesWriter() {
  // Best effort only: a destructor must not throw. Call flush() to see errors.
  try {
    flush();
  } catch (...) {
  }
}

void SeriesWriter::append(double value) {
  if (type_ != SeriesType::Float64) throw std::logic_error("SeriesWriter::append(double) on int64 series " + where_);
  doubles_.push_back(value);
  if (doubles_.size() >= chunk_) flush();
}

void SeriesWriter::append(std::int64_t value) {
  if (type_ == SeriesType::Float64)
    doubles_.push_back(static_cast<double>(value));
  else
    ints_.push_back(value);
  if (doubles_.size() + ints_.size() >= chunk_) flush();
}

void SeriesWriter::flush() {
  const hsize_t count = doubles_.size() + ints_.size();
  if (count == 0) return;
  silence_hdf5_errors();
  guarded(where_ + ": cannot write", [&] {
    const hsize_t new_size[1] = {written_ + count};
    dataset_.extend(new_size);
    H5::DataSpace file_space = dataset_.getSpace();
    const hsize_t start[1] = {written_};
    const hsize_t counts[1] = {count};
    file_space.selectHyperslab(H5S_SELECT_SET, counts, start);
    const H5::DataSpace mem_space(1, counts);
    const void* data = type_ == SeriesType::Float64 ? static_cast<const void*>(doubles_.data()) : ints_.data();
    dataset_.write(data, mem_type(type_), mem_space, file_space);
  });
  written_ += count;
  doubles_.clear();
  ints_.clear();
}

hsize_t SeriesWriter::size() const { return written_ + doubles_.size() + ints_.size(); }

}  // namespace sbx::io

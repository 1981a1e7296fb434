#pragma once
// HDF5 storage layer: atomic whole-file edits, a checked read-only reader and small writing helpers.
//
// Error policy: HDF5's own error-stack printing is switched off in every entry point, and every
// H5::Exception is turned into an sbx::UserError whose message is one line naming the file and the
// problem ("in.h5: dataset /params/W_Q is missing"). Misuse by the calling code (commit twice, append a
// double to an int64 series) throws std::logic_error instead.
//
// Layout conventions (what h5py sees): matrices are 2-D float64 datasets of shape (rows, cols) with
// element [i, j] == M(i, j); series are 1-D chunked, extendable (maxshape (None,)), gzip-4 datasets;
// string attributes are variable-length UTF-8 (h5py returns str).
#include <H5Cpp.h>

#include <Eigen/Core>
#include <concepts>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sbx::io {

// Turns off HDF5's automatic error-stack printing (C and C++ APIs). Cheap and idempotent.
void silence_hdf5_errors();

std::string hdf5_version_string();   // e.g. "1.10.8", from H5get_libversion
std::string eigen_version_string();  // e.g. "3.4.0"

class FileLock;

// An all-or-nothing edit of one HDF5 file, serialised with every other sandbox process editing it.
// The constructor takes the file's exclusive lock (file_lock.hpp; waiting at most lock_timeout_seconds,
// < 0: forever) and holds it until destruction, so that what is read and what replaces it belong
// together. The edit happens in memory; commit() writes it to a temporary `.sbx-<hash>.tmp-<pid>-<rand>`
// in the same directory, syncs it and renames it over the final path (atomic). A crash at any instant
// leaves the final file either untouched or fully replaced, and a failed write (full disk, size limit)
// removes the temporary file and throws UserError "no space left on device while writing <file>".
// A symlink at the final path is followed: its target is replaced and the link is kept.
//
// The file is opened with the "strong" close degree: commit() closes every Group/DataSet still open
// on it, so handles obtained from file() are invalid afterwards (flush SeriesWriters before committing).
class H5Transaction {
 public:
  // Throws UserError if the parent directory is missing, the path is a directory, or an existing file
  // there is not a readable HDF5 file; LockTimeout if the lock stays taken. Nothing is created then.
  // With start_empty, the edit starts from an empty file (the caller rebuilds it from what it can read of
  // the old one, e.g. the intact runs of a damaged file) instead of from the file's content.
  explicit H5Transaction(const std::string& final_path, double lock_timeout_seconds = -1, bool start_empty = false);
  ~H5Transaction();
  H5Transaction(const H5Transaction&) = delete;
  H5Transaction& operator=(const H5Transaction&) = delete;

  H5::H5File& file();  // the open in-memory file (read-write); std::logic_error after commit()
  void commit();       // write, fsync, rename over the final path, fsync the directory

  const std::string& final_path() const { return final_path_; }  // symlinks resolved
  const std::string& temp_path() const { return temp_path_; }    // set by commit()

 private:
  std::string final_path_;
  std::string temp_path_;
  std::unique_ptr<FileLock> lock_;
  // A pointer so that a file whose close() failed (a damaged file) can be abandoned: HDF5 crashes when
  // such a file is closed a second time, which ~H5File would do.
  std::unique_ptr<H5::H5File> file_;
  bool committed_ = false;

  void close_or_abandon();  // closes file_; if that throws, leaks it (in memory, the process ends soon)
};

// True once an H5Transaction had to abandon a file whose close failed (a damaged file): HDF5's own
// clean-up at exit would then crash, so the process must end with std::_Exit (main does).
bool hdf5_file_abandoned();

// Refuses, without creating anything, what an H5Transaction on `path` would refuse: a missing or
// unwritable directory, a directory at the path, a name too long for the file system, an existing file
// that is not readable HDF5. For commands to call before long work.
void check_writable_target(const std::string& path);

// Deletes `.sbx-<hash of basename>.tmp-<pid>-*` next to final_path whose pid is no longer alive (left by a
// killed process). Temps of live processes are kept. Never throws for filesystem problems.
void remove_stale_temps(const std::string& final_path);

// A file opened read-only. Paths may be absolute ("/runs/a/W_Q") or relative to the root ("runs/a/W_Q").
class H5Reader {
 public:
  // UserError "<path>: no such file" / "<path>: not an HDF5 file" / "<path>: cannot be read as HDF5".
  explicit H5Reader(const std::string& path);
  // Reads a file already open (e.g. an H5Transaction's, to read what the edit is about to replace).
  H5Reader(const H5::H5File& file, const std::string& path) : path_(path), file_(file) {}

  const std::string& path() const { return path_; }
  H5::H5File& file() { return file_; }
  const H5::H5File& file() const { return file_; }

  // True if every component of the path exists (groups on the way); never throws for missing parts.
  bool exists(const std::string& path) const;
  std::vector<hsize_t> shape(const std::string& path) const;  // dataset dims, {} for a scalar

  Eigen::MatrixXd read_matrix(const std::string& path) const;  // 2-D numeric dataset (rows, cols)
  // A (batch, n, d) dataset as a (batch*n) x d matrix: row b*n + i holds element [b, i, :].
  Eigen::MatrixXd read_3d_as_rows(const std::string& path, hsize_t& batch, hsize_t& n) const;
  std::vector<double> read_vector(const std::string& path) const;            // 1-D numeric dataset
  std::vector<std::int64_t> read_int_vector(const std::string& path) const;  // 1-D integer dataset
  double read_scalar(const std::string& path) const;                         // shape () or (1,)

  bool has_attr(const std::string& object_path, const std::string& name) const;
  std::string read_string_attr(const std::string& object_path, const std::string& name) const;
  double read_double_attr(const std::string& object_path, const std::string& name) const;
  std::int64_t read_int_attr(const std::string& object_path, const std::string& name) const;

  // Names of the child groups of a group, sorted by name (datasets are left out).
  std::vector<std::string> list_groups(const std::string& path) const;
  // Names of every link in a group, sorted, whether or not its object still opens.
  std::vector<std::string> list_links(const std::string& path) const;
  bool has_link(const std::string& path) const;  // the last link exists (its object may not open)
  enum class Kind { Missing, Group, Dataset, Other };
  Kind object_kind(const std::string& path) const;  // Missing also when the object cannot be opened

 private:
  Eigen::MatrixXd read_dense(const std::string& path, size_t rank, const char* shape_text,
                             std::vector<hsize_t>& dims) const;

  std::string path_;
  H5::H5File file_;
};

// ---- Writing helpers. `path` is relative to `group` (an H5::H5File works too, it is a Group);
// ---- intermediate groups are created, and an existing dataset at `path` is replaced.
void write_matrix(const H5::Group& group, const std::string& path, const Eigen::MatrixXd& m);
void write_scalar_dataset(const H5::Group& group, const std::string& path, double value);
void write_vector(const H5::Group& group, const std::string& path, const std::vector<double>& values);
void write_int_vector(const H5::Group& group, const std::string& path, const std::vector<std::int64_t>& values);

// Attributes (an existing attribute of the same name is replaced). Strings are variable-length UTF-8,
// integers int64, floating point float64. Any integer type other than bool is accepted (bool is
// deliberately ambiguous: say what you mean).
void set_attr(const H5::H5Object& obj, const std::string& name, const std::string& value);
void set_attr(const H5::H5Object& obj, const std::string& name, const char* value);
void set_attr(const H5::H5Object& obj, const std::string& name, std::int64_t value);
void set_attr(const H5::H5Object& obj, const std::string& name, double value);

template <std::integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, std::int64_t>)
void set_attr(const H5::H5Object& obj, const std::string& name, T value) {
  if (!std::in_range<std::int64_t>(value)) throw std::out_of_range("set_attr: " + name + " does not fit int64");
  set_attr(obj, name, static_cast<std::int64_t>(value));
}

// Deletes the link at `path` (relative to `loc`). Returns false if there was nothing to delete.
bool delete_path(const H5::Group& loc, const std::string& path);

// Copies the object (normally a group, with everything below it) at src_path in src to dst_path in dst,
// creating intermediate groups. UserError if the source is missing or the destination already exists.
void copy_group(const H5::H5File& src, const std::string& src_path, H5::H5File& dst, const std::string& dst_path);

enum class SeriesType { Float64, Int64 };

// Appends values to a 1-D chunked, extendable, deflate-compressed dataset. If the dataset already exists
// (same type, 1-D, extendable) appends continue after its current end. Values are buffered; flush()
// (also done automatically every `chunk` values and, best effort, by the destructor) writes them.
class SeriesWriter {
 public:
  static constexpr hsize_t kDefaultChunk = 1024;

  SeriesWriter(const H5::Group& group, const std::string& path, SeriesType type, hsize_t chunk = kDefaultChunk);
  ~SeriesWriter();
  SeriesWriter(const SeriesWriter&) = delete;
  SeriesWriter& operator=(const SeriesWriter&) = delete;
  SeriesWriter(SeriesWriter&&) = default;
  SeriesWriter& operator=(SeriesWriter&&) = default;

  void append(double value);        // std::logic_error on an Int64 series
  void append(std::int64_t value);  // stored as-is, or converted to double on a Float64 series
  template <std::integral T>
    requires(!std::same_as<T, bool> && !std::same_as<T, std::int64_t>)
  void append(T value) {
    if (!std::in_range<std::int64_t>(value)) throw std::out_of_range("SeriesWriter::append: value does not fit int64");
    append(static_cast<std::int64_t>(value));
  }
  void flush();

  hsize_t size() const;  // values written plus values buffered

 private:
  H5::DataSet dataset_;
  SeriesType type_;
  hsize_t chunk_;
  hsize_t written_ = 0;
  std::vector<double> doubles_;
  std::vector<std::int64_t> ints_;
  std::string where_;  // "<file>: /path" for error messages
};

}  // namespace sbx::io

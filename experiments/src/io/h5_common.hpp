#pragma once
// What the parts of the HDF5 store (transaction, reader, writer, checks) share: the names they show in
// messages, path inspection that never raises HDF5 errors, and the turning of HDF5 exceptions into one-line
// UserErrors. Internal to experiments/src/io.
#include <H5Cpp.h>

#include <Eigen/Core>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "experiments/src/user_error.hpp"

namespace sbx::io::detail {

using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

std::string abs_path(const std::string& path);

// Formats dims the way h5py/numpy print a shape: (), (5,), (3, 4).
std::string shape_string(const std::vector<hsize_t>& dims);

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

std::vector<hsize_t> dims_of(const H5::DataSet& ds);  // {} for a scalar

std::filesystem::path parent_dir(const std::filesystem::path& path);

// A transaction's in-memory file is named "<final>/.sbx-edit": a name under a file, which therefore cannot
// exist on disk (HDF5 refuses to open a file image under the name of an existing file).
inline constexpr const char* kEditSuffix = "/.sbx-edit";

// The file name to show the user for an open object: for a transaction's file, the final name.
std::string display_name(const H5::H5Location& loc);

// "<file>: /group/path" for messages about `path` below `group`.
std::string where_in(const H5::Group& group, const std::string& path);

// Path inspection without HDF5 errors: H5Lexists fails (instead of returning false) when an
// intermediate group is missing, so paths are walked one component at a time.
std::vector<std::string> split_path(const std::string& path);
// True if every link on the path exists and the ones on the way are groups. With need_object, the
// last link must also resolve to an object (a dangling soft link does not count).
bool links_exist(hid_t loc, const std::string& path, bool need_object = true);
std::optional<H5O_type_t> object_type(hid_t loc, const std::string& path);

}  // namespace sbx::io::detail

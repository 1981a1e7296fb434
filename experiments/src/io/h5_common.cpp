#include "experiments/src/io/h5_common.hpp"

#include <Eigen/Core>

#include <sstream>

#include "experiments/src/io/h5_store.hpp"

namespace sbx::io::detail {

namespace fs = std::filesystem;

std::string abs_path(const std::string& path) { return (!path.empty() && path[0] == '/') ? path : "/" + path; }

std::string shape_string(const std::vector<hsize_t>& dims) {
  std::string s = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + (dims.size() == 1 ? ",)" : ")");
}

std::vector<hsize_t> dims_of(const H5::DataSet& ds) {
  const H5::DataSpace space = ds.getSpace();
  std::vector<hsize_t> dims(static_cast<std::size_t>(space.getSimpleExtentNdims()));
  if (!dims.empty()) space.getSimpleExtentDims(dims.data());
  return dims;
}

fs::path parent_dir(const fs::path& path) {
  const fs::path parent = path.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

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

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream in(path);
  for (std::string part; std::getline(in, part, '/');)
    if (!part.empty()) parts.push_back(part);
  return parts;
}

bool links_exist(hid_t loc, const std::string& path, bool need_object) {
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

}  // namespace sbx::io::detail

namespace sbx::io {

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

}  // namespace sbx::io

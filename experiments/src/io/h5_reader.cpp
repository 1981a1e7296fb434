#include "experiments/src/io/h5_store.hpp"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "experiments/src/io/h5_checks.hpp"
#include "experiments/src/io/h5_common.hpp"
#include "experiments/src/user_error.hpp"

// The checked read-only reader: every size is checked before anything is allocated, every HDF5 error
// becomes one line naming the file and the object.

namespace sbx::io {
namespace {

using namespace detail;

// ---------------------------------------------------------------------------------------------------
// Reading helpers. `file` is the name for messages.

H5::DataSet open_dataset(const H5::H5File& f, const std::string& file, const std::string& path) {
  const auto type = object_type(f.getId(), path);
  if (!type) throw UserError(file + ": dataset " + abs_path(path) + " is missing");
  if (*type != H5O_TYPE_DATASET) throw UserError(file + ": " + abs_path(path) + " is not a dataset");
  return f.openDataSet(path);
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

}  // namespace

H5Reader::H5Reader(const std::string& path) : path_(path) {
  silence_hdf5_errors();
  file_ = open_existing(path_);  // checks the file's bytes first (global heaps included)
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

}  // namespace sbx::io

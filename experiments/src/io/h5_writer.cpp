#include "experiments/src/io/h5_store.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "experiments/src/io/h5_common.hpp"
#include "experiments/src/user_error.hpp"

// Writing: datasets, attributes and the appending series writer.

namespace sbx::io {
namespace {

using namespace detail;

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

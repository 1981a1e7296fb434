#include "experiments/src/io/run_checksum.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "experiments/src/io/layout.hpp"

namespace sbx::io {
namespace {

namespace lo = layout;

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr auto kCrcTable = make_crc_table();

// Feeds the canonical bytes of a run's items to the CRC; little-endian whatever this machine's order.
class Canonical {
 public:
  void item(const std::string& name, char type, std::uint64_t count) {
    bytes(name.data(), name.size());
    const char head[2] = {'\0', type};
    bytes(head, 2);
    number(count);
  }
  template <class T>
  void number(T value) {
    static_assert(sizeof(T) == 8);
    std::uint64_t u;
    std::memcpy(&u, &value, 8);
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(u >> (8 * i));
    bytes(le, 8);
  }
  void bytes(const void* data, std::size_t size) { crc_ = crc32(crc_, data, size); }
  std::uint32_t crc() const { return crc_; }

 private:
  std::uint32_t crc_ = 0;
};

}  // namespace

std::uint32_t crc32(std::uint32_t crc, const void* data, std::size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) crc = kCrcTable[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::string config_hash(const std::string& config_text) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a64(config_text)));
  return hex;
}

std::string run_checksum(const RunRecord& run) {
  // Every item by name first: the order of attributes and datasets in the file is HDF5's, not the record's.
  struct Item {
    std::string name;
    const AttributeValue* attr = nullptr;
    const std::vector<std::int64_t>* ints = nullptr;
    const std::vector<double>* doubles = nullptr;
    const Eigen::MatrixXd* matrix = nullptr;
  };
  std::vector<Item> items;
  for (const auto& [key, value] : run.attributes)
    if (key != lo::run::checksum) items.push_back({"@" + key, &value});
  items.push_back({lo::run::step, nullptr, &run.steps});
  for (const auto& [key, values] : run.series) items.push_back({key, nullptr, nullptr, &values});
  for (const auto& [key, values] : run.int_series) items.push_back({key, nullptr, &values});
  for (const auto& [key, m] : run.params_init) items.push_back({std::string(lo::run::params_init) + "/" + key, nullptr, nullptr, nullptr, &m});
  for (const auto& [key, m] : run.params_final) items.push_back({std::string(lo::run::params) + "/" + key, nullptr, nullptr, nullptr, &m});
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.name < b.name; });

  Canonical c;
  for (const Item& it : items) {
    if (it.attr) {
      if (const auto* s = std::get_if<std::string>(it.attr)) {
        const std::string_view stored(s->c_str());  // HDF5 stores a string up to its first 0 byte
        c.item(it.name, 's', stored.size());
        c.bytes(stored.data(), stored.size());
      } else if (const auto* i = std::get_if<std::int64_t>(it.attr)) {
        c.item(it.name, 'i', 1);
        c.number(*i);
      } else {
        c.item(it.name, 'f', 1);
        c.number(std::get<double>(*it.attr));
      }
    } else if (it.ints) {
      c.item(it.name, 'i', it.ints->size());
      for (std::int64_t v : *it.ints) c.number(v);
    } else if (it.doubles) {
      c.item(it.name, 'f', it.doubles->size());
      for (double v : *it.doubles) c.number(v);
    } else {
      const Eigen::MatrixXd& m = *it.matrix;
      c.item(it.name, 'm', static_cast<std::uint64_t>(m.rows()));
      c.number(static_cast<std::uint64_t>(m.cols()));
      for (Eigen::Index r = 0; r < m.rows(); ++r)
        for (Eigen::Index k = 0; k < m.cols(); ++k) c.number(m(r, k));
    }
  }
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>(c.crc()));
  return hex;
}

}  // namespace sbx::io
